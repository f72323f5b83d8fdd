//! The Wasmbed app runtime for `no_std` devices (`docs/abi.md`): WebAssembly apps run
//! under an in-place interpreter (wasefire-interpreter, vendored with Wasmbed's patches:
//! firmware/vendor/wasefire-interpreter/WASMBED-PATCH.md), each in its own store with a
//! fuel budget per call and a memory limit, against the `wasmbed` v1 host ABI. The
//! interpreter runs the module's own bytes: an app needs its module, a side table of its
//! branches and a small store, not a compiled copy several times the module's size. A trap, an exhausted budget or a `memory.grow`
//! past the limit stops that app and is reported; the firmware and the other apps go on.
//!
//! The runtime knows nothing of the board: time and GPIO come through [`Hooks`], and
//! the caller decides when to [`Runtime::poll`]. Module transfer (`deploy` +
//! `module_chunk`, with resume and sha256 check) is in [`transfer`].
#![no_std]

extern crate alloc;

mod abi;
pub mod pool;
pub mod transfer;

pub use abi::FEATURES;

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use alloc::boxed::Box;

use transfer::Transfer;

use wasefire_interpreter::{self as wf, Module, RunResult, Store, Val};

pub use wasmbed_proto::{AppState, Limits};

/// A WebAssembly page: ABI v1 accepts only standard 64 KiB pages.
pub const PAGE_SIZE: u64 = 65536;

/// The board's hands: what the host ABI needs beyond the runtime.
#[derive(Clone, Copy)]
pub struct Hooks {
    /// The device clock, Unix milliseconds (uptime before the first session).
    pub now_ms: fn() -> i64,
    /// A monotonic clock in microseconds, to time calls and instantiations ([`Stats`]).
    pub now_us: fn() -> u64,
    /// `gpio_write` with ABI semantics: 0 or -1.
    pub gpio_write: fn(i32, i32) -> i32,
    /// `gpio_read` with ABI semantics: 0, 1 or -1.
    pub gpio_read: fn(i32) -> i32,
    /// What the runtime does for which app now ([`phase`]; `phase::NONE` and "" when
    /// done): the firmware keeps it across a reset, to name the app a crash took down.
    pub activity: fn(&str, u8),
}

/// What the firmware is doing for an app ([`Hooks::activity`]; `DOWNLOAD` is the
/// caller's, while it receives a module).
pub mod phase {
    pub const NONE: u8 = 0;
    pub const DOWNLOAD: u8 = 1;
    pub const INSTALL: u8 = 2;
    pub const START: u8 = 3;
    pub const TICK: u8 = 4;
    pub const STOP: u8 = 5;

    /// The words for a phase in a crash report (`crashed: panic in tick`).
    pub fn words(phase: u8) -> &'static str {
        match phase {
            DOWNLOAD => "during download",
            INSTALL => "during install",
            START => "in init",
            TICK => "in tick",
            STOP => "while stopping",
            _ => "",
        }
    }
}

/// What a board can give apps. Every app gets a budget when it is admitted, reserved
/// from the board's two pools ([`Pools`]): its linear memory (its limit in whole 64 KiB
/// pages) from the page pool, and everything else of it (the module, its side table,
/// the interpreter's store and instance, value stack and call frames, its config and
/// output queue) from the code pool, [`Capacity::code_budget`] bytes.
#[derive(Clone, Copy, Debug)]
pub struct Capacity {
    /// Apps installed at once.
    pub max_apps: usize,
    /// Bytes of the page pool (linear memories, whole pages).
    pub app_ram: u32,
    /// Bytes of the code pool.
    pub code_pool: u32,
    /// Code-pool bytes every app needs whatever its module (store, instance, value
    /// stack and frames, output queue).
    pub code_base: u32,
    /// Code-pool bytes per module byte, in sixteenths: the module itself, which the
    /// interpreter runs in place, and the side table of its branches (made while the
    /// module is validated).
    pub code_per_byte_16: u32,
    /// The most fuel one call may have: a call that uses it all ends well before the
    /// watchdog would reset the board.
    pub max_fuel: u64,
    /// Output records queued per app (log lines and values) before `publish` says busy.
    pub queue_records: usize,
    /// Bytes of text those records may hold together.
    pub queue_bytes: usize,
}

impl Capacity {
    /// Code-pool bytes an app whose module has `size` bytes and whose config has
    /// `config` bytes is given.
    pub fn code_budget(&self, size: u32, config: u32) -> u32 {
        let per = (size as u64 * self.code_per_byte_16 as u64).div_ceil(16);
        (self.code_base as u64 + per + config as u64 * 2).min(u32::MAX as u64) as u32
    }

    /// The largest module one app could have with the whole code pool.
    pub const fn max_module(&self) -> u32 {
        let room = self.code_pool.saturating_sub(self.code_base) as u64;
        let per16 = if self.code_per_byte_16 == 0 { 1 } else { self.code_per_byte_16 };
        (room * 16 / per16 as u64) as u32
    }
}

/// An app's reservation in the board's pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arena(pub u8);

/// Where apps' memory comes from. On a device, the global allocator: while code runs
/// in [`Pools::enter`], every allocation comes from that arena, and one that does not
/// fit abandons the work (the arena is then garbage and must be released, its objects
/// forgotten, never dropped). On the host, the tests' accounting allocator.
pub trait Pools {
    /// Reserves `code` bytes of the code pool and `pages` bytes (whole pages) of the
    /// page pool for one app, or None if either pool has no such room.
    fn reserve(&self, code: u32, pages: u32) -> Option<Arena>;
    /// Returns an arena's memory to the pools.
    fn release(&self, arena: Arena);
    /// Runs `f` with its allocations charged to `arena`; false if the arena ran out
    /// and `f` was abandoned where it was.
    fn enter(&self, arena: Arena, f: &mut dyn FnMut()) -> bool;
    /// Bytes of the arena's code part in use.
    fn used(&self, arena: Arena) -> u32;
    /// Most bytes of the arena's code part ever in use.
    fn peak(&self, arena: Arena) -> u32;
    /// Whether `code` and `pages` could be reserved now, or once `ignoring` were
    /// released.
    fn fits(&self, code: u32, pages: u32, ignoring: Option<Arena>) -> bool;
    /// Page-pool bytes not reserved.
    fn pages_free(&self) -> u32;
    /// The largest code-pool block not reserved.
    fn code_free(&self) -> u32;
}

/// One queued output record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Log { time: i64, level: u8, text: String },
    Value { time: i64, key: String, value: f64 },
}

impl Record {
    fn bytes(&self) -> usize {
        match self {
            Record::Log { text, .. } => text.len(),
            Record::Value { key, .. } => key.len(),
        }
    }
}

/// An app's output queue.
#[derive(Default, Debug)]
pub struct Output {
    pub records: VecDeque<Record>,
    /// Log lines dropped because the queue was full.
    pub dropped_logs: u32,
    /// Values refused (`busy`) because the queue was full.
    pub dropped_values: u32,
    /// `app_output` messages sent so far (their seq).
    pub seq: u64,
    /// Values `publish` accepted since the app was installed.
    pub published: u64,
}

impl Output {
    /// Takes the first `n` records off the queue (after they were sent).
    pub fn consume(&mut self, n: usize) {
        for _ in 0..n.min(self.records.len()) {
            self.records.pop_front();
        }
    }
}

/// What host functions see of a running app.
pub(crate) struct AppCtx {
    pub(crate) hooks: Hooks,
    pub(crate) config: Vec<(String, String)>,
    pub(crate) out: Output,
    pub(crate) cap: usize,
    pub(crate) cap_bytes: usize,
}

/// An app's linear memory: whole pages, the app's block of the page pool (the arena's
/// allocator places an allocation of whole pages there).
struct Pages {
    ptr: *mut u8,
    len: usize,
}

/// What an app without pages gets: an empty memory, aligned as the interpreter wants.
#[repr(align(16))]
struct NoPages([u8; 0]);
static mut NO_PAGES: NoPages = NoPages([]);

impl Pages {
    fn layout(len: usize) -> core::alloc::Layout {
        core::alloc::Layout::from_size_align(len, wf::MEMORY_ALIGN).unwrap()
    }

    /// `len` zeroed bytes, or None if the arena has none.
    fn new(len: usize) -> Option<Pages> {
        if len == 0 {
            return Some(Pages { ptr: core::ptr::addr_of_mut!(NO_PAGES).cast(), len: 0 });
        }
        // SAFETY: a non-zero size.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(Self::layout(len)) };
        (!ptr.is_null()).then_some(Pages { ptr, len })
    }

    /// The memory, for the store that runs the app (which [`Live`] drops first).
    fn slice(&mut self) -> &'static mut [u8] {
        // SAFETY: `len` bytes allocated (or none), given to one store only, which is
        // dropped before `self` (field order of `Live`).
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated in `new` with this layout.
            unsafe { alloc::alloc::dealloc(self.ptr, Self::layout(self.len)) }
        }
    }
}

/// A running instance. Fields drop in order: the store before the pages it uses.
struct Live {
    store: Store<'static>,
    inst: wf::InstId,
    ctx: AppCtx,
    /// Held for the store, which uses it, and freed after it.
    #[allow(dead_code)]
    pages: Pages,
}

/// A slice of a buffer that outlives every use of it (see [`Inner`]).
fn forever(v: &[u8]) -> &'static [u8] {
    // SAFETY: the callers keep the buffer alive and unchanged for as long as the slice
    // is used (field order of `Inner`).
    unsafe { core::slice::from_raw_parts(v.as_ptr(), v.len()) }
}

/// Everything of an app that lives in its arena. Fields drop in order: the instance,
/// then the module, which borrow the side table and the module's bytes.
struct Inner {
    live: Option<Live>,
    module: Module<'static>,
    config: Vec<(String, String)>,
    /// Output kept while the app is not running (a stopped app's last lines).
    out: Output,
    /// The side table and the module's bytes, borrowed by `module` and the instance,
    /// freed after them.
    #[allow(dead_code)]
    side: Vec<u8>,
    #[allow(dead_code)]
    wasm: Vec<u8>,
}

/// What the runtime measured of an app since it was installed (this generation, this
/// boot): what a heartbeat reports of it (`AppMetrics` in `docs/protocol.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `init` and `tick` calls.
    pub calls: u64,
    /// Fuel those calls used.
    pub fuel: u64,
    /// Microseconds spent in them.
    pub call_us: u64,
    /// Times the runtime stopped the app (trap, fuel used up, memory limit).
    pub traps: u64,
    /// Bytes of linear memory after the last call (the instance's, while it runs).
    pub memory: u32,
    /// The most linear memory it had.
    pub memory_peak: u32,
    /// Instantiations, and how long the last one took.
    pub starts: u64,
    pub instantiate_us: u32,
}

impl Stats {
    fn saw_memory(&mut self, bytes: u64) {
        let b = bytes.min(u32::MAX as u64) as u32;
        self.memory = b;
        self.memory_peak = self.memory_peak.max(b);
    }
}

/// One installed app. Its name, version, state and detail are the firmware's (main
/// heap); its module, instance and output are in its arena.
pub struct App {
    pub name: String,
    pub version: String,
    pub generation: u64,
    pub sha256: [u8; 32],
    pub limits: Limits,
    pub size: u32,
    pub state: AppState,
    /// Why the app is in its state (trap message, failure), empty otherwise.
    pub detail: String,
    /// What the runtime measured of it.
    pub stats: Stats,
    arena: Option<Arena>,
    inner: Option<Box<Inner>>,
    next_tick: u64,
}

static NO_OUTPUT: Output = Output { records: VecDeque::new(), dropped_logs: 0, dropped_values: 0, seq: 0, published: 0 };

impl App {
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn new(
        name: &str,
        version: &str,
        generation: u64,
        sha256: [u8; 32],
        limits: Limits,
        size: u32,
        state: AppState,
        detail: String,
    ) -> App {
        App {
            name: name.to_string(),
            version: version.to_string(),
            generation,
            sha256,
            limits,
            size,
            state,
            detail,
            stats: Stats::default(),
            arena: None,
            inner: None,
            next_tick: 0,
        }
    }

    /// The app's output queue, wherever it is.
    pub fn output(&mut self) -> Option<&mut Output> {
        let inner = self.inner.as_mut()?;
        Some(match &mut inner.live {
            Some(l) => &mut l.ctx.out,
            None => &mut inner.out,
        })
    }

    /// The app's output queue to read.
    pub fn output_ref(&self) -> &Output {
        match &self.inner {
            Some(inner) => match &inner.live {
                Some(l) => &l.ctx.out,
                None => &inner.out,
            },
            None => &NO_OUTPUT,
        }
    }

    fn tick_ms(&self) -> u64 {
        if self.limits.tick_ms == 0 {
            1000
        } else {
            self.limits.tick_ms as u64
        }
    }

    /// Whether the app holds a compiled module (it can be started).
    pub fn has_module(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether an instance of the app runs now.
    pub fn is_live(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.live.is_some())
    }

    /// What the runtime measured of the app, with the values it published; `memory`
    /// is 0 when no instance runs.
    pub fn metrics(&self) -> (Stats, u64) {
        let mut s = self.stats;
        if !self.is_live() {
            s.memory = 0;
        }
        (s, self.output_ref().published)
    }

}

/// A state change the caller should report (`app_status`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub app: String,
    pub generation: u64,
    pub state: AppState,
    pub version: String,
    pub detail: String,
}

/// Why a command could not be applied.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeError {
    /// No such app.
    NotFound,
    /// The module or its memory does not fit (error `no_room`).
    NoRoom(String),
    /// A limit the board cannot honour (error `invalid`).
    Limit(String),
    /// The module is not a valid app (state `failed`), with the reason.
    Failed(String),
    /// Its initial memory is larger than its limit (state `out_of_memory`).
    OutOfMemory(String),
    /// It installed but stopped as it started (`init` trapped or ran out of fuel, its
    /// memory could not be had), in that state.
    Stopped(AppState, String),
}

// Display, not Debug, for the console: the firmware is built with `-Zfmt-debug=none`.
impl core::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RuntimeError::NotFound => f.write_str("not found"),
            RuntimeError::NoRoom(why) => write!(f, "no_room: {}", why),
            RuntimeError::Limit(why) => write!(f, "invalid: {}", why),
            RuntimeError::Failed(why) => write!(f, "failed: {}", why),
            RuntimeError::OutOfMemory(why) => write!(f, "out_of_memory: {}", why),
            RuntimeError::Stopped(state, why) => write!(f, "{}: {}", state.name(), why),
        }
    }
}

impl RuntimeError {
    /// The app state a deploy that failed this way is reported in.
    pub fn state(&self) -> AppState {
        match self {
            RuntimeError::OutOfMemory(_) => AppState::OutOfMemory,
            RuntimeError::Stopped(state, _) => *state,
            _ => AppState::Failed,
        }
    }

    /// The same error with its text in the caller's heap (made outside any arena).
    fn rehome(self) -> Self {
        let copy = |s: &String| String::from(s.as_str());
        match &self {
            RuntimeError::NotFound => RuntimeError::NotFound,
            RuntimeError::NoRoom(s) => RuntimeError::NoRoom(copy(s)),
            RuntimeError::Limit(s) => RuntimeError::Limit(copy(s)),
            RuntimeError::Failed(s) => RuntimeError::Failed(copy(s)),
            RuntimeError::OutOfMemory(s) => RuntimeError::OutOfMemory(copy(s)),
            RuntimeError::Stopped(st, s) => RuntimeError::Stopped(*st, copy(s)),
        }
    }

    /// The reason, for `app_status`'s detail.
    pub fn detail(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "{}", self);
        truncate(&mut s, 256);
        s
    }
}

/// How a new module will take an app's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// A new app, or a new version next to the old one, which runs until the new one
    /// has been compiled and started (and runs on if the new one fails).
    Beside,
    /// The pools cannot hold both versions: the old one is removed first.
    Replace,
}

/// A module being received into its own arena (see [`Runtime::receive`]).
pub struct Incoming {
    pub tr: Transfer,
    arena: Arena,
    /// The old version was removed to make room.
    pub replaced: bool,
    /// The removed version's output seq, carried on.
    seq: u64,
}

/// Something an app-scoped operation produced.
enum Outcome<T> {
    Done(T),
    /// The app's arena ran out: the work was abandoned.
    Exhausted,
}

#[inline(never)]
fn needs(code: u32, pages: u32, what: &str, has_code: u32, has_pages: u32) -> RuntimeError {
    let mut s = String::new();
    let _ = write!(s, "needs {} bytes of code pool and {} of app RAM; {} {} and {}", code, pages, what, has_code, has_pages);
    RuntimeError::NoRoom(s)
}

fn no_memory(app: &str, arena_bytes: u32, during: &str) -> String {
    let mut s = String::new();
    let _ = write!(s, "no_memory: {} needs more than its budget of {} bytes {}", app, arena_bytes, during);
    truncate(&mut s, 256);
    s
}

/// The apps of one device.
pub struct Runtime {
    hooks: Hooks,
    cap: Capacity,
    pools: &'static dyn Pools,
    apps: Vec<App>,
}

impl Runtime {
    pub fn new(hooks: Hooks, cap: Capacity, pools: &'static dyn Pools) -> Self {
        Runtime { hooks, cap, pools, apps: Vec::new() }
    }

    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    pub fn apps_mut(&mut self) -> &mut [App] {
        &mut self.apps
    }

    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }

    pub fn app_mut(&mut self, name: &str) -> Option<&mut App> {
        self.apps.iter_mut().find(|a| a.name == name)
    }

    pub fn capacity(&self) -> Capacity {
        self.cap
    }

    /// Page-pool bytes not reserved (hello's and heartbeat's `ram_free`).
    pub fn ram_free(&self) -> u32 {
        self.pools.pages_free()
    }

    /// The largest module a new app could have now (hello's `flash_free`).
    pub fn storage_free(&self) -> u32 {
        let room = self.pools.code_free().saturating_sub(self.cap.code_base) as u64;
        (room * 16 / self.cap.code_per_byte_16.max(1) as u64) as u32
    }

    /// Bytes in use in an app's arena (code part), for the console and tests.
    pub fn arena_used(&self, name: &str) -> Option<u32> {
        self.app(name)?.arena.map(|a| self.pools.used(a))
    }

    /// Most bytes of an app's code budget it ever used (compiling included).
    pub fn arena_peak(&self, name: &str) -> Option<u32> {
        self.app(name)?.arena.map(|a| self.pools.peak(a))
    }

    /// Checks whether a module of `size` bytes with these limits may replace (or join)
    /// the apps, before any byte of it is transferred, and how.
    pub fn admit(&self, app: &str, size: u32, limits: &Limits, config: u32) -> Result<Fit, RuntimeError> {
        if limits.fuel > self.cap.max_fuel {
            let mut s = String::new();
            let _ = write!(s, "fuel {} exceeds the board's {} per call", limits.fuel, self.cap.max_fuel);
            return Err(RuntimeError::Limit(s));
        }
        let pages = pages_bytes(limits.memory).min(u32::MAX as u64) as u32;
        let code = self.cap.code_budget(size, config);
        if pages > self.cap.app_ram || code > self.cap.code_pool {
            return Err(needs(code, pages, "the board has", self.cap.code_pool, self.cap.app_ram));
        }
        let old = self.app(app);
        if old.is_none() && self.apps.len() >= self.cap.max_apps {
            return Err(RuntimeError::NoRoom("too many apps".into()));
        }
        if self.pools.fits(code, pages, None) {
            return Ok(Fit::Beside);
        }
        if let Some(a) = old.and_then(|o| o.arena) {
            if self.pools.fits(code, pages, Some(a)) {
                return Ok(Fit::Replace);
            }
        }
        Err(needs(code, pages, "free:", self.pools.code_free(), self.pools.pages_free()))
    }

    /// Reserves the arena a new module is received into (after [`Runtime::admit`]).
    /// When the pools cannot hold both versions the old one is removed now
    /// (`Incoming::replaced`).
    pub fn receive(
        &mut self,
        app: &str,
        generation: u64,
        sha256: [u8; 32],
        size: u32,
        limits: &Limits,
        config: u32,
    ) -> Result<Incoming, RuntimeError> {
        let fit = self.admit(app, size, limits, config)?;
        let seq = self.app(app).map_or(0, |a| a.output_ref().seq);
        if fit == Fit::Replace {
            self.remove(app);
        }
        let pages = pages_bytes(limits.memory) as u32;
        let code = self.cap.code_budget(size, config);
        let arena = self.pools.reserve(code, pages).ok_or_else(|| RuntimeError::NoRoom("the pools changed".into()))?;
        let mut tr = Transfer::new(app, generation, sha256, size);
        let mut ok = false;
        if !self.pools.enter(arena, &mut || ok = tr.reserve()) || !ok {
            // The allocation never happened: the transfer holds nothing of the arena.
            drop(tr);
            self.pools.release(arena);
            return Err(RuntimeError::NoRoom(no_memory(app, code, "to hold the module")));
        }
        Ok(Incoming { tr, arena, replaced: fit == Fit::Replace, seq })
    }

    /// Gives up a module being received: its arena goes back to the pools.
    pub fn abandon(&mut self, inc: Incoming) {
        let Incoming { tr, arena, .. } = inc;
        drop(tr);
        self.pools.release(arena);
    }

    /// Installs an app from a complete, checked module, and starts it if asked: the
    /// module is compiled and checked in its own arena while the old version (if any)
    /// runs on; then the old version stops and the new one starts, or, if it fails to,
    /// the old one starts again. Returns the new version's state; on an error the old
    /// version (if any) is as it was, and an app without one is kept `failed` so it can
    /// be reported.
    #[allow(clippy::too_many_arguments)]
    pub fn install(
        &mut self,
        inc: Incoming,
        version: &str,
        limits: Limits,
        config: &[(String, String)],
        start: bool,
        now_ms: u64,
    ) -> Result<AppState, RuntimeError> {
        let Incoming { mut tr, arena, seq, .. } = inc;
        let name = tr.app.clone();
        let (generation, sha256, size) = (tr.generation, tr.sha256, tr.size);
        let budget = self.cap.code_budget(size, config.iter().map(|(k, v)| (k.len() + v.len()) as u32).sum());
        let mut res: Option<Result<Box<Inner>, RuntimeError>> = None;
        (self.hooks.activity)(&name, phase::INSTALL);
        let completed = self.pools.enter(arena, &mut || {
            res = Some(Self::compile(tr.take(), &limits, config));
        });
        (self.hooks.activity)("", phase::NONE);
        let inner = match (completed, res) {
            (true, Some(Ok(inner))) => inner,
            (true, Some(Err(e))) => {
                // Its strings were made in the arena: copied out before it goes.
                let e = e.rehome();
                drop(tr);
                self.pools.release(arena);
                self.failed_new(&name, version, generation, sha256, limits, size, &e);
                return Err(e);
            }
            (_, res) => {
                // Abandoned in the middle: nothing of it may be dropped.
                core::mem::forget(res);
                core::mem::forget(tr);
                self.pools.release(arena);
                let e = RuntimeError::NoRoom(no_memory(&name, budget, "to compile"));
                self.failed_new(&name, version, generation, sha256, limits, size, &e);
                return Err(e);
            }
        };
        drop(tr);
        let mut app = App::new(&name, version, generation, sha256, limits, size, AppState::Installed, String::new());
        app.arena = Some(arena);
        app.inner = Some(inner);
        let old = self.apps.iter().position(|a| a.name == name).map(|i| self.apps.remove(i));
        // app_output's seq counts per app, across versions: the gateway drops what it
        // has seen.
        let seq = old.as_ref().map_or(seq, |o| o.output_ref().seq);
        if let Some(out) = app.output() {
            out.seq = seq;
        }
        self.apps.push(app);
        let idx = self.apps.len() - 1;
        if !start {
            if let Some(old) = old {
                self.drop_app(old);
            }
            return Ok(AppState::Installed);
        }
        // Start the new version; its memory may need the old one's pages.
        let mut old = old;
        let pages_needed = pages_bytes(limits.memory) > 0;
        if pages_needed {
            if let Some(o) = old.as_mut() {
                self.halt_in(o);
            }
        }
        let state = self.start_at(idx, now_ms);
        if state == AppState::Running {
            if let Some(o) = old {
                self.drop_app(o);
            }
            return Ok(state);
        }
        let detail = self.apps[idx].detail.clone();
        let e = match state {
            AppState::Failed => RuntimeError::Failed(detail),
            _ => RuntimeError::Stopped(state, detail),
        };
        if let Some(o) = old {
            // The new version does not start: the old one runs again.
            let failed = self.apps.remove(idx);
            self.drop_app(failed);
            let was_running = o.state == AppState::Running;
            self.apps.push(o);
            if was_running {
                let i = self.apps.len() - 1;
                self.start_at(i, now_ms);
            }
        }
        Err(e)
    }

    /// Keeps a failed install reportable when there is no older version to fall back to.
    #[allow(clippy::too_many_arguments)]
    fn failed_new(
        &mut self,
        name: &str,
        version: &str,
        generation: u64,
        sha256: [u8; 32],
        limits: Limits,
        size: u32,
        e: &RuntimeError,
    ) {
        if self.app(name).is_some() {
            return;
        }
        self.apps.push(App::new(name, version, generation, sha256, limits, size, e.state(), e.detail()));
    }

    /// Installs from bytes at hand (self-test, benchmarks, tests): receive + install.
    #[allow(clippy::too_many_arguments)]
    pub fn install_bytes(
        &mut self,
        name: &str,
        version: &str,
        generation: u64,
        sha256: [u8; 32],
        limits: Limits,
        config: Vec<(String, String)>,
        wasm: &[u8],
    ) -> Result<(), RuntimeError> {
        let cfg = config.iter().map(|(k, v)| (k.len() + v.len()) as u32).sum();
        let mut inc = self.receive(name, generation, sha256, wasm.len() as u32, &limits, cfg)?;
        match inc.tr.chunk(0, wasm) {
            transfer::Chunk::Complete => {}
            _ => {
                self.abandon(inc);
                return Err(RuntimeError::Failed("checksum mismatch".into()));
            }
        }
        self.install(inc, version, limits, &config, false, 0).map(|_| ())
    }

    /// Validates a module against ABI v1 and makes the side table the interpreter runs
    /// it with: the module's bytes stay as they are, and are what runs.
    fn compile(wasm: Vec<u8>, limits: &Limits, config: &[(String, String)]) -> Result<Box<Inner>, RuntimeError> {
        if has_start_section(&wasm) {
            return Err(RuntimeError::Failed("the module has a start function".into()));
        }
        let side = wf::side_table(&wasm).map_err(|e| RuntimeError::Failed(msg("invalid module", &Words(e))))?;
        // SAFETY: `side` is the side table of `wasm`; both are kept, unchanged, in `Inner`
        // after the module, which is dropped first.
        let module = unsafe { Module::with_side_table(forever(&wasm), forever(&side)) };
        for (m, name, func) in module.import_names() {
            if m != "wasmbed" || !func || !abi::NAMES.contains(&name) {
                let mut s = String::from("unknown import ");
                let _ = write!(s, "{}.{}", m, name);
                return Err(RuntimeError::Failed(s));
            }
        }
        let unit = |name| module.export_func(name).map(|t| t.params.is_empty() && t.results.is_empty());
        if unit("tick") != Some(true) {
            return Err(RuntimeError::Failed("missing export tick: () -> ()".into()));
        }
        if unit("init") == Some(false) {
            return Err(RuntimeError::Failed("export init is not () -> ()".into()));
        }
        match module.export_memory("memory") {
            Some(m) => {
                let initial = m.min as u64 * PAGE_SIZE;
                if initial > limits.memory as u64 {
                    let mut s = String::new();
                    let _ = write!(s, "initial memory {} bytes exceeds the limit of {}", initial, limits.memory);
                    return Err(RuntimeError::OutOfMemory(s));
                }
            }
            None => return Err(RuntimeError::Failed("missing export memory".into())),
        }
        let config = config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(Box::new(Inner { live: None, module, config, out: Output::default(), side, wasm }))
    }

    /// Runs `f` on app `idx` inside its arena. When the arena runs out, the app's
    /// module and instance are forgotten (never dropped) and its arena released: the
    /// app is `out_of_memory`, without a module.
    fn scoped<T>(&mut self, idx: usize, during: &str, ph: u8, f: impl FnOnce(&mut App) -> T) -> Outcome<T> {
        let pools = self.pools;
        let activity = self.hooks.activity;
        let app = &mut self.apps[idx];
        activity(&app.name, ph);
        let mut f = Some(f);
        let mut out = None;
        let done = Self::scoped_in(pools, app, &mut |app| {
            if let Some(f) = f.take() {
                out = Some(f(app));
            }
        });
        activity("", phase::NONE);
        let r = match (done, out) {
            (true, Some(v)) => Outcome::Done(v),
            (_, out) => {
                core::mem::forget(out);
                Outcome::Exhausted
            }
        };
        if matches!(r, Outcome::Exhausted) {
            let app = &mut self.apps[idx];
            let budget = self.cap.code_budget(app.size, 0);
            app.detail = no_memory(&app.name, budget, during);
        }
        r
    }

    /// Runs `f` on `app` inside its arena; false if the arena ran out (then the app's
    /// module and instance are forgotten, never dropped, and its arena released).
    #[inline(never)]
    fn scoped_in(pools: &'static dyn Pools, app: &mut App, f: &mut dyn FnMut(&mut App)) -> bool {
        let Some(arena) = app.arena else {
            f(app);
            return true;
        };
        // The app's detail is the firmware's: what `f` writes there is made in the
        // arena and copied out afterwards.
        let saved = core::mem::take(&mut app.detail);
        let before = app.state;
        let completed = pools.enter(arena, &mut || f(&mut *app));
        if completed {
            let written = core::mem::take(&mut app.detail);
            app.detail = if !written.is_empty() {
                String::from(written.as_str())
            } else if app.state == before {
                saved
            } else {
                String::new()
            };
            drop(written);
            return true;
        }
        core::mem::forget(core::mem::take(&mut app.detail));
        drop(saved);
        core::mem::forget(app.inner.take());
        app.arena = None;
        pools.release(arena);
        app.state = AppState::OutOfMemory;
        false
    }

    /// Starts an installed or stopped app: a fresh instance, `init`, then ticks. The
    /// returned state is `running`, or the reason it stopped during `init`.
    pub fn start(&mut self, name: &str, now_ms: u64) -> Result<AppState, RuntimeError> {
        let idx = self.apps.iter().position(|a| a.name == name).ok_or(RuntimeError::NotFound)?;
        Ok(self.start_at(idx, now_ms))
    }

    fn start_at(&mut self, idx: usize, now_ms: u64) -> AppState {
        let hooks = self.hooks;
        let (cap, cap_bytes) = (self.cap.queue_records, self.cap.queue_bytes);
        if self.apps[idx].inner.is_none() {
            return self.apps[idx].state; // failed at install: nothing to start
        }
        let r = self.scoped(idx, "to start", phase::START, |app| {
            Self::halt(app);
            let inner = app.inner.as_mut().unwrap();
            let ctx = AppCtx { hooks, config: inner.config.clone(), out: core::mem::take(&mut inner.out), cap, cap_bytes };
            let Some(mut pages) = Pages::new(pages_bytes(app.limits.memory) as usize) else {
                inner.out = ctx.out;
                app.state = AppState::OutOfMemory;
                app.detail = "no memory for the app's pages".to_string();
                return app.state;
            };
            let mut store = Store::default();
            let t0 = (hooks.now_us)();
            let made = abi::link(&mut store).and_then(|()| store.instantiate(inner.module.clone(), pages.slice()));
            app.stats.starts += 1;
            app.stats.instantiate_us = (hooks.now_us)().saturating_sub(t0).min(u32::MAX as u64) as u32;
            let inst = match made {
                Ok(i) => i,
                Err(e) => {
                    drop(store);
                    inner.out = ctx.out;
                    app.state = AppState::Failed;
                    app.detail = match e {
                        wf::Error::NotFound => "instantiate: an import does not match the wasmbed ABI".to_string(),
                        e => msg("instantiate", &Words(e)),
                    };
                    return AppState::Failed;
                }
            };
            let has_init = inner.module.export_func("init").is_some();
            let bytes = store.memory_pages(inst).map_or(0, |p| p as u64 * PAGE_SIZE);
            app.stats.saw_memory(bytes);
            inner.live = Some(Live { store, inst, ctx, pages });
            app.state = AppState::Running;
            app.detail.clear();
            if has_init {
                let live = inner.live.as_mut().unwrap();
                if let Err(e) = Self::call(live, "init", app.limits.fuel, hooks.now_us, &mut app.stats) {
                    Self::stop_for(app, &e, "init");
                    return app.state;
                }
            }
            app.next_tick = now_ms + app.tick_ms();
            AppState::Running
        });
        match r {
            Outcome::Done(s) => s,
            Outcome::Exhausted => self.apps[idx].state,
        }
    }

    /// Drops an app's instance, keeping its output (inside the app's arena).
    #[inline(never)]
    fn halt(app: &mut App) {
        let Some(inner) = app.inner.as_mut() else { return };
        if let Some(mut live) = inner.live.take() {
            let out = core::mem::take(&mut live.ctx.out);
            drop(live);
            // Records queued before the restart go first.
            let mut merged = core::mem::take(&mut inner.out);
            merged.records.extend(out.records);
            merged.dropped_logs += out.dropped_logs;
            merged.dropped_values += out.dropped_values;
            merged.seq = merged.seq.max(out.seq);
            merged.published += out.published;
            inner.out = merged;
        }
    }

    fn halt_in(&mut self, app: &mut App) {
        let Some(arena) = app.arena else { return };
        let pools = self.pools;
        if !pools.enter(arena, &mut || Self::halt(app)) {
            core::mem::forget(app.inner.take());
            app.arena = None;
            pools.release(arena);
            app.state = AppState::OutOfMemory;
        }
    }

    /// Drops an app and returns its arena to the pools.
    fn drop_app(&mut self, mut app: App) {
        let arena = app.arena.take();
        drop(app.inner.take());
        if let Some(a) = arena {
            self.pools.release(a);
        }
    }

    /// Calls an export of a running app that takes no arguments, with `fuel`, doing the
    /// host calls it makes, and counts it in `stats`. Returns its first result, if any.
    fn call(live: &mut Live, name: &str, fuel: u64, now_us: fn() -> u64, stats: &mut Stats) -> Result<Option<Val>, CallError> {
        let t0 = now_us();
        let r = Self::run(live, name, fuel);
        stats.calls += 1;
        stats.call_us = stats.call_us.saturating_add(now_us().saturating_sub(t0));
        // A call that ran out used all of its fuel, whatever the store says.
        let left = match &r {
            Err(CallError::OutOfFuel | CallError::Trap(wf::Trap::OutOfFuel)) => 0,
            _ => live.store.fuel().min(fuel),
        };
        stats.fuel = stats.fuel.saturating_add(fuel - left);
        let bytes = live.store.memory_pages(live.inst).map_or(0, |p| p as u64 * PAGE_SIZE);
        stats.saw_memory(bytes);
        r
    }

    fn run(live: &mut Live, name: &str, fuel: u64) -> Result<Option<Val>, CallError> {
        live.store.set_fuel(fuel);
        let mut r = live.store.invoke(live.inst, name, Vec::new()).map_err(CallError::of)?;
        loop {
            let mut call = match r {
                RunResult::Done(v) => return Ok(v.first().copied()),
                RunResult::Host(call) => call,
            };
            let mut args = [Val::I32(0); 4];
            let n = call.args().len().min(4);
            args[..n].copy_from_slice(&call.args()[..n]);
            let mut left = call.fuel();
            let res = abi::call(call.index(), &args[..n], call.mem_mut(), &mut live.ctx, &mut left);
            call.set_fuel(left);
            r = match res {
                Ok(v) => call.resume(v.as_slice()).map_err(CallError::of)?,
                Err(abi::HostTrap::OutOfFuel) => return Err(CallError::OutOfFuel),
                Err(abi::HostTrap::Bounds(s)) => return Err(CallError::Host(s)),
            };
        }
    }

    /// Classifies a failed call and stops the app.
    #[inline(never)]
    fn stop_for(app: &mut App, e: &CallError, during: &str) {
        let mut s = String::new();
        let state = match e {
            CallError::Trap(wf::Trap::MemoryLimit) => {
                let _ = write!(s, "memory.grow beyond the limit of {} bytes in {}", app.limits.memory, during);
                AppState::OutOfMemory
            }
            CallError::OutOfFuel | CallError::Trap(wf::Trap::OutOfFuel) => {
                let _ = write!(s, "fuel {} used up in {}", app.limits.fuel, during);
                AppState::FuelExhausted
            }
            CallError::Trap(t) => {
                let _ = write!(s, "wasm trap: {} in {}", t.words(), during);
                AppState::Trapped
            }
            CallError::Host(why) => {
                let _ = write!(s, "{} in {}", why, during);
                AppState::Trapped
            }
            CallError::Other(e) => {
                let _ = write!(s, "{} in {}", Words(*e), during);
                AppState::Trapped
            }
        };
        truncate(&mut s, 256);
        Self::halt(app);
        app.stats.traps += 1;
        app.state = state;
        app.detail = s;
    }

    /// Stops a running app (state `stopped`); the module stays installed.
    pub fn stop(&mut self, name: &str) -> Result<AppState, RuntimeError> {
        let idx = self.apps.iter().position(|a| a.name == name).ok_or(RuntimeError::NotFound)?;
        let _ = self.scoped(idx, "to stop", phase::STOP, |app| {
            Self::halt(app);
            if app.inner.is_some() {
                app.state = AppState::Stopped;
                app.detail.clear();
            }
        });
        Ok(self.apps[idx].state)
    }

    /// Removes an app, its module and everything in its arena. Returns its version.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let idx = self.apps.iter().position(|a| a.name == name)?;
        let app = self.apps.remove(idx);
        let version = app.version.clone();
        self.drop_app(app);
        Some(version)
    }

    /// Runs every tick that is due at `now_ms` (uptime). Returns the apps that stopped.
    /// A tick that is due while another is late is run once, not queued. `between`
    /// is called after each call (the firmware feeds its watchdog: each call is
    /// bounded by its fuel).
    pub fn poll(&mut self, now_ms: u64, between: &mut dyn FnMut(&str)) -> Vec<Event> {
        let mut events = Vec::new();
        for idx in 0..self.apps.len() {
            let app = &mut self.apps[idx];
            if app.state != AppState::Running || now_ms < app.next_tick {
                continue;
            }
            let period = app.tick_ms();
            // Skip ticks missed while busy: the next one is a whole period from now.
            app.next_tick = app.next_tick.saturating_add(period).max(now_ms + 1);
            if app.next_tick <= now_ms {
                app.next_tick = now_ms + period;
            }
            between(&app.name);
            let now_us = self.hooks.now_us;
            let r = self.scoped(idx, "in tick", phase::TICK, |app| {
                let fuel = app.limits.fuel;
                let Some(live) = app.inner.as_mut().and_then(|i| i.live.as_mut()) else { return false };
                if let Err(e) = Self::call(live, "tick", fuel, now_us, &mut app.stats) {
                    Self::stop_for(app, &e, "tick");
                    return true;
                }
                false
            });
            let app = &self.apps[idx];
            if matches!(r, Outcome::Done(true) | Outcome::Exhausted) {
                events.push(Event {
                    app: app.name.clone(),
                    generation: app.generation,
                    state: app.state,
                    version: app.version.clone(),
                    detail: app.detail.clone(),
                });
            }
        }
        between("");
        events
    }

    /// Calls an export that takes no arguments and returns nothing or one integer, under
    /// the app's fuel, as `init` and `tick` are called (for tests of the host ABI). A
    /// failure stops the app like a failing tick and returns its detail.
    #[doc(hidden)]
    pub fn call_export_for_test(&mut self, app: &str, name: &str) -> Result<Option<i64>, String> {
        let idx = self.apps.iter().position(|a| a.name == app).ok_or("no such app")?;
        let now_us = self.hooks.now_us;
        let r = self.scoped(idx, "in a call", phase::TICK, |app| {
            let fuel = app.limits.fuel;
            if !app.inner.as_ref().is_some_and(|i| i.module.export_func(name).is_some()) {
                return Err(String::from("no such export"));
            }
            let live = app.inner.as_mut().and_then(|i| i.live.as_mut()).ok_or_else(|| String::from("not running"))?;
            match Self::call(live, name, fuel, now_us, &mut app.stats) {
                Ok(v) => Ok(v.map(|v| match v {
                    Val::I32(v) => v as i32 as i64,
                    Val::I64(v) => v as i64,
                    _ => 0,
                })),
                Err(e) => {
                    Self::stop_for(app, &e, name);
                    Err(app.detail.clone())
                }
            }
        });
        match r {
            Outcome::Done(Ok(v)) => Ok(v),
            Outcome::Done(Err(e)) => Err(e),
            Outcome::Exhausted => Err(self.apps[idx].detail.clone()),
        }
    }

    /// Milliseconds until the next tick is due (for sleeping), if any app runs.
    pub fn next_due(&self, now_ms: u64) -> Option<u64> {
        self.apps
            .iter()
            .filter(|a| a.state == AppState::Running)
            .map(|a| a.next_tick.saturating_sub(now_ms))
            .min()
    }
}

impl Drop for Runtime {
    /// Every app's arena goes back to the pools.
    fn drop(&mut self) {
        for app in core::mem::take(&mut self.apps) {
            self.drop_app(app);
        }
    }
}

/// How a call of an app's export ended, when it did not return.
enum CallError {
    /// The interpreter trapped, for this reason.
    Trap(wf::Trap),
    /// A host function trapped (a pointer outside memory), with its description.
    Host(String),
    /// A host function's work was more than the fuel left.
    OutOfFuel,
    /// Any other refusal of the interpreter.
    Other(wf::Error),
}

impl CallError {
    fn of(e: wf::Error) -> Self {
        match e {
            wf::Error::Trap => CallError::Trap(wf::last_trap()),
            e => CallError::Other(e),
        }
    }
}

/// An interpreter error, in words.
struct Words(wf::Error);

impl core::fmt::Display for Words {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self.0 {
            wf::Error::Invalid => "invalid",
            wf::Error::NotFound => "not found",
            wf::Error::Unsupported(_) => "uses a feature the interpreter does not support",
            wf::Error::Trap => wf::last_trap().words(),
        })
    }
}

/// Whether a module has a start section (id 8): ABI v1 apps run code only in `init`
/// and `tick`, under fuel.
fn has_start_section(wasm: &[u8]) -> bool {
    let mut p = 8;
    while p < wasm.len() {
        let id = wasm[p];
        p += 1;
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let Some(&b) = wasm.get(p) else { return false };
            p += 1;
            size |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 || shift > 28 {
                break;
            }
        }
        if id == 8 {
            return true;
        }
        p = p.saturating_add(size);
    }
    false
}

/// The bytes of whole pages a memory limit allows.
pub fn pages_bytes(limit: u32) -> u64 {
    limit as u64 / PAGE_SIZE * PAGE_SIZE
}

fn msg(what: &str, e: &dyn core::fmt::Display) -> String {
    let mut s = String::new();
    let _ = write!(s, "{what}: {e}");
    truncate(&mut s, 256);
    s
}

/// Cuts `s` to at most `n` bytes at a character boundary.
pub fn truncate(s: &mut String, n: usize) {
    if s.len() > n {
        let mut i = n;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
    }
}
