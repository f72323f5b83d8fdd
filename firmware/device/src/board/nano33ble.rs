//! Arduino Nano 33 BLE (nRF52840). No QEMU machine exists for it: it builds here and is
//! meant for Renode's `arduino_nano_33_ble` platform (renode/), untested on these machines.
//!
//! - Clock: 64 MHz from the external 32 MHz crystal (HFXO started at boot).
//! - Console: UART0 (legacy, non-DMA) on the header's TX/RX pins (P1.03 / P1.10).
//! - Link to the modem: UARTE1 (EasyDMA, one byte per transfer) on D2/D3 (P1.11 / P1.12).
//! - GPIO pins 0: LED_BUILTIN (P0.13), 1-3: RGB LED red, green, blue (P0.24, P0.16, P0.06;
//!   active low, so 1 lights them).
//! - Entropy: the RNG peripheral (thermal noise, bias correction on) — a real TRNG.
//! - Watchdog: WDT (32.768 kHz).

use core::sync::atomic::{AtomicU8, Ordering};

use crate::reg::{read, wait, write};

pub const NAME: &str = "nano33ble";
pub const PART: &str = "nRF52840 (Cortex-M4F)";
pub const CORE_HZ: u32 = 64_000_000;
pub const MAX_FRAME: u32 = 4096;
/// The firmware's own heap (sessions, TLS buffers, protocol).
pub const HEAP_SIZE: usize = 40 * 1024;
/// The apps' code pool (heap.rs): modules, compiled code, interpreter state.
pub const CODE_POOL: usize = 96 * 1024;
/// The apps' page pool: linear memories, whole 64 KiB pages.
pub const APP_RAM: u32 = 64 * 1024;
pub const MAX_APPS: usize = 4;
pub const GPIO_PINS: u32 = 4;
/// The link is polled here (UARTE1 with one-byte EasyDMA transfers; no interrupt wired).
/// Interrupt vectors the part has (nRF52840: 48 interrupts).
pub const IRQS: usize = 48;
pub const LINK_IRQ: Option<u16> = None;
pub const LINK_RING: usize = 2048;

const CLOCK: usize = 0x4000_0000;
const UART0: usize = 0x4000_2000;
const UARTE1: usize = 0x4002_8000;
const RNG: usize = 0x4000_D000;
const WDT: usize = 0x4001_0000;
const P0: usize = 0x5000_0000;

const LED_PINS: [u32; 4] = [13, 24, 16, 6];
const ACTIVE_LOW: [bool; 4] = [false, true, true, true];
const BAUD_115200: u32 = 0x01D7_E000;

static mut TX_BUF: [u8; 64] = [0; 64];
static mut RX_BYTE: [u8; 1] = [0];
static RX_STARTED: AtomicU8 = AtomicU8::new(0);

pub fn init() {
    write(CLOCK + 0x100, 0);
    write(CLOCK, 1); // TASKS_HFCLKSTART
    wait(1_000_000, || read(CLOCK + 0x100) != 0);
    // UART0: TX P1.03 (35), RX P1.10 (42).
    write(UART0 + 0x50C, 35);
    write(UART0 + 0x514, 42);
    write(UART0 + 0x524, BAUD_115200);
    write(UART0 + 0x500, 4);
    write(UART0 + 0x008, 1); // STARTTX
    // UARTE1: TX P1.11 (43), RX P1.12 (44).
    write(UARTE1 + 0x50C, 43);
    write(UARTE1 + 0x514, 44);
    write(UARTE1 + 0x524, BAUD_115200);
    write(UARTE1 + 0x500, 8);
    for (i, &pin) in LED_PINS.iter().enumerate() {
        write(P0 + 0x700 + 4 * pin as usize, 1); // output, input buffer connected
        gpio_write(i as i32, 0);
    }
    write(RNG + 0x504, 1); // bias correction
}

pub fn console_write(data: &[u8]) {
    for &b in data {
        write(UART0 + 0x11C, 0);
        write(UART0 + 0x51C, b as u32);
        wait(1_000_000, || read(UART0 + 0x11C) != 0);
    }
}

pub fn link_write(data: &[u8]) {
    for chunk in data.chunks(64) {
        let buf = &raw mut TX_BUF;
        // SAFETY: only this function touches TX_BUF, and it waits for the DMA to end.
        unsafe { (&mut *buf)[..chunk.len()].copy_from_slice(chunk) };
        write(UARTE1 + 0x120, 0);
        write(UARTE1 + 0x544, buf as usize as u32);
        write(UARTE1 + 0x548, chunk.len() as u32);
        write(UARTE1 + 0x008, 1); // STARTTX
        wait(u32::MAX, || read(UARTE1 + 0x120) != 0);
    }
}

pub fn link_read() -> Option<u8> {
    let rx = &raw mut RX_BYTE;
    if RX_STARTED.load(Ordering::Relaxed) == 0 {
        write(UARTE1 + 0x110, 0);
        write(UARTE1 + 0x534, rx as usize as u32);
        write(UARTE1 + 0x538, 1);
        write(UARTE1, 1); // STARTRX
        RX_STARTED.store(1, Ordering::Relaxed);
    }
    if read(UARTE1 + 0x110) == 0 {
        return None;
    }
    RX_STARTED.store(0, Ordering::Relaxed);
    // SAFETY: the DMA transfer into RX_BYTE has ended (ENDRX).
    Some(unsafe { (*rx)[0] })
}

pub fn link_rx_ready() -> bool {
    false
}

pub fn link_irq(_on: bool) {}

pub fn link_irq_ack() {}

pub fn gpio_write(pin: i32, value: i32) -> i32 {
    if !(0..4).contains(&pin) {
        return -1;
    }
    let i = pin as usize;
    let high = (value != 0) != ACTIVE_LOW[i];
    write(P0 + if high { 0x508 } else { 0x50C }, 1 << LED_PINS[i]);
    0
}

pub fn gpio_read(pin: i32) -> i32 {
    if !(0..4).contains(&pin) {
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

#[repr(C, align(8))]
struct Pages([core::mem::MaybeUninit<u8>; APP_RAM as usize]);
static mut PAGES: Pages = Pages([core::mem::MaybeUninit::uninit(); APP_RAM as usize]);

/// The page pool: a static array, one page.
pub fn page_pool() -> (usize, usize) {
    (&raw mut PAGES as usize, APP_RAM as usize)
}

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
/// (0xF5000, 0xF6000), outside the image (memory.x), through the NVMC.
pub fn kept_flash() -> Option<alloc::boxed::Box<dyn wasmbed_kept::Flash>> {
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
