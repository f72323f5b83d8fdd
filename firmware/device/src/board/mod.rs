//! Board support: everything that differs between boards lives in one module per board
//! (memory map in `boards/<board>/memory.x`). Each module provides the same items:
//!
//! - `NAME`, `PART`, `CORE_HZ`, `MAX_FRAME`, `HEAP_SIZE`, `CODE_POOL`, `APP_RAM`, `MAX_APPS`,
//!   `GPIO_PINS`
//! - `init()`: clocks, console and link UARTs, GPIO, entropy source
//! - `console_write(&[u8])`: the log console (first UART)
//! - `link_write(&[u8])`, `link_read() -> Option<u8>`: the link UART to the modem
//! - `LINK_IRQ`, `LINK_RING`, `link_rx_ready()`, `link_irq(on)`, `link_irq_ack()`: its
//!   receive interrupt (`None`: polled) and the size of the receive ring (the link's window)
//! - `gpio_write(pin, value) -> i32`, `gpio_read(pin) -> i32` (host ABI semantics)
//! - `hw_entropy(&mut [u8]) -> bool`: fills from a hardware RNG, false if there is none
//! - `page_pool() -> (usize, usize)`: the RAM for apps' linear memories
//! - `reset_cause() -> Option<reset::Cause>`: what the part's reset flags say
//! - `watchdog_start(ms)`, `watchdog_feed()`
//! - RISC-V boards also: `CLINT`, `PLIC`, `TIMER_HZ` and `request_reset()` (arch/rv32.rs);
//!   Cortex-M boards `IRQS` (vectors.rs)
//!
//! The rest of the firmware (clock, heap, runtime, session) is shared.
//!
#![allow(dead_code)]

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

#[cfg(feature = "uno-r4")]
mod uno_r4;
#[cfg(feature = "uno-r4")]
pub use uno_r4::*;

#[cfg(feature = "riscv32-virt")]
mod riscv32_virt;
#[cfg(feature = "riscv32-virt")]
pub use riscv32_virt::*;
