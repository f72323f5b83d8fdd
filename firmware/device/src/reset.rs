//! Why the board last reset, kept across the reset, and the crash-loop breaker.
//!
//! A small record in RAM the runtime does not clear at boot (`.uninit`) holds what the
//! firmware knew when it went down: the cause its own handlers saw (a panic or fault
//! with its pc, the watchdog's early warning, a reset it asked for, the firmware heap
//! running out), and what it was doing: the app it was running or installing, and in
//! which phase. At boot that, or else the part's reset flags (`board::reset_cause`),
//! gives the cause; an unexpected one counts toward the breaker, and the app that was
//! active is reported `failed` (`crashed: watchdog in tick`) instead of being fetched
//! again. After `SAFE_MODE_AFTER` unexpected resets in a row the device boots in safe
//! mode: no app runs until the gateway sends a newer generation. A boot that stays up
//! for `STABLE_MS` ends the streak.
//!
//! The record survives resets, not power cycles: a power-on says `power_on` and starts
//! counting again.

use alloc::string::String;
use core::fmt::Write as _;
use core::mem::MaybeUninit;

pub use wasmbed_proto::ResetCause as Cause;
use wasmbed_proto::SAFE_MODE_AFTER;

use wasmbed_runtime::phase;

use crate::board;

/// Uptime after which a boot counts as stable (the streak of unexpected resets ends).
pub const STABLE_MS: u64 = 10 * 60 * 1000;

const MAGIC: u32 = 0x5742_5232; // "WBR2"
const NAME: usize = 64;

#[repr(C)]
struct Rec {
    magic: u32,
    boots: u32,
    unexpected: u32,
    /// The cause a handler noted before the reset (Cause as u8; 0xFF: none).
    noted: u8,
    phase: u8,
    name_len: u8,
    stable: u8,
    pc: u32,
    lr: u32,
    oom: u32,
    /// Boots since the record was last found invalid (RAM that kept nothing): counts
    /// every reset that keeps RAM, whatever cause the part reports. Mixed into the
    /// entropy pool (entropy.rs): an emulator that models no reset flags and replays
    /// its RNG's sequence after a reset (Renode) still gives the next boot other numbers.
    seq: u32,
    name: [u8; NAME],
}

#[unsafe(link_section = ".uninit.wasmbed_reset")]
static mut REC: MaybeUninit<Rec> = MaybeUninit::uninit();

fn rec() -> *mut Rec {
    core::ptr::addr_of_mut!(REC) as *mut Rec
}

/// This boot's report, made by [`boot`].
pub struct Report {
    pub cause: Cause,
    pub detail: String,
    pub boots: u32,
    pub unexpected: u32,
    pub safe_mode: bool,
    /// The app that was active when an unexpected reset came, and the words for it
    /// (`crashed: watchdog in tick`).
    pub culprit: Option<(String, String)>,
}

/// Reads and renews the record; call once, early at boot.
pub fn boot() -> Report {
    let hw = board::reset_cause();
    // SAFETY: our own RAM, read whatever it holds and checked by the magic; written
    // only from thread mode and the fault handlers, which do not return.
    let r = unsafe { &mut *rec() };
    let valid = r.magic == MAGIC && r.name_len as usize <= NAME;
    let seq = if valid { r.seq.wrapping_add(1) } else { 0 };
    let mut detail = String::new();
    let cause = if !valid {
        Cause::PowerOn
    } else if let Some(c) = Cause::from_u8(r.noted).filter(|_| r.noted != 0xFF) {
        match c {
            Cause::Panic if r.oom != 0 => {
                let _ = write!(detail, "firmware heap exhausted ({} bytes)", r.oom);
            }
            Cause::Panic | Cause::HardFault => {
                let _ = write!(detail, "pc={:#010x} lr={:#010x}", r.pc, r.lr);
            }
            _ => {}
        }
        c
    } else {
        hw.unwrap_or(Cause::Unknown)
    };
    if !valid || cause == Cause::PowerOn {
        r.magic = MAGIC;
        r.boots = 0;
        r.unexpected = 0;
        r.name_len = 0;
        r.phase = 0;
    }
    r.boots = r.boots.saturating_add(1);
    let mut culprit = None;
    if cause.unexpected() {
        r.unexpected = r.unexpected.saturating_add(1);
        if r.name_len > 0 && r.phase != phase::NONE {
            if let Ok(name) = core::str::from_utf8(&r.name[..r.name_len as usize]) {
                let mut words = String::from("crashed: ");
                let _ = write!(words, "{} {}", cause.name(), phase::words(r.phase));
                if !detail.is_empty() {
                    let _ = write!(words, " ({})", detail);
                }
                culprit = Some((String::from(name), words));
            }
        }
    } else {
        r.unexpected = 0;
    }
    r.seq = seq;
    r.noted = 0xFF;
    r.oom = 0;
    r.name_len = 0;
    r.phase = 0;
    r.stable = 0;
    Report {
        cause,
        detail,
        boots: r.boots,
        unexpected: r.unexpected,
        safe_mode: r.unexpected >= SAFE_MODE_AFTER,
        culprit,
    }
}

/// The record's boot sequence ([`Rec::seq`]), for the entropy pool; after [`boot`].
pub fn seq() -> u32 {
    // SAFETY: as in boot.
    unsafe { (*rec()).seq }
}

/// Notes what the firmware does for an app now (`wasmbed_runtime::phase`; `NONE`:
/// nothing): the runtime's `Hooks::activity`.
pub fn activity(app: &str, now: u8) {
    // SAFETY: as in boot.
    let r = unsafe { &mut *rec() };
    if now == phase::NONE {
        r.phase = now;
        return;
    }
    let n = app.len().min(NAME);
    if r.name_len as usize != n || r.name[..n] != app.as_bytes()[..n] {
        r.name[..n].copy_from_slice(&app.as_bytes()[..n]);
        r.name_len = n as u8;
    }
    r.phase = now;
}

/// The boot has been up long enough: a later unexpected reset starts a new streak.
pub fn stable() {
    // SAFETY: as in boot.
    let r = unsafe { &mut *rec() };
    if r.stable == 0 {
        r.stable = 1;
        r.unexpected = 0;
    }
}

/// From the fault handler: a panic (trap) or another fault, about to reset.
pub fn note_fault(panic: bool, pc: u32, lr: u32) {
    // SAFETY: as in boot.
    let r = unsafe { &mut *rec() };
    r.noted = if panic { Cause::Panic } else { Cause::HardFault } as u8;
    r.pc = pc;
    r.lr = lr;
}

/// From the watchdog's early warning (boards whose watchdog has one).
#[cfg_attr(not(target_arch = "arm"), allow(dead_code))] // the Cortex-M NMI handler
pub fn note_watchdog() {
    // SAFETY: as in boot.
    unsafe { (*rec()).noted = Cause::Watchdog as u8 };
}

/// The firmware heap could not give `size` bytes (the panic follows).
pub fn note_oom(size: usize) {
    // SAFETY: as in boot.
    unsafe { (*rec()).oom = size.max(1) as u32 };
}

/// The allocation `note_oom` saw failing was one the firmware could do without
/// (`Vec::try_reserve`): no panic follows.
pub fn forget_oom() {
    // SAFETY: as in boot.
    unsafe { (*rec()).oom = 0 };
}

/// A reset the firmware asks for.
pub fn note_requested() {
    // SAFETY: as in boot.
    unsafe { (*rec()).noted = Cause::Requested as u8 };
}
