//! The device's runtime: wasmbed-runtime wired to this board's clock and GPIO.

use wasmbed_runtime::{Capacity, Hooks, Runtime};

use crate::{board, clock};

/// Output records queued per app before `publish` answers busy.
pub const QUEUE_RECORDS: usize = 64;

pub fn runtime() -> Runtime {
    Runtime::new(
        Hooks { now_ms: clock::unix_ms, gpio_write: board::gpio_write, gpio_read: board::gpio_read },
        Capacity {
            max_apps: board::MAX_APPS,
            app_ram: board::APP_RAM,
            module_storage: board::MODULE_STORAGE,
            queue_records: QUEUE_RECORDS,
        },
    )
}
