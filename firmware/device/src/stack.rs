//! Stack use: the free RAM between the statics and the top of RAM is the stack
//! (arch::stack_bounds: the runtime crate's stack region). It is painted at boot so the high-water
//! mark can be reported.

const PAINT: u32 = 0x5AC3_5AC3;

fn bounds() -> (usize, usize) {
    crate::arch::stack_bounds()
}

/// Bytes of RAM the stack can use.
pub fn size() -> usize {
    let (lo, hi) = bounds();
    hi - lo
}

/// Paints the unused part of the stack (below the current stack pointer, less a margin).
pub fn paint() {
    let (lo, _) = bounds();
    let sp = crate::arch::sp() - 256;
    let mut p = lo;
    while p < sp {
        // SAFETY: [lo, sp) is stack memory no one uses yet.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Most bytes of stack used so far.
pub fn peak() -> usize {
    let (lo, hi) = bounds();
    let mut p = lo;
    // SAFETY: reading our own stack region.
    while p < hi && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    hi - p
}
