//! The Wasmbed app runtime for `no_std` devices (`docs/abi.md`): WebAssembly apps run
//! under wasmi, each in its own store with a fuel budget per call and a memory limit,
//! against the `wasmbed` v1 host ABI. A trap, an exhausted budget or a `memory.grow`
//! past the limit stops that app and is reported; the firmware and the other apps go on.
//!
//! The runtime knows nothing of the board: time and GPIO come through [`Hooks`], and
//! the caller decides when to [`Runtime::poll`]. Module transfer (`deploy` +
//! `module_chunk`, with resume and sha256 check) is in [`transfer`].
#![no_std]

extern crate alloc;

mod abi;
pub mod transfer;

pub use abi::FEATURES;

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use alloc::rc::Rc;

use wasmi::core::TrapCode;
use wasmi::{Config, Engine, ExternType, Linker, Module, StackLimits, Store, TypedFunc};

pub use wasmbed_proto::{AppState, Limits};

/// A WebAssembly page: ABI v1 accepts only standard 64 KiB pages.
pub const PAGE_SIZE: u64 = 65536;

/// The board's hands: what the host ABI needs beyond the runtime.
#[derive(Clone, Copy)]
pub struct Hooks {
    /// The device clock, Unix milliseconds (uptime before the first session).
    pub now_ms: fn() -> i64,
    /// `gpio_write` with ABI semantics: 0 or -1.
    pub gpio_write: fn(i32, i32) -> i32,
    /// `gpio_read` with ABI semantics: 0, 1 or -1.
    pub gpio_read: fn(i32) -> i32,
}

/// What a board can give apps.
#[derive(Clone, Copy, Debug)]
pub struct Capacity {
    /// Apps installed at once.
    pub max_apps: usize,
    /// Bytes of linear memory for all apps together (whole pages count).
    pub app_ram: u32,
    /// Bytes of module storage for all apps together.
    pub module_storage: u32,
    /// Output records queued per app (log lines and values) before `publish` says busy.
    pub queue_records: usize,
}

/// One queued output record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Log { time: i64, level: u8, text: String },
    Value { time: i64, key: String, value: f64 },
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
}

/// The state of a running app's store: what host functions see.
pub(crate) struct AppCtx {
    pub(crate) hooks: Hooks,
    pub(crate) memory: Option<wasmi::Memory>,
    pub(crate) config: Vec<(String, String)>,
    pub(crate) out: Output,
    pub(crate) cap: usize,
    /// Bytes of linear memory this app may have.
    pub(crate) memory_limit: usize,
    /// Set when the app tried to grow its memory past the limit.
    pub(crate) oom: bool,
}

impl wasmi::ResourceLimiter for AppCtx {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi::errors::MemoryError> {
        if desired > self.memory_limit {
            // ABI v1: growing past the deploy's limit stops the app (out_of_memory)
            // instead of returning -1: an error here makes wasmi trap.
            self.oom = true;
            return Err(wasmi::errors::MemoryError::OutOfBoundsGrowth);
        }
        Ok(maximum.is_none_or(|m| desired <= m))
    }

    fn table_growing(
        &mut self,
        _current: u32,
        desired: u32,
        maximum: Option<u32>,
    ) -> Result<bool, wasmi::errors::TableError> {
        Ok(desired <= 1024 && maximum.is_none_or(|m| desired <= m))
    }

    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        1
    }
    fn memories(&self) -> usize {
        1
    }
}

struct Live {
    store: Store<AppCtx>,
    instance: wasmi::Instance,
    tick: TypedFunc<(), ()>,
}

/// One installed app.
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
    config: Vec<(String, String)>,
    module: Option<Rc<Module>>,
    live: Option<Live>,
    /// Output kept while the app is not running (a stopped app's last lines).
    out: Output,
    next_tick: u64,
}

impl App {
    /// The app's output queue, wherever it is.
    pub fn output(&mut self) -> &mut Output {
        match &mut self.live {
            Some(l) => &mut l.store.data_mut().out,
            None => &mut self.out,
        }
    }

    fn tick_ms(&self) -> u64 {
        if self.limits.tick_ms == 0 {
            1000
        } else {
            self.limits.tick_ms as u64
        }
    }

    /// Linear memory currently used by the running instance, in bytes.
    pub fn memory_used(&self) -> usize {
        self.live.as_ref().and_then(|l| l.store.data().memory.map(|m| m.data(&l.store).len())).unwrap_or(0)
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
    NoRoom(&'static str),
    /// The module is not a valid app (state `failed`), with the reason.
    Failed(String),
    /// Its initial memory is larger than its limit (state `out_of_memory`).
    OutOfMemory(String),
}

// Display, not Debug, for the console: the firmware is built with `-Zfmt-debug=none`.
impl core::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RuntimeError::NotFound => f.write_str("not found"),
            RuntimeError::NoRoom(why) => write!(f, "no_room: {}", why),
            RuntimeError::Failed(why) => write!(f, "failed: {}", why),
            RuntimeError::OutOfMemory(why) => write!(f, "out_of_memory: {}", why),
        }
    }
}

/// The apps of one device.
pub struct Runtime {
    engine: Engine,
    linker: Linker<AppCtx>,
    hooks: Hooks,
    cap: Capacity,
    apps: Vec<App>,
}

impl Runtime {
    pub fn new(hooks: Hooks, cap: Capacity) -> Self {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            // Small value stacks (in 8-byte values: 2 KiB growing to 16 KiB) and call
            // depth: a microcontroller has a few hundred KiB of RAM at most.
            .set_stack_limits(StackLimits::new(256, 2048, 64).unwrap())
            .set_cached_stacks(1)
            .wasm_reference_types(false)
            .wasm_tail_call(false)
            .wasm_extended_const(false);
        let engine = Engine::new(&config);
        let mut linker = Linker::new(&engine);
        abi::define(&mut linker);
        Runtime { engine, linker, hooks, cap, apps: Vec::new() }
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

    /// Linear-memory bytes promised to installed apps, other than `except`: each app's
    /// limit in whole pages (a memory only ever has whole 64 KiB pages, so a limit below
    /// one page promises none, as for the 0-page apps boards without a spare page run).
    pub fn ram_committed(&self, except: &str) -> u64 {
        self.apps.iter().filter(|a| a.name != except).map(|a| pages_bytes(a.limits.memory)).sum()
    }

    /// Module bytes held by installed apps, other than `except`.
    pub fn storage_used(&self, except: &str) -> u64 {
        self.apps.iter().filter(|a| a.name != except).map(|a| a.size as u64).sum()
    }

    /// RAM for apps not promised to any (hello's and heartbeat's `ram_free`).
    pub fn ram_free(&self) -> u32 {
        (self.cap.app_ram as u64).saturating_sub(self.ram_committed("")) as u32
    }

    /// Module storage left (hello's `flash_free`).
    pub fn storage_free(&self) -> u32 {
        (self.cap.module_storage as u64).saturating_sub(self.storage_used("")) as u32
    }

    /// Checks whether a module of `size` bytes with these limits may replace (or join)
    /// the apps, before any byte of it is transferred.
    pub fn admit(&self, app: &str, size: u32, limits: &Limits) -> Result<(), RuntimeError> {
        let replacing = self.apps.iter().any(|a| a.name == app);
        if !replacing && self.apps.len() >= self.cap.max_apps {
            return Err(RuntimeError::NoRoom("too many apps"));
        }
        if self.ram_committed(app) + pages_bytes(limits.memory) > self.cap.app_ram as u64 {
            return Err(RuntimeError::NoRoom("memory limits of all apps exceed the RAM for apps"));
        }
        if self.storage_used(app) + size as u64 > self.cap.module_storage as u64 {
            return Err(RuntimeError::NoRoom("module storage full"));
        }
        Ok(())
    }

    /// Installs (or replaces) an app from a complete, checked module. The app is
    /// `installed`, not started. A module that does not validate, imports what the ABI
    /// does not offer, or lacks the exports is `Failed`; one whose initial memory exceeds
    /// its limit is `OutOfMemory`. In both cases the app is kept with that state, so it
    /// can be reported, and holds no module.
    pub fn install(
        &mut self,
        name: &str,
        version: &str,
        generation: u64,
        sha256: [u8; 32],
        limits: Limits,
        config: Vec<(String, String)>,
        wasm: &[u8],
    ) -> Result<(), RuntimeError> {
        self.admit(name, wasm.len() as u32, &limits)?;
        self.remove(name);
        let mut app = App {
            name: name.to_string(),
            version: version.to_string(),
            generation,
            sha256,
            limits,
            size: wasm.len() as u32,
            state: AppState::Installed,
            detail: String::new(),
            config,
            module: None,
            live: None,
            out: Output::default(),
            next_tick: 0,
        };
        let res = self.check_module(wasm, &limits);
        match &res {
            Ok(_) => {}
            Err(RuntimeError::Failed(why)) => {
                app.state = AppState::Failed;
                app.detail = why.clone();
            }
            Err(RuntimeError::OutOfMemory(why)) => {
                app.state = AppState::OutOfMemory;
                app.detail = why.clone();
            }
            Err(_) => {}
        }
        let res = res.map(|m| app.module = Some(Rc::new(m)));
        self.apps.push(app);
        res
    }

    fn check_module(&self, wasm: &[u8], limits: &Limits) -> Result<Module, RuntimeError> {
        if has_start_section(wasm) {
            return Err(RuntimeError::Failed("the module has a start function".into()));
        }
        let module = Module::new(&self.engine, wasm).map_err(|e| RuntimeError::Failed(msg("invalid module", &e)))?;
        for imp in module.imports() {
            if imp.module() != "wasmbed" || !abi::NAMES.contains(&imp.name()) {
                let mut s = String::from("unknown import ");
                let _ = write!(s, "{}.{}", imp.module(), imp.name());
                return Err(RuntimeError::Failed(s));
            }
        }
        match module.get_export("tick") {
            Some(ExternType::Func(f)) if f.params().is_empty() && f.results().is_empty() => {}
            _ => return Err(RuntimeError::Failed("missing export tick: () -> ()".into())),
        }
        match module.get_export("init") {
            None => {}
            Some(ExternType::Func(f)) if f.params().is_empty() && f.results().is_empty() => {}
            _ => return Err(RuntimeError::Failed("export init is not () -> ()".into())),
        }
        match module.get_export("memory") {
            Some(ExternType::Memory(m)) => {
                let initial = u32::from(m.initial_pages()) as u64 * PAGE_SIZE;
                if initial > limits.memory as u64 {
                    let mut s = String::new();
                    let _ = write!(s, "initial memory {} bytes exceeds the limit of {}", initial, limits.memory);
                    return Err(RuntimeError::OutOfMemory(s));
                }
            }
            _ => return Err(RuntimeError::Failed("missing export memory".into())),
        }
        Ok(module)
    }

    /// Starts an installed or stopped app: a fresh instance, `init`, then ticks. The
    /// returned state is `running`, or the reason it stopped during `init`.
    pub fn start(&mut self, name: &str, now_ms: u64) -> Result<AppState, RuntimeError> {
        let hooks = self.hooks;
        let cap = self.cap.queue_records;
        let idx = self.apps.iter().position(|a| a.name == name).ok_or(RuntimeError::NotFound)?;
        let app = &mut self.apps[idx];
        let Some(module) = app.module.clone() else {
            return Ok(app.state); // failed at install: nothing to start
        };
        Self::halt(app);
        let ctx = AppCtx {
            hooks,
            memory: None,
            config: app.config.clone(),
            out: core::mem::take(&mut app.out),
            cap,
            memory_limit: app.limits.memory as usize,
            oom: false,
        };
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| ctx as &mut dyn wasmi::ResourceLimiter);
        set_fuel(&mut store, app.limits.fuel);
        let instance = match self.linker.instantiate(&mut store, &module).and_then(|pre| pre.start(&mut store)) {
            Ok(i) => i,
            Err(e) => {
                let oom = store.data().oom;
                app.out = core::mem::take(&mut store.data_mut().out);
                let (state, detail) = if oom {
                    (AppState::OutOfMemory, "memory exceeds the limit at instantiation".to_string())
                } else {
                    (AppState::Failed, msg("instantiate", &e))
                };
                app.state = state;
                app.detail = detail;
                return Ok(state);
            }
        };
        let memory = instance.get_memory(&store, "memory");
        store.data_mut().memory = memory;
        let tick = match instance.get_typed_func::<(), ()>(&store, "tick") {
            Ok(t) => t,
            Err(e) => {
                app.state = AppState::Failed;
                app.detail = msg("tick", &e);
                return Ok(AppState::Failed);
            }
        };
        let init = instance.get_typed_func::<(), ()>(&store, "init").ok();
        app.live = Some(Live { store, instance, tick });
        app.state = AppState::Running;
        app.detail.clear();
        if let Some(init) = init {
            let live = app.live.as_mut().unwrap();
            set_fuel(&mut live.store, app.limits.fuel);
            let r = init.call(&mut live.store, ());
            if let Err(e) = r {
                Self::stop_for(app, &e.into(), "init");
                return Ok(app.state);
            }
        }
        app.next_tick = now_ms + app.tick_ms();
        Ok(AppState::Running)
    }

    /// Drops an app's instance, keeping its output.
    fn halt(app: &mut App) {
        if let Some(mut live) = app.live.take() {
            let out = core::mem::take(&mut live.store.data_mut().out);
            // Records queued before the restart go first.
            let mut merged = core::mem::take(&mut app.out);
            merged.records.extend(out.records);
            merged.dropped_logs += out.dropped_logs;
            merged.dropped_values += out.dropped_values;
            merged.seq = merged.seq.max(out.seq);
            app.out = merged;
        }
    }

    /// Classifies a failed call and stops the app.
    fn stop_for(app: &mut App, e: &wasmi::Error, during: &str) {
        let oom = app.live.as_ref().is_some_and(|l| l.store.data().oom);
        let (state, detail) = if oom {
            (AppState::OutOfMemory, {
                let mut s = String::new();
                let _ = write!(s, "memory.grow beyond the limit of {} bytes in {}", app.limits.memory, during);
                s
            })
        } else if matches!(trap_code(e), Some(TrapCode::OutOfFuel)) {
            (AppState::FuelExhausted, {
                let mut s = String::new();
                let _ = write!(s, "fuel {} used up in {}", app.limits.fuel, during);
                s
            })
        } else {
            let mut s = String::new();
            let _ = write!(s, "{} in {}", e, during);
            truncate(&mut s, 256);
            (AppState::Trapped, s)
        };
        Self::halt(app);
        app.state = state;
        app.detail = detail;
    }

    /// Stops a running app (state `stopped`); the module stays installed.
    pub fn stop(&mut self, name: &str) -> Result<AppState, RuntimeError> {
        let app = self.app_mut(name).ok_or(RuntimeError::NotFound)?;
        Self::halt(app);
        if app.module.is_some() {
            app.state = AppState::Stopped;
            app.detail.clear();
        }
        Ok(app.state)
    }

    /// Removes an app and its module; returns it (its last output may still be sent).
    pub fn remove(&mut self, name: &str) -> Option<App> {
        let idx = self.apps.iter().position(|a| a.name == name)?;
        let mut app = self.apps.remove(idx);
        Self::halt(&mut app);
        app.module = None;
        app.state = AppState::Removed;
        Some(app)
    }

    /// Runs every tick that is due at `now_ms` (uptime). Returns the apps that stopped.
    /// A tick that is due while another is late is run once, not queued.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Event> {
        let mut events = Vec::new();
        for app in self.apps.iter_mut() {
            if app.state != AppState::Running || now_ms < app.next_tick {
                continue;
            }
            let period = app.tick_ms();
            // Skip ticks missed while busy: the next one is a whole period from now.
            app.next_tick = app.next_tick.saturating_add(period).max(now_ms + 1);
            if app.next_tick <= now_ms {
                app.next_tick = now_ms + period;
            }
            let fuel = app.limits.fuel;
            let Some(live) = app.live.as_mut() else { continue };
            set_fuel(&mut live.store, fuel);
            let tick = live.tick;
            if let Err(e) = tick.call(&mut live.store, ()) {
                Self::stop_for(app, &e.into(), "tick");
                events.push(Event {
                    app: app.name.clone(),
                    generation: app.generation,
                    state: app.state,
                    version: app.version.clone(),
                    detail: app.detail.clone(),
                });
            }
        }
        events
    }

    /// Calls an export that takes no arguments and returns nothing or one integer, under
    /// the app's fuel, as `init` and `tick` are called (for tests of the host ABI). A
    /// failure stops the app like a failing tick and returns its detail.
    #[doc(hidden)]
    pub fn call_export_for_test(&mut self, app: &str, name: &str) -> Result<Option<i64>, String> {
        let app = self.app_mut(app).ok_or("no such app")?;
        let fuel = app.limits.fuel;
        let live = app.live.as_mut().ok_or("not running")?;
        let f = live.instance.get_func(&live.store, name).ok_or("no such export")?;
        let n = f.ty(&live.store).results().len();
        let mut out = [wasmi::Value::I32(0)];
        set_fuel(&mut live.store, fuel);
        match f.call(&mut live.store, &[], &mut out[..n]) {
            Ok(()) => Ok((n == 1).then(|| match out[0] {
                wasmi::Value::I32(v) => v as i64,
                wasmi::Value::I64(v) => v,
                _ => 0,
            })),
            Err(e) => {
                Self::stop_for(app, &e, name);
                Err(app.detail.clone())
            }
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

/// Gives a store exactly `fuel` for the next call.
fn set_fuel<T>(store: &mut Store<T>, fuel: u64) {
    if let Ok(left) = store.consume_fuel(0) {
        let _ = store.consume_fuel(left);
    }
    let _ = store.add_fuel(fuel);
}

fn trap_code(e: &wasmi::Error) -> Option<TrapCode> {
    match e {
        wasmi::Error::Trap(t) => t.trap_code(),
        _ => None,
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
