//! The golden vectors of `protocol/testdata/`, shared with the Go reference: every
//! valid message decodes, matches its JSON twin, and re-encodes byte for byte; the
//! session stream decodes frame by frame; every invalid input fails with the kind
//! `invalid/expect.json` names.

use std::fs;
use std::path::PathBuf;

use base64::Engine;
use serde_json::{json, Map, Value};
use wasmbed_proto::frame::{self, Deframer};
use wasmbed_proto::*;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../protocol/testdata")
}

fn b64(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// The JSON twin of a decoded envelope, in the shape Go's encoding/json writes it.
fn to_json(e: &Envelope) -> Value {
    let body = match &e.msg {
        Message::Hello(m) => {
            let mut o = json!({
                "abi_version": m.abi_version, "board": m.board, "firmware": m.firmware,
                "ram_free": m.ram_free, "flash_free": m.flash_free, "max_frame": m.max_frame,
                "features": m.features,
            });
            if !m.apps.is_empty() {
                o["apps"] = m
                    .apps
                    .iter()
                    .map(|a| {
                        let mut r = json!({"app": a.app, "version": a.version, "generation": a.generation,
                               "state": a.state as u8, "sha256": b64(a.sha256)});
                        if !a.detail.is_empty() {
                            r["detail"] = json!(a.detail);
                        }
                        r
                    })
                    .collect();
            }
            if let Some(r) = &m.reset {
                let mut j = json!({"cause": r.cause as u8, "boots": r.boots, "unexpected": r.unexpected});
                if !r.detail.is_empty() {
                    j["detail"] = json!(r.detail);
                }
                if r.safe_mode {
                    j["safe_mode"] = json!(true);
                }
                if r.boot_id != 0 {
                    j["boot_id"] = json!(r.boot_id);
                }
                o["reset"] = j;
            }
            o
        }
        Message::Welcome(m) => json!({"device": m.device, "time": m.time, "heartbeat_ms": m.heartbeat_ms,
                                      "max_frame": m.max_frame, "gateway": m.gateway}),
        Message::Enroll(m) => json!({"device": m.device, "token": m.token, "csr": b64(m.csr)}),
        Message::Certificate(m) => {
            json!({"chain": m.chain.iter().map(|c| b64(c)).collect::<Vec<_>>(), "not_after": m.not_after})
        }
        Message::Renew(m) => json!({"csr": b64(m.csr)}),
        Message::Heartbeat(m) => {
            let mut o = json!({"seq": m.seq, "uptime_ms": m.uptime_ms, "ram_free": m.ram_free});
            if !m.apps.is_empty() {
                o["apps"] = m
                    .apps
                    .iter()
                    .map(|a| {
                        json!({"app": a.app, "generation": a.generation, "calls": a.calls, "fuel": a.fuel,
                               "call_us": a.call_us, "traps": a.traps, "memory": a.memory,
                               "memory_peak": a.memory_peak, "starts": a.starts,
                               "instantiate_us": a.instantiate_us, "published": a.published})
                    })
                    .collect();
            }
            o
        }
        Message::HeartbeatAck(m) => json!({"seq": m.seq, "time": m.time}),
        Message::Deploy(m) => {
            let mut o = json!({
                "app": m.app, "generation": m.generation, "version": m.version, "sha256": b64(m.sha256),
                "size": m.size, "limits": {"fuel": m.limits.fuel, "memory": m.limits.memory, "tick_ms": m.limits.tick_ms},
                "start": m.start,
            });
            if !m.config.is_empty() {
                o["config"] = Value::Object(m.config.iter().map(|(k, v)| (k.to_string(), json!(v))).collect());
            }
            o
        }
        Message::ModuleChunk(m) => {
            json!({"app": m.app, "generation": m.generation, "offset": m.offset, "data": b64(m.data)})
        }
        Message::TransferProgress(m) => json!({"app": m.app, "generation": m.generation, "offset": m.offset}),
        Message::Start(m) | Message::Stop(m) | Message::Remove(m) => json!({"app": m.app, "generation": m.generation}),
        Message::AppStatus(m) => {
            let mut o = json!({"app": m.app, "generation": m.generation, "state": m.state as u8, "version": m.version});
            if !m.detail.is_empty() {
                o["detail"] = json!(m.detail);
            }
            o
        }
        Message::AppOutput(m) => {
            let mut o = json!({"app": m.app, "seq": m.seq});
            if !m.logs.is_empty() {
                o["logs"] = m.logs.iter().map(|l| json!({"time": l.time, "level": l.level, "text": l.text})).collect();
            }
            if !m.values.is_empty() {
                o["values"] =
                    m.values.iter().map(|v| json!({"time": v.time, "key": v.key, "value": v.value})).collect();
            }
            o
        }
        Message::Error(m) if m.gateways.is_empty() => json!({"code": m.code, "message": m.message}),
        Message::Error(m) => json!({"code": m.code, "message": m.message, "gateways": m.gateways}),
    };
    json!({"type": e.msg.msg_type().name(), "request_id": e.request_id, "body": body})
}

/// JSON equality with numbers compared by value (Go writes 70000 for the float 70000.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn vector_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(testdata())
        .expect("protocol/testdata")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".cbor").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn golden_vectors_round_trip_byte_for_byte() {
    let names = vector_names();
    assert!(names.len() >= 16, "expected at least one vector per message type, found {names:?}");
    let mut types = std::collections::BTreeSet::new();
    for name in &names {
        let raw = fs::read(testdata().join(format!("{name}.cbor"))).unwrap();
        let env = Envelope::decode(&raw).unwrap_or_else(|e| panic!("{name}: decode: {e}"));
        types.insert(env.msg.msg_type() as u8);
        let again = env.to_vec().unwrap_or_else(|e| panic!("{name}: encode: {e}"));
        assert_eq!(hex(&again), hex(&raw), "{name}: re-encoding differs");
        // Into a fixed buffer, as the device does.
        let mut buf = [0u8; 512];
        let n = env.encode(&mut buf).unwrap();
        assert_eq!(&buf[..n], &raw[..], "{name}: encode into a buffer differs");
        // And a buffer too small is an error, not a panic.
        assert_eq!(env.encode(&mut buf[..raw.len() - 1]), Err(EncodeError::BufferFull), "{name}");

        let twin: Value = serde_json::from_slice(&fs::read(testdata().join(format!("{name}.json"))).unwrap()).unwrap();
        let got = to_json(&env);
        assert!(same(&got, &twin), "{name}: fields differ from the JSON twin\n got: {got}\nwant: {twin}");
    }
    assert_eq!(types.len(), 16, "every message type has a vector");
}

#[test]
fn session_stream_decodes_frame_by_frame() {
    let stream = fs::read(testdata().join("session.bin")).unwrap();
    let order: Vec<String> = serde_json::from_slice(&fs::read(testdata().join("session.json")).unwrap()).unwrap();

    // All at once.
    let mut rest = &stream[..];
    let mut i = 0;
    while !rest.is_empty() {
        let (payload, tail) = frame::split(rest, limits::MAX_FRAME_SIZE as usize).unwrap();
        let want = fs::read(testdata().join(format!("{}.cbor", order[i]))).unwrap();
        assert_eq!(payload, &want[..], "frame {i} ({})", order[i]);
        let env = Envelope::decode(payload).unwrap();
        let mut framed = vec![0u8; payload.len() + 4];
        assert_eq!(env.encode_frame(&mut framed).unwrap(), framed.len());
        assert_eq!(&framed[..], &rest[..framed.len()], "frame {i}: re-framed differs");
        rest = tail;
        i += 1;
    }
    assert_eq!(i, order.len());

    // A byte at a time, as a UART delivers it.
    let mut buf = vec![0u8; 4 + 16384];
    let mut df = Deframer::new(&mut buf, 16384);
    let mut got = Vec::new();
    for b in &stream {
        assert_eq!(df.push(std::slice::from_ref(b)).unwrap(), 1);
        if let Some(p) = df.take() {
            got.push(Envelope::decode(p).unwrap().msg.msg_type().name().to_string());
        }
    }
    assert!(df.idle());
    let want_types: Vec<String> = order
        .iter()
        .map(|n| {
            let raw = fs::read(testdata().join(format!("{n}.cbor"))).unwrap();
            Envelope::decode(&raw).unwrap().msg.msg_type().name().to_string()
        })
        .collect();
    assert_eq!(got, want_types);
}

/// Reads a frame stream to its end, decoding each payload.
fn read_stream(mut b: &[u8]) -> Result<usize, DecodeError> {
    let mut n = 0;
    while !b.is_empty() {
        let (payload, rest) = frame::split(b, limits::MAX_FRAME_SIZE as usize)?;
        Envelope::decode(payload)?;
        b = rest;
        n += 1;
    }
    Ok(n)
}

#[test]
fn invalid_inputs_fail_with_the_expected_kind() {
    let dir = testdata().join("invalid");
    let expect: Map<String, Value> = serde_json::from_slice(&fs::read(dir.join("expect.json")).unwrap()).unwrap();
    let on_disk = fs::read_dir(&dir).unwrap().filter(|e| e.as_ref().unwrap().file_name() != "expect.json").count();
    assert_eq!(on_disk, expect.len(), "every file in invalid/ is listed in expect.json");
    for (file, want) in &expect {
        let b = fs::read(dir.join(file)).unwrap();
        let err = if file.ends_with(".bin") { read_stream(&b).err() } else { Envelope::decode(&b).err() };
        let err = err.unwrap_or_else(|| panic!("{file}: decoded without error"));
        assert_eq!(err.kind.name(), want["kind"].as_str().unwrap(), "{file}: {err}");
        // The request id an error answer echoes: the message's when it could be read (no
        // message is read from a bad frame header or a cut frame).
        let id = match frame::split(&b, limits::MAX_FRAME_SIZE as usize) {
            _ if !file.ends_with(".bin") => peek_request_id(&b),
            Ok((payload, _)) => peek_request_id(payload),
            Err(_) => 0,
        };
        assert_eq!(id, want["request_id"].as_u64().unwrap(), "{file}: request id");
        // The code an answer would carry.
        let code = err.kind.code();
        assert!(matches!(code, ErrorCode::Malformed | ErrorCode::Unsupported | ErrorCode::Invalid));
    }
}

/// A device decodes only what a gateway sends and encodes only what a device sends
/// (`decode_on_device`, `encode_frame_from_device`): the same results as the full
/// decoder and encoder for those, and the other direction refused without decoding.
#[test]
fn a_device_reads_and_writes_one_direction() {
    let mut both = Vec::new();
    for n in 1..=16u64 {
        let t = MsgType::from_u64(n).unwrap();
        assert!(t.to_device() || t.from_device(), "{}", t.name());
        if t.to_device() && t.from_device() {
            both.push(t.name());
        }
    }
    assert_eq!(both, ["error"]);
    for name in vector_names() {
        let raw = fs::read(testdata().join(format!("{name}.cbor"))).unwrap();
        let env = Envelope::decode(&raw).unwrap();
        let t = env.msg.msg_type();
        match Envelope::decode_on_device(&raw).unwrap() {
            Ok(e) => assert!(t.to_device() && e == env, "{name}"),
            Err((got, id)) => assert!(!t.to_device() && got == t && id == env.request_id, "{name}"),
        }
        let mut a = vec![0u8; raw.len() + 4];
        let mut b = vec![0u8; raw.len() + 4];
        let full = env.encode_frame(&mut a).unwrap();
        match env.encode_frame_from_device(&mut b) {
            Ok(n) => assert!(t.from_device() && a[..full] == b[..n], "{name}"),
            Err(e) => assert!(!t.from_device() && matches!(e, EncodeError::Invalid(_)), "{name}: {e}"),
        }
    }
    // Bad input: the same error, except a device does not read the body of a message
    // only devices send.
    let dir = testdata().join("invalid");
    for e in fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "cbor") {
            continue;
        }
        let b = fs::read(&path).unwrap();
        let want = Envelope::decode(&b).unwrap_err();
        match Envelope::decode_on_device(&b) {
            Err(got) => assert_eq!(got.kind, want.kind, "{}", path.display()),
            Ok(Err((t, _))) => assert!(!t.to_device(), "{}", path.display()),
            Ok(Ok(_)) => panic!("{}: decoded on a device", path.display()),
        }
    }
}

#[test]
fn encoder_refuses_what_a_decoder_would_refuse() {
    let bad = Envelope::new(1, Message::Start(AppCommand { app: "sensor", generation: 0 }));
    assert!(matches!(bad.to_vec(), Err(EncodeError::Invalid(e)) if e.kind == ErrorKind::Invalid));
    let nan = Envelope::new(
        0,
        Message::AppOutput(AppOutput {
            app: "a",
            seq: 1,
            values: vec![ValueRecord { time: 0, key: "k", value: f64::NAN }],
            ..Default::default()
        }),
    );
    assert!(nan.to_vec().is_err());
}

#[test]
fn floats_use_the_shortest_form_that_keeps_the_value() {
    let cases: &[(f64, &str)] = &[
        (0.0, "f90000"),
        (-0.0, "f98000"),
        (1.0, "f93c00"),
        (21.5, "f94d60"),
        (65504.0, "f97bff"),
        (70000.0, "fa4788b800"),
        (0.1, "fb3fb999999999999a"),
        (5.960464477539063e-8, "f90001"), // smallest half subnormal
        (1.0e-40, "fb37a16c262777579c"), // f32 cannot keep it exactly
        (1.0e-45, "fb3696d601ad376ab9"),
        (1.5e-5, "fb3eef75104d551d69"),
        (3.4028234663852886e38, "fa7f7fffff"),
    ];
    // Expected bytes are what fxamacker/cbor's core deterministic mode writes (checked
    // against the Go reference).
    for &(v, want) in cases {
        let e = Envelope::new(
            0,
            Message::AppOutput(AppOutput {
                app: "a",
                seq: 0,
                values: vec![ValueRecord { time: 0, key: "k", value: v }],
                ..Default::default()
            }),
        );
        let b = e.to_vec().unwrap();
        // [15, 0, {1: "a", 2: 0, 4: [{1: 0, 2: "k", 3: <float>}]}]
        let tail = hex(&b[b.len() - want.len() / 2..]);
        assert_eq!(tail, want, "{v}");
        let back = Envelope::decode(&b).unwrap();
        let Message::AppOutput(o) = back.msg else { panic!() };
        assert_eq!(o.values[0].value.to_bits(), v.to_bits(), "{v} round trip");
    }
}

#[test]
fn unknown_keys_are_ignored_and_missing_fields_are_zero() {
    // [6, 1, {1: 5, 99: [1, {"x": h'00'}], "k": 1}] : heartbeat with unknown keys of all kinds
    let b = [0x83, 0x06, 0x01, 0xa3, 0x01, 0x05, 0x18, 0x63, 0x82, 0x01, 0xa1, 0x61, b'x', 0x41, 0x00, 0x61, b'k', 0x01];
    let e = Envelope::decode(&b).unwrap();
    assert_eq!(e.msg, Message::Heartbeat(Heartbeat { seq: 5, uptime_ms: 0, ram_free: 0, apps: Vec::new() }));
    // Duplicate text keys are refused too.
    let dup = [0x83, 0x06, 0x01, 0xa2, 0x61, b'k', 0x01, 0x61, b'k', 0x02];
    assert_eq!(Envelope::decode(&dup).unwrap_err().kind, ErrorKind::Malformed);
}

#[test]
fn config_is_written_in_deterministic_key_order() {
    let sha = [0xab; 32];
    let e = Envelope::new(
        1,
        Message::Deploy(Deploy {
            app: "a",
            generation: 1,
            version: "1",
            sha256: &sha,
            size: 1,
            limits: Limits { fuel: 1, memory: 1, tick_ms: 0 },
            config: vec![("period_ms", "1"), ("zz", "2"), ("pin", "3"), ("b", "4")],
            start: false,
        }),
    );
    let b = e.to_vec().unwrap();
    let back = Envelope::decode(&b).unwrap();
    let Message::Deploy(d) = back.msg else { panic!() };
    let keys: Vec<&str> = d.config.iter().map(|c| c.0).collect();
    assert_eq!(keys, ["b", "zz", "pin", "period_ms"]);
    assert_eq!(back.request_id, 1);
}

#[test]
fn reset_reports_and_app_details() {
    // The hello a device sends after a crash, as the golden vector pins it.
    let sha = [0xab; 32];
    let hello = Hello {
        abi_version: 1,
        board: "stm32f4-discovery",
        firmware: "0.2.0",
        ram_free: 65536,
        flash_free: 262144,
        max_frame: 4096,
        features: vec!["log", "time", "gpio", "publish", "config"],
        apps: vec![AppReport {
            app: "sensor",
            version: "1.3.0",
            generation: 4,
            state: AppState::Failed,
            sha256: &sha,
            detail: "crashed: watchdog in tick",
        }],
        reset: Some(ResetReport {
            cause: ResetCause::Watchdog,
            detail: "app sensor in tick",
            boots: 3,
            unexpected: 1,
            safe_mode: false,
            boot_id: 0,
        }),
    };
    let env = Envelope::new(1, Message::Hello(hello));
    let mut buf = [0u8; 512];
    let n = env.encode_frame_from_device(&mut buf).unwrap();
    let want = fs::read(testdata().join("hello_after_crash.cbor")).unwrap();
    assert_eq!(hex(&buf[4..n]), hex(&want));

    // After a power cut: power_on, boot 1, told from the boot before by its boot id.
    let hello = Hello {
        abi_version: 1,
        board: "stm32f4-discovery",
        firmware: "0.2.0",
        ram_free: 65536,
        flash_free: 262144,
        max_frame: 4096,
        features: vec!["log", "time", "gpio", "publish", "config"],
        apps: vec![],
        reset: Some(ResetReport { cause: ResetCause::PowerOn, boots: 1, boot_id: 0x9e37_79b9, ..Default::default() }),
    };
    let n = Envelope::new(1, Message::Hello(hello)).encode_frame_from_device(&mut buf).unwrap();
    let want = fs::read(testdata().join("hello_power_on.cbor")).unwrap();
    assert_eq!(hex(&buf[4..n]), hex(&want));
    let Message::Hello(h) = Envelope::decode(&want).unwrap().msg else { panic!() };
    assert_eq!(h.reset.unwrap().boot_id, 0x9e37_79b9);

    // Without the optional fields: an older device's hello, byte for byte.
    let raw = fs::read(testdata().join("hello_with_apps.cbor")).unwrap();
    let Message::Hello(h) = Envelope::decode(&raw).unwrap().msg else { panic!() };
    assert!(h.reset.is_none() && h.apps[0].detail.is_empty());
    let raw = fs::read(testdata().join("hello_after_crash.cbor")).unwrap();
    let Message::Hello(h) = Envelope::decode(&raw).unwrap().msg else { panic!() };
    assert_eq!(h.reset.unwrap().boot_id, 0, "no boot id: 0");

    // boots 0 is refused when encoding too.
    let bad = Envelope::new(
        1,
        Message::Hello(Hello {
            abi_version: 1,
            board: "b",
            max_frame: limits::MIN_FRAME_SIZE,
            reset: Some(ResetReport { cause: ResetCause::PowerOn, boots: 0, ..Default::default() }),
            ..Default::default()
        }),
    );
    assert!(matches!(bad.to_vec(), Err(EncodeError::Invalid(e)) if e.kind == ErrorKind::Invalid));

    let names: Vec<&str> = (0..8).map(|n| ResetCause::from_u8(n).unwrap().name()).collect();
    assert_eq!(names, ["unknown", "power_on", "requested", "pin", "watchdog", "panic", "hard_fault", "brown_out"]);
    let unexpected: Vec<bool> = (0..8).map(|n| ResetCause::from_u8(n).unwrap().unexpected()).collect();
    assert_eq!(unexpected, [false, false, false, false, true, true, true, true]);
    assert!(ResetCause::from_u8(8).is_none());
}

#[test]
fn deframer_reports_bad_headers() {
    let mut buf = [0u8; 4 + 512];
    let mut df = Deframer::new(&mut buf, 512);
    assert_eq!(df.push(&[1, 0, 0x02, 0x01]).unwrap_err().kind, ErrorKind::FrameTooLarge);
    let mut df = Deframer::new(&mut buf, 512);
    assert_eq!(df.push(&[2, 0, 0, 1]).unwrap_err().kind, ErrorKind::UnsupportedVersion);
    assert!(!ErrorKind::UnsupportedVersion.recoverable());
    assert!(ErrorKind::Invalid.recoverable());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// wrong_gateway may name the gateway that serves the device (key 3, optional): it
// round-trips, and a receiver that reads an error without it sees an empty list.
#[test]
fn error_names_the_gateway_to_go_to() {
    let m = Envelope::new(
        1,
        Message::Error(Error {
            code: ErrorCode::WrongGateway as u16,
            message: "device d is served by gateway gw-b",
            gateways: vec!["10.0.0.2:8081", "gw-b.example:8081"],
        }),
    );
    let raw = m.to_vec().unwrap();
    let back = Envelope::decode(&raw).unwrap();
    match back.msg {
        Message::Error(e) => {
            assert_eq!(e.code(), Some(ErrorCode::WrongGateway));
            assert_eq!(e.gateways, ["10.0.0.2:8081", "gw-b.example:8081"]);
        }
        m => panic!("decoded {m:?}"),
    }
    let plain = Envelope::new(1, Message::Error(Error { code: 4, message: "no", gateways: Vec::new() })).to_vec().unwrap();
    match Envelope::decode(&plain).unwrap().msg {
        Message::Error(e) => assert!(e.gateways.is_empty()),
        m => panic!("decoded {m:?}"),
    }
    let many = Envelope::new(1, Message::Error(Error { code: 13, message: "x", gateways: vec!["h:1"; 17] }));
    assert!(matches!(many.to_vec(), Err(EncodeError::Invalid(e)) if e.kind == ErrorKind::Invalid));
}
