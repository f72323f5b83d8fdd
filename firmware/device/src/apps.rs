//! The device's runtime: wasmbed-runtime wired to this board's clock, GPIO, app pools
//! (heap.rs) and reset record (reset.rs).

use wasmbed_runtime::{Capacity, Hooks, Runtime};

use crate::heap::POOLS;
use crate::{board, clock, reset};

/// The code pool's budget per app and per module byte, the output an app may queue, and
/// the cycles a unit of fuel may cost: board/boards.toml's `[firmware]` and the board's
/// own (explained there), from which the gateway's profiles derive each board's module
/// storage and fuel cap.
pub use crate::board::{CODE_BASE, CODE_PER_BYTE_16, CYCLES_PER_FUEL, QUEUE_BYTES, QUEUE_RECORDS};

// What the gateway's profile says the board takes is what this firmware takes.
const _: () = assert!(capacity().max_module() == board::MODULE_STORAGE, "board/boards.toml: module storage");
const _: () = assert!(capacity().max_fuel == board::MAX_FUEL, "board/boards.toml: max fuel");

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
