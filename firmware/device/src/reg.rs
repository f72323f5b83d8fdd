//! Memory-mapped register access for the board modules (no PAC crates: each board uses
//! a handful of registers, listed where they are used).

#[inline(always)]
pub fn read(addr: usize) -> u32 {
    // SAFETY: the board modules only pass addresses of their part's peripheral registers.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

#[inline(always)]
pub fn write(addr: usize, v: u32) {
    // SAFETY: as for `read`.
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

#[inline(always)]
#[allow(dead_code)] // not every board needs it
pub fn modify(addr: usize, f: impl FnOnce(u32) -> u32) {
    write(addr, f(read(addr)))
}

/// Polls until `done` or `tries` run out; false on timeout (an emulator may not model
/// the flag, real silicon that never sets it is broken: either way, go on).
#[inline(always)]
pub fn wait(tries: u32, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..tries {
        if done() {
            return true;
        }
    }
    false
}
