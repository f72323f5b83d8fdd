//! Cortex-M4 (thumbv7em-none-eabihf): cortex-m-rt's startup and vector table (the
//! interrupts' part in vectors.rs), SysTick as the tick, the NVIC, the HardFault handler.

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{exception, ExceptionFrame};

use crate::{board, flash, link, reg, reset};

#[inline(always)]
pub fn wfi() {
    cortex_m::asm::wfi();
}

pub fn sys_reset() -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

unsafe extern "C" {
    static mut _stack_end: u32;
    static mut _stack_start: u32;
}

/// cortex-m-rt's `_stack_end`..`_stack_start`: the RAM above the statics.
pub fn stack_bounds() -> (usize, usize) {
    (&raw mut _stack_end as usize, &raw mut _stack_start as usize)
}

#[inline(always)]
pub fn sp() -> usize {
    cortex_m::register::msp::read() as usize
}

/// SysTick at 1 kHz from the core clock.
pub fn tick_start(core_hz: u32) {
    let mut syst = cortex_m::Peripherals::take().unwrap().SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(core_hz / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    crate::clock::tick();
}

/// The SysTick current value: the sub-millisecond phase.
pub fn tick_phase() -> u32 {
    // SAFETY: a read-only register access.
    unsafe { (*cortex_m::peripheral::SYST::PTR).cvr.read() }
}

/// `ms` counted so far (read with interrupts off), corrected for a wrap whose interrupt
/// is still pending; SysTick's period in cycles; the cycles of this millisecond passed.
pub fn tick_fine(ms: u64) -> (u64, u32, u32) {
    // SAFETY: read-only register accesses.
    let (reload, cvr, pending) = unsafe {
        let syst = &*cortex_m::peripheral::SYST::PTR;
        let icsr = (*cortex_m::peripheral::SCB::PTR).icsr.read();
        (syst.rvr.read() + 1, syst.cvr.read(), icsr & (1 << 26) != 0)
    };
    // A wrap whose interrupt is still pending (masked here) is not in `ms` yet; the
    // counter counts down, so a wrap before the read left it near the top.
    let ms = if pending && cvr > reload / 2 { ms + 1 } else { ms };
    (ms, reload, (reload - 1).saturating_sub(cvr))
}

pub fn irq_enable(irq: u16) {
    reg::write(0xE000_E100 + 4 * (irq as usize / 32), 1 << (irq % 32)); // ISER
}

pub fn irq_disable(irq: u16) {
    reg::write(0xE000_E180 + 4 * (irq as usize / 32), 1 << (irq % 32)); // ICER
}

/// An Arm semihosting call (`bkpt 0xab`); -1 when no host answers (the HardFault
/// handler below skips the `bkpt` then).
pub fn semihosting(op: u32, args: u32) -> u32 {
    cortex_m::interrupt::free(|_| {
        // SAFETY: a single core, interrupts off; the handler reads it in the call.
        unsafe {
            core::ptr::write_volatile(core::ptr::addr_of_mut!(flash::WASMBED_SEMIHOSTING), 1);
            // A semihosting call with a valid argument block (or a plain value).
            let r = cortex_m::asm::semihosting_syscall(op, args);
            core::ptr::write_volatile(core::ptr::addr_of_mut!(flash::WASMBED_SEMIHOSTING), 0);
            r
        }
    })
}

// The HardFault vector: the `bkpt` of a semihosting call no host answered
// (flash::WASMBED_SEMIHOSTING set) is skipped with -1 in r0, as a failed call; any
// other fault goes to `hard_fault` with the stacked frame.
core::arch::global_asm!(
    ".section .HardFault.wasmbed,\"ax\",%progbits",
    ".global HardFault",
    ".type HardFault,%function",
    ".thumb_func",
    "HardFault:",
    "tst lr, #4",
    "ite eq",
    "mrseq r0, msp",
    "mrsne r0, psp",
    "ldr r2, ={flag}",
    "ldr r3, [r2]",
    "cbz r3, 1f",
    "ldr r1, [r0, #24]",
    "adds r1, #2",
    "str r1, [r0, #24]",
    "mov r1, #-1",
    "str r1, [r0]",
    "bx lr",
    "1:",
    "b {handler}",
    flag = sym flash::WASMBED_SEMIHOSTING,
    handler = sym hard_fault,
);

/// A fault, or a panic: the device build panics with `-Cpanic=immediate-abort`
/// (.cargo/config.toml), so a panic is a trap instruction (`udf #254`), which faults
/// here with no message in the image; `addr2line -f -e <the ELF> <pc>` names the function.
unsafe extern "C" fn hard_fault(ef: &ExceptionFrame) -> ! {
    extern "C" {
        static __stext: u8;
        static __etext: u8;
    }
    let pc = ef.pc();
    // Only a pc inside the image's code is read (a jump elsewhere faults here too).
    let text = core::ptr::addr_of!(__stext) as u32..core::ptr::addr_of!(__etext) as u32;
    let trap = text.contains(&pc) && pc & 1 == 0 && core::ptr::read_volatile(pc as *const u16) == 0xdefe;
    let what = if trap { "PANIC: trap" } else { "FAULT: hard fault" };
    println!("{} at pc={:#010x} lr={:#010x}", what, pc, ef.lr());
    reset::note_fault(trap, pc, ef.lr());
    sys_reset()
}

/// The watchdog's early warning (the MPS2's CMSDK watchdog raises NMI on its first
/// expiry and resets on the second): noted, so the next boot knows why.
#[exception]
unsafe fn NonMaskableInt() {
    // Noted for the next boot's report; no printing here (the firmware may be stuck
    // inside the console itself).
    reset::note_watchdog();
    loop {
        cortex_m::asm::nop();
    }
}

/// Interrupts: the link UART's receive interrupt; any other is masked.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn >= 0 && board::LINK_IRQ == Some(irqn as u16) {
        link::on_irq();
        return;
    }
    if irqn >= 0 {
        irq_disable(irqn as u16);
    }
}
