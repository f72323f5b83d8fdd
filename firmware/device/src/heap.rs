//! The global allocator. Boards with a separate RAM region for apps (the STM32F4's
//! 64 KiB CCM) get two heaps: large allocations (apps' linear memories are whole 64 KiB
//! pages) go to the app region first; everything else, and anything that does not fit
//! there, to the main heap. Other boards have one heap.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

use crate::board;

/// Allocations at least this large try the app region first.
const LARGE: usize = 16 * 1024;

pub struct Heaps {
    main: LlffHeap,
    apps: LlffHeap,
    apps_start: AtomicUsize,
    apps_end: AtomicUsize,
    peak: AtomicUsize,
}

#[global_allocator]
pub static HEAP: Heaps = Heaps {
    main: LlffHeap::empty(),
    apps: LlffHeap::empty(),
    apps_start: AtomicUsize::new(0),
    apps_end: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
};

static mut MAIN_HEAP: [MaybeUninit<u8>; board::HEAP_SIZE] = [MaybeUninit::uninit(); board::HEAP_SIZE];

pub fn init() {
    // SAFETY: called once at boot, before any allocation; the regions are ours.
    unsafe {
        HEAP.main.init(&raw mut MAIN_HEAP as usize, board::HEAP_SIZE);
        if let Some((start, len)) = board::app_region() {
            HEAP.apps.init(start, len);
            HEAP.apps_start.store(start, Ordering::Relaxed);
            HEAP.apps_end.store(start + len, Ordering::Relaxed);
        }
    }
}

#[allow(dead_code)] // `used` is for the self-test
impl Heaps {
    fn in_apps(&self, p: *mut u8) -> bool {
        let a = p as usize;
        a >= self.apps_start.load(Ordering::Relaxed) && a < self.apps_end.load(Ordering::Relaxed)
    }

    /// Bytes in use: (main heap, app region).
    pub fn used(&self) -> (usize, usize) {
        (self.main.used(), self.apps.used())
    }

    /// Bytes free: (main heap, app region).
    pub fn free(&self) -> (usize, usize) {
        (self.main.free(), self.apps.free())
    }

    /// Most main-heap bytes ever in use.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

unsafe impl GlobalAlloc for Heaps {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE && self.apps_end.load(Ordering::Relaxed) != 0 {
            // SAFETY: forwarding the caller's layout.
            let p = unsafe { self.apps.alloc(layout) };
            if !p.is_null() {
                return p;
            }
        }
        // SAFETY: as above.
        let p = unsafe { self.main.alloc(layout) };
        self.peak.fetch_max(self.main.used(), Ordering::Relaxed);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from the heap it is in.
        unsafe {
            if self.in_apps(ptr) {
                self.apps.dealloc(ptr, layout)
            } else {
                self.main.dealloc(ptr, layout)
            }
        }
    }
}
