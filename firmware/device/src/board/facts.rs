//! Generated from board/boards.toml by `make generate` (go run ./board/boardgen); DO NOT EDIT.
//!
//! The board's facts, for the board feature the image is built with, and the
//! firmware's rules that the gateway's profiles derive from (explained there).

/// The watchdog's period.
pub const WATCHDOG_MS: u32 = 8000;
/// The cycles one unit of fuel may cost at most.
pub const CYCLES_PER_FUEL: u64 = 500;
/// Code-pool bytes per module byte, in sixteenths.
pub const CODE_PER_BYTE_16: u32 = 30;

#[cfg(feature = "mps2-an386")]
pub use mps2_an386::*;
#[cfg(feature = "mps2-an386")]
mod mps2_an386 {
    /// The board's profile name (Hello.board).
    pub const NAME: &str = "mps2-an386";
    /// The microcontroller.
    pub const PART: &str = "ARM MPS2 AN386 (Cortex-M4)";
    /// The core clock, Hz.
    pub const CORE_HZ: u32 = 25_000_000;
    /// Largest frame payload the device accepts (announced as max_frame).
    pub const MAX_FRAME: u32 = 16_384;
    /// The firmware's own heap (sessions, TLS buffers, protocol).
    pub const HEAP_SIZE: usize = 524_288;
    /// The apps' code pool (heap.rs): modules, compiled code, interpreter state.
    pub const CODE_POOL: usize = 1_048_576;
    /// The apps' page pool: linear memories, whole 64 KiB pages.
    pub const APP_RAM: u32 = 1_048_576;
    /// How many apps can be installed at once.
    pub const MAX_APPS: usize = 8;
    /// The pins gpio_read and gpio_write accept (0 to GPIO_PINS-1).
    pub const GPIO_PINS: u32 = 4;
    /// The pins only gpio_read accepts.
    pub const INPUT_PINS: [u32; 2] = [2, 3];
    /// Interrupt vectors the part has.
    pub const IRQS: usize = 32;
    /// The link UART's receive interrupt (None: polled).
    pub const LINK_IRQ: Option<u16> = Some(2);
    /// The link's receive ring (its window), bytes.
    pub const LINK_RING: usize = 8192;
    /// The console UART's registers.
    pub const CONSOLE_UART: usize = 0x4000_4000;
    /// The link UART's registers.
    pub const LINK_UART: usize = 0x4000_5000;
    /// Code-pool bytes every app is given whatever its module (its interpreter state, value stack, frames, output queue).
    pub const CODE_BASE: u32 = 10_240;
    /// Bytes of text an app's queued output records may hold together.
    pub const QUEUE_BYTES: usize = 4096;
    /// Output records queued per app before `publish` answers busy.
    pub const QUEUE_RECORDS: usize = 64;
    /// The largest module the code pool takes (the gateway's profile; checked against the runtime's rule in apps.rs).
    pub const MODULE_STORAGE: u32 = 553_779;
    /// The fuel one call may burn (the gateway's profile; checked in apps.rs).
    pub const MAX_FUEL: u64 = 300_000;
}

#[cfg(feature = "nano33ble")]
pub use nano33ble::*;
#[cfg(feature = "nano33ble")]
mod nano33ble {
    /// The board's profile name (Hello.board).
    pub const NAME: &str = "nano33ble";
    /// The microcontroller.
    pub const PART: &str = "nRF52840 (Cortex-M4F)";
    /// The core clock, Hz.
    pub const CORE_HZ: u32 = 64_000_000;
    /// Largest frame payload the device accepts (announced as max_frame).
    pub const MAX_FRAME: u32 = 4096;
    /// The firmware's own heap (sessions, TLS buffers, protocol).
    pub const HEAP_SIZE: usize = 40_960;
    /// The apps' code pool (heap.rs): modules, compiled code, interpreter state.
    pub const CODE_POOL: usize = 98_304;
    /// The apps' page pool: linear memories, whole 64 KiB pages.
    pub const APP_RAM: u32 = 65_536;
    /// How many apps can be installed at once.
    pub const MAX_APPS: usize = 4;
    /// The pins gpio_read and gpio_write accept (0 to GPIO_PINS-1).
    pub const GPIO_PINS: u32 = 4;
    /// The pins only gpio_read accepts.
    pub const INPUT_PINS: [u32; 0] = [];
    /// Interrupt vectors the part has.
    pub const IRQS: usize = 48;
    /// The link UART's receive interrupt (None: polled).
    pub const LINK_IRQ: Option<u16> = Some(40);
    /// The link's receive ring (its window), bytes.
    pub const LINK_RING: usize = 2048;
    /// The console UART's registers.
    pub const CONSOLE_UART: usize = 0x4000_2000;
    /// The link UART's registers.
    pub const LINK_UART: usize = 0x4002_8000;
    /// Code-pool bytes every app is given whatever its module (its interpreter state, value stack, frames, output queue).
    pub const CODE_BASE: u32 = 10_240;
    /// Bytes of text an app's queued output records may hold together.
    pub const QUEUE_BYTES: usize = 4096;
    /// Output records queued per app before `publish` answers busy.
    pub const QUEUE_RECORDS: usize = 64;
    /// The largest module the code pool takes (the gateway's profile; checked against the runtime's rule in apps.rs).
    pub const MODULE_STORAGE: u32 = 46_967;
    /// The fuel one call may burn (the gateway's profile; checked in apps.rs).
    pub const MAX_FUEL: u64 = 768_000;
}

#[cfg(feature = "riscv32-virt")]
pub use riscv32_virt::*;
#[cfg(feature = "riscv32-virt")]
mod riscv32_virt {
    /// The board's profile name (Hello.board).
    pub const NAME: &str = "riscv32-virt";
    /// The microcontroller.
    pub const PART: &str = "RISC-V RV32IMAC (virt)";
    /// The core clock, Hz.
    pub const CORE_HZ: u32 = 100_000_000;
    /// Largest frame payload the device accepts (announced as max_frame).
    pub const MAX_FRAME: u32 = 4096;
    /// The firmware's own heap (sessions, TLS buffers, protocol).
    pub const HEAP_SIZE: usize = 40_960;
    /// The apps' code pool (heap.rs): modules, compiled code, interpreter state.
    pub const CODE_POOL: usize = 65_536;
    /// The apps' page pool: linear memories, whole 64 KiB pages.
    pub const APP_RAM: u32 = 65_536;
    /// How many apps can be installed at once.
    pub const MAX_APPS: usize = 4;
    /// The pins gpio_read and gpio_write accept (0 to GPIO_PINS-1).
    pub const GPIO_PINS: u32 = 4;
    /// The pins only gpio_read accepts.
    pub const INPUT_PINS: [u32; 0] = [];
    /// Interrupt vectors the part has.
    pub const IRQS: usize = 52;
    /// The link UART's receive interrupt (None: polled).
    pub const LINK_IRQ: Option<u16> = Some(4);
    /// The link's receive ring (its window), bytes.
    pub const LINK_RING: usize = 2048;
    /// The console UART's registers.
    pub const CONSOLE_UART: usize = 0x1000_0000;
    /// The link UART's registers.
    pub const LINK_UART: usize = 0x1000_0100;
    /// Code-pool bytes every app is given whatever its module (its interpreter state, value stack, frames, output queue).
    pub const CODE_BASE: u32 = 10_240;
    /// Bytes of text an app's queued output records may hold together.
    pub const QUEUE_BYTES: usize = 4096;
    /// Output records queued per app before `publish` answers busy.
    pub const QUEUE_RECORDS: usize = 64;
    /// The largest module the code pool takes (the gateway's profile; checked against the runtime's rule in apps.rs).
    pub const MODULE_STORAGE: u32 = 29_491;
    /// The fuel one call may burn (the gateway's profile; checked in apps.rs).
    pub const MAX_FUEL: u64 = 1_200_000;
}

#[cfg(feature = "stm32f4-discovery")]
pub use stm32f4_discovery::*;
#[cfg(feature = "stm32f4-discovery")]
mod stm32f4_discovery {
    /// The board's profile name (Hello.board).
    pub const NAME: &str = "stm32f4-discovery";
    /// The microcontroller.
    pub const PART: &str = "STM32F407VG (Cortex-M4F)";
    /// The core clock, Hz.
    pub const CORE_HZ: u32 = 168_000_000;
    /// Largest frame payload the device accepts (announced as max_frame).
    pub const MAX_FRAME: u32 = 4096;
    /// The firmware's own heap (sessions, TLS buffers, protocol).
    pub const HEAP_SIZE: usize = 32_768;
    /// The apps' code pool (heap.rs): modules, compiled code, interpreter state.
    pub const CODE_POOL: usize = 63_488;
    /// The apps' page pool: linear memories, whole 64 KiB pages.
    pub const APP_RAM: u32 = 65_536;
    /// How many apps can be installed at once.
    pub const MAX_APPS: usize = 4;
    /// The pins gpio_read and gpio_write accept (0 to GPIO_PINS-1).
    pub const GPIO_PINS: u32 = 5;
    /// The pins only gpio_read accepts.
    pub const INPUT_PINS: [u32; 1] = [4];
    /// Interrupt vectors the part has.
    pub const IRQS: usize = 82;
    /// The link UART's receive interrupt (None: polled).
    pub const LINK_IRQ: Option<u16> = Some(38);
    /// The link's receive ring (its window), bytes.
    pub const LINK_RING: usize = 2048;
    /// The console UART's registers.
    pub const CONSOLE_UART: usize = 0x4001_1000;
    /// The link UART's registers.
    pub const LINK_UART: usize = 0x4000_4400;
    /// Code-pool bytes every app is given whatever its module (its interpreter state, value stack, frames, output queue).
    pub const CODE_BASE: u32 = 10_240;
    /// Bytes of text an app's queued output records may hold together.
    pub const QUEUE_BYTES: usize = 4096;
    /// Output records queued per app before `publish` answers busy.
    pub const QUEUE_RECORDS: usize = 64;
    /// The largest module the code pool takes (the gateway's profile; checked against the runtime's rule in apps.rs).
    pub const MODULE_STORAGE: u32 = 28_398;
    /// The fuel one call may burn (the gateway's profile; checked in apps.rs).
    pub const MAX_FUEL: u64 = 2_016_000;
}

#[cfg(feature = "uno-r4")]
pub use uno_r4::*;
#[cfg(feature = "uno-r4")]
mod uno_r4 {
    /// The board's profile name (Hello.board).
    pub const NAME: &str = "uno-r4";
    /// The microcontroller.
    pub const PART: &str = "Renesas RA4M1 (Cortex-M4F)";
    /// The core clock, Hz.
    pub const CORE_HZ: u32 = 48_000_000;
    /// Largest frame payload the device accepts (announced as max_frame).
    pub const MAX_FRAME: u32 = 2048;
    /// The firmware's own heap (sessions, TLS buffers, protocol).
    pub const HEAP_SIZE: usize = 12_288;
    /// The apps' code pool (heap.rs): modules, compiled code, interpreter state.
    pub const CODE_POOL: usize = 5120;
    /// The apps' page pool: linear memories, whole 64 KiB pages.
    pub const APP_RAM: u32 = 8192;
    /// How many apps can be installed at once.
    pub const MAX_APPS: usize = 1;
    /// The pins gpio_read and gpio_write accept (0 to GPIO_PINS-1).
    pub const GPIO_PINS: u32 = 9;
    /// The pins only gpio_read accepts.
    pub const INPUT_PINS: [u32; 0] = [];
    /// Interrupt vectors the part has.
    pub const IRQS: usize = 32;
    /// The link UART's receive interrupt (None: polled).
    pub const LINK_IRQ: Option<u16> = Some(0);
    /// The link's receive ring (its window), bytes.
    pub const LINK_RING: usize = 512;
    /// The console UART's registers.
    pub const CONSOLE_UART: usize = 0x4007_0040;
    /// The link UART's registers.
    pub const LINK_UART: usize = 0x4007_0120;
    /// Code-pool bytes every app is given whatever its module (its interpreter state, value stack, frames, output queue).
    pub const CODE_BASE: u32 = 2560;
    /// Bytes of text an app's queued output records may hold together.
    pub const QUEUE_BYTES: usize = 512;
    /// Output records queued per app before `publish` answers busy.
    pub const QUEUE_RECORDS: usize = 16;
    /// The largest module the code pool takes (the gateway's profile; checked against the runtime's rule in apps.rs).
    pub const MODULE_STORAGE: u32 = 1365;
    /// The fuel one call may burn (the gateway's profile; checked in apps.rs).
    pub const MAX_FUEL: u64 = 576_000;
}
