//! Field rules (`docs/protocol.md`, and `protocol/validate.go` in the Go reference).

use crate::error::DecodeError;
use crate::limits::*;

fn plain(s: &str, punct: &[u8], what: &'static str) -> Result<(), DecodeError> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > MAX_NAME_LEN {
        return Err(DecodeError::invalid(what));
    }
    for (i, &c) in b.iter().enumerate() {
        if !(c.is_ascii_alphanumeric() || (i > 0 && punct.contains(&c))) {
            return Err(DecodeError::invalid(what));
        }
    }
    Ok(())
}

/// A *name*: 1 to 64 bytes of ASCII letters, digits, `.`, `_`, `-`, starting with a
/// letter or digit.
pub fn valid_name(s: &str) -> bool {
    plain(s, b"._-", "").is_ok()
}

/// A *version*: like a name, with `+` also allowed.
pub fn valid_version(s: &str) -> bool {
    plain(s, b"._-+", "").is_ok()
}

pub(crate) fn name(s: &str, what: &'static str) -> Result<(), DecodeError> {
    plain(s, b"._-", what)
}

pub(crate) fn version(s: &str, what: &'static str) -> Result<(), DecodeError> {
    plain(s, b"._-+", what)
}

pub(crate) fn max_len(n: usize, limit: usize, what: &'static str) -> Result<(), DecodeError> {
    if n > limit {
        return Err(DecodeError::invalid(what));
    }
    Ok(())
}

pub(crate) fn non_empty_max(n: usize, limit: usize, what: &'static str) -> Result<(), DecodeError> {
    if n == 0 {
        return Err(DecodeError::invalid(what));
    }
    max_len(n, limit, what)
}

pub(crate) fn sha256(b: &[u8]) -> Result<(), DecodeError> {
    if b.len() != 32 {
        return Err(DecodeError::invalid("sha256: want 32 bytes"));
    }
    Ok(())
}

pub(crate) fn frame_size(n: u32, what: &'static str) -> Result<(), DecodeError> {
    if !(MIN_FRAME_SIZE..=MAX_FRAME_SIZE).contains(&n) {
        return Err(DecodeError::invalid(what));
    }
    Ok(())
}

pub(crate) fn generation(g: u64) -> Result<(), DecodeError> {
    if g == 0 {
        return Err(DecodeError::invalid("generation: must be at least 1"));
    }
    Ok(())
}
