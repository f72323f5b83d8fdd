//! STM32F4 Discovery (STM32F407VG); under QEMU `-M netduinoplus2` (STM32F405, same
//! peripheral map for everything used here).
//!
//! - Clock: HSE 8 MHz -> PLL -> 168 MHz (APB1 42 MHz, APB2 84 MHz). QEMU does not model
//!   the RCC (a bit written to RCC_CR does not stay set): the firmware sees that, skips
//!   the PLL and trusts the 168 MHz the emulator's SysTick runs at. Renode's RCC keeps
//!   what is written and reports every oscillator and the PLL ready at once, so the
//!   silicon sequence runs there (its SysTick and USART clocks are set in
//!   renode/stm32f4-discovery.repl).
//! - Console: USART1 (PA9/PA10, AF7), 115200 8N1 — QEMU's first `-serial`.
//! - Link to the modem: USART2 (PA2/PA3, AF7), 115200 8N1 — QEMU's second `-serial`.
//! - GPIO pins 0-3: LD4, LD3, LD5, LD6 (PD12-PD15); pin 4: user button PA0 (input only).
//!   QEMU does not model the GPIO ports: writes are kept in a shadow so reads agree.
//! - Entropy: the RNG peripheral (0x50060800). QEMU does not model it; the firmware then
//!   falls back to timing jitter (see entropy.rs).
//! - App memory: the 64 KiB CCM RAM at 0x10000000 holds apps' linear memories. Neither
//!   QEMU's netduinoplus2 nor Renode's stm32f4.repl maps a CCM, but both map more SRAM at
//!   0x20000000 than the part's 128 KiB (192 KiB and 256 KiB): when the CCM does not
//!   hold a written word, the 64 KiB above the first 128 KiB stand in for it, so the
//!   firmware has the same 128 KiB + 64 KiB split everywhere.
//! - Watchdog: IWDG (LSI 32 kHz, /256), not modelled by QEMU (Renode models it).
//! - Flash controller (the identity, `kept_flash`): not modelled by QEMU (semihosting
//!   stands in, flash.rs); Renode models it, so there the firmware drives it as on silicon.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::reg::{modify, read, wait, write};

use super::facts::*;

const RCC: usize = 0x4002_3800;
const RCC_CR: usize = RCC;
const RCC_PLLCFGR: usize = RCC + 0x04;
const RCC_CFGR: usize = RCC + 0x08;
const RCC_AHB1ENR: usize = RCC + 0x30;
const RCC_AHB2ENR: usize = RCC + 0x34;
const RCC_APB1ENR: usize = RCC + 0x40;
const RCC_APB2ENR: usize = RCC + 0x44;
const FLASH_ACR: usize = 0x4002_3C00;
const GPIOA: usize = 0x4002_0000;
const GPIOD: usize = 0x4002_0C00;
const USART1: usize = CONSOLE_UART;
const USART2: usize = LINK_UART;
const RNG: usize = 0x5006_0800;
const IWDG: usize = 0x4000_3000;

// USART registers and bits.
const SR: usize = 0x00;
const DR: usize = 0x04;
const BRR: usize = 0x08;
const CR1: usize = 0x0C;
const SR_RXNE: u32 = 1 << 5;
const SR_TXE: u32 = 1 << 7;
const SR_ORE: u32 = 1 << 3;

static PINS: AtomicU32 = AtomicU32::new(0);
static EMULATED: AtomicU32 = AtomicU32::new(0);
static PAGES: AtomicU32 = AtomicU32::new(CCM as u32);

const CCM: usize = 0x1000_0000;
/// Where the page pool goes when there is no CCM (emulators): above the part's 128 KiB.
const SRAM_ABOVE: usize = 0x2002_0000;

/// Whether this is QEMU, which models neither the RCC nor the flash controller (nor the
/// RNG, the GPIO ports, the watchdog). Found by behaviour, not by a reset value: QEMU
/// drops what is written to RCC_CR (`init`). Renode is not "emulated" in this sense: it
/// models everything the firmware uses, so the silicon paths run there.
pub fn emulated() -> bool {
    EMULATED.load(Ordering::Relaxed) != 0
}

pub fn init() {
    // HSEON, the first step of the clock setup, is also the probe: an RCC keeps the bit.
    modify(RCC_CR, |v| v | 1 << 16);
    let qemu = read(RCC_CR) & 1 << 16 == 0;
    EMULATED.store(qemu as u32, Ordering::Relaxed);
    // The CCM, when it holds what is written (QEMU faults on an unmapped address, so it
    // is not probed there; Renode drops the write and reads 0).
    if qemu || !holds(CCM) {
        PAGES.store(SRAM_ABOVE as u32, Ordering::Relaxed);
    }
    clocks();
    // GPIOA, GPIOD clocks; USART1 (APB2), USART2 (APB1).
    modify(RCC_AHB1ENR, |v| v | 1 | 1 << 3);
    modify(RCC_APB2ENR, |v| v | 1 << 4);
    modify(RCC_APB1ENR, |v| v | 1 << 17);
    // PA2, PA3, PA9, PA10: alternate function 7. PA0: input.
    modify(GPIOA, |v| {
        let mut v = v & !(3 | 3 << 4 | 3 << 6 | 3 << 18 | 3 << 20);
        v |= 2 << 4 | 2 << 6 | 2 << 18 | 2 << 20;
        v
    });
    modify(GPIOA + 0x20, |v| (v & !(0xF << 8 | 0xF << 12)) | 7 << 8 | 7 << 12);
    modify(GPIOA + 0x24, |v| (v & !(0xF << 4 | 0xF << 8)) | 7 << 4 | 7 << 8);
    // PD12-PD15: outputs.
    modify(GPIOD, |v| (v & !(0xFF << 24)) | 0x55 << 24);
    // 115200 8N1: USART1 on APB2 (84 MHz), USART2 on APB1 (42 MHz).
    write(USART1 + BRR, 0x2D9);
    write(USART2 + BRR, 0x16D);
    write(USART1 + CR1, 1 << 13 | 1 << 3 | 1 << 2);
    write(USART2 + CR1, 1 << 13 | 1 << 3 | 1 << 2);
    // RNG.
    modify(RCC_AHB2ENR, |v| v | 1 << 6);
    write(RNG, 1 << 2);
}

/// Whether RAM at `addr` holds two patterns written to it (its word is restored).
fn holds(addr: usize) -> bool {
    let was = read(addr);
    let ok = [0x5AA5_C33C, !0x5AA5_C33C].iter().all(|&p| {
        write(addr, p);
        read(addr) == p
    });
    write(addr, was);
    ok
}

fn clocks() {
    if emulated() {
        // No RCC modelled (QEMU): the emulator fixes the core clock at 168 MHz.
        return;
    }
    // HSEON is set (init).
    if !wait(1_000_000, || read(RCC_CR) & 1 << 17 != 0) {
        return; // no crystal: stay on HSI (16 MHz); timing will be off, say so in the log
    }
    write(RCC_PLLCFGR, 8 | 336 << 6 | 1 << 22 | 7 << 24); // M=8 N=336 P=2 Q=7, HSE
    modify(RCC_CR, |v| v | 1 << 24); // PLLON
    if !wait(1_000_000, || read(RCC_CR) & 1 << 25 != 0) {
        return;
    }
    write(FLASH_ACR, 0x705); // 5 wait states, prefetch, I and D caches
    write(RCC_CFGR, 0b101 << 10 | 0b100 << 13 | 0b10); // APB1 /4, APB2 /2, SYSCLK = PLL
    wait(1_000_000, || read(RCC_CFGR) >> 2 & 0b11 == 0b10);
}

fn uart_write(base: usize, data: &[u8]) {
    for &b in data {
        wait(u32::MAX, || read(base + SR) & SR_TXE != 0);
        write(base + DR, b as u32);
    }
}

fn uart_read(base: usize) -> Option<u8> {
    let sr = read(base + SR);
    if sr & (SR_RXNE | SR_ORE) != 0 {
        return Some(read(base + DR) as u8); // reading DR also clears an overrun
    }
    None
}

pub fn console_write(data: &[u8]) {
    uart_write(USART1, data)
}

pub fn link_write(data: &[u8]) {
    uart_write(USART2, data)
}

pub fn link_read() -> Option<u8> {
    uart_read(USART2)
}

/// A received byte waits in USART2.
pub fn link_rx_ready() -> bool {
    read(USART2 + SR) & (SR_RXNE | SR_ORE) != 0
}

/// USART2's receive interrupt (RXNEIE) on or off.
pub fn link_irq(on: bool) {
    modify(USART2 + CR1, |v| if on { v | 1 << 5 } else { v & !(1 << 5) });
}

/// Nothing to acknowledge: reading DR clears RXNE.
pub fn link_irq_ack() {}

pub fn gpio_write(pin: i32, value: i32) -> i32 {
    if !super::writable(pin) {
        return -1; // no such pin, or the input-only button
    }
    let bit = 12 + pin as u32;
    write(GPIOD + 0x18, if value != 0 { 1 << bit } else { 1 << (bit + 16) });
    if value != 0 {
        PINS.fetch_or(1 << pin, Ordering::Relaxed);
    } else {
        PINS.fetch_and(!(1 << pin), Ordering::Relaxed);
    }
    0
}

pub fn gpio_read(pin: i32) -> i32 {
    match pin {
        0..=3 => {
            let hw = read(GPIOD + 0x14) >> (12 + pin) & 1;
            (hw | PINS.load(Ordering::Relaxed) >> pin & 1) as i32
        }
        4 => (read(GPIOA + 0x10) & 1) as i32,
        _ => -1,
    }
}

pub fn hw_entropy(out: &mut [u8]) -> bool {
    for chunk in out.chunks_mut(4) {
        // DRDY, and neither clock nor seed error.
        if !wait(10_000, || read(RNG + 0x04) & 0b111 == 1) {
            return false;
        }
        let v = read(RNG + 0x08).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    true
}

/// The page pool: the CCM (under QEMU and Renode, 64 KiB of their larger SRAM).
pub fn page_pool() -> (usize, usize) {
    (PAGES.load(Ordering::Relaxed) as usize, APP_RAM as usize)
}

/// Why the part last reset, from RCC_CSR (flags cleared for the next one); None when
/// the flags say nothing (QEMU does not model the RCC).
pub fn reset_cause() -> Option<crate::reset::Cause> {
    use crate::reset::Cause;
    let csr = read(RCC + 0x74);
    write(RCC + 0x74, csr | 1 << 24); // RMVF
    // Most specific first: a watchdog or software reset also sets PINRSTF.
    Some(if csr & (3 << 29) != 0 {
        Cause::Watchdog
    } else if csr & 1 << 28 != 0 {
        Cause::Requested
    } else if csr & 1 << 27 != 0 {
        Cause::PowerOn
    } else if csr & 1 << 25 != 0 {
        Cause::BrownOut
    } else if csr & 1 << 26 != 0 {
        Cause::Pin
    } else {
        return None;
    })
}

pub fn watchdog_start(ms: u32) {
    write(IWDG, 0x5555);
    write(IWDG + 0x04, 6); // /256: 125 Hz
    write(IWDG + 0x08, (ms / 8).clamp(1, 0xFFF));
    write(IWDG, 0xCCCC);
}

pub fn watchdog_feed() {
    write(IWDG, 0xAAAA);
}

/// The identity's flash (flash.rs) on silicon: sectors 9 and 10 (128 KiB each at
/// 0x080A0000), outside the image (memory.x), through the flash controller, 32-bit
/// programming (2.7-3.6 V). Not exercised under QEMU, which does not model the
/// controller (the emulator uses a semihosting file instead).
pub fn kept_flash() -> Option<alloc::boxed::Box<dyn wasmbed_kept::Flash>> {
    Some(alloc::boxed::Box::new(Sectors))
}

struct Sectors;

const KEPT: u32 = 0x080A_0000;
const KEPT_SECTOR: u32 = 9;
const SECTOR: u32 = 128 * 1024;
const FLASH_KEYR: usize = FLASH_ACR + 0x04;
const FLASH_SR: usize = FLASH_ACR + 0x0C;
const FLASH_CR: usize = FLASH_ACR + 0x10;
const CR_PSIZE32: u32 = 2 << 8;
const SR_ERRORS: u32 = 0xF0; // WRPERR, PGAERR, PGPERR, PGSERR

impl Sectors {
    /// Unlocks the controller, runs `op` with CR = `cr` (PSIZE x32), locks again.
    fn run(&self, cr: u32, op: impl FnOnce()) -> Result<(), wasmbed_kept::Error> {
        write(FLASH_KEYR, 0x4567_0123);
        write(FLASH_KEYR, 0xCDEF_89AB);
        write(FLASH_SR, SR_ERRORS | 1); // clear
        write(FLASH_CR, cr | CR_PSIZE32);
        op();
        let sr = read(FLASH_SR);
        write(FLASH_CR, 1 << 31); // LOCK
        // The ART data cache may hold what was there before: reset it.
        modify(FLASH_ACR, |v| v & !(1 << 10));
        modify(FLASH_ACR, |v| v | 1 << 12);
        modify(FLASH_ACR, |v| (v & !(1 << 12)) | 1 << 10);
        if sr & SR_ERRORS != 0 {
            return Err(wasmbed_kept::Error::Flash("stm32 flash controller error"));
        }
        Ok(())
    }
}

/// Waits while the controller is busy.
fn flash_idle() {
    wait(u32::MAX, || read(FLASH_SR) & 1 << 16 == 0);
}

impl wasmbed_kept::Flash for Sectors {
    fn sector_size(&self) -> u32 {
        SECTOR
    }
    fn read(&mut self, off: u32, buf: &mut [u8]) -> Result<(), wasmbed_kept::Error> {
        // SAFETY: inside the two kept sectors, memory-mapped flash.
        let src = unsafe { core::slice::from_raw_parts((KEPT + off) as *const u8, buf.len()) };
        buf.copy_from_slice(src);
        Ok(())
    }
    fn erase(&mut self, sector: u32) -> Result<(), wasmbed_kept::Error> {
        watchdog_feed(); // a 128 KiB erase takes 1-2 s
        self.run(1 << 1 | (KEPT_SECTOR + sector) << 3, || {
            modify(FLASH_CR, |v| v | 1 << 16);
            flash_idle();
        })
    }
    fn program(&mut self, off: u32, data: &[u8]) -> Result<(), wasmbed_kept::Error> {
        self.run(1, || {
            for (i, w) in data.chunks_exact(4).enumerate() {
                write((KEPT + off) as usize + 4 * i, u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
                flash_idle();
            }
        })
    }
}
