//! Feature `bench`: measurements for `make bench` (bench/firmware.sh), made at boot with
//! nothing else running and printed as `bench: ...` lines. Under QEMU with `-icount
//! shift=0` they are deterministic: the virtual clock advances 1 ns per instruction and
//! SysTick counts it, so `clock::cycles()` (core cycles at `CORE_HZ`) times
//! `1e9 / CORE_HZ` is the number of instructions executed.
//!
//! - `calibration`: a loop of a known number of instructions against `clock::cycles`,
//!   and the DWT cycle counter over the same loop (QEMU does not model it: 0).
//! - `wasm_instantiate`: the sensor app (examples/apps/sensor.wat) from its bytes to
//!   running: `Runtime::install` (validate, side table) and `Runtime::start`
//!   (instantiate, `init`), as a deploy does on the device.
//! - `kernel`: bench/kernel.wat (xorshift bytes, then their CRC-32 bitwise) run by the
//!   runtime (the in-place interpreter, fuel metered, as apps run), and the same algorithm compiled into the
//!   firmware (`opt-level = "z"`, as the firmware is built); both must give the same CRC.

use alloc::vec;
use core::hint::black_box;

use sha2::{Digest, Sha256};
use wasmbed_runtime::Limits;

use crate::{apps, clock, reg};

/// name, wasm (the example apps)
static APPS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/selftest_apps.rs"));
static KERNEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench_kernel.wasm"));

const DEMCR: usize = 0xE000_EDFC;
const DWT_CTRL: usize = 0xE000_1000;
const DWT_CYCCNT: usize = 0xE000_1004;

pub fn run() {
    calibration();
    instantiate();
    kernel();
    fuel_cost();
    println!("bench: done");
}

fn calibration() {
    const N: u32 = 1_000_000;
    reg::modify(DEMCR, |v| v | 1 << 24); // TRCENA
    reg::modify(DWT_CTRL, |v| v | 1); // CYCCNTENA
    let d0 = reg::read(DWT_CYCCNT);
    let c0 = clock::cycles();
    // SAFETY: a register-only countdown loop: `subs` and `bne`, 2 instructions a turn.
    unsafe {
        core::arch::asm!("2:", "subs {n}, {n}, #1", "bne 2b", n = inout(reg) N => _, options(nomem, nostack));
    }
    let c = clock::cycles() - c0;
    let d = reg::read(DWT_CYCCNT).wrapping_sub(d0);
    println!("bench: calibration {} instructions {} cycles dwt_cyccnt {}", 2 * N, c, d);
}

fn instantiate() {
    let wasm = APPS.iter().find(|a| a.0 == "sensor").expect("examples/apps/sensor.wat").1;
    let sha: [u8; 32] = Sha256::digest(wasm).into();
    let limits = Limits { fuel: 10_000, memory: 65536, tick_ms: 1000 };
    let mut rt = apps::runtime();
    let config = vec![("offset".into(), "20".into())];
    let c0 = clock::cycles();
    let installed = rt.install_bytes("sensor", "0.1.0", 1, sha, limits, config, wasm);
    let started = rt.start("sensor", clock::uptime_ms());
    let c = clock::cycles() - c0;
    match (installed, started) {
        (Ok(()), Ok(st)) => println!("bench: wasm_instantiate {} cycles ({} bytes, {})", c, wasm.len(), st.name()),
        (Err(e), _) => println!("bench: FAIL sensor install: {}", e),
        (_, Err(e)) => println!("bench: FAIL sensor start: {}", e),
    }
}

fn kernel() {
    let sha: [u8; 32] = Sha256::digest(KERNEL).into();
    // The most fuel the board allows per call (the kernel needs far less).
    let limits = Limits { fuel: crate::apps::capacity().max_fuel, memory: 65536, tick_ms: 1000 };
    let mut rt = apps::runtime();
    if let Err(e) = rt.install_bytes("kernel", "0.1.0", 1, sha, limits, vec![], KERNEL) {
        println!("bench: FAIL kernel install: {}", e);
        return;
    }
    if let Err(e) = rt.start("kernel", clock::uptime_ms()) {
        println!("bench: FAIL kernel start: {}", e);
        return;
    }
    let c0 = clock::cycles();
    let wasm = rt.call_export_for_test("kernel", "run");
    let wasm_cycles = clock::cycles() - c0;
    let mut buf = vec![0u8; 4096];
    let c0 = clock::cycles();
    let native = crc_kernel(black_box(&mut buf), black_box(0x92D6_8CA2));
    let native_cycles = clock::cycles() - c0;
    match wasm {
        Ok(Some(w)) if w as u32 == native => {
            println!("bench: kernel crc32 {:#010x} wasm {} cycles native {} cycles", native, wasm_cycles, native_cycles)
        }
        Ok(w) => println!("bench: FAIL kernel: wasm gave {}, native {:#010x}", w.unwrap_or(-1), native),
        Err(e) => println!("bench: FAIL kernel: {}", e),
    }
}

/// What one unit of fuel costs: bench/kernel.wat's `spin_*` exports each run until
/// their fuel (`FUEL`) is used up; cycles over fuel, per kind of work.
fn fuel_cost() {
    const FUEL: u64 = 200_000;
    let sha: [u8; 32] = Sha256::digest(KERNEL).into();
    let limits = Limits { fuel: FUEL, memory: 65536, tick_ms: 1000 };
    let mut rt = apps::runtime();
    if let Err(e) = rt.install_bytes("spin", "0.1.0", 1, sha, limits, vec![], KERNEL) {
        println!("bench: FAIL fuel_cost install: {}", e);
        return;
    }
    for f in ["spin_int", "spin_f64", "spin_call", "spin_mem"] {
        if let Err(e) = rt.start("spin", clock::uptime_ms()) {
            println!("bench: FAIL fuel_cost start: {}", e);
            return;
        }
        let c0 = clock::cycles();
        let r = rt.call_export_for_test("spin", f);
        let c = clock::cycles() - c0;
        match r {
            Err(d) if d.contains("fuel") => println!("bench: fuel_cost {} {} cycles per {} fuel", f, c, FUEL),
            _ => println!("bench: FAIL fuel_cost {}: did not run out of fuel", f),
        }
    }
}

/// bench/kernel.wat's `run`, in Rust.
#[inline(never)]
fn crc_kernel(buf: &mut [u8], seed: u32) -> u32 {
    let mut x = seed;
    for b in buf.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let mut crc = !0u32;
    for &b in black_box(&*buf) {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}
