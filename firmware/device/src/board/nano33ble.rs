//! Arduino Nano 33 BLE (nRF52840). No QEMU machine exists for it: it runs in Renode on
//! `arduino_nano_33_ble.repl` (renode/nano33ble.repl: the stock platform, SysTick at the
//! core's 64 MHz).
//!
//! - Clock: 64 MHz from the external 32 MHz crystal (HFXO started at boot).
//! - Console: UARTE0 (EasyDMA) on the header's TX/RX pins (P1.03 / P1.10). Renode models
//!   UART0 as the UARTE only (no legacy TXD register), as the part's other drivers use it.
//! - Link to the modem: UARTE1 (EasyDMA) on D2/D3 (P1.11 / P1.12); received one byte per
//!   transfer, each ENDRX raising its interrupt (IRQ 40), which moves the byte into the
//!   link's ring and starts the next transfer (link.rs). Bytes that come meanwhile wait in
//!   the UARTE's receive FIFO (Renode: its queue) until STARTRX.
//! - GPIO pins 0: LED_BUILTIN (P0.13), 1-3: RGB LED red, green, blue (P0.24, P0.16, P0.06;
//!   active low, so 1 lights them).
//! - Entropy: the RNG peripheral (thermal noise, bias correction on) — a real TRNG.
//! - Watchdog: WDT (32.768 kHz).

use crate::reg::{read, wait, write};

use super::facts::*;

const CLOCK: usize = 0x4000_0000;
const UART0: usize = CONSOLE_UART;
const UARTE1: usize = LINK_UART;
const RNG: usize = 0x4000_D000;
const WDT: usize = 0x4001_0000;
const P0: usize = 0x5000_0000;

const LED_PINS: [u32; 4] = [13, 24, 16, 6];
const ACTIVE_LOW: [bool; 4] = [false, true, true, true];
const BAUD_115200: u32 = 0x01D7_E000;

// UARTE registers (EasyDMA reads and writes RAM only: what is sent is copied first).
const STARTRX: usize = 0x000;
const STARTTX: usize = 0x008;
const ENDRX: usize = 0x110;
const ENDTX: usize = 0x120;
const INTENSET: usize = 0x304;
const INTENCLR: usize = 0x308;
const ENABLE: usize = 0x500;
const RXD_PTR: usize = 0x534;
const RXD_MAXCNT: usize = 0x538;
const TXD_PTR: usize = 0x544;
const TXD_MAXCNT: usize = 0x548;
const INT_ENDRX: u32 = 1 << 4;

static mut CONSOLE_BUF: [u8; 64] = [0; 64];
static mut LINK_BUF: [u8; 64] = [0; 64];
static mut RX_BYTE: [u8; 1] = [0];

pub fn init() {
    write(CLOCK + 0x100, 0);
    write(CLOCK, 1); // TASKS_HFCLKSTART
    wait(1_000_000, || read(CLOCK + 0x100) != 0);
    // UARTE0: TX P1.03 (35), RX P1.10 (42).
    write(UART0 + 0x50C, 35);
    write(UART0 + 0x514, 42);
    write(UART0 + 0x524, BAUD_115200);
    write(UART0 + ENABLE, 8);
    // UARTE1: TX P1.11 (43), RX P1.12 (44); the first one-byte reception.
    write(UARTE1 + 0x50C, 43);
    write(UARTE1 + 0x514, 44);
    write(UARTE1 + 0x524, BAUD_115200);
    write(UARTE1 + ENABLE, 8);
    write(UARTE1 + RXD_PTR, &raw mut RX_BYTE as usize as u32);
    write(UARTE1 + RXD_MAXCNT, 1);
    write(UARTE1 + ENDRX, 0);
    write(UARTE1 + STARTRX, 1);
    for (i, &pin) in LED_PINS.iter().enumerate() {
        write(P0 + 0x700 + 4 * pin as usize, 1); // output, input buffer connected
        gpio_write(i as i32, 0);
    }
    write(RNG + 0x504, 1); // bias correction
}

/// Sends `data` from `buf` (RAM, for EasyDMA) in transfers of its size; each waits for
/// ENDTX.
fn uarte_write(base: usize, buf: *mut [u8; 64], data: &[u8]) {
    for chunk in data.chunks(64) {
        // SAFETY: each buffer has one writer (the console's or the link's; not from the
        // link interrupt; the fault handler's report may overwrite a console line it
        // interrupted, then resets), and the DMA reading it has ended when this returns.
        unsafe { (&mut *buf)[..chunk.len()].copy_from_slice(chunk) };
        write(base + ENDTX, 0);
        write(base + TXD_PTR, buf as usize as u32);
        write(base + TXD_MAXCNT, chunk.len() as u32);
        write(base + STARTTX, 1);
        wait(u32::MAX, || read(base + ENDTX) != 0);
    }
}

pub fn console_write(data: &[u8]) {
    uarte_write(UART0, &raw mut CONSOLE_BUF, data)
}

pub fn link_write(data: &[u8]) {
    uarte_write(UARTE1, &raw mut LINK_BUF, data)
}

/// The byte the last reception brought (ENDRX), and the next reception started.
pub fn link_read() -> Option<u8> {
    if read(UARTE1 + ENDRX) == 0 {
        return None;
    }
    // SAFETY: the DMA transfer into RX_BYTE has ended (ENDRX) and the next one is not
    // started before the byte is read.
    let b = unsafe { core::ptr::read_volatile(&raw const RX_BYTE as *const u8) };
    write(UARTE1 + ENDRX, 0);
    write(UARTE1 + STARTRX, 1);
    Some(b)
}

/// A received byte waits in RX_BYTE.
pub fn link_rx_ready() -> bool {
    read(UARTE1 + ENDRX) != 0
}

/// UARTE1's ENDRX interrupt on or off.
pub fn link_irq(on: bool) {
    write(UARTE1 + if on { INTENSET } else { INTENCLR }, INT_ENDRX);
}

/// Nothing to acknowledge: link_read clears ENDRX.
pub fn link_irq_ack() {}

pub fn gpio_write(pin: i32, value: i32) -> i32 {
    if !super::writable(pin) {
        return -1;
    }
    let i = pin as usize;
    let high = (value != 0) != ACTIVE_LOW[i];
    write(P0 + if high { 0x508 } else { 0x50C }, 1 << LED_PINS[i]);
    0
}

pub fn gpio_read(pin: i32) -> i32 {
    if !super::readable(pin) {
        return -1;
    }
    let i = pin as usize;
    let high = read(P0 + 0x504) >> LED_PINS[i] & 1 != 0; // OUT register
    (high != ACTIVE_LOW[i]) as i32
}

pub fn hw_entropy(out: &mut [u8]) -> bool {
    write(RNG, 1); // TASKS_START
    for b in out.iter_mut() {
        if !wait(100_000, || read(RNG + 0x100) != 0) {
            write(RNG + 0x004, 1);
            return false;
        }
        *b = read(RNG + 0x508) as u8;
        write(RNG + 0x100, 0);
    }
    write(RNG + 0x004, 1); // TASKS_STOP
    true
}

static_page_pool!();

/// Why the part last reset, from POWER.RESETREAS (cleared for the next one).
pub fn reset_cause() -> Option<crate::reset::Cause> {
    use crate::reset::Cause;
    const RESETREAS: usize = 0x4000_0400;
    let r = read(RESETREAS);
    write(RESETREAS, r);
    Some(if r & 1 << 1 != 0 {
        Cause::Watchdog
    } else if r & 1 << 3 != 0 {
        Cause::HardFault // CPU lock-up
    } else if r & 1 << 2 != 0 {
        Cause::Requested
    } else if r & 1 != 0 {
        Cause::Pin
    } else if r == 0 {
        Cause::PowerOn
    } else {
        return None;
    })
}

pub fn watchdog_start(ms: u32) {
    write(WDT + 0x504, (ms as u64 * 32768 / 1000) as u32);
    write(WDT + 0x508, 1); // RR[0] enabled
    write(WDT + 0x50C, 1); // run while sleeping
    write(WDT, 1);
}

pub fn watchdog_feed() {
    write(WDT + 0x600, 0x6E52_4635);
}

pub fn emulated() -> bool {
    false
}

/// The identity's flash (flash.rs): the two 4 KiB pages below the config page
/// (0xF5000, 0xF6000), outside the image (memory.x), through the NVMC. None when there is
/// no NVMC: its READY flag reads 1 when it is idle, as it is at boot; Renode 1.15.3 models
/// no NVMC (the address reads 0), and the identity is then kept in RAM only.
pub fn kept_flash() -> Option<alloc::boxed::Box<dyn wasmbed_kept::Flash>> {
    if read(NVMC + 0x400) & 1 == 0 {
        return None;
    }
    Some(alloc::boxed::Box::new(NvmcPages))
}

struct NvmcPages;

const NVMC: usize = 0x4001_E000;
const KEPT: u32 = 0x000F_5000;

impl NvmcPages {
    /// With NVMC CONFIG = `mode` (1 write, 2 erase), runs `op` and waits until ready.
    fn run(&self, mode: u32, op: impl FnOnce()) {
        write(NVMC + 0x504, mode);
        op();
        wait(u32::MAX, || read(NVMC + 0x400) & 1 != 0);
        write(NVMC + 0x504, 0);
    }
}

impl wasmbed_kept::Flash for NvmcPages {
    fn sector_size(&self) -> u32 {
        4096
    }
    fn read(&mut self, off: u32, buf: &mut [u8]) -> Result<(), wasmbed_kept::Error> {
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: inside the two kept pages, memory-mapped flash.
            *b = unsafe { core::ptr::read_volatile((KEPT + off + i as u32) as *const u8) };
        }
        Ok(())
    }
    fn erase(&mut self, sector: u32) -> Result<(), wasmbed_kept::Error> {
        self.run(2, || write(NVMC + 0x508, KEPT + sector * 4096));
        Ok(())
    }
    fn program(&mut self, off: u32, data: &[u8]) -> Result<(), wasmbed_kept::Error> {
        for (i, w) in data.chunks(4).enumerate() {
            let word = u32::from_le_bytes(w.try_into().map_err(|_| wasmbed_kept::Error::Flash("unaligned"))?);
            self.run(1, || write((KEPT + off) as usize + 4 * i, word));
        }
        Ok(())
    }
}
