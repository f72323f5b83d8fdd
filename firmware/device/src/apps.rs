//! The device's runtime: wasmbed-runtime wired to this board's clock, GPIO, app pools
//! (heap.rs) and reset record (reset.rs).

use wasmbed_runtime::{Capacity, Hooks, Runtime};

use crate::heap::POOLS;
use crate::{board, clock, reset};

/// Output records queued per app before `publish` answers busy, and the bytes of text
/// they may hold.
pub const QUEUE_RECORDS: usize = 64;
pub const QUEUE_BYTES: usize = 4096;

/// Code-pool bytes every app needs whatever its module: the interpreter's store and
/// instance, value stack and call frames (64 deep, each with its locals), the output
/// queue (`QUEUE_BYTES` and its records). The corpus' small apps (firmware/corpus,
/// `code_budget_of_a_corpus` on a 64-bit host, whose pointers and vectors are twice a
/// Cortex-M's) peak at 7-11 KB from their bytes to running, of which 1.6-3.6 KB is the
/// module; an app that recurses to the call-depth limit needed more than 8 KiB on the
/// devices (corpus `recurse`).
pub const CODE_BASE: u32 = 10 * 1024;
/// Code-pool bytes per module byte, in sixteenths: the module itself, which runs in
/// place (1), its side table (6 bytes per branch, 12 per function: 0.03-0.30 of the
/// module over the corpus) and, while it is validated, the side table's entries before
/// they are packed: the corpus' larger apps peak at 1.78-1.82x the module on a 64-bit
/// host. An app that needs more than its budget fails `no_memory`, cleanly.
pub const CODE_PER_BYTE_16: u32 = 30;

/// The cycles one unit of fuel may cost at most: `max_fuel` keeps a call well inside the
/// watchdog's period. One unit is one interpreted instruction; bulk memory and table
/// operations and calls pay more by their bytes, elements and locals, host functions by
/// the bytes they copy. Measured (`make bench`, bench image, QEMU -icount: instructions
/// executed): 181 instructions per unit for integer work, 211 for double-precision
/// arithmetic, 267 for calls, 70 for bulk memory; at up to 1.5 cycles per instruction
/// on the silicon (flash wait states), 500 cycles per unit leaves a quarter spare.
pub const CYCLES_PER_FUEL: u64 = 500;

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
        Hooks { now_ms: clock::unix_ms, now_us: clock::uptime_us, gpio_write: board::gpio_write, gpio_read: board::gpio_read, activity: reset::activity },
        capacity(),
        &POOLS,
    )
}
