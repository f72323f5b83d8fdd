//! Memory. The firmware's own heap (sessions, TLS buffers, the protocol) is separate
//! from the apps': apps get their memory from the board's app pools
//! (`wasmbed_runtime::pool`), an arena each, reserved when an app is admitted. While
//! the runtime works for an app, every allocation goes to that app's arena, and one
//! that does not fit abandons that work instead of failing the firmware: an app can
//! exhaust its own budget, never the firmware's heap or another app's.
//!
//! - code pool: `board::CODE_POOL` bytes (module being received, compiled code,
//!   wasmi's engine, store, instance and value stack, config, output queue);
//! - page pool: apps' linear memories (the STM32F4's 64 KiB CCM; a static array on
//!   boards without a separate region), each app's block sized to its limit.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;
use wasmbed_runtime::pool::{ArenaPools, Region};

use crate::{board, reset};

pub struct Heaps {
    main: LlffHeap,
    peak: AtomicUsize,
}

#[global_allocator]
pub static HEAP: Heaps = Heaps { main: LlffHeap::empty(), peak: AtomicUsize::new(0) };

/// The app pools: an arena per app, and one more per app for a new version received
/// while the old one runs.
pub static POOLS: ArenaPools<{ 2 * board::MAX_APPS }> = ArenaPools::new();

static mut MAIN_HEAP: [MaybeUninit<u8>; board::HEAP_SIZE] = [MaybeUninit::uninit(); board::HEAP_SIZE];

#[repr(C, align(8))]
struct CodePool([MaybeUninit<u8>; board::CODE_POOL]);
static mut CODE_POOL: CodePool = CodePool([MaybeUninit::uninit(); board::CODE_POOL]);

pub fn init() {
    // SAFETY: called once at boot, before any allocation; the regions are ours.
    unsafe {
        HEAP.main.init(&raw mut MAIN_HEAP as usize, board::HEAP_SIZE);
        let (start, len) = board::page_pool();
        POOLS.init(Region { start: &raw mut CODE_POOL as usize, len: board::CODE_POOL }, Region { start, len });
    }
}

impl Heaps {
    /// Firmware heap bytes in use.
    pub fn used(&self) -> usize {
        self.main.used()
    }

    /// Firmware heap bytes free.
    pub fn free(&self) -> usize {
        self.main.free()
    }

    /// Most firmware heap bytes ever in use.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

unsafe impl GlobalAlloc for Heaps {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if POOLS.active() {
            // The app's arena, or the end of the work done for the app.
            return POOLS.alloc(layout);
        }
        // SAFETY: forwarding the caller's layout.
        let p = unsafe { self.main.alloc(layout) };
        if p.is_null() {
            // The firmware's own heap is sized for its worst case: this is a bug, and
            // the panic that follows resets the board. Say why after the reset.
            reset::note_oom(layout.size());
        }
        self.peak.fetch_max(self.main.used(), Ordering::Relaxed);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from the heap it is in.
        unsafe {
            if !POOLS.dealloc(ptr, layout) {
                self.main.dealloc(ptr, layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above; the new layout keeps the alignment.
        unsafe {
            if POOLS.owns(ptr) {
                return POOLS.realloc(ptr, layout, new_size);
            }
            let new = Layout::from_size_align_unchecked(new_size, layout.align());
            let q = self.alloc(new);
            if !q.is_null() {
                core::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                self.main.dealloc(ptr, layout);
            }
            q
        }
    }
}
