//! What the protocol adds to CBOR: a well-formedness pass with the protocol's limits
//! (run before decoding, as the Go reference does), typed field readers on top of
//! `minicbor::Decoder`, and the shortest-float rule for encoding.

use minicbor::data::Type;
use minicbor::encode::Write;
use minicbor::{Decoder, Encoder};

use crate::error::{DecodeError, EncodeError};
use crate::limits::{MAX_ARRAY_ITEMS, MAX_MAP_PAIRS, MAX_NESTING};

/// Checks that `b` is exactly one well-formed CBOR item within the protocol's limits:
/// definite lengths, no tags, valid UTF-8, at most `MAX_NESTING` levels, arrays of at
/// most `MAX_ARRAY_ITEMS` and maps of at most `MAX_MAP_PAIRS`, no trailing bytes.
/// Anything wrong, input that ends early included (the payload is a whole frame), is
/// `malformed`.
pub(crate) fn check_well_formed(b: &[u8]) -> Result<(), DecodeError> {
    let end = item(b, 0, 0)?;
    if end != b.len() {
        return Err(DecodeError::malformed("trailing bytes after the message"));
    }
    Ok(())
}

/// Reads a head at `pos`: (major type, argument, position after the head).
fn head(b: &[u8], pos: usize) -> Result<(u8, u64, usize), DecodeError> {
    let ib = *b.get(pos).ok_or(DecodeError::malformed("CBOR item ends before the frame"))?;
    let major = ib >> 5;
    let ai = ib & 0x1f;
    let (n, len) = match ai {
        0..=23 => return Ok((major, ai as u64, pos + 1)),
        24 => (1, 1usize),
        25 => (2, 2),
        26 => (4, 4),
        27 => (8, 8),
        31 => return Err(DecodeError::malformed("indefinite length")),
        _ => return Err(DecodeError::malformed("reserved additional information")),
    };
    let _ = n;
    let arg = b.get(pos + 1..pos + 1 + len).ok_or(DecodeError::malformed("CBOR item ends before the frame"))?;
    let mut v = 0u64;
    for &x in arg {
        v = v << 8 | x as u64;
    }
    if major == 7 && ai == 24 && v < 32 {
        return Err(DecodeError::malformed("invalid simple value"));
    }
    Ok((major, v, pos + 1 + len))
}

fn item(b: &[u8], pos: usize, depth: usize) -> Result<usize, DecodeError> {
    let (major, arg, mut p) = head(b, pos)?;
    match major {
        0 | 1 | 7 => Ok(p),
        2 | 3 => {
            let n = usize::try_from(arg).map_err(|_| DecodeError::malformed("CBOR item ends before the frame"))?;
            let s = b.get(p..p.checked_add(n).ok_or(DecodeError::malformed("CBOR item ends before the frame"))?);
            let s = s.ok_or(DecodeError::malformed("CBOR item ends before the frame"))?;
            if major == 3 && core::str::from_utf8(s).is_err() {
                return Err(DecodeError::malformed("invalid UTF-8 in text"));
            }
            Ok(p + n)
        }
        4 | 5 => {
            if depth + 1 > MAX_NESTING {
                return Err(DecodeError::malformed("nested too deeply"));
            }
            let (limit, per) = if major == 4 { (MAX_ARRAY_ITEMS, 1) } else { (MAX_MAP_PAIRS, 2) };
            if arg > limit {
                return Err(DecodeError::malformed(if major == 4 { "array too long" } else { "map too large" }));
            }
            for _ in 0..arg * per {
                p = item(b, p, depth + 1)?;
            }
            Ok(p)
        }
        _ => Err(DecodeError::malformed("tags are not allowed")),
    }
}

/// A map key, for duplicate detection.
#[derive(PartialEq, Clone, Copy)]
pub(crate) enum Key<'a> {
    Uint(u64),
    Text(&'a str),
    Other(&'a [u8]),
}

/// Reads map heads and keys, refusing duplicates. Unknown keys are the caller's to skip.
pub(crate) struct MapReader<'a> {
    remaining: u64,
    seen: [Key<'a>; 16],
    n_seen: usize,
    overflow: alloc::vec::Vec<Key<'a>>,
}

impl<'a> MapReader<'a> {
    pub(crate) fn new(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        let n = match d.datatype().map_err(de)? {
            Type::Map => d.map().map_err(de)?.unwrap_or(0),
            _ => return Err(DecodeError::malformed("expected a map")),
        };
        Ok(MapReader { remaining: n, seen: [Key::Uint(u64::MAX); 16], n_seen: 0, overflow: alloc::vec::Vec::new() })
    }

    fn remember(&mut self, k: Key<'a>) -> Result<(), DecodeError> {
        let dup = self.seen[..self.n_seen].contains(&k) || self.overflow.contains(&k);
        if dup {
            return Err(DecodeError::malformed("duplicate map key"));
        }
        if self.n_seen < self.seen.len() {
            self.seen[self.n_seen] = k;
            self.n_seen += 1;
        } else {
            self.overflow.push(k);
        }
        Ok(())
    }

    /// Next key as an unsigned integer; `Some(None)` for a key of another type (the
    /// caller skips its value), `None` at the end of the map.
    pub(crate) fn next_uint_key(&mut self, d: &mut Decoder<'a>) -> Result<Option<Option<u64>>, DecodeError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        let k = match d.datatype().map_err(de)? {
            Type::U8 | Type::U16 | Type::U32 | Type::U64 => Key::Uint(d.u64().map_err(de)?),
            Type::String => Key::Text(d.str().map_err(de)?),
            _ => {
                let start = d.position();
                d.skip().map_err(de)?;
                Key::Other(&d.input()[start..d.position()])
            }
        };
        self.remember(k)?;
        Ok(Some(match k {
            Key::Uint(n) => Some(n),
            _ => None,
        }))
    }

    /// Next key as text (for `{tstr => tstr}` maps); `None` at the end of the map.
    pub(crate) fn next_text_key(&mut self, d: &mut Decoder<'a>) -> Result<Option<&'a str>, DecodeError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        let s = text(d)?;
        self.remember(Key::Text(s))?;
        Ok(Some(s))
    }
}

/// Any minicbor error after the well-formedness pass is a value of the wrong type.
pub(crate) fn de(_: minicbor::decode::Error) -> DecodeError {
    DecodeError::malformed("wrong field type")
}

/// Skips null and undefined, which decode as the zero value.
fn null(d: &mut Decoder<'_>) -> Result<bool, DecodeError> {
    match d.datatype().map_err(de)? {
        Type::Null | Type::Undefined => {
            d.skip().map_err(de)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

pub(crate) fn uint(d: &mut Decoder<'_>, max: u64) -> Result<u64, DecodeError> {
    if null(d)? {
        return Ok(0);
    }
    match d.datatype().map_err(de)? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => {
            let v = d.u64().map_err(de)?;
            if v > max {
                return Err(DecodeError::malformed("integer too large for its field"));
            }
            Ok(v)
        }
        _ => Err(DecodeError::malformed("expected an unsigned integer")),
    }
}

pub(crate) fn u32_(d: &mut Decoder<'_>) -> Result<u32, DecodeError> {
    uint(d, u32::MAX as u64).map(|v| v as u32)
}

pub(crate) fn u64_(d: &mut Decoder<'_>) -> Result<u64, DecodeError> {
    uint(d, u64::MAX)
}

pub(crate) fn int(d: &mut Decoder<'_>) -> Result<i64, DecodeError> {
    if null(d)? {
        return Ok(0);
    }
    match d.datatype().map_err(de)? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            d.i64().map_err(|_| DecodeError::malformed("integer overflows int64"))
        }
        _ => Err(DecodeError::malformed("expected an integer")),
    }
}

pub(crate) fn text<'a>(d: &mut Decoder<'a>) -> Result<&'a str, DecodeError> {
    if null(d)? {
        return Ok("");
    }
    match d.datatype().map_err(de)? {
        Type::String => d.str().map_err(de),
        _ => Err(DecodeError::malformed("expected a text string")),
    }
}

pub(crate) fn bytes<'a>(d: &mut Decoder<'a>) -> Result<&'a [u8], DecodeError> {
    if null(d)? {
        return Ok(&[]);
    }
    match d.datatype().map_err(de)? {
        Type::Bytes => d.bytes().map_err(de),
        _ => Err(DecodeError::malformed("expected a byte string")),
    }
}

pub(crate) fn boolean(d: &mut Decoder<'_>) -> Result<bool, DecodeError> {
    if null(d)? {
        return Ok(false);
    }
    match d.datatype().map_err(de)? {
        Type::Bool => d.bool().map_err(de),
        _ => Err(DecodeError::malformed("expected a boolean")),
    }
}

pub(crate) fn float(d: &mut Decoder<'_>) -> Result<f64, DecodeError> {
    if null(d)? {
        return Ok(0.0);
    }
    match d.datatype().map_err(de)? {
        Type::F16 | Type::F32 | Type::F64 => d.f64().map_err(de),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Ok(d.u64().map_err(de)? as f64),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            Ok(d.i64().map_err(|_| DecodeError::malformed("integer overflows int64"))? as f64)
        }
        _ => Err(DecodeError::malformed("expected a float")),
    }
}

/// Reads an array head; `None` for null (an empty array).
pub(crate) fn array(d: &mut Decoder<'_>) -> Result<u64, DecodeError> {
    if null(d)? {
        return Ok(0);
    }
    match d.datatype().map_err(de)? {
        Type::Array => Ok(d.array().map_err(de)?.unwrap_or(0)),
        _ => Err(DecodeError::malformed("expected an array")),
    }
}

pub(crate) fn skip(d: &mut Decoder<'_>) -> Result<(), DecodeError> {
    d.skip().map_err(de)
}

pub(crate) type Enc<W> = Encoder<W>;

pub(crate) fn ee<E>(_: minicbor::encode::Error<E>) -> EncodeError {
    EncodeError::BufferFull
}

/// Writes a float in the shortest of half, single and double precision that keeps its
/// value (RFC 8949 §4.2.1 preferred serialization), as fxamacker/cbor's
/// `ShortestFloat16` does.
pub(crate) fn put_float<W: Write>(e: &mut Enc<W>, v: f64) -> Result<(), EncodeError> {
    let f32v = v as f32;
    if f32v as f64 != v && !v.is_nan() {
        e.f64(v).map_err(ee)?;
        return Ok(());
    }
    let h = half::f16::from_f32(f32v);
    if h.to_f32() == f32v || f32v.is_nan() {
        e.f16(f32v).map_err(ee)?;
    } else {
        e.f32(f32v).map_err(ee)?;
    }
    Ok(())
}
