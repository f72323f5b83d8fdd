//! What a device keeps across power loss, on NOR flash: a log of records over two erase
//! sectors, where the newest record that checks out is the value.
//!
//! Each record is `magic, seq, len` (little-endian u32s), the payload padded to a
//! word, then the SHA-256 of all of that. A write appends a record after the newest
//! one while its sector has room, else erases the *other* sector and starts it: the
//! sector holding the newest record is never erased, so a power cut at any point of a
//! write (mid-erase, mid-program, a word half programmed) leaves either the previous
//! value or the new one, never nothing. A record whose checksum fails ends the scan
//! of its sector, and nothing is appended after it (its length may be garbage); the
//! next write moves to the other sector instead.
//!
//! Wear: a write of an unchanged value programs nothing; otherwise one record is
//! programmed, and a sector is erased once per `sector / record` writes (on the
//! STM32F4's 128 KiB sectors, once every ~100 certificate renewals).

#![no_std]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use sha2::{Digest, Sha256};

/// What can go wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The flash failed an operation (the backend's words).
    Flash(&'static str),
    /// The record is larger than a sector.
    TooLarge,
    /// What was programmed does not read back.
    Verify,
}

impl Error {
    /// In words, for a log line (the firmware prints no `Debug`).
    pub fn words(&self) -> &'static str {
        match self {
            Error::Flash(w) => w,
            Error::TooLarge => "the record is larger than a sector",
            Error::Verify => "what was programmed does not read back",
        }
    }
}

/// Two erase sectors of NOR flash, addressed from 0 (sector 0) to `2 * sector_size()`.
/// Erased bytes read 0xFF; programming only clears bits.
pub trait Flash {
    /// Bytes per sector.
    fn sector_size(&self) -> u32;
    fn read(&mut self, off: u32, buf: &mut [u8]) -> Result<(), Error>;
    /// Erases sector 0 or 1.
    fn erase(&mut self, sector: u32) -> Result<(), Error>;
    /// Programs `data` at `off`: both word (4-byte) aligned.
    fn program(&mut self, off: u32, data: &[u8]) -> Result<(), Error>;
}

impl<T: Flash + ?Sized> Flash for alloc::boxed::Box<T> {
    fn sector_size(&self) -> u32 {
        (**self).sector_size()
    }
    fn read(&mut self, off: u32, buf: &mut [u8]) -> Result<(), Error> {
        (**self).read(off, buf)
    }
    fn erase(&mut self, sector: u32) -> Result<(), Error> {
        (**self).erase(sector)
    }
    fn program(&mut self, off: u32, data: &[u8]) -> Result<(), Error> {
        (**self).program(off, data)
    }
}

const MAGIC: u32 = u32::from_le_bytes(*b"WBKT");
const HEAD: u32 = 12;
const SUM: u32 = 32;

/// Bytes a record of `len` payload bytes takes.
pub fn record_size(len: usize) -> usize {
    (HEAD + SUM) as usize + ((len + 3) & !3)
}

#[derive(Clone, Copy)]
struct Found {
    seq: u32,
    off: u32,
    len: u32,
}

/// The log over a flash.
pub struct Log<F: Flash> {
    flash: F,
    best: Option<Found>,
    /// Where each sector's valid records end (relative to the sector).
    tail: [u32; 2],
}

impl<F: Flash> Log<F> {
    /// Scans both sectors.
    pub fn open(flash: F) -> Result<Self, Error> {
        let mut log = Log { flash, best: None, tail: [0; 2] };
        log.scan()?;
        Ok(log)
    }

    fn scan(&mut self) -> Result<(), Error> {
        let size = self.flash.sector_size();
        self.best = None;
        for s in 0..2u32 {
            let base = s * size;
            let mut pos = 0;
            while let Some(f) = self.record_at(base + pos, size - pos)? {
                if self.best.map_or(true, |b| f.seq > b.seq) {
                    self.best = Some(f);
                }
                pos += record_size(f.len as usize) as u32;
            }
            self.tail[s as usize] = pos;
        }
        Ok(())
    }

    /// The valid record at `off` with at most `room` bytes before the sector's end.
    fn record_at(&mut self, off: u32, room: u32) -> Result<Option<Found>, Error> {
        if room < HEAD + SUM {
            return Ok(None);
        }
        let mut head = [0u8; HEAD as usize];
        self.flash.read(off, &mut head)?;
        let word = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().unwrap());
        let (magic, seq, len) = (word(0), word(4), word(8));
        if magic != MAGIC || len >= room {
            return Ok(None);
        }
        let n = record_size(len as usize);
        if n as u32 > room {
            return Ok(None);
        }
        let mut rec = vec![0u8; n];
        self.flash.read(off, &mut rec)?;
        let (body, sum) = rec.split_at(n - SUM as usize);
        Ok((Sha256::digest(body)[..] == *sum).then_some(Found { seq, off, len }))
    }

    /// The newest value, if any.
    pub fn load(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let Some(b) = self.best else { return Ok(None) };
        let mut v = vec![0u8; b.len as usize];
        self.flash.read(b.off + HEAD, &mut v)?;
        Ok(Some(v))
    }

    /// Makes `value` the newest. Ok(false): it already was, nothing was written.
    pub fn write(&mut self, value: &[u8]) -> Result<bool, Error> {
        if self.load()?.as_deref() == Some(value) {
            return Ok(false);
        }
        let size = self.flash.sector_size();
        let n = record_size(value.len());
        if n > size as usize {
            return Err(Error::TooLarge);
        }
        let seq = self.best.map_or(1, |b| b.seq.wrapping_add(1));
        let mut rec = Vec::with_capacity(n);
        for w in [MAGIC, seq, value.len() as u32] {
            rec.extend_from_slice(&w.to_le_bytes());
        }
        rec.extend_from_slice(value);
        rec.resize(n - SUM as usize, 0);
        let sum = Sha256::digest(&rec);
        rec.extend_from_slice(&sum);

        let res = self.put(&rec, Found { seq, off: 0, len: value.len() as u32 }, size);
        if res.is_err() {
            // Whatever the cut left, the next write starts from what the flash holds.
            let _ = self.scan();
        }
        res.map(|()| true)
    }

    fn put(&mut self, rec: &[u8], mut f: Found, size: u32) -> Result<(), Error> {
        let n = rec.len() as u32;
        let active = self.best.map(|b| b.off / size);
        let mut at = None;
        if let Some(a) = active {
            let t = self.tail[a as usize];
            if t + n <= size && self.erased(a * size + t, n)? {
                at = Some((a, t));
            }
        }
        let (s, t) = match at {
            Some(x) => x,
            None => {
                let s = active.map_or(0, |a| 1 - a);
                self.flash.erase(s)?;
                (s, 0)
            }
        };
        let off = s * size + t;
        self.flash.program(off, rec)?;
        let mut back = vec![0u8; rec.len()];
        self.flash.read(off, &mut back)?;
        if back != rec {
            return Err(Error::Verify);
        }
        f.off = off;
        self.best = Some(f);
        self.tail[s as usize] = t + n;
        Ok(())
    }

    /// Whether `n` bytes at `off` are erased.
    fn erased(&mut self, off: u32, n: u32) -> Result<bool, Error> {
        let mut buf = [0u8; 64];
        let mut p = 0;
        while p < n {
            let k = (n - p).min(64) as usize;
            self.flash.read(off + p, &mut buf[..k])?;
            if buf[..k].iter().any(|&b| b != 0xFF) {
                return Ok(false);
            }
            p += k as u32;
        }
        Ok(true)
    }

    /// The flash, to give back.
    pub fn into_inner(self) -> F {
        self.flash
    }
}

#[cfg(test)]
mod tests;
