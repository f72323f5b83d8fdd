//! Frames: `version (1) | flags (0) | length (u16 BE) | payload`.

use crate::error::{DecodeError, EncodeError, ErrorKind};
use crate::limits::MAX_FRAME_SIZE;

/// The frame version this crate speaks.
pub const VERSION: u8 = 1;
/// Bytes of a frame header.
pub const HEADER_SIZE: usize = 4;

/// Checks a frame header and returns the payload length. `limit` is the largest payload
/// this side accepts (what it announced as `max_frame`; capped at 16384).
pub fn parse_header(h: &[u8; HEADER_SIZE], limit: usize) -> Result<usize, DecodeError> {
    if h[0] != VERSION || h[1] != 0 {
        return Err(DecodeError::new(ErrorKind::UnsupportedVersion, "frame version or flags"));
    }
    let n = u16::from_be_bytes([h[2], h[3]]) as usize;
    if n == 0 {
        return Err(DecodeError::malformed("empty frame"));
    }
    if n > limit.min(MAX_FRAME_SIZE as usize) {
        return Err(DecodeError::new(ErrorKind::FrameTooLarge, "frame longer than the limit"));
    }
    Ok(n)
}

/// Splits the first frame off `input`: returns its payload and the rest. Input that ends
/// inside the header or the payload is `truncated`.
pub fn split(input: &[u8], limit: usize) -> Result<(&[u8], &[u8]), DecodeError> {
    let Some(h) = input.first_chunk::<HEADER_SIZE>() else {
        return Err(DecodeError::truncated("frame header"));
    };
    let n = parse_header(h, limit)?;
    let rest = &input[HEADER_SIZE..];
    if rest.len() < n {
        return Err(DecodeError::truncated("frame payload"));
    }
    Ok(rest.split_at(n))
}

/// Writes the header for a payload of `len` bytes.
pub fn header(len: usize) -> Result<[u8; HEADER_SIZE], EncodeError> {
    if len == 0 || len > MAX_FRAME_SIZE as usize {
        return Err(EncodeError::TooLarge);
    }
    let l = (len as u16).to_be_bytes();
    Ok([VERSION, 0, l[0], l[1]])
}

/// Incremental frame reader for a byte stream that arrives in pieces (a UART, a TLS
/// record at a time): feed bytes with [`Deframer::push`], take whole payloads with
/// [`Deframer::next`]. Holds at most one frame; the buffer is the caller's.
pub struct Deframer<'b> {
    buf: &'b mut [u8],
    len: usize,
    limit: usize,
    /// Length of the frame waiting to be consumed by `next`, if whole.
    ready: Option<usize>,
}

impl<'b> Deframer<'b> {
    /// `buf` must hold a header plus `limit` bytes.
    pub fn new(buf: &'b mut [u8], limit: usize) -> Self {
        let limit = limit.min(buf.len().saturating_sub(HEADER_SIZE));
        Deframer { buf, len: 0, limit, ready: None }
    }

    /// Bytes the reader wants before it can say more (header, then the rest of the payload).
    pub fn wanted(&self) -> Result<usize, DecodeError> {
        if self.len < HEADER_SIZE {
            return Ok(HEADER_SIZE - self.len);
        }
        let h: &[u8; HEADER_SIZE] = self.buf[..HEADER_SIZE].try_into().unwrap_or(&[0; 4]);
        let n = parse_header(h, self.limit)?;
        Ok(HEADER_SIZE + n - self.len)
    }

    /// Appends bytes; returns how many were taken (never past the end of one frame).
    pub fn push(&mut self, data: &[u8]) -> Result<usize, DecodeError> {
        if self.ready.is_some() {
            return Ok(0);
        }
        let mut taken = 0;
        while taken < data.len() {
            let want = self.wanted()?;
            if want == 0 {
                break;
            }
            let k = want.min(data.len() - taken);
            self.buf[self.len..self.len + k].copy_from_slice(&data[taken..taken + k]);
            self.len += k;
            taken += k;
        }
        if self.len >= HEADER_SIZE && self.wanted()? == 0 {
            self.ready = Some(self.len);
        }
        Ok(taken)
    }

    /// The payload of the frame that is complete, if any; the next call to `push` starts a
    /// new frame.
    pub fn take(&mut self) -> Option<&[u8]> {
        let n = self.ready.take()?;
        self.len = 0;
        Some(&self.buf[HEADER_SIZE..n])
    }

    /// Whether the reader is between frames (nothing buffered).
    pub fn idle(&self) -> bool {
        self.len == 0
    }
}
