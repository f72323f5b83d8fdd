//! Memory. The firmware's own heap (sessions, TLS buffers, the protocol) is separate
//! from the apps': apps get their memory from the board's app pools
//! (`wasmbed_runtime::pool`), an arena each, reserved when an app is admitted. While
//! the runtime works for an app, every allocation goes to that app's arena, and one
//! that does not fit abandons that work instead of failing the firmware: an app can
//! exhaust its own budget, never the firmware's heap or another app's.
//!
//! - code pool: `board::CODE_POOL` bytes (the module, received and then run in place,
//!   its side table, the interpreter's store, instance, value stack and frames, config,
//!   output queue);
//! - page pool: apps' linear memories (the STM32F4's 64 KiB CCM; a static array on
//!   boards without a separate region), each app's block sized to its limit.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use linked_list_allocator::Heap;
use wasmbed_runtime::pool::{ArenaPools, Region};

use crate::{board, reset};

/// The firmware heap, and the app pools beside it. No allocation happens in an
/// interrupt handler (the link's fills a static ring), and the core is single, so the
/// heap is used without a lock.
pub struct Heaps {
    main: UnsafeCell<Heap>,
    peak: AtomicUsize,
    /// Bytes the firmware asked for and holds (sizes as requested: the allocator's
    /// padding depends on where a block lands, so this is the figure to watch for leaks).
    held: AtomicUsize,
}

// SAFETY: single core, never used from an interrupt (above).
unsafe impl Sync for Heaps {}

#[global_allocator]
pub static HEAP: Heaps = Heaps { main: UnsafeCell::new(Heap::empty()), peak: AtomicUsize::new(0), held: AtomicUsize::new(0) };

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
        (*HEAP.main.get()).init(&raw mut MAIN_HEAP as *mut u8, board::HEAP_SIZE);
        let (start, len) = board::page_pool();
        POOLS.init(Region { start: &raw mut CODE_POOL as usize, len: board::CODE_POOL }, Region { start, len });
    }
}

#[allow(dead_code)] // used: the self-test and diag images
impl Heaps {
    #[allow(clippy::mut_from_ref)]
    fn heap(&self) -> &mut Heap {
        // SAFETY: short, non-reentrant uses only (see Heaps).
        unsafe { &mut *self.main.get() }
    }

    /// Firmware heap bytes in use.
    pub fn used(&self) -> usize {
        self.heap().used()
    }

    /// Firmware heap bytes free: its size less the bytes held (as requested).
    pub fn free(&self) -> usize {
        board::HEAP_SIZE - self.held.load(Ordering::Relaxed)
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
        let p = self.heap().allocate_first_fit(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr());
        if !p.is_null() {
            self.held.fetch_add(layout.size(), Ordering::Relaxed);
        } else {
            // The firmware's own heap is sized for its worst case: this is a bug, and
            // the panic that follows resets the board. Say why after the reset.
            reset::note_oom(layout.size());
        }
        self.peak.fetch_max(self.heap().used(), Ordering::Relaxed);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from the heap it is in.
        unsafe {
            if !POOLS.dealloc(ptr, layout) {
                self.held.fetch_sub(layout.size(), Ordering::Relaxed);
                self.heap().deallocate(NonNull::new_unchecked(ptr), layout)
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
                self.dealloc(ptr, layout);
            }
            q
        }
    }
}
