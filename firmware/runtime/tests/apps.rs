//! The runtime on the host: the example apps of examples/apps side by side, the three
//! ways a misbehaving app is stopped, the host ABI's edge cases, and module transfer.

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

use sha2::{Digest, Sha256};
use wasmbed_runtime::transfer::{Chunk, Transfer};
use wasmbed_runtime::*;

static NOW: AtomicI64 = AtomicI64::new(1_795_000_000_000);
static PIN0: AtomicI32 = AtomicI32::new(0);

thread_local! {
    static WRITES: Cell<u32> = const { Cell::new(0) };
}

fn hooks() -> Hooks {
    Hooks {
        now_ms: || NOW.load(Ordering::Relaxed),
        gpio_write: |pin, v| {
            if pin != 0 {
                return -1;
            }
            PIN0.store((v != 0) as i32, Ordering::Relaxed);
            WRITES.with(|w| w.set(w.get() + 1));
            0
        },
        gpio_read: |pin| if pin == 0 { PIN0.load(Ordering::Relaxed) } else { -1 },
    }
}

fn cap() -> Capacity {
    Capacity { max_apps: 8, app_ram: 4 * 65536, module_storage: 512 * 1024, queue_records: 16 }
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
    rt.install(name, "1.0.0", 1, sha, l, config, wasm)
}

fn values(rt: &mut Runtime, app: &str) -> Vec<f64> {
    rt.app_mut(app)
        .unwrap()
        .output()
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Value { value, .. } => Some(*value),
            _ => None,
        })
        .collect()
}

fn logs(rt: &mut Runtime, app: &str) -> Vec<(u8, String)> {
    rt.app_mut(app)
        .unwrap()
        .output()
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
    let mut rt = Runtime::new(hooks(), cap());
    install(&mut rt, "sensor", &example("sensor"), limits(10_000, 65536, 100), &[("offset", "20")]).unwrap();
    install(&mut rt, "blinker", &example("blinker"), limits(1_000, 4096, 50), &[]).unwrap();
    install(&mut rt, "spin", &example("spin"), limits(5_000, 4096, 100), &[]).unwrap();
    install(&mut rt, "trap", &example("trap"), limits(1_000, 65536, 100), &[]).unwrap();
    // memory.grow costs fuel per byte in wasmi (1 per 64 bytes): enough for a page.
    install(&mut rt, "greedy", &example("greedy"), limits(10_000, 4096, 100), &[]).unwrap();
    for name in ["sensor", "blinker", "spin", "trap", "greedy"] {
        assert_eq!(rt.start(name, 0).unwrap(), AppState::Running, "{name}");
    }
    assert_eq!(logs(&mut rt, "sensor"), [(3, "sensor started".to_string())]);
    assert_eq!(logs(&mut rt, "trap"), [(3, "about to trap".to_string())]);

    let mut stopped = Vec::new();
    for now in (0..=1000).step_by(10) {
        stopped.extend(rt.poll(now));
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
    assert!(rt.poll(2000).is_empty());
    assert_eq!(rt.start("trap", 2000).unwrap(), AppState::Running);
    assert_eq!(logs(&mut rt, "trap").len(), 2, "init ran again");
}

#[test]
fn initial_memory_over_the_limit_is_out_of_memory_at_install() {
    let mut rt = Runtime::new(hooks(), cap());
    let err = install(&mut rt, "sensor", &example("sensor"), limits(1000, 4096, 100), &[]).unwrap_err();
    assert!(matches!(err, RuntimeError::OutOfMemory(_)), "{err:?}");
    assert_eq!(rt.app("sensor").unwrap().state, AppState::OutOfMemory);
    assert_eq!(rt.start("sensor", 0).unwrap(), AppState::OutOfMemory);
}

#[test]
fn admission_counts_apps_ram_and_storage() {
    let mut rt = Runtime::new(hooks(), Capacity { max_apps: 2, app_ram: 65536, module_storage: 4096, queue_records: 4 });
    install(&mut rt, "a", &example("sensor"), limits(1000, 65536, 100), &[]).unwrap();
    // A second page does not fit; a 0-page app (limit below a page) does.
    let e = install(&mut rt, "b", &example("trap"), limits(1000, 65536, 100), &[]).unwrap_err();
    assert_eq!(e, RuntimeError::NoRoom("memory limits of all apps exceed the RAM for apps"));
    install(&mut rt, "b", &example("blinker"), limits(1000, 1024, 100), &[]).unwrap();
    let e = install(&mut rt, "c", &example("spin"), limits(1000, 1024, 100), &[]).unwrap_err();
    assert_eq!(e, RuntimeError::NoRoom("too many apps"));
    // Replacing an app is not a new one.
    install(&mut rt, "b", &example("spin"), limits(1000, 1024, 100), &[]).unwrap();
    assert_eq!(rt.apps().len(), 2);
    assert_eq!(rt.ram_free(), 0);
}

#[test]
fn bad_modules_fail_at_install() {
    let mut rt = Runtime::new(hooks(), cap());
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
        // SIMD and threads operators: refused as they are read (the vendored wasmparser
        // does not decode them; wasmi 0.31 runs neither).
        (
            "(module (memory (export \"memory\") 1) (func (export \"tick\") (drop (v128.const i64x2 0 0))))",
            "SIMD support is not enabled",
        ),
        (
            "(module (memory (export \"memory\") 1) (func (export \"tick\") (drop (i32.atomic.load (i32.const 0)))))",
            "threads support is not enabled",
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
    let mut rt = Runtime::new(hooks(), Capacity { queue_records: 3, ..cap() });
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
    let out = rt.app_mut("abi").unwrap().output();
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
    assert!(t.same("sensor", 3, &sha, module.len() as u32));
    assert_eq!(t.chunk(0, &module[..10]), Chunk::Progress(10));
    assert_eq!(t.chunk(5, &module[5..20]), Chunk::Progress(10), "stray chunk ignored");
    assert_eq!(t.chunk(10, &module[10..]), Chunk::Complete);
    assert_eq!(t.bytes(), &module[..]);

    let mut bad = Transfer::new("sensor", 3, [0; 32], module.len() as u32);
    assert_eq!(bad.chunk(0, &module), Chunk::Checksum);
    assert_eq!(bad.offset(), 0);
}

/// `f32.nearest` and `f64.nearest` (round half to even) in the vendored wasmi_core, which
/// tells odd from even without fmod (vendor/wasmi_core/WASMBED-PATCH.md).
#[test]
fn nearest_rounds_ties_to_even() {
    let wasm = wat::parse_str(
        r#"(module
            (func (export "n64") (param f64) (result f64) (f64.nearest (local.get 0)))
            (func (export "n32") (param f32) (result f32) (f32.nearest (local.get 0))))"#,
    )
    .unwrap();
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, &wasm[..]).unwrap();
    let mut store = wasmi::Store::new(&engine, ());
    let instance = wasmi::Linker::<()>::new(&engine).instantiate(&mut store, &module).unwrap().start(&mut store).unwrap();
    use wasmi::core::{F32, F64};
    let n64 = instance.get_typed_func::<F64, F64>(&store, "n64").unwrap();
    let n32 = instance.get_typed_func::<F32, F32>(&store, "n32").unwrap();
    let mut xs = vec![0.0, -0.0, 0.4, 0.5, 0.6, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5, 1e300, -1e300, 4503599627370495.5];
    xs.extend([f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, 5e-324, 8388607.5, -8388607.5, 8388608.5]);
    for i in -40..=40 {
        xs.push(i as f64 / 4.0);
        xs.push(i as f64 * 12345.5);
    }
    for x in xs {
        let (got, want) = (f64::from(n64.call(&mut store, F64::from(x)).unwrap()), x.round_ties_even());
        assert_eq!(got.to_bits(), want.to_bits(), "f64.nearest({x})");
        let y = x as f32;
        let (got, want) = (f32::from(n32.call(&mut store, F32::from(y)).unwrap()), y.round_ties_even());
        assert_eq!(got.to_bits(), want.to_bits(), "f32.nearest({y})");
    }
    assert!(f64::from(n64.call(&mut store, F64::from(f64::NAN)).unwrap()).is_nan());
    assert!(f32::from(n32.call(&mut store, F32::from(f32::NAN)).unwrap()).is_nan());
}
