//! The `wasmbed` v1 host functions (`docs/abi.md`).
//!
//! The interpreter hands a call to the host back to the runtime ([`wasefire_interpreter::RunResult::Host`]);
//! [`call`] does what the function of that index does, with the app's memory and context,
//! and returns its results or the trap it causes.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wasefire_interpreter::{FuncType, Store, Val, ValType};
use wasmbed_proto::valid_name;

use crate::{truncate, AppCtx, Record};

/// Every function of the ABI table (all five features are offered), in the order they
/// are linked (the interpreter wants them sorted by name): a host call's index is its
/// place here.
pub(crate) const NAMES: &[&str] = &["config_get", "gpio_read", "gpio_write", "log", "publish", "time_ms"];

const I: ValType = ValType::I32;

/// The type of each function of [`NAMES`]: parameters, results.
pub(crate) const TYPES: &[(&[ValType], &[ValType])] = &[
    (&[I, I, I, I], &[I]),
    (&[I], &[I]),
    (&[I, I], &[I]),
    (&[I, I, I], &[]),
    (&[I, I, ValType::F64], &[I]),
    (&[], &[ValType::I64]),
];

/// Links the functions into a store, in [`NAMES`] order.
pub(crate) fn link(store: &mut Store<'static>) -> Result<(), wasefire_interpreter::Error> {
    for (name, (params, results)) in NAMES.iter().zip(TYPES) {
        store.link_func_custom("wasmbed", name, FuncType { params: (*params).into(), results: (*results).into() })?;
    }
    Ok(())
}

/// The host ABI's features, as `hello` lists them.
pub const FEATURES: &[&str] = &["log", "time", "gpio", "publish", "config"];

const OK: i32 = 0;
const INVALID: i32 = -1;
const NOT_FOUND: i32 = -2;
const TOO_SMALL: i32 = -3;
const BUSY: i32 = -4;

/// How a host call ends the app's call.
pub(crate) enum HostTrap {
    /// A pointer outside the app's memory: a trap, with its description.
    Bounds(String),
    /// The call's fuel does not cover the host function's work.
    OutOfFuel,
}

/// Copies `[ptr, ptr+len)` of the app's memory, trapping if it is not inside it.
/// At most `keep` bytes are copied (a longer key is no name; a log line is cut to 256).
fn read(mem: &[u8], func: &str, ptr: i32, len: i32, keep: usize) -> Result<Vec<u8>, HostTrap> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    match mem.get(ptr..ptr.wrapping_add(len)) {
        Some(b) if ptr.checked_add(len).is_some() => Ok(b[..b.len().min(keep)].to_vec()),
        _ => Err(out_of_bounds(func, ptr, len, mem.len())),
    }
}

/// Host functions cost fuel for their work (the bytes they copy), so that a call's fuel
/// bounds its time whatever it calls.
fn charge(fuel: &mut u64, bytes: usize) -> Result<(), HostTrap> {
    let cost = 32 + bytes as u64;
    if *fuel < cost {
        *fuel = 0;
        return Err(HostTrap::OutOfFuel);
    }
    *fuel -= cost;
    Ok(())
}

fn out_of_bounds(func: &str, ptr: usize, len: usize, size: usize) -> HostTrap {
    let mut s = String::new();
    let _ = core::fmt::write(
        &mut s,
        format_args!("wasmbed.{func}: [{ptr}, {}) is outside the app's memory of {size} bytes", ptr as u64 + len as u64),
    );
    HostTrap::Bounds(s)
}

fn push(ctx: &mut AppCtx, r: Record) -> bool {
    let bytes: usize = ctx.out.records.iter().map(Record::bytes).sum();
    if ctx.out.records.len() >= ctx.cap || bytes + r.bytes() > ctx.cap_bytes {
        return false;
    }
    ctx.out.records.push_back(r);
    true
}

fn i32_at(args: &[Val], i: usize) -> i32 {
    match args.get(i) {
        Some(Val::I32(v)) => *v as i32,
        _ => 0,
    }
}

/// Runs host function `index` of [`NAMES`] for an app: its arguments (typed by the
/// module's validated import), its memory, its context and the fuel left of the call.
pub(crate) fn call(index: usize, args: &[Val], mem: &mut [u8], ctx: &mut AppCtx, fuel: &mut u64) -> Result<Option<Val>, HostTrap> {
    let a = |i| i32_at(args, i);
    let int = |v: i32| Ok(Some(Val::I32(v as u32)));
    match NAMES.get(index).copied() {
        Some("log") => {
            // The whole range must be inside memory; only what is kept is copied.
            let bytes = read(mem, "log", a(1), a(2), 260)?;
            charge(fuel, bytes.len())?;
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            truncate(&mut text, 256);
            let time = (ctx.hooks.now_ms)();
            let level = a(0).clamp(1, 4) as u8;
            if !push(ctx, Record::Log { time, level, text }) {
                ctx.out.dropped_logs += 1;
            }
            Ok(None)
        }
        Some("time_ms") => Ok(Some(Val::I64((ctx.hooks.now_ms)() as u64))),
        Some("gpio_write") => int((ctx.hooks.gpio_write)(a(0), a(1))),
        Some("gpio_read") => int((ctx.hooks.gpio_read)(a(0))),
        Some("publish") => {
            let value = match args.get(2) {
                Some(Val::F64(bits)) => f64::from_bits(*bits),
                _ => f64::NAN,
            };
            let key = read(mem, "publish", a(0), a(1), 65)?;
            charge(fuel, key.len())?;
            // Test images: keys no app can publish (not names) crash the firmware.
            #[cfg(feature = "faults")]
            match &key[..] {
                b"__panic" => panic!("the app asked for a panic"),
                // SAFETY: none; a deliberate bus fault (test images only).
                b"__fault" => unsafe { core::ptr::read_volatile(0xFFFF_FFF0 as *const u32) },
                b"__hang" => loop {
                    core::hint::spin_loop()
                },
                _ => 0,
            };
            let Some(key) = core::str::from_utf8(&key).ok().filter(|k| valid_name(k)) else {
                return int(INVALID);
            };
            if !value.is_finite() {
                return int(INVALID);
            }
            let time = (ctx.hooks.now_ms)();
            if !push(ctx, Record::Value { time, key: key.to_string(), value }) {
                ctx.out.dropped_values += 1;
                return int(BUSY);
            }
            ctx.out.published += 1;
            int(OK)
        }
        Some("config_get") => {
            let (buf_ptr, buf_cap) = (a(2), a(3));
            let key = read(mem, "config_get", a(0), a(1), 65)?;
            charge(fuel, key.len() + buf_cap.clamp(0, 4096) as usize)?;
            // The buffer must be inside memory too, whatever the answer.
            let (bp, bc) = (buf_ptr as u32 as usize, buf_cap as u32 as usize);
            if bp.checked_add(bc).is_none_or(|end| end > mem.len()) {
                return Err(out_of_bounds("config_get", bp, bc, mem.len()));
            }
            let Some(key) = core::str::from_utf8(&key).ok().filter(|k| valid_name(k)) else {
                return int(INVALID);
            };
            let Some(value) = ctx.config.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_bytes()) else {
                return int(NOT_FOUND);
            };
            if value.len() > bc {
                return int(TOO_SMALL);
            }
            mem[bp..bp + value.len()].copy_from_slice(value);
            int(value.len() as i32)
        }
        _ => Err(HostTrap::Bounds("unknown host function".into())),
    }
}
