//! Board support: everything that differs between boards lives in one module per board.
//! The board's facts (sizes, clock, interrupts, UART addresses: `NAME`, `PART`, `CORE_HZ`,
//! `MAX_FRAME`, `HEAP_SIZE`, `CODE_POOL`, `APP_RAM`, `MAX_APPS`, `GPIO_PINS`, `IRQS`,
//! `LINK_IRQ`, `LINK_RING`, `CONSOLE_UART`, `LINK_UART`...) and its memory map
//! (`boards/<board>/memory.x`) are generated from `board/boards.toml` (facts.rs). Each
//! board module provides the same items:
//!
//! - `init()`: clocks, console and link UARTs, GPIO, entropy source
//! - `console_write(&[u8])`: the log console (first UART)
//! - `link_write(&[u8])`, `link_read() -> Option<u8>`: the link UART to the modem
//! - `link_rx_ready()`, `link_irq(on)`, `link_irq_ack()`: its
//!   receive interrupt (`None`: polled) and the size of the receive ring (the link's window)
//! - `gpio_write(pin, value) -> i32`, `gpio_read(pin) -> i32` (host ABI semantics)
//! - `hw_entropy(&mut [u8]) -> bool`: fills from a hardware RNG, false if there is none
//! - `page_pool() -> (usize, usize)`: the RAM for apps' linear memories
//! - `reset_cause() -> Option<reset::Cause>`: what the part's reset flags say
//! - `watchdog_start(ms)`, `watchdog_feed()`
//! - RISC-V boards also: `CLINT`, `PLIC`, `TIMER_HZ` and `request_reset()` (arch/rv32.rs);
//!   Cortex-M boards use `IRQS` (vectors.rs)
//!
//! The rest of the firmware (clock, heap, runtime, session) is shared.
//!
#![allow(dead_code)]

mod facts;
pub use facts::*;

/// `page_pool()` for a board with no RAM region of its own for apps' linear memories:
/// a static array of `APP_RAM` bytes (`PAGES`, which scripts/firmware.sh size counts).
#[allow(unused_macros)] // the STM32F4 has its CCM
macro_rules! static_page_pool {
    () => {
        #[repr(C, align(8))]
        struct Pages([core::mem::MaybeUninit<u8>; APP_RAM as usize]);
        static mut PAGES: Pages = Pages([core::mem::MaybeUninit::uninit(); APP_RAM as usize]);

        /// The page pool: a static array (the board has no RAM region of its own for it).
        pub fn page_pool() -> (usize, usize) {
            (&raw mut PAGES as usize, APP_RAM as usize)
        }
    };
}

#[cfg(feature = "stm32f4-discovery")]
mod stm32f4_discovery;
#[cfg(feature = "stm32f4-discovery")]
pub use stm32f4_discovery::*;

#[cfg(feature = "mps2-an386")]
mod mps2_an386;
#[cfg(feature = "mps2-an386")]
pub use mps2_an386::*;

#[cfg(feature = "nano33ble")]
mod nano33ble;
#[cfg(feature = "nano33ble")]
pub use nano33ble::*;

#[cfg(feature = "riscv32-virt")]
mod riscv32_virt;
#[cfg(feature = "riscv32-virt")]
pub use riscv32_virt::*;

#[cfg(feature = "uno-r4")]
mod uno_r4;
#[cfg(feature = "uno-r4")]
pub use uno_r4::*;

/// Whether `gpio_read` accepts `pin`: the board's pins (the gateway's profile has the same).
pub fn readable(pin: i32) -> bool {
    pin >= 0 && (pin as u32) < GPIO_PINS
}

/// Whether `gpio_write` accepts `pin`: a pin that is not input only.
pub fn writable(pin: i32) -> bool {
    readable(pin) && !INPUT_PINS.contains(&(pin as u32))
}
