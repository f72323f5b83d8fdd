//! ARM MPS2 with the AN386 FPGA image (Cortex-M4), as QEMU's `-M mps2-an386` models it.
//!
//! - Clock: 25 MHz, fixed by the FPGA image.
//! - Console: CMSDK APB UART0 (0x40004000) — QEMU's first `-serial`.
//! - Link to the modem: UART1 (0x40005000) — QEMU's second `-serial`.
//! - GPIO pins 0-1: FPGAIO LED0-LED1; 2-3: FPGAIO BUTTON0-BUTTON1 (read only).
//! - Entropy: the AN386 image has no RNG; timing jitter only (see entropy.rs).
//! - No flash: QEMU loads the image into SSRAM1; modules live in RAM.
//! - Watchdog: CMSDK APB watchdog (0x40008000), modelled by QEMU: it resets the board if
//!   the firmware stops feeding it.

use crate::reg::{modify, read, wait, write};

use super::facts::*;

const UART0: usize = CONSOLE_UART;
const UART1: usize = LINK_UART;
const FPGAIO: usize = 0x4002_8000;
const WDOG: usize = 0x4000_8000;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INTCLEAR: usize = 0x0C;
const BAUDDIV: usize = 0x10;

pub fn init() {
    for base in [UART0, UART1] {
        write(base + BAUDDIV, CORE_HZ / 115_200);
        write(base + CTRL, 0b11); // TX and RX enabled
    }
}

fn uart_write(base: usize, data: &[u8]) {
    for &b in data {
        wait(u32::MAX, || read(base + STATE) & 1 == 0);
        write(base + DATA, b as u32);
    }
}

pub fn console_write(data: &[u8]) {
    uart_write(UART0, data)
}

pub fn link_write(data: &[u8]) {
    uart_write(UART1, data)
}

pub fn link_read() -> Option<u8> {
    if read(UART1 + STATE) & 0b10 != 0 {
        return Some(read(UART1 + DATA) as u8);
    }
    None
}

/// A received byte waits in UART1 (STATE.RXFULL).
pub fn link_rx_ready() -> bool {
    read(UART1 + STATE) & 0b10 != 0
}

/// UART1's receive interrupt (CTRL.RXIRQEN) on or off.
pub fn link_irq(on: bool) {
    modify(UART1 + CTRL, |v| if on { v | 1 << 3 } else { v & !(1 << 3) });
}

/// Clears the receive interrupt (INTCLEAR is write-one-to-clear).
pub fn link_irq_ack() {
    write(UART1 + INTCLEAR, 0b10);
}

pub fn gpio_write(pin: i32, value: i32) -> i32 {
    if !super::writable(pin) {
        return -1;
    }
    modify(FPGAIO, |v| if value != 0 { v | 1 << pin } else { v & !(1 << pin) });
    0
}

pub fn gpio_read(pin: i32) -> i32 {
    match pin {
        0 | 1 => (read(FPGAIO) >> pin & 1) as i32,
        2 | 3 => (read(FPGAIO + 0x08) >> (pin - 2) & 1) as i32,
        _ => -1,
    }
}

pub fn hw_entropy(_out: &mut [u8]) -> bool {
    false
}

static_page_pool!();

/// No reset-cause register is modelled: the firmware's own record says (the
/// watchdog's first expiry raises NMI, which notes it).
pub fn reset_cause() -> Option<crate::reset::Cause> {
    None
}

pub fn watchdog_start(ms: u32) {
    write(WDOG + 0xC00, 0x1ACC_E551); // unlock
    // The board resets on the second expiry (the first raises the interrupt): load half.
    write(WDOG, (CORE_HZ / 1000).saturating_mul(ms / 2));
    write(WDOG + 0x08, 0b11); // INTEN, RESEN
    write(WDOG + 0xC00, 0);
}

pub fn watchdog_feed() {
    write(WDOG + 0xC00, 0x1ACC_E551);
    write(WDOG + 0x0C, 1); // clear the interrupt, reload
    write(WDOG + 0xC00, 0);
}

/// Only ever emulated (QEMU).
pub fn emulated() -> bool {
    true
}

/// No flash: under QEMU the identity is kept in the emulator's file (flash.rs).
pub fn kept_flash() -> Option<alloc::boxed::Box<dyn wasmbed_kept::Flash>> {
    None
}
