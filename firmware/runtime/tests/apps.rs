//! The runtime on the host: the example apps of examples/apps side by side, the three
//! ways a misbehaving app is stopped, the host ABI's edge cases, and module transfer.
//! The apps' memory comes from the runtime's own pools (`pool::ArenaPools`), as on a
//! device: this test binary's global allocator sends a runtime's allocations there
//! while it works for an app.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};
use wasmbed_runtime::pool::{ArenaPools, Region};
use wasmbed_runtime::transfer::{Chunk, Transfer};
use wasmbed_runtime::*;

static NOW: AtomicI64 = AtomicI64::new(1_795_000_000_000);
static MICROS: AtomicU64 = AtomicU64::new(0);
static PIN0: AtomicI32 = AtomicI32::new(0);

thread_local! {
    static WRITES: Cell<u32> = const { Cell::new(0) };
    /// This thread is the one working for an app (other test threads allocate as usual).
    static MINE: Cell<bool> = const { Cell::new(false) };
}

/// The pools' RAM: 4 MiB, page aligned.
#[repr(C, align(65536))]
struct Ram([u8; 4 << 20]);
static mut RAM: Ram = Ram([0; 4 << 20]);

static POOLS: ArenaPools<16> = ArenaPools::new();
static SERIAL: Mutex<()> = Mutex::new(());

struct TestAlloc;

#[global_allocator]
static ALLOC: TestAlloc = TestAlloc;

fn routed() -> bool {
    POOLS.active() && MINE.with(|m| m.get())
}

unsafe impl GlobalAlloc for TestAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if routed() {
            return POOLS.alloc(l);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe {
            if !POOLS.dealloc(p, l) {
                System.dealloc(p, l)
            }
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        unsafe {
            if POOLS.owns(p) {
                return POOLS.realloc(p, l, n);
            }
            if routed() {
                let q = POOLS.alloc(Layout::from_size_align_unchecked(n, l.align()));
                std::ptr::copy_nonoverlapping(p, q, l.size().min(n));
                System.dealloc(p, l);
                return q;
            }
            System.realloc(p, l, n)
        }
    }
}

/// The test pools, marking this thread as the runtime's while it works for an app.
struct TestPools;

impl Pools for TestPools {
    fn reserve(&self, code: u32, pages: u32) -> Option<Arena> {
        POOLS.reserve(code, pages)
    }
    fn release(&self, a: Arena) {
        POOLS.release(a)
    }
    fn enter(&self, a: Arena, f: &mut dyn FnMut()) -> bool {
        MINE.with(|m| m.set(true));
        let r = POOLS.enter(a, f);
        MINE.with(|m| m.set(false));
        r
    }
    fn used(&self, a: Arena) -> u32 {
        POOLS.used(a)
    }
    fn fits(&self, code: u32, pages: u32, ignoring: Option<Arena>) -> bool {
        POOLS.fits(code, pages, ignoring)
    }
    fn peak(&self, a: Arena) -> u32 {
        POOLS.peak(a)
    }
    fn pages_free(&self) -> u32 {
        POOLS.pages_free()
    }
    fn code_free(&self) -> u32 {
        POOLS.code_free()
    }
}

static TEST_POOLS: TestPools = TestPools;

/// A runtime over the pools, sized by `cap`; the guard keeps other tests off them.
fn runtime(cap: Capacity) -> (MutexGuard<'static, ()>, Runtime) {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = &raw mut RAM as usize;
    let pages = (cap.app_ram as usize).min(2 << 20);
    unsafe {
        POOLS.init(
            Region { start: base + (2 << 20), len: (cap.code_pool as usize).min(2 << 20) },
            Region { start: base, len: pages },
        )
    };
    assert_eq!(POOLS.code_free(), cap.code_pool.min(2 << 20), "every arena was released by the test before");
    (guard, Runtime::new(hooks(), cap, &TEST_POOLS))
}

fn hooks() -> Hooks {
    Hooks {
        now_ms: || NOW.load(Ordering::Relaxed),
        // Every reading is 7 µs after the one before: a call, or an instantiation,
        // lasts 7 µs (read twice).
        now_us: || MICROS.fetch_add(7, Ordering::Relaxed),
        gpio_write: |pin, v| {
            if pin != 0 {
                return -1;
            }
            PIN0.store((v != 0) as i32, Ordering::Relaxed);
            WRITES.with(|w| w.set(w.get() + 1));
            0
        },
        gpio_read: |pin| if pin == 0 { PIN0.load(Ordering::Relaxed) } else { -1 },
        activity: |_, _| {},
    }
}

fn cap() -> Capacity {
    Capacity {
        max_apps: 8,
        app_ram: 4 * 65536,
        code_pool: 1 << 20,
        code_base: 16 * 1024,
        code_per_byte_16: 128,
        max_fuel: 10_000_000,
        queue_records: 16,
        queue_bytes: 4096,
    }
}

fn example(name: &str) -> Vec<u8> {
    let path = format!("{}/../../examples/apps/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn limits(fuel: u64, memory: u32, tick_ms: u32) -> Limits {
    Limits { fuel, memory, tick_ms }
}

fn install(rt: &mut Runtime, name: &str, wasm: &[u8], l: Limits, config: &[(&str, &str)]) -> Result<(), RuntimeError> {
    let sha: [u8; 32] = Sha256::digest(wasm).into();
    let config = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    rt.install_bytes(name, "1.0.0", 1, sha, l, config, wasm)
}

fn values(rt: &mut Runtime, app: &str) -> Vec<f64> {
    rt.app(app)
        .unwrap()
        .output_ref()
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Value { value, .. } => Some(*value),
            _ => None,
        })
        .collect()
}

fn logs(rt: &mut Runtime, app: &str) -> Vec<(u8, String)> {
    rt.app(app)
        .unwrap()
        .output_ref()
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Log { level, text, .. } => Some((*level, text.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn example_apps_side_by_side_misbehaving_ones_are_stopped() {
    let (_g, mut rt) = runtime(cap());
    install(&mut rt, "sensor", &example("sensor"), limits(10_000, 65536, 100), &[("offset", "20")]).unwrap();
    install(&mut rt, "blinker", &example("blinker"), limits(1_000, 4096, 50), &[]).unwrap();
    install(&mut rt, "spin", &example("spin"), limits(5_000, 4096, 100), &[]).unwrap();
    install(&mut rt, "trap", &example("trap"), limits(1_000, 65536, 100), &[]).unwrap();
    install(&mut rt, "greedy", &example("greedy"), limits(10_000, 4096, 100), &[]).unwrap();
    for name in ["sensor", "blinker", "spin", "trap", "greedy"] {
        assert_eq!(rt.start(name, 0).unwrap(), AppState::Running, "{name}");
    }
    assert_eq!(logs(&mut rt, "sensor"), [(3, "sensor started".to_string())]);
    assert_eq!(logs(&mut rt, "trap"), [(3, "about to trap".to_string())]);

    let mut stopped = Vec::new();
    for now in (0..=1000).step_by(10) {
        stopped.extend(rt.poll(now, &mut |_| {}));
    }
    let by = |n: &str| stopped.iter().find(|e| e.app == n).unwrap_or_else(|| panic!("{n} not stopped: {stopped:?}"));
    assert_eq!(by("spin").state, AppState::FuelExhausted);
    assert_eq!(by("trap").state, AppState::Trapped);
    assert!(by("trap").detail.contains("unreachable"), "{}", by("trap").detail);
    assert_eq!(by("greedy").state, AppState::OutOfMemory);
    assert_eq!(stopped.len(), 3, "{stopped:?}");

    // The others went on: sensor published offset + n for each of its 10 ticks.
    assert_eq!(values(&mut rt, "sensor"), (1..=10).map(|n| 20.0 + n as f64).collect::<Vec<_>>());
    assert_eq!(rt.app("blinker").unwrap().state, AppState::Running);
    assert!(WRITES.with(|w| w.get()) >= 20, "blinker ticked");
    // A stopped app stays stopped; start gives it a fresh instance.
    assert!(rt.poll(2000, &mut |_| {}).is_empty());
    assert_eq!(rt.start("trap", 2000).unwrap(), AppState::Running);
    assert_eq!(logs(&mut rt, "trap").len(), 2, "init ran again");
}

/// What the runtime measures of each app (what a heartbeat reports): calls, fuel,
/// time, traps, memory now and at its peak, starts and values published, from the
/// install of a generation; memory is 0 while no instance runs.
#[test]
fn stats_count_what_each_app_did() {
    let (_g, mut rt) = runtime(cap());
    // A memory that grows a page on every tick, up to its limit of 3 pages.
    let grower = wat::parse_str(
        r#"(module (memory (export "memory") 1)
        (func (export "tick") (drop (memory.grow (i32.const 1)))))"#,
    )
    .unwrap();
    install(&mut rt, "sensor", &example("sensor"), limits(10_000, 65536, 100), &[("offset", "1")]).unwrap();
    install(&mut rt, "spin", &example("spin"), limits(5_000, 4096, 100), &[]).unwrap();
    install(&mut rt, "grower", &grower, limits(10_000, 3 * 65536, 100), &[]).unwrap();
    for name in ["sensor", "spin", "grower"] {
        let (s, published) = rt.app(name).unwrap().metrics();
        assert_eq!((s, published), (Stats::default(), 0), "{name}: nothing before it starts");
        assert_eq!(rt.start(name, 0).unwrap(), AppState::Running, "{name}");
    }
    for now in (0..=1000).step_by(10) {
        rt.poll(now, &mut |_| {});
    }
    let (s, published) = rt.app("sensor").unwrap().metrics();
    assert_eq!((s.starts, s.calls, s.traps, published), (1, 11, 0, 10), "sensor: init and 10 ticks, each publishing: {s:?}");
    assert!(s.fuel > 11 && s.fuel < 11 * 10_000, "sensor fuel {}", s.fuel);
    assert_eq!((s.memory, s.memory_peak), (65536, 65536), "sensor: one page");
    assert_eq!((s.call_us, s.instantiate_us), (11 * 7, 7), "calls and the instantiation are timed: {s:?}");

    let (s, _) = rt.app("spin").unwrap().metrics();
    assert_eq!((s.starts, s.calls, s.traps, s.fuel, s.memory), (1, 1, 1, 5_000, 0), "spin: one tick used all its fuel: {s:?}");

    let (s, _) = rt.app("grower").unwrap().metrics();
    assert_eq!(rt.app("grower").unwrap().state, AppState::OutOfMemory);
    assert_eq!((s.traps, s.memory, s.memory_peak), (1, 0, 3 * 65536), "grower: stopped at its limit: {s:?}");

    // Counters go on across a restart, and start again with a new generation.
    assert_eq!(rt.start("spin", 2000).unwrap(), AppState::Running);
    rt.poll(2100, &mut |_| {});
    let (s, _) = rt.app("spin").unwrap().metrics();
    assert_eq!((s.starts, s.calls, s.traps, s.fuel), (2, 2, 2, 10_000), "{s:?}");
    install(&mut rt, "spin", &example("spin"), limits(5_000, 4096, 100), &[]).unwrap();
    assert_eq!(rt.app("spin").unwrap().metrics(), (Stats::default(), 0), "a new install counts from zero");
    for name in ["sensor", "spin", "grower"] {
        rt.remove(name);
    }
}

/// Each way a call can end badly is reported with its reason, and the app stops.
#[test]
fn traps_fuel_and_limits_are_named() {
    // Room for 64 frames of a 64-bit host (twice a Cortex-M's) and the table.
    let (_g, mut rt) = runtime(Capacity { code_base: 40 * 1024, ..cap() });
    let wasm = wat::parse_str(
        r#"(module
        (import "wasmbed" "log" (func $log (param i32 i32 i32)))
        (memory (export "memory") 1 4)
        (table 1024 funcref) (elem (i32.const 1000) $seven)
        (type $r (func (result i32)))
        (func $seven (result i32) (i32.const 7))
        (func (export "tick"))
        (func (export "div0") (result i32) (i32.div_u (i32.const 1) (i32.const 0)))
        (func (export "oob") (result i32) (i32.load (i32.const 65535)))
        (func $deep (export "deep") (call $deep))
        (func (export "grow") (result i32) (memory.grow (i32.const 1)))
        (func (export "spin") (loop $l (br $l)))
        (func (export "fill") (loop $l (memory.fill (i32.const 0) (i32.const 1) (i32.const 65536)) (br $l)))
        (func (export "indirect") (result i32) (call_indirect (type $r) (i32.const 1000)))
        (func (export "nullref") (result i32) (call_indirect (type $r) (i32.const 3)))
        (func (export "log_oob") (result i32) (call $log (i32.const 3) (i32.const 65530) (i32.const 100)) (i32.const 0)))"#,
        )
.unwrap();
    install(&mut rt, "t", &wasm, limits(100_000, 65536, 100), &[]).unwrap();
    let mut call = |f: &str| {
        assert_eq!(rt.start("t", 0).unwrap(), AppState::Running);
        let r = rt.call_export_for_test("t", f);
        (r, rt.app("t").unwrap().state)
    };
    assert_eq!(call("indirect"), (Ok(Some(7)), AppState::Running), "a table of 1,024 functions");
    for (f, state, words) in [
        ("div0", AppState::Trapped, "integer divide by zero"),
        ("oob", AppState::Trapped, "out of bounds memory access"),
        ("deep", AppState::Trapped, "call stack exhausted"),
        ("nullref", AppState::Trapped, "undefined element"),
        ("log_oob", AppState::Trapped, "wasmbed.log: [65530, 65630) is outside the app's memory of 65536 bytes"),
        ("grow", AppState::OutOfMemory, "memory.grow beyond the limit of 65536 bytes"),
        ("spin", AppState::FuelExhausted, "fuel 100000 used up"),
        ("fill", AppState::FuelExhausted, "fuel 100000 used up"),
    ] {
        let (r, st) = call(f);
        let d = r.unwrap_err();
        assert_eq!(st, state, "{f}: {d}");
        assert!(d.contains(words) && d.ends_with(f), "{f}: {d}");
    }
    rt.remove("t");
}

#[test]
fn initial_memory_over_the_limit_is_out_of_memory_at_install() {
    let (_g, mut rt) = runtime(cap());
    let err = install(&mut rt, "sensor", &example("sensor"), limits(1000, 4096, 100), &[]).unwrap_err();
    assert!(matches!(err, RuntimeError::OutOfMemory(_)), "{err:?}");
    assert_eq!(rt.app("sensor").unwrap().state, AppState::OutOfMemory);
    assert_eq!(rt.start("sensor", 0).unwrap(), AppState::OutOfMemory);
}

#[test]
fn admission_reserves_pages_and_code_from_the_pools() {
    let small = Capacity { max_apps: 2, app_ram: 65536, code_pool: 64 * 1024, queue_records: 4, ..cap() };
    let (_g, mut rt) = runtime(small);
    install(&mut rt, "a", &example("sensor"), limits(1000, 65536, 100), &[]).unwrap();
    // A second page does not fit; a 0-page app (limit below a page) does.
    let e = install(&mut rt, "b", &example("trap"), limits(1000, 65536, 100), &[]).unwrap_err();
    assert!(matches!(&e, RuntimeError::NoRoom(m) if m.ends_with(" and 0")), "{e:?}");
    install(&mut rt, "b", &example("blinker"), limits(1000, 1024, 100), &[]).unwrap();
    let e = install(&mut rt, "c", &example("spin"), limits(1000, 1024, 100), &[]).unwrap_err();
    assert_eq!(e, RuntimeError::NoRoom("too many apps".into()));
    // Replacing an app is not a new one.
    install(&mut rt, "b", &example("spin"), limits(1000, 1024, 100), &[]).unwrap();
    assert_eq!(rt.apps().len(), 2);
    assert_eq!(rt.ram_free(), 0);
    // Fuel beyond what the board runs within its watchdog is refused before any byte.
    let e = rt.admit("c", 100, &limits(small.max_fuel + 1, 0, 100), 0).unwrap_err();
    assert!(matches!(&e, RuntimeError::Limit(m) if m.contains("exceeds the board")), "{e:?}");
    // A module larger than the whole code pool is refused before any byte.
    let e = rt.admit("c", small.max_module() + 1, &limits(1000, 0, 100), 0).unwrap_err();
    assert!(matches!(&e, RuntimeError::NoRoom(_)), "{e:?}");
}

/// Constant expressions of the kinds wasmi runs: globals of each number type, a data
/// offset (reference types are off: `ref.null` and `ref.func` are refused; wasmbed
/// offers no global imports).
#[test]
fn constant_expressions_install() {
    let (_g, mut rt) = runtime(cap());
    let src = r#"(module (memory (export "memory") 1)
        (global i32 (i32.const -7)) (global i64 (i64.const 1)) (global f32 (f32.const 1.5))
        (global f64 (f64.const 2.5)) (global (mut i32) (i32.const 0))
        (data (i32.const 16) "wasmbed") (func $t (export "tick")))"#;
    install(&mut rt, "consts", &wat::parse_str(src).unwrap(), limits(1000, 65536, 100), &[]).unwrap();
    assert_eq!(rt.start("consts", 0).unwrap(), AppState::Running);
}

#[test]
fn bad_modules_fail_at_install() {
    let (_g, mut rt) = runtime(cap());
    let cases: &[(&str, &str)] = &[
        ("not wasm", "garbage"),
        ("(module (memory (export \"memory\") 0))", "missing export tick"),
        ("(module (func (export \"tick\")))", "missing export memory"),
        ("(module (import \"env\" \"f\" (func)) (memory (export \"memory\") 0) (func (export \"tick\")))", "unknown import env.f"),
        ("(module (memory (export \"memory\") 0) (func $s) (start $s) (func (export \"tick\")))", "start"),
        (
            "(module (import \"wasmbed\" \"log\" (func (param i64))) (memory (export \"memory\") 0) (func (export \"tick\")))",
            "",
        ),
        // SIMD and threads operators: refused when the module is validated (the
        // interpreter is built without vector types and runs no threads).
        (
            "(module (memory (export \"memory\") 1) (func (export \"tick\") (drop (v128.const i64x2 0 0))))",
            "invalid module",
        ),
        (
            "(module (memory (export \"memory\") 1) (func (export \"tick\") (drop (i32.atomic.load (i32.const 0)))))",
            "invalid module",
        ),
        // Constant expressions: operators outside MVP constants, a local global, a type
        // mismatch.
        (
            "(module (memory (export \"memory\") 1) (data (i32.load (i32.const 0)) \"x\") (func (export \"tick\")))",
            "invalid module",
        ),
        (
            "(module (memory (export \"memory\") 1) (global i32 (i64.const 1)) (func (export \"tick\")))",
            "invalid module",
        ),
        // An imported memory, table or global.
        (
            "(module (import \"wasmbed\" \"log\" (memory 1)) (func (export \"tick\")))",
            "unknown import wasmbed.log",
        ),
    ];
    for (i, (src, why)) in cases.iter().enumerate() {
        let wasm = wat::parse_str(src).unwrap_or_else(|_| src.as_bytes().to_vec());
        let name = format!("bad{i}");
        let r = install(&mut rt, &name, &wasm, limits(100, 65536, 100), &[]);
        let failed = match r {
            Err(RuntimeError::Failed(d)) => {
                assert!(d.contains(why) || why.is_empty() || *why == "garbage", "{src}: {d}");
                true
            }
            // A wrong import signature passes the name check and fails to instantiate.
            Ok(()) => rt.start(&name, 0).unwrap() == AppState::Failed,
            Err(e) => panic!("{src}: {e:?}"),
        };
        assert!(failed, "{src}");
        rt.remove(&name);
    }
}

#[test]
fn host_abi_edge_cases() {
    let src = r#"
    (module
      (import "wasmbed" "log" (func $log (param i32 i32 i32)))
      (import "wasmbed" "publish" (func $publish (param i32 i32 f64) (result i32)))
      (import "wasmbed" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
      (import "wasmbed" "time_ms" (func $time_ms (result i64)))
      (import "wasmbed" "gpio_read" (func $gpio_read (param i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "key")
      (data (i32.const 8) "bad key")
      (data (i32.const 16) "\ff\fe ok")
      (global $r (export "r") (mut i32) (i32.const 0))
      (func (export "tick"))
      (func (export "publish_ok") (result i32) (call $publish (i32.const 0) (i32.const 3) (f64.const 1.5)))
      (func (export "publish_bad_key") (result i32) (call $publish (i32.const 8) (i32.const 7) (f64.const 1)))
      (func (export "publish_nan") (result i32) (call $publish (i32.const 0) (i32.const 3) (f64.const nan)))
      (func (export "cfg_small") (result i32) (call $config_get (i32.const 0) (i32.const 3) (i32.const 100) (i32.const 2)))
      (func (export "cfg_ok") (result i32) (call $config_get (i32.const 0) (i32.const 3) (i32.const 100) (i32.const 10)))
      (func (export "cfg_missing") (result i32) (call $config_get (i32.const 0) (i32.const 2) (i32.const 100) (i32.const 10)))
      (func (export "cfg_bad_buf") (result i32) (call $config_get (i32.const 0) (i32.const 3) (i32.const 65530) (i32.const 10)))
      (func (export "log_lossy") (call $log (i32.const 9) (i32.const 16) (i32.const 5)))
      (func (export "log_oob") (call $log (i32.const 3) (i32.const 65535) (i32.const 2)))
      (func (export "now") (result i64) (call $time_ms))
      (func (export "pin9") (result i32) (call $gpio_read (i32.const 9))))
    "#;
    let wasm = wat::parse_str(src).unwrap();
    // The ABI functions through the runtime's own engine: drive them with a tiny
    // harness that starts the app and calls exports by name.
    let (_g, mut rt) = runtime(Capacity { queue_records: 3, ..cap() });
    install(&mut rt, "abi", &wasm, limits(10_000, 65536, 100), &[("key", "value")]).unwrap();
    assert_eq!(rt.start("abi", 0).unwrap(), AppState::Running);
    let mut call = |f: &str| rt.call_export_for_test("abi", f).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert_eq!(call("publish_ok"), Some(0));
    assert_eq!(call("publish_bad_key"), Some(-1));
    assert_eq!(call("publish_nan"), Some(-1));
    assert_eq!(call("cfg_small"), Some(-3));
    assert_eq!(call("cfg_ok"), Some(5));
    assert_eq!(call("cfg_missing"), Some(-2));
    assert_eq!(call("now"), Some(NOW.load(Ordering::Relaxed)));
    assert_eq!(call("pin9"), Some(-1));
    call("log_lossy");
    assert_eq!(call("publish_ok"), Some(0));
    // The queue (3 records) is full now: publish is busy, a log line is dropped.
    assert_eq!(call("publish_ok"), Some(-4));
    call("log_lossy");
    let out = rt.app("abi").unwrap().output_ref();
    assert_eq!((out.dropped_values, out.dropped_logs), (1, 1));
    assert!(matches!(&out.records[1], Record::Log { level: 4, text, .. } if text == "\u{FFFD}\u{FFFD} ok"));
    // A pointer outside memory traps the app, for log as for config_get's buffer.
    assert!(rt.call_export_for_test("abi", "cfg_bad_buf").unwrap_err().contains("outside the app's memory"));
    assert_eq!(rt.app("abi").unwrap().state, AppState::Trapped);
    rt.start("abi", 0).unwrap();
    assert!(rt.call_export_for_test("abi", "log_oob").unwrap_err().contains("outside the app's memory"));
    assert_eq!(rt.app("abi").unwrap().state, AppState::Trapped);
}

#[test]
fn transfer_resumes_ignores_stray_chunks_and_checks_sha256() {
    let module = example("sensor");
    let sha: [u8; 32] = Sha256::digest(&module).into();
    let mut t = Transfer::new("sensor", 3, sha, module.len() as u32);
    assert_eq!(t.chunk(0, &module[..10]), Chunk::Progress(0), "no buffer reserved: nothing taken");
    assert!(t.reserve());
    assert!(t.same("sensor", 3, &sha, module.len() as u32));
    assert_eq!(t.chunk(0, &module[..10]), Chunk::Progress(10));
    assert_eq!(t.chunk(5, &module[5..20]), Chunk::Progress(10), "stray chunk ignored");
    assert_eq!(t.chunk(10, &module[10..]), Chunk::Complete);
    assert_eq!(t.bytes(), &module[..]);

    let mut bad = Transfer::new("sensor", 3, [0; 32], module.len() as u32);
    assert!(bad.reserve());
    assert_eq!(bad.chunk(0, &module), Chunk::Checksum);
    assert_eq!(bad.offset(), 0);
}

/// `f32.nearest` and `f64.nearest` (round half to even) in the interpreter.
#[test]
fn nearest_rounds_ties_to_even() {
    use wasefire_interpreter::{side_table, Module, RunResult, Store, Val};
    let wasm = wat::parse_str(
        r#"(module
            (func (export "n64") (param f64) (result f64) (f64.nearest (local.get 0)))
            (func (export "n32") (param f32) (result f32) (f32.nearest (local.get 0))))"#,
    )
    .unwrap();
    let side = side_table(&wasm).unwrap();
    // SAFETY: the side table of this module.
    let module = unsafe { Module::with_side_table(&wasm, &side) };
    let mut store = Store::default();
    let inst = store.instantiate(module, &mut []).unwrap();
    let mut call = |f: &str, x: Val| match store.invoke(inst, f, vec![x]).unwrap() {
        RunResult::Done(v) => v[0],
        RunResult::Host(_) => unreachable!(),
    };
    let mut xs = vec![0.0, -0.0, 0.4, 0.5, 0.6, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5, 1e300, -1e300, 4503599627370495.5];
    xs.extend([f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, 5e-324, 8388607.5, -8388607.5, 8388608.5]);
    for i in -40..=40 {
        xs.push(i as f64 / 4.0);
        xs.push(i as f64 * 12345.5);
    }
    xs.push(f64::NAN);
    for x in xs {
        let Val::F64(got) = call("n64", Val::F64(x.to_bits())) else { panic!() };
        let want = x.round_ties_even();
        assert!(got == want.to_bits() || (x.is_nan() && f64::from_bits(got).is_nan()), "f64.nearest({x})");
        let y = x as f32;
        let Val::F32(got) = call("n32", Val::F32(y.to_bits())) else { panic!() };
        let want = y.round_ties_even();
        assert!(got == want.to_bits() || (y.is_nan() && f32::from_bits(got).is_nan()), "f32.nearest({y})");
    }
}

fn sha(wasm: &[u8]) -> [u8; 32] {
    Sha256::digest(wasm).into()
}

/// A module whose compiled code is about `funcs` times a small loop.
fn sized(funcs: usize, value: f64) -> Vec<u8> {
    let mut s = String::from(
        r#"(module (import "wasmbed" "publish" (func $p (param i32 i32 f64) (result i32)))
           (memory (export "memory") 1) (data (i32.const 0) "v")"#,
    );
    for i in 0..funcs {
        s += &format!(
            "(func $f{i} (param $a i32) (result i32) (local $j i32)
               (block $o (loop $l (local.set $j (i32.add (local.get $j) (i32.const {})))
                 (br_if $o (i32.ge_u (local.get $j) (local.get $a))) (br $l)))
               (local.get $j))",
            i + 1
        );
    }
    s += &format!("(func (export \"tick\") (drop (call $p (i32.const 0) (i32.const 1) (f64.const {value}))))");
    if funcs > 0 {
        s += "(func (export \"init\") (drop (call $f0 (i32.const 5))))";
    }
    s += ")";
    wat::parse_str(&s).unwrap()
}

#[test]
fn escape_returns_to_catch_and_the_caller_goes_on() {
    use wasmbed_runtime::pool::escape;
    let mut buf = escape::JmpBuf::new();
    let bufp: *mut escape::JmpBuf = &mut buf;
    let mut reached = 0;
    let done = unsafe {
        escape::catch(bufp, &mut || {
            reached = 1;
            escape::throw(bufp);
        })
    };
    assert!(!done);
    assert_eq!(reached, 1);
    assert!(unsafe { escape::catch(bufp, &mut || reached = 2) });
    assert_eq!(reached, 2);
}

#[test]
fn a_module_too_big_for_its_budget_fails_cleanly_and_returns_everything() {
    // The budget assumes 1 byte of code pool per module byte: too little to validate it
    // and hold its side table.
    let tight = Capacity { code_base: 8 * 1024, code_per_byte_16: 16, ..cap() };
    let (_g, mut rt) = runtime(tight);
    let (code0, pages0) = (rt.capacity().code_pool, rt.ram_free());
    let wasm = sized(200, 1.0);
    let e = install(&mut rt, "big", &wasm, limits(10_000, 65536, 100), &[]).unwrap_err();
    assert!(matches!(&e, RuntimeError::NoRoom(m) if m.contains("no_memory") && m.contains("to compile")), "{e:?}");
    assert_eq!(rt.app("big").unwrap().state, AppState::Failed);
    assert!(rt.app("big").unwrap().detail.contains("no_memory"));
    assert_eq!((POOLS.code_free(), rt.ram_free()), (code0, pages0), "the arena went back whole");
    assert!(POOLS.refused.get() > 0);
    // The runtime goes on: a small app installs and runs in the same pools.
    rt.remove("big");
    install(&mut rt, "small", &sized(0, 2.0), limits(10_000, 65536, 100), &[]).unwrap();
    assert_eq!(rt.start("small", 0).unwrap(), AppState::Running);
    rt.poll(100, &mut |_| {});
    assert_eq!(values(&mut rt, "small"), [2.0]);
}

#[test]
fn no_room_to_start_is_out_of_memory_not_a_crash() {
    // Enough to validate the sensor (what it took, measured), not to instantiate it.
    let wasm = example("sensor");
    let (validated, started) = {
        let (_g, mut rt) = runtime(cap());
        install(&mut rt, "sensor", &wasm, limits(10_000, 65536, 100), &[]).unwrap();
        let validated = rt.arena_peak("sensor").unwrap();
        assert_eq!(rt.start("sensor", 0).unwrap(), AppState::Running);
        let started = rt.arena_peak("sensor").unwrap();
        rt.remove("sensor");
        (validated, started)
    };
    assert!(started > validated + 1024, "starting takes more than validating: {validated} {started}");
    let (_g, mut rt) = runtime(Capacity { code_base: (validated + started) / 2, code_per_byte_16: 0, ..cap() });
    install(&mut rt, "sensor", &wasm, limits(10_000, 65536, 100), &[]).unwrap();
    assert_eq!(rt.start("sensor", 0).unwrap(), AppState::OutOfMemory);
    let app = rt.app("sensor").unwrap();
    assert!(app.detail.contains("no_memory") && app.detail.contains("to start"), "{}", app.detail);
    assert!(!app.has_module(), "its arena was released");
    assert_eq!(POOLS.code_free(), rt.capacity().code_pool);
}

#[test]
fn hundred_updates_leave_the_pools_as_after_the_first() {
    let (_g, mut rt) = runtime(cap());
    let (v1, v2) = (sized(20, 1.0), sized(25, 2.0));
    // Per version (their budgets differ): pools and arena after its first install.
    let mut after_first = [None, None];
    for n in 0..100u64 {
        let (wasm, want) = if n % 2 == 0 { (&v1, 1.0) } else { (&v2, 2.0) };
        let l = limits(100_000, 65536, 10);
        let mut inc = rt.receive("app", n + 1, sha(wasm), wasm.len() as u32, &l, 0).unwrap();
        assert!(!inc.replaced, "both versions fit these pools");
        assert_eq!(inc.tr.chunk(0, wasm), Chunk::Complete);
        assert_eq!(rt.install(inc, &format!("1.0.{n}"), l, &[], true, 0).unwrap(), AppState::Running);
        // app_output's seq goes on across versions (the gateway drops what it has seen).
        let out = rt.app_mut("app").unwrap().output().unwrap();
        assert_eq!(out.seq, n, "update {n}: seq carried over");
        out.seq = n + 1;
        rt.poll(1_000_000 * (n + 1), &mut |_| {});
        let out = values(&mut rt, "app");
        assert_eq!(out.last(), Some(&want), "update {n}: the new version runs");
        let free = (POOLS.code_free(), rt.ram_free(), rt.arena_used("app").unwrap());
        match after_first[n as usize % 2] {
            None => after_first[n as usize % 2] = Some(free),
            Some(f) => assert_eq!(free, f, "update {n}: nothing leaked"),
        }
    }
    assert_eq!(rt.apps().len(), 1);
}

#[test]
fn a_new_version_that_fails_leaves_the_old_one_running() {
    let (_g, mut rt) = runtime(cap());
    let good = sized(3, 1.0);
    let traps_in_init = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "init") unreachable) (func (export "tick")))"#).unwrap();
    let l = limits(100_000, 65536, 10);
    install(&mut rt, "app", &good, l, &[]).unwrap();
    assert_eq!(rt.start("app", 0).unwrap(), AppState::Running);
    // Start fails: the old version starts again (a fresh instance).
    let mut inc = rt.receive("app", 2, sha(&traps_in_init), traps_in_init.len() as u32, &l, 0).unwrap();
    assert_eq!(inc.tr.chunk(0, &traps_in_init), Chunk::Complete);
    let e = rt.install(inc, "2.0.0", l, &[], true, 0).unwrap_err();
    assert!(matches!(&e, RuntimeError::Stopped(AppState::Trapped, m) if m.contains("init")), "{e:?}");
    let app = rt.app("app").unwrap();
    assert_eq!((app.version.as_str(), app.generation, app.state), ("1.0.0", 1, AppState::Running));
    // Compile fails: the old version never stopped.
    let bad = b"\0asm\x01\0\0\0\x01".to_vec();
    let mut inc = rt.receive("app", 3, sha(&bad), bad.len() as u32, &l, 0).unwrap();
    assert_eq!(inc.tr.chunk(0, &bad), Chunk::Complete);
    assert!(matches!(rt.install(inc, "3.0.0", l, &[], true, 0), Err(RuntimeError::Failed(_))));
    assert_eq!(rt.app("app").unwrap().state, AppState::Running);
    rt.poll(1000, &mut |_| {});
    assert_eq!(values(&mut rt, "app").last(), Some(&1.0));
}

#[test]
fn pools_too_small_for_both_versions_replace_in_place() {
    let one = Capacity { code_pool: 40 * 1024, app_ram: 65536, ..cap() };
    let (_g, mut rt) = runtime(one);
    let v = sized(3, 1.0);
    let l = limits(100_000, 65536, 10);
    install(&mut rt, "app", &v, l, &[]).unwrap();
    assert_eq!(rt.admit("app", v.len() as u32, &l, 0), Ok(Fit::Replace));
    rt.start("app", 0).unwrap();
    rt.app_mut("app").unwrap().output().unwrap().seq = 7;
    let mut inc = rt.receive("app", 2, sha(&v), v.len() as u32, &l, 0).unwrap();
    assert!(inc.replaced);
    assert!(rt.app("app").is_none(), "the old version went first");
    assert_eq!(inc.tr.chunk(0, &v), Chunk::Complete);
    assert_eq!(rt.install(inc, "2.0.0", l, &[], true, 0).unwrap(), AppState::Running);
    assert_eq!(rt.app_mut("app").unwrap().output().unwrap().seq, 7, "output seq carried over the replacement");
    rt.remove("app");
    assert_eq!(POOLS.code_free(), one.code_pool);
}

#[test]
fn a_limit_the_board_cannot_honour_is_refused() {
    let (_g, rt) = runtime(cap());
    let e = rt.admit("x", 100, &limits(50_000_000_000, 65536, 100), 0).unwrap_err();
    assert!(matches!(&e, RuntimeError::Limit(m) if m.contains("50000000000")), "{e:?}");
}

/// The code budget a module needed at most (compiling, starting, 20 ticks), per module
/// byte: run with WASMBED_CORPUS_DIR=<dir of .wasm files> to print it for each (the
/// measurement behind the firmware's budget constants, firmware/README.md "Memory").
#[test]
fn code_budget_of_a_corpus() {
    let Ok(dir) = std::env::var("WASMBED_CORPUS_DIR") else { return };
    let (_g, mut rt) = runtime(Capacity { code_base: 0, code_per_byte_16: 16 * 64, code_pool: 2 << 20, ..cap() });
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    for p in paths {
        let wasm = std::fs::read(&p).unwrap();
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        let r = install(&mut rt, &name, &wasm, limits(1_000_000, 65536, 10), &[]);
        let installed = (rt.arena_peak(&name).unwrap_or(0), rt.arena_used(&name).unwrap_or(0));
        let started = r.is_ok() && rt.start(&name, 0).is_ok();
        println!("install {name} peak {} used {} start-peak {}", installed.0, installed.1, rt.arena_peak(&name).unwrap_or(0));
        for i in 0..20 {
            rt.poll(1000 * (i + 1), &mut |_| {});
        }
        let peak = rt.arena_peak(&name).unwrap_or(0);
        let used = rt.arena_used(&name).unwrap_or(0);
        println!("budget {name} size {} peak {peak} used-after {used} ratio {:.2} ok {started}", wasm.len(), peak as f64 / wasm.len() as f64);
        rt.remove(&name);
    }
}
