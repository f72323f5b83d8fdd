//! What differs between the CPU architectures, so that `board/` is about peripherals and
//! the rest of the firmware is shared. Each architecture module provides the same items:
//!
//! - `wfi()`: sleep until an interrupt (the tick wakes it every millisecond at least)
//! - `sys_reset() -> !`: reset the core (after `reset::note_*` recorded why)
//! - `stack_bounds() -> (lo, hi)`, `sp()`: the stack region and the stack pointer
//! - `tick_start(core_hz)`: a 1 kHz interrupt that calls `clock::tick()`;
//!   `tick_phase()`: the sub-millisecond counter (entropy); `tick_fine(ms)`: the counted
//!   milliseconds corrected for a tick still pending, the tick's period and how far into it
//!   (both in timer counts), read with interrupts off
//! - `irq_enable(irq)`, `irq_disable(irq)`: a peripheral interrupt in the interrupt
//!   controller (the NVIC, the PLIC); the interrupt handler dispatches `board::LINK_IRQ`
//!   to `link::on_irq()` and masks any other
//! - `semihosting(op, args) -> u32`: an Arm semihosting call, `u32::MAX` where no host answers
//! - the fault handlers: a panic (a trap instruction, `-Cpanic=immediate-abort`) or a fault
//!   is printed with its pc, noted for the next boot (`reset::note_fault`), and resets
//!
//! The firmware's entry point is `main` in main.rs, marked for the architecture's runtime
//! crate (cortex-m-rt, riscv-rt).

#[cfg(target_arch = "arm")]
mod arm;
#[cfg(target_arch = "arm")]
pub use arm::*;

#[cfg(target_arch = "riscv32")]
mod rv32;
#[cfg(target_arch = "riscv32")]
pub use rv32::*;
