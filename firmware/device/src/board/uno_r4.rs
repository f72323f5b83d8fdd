//! Arduino Uno R4 Minima (Renesas RA4M1: Cortex-M4F, 256 KiB code flash, 32 KiB SRAM).
//! Runs in Renode on the stock `arduino_uno_r4_minima.repl` (renode/uno-r4.repl: SysTick
//! and the SCIs' clocks as this module programs them).
//!
//! - Clock: the HOCO at 48 MHz (its frequency comes from OFS1 in the option-setting
//!   memory, `OPTION_BYTES` below; started through HOCOCR), one flash wait state
//!   (MEMWAIT, above 32 MHz), ICLK = PCLKD = 48 MHz, PCLKA = PCLKB = FCLK = 24 MHz.
//!   Renode does not model the clock generator (the SYSTEM block: only OSCSF, which
//!   reports every oscillator stable); the writes go nowhere there and SysTick runs at
//!   the 48 MHz renode/uno-r4.repl gives it.
//! - Console: SCI2 (P302 TXD2, P301 RXD2: D1/D0, the Minima's Serial1), 115200 8N1, polled.
//! - Link to the modem: SCI9 (P109 TXD9, P110 RXD9: D11/D12), 115200 8N1. Its receive
//!   interrupt (RXI, ICU event 0xA8) reaches the NVIC through the ICU: IELSR0 links the
//!   event to NVIC slot 0 (`LINK_IRQ`). The ICU latches the event in IELSR0.IR, which the
//!   handler clears first (`link_irq_ack`), as the part requires. Renode's SCI queues
//!   received bytes without bound and raises RXI again for each byte still queued.
//!   Both SCIs run from PCLKA or PCLKB (the part's manual and FSP differ in where they
//!   say SCI's clock comes from: both are 24 MHz here), with the baud-rate generator's
//!   double-speed mode (SEMR.BGDM): BRR 12 gives 115,385 baud (+0.16 %).
//! - GPIO pins 0: LED_BUILTIN (D13, P111); 1-8: D2-D9 (P105, P104, P103, P102, P106, P107,
//!   P304, P303), outputs (PmnPFS.PDR, low at boot), driven through the ports' PCNTR3
//!   (POSR/PORR: set, reset) and read back from PCNTR1.PODR.
//! - Entropy: none in hardware the firmware can use (the RA4M1's TRNG sits inside its
//!   SCE5 crypto engine, driven by Renesas' closed driver, and Renode does not model it):
//!   timing jitter, the link's arrival times and the bundle's seed (entropy.rs).
//! - Watchdog: none. The WDT's longest period (8192 x 16384 PCLKB cycles: 5.6 s at
//!   24 MHz) is shorter than the firmware's 8 s, within which an app call may run 6 s;
//!   the IWDT could (15 kHz / 128 x 1024: 8.7 s) but starts only from the option-setting
//!   memory, at reset, and Renode tags both watchdogs (nothing to test a driver against).
//!   `watchdog_*` do nothing: a stuck firmware is not reset (an app's calls are still
//!   bounded by fuel), as on riscv32-virt.
//! - Reset cause: RSTSR0/1/2 (cleared after reading). Renode does not map them (they
//!   read 0): the firmware's own record says then.
//! - Apps: no page pool (`page_pool`); the code pool gives each app `CODE_BASE` (3 KiB,
//!   less than the other boards' 10 KiB) plus its module's share.
//! - No flash driver: the identity is kept in RAM only (across a reset, not a power cut),
//!   as on riscv32-virt; the data flash (8 KiB at 0x40100000) is left for it.

use crate::reg::{modify, read, wait, write};

use super::facts::*;

const SCI2: usize = CONSOLE_UART;
const SCI9: usize = LINK_UART;

// SYSTEM (clock generator, resets, register protection).
const SYSTEM: usize = 0x4001_E000;
const SCKDIVCR: usize = SYSTEM + 0x020;
const SCKSCR: usize = SYSTEM + 0x026;
const MEMWAIT: usize = SYSTEM + 0x031;
const HOCOCR: usize = SYSTEM + 0x036;
const OSCSF: usize = SYSTEM + 0x03C;
const RSTSR1: usize = SYSTEM + 0x0C0;
const PRCR: usize = SYSTEM + 0x3FE;
const RSTSR0: usize = SYSTEM + 0x410;
const RSTSR2: usize = SYSTEM + 0x411;
/// Module stop control B: bit 31-n stops SCIn.
const MSTPCRB: usize = 0x4004_7000;
/// The ICU's event link settings (IELSRn, n the NVIC slot).
const IELSR: usize = 0x4000_6300;
const IELSR_IR: u32 = 1 << 16;
/// SCI9 RXI, the link's receive event.
const EVENT_SCI9_RXI: u32 = 0xA8;

// I/O ports: PCNTR1 (PDR 0-15, PODR 16-31) and PCNTR3 (POSR 0-15, PORR 16-31) per port;
// the pin function registers PmnPFS and their write protection (PWPR).
const PORT: usize = 0x4004_0000;
const PFS: usize = 0x4004_0800;
const PWPR: usize = 0x4004_0D03;
const PSEL_SCI_EVEN: u32 = 0x04; // SCI0/2/4/6/8
const PSEL_SCI_ODD: u32 = 0x05; // SCI1/3/5/7/9
const PFS_PMR: u32 = 1 << 16;
const PFS_PDR: u32 = 1 << 2;

/// The pins: (port, bit).
const PINS: [(usize, u32); 9] = [(1, 11), (1, 5), (1, 4), (1, 3), (1, 2), (1, 6), (1, 7), (3, 4), (3, 3)];

// SCI registers (bytes).
const SMR: usize = 0x00;
const BRR: usize = 0x01;
const SCR: usize = 0x02;
const TDR: usize = 0x03;
const SSR: usize = 0x04;
const RDR: usize = 0x05;
const SCMR: usize = 0x06;
const SEMR: usize = 0x07;
const SCR_RE: u8 = 1 << 4;
const SCR_TE: u8 = 1 << 5;
const SCR_RIE: u8 = 1 << 6;
const SSR_TDRE: u8 = 1 << 7;
const SSR_RDRF: u8 = 1 << 6;
const SSR_ERRORS: u8 = 0x38; // ORER, FER, PER
const SEMR_BGDM: u8 = 1 << 6;

/// The option-setting memory (0x400, memory.x): OFS0 leaves both watchdogs stopped
/// (no auto-start), OFS1 sets HOCOFRQ1 = 0b100 (48 MHz) and keeps the HOCO off until
/// `init` starts it; the security MPU's registers after them stay erased (disabled).
#[used]
#[unsafe(link_section = ".rom_registers")]
static OPTION_BYTES: [u32; 64] = {
    let mut o = [0xFFFF_FFFF; 64];
    o[1] = 0xFFFF_CFFF; // OFS1: HOCOFRQ1 (bits 14:12) = 0b100
    o
};

fn r8(addr: usize) -> u8 {
    // SAFETY: this part's byte-wide peripheral registers.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

fn w8(addr: usize, v: u8) {
    // SAFETY: as for `r8`.
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) }
}

fn w16(addr: usize, v: u16) {
    // SAFETY: as for `r8` (PRCR is 16 bits wide).
    unsafe { core::ptr::write_volatile(addr as *mut u16, v) }
}

pub fn init() {
    clocks();
    // SCI2 and SCI9 out of module stop.
    modify(MSTPCRB, |v| v & !(1 << (31 - 2) | 1 << (31 - 9)));
    // Pin functions: P301 RXD2, P302 TXD2, P109 TXD9, P110 RXD9.
    w8(PWPR, 0); // B0WI off
    w8(PWPR, 0x40); // PFSWE on
    for (port, bit, psel) in [(3, 1, PSEL_SCI_EVEN), (3, 2, PSEL_SCI_EVEN), (1, 9, PSEL_SCI_ODD), (1, 10, PSEL_SCI_ODD)] {
        let pfs = PFS + 0x40 * port + 4 * bit;
        write(pfs, psel << 24); // PSEL first, then the peripheral function on
        write(pfs, psel << 24 | PFS_PMR);
    }
    // The GPIO pins: outputs, low. PFS.PDR is the bit PCNTR1.PDR shows; Renode 1.15.3's
    // port model keeps the two apart and drives its pins by PFS.PDR only.
    for &(port, bit) in PINS.iter() {
        write(PFS + 0x40 * port + 4 * bit as usize, PFS_PDR);
    }
    w8(PWPR, 0);
    w8(PWPR, 0x80); // B0WI on again
    for base in [SCI2, SCI9] {
        w8(base + SCR, 0);
        w8(base + SMR, 0); // asynchronous, 8N1, PCLK / 1
        w8(base + SCMR, 0xF2); // not a smart card, LSB first
        w8(base + SEMR, SEMR_BGDM);
        w8(base + BRR, 12); // 24 MHz / (16 x 13): 115,385 baud
    }
    // One bit's time (8.7 us at 115200: 420 cycles) before enabling.
    cortex_m::asm::delay(1000);
    w8(SCI2 + SCR, SCR_TE | SCR_RE);
    w8(SCI9 + SCR, SCR_TE | SCR_RE);
    // The link's receive event to NVIC slot LINK_IRQ (enabled by link.rs).
    if let Some(irq) = LINK_IRQ {
        write(IELSR + 4 * irq as usize, EVENT_SCI9_RXI);
    }
}

/// MOCO 8 MHz (reset) -> HOCO 48 MHz.
fn clocks() {
    w16(PRCR, 0xA501); // clock generation registers writable
    w8(HOCOCR, 0); // HOCO on (its frequency: OFS1)
    let stable = wait(1_000_000, || r8(OSCSF) & 1 != 0); // HOCOSF
    if stable {
        w8(MEMWAIT, 1); // a flash wait state: ICLK above 32 MHz
        // FCLK /2, ICLK /1, PCLKA /2, PCLKB /2, PCLKC /1, PCLKD /1.
        write(SCKDIVCR, 1 << 28 | 1 << 12 | 1 << 8);
        w8(SCKSCR, 0); // the system clock: HOCO
    }
    w16(PRCR, 0xA500);
}

fn uart_write(base: usize, data: &[u8]) {
    for &b in data {
        wait(u32::MAX, || r8(base + SSR) & SSR_TDRE != 0);
        w8(base + TDR, b);
    }
}

pub fn console_write(data: &[u8]) {
    uart_write(SCI2, data)
}

pub fn link_write(data: &[u8]) {
    uart_write(SCI9, data)
}

pub fn link_read() -> Option<u8> {
    let ssr = r8(SCI9 + SSR);
    if ssr & SSR_ERRORS != 0 {
        // An overrun (or a framing or parity error) stops reception until cleared; the
        // link protocol resynchronises. Writing 1 to TDRE and RDRF leaves them.
        w8(SCI9 + SSR, SSR_TDRE | SSR_RDRF);
    }
    if ssr & SSR_RDRF != 0 {
        return Some(r8(SCI9 + RDR));
    }
    None
}

/// A received byte waits in SCI9 (SSR.RDRF).
pub fn link_rx_ready() -> bool {
    r8(SCI9 + SSR) & SSR_RDRF != 0
}

/// SCI9's receive interrupt (SCR.RIE) on or off.
pub fn link_irq(on: bool) {
    let scr = r8(SCI9 + SCR);
    w8(SCI9 + SCR, if on { scr | SCR_RIE } else { scr & !SCR_RIE });
}

/// Clears the ICU's latch of the event (IELSRn.IR), read back so the write has landed
/// before the handler returns (else the NVIC would see the old level and run it again).
pub fn link_irq_ack() {
    if let Some(irq) = LINK_IRQ {
        let a = IELSR + 4 * irq as usize;
        write(a, read(a) & !IELSR_IR);
        let _ = read(a);
    }
}

pub fn gpio_write(pin: i32, value: i32) -> i32 {
    if !super::writable(pin) {
        return -1;
    }
    let (port, bit) = PINS[pin as usize];
    // PCNTR3: POSR sets, PORR resets.
    write(PORT + 0x20 * port + 0x08, if value != 0 { 1 << bit } else { 1 << (bit + 16) });
    0
}

pub fn gpio_read(pin: i32) -> i32 {
    if !super::readable(pin) {
        return -1;
    }
    let (port, bit) = PINS[pin as usize];
    (read(PORT + 0x20 * port) >> (16 + bit) & 1) as i32 // PCNTR1.PODR
}

pub fn hw_entropy(_out: &mut [u8]) -> bool {
    false
}

/// No page pool: a linear memory takes whole 64 KiB pages, more than the part's RAM.
/// No page pool (`APP_RAM` is 0): 32 KiB hold no 64 KiB page; apps declare memories of
/// 0 pages.
pub fn page_pool() -> (usize, usize) {
    (0, 0)
}

/// Why the part last reset: RSTSR1 (watchdogs, software), RSTSR0 (power-on, voltage
/// monitors), RSTSR2.CWSF (0: a cold start); the flags are cleared (CWSF set) for the
/// next one. None when nothing says (Renode: the registers read 0).
pub fn reset_cause() -> Option<crate::reset::Cause> {
    use crate::reset::Cause;
    let (r0, r1, r2) = (r8(RSTSR0), r8(RSTSR1), r8(RSTSR2));
    w8(RSTSR0, 0);
    w8(RSTSR1, 0);
    w8(RSTSR2, 1);
    Some(if r1 & 0b11 != 0 {
        Cause::Watchdog // IWDTRF, WDTRF
    } else if r1 & 1 << 2 != 0 {
        Cause::Requested // SWRF
    } else if r0 & 1 != 0 {
        Cause::PowerOn // PORF
    } else if r0 & 0b1110 != 0 {
        Cause::BrownOut // LVD0RF-LVD2RF
    } else if r2 & 1 != 0 {
        Cause::Pin // a warm start with no other flag: the RES pin
    } else {
        return None;
    })
}

/// No watchdog (module comment).
pub fn watchdog_start(_ms: u32) {}

pub fn watchdog_feed() {}

pub fn emulated() -> bool {
    false
}

/// No flash driver: the identity is kept in RAM only.
pub fn kept_flash() -> Option<alloc::boxed::Box<dyn wasmbed_kept::Flash>> {
    None
}
