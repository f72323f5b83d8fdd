//! The messages, their deterministic encoding and their decoding.

use alloc::vec::Vec;

use minicbor::encode::write::{Cursor, Write};
use minicbor::Decoder;

use crate::cbor::{self, put_float, Enc, MapReader};
use crate::error::{DecodeError, EncodeError, ErrorCode, ErrorKind};
use crate::limits::*;
use crate::validate as v;

/// Wire numbers of the message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MsgType {
    Hello = 1,
    Welcome = 2,
    Enroll = 3,
    Certificate = 4,
    Renew = 5,
    Heartbeat = 6,
    HeartbeatAck = 7,
    Deploy = 8,
    ModuleChunk = 9,
    TransferProgress = 10,
    Start = 11,
    Stop = 12,
    Remove = 13,
    AppStatus = 14,
    AppOutput = 15,
    Error = 16,
}

impl MsgType {
    pub const fn from_u64(n: u64) -> Option<Self> {
        use MsgType::*;
        Some(match n {
            1 => Hello,
            2 => Welcome,
            3 => Enroll,
            4 => Certificate,
            5 => Renew,
            6 => Heartbeat,
            7 => HeartbeatAck,
            8 => Deploy,
            9 => ModuleChunk,
            10 => TransferProgress,
            11 => Start,
            12 => Stop,
            13 => Remove,
            14 => AppStatus,
            15 => AppOutput,
            16 => Error,
            _ => return None,
        })
    }

    /// Whether a gateway sends this type to devices (`error` goes both ways).
    pub const fn to_device(self) -> bool {
        use MsgType::*;
        matches!(self, Welcome | Certificate | HeartbeatAck | Deploy | ModuleChunk | Start | Stop | Remove | Error)
    }

    /// Whether a device sends this type to its gateway (`error` goes both ways).
    pub const fn from_device(self) -> bool {
        use MsgType::*;
        matches!(self, Hello | Enroll | Renew | Heartbeat | TransferProgress | AppStatus | AppOutput | Error)
    }

    /// The name used in logs and in the golden vectors' JSON twins.
    pub const fn name(self) -> &'static str {
        use MsgType::*;
        match self {
            Hello => "hello",
            Welcome => "welcome",
            Enroll => "enroll",
            Certificate => "certificate",
            Renew => "renew",
            Heartbeat => "heartbeat",
            HeartbeatAck => "heartbeat_ack",
            Deploy => "deploy",
            ModuleChunk => "module_chunk",
            TransferProgress => "transfer_progress",
            Start => "start",
            Stop => "stop",
            Remove => "remove",
            AppStatus => "app_status",
            AppOutput => "app_output",
            Error => "error",
        }
    }
}

/// Lifecycle state of an app on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum AppState {
    #[default]
    Unknown = 0,
    Downloading = 1,
    Installed = 2,
    Running = 3,
    Stopped = 4,
    Trapped = 5,
    FuelExhausted = 6,
    OutOfMemory = 7,
    Removed = 8,
    Failed = 9,
}

impl AppState {
    pub const fn from_u8(n: u8) -> Option<Self> {
        use AppState::*;
        Some(match n {
            0 => Unknown,
            1 => Downloading,
            2 => Installed,
            3 => Running,
            4 => Stopped,
            5 => Trapped,
            6 => FuelExhausted,
            7 => OutOfMemory,
            8 => Removed,
            9 => Failed,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        use AppState::*;
        match self {
            Unknown => "unknown",
            Downloading => "downloading",
            Installed => "installed",
            Running => "running",
            Stopped => "stopped",
            Trapped => "trapped",
            FuelExhausted => "fuel_exhausted",
            OutOfMemory => "out_of_memory",
            Removed => "removed",
            Failed => "failed",
        }
    }
}

/// Why a device last reset (`hello.reset.cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum ResetCause {
    #[default]
    Unknown = 0,
    PowerOn = 1,
    Requested = 2,
    Pin = 3,
    Watchdog = 4,
    Panic = 5,
    HardFault = 6,
    BrownOut = 7,
}

impl ResetCause {
    pub const fn from_u8(n: u8) -> Option<Self> {
        use ResetCause::*;
        Some(match n {
            0 => Unknown,
            1 => PowerOn,
            2 => Requested,
            3 => Pin,
            4 => Watchdog,
            5 => Panic,
            6 => HardFault,
            7 => BrownOut,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        use ResetCause::*;
        match self {
            Unknown => "unknown",
            PowerOn => "power_on",
            Requested => "requested",
            Pin => "pin",
            Watchdog => "watchdog",
            Panic => "panic",
            HardFault => "hard_fault",
            BrownOut => "brown_out",
        }
    }

    /// Whether the firmware did not choose this reset (watchdog, panic, hard fault,
    /// brown-out).
    pub const fn unexpected(self) -> bool {
        matches!(self, ResetCause::Watchdog | ResetCause::Panic | ResetCause::HardFault | ResetCause::BrownOut)
    }
}

/// Unexpected resets in a row after which a device boots in safe mode.
pub const SAFE_MODE_AFTER: u32 = 3;

/// Log levels (the host ABI's and `app_output`'s).
pub mod level {
    pub const ERROR: u8 = 1;
    pub const WARN: u8 = 2;
    pub const INFO: u8 = 3;
    pub const DEBUG: u8 = 4;
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppReport<'a> {
    pub app: &'a str,
    pub version: &'a str,
    pub generation: u64,
    pub state: AppState,
    pub sha256: &'a [u8],
    /// Optional: left out when empty. Why the app is in its state.
    pub detail: &'a str,
}

/// `hello.reset`: why the device last reset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResetReport<'a> {
    pub cause: ResetCause,
    /// Optional: left out when empty.
    pub detail: &'a str,
    /// Boots since the last power-on, this one included; at least 1.
    pub boots: u32,
    /// Unexpected resets in a row without a stable period in between; 0 after an
    /// expected reset.
    pub unexpected: u32,
    /// Optional: left out when false.
    pub safe_mode: bool,
    /// Optional: left out when 0. Picked at random at each boot (never 0), so that
    /// two boots with the same cause and boot count (two power-ons) differ.
    pub boot_id: u32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hello<'a> {
    pub abi_version: u32,
    pub board: &'a str,
    pub firmware: &'a str,
    pub ram_free: u32,
    pub flash_free: u32,
    pub max_frame: u32,
    pub features: Vec<&'a str>,
    /// Optional: left out when empty.
    pub apps: Vec<AppReport<'a>>,
    /// Optional: left out when `None`.
    pub reset: Option<ResetReport<'a>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Welcome<'a> {
    pub device: &'a str,
    pub time: i64,
    pub heartbeat_ms: u32,
    pub max_frame: u32,
    pub gateway: &'a str,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Enroll<'a> {
    pub device: &'a str,
    pub token: &'a str,
    pub csr: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Certificate<'a> {
    pub chain: Vec<&'a [u8]>,
    pub not_after: i64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Renew<'a> {
    pub csr: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Heartbeat<'a> {
    pub seq: u64,
    pub uptime_ms: u64,
    pub ram_free: u32,
    /// What the runtime measured of each installed app. Optional: left out when empty.
    pub apps: Vec<AppMetrics<'a>>,
}

/// What a device's runtime measured of one app, counted from the install of this
/// generation on this boot (`docs/protocol.md`, `heartbeat`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppMetrics<'a> {
    pub app: &'a str,
    pub generation: u64,
    /// `init` and `tick` calls.
    pub calls: u64,
    /// Fuel those calls used.
    pub fuel: u64,
    /// Time spent in those calls, microseconds.
    pub call_us: u64,
    /// Times the runtime stopped the app (trap, fuel used up, memory limit).
    pub traps: u64,
    /// Bytes of linear memory now (0 when not running), and the most it had.
    pub memory: u32,
    pub memory_peak: u32,
    /// Instantiations, and how long the last one took, microseconds.
    pub starts: u64,
    pub instantiate_us: u32,
    /// Values published (accepted by `publish`).
    pub published: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeartbeatAck {
    pub seq: u64,
    pub time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub fuel: u64,
    pub memory: u32,
    pub tick_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deploy<'a> {
    pub app: &'a str,
    pub generation: u64,
    pub version: &'a str,
    pub sha256: &'a [u8],
    pub size: u32,
    pub limits: Limits,
    /// Optional: left out when empty. Encoded in deterministic key order whatever the
    /// order here.
    pub config: Vec<(&'a str, &'a str)>,
    pub start: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModuleChunk<'a> {
    pub app: &'a str,
    pub generation: u64,
    pub offset: u32,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransferProgress<'a> {
    pub app: &'a str,
    pub generation: u64,
    pub offset: u32,
}

/// The body of `start`, `stop` and `remove`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppCommand<'a> {
    pub app: &'a str,
    pub generation: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppStatus<'a> {
    pub app: &'a str,
    pub generation: u64,
    pub state: AppState,
    pub version: &'a str,
    /// Optional: left out when empty.
    pub detail: &'a str,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRecord<'a> {
    pub time: i64,
    pub level: u8,
    pub text: &'a str,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueRecord<'a> {
    pub time: i64,
    pub key: &'a str,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppOutput<'a> {
    pub app: &'a str,
    pub seq: u64,
    /// Optional: left out when empty.
    pub logs: Vec<LogRecord<'a>>,
    /// Optional: left out when empty.
    pub values: Vec<ValueRecord<'a>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Error<'a> {
    /// An [`ErrorCode`] number (a newer peer may send one this crate does not know).
    pub code: u16,
    pub message: &'a str,
    /// Optional, with `wrong_gateway`: the device addresses (host:port) of the gateway
    /// that serves the device; a device whose bundle lists one goes there next.
    pub gateways: Vec<&'a str>,
}

/// At most this many addresses in [`Error::gateways`].
pub const MAX_ERROR_GATEWAYS: usize = 16;

impl Error<'_> {
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::from_u16(self.code)
    }
}

/// One message body.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    Hello(Hello<'a>),
    Welcome(Welcome<'a>),
    Enroll(Enroll<'a>),
    Certificate(Certificate<'a>),
    Renew(Renew<'a>),
    Heartbeat(Heartbeat<'a>),
    HeartbeatAck(HeartbeatAck),
    Deploy(Deploy<'a>),
    ModuleChunk(ModuleChunk<'a>),
    TransferProgress(TransferProgress<'a>),
    Start(AppCommand<'a>),
    Stop(AppCommand<'a>),
    Remove(AppCommand<'a>),
    AppStatus(AppStatus<'a>),
    AppOutput(AppOutput<'a>),
    Error(Error<'a>),
}

/// A message with its request id: the payload of one frame, `[type, request_id, body]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    pub request_id: u64,
    pub msg: Message<'a>,
}

/// Which messages a decoding or encoding handles: all of them ([`Envelope::decode`],
/// [`Envelope::encode_frame`]: the reference, the tests), or one direction only
/// ([`Envelope::decode_on_device`], [`Envelope::encode_frame_from_device`]). The side is a
/// constant, so a device build, which uses only the latter, leaves the code of the other
/// direction out of its image (about 8 KB on a Cortex-M4).
const ALL: u8 = 0;
const TO_DEVICE: u8 = 1;
const FROM_DEVICE: u8 = 2;

/// Whether `side` handles messages of type `t`.
const fn handles(side: u8, t: MsgType) -> bool {
    match side {
        TO_DEVICE => t.to_device(),
        FROM_DEVICE => t.from_device(),
        _ => true,
    }
}

impl<'a> Envelope<'a> {
    pub fn new(request_id: u64, msg: Message<'a>) -> Self {
        Envelope { request_id, msg }
    }

    /// Decodes one payload (no frame header). Strings and byte strings borrow from `b`.
    pub fn decode(b: &'a [u8]) -> Result<Self, DecodeError> {
        match Self::decode_side::<ALL>(b)? {
            Ok(env) => Ok(env),
            Err(_) => Err(DecodeError::new(ErrorKind::UnknownType, "unassigned message type")), // not reached
        }
    }

    /// Decodes a payload as a device reads it: the messages a gateway sends (and `error`)
    /// as [`Envelope::decode`] does. A well-formed message of a type only devices send
    /// is not decoded further: `Ok(Err((type, request_id)))`, which a device answers
    /// `forbidden` (its body, not being read, is not checked).
    pub fn decode_on_device(b: &'a [u8]) -> Result<Result<Self, (MsgType, u64)>, DecodeError> {
        Self::decode_side::<TO_DEVICE>(b)
    }

    fn decode_side<const SIDE: u8>(b: &'a [u8]) -> Result<Result<Self, (MsgType, u64)>, DecodeError> {
        cbor::check_well_formed(b)?;
        let d = &mut Decoder::new(b);
        if cbor::array(d).map_err(|_| DecodeError::malformed("envelope is not an array"))? != 3 {
            return Err(DecodeError::malformed("envelope is not [type, request_id, body]"));
        }
        let t = cbor::uint(d, u8::MAX as u64)?;
        let request_id = cbor::u64_(d)?;
        let Some(mt) = MsgType::from_u64(t) else {
            return Err(DecodeError::new(ErrorKind::UnknownType, "unassigned message type"));
        };
        if d.datatype().map_err(cbor::de)? != minicbor::data::Type::Map {
            return Err(DecodeError::malformed("body is not a map").with_type(mt as u8));
        }
        if !handles(SIDE, mt) {
            return Ok(Err((mt, request_id)));
        }
        let msg = Message::decode_body::<SIDE>(mt, d).map_err(|e| e.with_type(mt as u8))?;
        msg.validate_side::<SIDE>().map_err(|e| e.with_type(mt as u8))?;
        Ok(Ok(Envelope { request_id, msg }))
    }

    /// Encodes the payload (no frame header) into `buf`; returns its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut e = Enc::new(Cursor::new(buf));
        self.encode_to::<_, ALL>(&mut e)?;
        Ok(e.into_writer().position())
    }

    /// Encodes a whole frame (header and payload) into `buf`; returns its length.
    pub fn encode_frame(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        self.encode_frame_side::<ALL>(buf)
    }

    /// As [`Envelope::encode_frame`], for a device: the messages a device sends (and
    /// `error`); another type is `EncodeError::Invalid`.
    pub fn encode_frame_from_device(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        self.encode_frame_side::<FROM_DEVICE>(buf)
    }

    fn encode_frame_side<const SIDE: u8>(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        if buf.len() < crate::frame::HEADER_SIZE {
            return Err(EncodeError::BufferFull);
        }
        let (h, rest) = buf.split_at_mut(crate::frame::HEADER_SIZE);
        let mut e = Enc::new(Cursor::new(rest));
        self.encode_to::<_, SIDE>(&mut e)?;
        let n = e.into_writer().position();
        h.copy_from_slice(&crate::frame::header(n)?);
        Ok(n + crate::frame::HEADER_SIZE)
    }

    /// Encodes the payload into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut e = Enc::new(Vec::new());
        self.encode_to::<_, ALL>(&mut e)?;
        Ok(e.into_writer())
    }

    fn encode_to<W: Write, const SIDE: u8>(&self, e: &mut Enc<W>) -> Result<(), EncodeError> {
        self.msg.validate_side::<SIDE>().map_err(EncodeError::Invalid)?;
        e.array(3).map_err(cbor::ee)?;
        e.u8(self.msg.msg_type() as u8).map_err(cbor::ee)?;
        e.u64(self.request_id).map_err(cbor::ee)?;
        self.msg.encode_body::<W, SIDE>(e)
    }
}

/// The request id of a payload that does not decode, when it starts as a message does:
/// `0x83` (an array of three), an unsigned type, an unsigned request id; 0 otherwise. An
/// `error` answering bad input carries it (the Go reference reads it by the same rule,
/// into its `DecodeError`; here it is asked for only when answering, which keeps the
/// decoder's error small).
pub fn peek_request_id(b: &[u8]) -> u64 {
    if b.first() != Some(&0x83) {
        return 0;
    }
    let (mut pos, mut v) = (1, 0);
    for _ in 0..2 {
        // An unsigned integer: its value in the head, or in the 1, 2, 4 or 8 bytes after.
        let n = match b.get(pos) {
            Some(&ib @ 0..=23) => {
                v = ib as u64;
                0
            }
            Some(&ib @ 24..=27) => 1 << (ib - 24),
            _ => return 0,
        };
        let Some(arg) = b.get(pos + 1..pos + 1 + n) else {
            return 0;
        };
        if n > 0 {
            v = arg.iter().fold(0, |v, &x| v << 8 | x as u64);
        }
        pos += 1 + n;
    }
    v
}

// ---- decoding helpers ------------------------------------------------------------

/// Calls `f(key, decoder)` for each unsigned-integer key of the map at the decoder's
/// position; `f` returns false for keys it does not know, which are skipped.
fn fields<'a>(
    d: &mut Decoder<'a>,
    mut f: impl FnMut(u64, &mut Decoder<'a>) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    let mut m = MapReader::new(d)?;
    while let Some(k) = m.next_uint_key(d)? {
        match k {
            Some(k) if f(k, d)? => {}
            _ => cbor::skip(d)?,
        }
    }
    Ok(())
}

fn list<'a, T>(
    d: &mut Decoder<'a>,
    mut f: impl FnMut(&mut Decoder<'a>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let n = cbor::array(d)?;
    let mut out = Vec::with_capacity(n.min(64) as usize);
    for _ in 0..n {
        out.push(f(d)?);
    }
    Ok(out)
}

fn app_report<'a>(d: &mut Decoder<'a>, deferred: &mut Option<DecodeError>) -> Result<AppReport<'a>, DecodeError> {
    let mut r = AppReport::default();
    fields(d, |k, d| {
        match k {
            1 => r.app = cbor::text(d)?,
            2 => r.version = cbor::text(d)?,
            3 => r.generation = cbor::u64_(d)?,
            4 => r.state = state(d, deferred)?,
            5 => r.sha256 = cbor::bytes(d)?,
            6 => r.detail = cbor::text(d)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(r)
}

fn app_metrics<'a>(d: &mut Decoder<'a>) -> Result<AppMetrics<'a>, DecodeError> {
    let mut r = AppMetrics::default();
    fields(d, |k, d| {
        match k {
            1 => r.app = cbor::text(d)?,
            2 => r.generation = cbor::u64_(d)?,
            3 => r.calls = cbor::u64_(d)?,
            4 => r.fuel = cbor::u64_(d)?,
            5 => r.call_us = cbor::u64_(d)?,
            6 => r.traps = cbor::u64_(d)?,
            7 => r.memory = cbor::u32_(d)?,
            8 => r.memory_peak = cbor::u32_(d)?,
            9 => r.starts = cbor::u64_(d)?,
            10 => r.instantiate_us = cbor::u32_(d)?,
            11 => r.published = cbor::u64_(d)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(r)
}

fn reset_report<'a>(d: &mut Decoder<'a>, deferred: &mut Option<DecodeError>) -> Result<ResetReport<'a>, DecodeError> {
    let mut r = ResetReport::default();
    fields(d, |k, d| {
        match k {
            1 => {
                let n = cbor::uint(d, u8::MAX as u64)? as u8;
                r.cause = ResetCause::from_u8(n).unwrap_or_else(|| {
                    deferred.get_or_insert(DecodeError::invalid("reset: cause not assigned"));
                    ResetCause::Unknown
                })
            }
            2 => r.detail = cbor::text(d)?,
            3 => r.boots = cbor::u32_(d)?,
            4 => r.unexpected = cbor::u32_(d)?,
            5 => r.safe_mode = cbor::boolean(d)?,
            6 => r.boot_id = cbor::u32_(d)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(r)
}

/// Reads an app state. An unassigned number is well-formed but invalid: it is reported
/// after the whole message decoded (as the Go reference validates after decoding), through
/// `deferred`.
fn state(d: &mut Decoder<'_>, deferred: &mut Option<DecodeError>) -> Result<AppState, DecodeError> {
    let n = cbor::uint(d, u8::MAX as u64)? as u8;
    Ok(AppState::from_u8(n).unwrap_or_else(|| {
        deferred.get_or_insert(DecodeError::invalid("state: not assigned"));
        AppState::Unknown
    }))
}

fn limits(d: &mut Decoder<'_>) -> Result<Limits, DecodeError> {
    let mut l = Limits::default();
    fields(d, |k, d| {
        match k {
            1 => l.fuel = cbor::u64_(d)?,
            2 => l.memory = cbor::u32_(d)?,
            3 => l.tick_ms = cbor::u32_(d)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(l)
}

fn config<'a>(d: &mut Decoder<'a>) -> Result<Vec<(&'a str, &'a str)>, DecodeError> {
    let mut out = Vec::new();
    let mut m = MapReader::new(d)?;
    while let Some(k) = m.next_text_key(d)? {
        out.push((k, cbor::text(d)?));
    }
    Ok(out)
}

fn app_command<'a>(d: &mut Decoder<'a>) -> Result<AppCommand<'a>, DecodeError> {
    let mut c = AppCommand::default();
    fields(d, |k, d| {
        match k {
            1 => c.app = cbor::text(d)?,
            2 => c.generation = cbor::u64_(d)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(c)
}

// ---- encoding helpers ------------------------------------------------------------

struct MapOut<'e, W: Write> {
    e: &'e mut Enc<W>,
}

impl<'e, W: Write> MapOut<'e, W> {
    fn start(e: &'e mut Enc<W>, n: u64) -> Result<Self, EncodeError> {
        e.map(n).map_err(cbor::ee)?;
        Ok(MapOut { e })
    }
    fn key(&mut self, k: u8) -> Result<&mut Enc<W>, EncodeError> {
        self.e.u8(k).map_err(cbor::ee)?;
        Ok(self.e)
    }
    fn uint(&mut self, k: u8, v: u64) -> Result<(), EncodeError> {
        self.key(k)?.u64(v).map_err(cbor::ee)?;
        Ok(())
    }
    fn int(&mut self, k: u8, v: i64) -> Result<(), EncodeError> {
        self.key(k)?.i64(v).map_err(cbor::ee)?;
        Ok(())
    }
    fn text(&mut self, k: u8, v: &str) -> Result<(), EncodeError> {
        self.key(k)?.str(v).map_err(cbor::ee)?;
        Ok(())
    }
    fn bytes(&mut self, k: u8, v: &[u8]) -> Result<(), EncodeError> {
        self.key(k)?.bytes(v).map_err(cbor::ee)?;
        Ok(())
    }
    fn boolean(&mut self, k: u8, v: bool) -> Result<(), EncodeError> {
        self.key(k)?.bool(v).map_err(cbor::ee)?;
        Ok(())
    }
    fn float(&mut self, k: u8, v: f64) -> Result<(), EncodeError> {
        let e = self.key(k)?;
        put_float(e, v)
    }
}

fn n_present(flags: &[bool]) -> u64 {
    flags.iter().filter(|&&b| b).count() as u64
}

impl AppReport<'_> {
    fn encode<W: Write>(&self, e: &mut Enc<W>) -> Result<(), EncodeError> {
        let mut m = MapOut::start(e, 5 + !self.detail.is_empty() as u64)?;
        m.text(1, self.app)?;
        m.text(2, self.version)?;
        m.uint(3, self.generation)?;
        m.uint(4, self.state as u64)?;
        m.bytes(5, self.sha256)?;
        if !self.detail.is_empty() {
            m.text(6, self.detail)?;
        }
        Ok(())
    }
}

impl AppMetrics<'_> {
    fn encode<W: Write>(&self, e: &mut Enc<W>) -> Result<(), EncodeError> {
        let mut m = MapOut::start(e, 11)?;
        m.text(1, self.app)?;
        m.uint(2, self.generation)?;
        m.uint(3, self.calls)?;
        m.uint(4, self.fuel)?;
        m.uint(5, self.call_us)?;
        m.uint(6, self.traps)?;
        m.uint(7, self.memory as u64)?;
        m.uint(8, self.memory_peak as u64)?;
        m.uint(9, self.starts)?;
        m.uint(10, self.instantiate_us as u64)?;
        m.uint(11, self.published)
    }
}

impl ResetReport<'_> {
    fn encode<W: Write>(&self, e: &mut Enc<W>) -> Result<(), EncodeError> {
        let mut m = MapOut::start(e, 3 + n_present(&[!self.detail.is_empty(), self.safe_mode, self.boot_id != 0]))?;
        m.uint(1, self.cause as u64)?;
        if !self.detail.is_empty() {
            m.text(2, self.detail)?;
        }
        m.uint(3, self.boots as u64)?;
        m.uint(4, self.unexpected as u64)?;
        if self.safe_mode {
            m.boolean(5, true)?;
        }
        if self.boot_id != 0 {
            m.uint(6, self.boot_id as u64)?;
        }
        Ok(())
    }
}

impl Limits {
    fn encode<W: Write>(&self, e: &mut Enc<W>) -> Result<(), EncodeError> {
        let mut m = MapOut::start(e, 3)?;
        m.uint(1, self.fuel)?;
        m.uint(2, self.memory as u64)?;
        m.uint(3, self.tick_ms as u64)
    }
}

impl<'a> Message<'a> {
    pub fn msg_type(&self) -> MsgType {
        match self {
            Message::Hello(_) => MsgType::Hello,
            Message::Welcome(_) => MsgType::Welcome,
            Message::Enroll(_) => MsgType::Enroll,
            Message::Certificate(_) => MsgType::Certificate,
            Message::Renew(_) => MsgType::Renew,
            Message::Heartbeat(_) => MsgType::Heartbeat,
            Message::HeartbeatAck(_) => MsgType::HeartbeatAck,
            Message::Deploy(_) => MsgType::Deploy,
            Message::ModuleChunk(_) => MsgType::ModuleChunk,
            Message::TransferProgress(_) => MsgType::TransferProgress,
            Message::Start(_) => MsgType::Start,
            Message::Stop(_) => MsgType::Stop,
            Message::Remove(_) => MsgType::Remove,
            Message::AppStatus(_) => MsgType::AppStatus,
            Message::AppOutput(_) => MsgType::AppOutput,
            Message::Error(_) => MsgType::Error,
        }
    }

    fn decode_body<const SIDE: u8>(t: MsgType, d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        let mut deferred = None;
        let deferred = &mut deferred;
        let msg = match t {
            MsgType::Hello if const { handles(SIDE, MsgType::Hello) } => {
                let mut m = Hello::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.abi_version = cbor::u32_(d)?,
                        2 => m.board = cbor::text(d)?,
                        3 => m.firmware = cbor::text(d)?,
                        4 => m.ram_free = cbor::u32_(d)?,
                        5 => m.flash_free = cbor::u32_(d)?,
                        6 => m.max_frame = cbor::u32_(d)?,
                        7 => m.features = list(d, cbor::text)?,
                        8 => m.apps = list(d, |d| app_report(d, deferred))?,
                        9 => m.reset = Some(reset_report(d, deferred)?),
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::Hello(m)
            }
            MsgType::Welcome if const { handles(SIDE, MsgType::Welcome) } => {
                let mut m = Welcome::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.device = cbor::text(d)?,
                        2 => m.time = cbor::int(d)?,
                        3 => m.heartbeat_ms = cbor::u32_(d)?,
                        4 => m.max_frame = cbor::u32_(d)?,
                        5 => m.gateway = cbor::text(d)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::Welcome(m)
            }
            MsgType::Enroll if const { handles(SIDE, MsgType::Enroll) } => {
                let mut m = Enroll::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.device = cbor::text(d)?,
                        2 => m.token = cbor::text(d)?,
                        3 => m.csr = cbor::bytes(d)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::Enroll(m)
            }
            MsgType::Certificate if const { handles(SIDE, MsgType::Certificate) } => {
                let mut m = Certificate::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.chain = list(d, cbor::bytes)?,
                        2 => m.not_after = cbor::int(d)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::Certificate(m)
            }
            MsgType::Renew if const { handles(SIDE, MsgType::Renew) } => {
                let mut m = Renew::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.csr = cbor::bytes(d)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::Renew(m)
            }
            MsgType::Heartbeat if const { handles(SIDE, MsgType::Heartbeat) } => {
                let mut m = Heartbeat::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.seq = cbor::u64_(d)?,
                        2 => m.uptime_ms = cbor::u64_(d)?,
                        3 => m.ram_free = cbor::u32_(d)?,
                        4 => m.apps = list(d, app_metrics)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::Heartbeat(m)
            }
            MsgType::HeartbeatAck if const { handles(SIDE, MsgType::HeartbeatAck) } => {
                let mut m = HeartbeatAck::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.seq = cbor::u64_(d)?,
                        2 => m.time = cbor::int(d)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::HeartbeatAck(m)
            }
            MsgType::Deploy if const { handles(SIDE, MsgType::Deploy) } => {
                let mut m = Deploy::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.app = cbor::text(d)?,
                        2 => m.generation = cbor::u64_(d)?,
                        3 => m.version = cbor::text(d)?,
                        4 => m.sha256 = cbor::bytes(d)?,
                        5 => m.size = cbor::u32_(d)?,
                        6 => m.limits = limits(d)?,
                        7 => m.config = config(d)?,
                        8 => m.start = cbor::boolean(d)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::Deploy(m)
            }
            MsgType::ModuleChunk if const { handles(SIDE, MsgType::ModuleChunk) } => {
                let mut m = ModuleChunk::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.app = cbor::text(d)?,
                        2 => m.generation = cbor::u64_(d)?,
                        3 => m.offset = cbor::u32_(d)?,
                        4 => m.data = cbor::bytes(d)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::ModuleChunk(m)
            }
            MsgType::TransferProgress if const { handles(SIDE, MsgType::TransferProgress) } => {
                let mut m = TransferProgress::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.app = cbor::text(d)?,
                        2 => m.generation = cbor::u64_(d)?,
                        3 => m.offset = cbor::u32_(d)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::TransferProgress(m)
            }
            MsgType::Start if const { handles(SIDE, MsgType::Start) } => Message::Start(app_command(d)?),
            MsgType::Stop if const { handles(SIDE, MsgType::Stop) } => Message::Stop(app_command(d)?),
            MsgType::Remove if const { handles(SIDE, MsgType::Remove) } => Message::Remove(app_command(d)?),
            MsgType::AppStatus if const { handles(SIDE, MsgType::AppStatus) } => {
                let mut m = AppStatus::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.app = cbor::text(d)?,
                        2 => m.generation = cbor::u64_(d)?,
                        3 => m.state = state(d, deferred)?,
                        4 => m.version = cbor::text(d)?,
                        5 => m.detail = cbor::text(d)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::AppStatus(m)
            }
            MsgType::AppOutput if const { handles(SIDE, MsgType::AppOutput) } => {
                let mut m = AppOutput::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.app = cbor::text(d)?,
                        2 => m.seq = cbor::u64_(d)?,
                        3 => {
                            m.logs = list(d, |d| {
                                let mut r = LogRecord::default();
                                fields(d, |k, d| {
                                    match k {
                                        1 => r.time = cbor::int(d)?,
                                        2 => r.level = cbor::uint(d, u8::MAX as u64)? as u8,
                                        3 => r.text = cbor::text(d)?,
                                        _ => return Ok(false),
                                    }
                                    Ok(true)
                                })?;
                                Ok(r)
                            })?
                        }
                        4 => {
                            m.values = list(d, |d| {
                                let mut r = ValueRecord::default();
                                fields(d, |k, d| {
                                    match k {
                                        1 => r.time = cbor::int(d)?,
                                        2 => r.key = cbor::text(d)?,
                                        3 => r.value = cbor::float(d)?,
                                        _ => return Ok(false),
                                    }
                                    Ok(true)
                                })?;
                                Ok(r)
                            })?
                        }
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::AppOutput(m)
            }
            MsgType::Error => {
                let mut m = Error::default();
                fields(d, |k, d| {
                    match k {
                        1 => m.code = cbor::uint(d, u16::MAX as u64)? as u16,
                        2 => m.message = cbor::text(d)?,
                        3 => m.gateways = list(d, cbor::text)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Message::Error(m)
            }
            _ => return Err(DecodeError::new(ErrorKind::UnknownType, "not a message this side reads")), // not reached
        };
        match deferred.take() {
            Some(e) => Err(e),
            None => Ok(msg),
        }
    }

    /// Checks field values against the protocol's limits. Encoding and decoding both
    /// call it, so a peer never sends or accepts such a value.
    pub fn validate(&self) -> Result<(), DecodeError> {
        self.validate_side::<ALL>()
    }

    fn validate_side<const SIDE: u8>(&self) -> Result<(), DecodeError> {
        match self {
            Message::Hello(m) if const { handles(SIDE, MsgType::Hello) } => {
                v::name(m.board, "board: not a name")?;
                v::max_len(m.firmware.len(), MAX_TEXT_LEN, "firmware: too long")?;
                v::frame_size(m.max_frame, "max_frame: outside [2048, 16384]")?;
                if m.abi_version == 0 {
                    return Err(DecodeError::invalid("abi_version: must be at least 1"));
                }
                v::max_len(m.features.len(), MAX_FEATURES, "features: too many")?;
                for f in &m.features {
                    v::name(f, "feature: not a name")?;
                }
                v::max_len(m.apps.len(), MAX_APPS, "apps: too many")?;
                for a in &m.apps {
                    v::name(a.app, "apps: app not a name")?;
                    v::version(a.version, "apps: version not a version")?;
                    v::sha256(a.sha256)?;
                    v::max_len(a.detail.len(), MAX_TEXT_LEN, "detail: too long")?;
                }
                if let Some(r) = &m.reset {
                    v::max_len(r.detail.len(), MAX_TEXT_LEN, "detail: too long")?;
                    if r.boots == 0 {
                        return Err(DecodeError::invalid("reset: boots must be at least 1"));
                    }
                }
            }
            Message::Welcome(m) if const { handles(SIDE, MsgType::Welcome) } => {
                if !m.device.is_empty() {
                    v::name(m.device, "device: not a name")?;
                }
                if m.heartbeat_ms == 0 {
                    return Err(DecodeError::invalid("heartbeat_ms: must be positive"));
                }
                v::frame_size(m.max_frame, "max_frame: outside [2048, 16384]")?;
                v::name(m.gateway, "gateway: not a name")?;
            }
            Message::Enroll(m) if const { handles(SIDE, MsgType::Enroll) } => {
                v::name(m.device, "device: not a name")?;
                v::non_empty_max(m.token.len(), MAX_TOKEN_LEN, "token: empty or too long")?;
                v::non_empty_max(m.csr.len(), MAX_DER_LEN, "csr: empty or too long")?;
            }
            Message::Certificate(m) if const { handles(SIDE, MsgType::Certificate) } => {
                if m.chain.is_empty() || m.chain.len() > MAX_CHAIN_LEN {
                    return Err(DecodeError::invalid("chain: want 1 to 4 certificates"));
                }
                for c in &m.chain {
                    v::non_empty_max(c.len(), MAX_DER_LEN, "chain: certificate empty or too long")?;
                }
            }
            Message::Renew(m) if const { handles(SIDE, MsgType::Renew) } => v::non_empty_max(m.csr.len(), MAX_DER_LEN, "csr: empty or too long")?,
            Message::Heartbeat(m) if const { handles(SIDE, MsgType::Heartbeat) } => {
                v::max_len(m.apps.len(), MAX_APPS, "apps: too many")?;
                for (i, a) in m.apps.iter().enumerate() {
                    v::name(a.app, "apps: app not a name")?;
                    v::generation(a.generation)?;
                    if m.apps[..i].iter().any(|b| b.app == a.app) {
                        return Err(DecodeError::invalid("apps: an app twice"));
                    }
                }
            }
            Message::HeartbeatAck(_) if const { handles(SIDE, MsgType::HeartbeatAck) } => {}
            Message::Deploy(m) if const { handles(SIDE, MsgType::Deploy) } => {
                v::name(m.app, "app: not a name")?;
                v::generation(m.generation)?;
                v::version(m.version, "version: not a version")?;
                v::sha256(m.sha256)?;
                if m.size == 0 {
                    return Err(DecodeError::invalid("size: must be positive"));
                }
                if m.limits.fuel == 0 || m.limits.memory == 0 {
                    return Err(DecodeError::invalid("limits: fuel and memory must be positive"));
                }
                v::max_len(m.config.len(), MAX_CONFIG_PAIRS, "config: too many entries")?;
                for (k, val) in &m.config {
                    v::name(k, "config: key not a name")?;
                    v::max_len(val.len(), MAX_TEXT_LEN, "config: value too long")?;
                }
            }
            Message::ModuleChunk(m) if const { handles(SIDE, MsgType::ModuleChunk) } => {
                v::name(m.app, "app: not a name")?;
                v::generation(m.generation)?;
                v::non_empty_max(m.data.len(), MAX_FRAME_SIZE as usize, "data: empty or too long")?;
            }
            Message::TransferProgress(m) if const { handles(SIDE, MsgType::TransferProgress) } => {
                v::name(m.app, "app: not a name")?;
                v::generation(m.generation)?;
            }
            Message::Start(m) | Message::Stop(m) | Message::Remove(m) if const { handles(SIDE, MsgType::Start) } => {
                v::name(m.app, "app: not a name")?;
                v::generation(m.generation)?;
            }
            Message::AppStatus(m) if const { handles(SIDE, MsgType::AppStatus) } => {
                v::name(m.app, "app: not a name")?;
                v::max_len(m.detail.len(), MAX_TEXT_LEN, "detail: too long")?;
                if !m.version.is_empty() {
                    v::version(m.version, "version: not a version")?;
                }
            }
            Message::AppOutput(m) if const { handles(SIDE, MsgType::AppOutput) } => {
                v::name(m.app, "app: not a name")?;
                if m.logs.len() > MAX_RECORDS || m.values.len() > MAX_RECORDS {
                    return Err(DecodeError::invalid("records: more than 64 logs or values"));
                }
                for l in &m.logs {
                    if !(level::ERROR..=level::DEBUG).contains(&l.level) {
                        return Err(DecodeError::invalid("logs: level not assigned"));
                    }
                    v::max_len(l.text.len(), MAX_TEXT_LEN, "logs: text too long")?;
                }
                for r in &m.values {
                    v::name(r.key, "values: key not a name")?;
                    if !r.value.is_finite() {
                        return Err(DecodeError::invalid("values: not a finite number"));
                    }
                }
            }
            Message::Error(m) => {
                v::max_len(m.message.len(), MAX_TEXT_LEN, "message: too long")?;
                if m.code == 0 {
                    return Err(DecodeError::invalid("code: must be set"));
                }
                v::max_len(m.gateways.len(), MAX_ERROR_GATEWAYS, "gateways: too many")?;
                for g in &m.gateways {
                    v::max_len(g.len(), MAX_TEXT_LEN, "gateways: an address too long")?;
                }
            }
            // A message of the other direction (encoding on a device).
            _ => return Err(DecodeError::invalid("not a message this side sends").with_type(self.msg_type() as u8)),
        }
        Ok(())
    }

    fn encode_body<W: Write, const SIDE: u8>(&self, e: &mut Enc<W>) -> Result<(), EncodeError> {
        match self {
            Message::Hello(h) if const { handles(SIDE, MsgType::Hello) } => {
                let mut m = MapOut::start(e, 7 + !h.apps.is_empty() as u64 + h.reset.is_some() as u64)?;
                m.uint(1, h.abi_version as u64)?;
                m.text(2, h.board)?;
                m.text(3, h.firmware)?;
                m.uint(4, h.ram_free as u64)?;
                m.uint(5, h.flash_free as u64)?;
                m.uint(6, h.max_frame as u64)?;
                let e = m.key(7)?;
                e.array(h.features.len() as u64).map_err(cbor::ee)?;
                for f in &h.features {
                    e.str(f).map_err(cbor::ee)?;
                }
                if !h.apps.is_empty() {
                    let e = m.key(8)?;
                    e.array(h.apps.len() as u64).map_err(cbor::ee)?;
                    for a in &h.apps {
                        a.encode(e)?;
                    }
                }
                if let Some(r) = &h.reset {
                    r.encode(m.key(9)?)?;
                }
            }
            Message::Welcome(w) if const { handles(SIDE, MsgType::Welcome) } => {
                let mut m = MapOut::start(e, 5)?;
                m.text(1, w.device)?;
                m.int(2, w.time)?;
                m.uint(3, w.heartbeat_ms as u64)?;
                m.uint(4, w.max_frame as u64)?;
                m.text(5, w.gateway)?;
            }
            Message::Enroll(r) if const { handles(SIDE, MsgType::Enroll) } => {
                let mut m = MapOut::start(e, 3)?;
                m.text(1, r.device)?;
                m.text(2, r.token)?;
                m.bytes(3, r.csr)?;
            }
            Message::Certificate(c) if const { handles(SIDE, MsgType::Certificate) } => {
                let mut m = MapOut::start(e, 2)?;
                let e = m.key(1)?;
                e.array(c.chain.len() as u64).map_err(cbor::ee)?;
                for der in &c.chain {
                    e.bytes(der).map_err(cbor::ee)?;
                }
                m.int(2, c.not_after)?;
            }
            Message::Renew(r) if const { handles(SIDE, MsgType::Renew) } => {
                let mut m = MapOut::start(e, 1)?;
                m.bytes(1, r.csr)?;
            }
            Message::Heartbeat(h) if const { handles(SIDE, MsgType::Heartbeat) } => {
                let mut m = MapOut::start(e, 3 + n_present(&[!h.apps.is_empty()]))?;
                m.uint(1, h.seq)?;
                m.uint(2, h.uptime_ms)?;
                m.uint(3, h.ram_free as u64)?;
                if !h.apps.is_empty() {
                    let e = m.key(4)?;
                    e.array(h.apps.len() as u64).map_err(cbor::ee)?;
                    for a in &h.apps {
                        a.encode(e)?;
                    }
                }
            }
            Message::HeartbeatAck(h) if const { handles(SIDE, MsgType::HeartbeatAck) } => {
                let mut m = MapOut::start(e, 2)?;
                m.uint(1, h.seq)?;
                m.int(2, h.time)?;
            }
            Message::Deploy(dp) if const { handles(SIDE, MsgType::Deploy) } => {
                let mut m = MapOut::start(e, 7 + n_present(&[!dp.config.is_empty()]))?;
                m.text(1, dp.app)?;
                m.uint(2, dp.generation)?;
                m.text(3, dp.version)?;
                m.bytes(4, dp.sha256)?;
                m.uint(5, dp.size as u64)?;
                dp.limits.encode(m.key(6)?)?;
                if !dp.config.is_empty() {
                    // Deterministic order: bytewise on the encoded keys, which for text
                    // strings is shorter first, then bytewise.
                    let mut order: Vec<&(&str, &str)> = dp.config.iter().collect();
                    order.sort_by(|a, b| (a.0.len(), a.0.as_bytes()).cmp(&(b.0.len(), b.0.as_bytes())));
                    if order.windows(2).any(|w| w[0].0 == w[1].0) {
                        return Err(EncodeError::Invalid(DecodeError::invalid("config: duplicate key")));
                    }
                    let e = m.key(7)?;
                    e.map(order.len() as u64).map_err(cbor::ee)?;
                    for (k, val) in order {
                        e.str(k).map_err(cbor::ee)?.str(val).map_err(cbor::ee)?;
                    }
                }
                m.boolean(8, dp.start)?;
            }
            Message::ModuleChunk(c) if const { handles(SIDE, MsgType::ModuleChunk) } => {
                let mut m = MapOut::start(e, 4)?;
                m.text(1, c.app)?;
                m.uint(2, c.generation)?;
                m.uint(3, c.offset as u64)?;
                m.bytes(4, c.data)?;
            }
            Message::TransferProgress(p) if const { handles(SIDE, MsgType::TransferProgress) } => {
                let mut m = MapOut::start(e, 3)?;
                m.text(1, p.app)?;
                m.uint(2, p.generation)?;
                m.uint(3, p.offset as u64)?;
            }
            Message::Start(c) | Message::Stop(c) | Message::Remove(c) if const { handles(SIDE, MsgType::Start) } => {
                let mut m = MapOut::start(e, 2)?;
                m.text(1, c.app)?;
                m.uint(2, c.generation)?;
            }
            Message::AppStatus(s) if const { handles(SIDE, MsgType::AppStatus) } => {
                let mut m = MapOut::start(e, 4 + n_present(&[!s.detail.is_empty()]))?;
                m.text(1, s.app)?;
                m.uint(2, s.generation)?;
                m.uint(3, s.state as u64)?;
                m.text(4, s.version)?;
                if !s.detail.is_empty() {
                    m.text(5, s.detail)?;
                }
            }
            Message::AppOutput(o) if const { handles(SIDE, MsgType::AppOutput) } => {
                let mut m = MapOut::start(e, 2 + n_present(&[!o.logs.is_empty(), !o.values.is_empty()]))?;
                m.text(1, o.app)?;
                m.uint(2, o.seq)?;
                if !o.logs.is_empty() {
                    let e = m.key(3)?;
                    e.array(o.logs.len() as u64).map_err(cbor::ee)?;
                    for l in &o.logs {
                        let mut r = MapOut::start(e, 3)?;
                        r.int(1, l.time)?;
                        r.uint(2, l.level as u64)?;
                        r.text(3, l.text)?;
                    }
                }
                if !o.values.is_empty() {
                    let e = m.key(4)?;
                    e.array(o.values.len() as u64).map_err(cbor::ee)?;
                    for val in &o.values {
                        let mut r = MapOut::start(e, 3)?;
                        r.int(1, val.time)?;
                        r.text(2, val.key)?;
                        r.float(3, val.value)?;
                    }
                }
            }
            Message::Error(er) => {
                let mut m = MapOut::start(e, if er.gateways.is_empty() { 2 } else { 3 })?;
                m.uint(1, er.code as u64)?;
                m.text(2, er.message)?;
                if !er.gateways.is_empty() {
                    let e = m.key(3)?;
                    e.array(er.gateways.len() as u64).map_err(cbor::ee)?;
                    for g in &er.gateways {
                        e.str(g).map_err(cbor::ee)?;
                    }
                }
            }
            // Refused by validate_side first.
            _ => return Err(EncodeError::Invalid(DecodeError::invalid("not a message this side sends"))),
        }
        Ok(())
    }
}
