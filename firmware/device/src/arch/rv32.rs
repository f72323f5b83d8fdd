//! RISC-V RV32IMAC in machine mode (riscv32imac-unknown-none-elf): riscv-rt's startup
//! and trap entry, the CLINT's machine timer as the tick, the PLIC for peripheral
//! interrupts (the board gives their addresses: `board::CLINT`, `board::PLIC`).
//!
//! Why riscv-rt and not hand-written startup code: it is the Rust Embedded working
//! group's runtime (as cortex-m-rt is for the Cortex-M boards), kept for every RISC-V
//! target; it does what has to be exact at reset (the global pointer, the stack, `.data`
//! copied and `.bss` zeroed while `.uninit` (the reset record, the kept identity) is left
//! alone, `mtvec`, saving the caller-saved registers around a trap) and its linker script
//! takes the board's `memory.x` as cortex-m-rt's does. The `riscv` crate gives the CSRs,
//! `wfi`, and the single-hart critical section `critical-section` needs.

use riscv::register::{mcause, mepc, mie, mtval};

use crate::{board, clock, link, reg, reset};

#[inline(always)]
pub fn wfi() {
    riscv::asm::wfi();
}

/// A reset the firmware asks for: the board's reset request where the part has one
/// (`board::request_reset`); else, and if it does nothing, a jump to riscv-rt's `_start`
/// with interrupts off: statics start again (`.data` copied, `.bss` zeroed), `.uninit`
/// is kept, and `board::init` sets the peripherals up again. That is a core reset, not
/// a reset of the peripherals: the board's interrupt sources are masked first.
pub fn sys_reset() -> ! {
    riscv::interrupt::disable();
    board::request_reset();
    // The PLIC's enables for context 0 (sources 0-63) and the timer's compare: the
    // restarted firmware enables what it uses.
    reg::write(board::PLIC + 0x2000, 0);
    reg::write(board::PLIC + 0x2004, 0);
    // SAFETY: interrupts are off; `_start` sets up the stack and the statics itself and
    // never returns.
    unsafe {
        mie::clear_mtimer();
        mie::clear_mext();
        core::arch::asm!("la t0, _start", "jr t0", options(noreturn));
    }
}

unsafe extern "C" {
    static mut __estack: u32;
    static mut __sstack: u32;
}

/// riscv-rt's `.stack`: the RAM above the statics (`__estack`) to its top (`__sstack`).
pub fn stack_bounds() -> (usize, usize) {
    (&raw mut __estack as usize, &raw mut __sstack as usize)
}

#[inline(always)]
pub fn sp() -> usize {
    let sp: usize;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

// The CLINT (SiFive's core-local interruptor, the same in Renode and QEMU `virt`): a
// 64-bit free-running `mtime` at `board::TIMER_HZ`, and `mtimecmp` for hart 0.
const MTIMECMP: usize = 0x4000;
const MTIME: usize = 0xBFF8;
const PERIOD: u64 = board::TIMER_HZ as u64 / 1000;

fn mtime() -> u64 {
    loop {
        let hi = reg::read(board::CLINT + MTIME + 4);
        let lo = reg::read(board::CLINT + MTIME);
        if reg::read(board::CLINT + MTIME + 4) == hi {
            return (hi as u64) << 32 | lo as u64;
        }
    }
}

fn mtimecmp() -> u64 {
    (reg::read(board::CLINT + MTIMECMP + 4) as u64) << 32 | reg::read(board::CLINT + MTIMECMP) as u64
}

fn set_mtimecmp(t: u64) {
    // High word first to all ones, so no intermediate value fires early.
    reg::write(board::CLINT + MTIMECMP + 4, u32::MAX);
    reg::write(board::CLINT + MTIMECMP, t as u32);
    reg::write(board::CLINT + MTIMECMP + 4, (t >> 32) as u32);
}

/// The machine timer at 1 kHz (the core clock is not the timer's: `core_hz` is unused;
/// the CLINT counts at `board::TIMER_HZ`). Machine interrupts are on from here.
pub fn tick_start(_core_hz: u32) {
    set_mtimecmp(mtime() + PERIOD);
    // SAFETY: the handlers below are ready; the statics they touch are initialised.
    unsafe {
        mie::set_mtimer();
        riscv::interrupt::enable();
    }
}

/// The tick: one `clock::tick()` per period that passed (a tick that came late, with
/// interrupts off for more than a period, still counts every millisecond), then the
/// next compare.
#[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineTimer)]
fn machine_timer() {
    let now = mtime();
    let mut next = mtimecmp();
    while next <= now {
        clock::tick();
        next += PERIOD;
    }
    set_mtimecmp(next);
}

/// The timer's low word: the sub-millisecond phase (a 10 MHz count on the `virt` boards).
pub fn tick_phase() -> u32 {
    reg::read(board::CLINT + MTIME)
}

/// `ms` counted so far (read with interrupts off), corrected for the periods whose
/// interrupt is still pending; the period and how far into it, in timer counts.
pub fn tick_fine(ms: u64) -> (u64, u32, u32) {
    let now = mtime();
    let start = mtimecmp().wrapping_sub(PERIOD);
    let into = now.saturating_sub(start);
    (ms + into / PERIOD, PERIOD as u32, (into % PERIOD) as u32)
}

/// A PLIC source on, for context 0 (the hart's machine mode), priority 1, threshold 0.
pub fn irq_enable(irq: u16) {
    let irq = irq as usize;
    reg::write(board::PLIC + 4 * irq, 1);
    reg::write(board::PLIC + 0x20_0000, 0);
    reg::modify(board::PLIC + 0x2000 + 4 * (irq / 32), |v| v | 1 << (irq % 32));
    // SAFETY: the handler below is ready.
    unsafe { mie::set_mext() };
}

pub fn irq_disable(irq: u16) {
    let irq = irq as usize;
    reg::modify(board::PLIC + 0x2000 + 4 * (irq / 32), |v| v & !(1 << (irq % 32)));
}

/// Peripheral interrupts: claimed from the PLIC; the link UART's goes to the link, any
/// other is masked; then completed.
#[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineExternal)]
fn machine_external() {
    loop {
        let claim = reg::read(board::PLIC + 0x20_0004);
        if claim == 0 {
            return;
        }
        if board::LINK_IRQ == Some(claim as u16) {
            link::on_irq();
        } else {
            irq_disable(claim as u16);
        }
        reg::write(board::PLIC + 0x20_0004, claim);
    }
}

/// No Arm semihosting here: the identity stays in RAM (flash.rs) unless the board has
/// flash of its own.
pub fn semihosting(_op: u32, _args: u32) -> u32 {
    u32::MAX
}

/// Exceptions. A panic is a trap instruction (`-Cpanic=immediate-abort`: `unimp`, which
/// the C extension encodes as 0x0000), seen here as an illegal instruction at that
/// address; anything else is a fault. Either is printed with its pc and the return
/// address, noted for the next boot, and resets.
#[unsafe(export_name = "ExceptionHandler")]
fn exception_handler(tf: &riscv_rt::TrapFrame) -> ! {
    unsafe extern "C" {
        static __stext: u8;
        static __etext: u8;
    }
    let pc = mepc::read() as u32;
    let cause = mcause::read().bits() as u32;
    let text = core::ptr::addr_of!(__stext) as u32..core::ptr::addr_of!(__etext) as u32;
    // SAFETY: only a pc inside the image's code is read.
    let trap = cause == 2 && text.contains(&pc) && pc & 1 == 0 && {
        let h = unsafe { core::ptr::read_volatile(pc as *const u16) };
        h == 0 || (h == 0x1073 && unsafe { core::ptr::read_volatile((pc + 2) as *const u16) } == 0xc000)
    };
    if trap {
        println!("PANIC: trap at pc={:#010x} lr={:#010x}", pc, tf.ra);
    } else {
        println!("FAULT: exception {} at pc={:#010x} lr={:#010x} mtval={:#010x}", cause, pc, tf.ra, mtval::read());
    }
    reset::note_fault(trap, pc, tf.ra as u32);
    sys_reset()
}
