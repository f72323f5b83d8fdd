//! The `wasmbed` v1 host functions (`docs/abi.md`).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wasmi::core::Trap as Error;
use wasmi::{Caller, Linker};
use wasmbed_proto::valid_name;

use crate::{truncate, AppCtx, Record};

/// Every function of the ABI table (all five features are offered).
pub(crate) const NAMES: &[&str] = &["log", "time_ms", "gpio_write", "gpio_read", "publish", "config_get"];

/// The host ABI's features, as `hello` lists them.
pub const FEATURES: &[&str] = &["log", "time", "gpio", "publish", "config"];

const OK: i32 = 0;
const INVALID: i32 = -1;
const NOT_FOUND: i32 = -2;
const TOO_SMALL: i32 = -3;
const BUSY: i32 = -4;

/// Copies `[ptr, ptr+len)` of the app's memory, trapping if it is not inside it.
/// At most `keep` bytes are copied (a longer key is no name; a log line is cut to 256).
fn read(caller: &Caller<'_, AppCtx>, func: &str, ptr: i32, len: i32, keep: usize) -> Result<Vec<u8>, Error> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    let mem = caller.data().memory;
    let data: &[u8] = match mem {
        Some(m) => m.data(caller),
        None => &[],
    };
    match data.get(ptr..ptr.wrapping_add(len)) {
        Some(b) if ptr.checked_add(len).is_some() => Ok(b[..b.len().min(keep)].to_vec()),
        _ => Err(out_of_bounds(func, ptr, len, data.len())),
    }
}

/// Host functions cost fuel for their work (the bytes they copy), so that a call's fuel
/// bounds its time whatever it calls.
fn charge(caller: &mut Caller<'_, AppCtx>, bytes: usize) -> Result<(), Error> {
    caller.consume_fuel(32 + bytes as u64).map(|_| ()).map_err(|_| Error::from(wasmi::core::TrapCode::OutOfFuel))
}

fn out_of_bounds(func: &str, ptr: usize, len: usize, size: usize) -> Error {
    let mut s = String::new();
    let _ = core::fmt::write(
        &mut s,
        format_args!("wasmbed.{func}: [{ptr}, {}) is outside the app's memory of {size} bytes", ptr as u64 + len as u64),
    );
    Error::new(s)
}

fn push(ctx: &mut AppCtx, r: Record) -> bool {
    let bytes: usize = ctx.out.records.iter().map(Record::bytes).sum();
    if ctx.out.records.len() >= ctx.cap || bytes + r.bytes() > ctx.cap_bytes {
        return false;
    }
    ctx.out.records.push_back(r);
    true
}

pub(crate) fn define(linker: &mut Linker<AppCtx>) {
    let m = "wasmbed";
    linker
        .func_wrap(m, "log", |mut caller: Caller<'_, AppCtx>, level: i32, ptr: i32, len: i32| -> Result<(), Error> {
            // The whole range must be inside memory; only what is kept is copied.
            let bytes = read(&caller, "log", ptr, len, 260)?;
            charge(&mut caller, bytes.len())?;
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            truncate(&mut text, 256);
            let ctx = caller.data_mut();
            let time = (ctx.hooks.now_ms)();
            let level = level.clamp(1, 4) as u8;
            if !push(ctx, Record::Log { time, level, text }) {
                ctx.out.dropped_logs += 1;
            }
            Ok(())
        })
        .unwrap();
    linker.func_wrap(m, "time_ms", |caller: Caller<'_, AppCtx>| -> i64 { (caller.data().hooks.now_ms)() }).unwrap();
    linker
        .func_wrap(m, "gpio_write", |caller: Caller<'_, AppCtx>, pin: i32, value: i32| -> i32 {
            (caller.data().hooks.gpio_write)(pin, value)
        })
        .unwrap();
    linker
        .func_wrap(m, "gpio_read", |caller: Caller<'_, AppCtx>, pin: i32| -> i32 { (caller.data().hooks.gpio_read)(pin) })
        .unwrap();
    linker
        .func_wrap(
            m,
            "publish",
            |mut caller: Caller<'_, AppCtx>, key_ptr: i32, key_len: i32, value: wasmi::core::F64| -> Result<i32, Error> {
                let value = f64::from(value);
                let key = read(&caller, "publish", key_ptr, key_len, 65)?;
                charge(&mut caller, key.len())?;
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
                    return Ok(INVALID);
                };
                if !value.is_finite() {
                    return Ok(INVALID);
                }
                let ctx = caller.data_mut();
                let time = (ctx.hooks.now_ms)();
                if !push(ctx, Record::Value { time, key: key.to_string(), value }) {
                    ctx.out.dropped_values += 1;
                    return Ok(BUSY);
                }
                Ok(OK)
            },
        )
        .unwrap();
    linker
        .func_wrap(
            m,
            "config_get",
            |mut caller: Caller<'_, AppCtx>, key_ptr: i32, key_len: i32, buf_ptr: i32, buf_cap: i32| -> Result<i32, Error> {
                let key = read(&caller, "config_get", key_ptr, key_len, 65)?;
                charge(&mut caller, key.len() + buf_cap.clamp(0, 4096) as usize)?;
                // The buffer must be inside memory too, whatever the answer.
                let size = caller.data().memory.map(|m| m.data(&caller).len()).unwrap_or(0);
                let (bp, bc) = (buf_ptr as u32 as usize, buf_cap as u32 as usize);
                if bp.checked_add(bc).is_none_or(|end| end > size) {
                    return Err(out_of_bounds("config_get", bp, bc, size));
                }
                let Some(key) = core::str::from_utf8(&key).ok().filter(|k| valid_name(k)) else {
                    return Ok(INVALID);
                };
                let Some(value) = caller.data().config.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()) else {
                    return Ok(NOT_FOUND);
                };
                if value.len() > bc {
                    return Ok(TOO_SMALL);
                }
                let mem = caller.data().memory.unwrap();
                mem.data_mut(&mut caller)[bp..bp + value.len()].copy_from_slice(value.as_bytes());
                Ok(value.len() as i32)
            },
        )
        .unwrap();
}
