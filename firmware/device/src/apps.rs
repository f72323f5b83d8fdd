//! The device's runtime: wasmbed-runtime wired to this board's clock, GPIO, app pools
//! (heap.rs) and reset record (reset.rs).

use wasmbed_runtime::{Capacity, Hooks, Runtime};

use crate::heap::POOLS;
use crate::{board, clock, reset};

/// Output records queued per app before `publish` answers busy, and the bytes of text
/// they may hold.
pub const QUEUE_RECORDS: usize = 64;
pub const QUEUE_BYTES: usize = 4096;

/// Code-pool bytes every app needs whatever its module: wasmi's engine, linker, store
/// and instance, the value stack (4 KiB), the output queue (`QUEUE_BYTES` and its
/// records). Measured on the STM32F4 (self-test, `code peak`): 2.9-8.9 KB for the example
/// apps from their bytes to running; the value stack comes with the first call.
pub const CODE_BASE: u32 = 11 * 1024;
/// Code-pool bytes per module byte, in sixteenths: the module itself while it is
/// compiled (1) and wasmi 0.31's code, 8-byte instructions in a vector that doubles
/// while a module is translated: the corpus (firmware/corpus) peaks at 4.7-12.1x the
/// module on a 64-bit host (`code_budget_of_a_corpus`) and above 10.7x on the MPS2.
/// An app that needs more than its budget fails `no_memory`, cleanly.
pub const CODE_PER_BYTE_16: u32 = 13 * 16;

/// The cycles one unit of fuel may cost at most (an interpreted instruction is about
/// 45; host functions charge fuel for the bytes they copy): `max_fuel` keeps a call
/// well inside the watchdog's period.
pub const CYCLES_PER_FUEL: u64 = 150;

pub const fn capacity() -> Capacity {
    Capacity {
        max_apps: board::MAX_APPS,
        app_ram: board::APP_RAM,
        code_pool: board::CODE_POOL as u32,
        code_base: CODE_BASE,
        code_per_byte_16: CODE_PER_BYTE_16,
        // Three quarters of the watchdog's period.
        max_fuel: board::CORE_HZ as u64 * (crate::WATCHDOG_MS as u64 * 3 / 4) / 1000 / CYCLES_PER_FUEL,
        queue_records: QUEUE_RECORDS,
        queue_bytes: QUEUE_BYTES,
    }
}

pub fn runtime() -> Runtime {
    Runtime::new(
        Hooks { now_ms: clock::unix_ms, gpio_write: board::gpio_write, gpio_read: board::gpio_read, activity: reset::activity },
        capacity(),
        &POOLS,
    )
}
