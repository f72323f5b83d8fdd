//! Self-test (feature `selftest`): the example apps of examples/apps, compiled with
//! wat2wasm at build time and embedded, are installed side by side and run for a few
//! seconds; what they do and how the misbehaving ones are stopped is printed on the
//! console, for the QEMU test (scripts/firmware.sh) to check.

use alloc::string::ToString;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use wasmbed_runtime::{AppState, Limits, Record, RuntimeError};

use crate::{apps, board, clock, heap, stack};

/// name, wasm
static APPS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/selftest_apps.rs"));

/// The deploy each app gets: fuel per call, memory limit, tick period, config.
fn deploy(name: &str) -> (Limits, &'static [(&'static str, &'static str)]) {
    let l = |fuel, memory, tick_ms| Limits { fuel, memory, tick_ms };
    match name {
        "sensor" => (l(10_000, 65536, 200), &[("offset", "20")]),
        "blinker" => (l(1_000, 4096, 100), &[]),
        "spin" => (l(20_000, 4096, 300), &[]),
        "trap" => (l(1_000, 65536, 300), &[]),
        "greedy" => (l(10_000, 4096, 300), &[]), // memory.grow costs 1 fuel per 64 bytes
        _ => (l(10_000, 65536, 1000), &[]),
    }
}

/// Apps to run: all of them where RAM allows; boards with one page for apps run the
/// 0-page apps next to the sensor, in this order of preference.
const ORDER: &[&str] = &["sensor", "blinker", "spin", "greedy", "trap"];

pub fn run(seconds: u64) {
    println!("selftest: {} apps embedded", APPS.len());
    let mut rt = apps::runtime();
    let mut names: Vec<&str> = APPS.iter().map(|a| a.0).collect();
    names.sort_by_key(|n| ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()));
    for name in names {
        let wasm = APPS.iter().find(|a| a.0 == name).unwrap().1;
        let (limits, config) = deploy(name);
        let sha: [u8; 32] = Sha256::digest(wasm).into();
        let config = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match rt.install_bytes(name, "0.1.0", 1, sha, limits, config, wasm) {
            Ok(()) => {
                let st = rt.start(name, clock::uptime_ms()).unwrap_or(AppState::Unknown);
                let (used, peak) = (rt.arena_used(name).unwrap_or(0), rt.arena_peak(name).unwrap_or(0));
                println!("selftest: app {} installed ({} bytes), {}, arena {} B in use, code peak {} B", name, wasm.len(), st.name(), used, peak);
            }
            Err(RuntimeError::NoRoom(why)) => println!("selftest: app {} skipped: no_room: {}", name, why),
            Err(e) => println!("selftest: app {} install: {}", name, e),
        }
    }
    println!("selftest: heap used {} B, code pool free {} B, page pool free {} B", heap::HEAP.used(), rt.storage_free(), rt.ram_free());

    let end = clock::uptime_ms() + seconds * 1000;
    let mut next_report = clock::uptime_ms() + 1000;
    while clock::uptime_ms() < end {
        board::watchdog_feed();
        let now = clock::uptime_ms();
        for ev in rt.poll(now, &mut |_| board::watchdog_feed()) {
            println!("selftest: app {} stopped: {} ({})", ev.app, ev.state.name(), ev.detail);
        }
        if now >= next_report {
            next_report += 1000;
            drain(&mut rt);
        }
        crate::arch::wfi();
    }
    drain(&mut rt);
    for app in rt.apps() {
        println!("selftest: final {} {}", app.name, app.state.name());
    }
    println!(
        "selftest: heap used {} B (peak {} B), page pool free {} B, stack peak {} B",
        heap::HEAP.used(),
        heap::HEAP.peak(),
        rt.ram_free(),
        stack::peak()
    );
    println!("selftest: done");
}

fn drain(rt: &mut wasmbed_runtime::Runtime) {
    for app in rt.apps_mut() {
        let name = app.name.clone();
        let Some(out) = app.output() else { continue };
        while let Some(r) = out.records.pop_front() {
            match r {
                Record::Log { level, text, .. } => println!("selftest: out {} log {} {}", name, level, text),
                Record::Value { key, value, .. } => println!("selftest: out {} value {}={}", name, key, value),
            }
        }
    }
}
