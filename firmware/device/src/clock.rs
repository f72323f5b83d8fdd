//! Time: SysTick interrupts at 1 kHz from the core clock give the uptime in
//! milliseconds; the wall clock is the uptime plus an offset learned from the gateway
//! (`welcome` and `heartbeat_ack`), since none of the boards has a battery-backed clock
//! the firmware trusts. Before the first session, `unix_ms` is the uptime (below 10^12,
//! as the host ABI says).

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, Ordering};

use critical_section::Mutex;

static UPTIME: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));
/// Core clock cycles spent waiting for the link or in its interrupt (see `waited`).
static WAITED: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));
static OFFSET: Mutex<Cell<i64>> = Mutex::new(Cell::new(0));
static SYNCED: AtomicBool = AtomicBool::new(false);

/// Starts the architecture's 1 kHz tick (arch: SysTick, the RISC-V machine timer).
pub fn init(core_hz: u32) {
    crate::arch::tick_start(core_hz);
}

/// One millisecond passed (the tick's interrupt).
pub fn tick() {
    critical_section::with(|cs| {
        let c = UPTIME.borrow(cs);
        c.set(c.get() + 1);
    });
}

/// Milliseconds since boot.
pub fn uptime_ms() -> u64 {
    critical_section::with(|cs| UPTIME.borrow(cs).get())
}

/// Unix milliseconds: the gateway's clock once a session told it, the uptime before.
pub fn unix_ms() -> i64 {
    uptime_ms() as i64 + critical_section::with(|cs| OFFSET.borrow(cs).get())
}

/// Sets the wall clock from the gateway's time.
pub fn set_unix_ms(t: i64) {
    let off = t - uptime_ms() as i64;
    critical_section::with(|cs| OFFSET.borrow(cs).set(off));
    SYNCED.store(true, Ordering::Relaxed);
}

/// Whether the wall clock has been set from a gateway since boot.
pub fn synced() -> bool {
    SYNCED.load(Ordering::Relaxed)
}

/// The tick timer's current value: the sub-millisecond phase, for the entropy collector.
pub fn phase() -> u32 {
    crate::arch::tick_phase()
}

/// Core clock cycles since boot, counted by SysTick (which runs on the core clock), for
/// measurements: the `tls` diagnostic, the `bench` feature. Under QEMU with `-icount
/// shift=0` the virtual clock advances one nanosecond per instruction, so there
/// `cycles * 1e9 / CORE_HZ` counts the instructions executed (bench/firmware.sh).
/// Only in images with the measurements (feature `diag`); 0 in the shipped one.
#[cfg(not(feature = "diag"))]
#[inline(always)]
pub fn cycles() -> u64 {
    0
}

#[cfg(feature = "diag")]
pub fn cycles() -> u64 {
    let (ms, reload, into) = now_fine();
    ms * reload as u64 + into as u64
}

/// Microseconds since boot, from the millisecond count and SysTick's phase: to time
/// an app's calls and instantiations (the runtime's `Hooks::now_us`).
pub fn uptime_us() -> u64 {
    let (ms, reload, into) = now_fine();
    ms * 1000 + into as u64 * 1000 / reload as u64
}

/// The uptime in milliseconds, SysTick's period in cycles, and the cycles of the
/// current millisecond that have passed.
fn now_fine() -> (u64, u32, u32) {
    critical_section::with(|cs| crate::arch::tick_fine(UPTIME.borrow(cs).get()))
}

/// Core clock cycles spent so far waiting for the link (asleep in `BoardPort::idle`) or
/// in its receive interrupt: what a measurement of the firmware's own work subtracts,
/// since when bytes arrive depends on the host, not on the firmware.
pub fn waited() -> u64 {
    critical_section::with(|cs| WAITED.borrow(cs).get())
}

#[cfg(not(feature = "diag"))]
#[inline(always)]
pub fn add_waited(_: u64) {}

#[cfg(feature = "diag")]
pub fn add_waited(c: u64) {
    critical_section::with(|cs| {
        let w = WAITED.borrow(cs);
        w.set(w.get() + c);
    });
}

/// Busy-waits (and feeds the watchdog) for `ms` milliseconds.
pub fn delay_ms(ms: u64) {
    let end = uptime_ms() + ms;
    while uptime_ms() < end {
        crate::board::watchdog_feed();
        crate::arch::wfi();
    }
}
