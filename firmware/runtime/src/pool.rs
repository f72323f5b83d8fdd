//! App pools: the board's RAM for apps, carved into one arena per app when the app is
//! admitted ([`crate::Pools`]). An arena has two parts: a block of the code pool, with
//! its own first-fit heap (the module while received, compiled code, wasmi's engine,
//! store and instance, value stack, config and output), and a block of the page pool
//! for its linear memory, sized to its limit in whole pages and grown in place.
//!
//! While the runtime works for an app ([`ArenaPools::enter`]) the firmware's global
//! allocator sends every allocation here. One that does not fit the app's arena never
//! returns: [`escape`] unwinds to `enter`, which reports the work abandoned. Nothing of
//! it is dropped (destructors of a half-done wasmi operation could not be trusted); the
//! arena is released whole. This is how an app's memory use is fallible although
//! wasmi's own allocations are not (WAMR does the same with an app heap per module).
//!
//! Single core, and no allocation from interrupts: the state is in `Cell`s.

use core::alloc::Layout;
use core::cell::{Cell, UnsafeCell};
use core::ptr::NonNull;

use linked_list_allocator::Heap;

use crate::{Arena, Pools, PAGE_SIZE};

const PAGE: usize = PAGE_SIZE as usize;

/// A region of RAM: start address and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: usize,
    pub len: usize,
}

impl Region {
    fn end(&self) -> usize {
        self.start + self.len
    }
    fn contains(&self, p: usize) -> bool {
        p >= self.start && p < self.end()
    }
}

struct Slot {
    in_use: bool,
    code: Region,
    heap: Heap,
    pages: Region,
    /// Bytes of the page block in use (one allocation: the linear memory).
    pages_used: usize,
    /// Most bytes of the code block ever in use.
    peak: usize,
}

/// The pools of one board, with room for `N` arenas (apps, plus a new version of
/// each that is received while the old one runs).
pub struct ArenaPools<const N: usize> {
    code: Cell<Region>,
    pages: Cell<Region>,
    slots: UnsafeCell<[Slot; N]>,
    /// The arena allocations go to, while the runtime works for an app.
    current: Cell<Option<u8>>,
    /// Where [`escape`] goes.
    jump: Cell<*mut escape::JmpBuf>,
    /// Largest allocation an arena could not satisfy (for the console).
    pub refused: Cell<usize>,
}

// SAFETY: single core; the firmware never allocates from an interrupt, and host tests
// use one pool per test under a lock.
unsafe impl<const N: usize> Sync for ArenaPools<N> {}

const ALIGN: usize = 8;

/// Insertion sort: a handful of blocks, and core's sort is kilobytes of flash.
fn sort(v: &mut [(usize, usize)]) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && v[j - 1] > v[j] {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

fn align_up(x: usize, a: usize) -> usize {
    (x + a - 1) & !(a - 1)
}

impl<const N: usize> Default for ArenaPools<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ArenaPools<N> {
    pub const fn new() -> Self {
        const EMPTY: Region = Region { start: 0, len: 0 };
        ArenaPools {
            code: Cell::new(EMPTY),
            pages: Cell::new(EMPTY),
            slots: UnsafeCell::new(
                [const { Slot { in_use: false, code: EMPTY, heap: Heap::empty(), pages: EMPTY, pages_used: 0, peak: 0 } }; N],
            ),
            current: Cell::new(None),
            jump: Cell::new(core::ptr::null_mut()),
            refused: Cell::new(0),
        }
    }

    /// The arenas' state. Never held across a call that could come back here: every
    /// use is a short, non-reentrant access (single core, no allocation from
    /// interrupts), so one mutable reference exists at a time.
    #[allow(clippy::mut_from_ref)]
    fn slots_mut(&self) -> &mut [Slot; N] {
        // SAFETY: see above.
        unsafe { &mut *self.slots.get() }
    }

    /// Gives the pools their RAM.
    ///
    /// # Safety
    /// Both regions are RAM nothing else uses, for the program's life.
    pub unsafe fn init(&self, code: Region, pages: Region) {
        self.code.set(code);
        self.pages.set(pages);
    }

    /// The blocks in use in the code pool (`pages` false) or the page pool, but for
    /// `ignoring`, sorted; unused entries are (usize::MAX, 0).
    #[inline(never)]
    fn blocks(&self, pages: bool, ignoring: Option<u8>) -> [(usize, usize); N] {
        let slots = self.slots_mut();
        let mut used: [(usize, usize); N] = [(usize::MAX, 0); N];
        for (i, s) in slots.iter().enumerate() {
            let r = if pages { s.pages } else { s.code };
            if s.in_use && Some(i as u8) != ignoring && r.len > 0 {
                used[i] = (r.start, r.end());
            }
        }
        sort(&mut used);
        used
    }

    /// Where a block of `len` bytes (aligned to `align`) fits beside the blocks in use,
    /// first fit; with `len` 0, the largest gap's length instead.
    #[inline(never)]
    fn gap(&self, pages: bool, len: usize, align: usize, ignoring: Option<u8>) -> (Option<usize>, usize) {
        let region = if pages { self.pages.get() } else { self.code.get() };
        let mut at = align_up(region.start, align);
        let mut best = 0;
        for (start, end) in self.blocks(pages, ignoring).into_iter().chain(core::iter::once((region.end(), 0))) {
            if start == usize::MAX {
                continue;
            }
            if len > 0 && at + len <= start {
                return (Some(at), 0);
            }
            best = best.max(start.saturating_sub(at));
            at = at.max(align_up(end, align));
        }
        (None, best)
    }

    fn place(&self, pages: bool, len: usize, ignoring: Option<u8>) -> Option<usize> {
        if len == 0 {
            return Some(if pages { self.pages.get() } else { self.code.get() }.start);
        }
        self.gap(pages, len, ALIGN, ignoring).0
    }

    fn code_len(code: u32) -> usize {
        align_up(code as usize, ALIGN)
    }

    /// Whether `p` is in the pools' RAM.
    pub fn owns(&self, p: *mut u8) -> bool {
        let a = p as usize;
        self.code.get().contains(a) || self.pages.get().contains(a)
    }

    /// Whether the runtime works for an app now (allocations go to its arena).
    pub fn active(&self) -> bool {
        self.current.get().is_some()
    }

    /// An allocation while an app's arena is current. Never returns null: an
    /// allocation the arena cannot hold escapes to [`ArenaPools::enter`].
    pub fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(cur) = self.current.get() else { return core::ptr::null_mut() };
        let p = {
            let slots = self.slots_mut();
            let s = &mut slots[cur as usize];
            if layout.size() >= PAGE && layout.size() % PAGE == 0 && s.pages_used == 0 && layout.size() <= s.pages.len {
                // A linear memory: the app's page block.
                s.pages_used = layout.size();
                s.pages.start as *mut u8
            } else {
                match s.heap.allocate_first_fit(layout) {
                    Ok(p) => {
                        s.peak = s.peak.max(s.heap.used());
                        p.as_ptr()
                    }
                    Err(()) => core::ptr::null_mut(),
                }
            }
        };
        if p.is_null() {
            self.refused.set(self.refused.get().max(layout.size()));
            // SAFETY: `enter` set the jump target for this arena and is still on the stack.
            unsafe { escape::throw(self.jump.get()) }
        }
        p
    }

    /// Frees `p` if it is in an arena (true), whichever is current.
    ///
    /// # Safety
    /// `p` came from [`ArenaPools::alloc`] with this layout.
    pub unsafe fn dealloc(&self, p: *mut u8, layout: Layout) -> bool {
        if !self.owns(p) {
            return false;
        }
        let a = p as usize;
        let slots = self.slots_mut();
        for s in slots.iter_mut().filter(|s| s.in_use) {
            if s.pages.len > 0 && a == s.pages.start {
                s.pages_used = 0;
                return true;
            }
            if s.code.contains(a) {
                // SAFETY: the caller's promise.
                unsafe { s.heap.deallocate(NonNull::new_unchecked(p), layout) };
                return true;
            }
        }
        true // an arena already released: its memory is free anyway
    }

    /// Grows or shrinks an arena allocation: a linear memory in place, up to its block.
    ///
    /// # Safety
    /// As [`ArenaPools::dealloc`]; `p` is in an arena.
    pub unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        {
            let slots = self.slots_mut();
            if let Some(s) = slots.iter_mut().find(|s| s.in_use && s.pages.len > 0 && s.pages.start == p as usize) {
                if new_size <= s.pages.len {
                    s.pages_used = new_size;
                    return p;
                }
            }
        }
        // SAFETY: size and alignment from the caller's layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let q = if self.active() { self.alloc(new) } else { core::ptr::null_mut() };
        if q.is_null() {
            return q;
        }
        // SAFETY: both blocks are live and distinct.
        unsafe {
            core::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
            self.dealloc(p, layout);
        }
        q
    }
}

impl<const N: usize> Pools for ArenaPools<N> {
    fn reserve(&self, code: u32, pages: u32) -> Option<Arena> {
        let clen = Self::code_len(code);
        let plen = pages as usize;
        let cstart = self.place(false, clen, None)?;
        let pstart = self.place(true, plen, None)?;
        let slots = self.slots_mut();
        let (i, s) = slots.iter_mut().enumerate().find(|(_, s)| !s.in_use)?;
        s.in_use = true;
        s.code = Region { start: cstart, len: clen };
        s.pages = Region { start: pstart, len: plen };
        s.pages_used = 0;
        s.peak = 0;
        s.heap = Heap::empty();
        if clen > 0 {
            // SAFETY: the block is ours (carved above) until released.
            unsafe { s.heap.init(cstart as *mut u8, clen) };
        }
        Some(Arena(i as u8))
    }

    fn release(&self, arena: Arena) {
        let slots = self.slots_mut();
        let s = &mut slots[arena.0 as usize];
        s.in_use = false;
        s.heap = Heap::empty();
        s.pages_used = 0;
    }

    fn enter(&self, arena: Arena, f: &mut dyn FnMut()) -> bool {
        let prev = (self.current.get(), self.jump.get());
        let mut buf = escape::JmpBuf::new();
        self.jump.set(&mut buf);
        self.current.set(Some(arena.0));
        // SAFETY: `throw` is only called by `alloc` while this frame is live (current).
        let done = unsafe { escape::catch(&mut buf, f) };
        self.current.set(prev.0);
        self.jump.set(prev.1);
        done
    }

    fn used(&self, arena: Arena) -> u32 {
        let slots = self.slots_mut();
        let s = &slots[arena.0 as usize];
        (s.heap.used() + s.pages_used) as u32
    }

    fn peak(&self, arena: Arena) -> u32 {
        self.slots_mut()[arena.0 as usize].peak as u32
    }

    fn fits(&self, code: u32, pages: u32, ignoring: Option<Arena>) -> bool {
        let ig = ignoring.map(|a| a.0);
        let free_slot = self.slots_mut().iter().any(|s| !s.in_use);
        free_slot && self.place(false, Self::code_len(code), ig).is_some() && self.place(true, pages as usize, ig).is_some()
    }

    fn pages_free(&self) -> u32 {
        self.gap(true, 0, 1, None).1 as u32
    }

    fn code_free(&self) -> u32 {
        self.gap(false, 0, 1, None).1 as u32
    }
}

/// Leaving a function part-way, to where it was called: `catch` saves the registers a
/// callee must preserve and the stack pointer, calls `f`; `throw`, from anywhere below
/// it on the same stack, restores them, so `catch` returns false. The frames between are
/// abandoned, never unwound (with `panic = abort` nothing else could leave them). The
/// wrapper-function form keeps it sound for the caller of `catch`: to the compiler it is
/// an ordinary call that returns once.
pub mod escape {
    #[repr(C, align(8))]
    pub struct JmpBuf([u64; 14]);

    impl JmpBuf {
        pub const fn new() -> Self {
            JmpBuf([0; 14])
        }
    }

    impl Default for JmpBuf {
        fn default() -> Self {
            Self::new()
        }
    }

    extern "C" {
        fn wasmbed_try(buf: *mut JmpBuf, f: extern "C" fn(*mut u8), ctx: *mut u8) -> u32;
        fn wasmbed_throw(buf: *mut JmpBuf) -> !;
    }

    extern "C" fn trampoline(ctx: *mut u8) {
        // SAFETY: `catch` passes a pointer to its `&mut dyn FnMut()`.
        let f = unsafe { &mut *(ctx as *mut &mut dyn FnMut()) };
        f();
    }

    /// Runs `f`; false if it was left by [`throw`].
    ///
    /// # Safety
    /// `buf` lives until `catch` returns; `throw(buf)` is called only while `f` runs.
    pub unsafe fn catch(buf: *mut JmpBuf, mut f: &mut dyn FnMut()) -> bool {
        let ctx = &mut f as *mut &mut dyn FnMut() as *mut u8;
        // SAFETY: the assembly below follows the platform's calling convention.
        unsafe { wasmbed_try(buf, trampoline, ctx) == 0 }
    }

    /// Returns from the `catch` that set `buf`, with false.
    ///
    /// # Safety
    /// That `catch` is still running, on this stack.
    pub unsafe fn throw(buf: *mut JmpBuf) -> ! {
        // SAFETY: the caller's promise.
        unsafe { wasmbed_throw(buf) }
    }

    // Arm (Cortex-M4F, AAPCS with VFP: the thumbv7em-none-eabihf target): r4-r11, sp
    // and d8-d15 are the callee's to keep.
    #[cfg(target_arch = "arm")]
    core::arch::global_asm!(
        ".fpu fpv4-sp-d16",
        ".section .text.wasmbed_try,\"ax\",%progbits",
        ".global wasmbed_try",
        ".type wasmbed_try,%function",
        ".thumb_func",
        "wasmbed_try:",
        "push {{r4, lr}}",
        "mov r12, sp",
        "stmia r0!, {{r4-r12}}",
        "vstmia r0!, {{d8-d15}}",
        "mov r0, r2",
        "blx r1",
        "movs r0, #0",
        "pop {{r4, pc}}",
        ".section .text.wasmbed_throw,\"ax\",%progbits",
        ".global wasmbed_throw",
        ".type wasmbed_throw,%function",
        ".thumb_func",
        "wasmbed_throw:",
        "ldmia r0!, {{r4-r12}}",
        "vldmia r0!, {{d8-d15}}",
        "mov sp, r12",
        "movs r0, #1",
        "pop {{r4, pc}}",
    );

    // RISC-V RV32 (ilp32, no floating-point registers: riscv32imac): s0-s11 and sp are
    // the callee's to keep; ra is kept on the stack, as the Arm version keeps lr.
    #[cfg(target_arch = "riscv32")]
    core::arch::global_asm!(
        ".section .text.wasmbed_try,\"ax\",@progbits",
        ".global wasmbed_try",
        ".type wasmbed_try,@function",
        "wasmbed_try:",
        "addi sp, sp, -16",
        "sw ra, 12(sp)",
        "sw s0, 0(a0)",
        "sw s1, 4(a0)",
        "sw s2, 8(a0)",
        "sw s3, 12(a0)",
        "sw s4, 16(a0)",
        "sw s5, 20(a0)",
        "sw s6, 24(a0)",
        "sw s7, 28(a0)",
        "sw s8, 32(a0)",
        "sw s9, 36(a0)",
        "sw s10, 40(a0)",
        "sw s11, 44(a0)",
        "sw sp, 48(a0)",
        "mv a0, a2",
        "jalr a1",
        "li a0, 0",
        "lw ra, 12(sp)",
        "addi sp, sp, 16",
        "ret",
        ".section .text.wasmbed_throw,\"ax\",@progbits",
        ".global wasmbed_throw",
        ".type wasmbed_throw,@function",
        "wasmbed_throw:",
        "lw s0, 0(a0)",
        "lw s1, 4(a0)",
        "lw s2, 8(a0)",
        "lw s3, 12(a0)",
        "lw s4, 16(a0)",
        "lw s5, 20(a0)",
        "lw s6, 24(a0)",
        "lw s7, 28(a0)",
        "lw s8, 32(a0)",
        "lw s9, 36(a0)",
        "lw s10, 40(a0)",
        "lw s11, 44(a0)",
        "lw sp, 48(a0)",
        "li a0, 1",
        "lw ra, 12(sp)",
        "addi sp, sp, 16",
        "ret",
    );

    // x86-64 System V (host tests): rbx, rbp, r12-r15 and rsp.
    #[cfg(target_arch = "x86_64")]
    core::arch::global_asm!(
        ".text",
        ".global wasmbed_try",
        "wasmbed_try:",
        "push rbp",
        "mov [rdi], rbx",
        "mov [rdi + 8], rbp",
        "mov [rdi + 16], r12",
        "mov [rdi + 24], r13",
        "mov [rdi + 32], r14",
        "mov [rdi + 40], r15",
        "mov [rdi + 48], rsp",
        "mov rdi, rdx",
        "call rsi",
        "xor eax, eax",
        "pop rbp",
        "ret",
        ".global wasmbed_throw",
        "wasmbed_throw:",
        "mov rbx, [rdi]",
        "mov rbp, [rdi + 8]",
        "mov r12, [rdi + 16]",
        "mov r13, [rdi + 24]",
        "mov r14, [rdi + 32]",
        "mov r15, [rdi + 40]",
        "mov rsp, [rdi + 48]",
        "mov eax, 1",
        "pop rbp",
        "ret",
    );
}
