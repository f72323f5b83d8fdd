//! A RISC-V RV32IMAC board on the `virt` memory map: Renode's `riscv_virt` platform
//! (renode/riscv32-virt.repl, which adds the second UART) and, for the console, Debian's
//! `qemu-system-riscv32 -M virt`. The same peripherals as SiFive-style MCUs: an NS16550
//! UART, the CLINT's machine timer, the PLIC. Not a part you can buy: what it stands for
//! is an RV32IMAC microcontroller with 512 KiB of code storage and 256 KiB of RAM, which
//! `boards/riscv32-virt/memory.x` limits the firmware to (the platform maps 2 GiB of DRAM).
//!
//! - Clock: the CLINT's `mtime` at 10 MHz (Renode and QEMU alike) gives the 1 kHz tick
//!   (arch/rv32.rs); the core runs 100 MIPS in Renode (`PerformanceInMips`), the figure
//!   the fuel cap takes as its clock.
//! - Console: NS16550 UART0 at 0x10000000 (polled).
//! - Link to the modem: NS16550 UART1 at 0x10000100, PLIC source 4 (renode/riscv32-virt.repl
//!   adds it; QEMU's `virt` has one UART only, so under QEMU the board has no link).
//!   Renode's NS16550 queues received bytes without bound, and its receive interrupt is a
//!   level (data ready and IER.ERBFI), so masking IER holds the rest back.
//! - GPIO: none on the platform. Pins 0-3 are a latch in RAM (what an app writes it reads
//!   back), as the ABI's pins on a board that has no LEDs wired.
//! - Entropy: no RNG on the platform. Timing jitter of the 10 MHz timer, the arrival times
//!   of the link's bytes and the bundle's seed, as on the MPS2 (entropy.rs): under Renode's
//!   virtual time the jitter is small; the link's arrival times follow the host.
//! - No flash controller: the image is in the first 512 KiB of DRAM, and the identity is
//!   kept in RAM only (across a reset, not a power cut), as on nano33ble in Renode.
//! - Watchdog: none on the platform; `watchdog_*` do nothing, so a stuck firmware is not
//!   reset here (the app's own calls are still bounded by fuel).
//! - Reset: QEMU's test device (0x100000, "reset") where it exists, else a restart of the
//!   core at riscv-rt's `_start` (arch/rv32.rs).

use crate::reg::{read, write};

use super::facts::*;

/// The CLINT (machine timer) and the PLIC, for arch/rv32.rs.
pub const CLINT: usize = 0x0200_0000;
pub const PLIC: usize = 0x0C00_0000;
pub const TIMER_HZ: u32 = 10_000_000;

const UART0: usize = CONSOLE_UART;
const UART1: usize = LINK_UART;
/// QEMU `virt`'s SiFive test device: writing 0x7777 resets the machine.
const TEST: usize = 0x0010_0000;

// NS16550 registers (byte wide).
const RBR_THR: usize = 0;
const IER: usize = 1;
const FCR: usize = 2;
const LCR: usize = 3;
const LSR: usize = 5;
const LSR_DR: u8 = 1;
const LSR_THRE: u8 = 1 << 5;

fn r8(addr: usize) -> u8 {
    // SAFETY: the NS16550 registers of this board.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

fn w8(addr: usize, v: u8) {
    // SAFETY: as for `r8`.
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) }
}

pub fn init() {
    for base in [UART0, UART1] {
        w8(base + IER, 0);
        w8(base + LCR, 0x80); // DLAB: the divisor (115200 baud from 1.8432 MHz: 1)
        w8(base + RBR_THR, 1);
        w8(base + IER, 0);
        w8(base + LCR, 0x03); // 8N1
        w8(base + FCR, 0x01); // FIFOs on
    }
}

fn uart_write(base: usize, data: &[u8]) {
    for &b in data {
        crate::reg::wait(u32::MAX, || r8(base + LSR) & LSR_THRE != 0);
        w8(base + RBR_THR, b);
    }
}

pub fn console_write(data: &[u8]) {
    uart_write(UART0, data)
}

pub fn link_write(data: &[u8]) {
    uart_write(UART1, data)
}

pub fn link_read() -> Option<u8> {
    if link_rx_ready() {
        return Some(r8(UART1 + RBR_THR));
    }
    None
}

/// A received byte waits in UART1 (LSR.DR).
pub fn link_rx_ready() -> bool {
    r8(UART1 + LSR) & LSR_DR != 0
}

/// UART1's receive interrupt (IER.ERBFI) on or off.
pub fn link_irq(on: bool) {
    w8(UART1 + IER, on as u8);
}

/// Nothing to clear: the interrupt is a level, down once the data is read.
pub fn link_irq_ack() {}

static PINS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

pub fn gpio_write(pin: i32, value: i32) -> i32 {
    if !super::writable(pin) {
        return -1;
    }
    let bit = 1 << pin;
    if value != 0 {
        PINS.fetch_or(bit, core::sync::atomic::Ordering::Relaxed);
    } else {
        PINS.fetch_and(!bit, core::sync::atomic::Ordering::Relaxed);
    }
    0
}

pub fn gpio_read(pin: i32) -> i32 {
    if !super::readable(pin) {
        return -1;
    }
    (PINS.load(core::sync::atomic::Ordering::Relaxed) >> pin & 1) as i32
}

pub fn hw_entropy(_out: &mut [u8]) -> bool {
    false
}

static_page_pool!();

/// No reset-cause register: the firmware's own record says.
pub fn reset_cause() -> Option<crate::reset::Cause> {
    None
}

/// No watchdog on the platform.
pub fn watchdog_start(_ms: u32) {}

pub fn watchdog_feed() {}

/// A machine reset where the platform has one (QEMU's test device; Renode's platform
/// maps nothing there and ignores the write); arch::sys_reset restarts the core after.
pub fn request_reset() {
    write(TEST, 0x7777);
    let _ = read(TEST);
}

pub fn emulated() -> bool {
    false
}

/// No flash controller: the identity is kept in RAM only.
pub fn kept_flash() -> Option<alloc::boxed::Box<dyn wasmbed_kept::Flash>> {
    None
}
