//! The modem link: how a board without a network interface reaches the gateway.
//!
//! The board's second UART talks to a modem — under emulation, the host bridge
//! (`firmware/bridge`) that QEMU's serial port connects to. The modem opens one real TCP
//! connection per session, so the gateway sees sessions begin and end, and TLS stays end
//! to end: the modem only ever carries ciphertext.
//!
//! Every frame, both ways:
//!
//! ```text
//! SYNC 0xA5 | kind u8 | id u8 | length u16 BE | payload (length <= 1024 bytes)
//! ```
//!
//! | kind | name | direction | payload |
//! |-----:|------|-----------|---------|
//! | 1 | RESET | both | device: window u32 BE, nonce u32 BE, `wasmbed-link/1`; modem: nonce u32 BE, `wasmbed-link/1` |
//! | 2 | OPEN | device → modem | `host:port` |
//! | 3 | OPENED | modem → device | |
//! | 4 | DATA | both | bytes of connection `id` |
//! | 5 | CLOSE | device → modem | |
//! | 6 | CLOSED | modem → device | why, text (remote closed, dial error, ...) |
//! | 7 | CREDIT | device → modem | u32 BE: bytes consumed since the last CREDIT |
//!
//! - The device announces itself with RESET at boot, with a fresh nonce: the modem closes
//!   every connection of the link, forgets what it queued, and answers RESET with the
//!   same nonce. Frames that arrive before that answer are stale and dropped. A modem
//!   that starts (a bridge restarted, an emulator connected) sends RESET with nonce 0:
//!   the device closes its connection and announces itself again.
//! - Flow control toward the device: the modem may have at most `window` bytes (frames
//!   whole, headers included) sent and not yet credited. The device's receive ring holds
//!   `window` bytes, so it never overflows even when the firmware is busy for a while (a
//!   P-256 operation); the device credits bytes as it takes them from the ring. Toward
//!   the modem there is none: the device writes as fast as the UART goes.
//! - Connection ids are 1..=255, chosen by the device, one open at a time here. Data of
//!   any other id (a connection already closed) is dropped.
//! - A byte that is not SYNC where a frame should start, an unknown kind or an oversized
//!   length is skipped (the reader scans for the next SYNC), so a reset on either side or
//!   an overrun loses frames, not the link.

use core::cell::Cell;

use embedded_io::{ErrorKind, ErrorType};

pub const SYNC: u8 = 0xA5;
pub const HEADER_SIZE: usize = 5;
/// Largest payload of one link frame.
pub const MAX_PAYLOAD: usize = 1024;
/// The protocol name both sides put in RESET.
pub const MAGIC: &[u8] = b"wasmbed-link/1";

pub const RESET: u8 = 1;
pub const OPEN: u8 = 2;
pub const OPENED: u8 = 3;
pub const DATA: u8 = 4;
pub const CLOSE: u8 = 5;
pub const CLOSED: u8 = 6;
pub const CREDIT: u8 = 7;

/// Control payloads kept (OPENED, CLOSED's reason, RESET).
const CTRL_MAX: usize = 96;

/// A frame header.
pub fn header(kind: u8, id: u8, len: usize) -> [u8; HEADER_SIZE] {
    let l = (len as u16).to_be_bytes();
    [SYNC, kind, id, l[0], l[1]]
}

/// The board's side of the UART.
pub trait Port {
    /// Writes all of `data` (blocking).
    fn write(&mut self, data: &[u8]);
    /// Takes received bytes into `buf`; returns how many (0: none now).
    fn read(&mut self, buf: &mut [u8]) -> usize;
    /// Milliseconds since boot.
    fn now_ms(&self) -> u64;
    /// Nothing to do now: wait a little (sleep until an interrupt, feed the watchdog).
    fn idle(&mut self);
}

/// Why a link operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The modem did not answer in time.
    Timeout,
    /// The modem could not open the connection (see [`Modem::reason`]).
    Refused,
    /// The connection is closed (by the peer, the modem, or a link reset).
    Closed,
}

// Display, not Debug, for the console: the firmware is built with `-Zfmt-debug=none`.
impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Timeout => "Timeout",
            Error::Refused => "Refused",
            Error::Closed => "Closed",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    Idle,
    Opening,
    Open,
    Closed,
}

/// Counters, for the console and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Bytes skipped looking for a frame start.
    pub skipped: u64,
    /// DATA bytes of connections no longer open, dropped.
    pub stale: u64,
    pub credits: u64,
}

/// The device's side of the modem link.
pub struct Modem<P: Port> {
    pub port: P,
    window: u32,
    unacked: u32,
    hdr: [u8; HEADER_SIZE],
    hdr_len: usize,
    left: usize,
    ctrl: [u8; CTRL_MAX],
    ctrl_len: usize,
    awaiting_reset: bool,
    nonce: u32,
    ready: bool,
    cur: u8,
    conn: Conn,
    reason: [u8; CTRL_MAX],
    reason_len: usize,
    next_id: u8,
    pub stats: Stats,
}

impl<P: Port> Modem<P> {
    /// `window` is the size of the board's receive ring.
    pub fn new(port: P, window: u32) -> Self {
        Modem {
            port,
            window,
            unacked: 0,
            hdr: [0; HEADER_SIZE],
            hdr_len: 0,
            left: 0,
            ctrl: [0; CTRL_MAX],
            ctrl_len: 0,
            awaiting_reset: false,
            nonce: 0,
            ready: false,
            cur: 0,
            conn: Conn::Idle,
            reason: [0; CTRL_MAX],
            reason_len: 0,
            next_id: 1,
            stats: Stats::default(),
        }
    }

    fn send(&mut self, kind: u8, id: u8, payload: &[u8]) {
        self.port.write(&header(kind, id, payload.len()));
        self.port.write(payload);
        self.stats.tx_bytes += (HEADER_SIZE + payload.len()) as u64;
    }

    fn send_reset(&mut self) {
        self.nonce = self.nonce.wrapping_add(1).max(1);
        let mut p = [0u8; 8 + MAGIC.len()];
        p[..4].copy_from_slice(&self.window.to_be_bytes());
        p[4..8].copy_from_slice(&self.nonce.to_be_bytes());
        p[8..].copy_from_slice(MAGIC);
        self.unacked = 0;
        self.awaiting_reset = true;
        self.ready = false;
        self.send(RESET, 0, &p);
    }

    /// Counts bytes taken from the ring and credits them back to the modem.
    fn consumed(&mut self, n: usize) {
        self.stats.rx_bytes += n as u64;
        self.unacked += n as u32;
        if self.unacked >= self.window / 4 {
            let c = self.unacked.to_be_bytes();
            self.unacked = 0;
            self.stats.credits += 1;
            self.send(CREDIT, 0, &c);
        }
    }

    /// Whether the reader stands at payload bytes of the open connection.
    fn at_data(&self) -> bool {
        self.hdr_len == HEADER_SIZE && self.hdr[1] == DATA && self.left > 0 && self.hdr[2] == self.cur && self.conn == Conn::Open
    }

    /// Reads what has arrived: control frames are applied, DATA of other connections is
    /// dropped; stops at DATA of the open connection (for [`Modem::read`]).
    pub fn poll(&mut self) {
        let mut buf = [0u8; 32];
        loop {
            if self.at_data() {
                return;
            }
            // Never read past the end of the current frame: the next one may be DATA
            // that must stay in the ring for the reader.
            let want = if self.hdr_len < HEADER_SIZE { 1 } else { self.left.clamp(1, buf.len()) };
            let n = self.port.read(&mut buf[..want]);
            if n == 0 {
                return;
            }
            self.consumed(n);
            for &b in &buf[..n] {
                self.byte(b);
            }
        }
    }

    fn byte(&mut self, b: u8) {
        if self.hdr_len < HEADER_SIZE {
            if self.hdr_len == 0 && b != SYNC {
                self.stats.skipped += 1;
                return;
            }
            self.hdr[self.hdr_len] = b;
            self.hdr_len += 1;
            if self.hdr_len == HEADER_SIZE {
                let len = u16::from_be_bytes([self.hdr[3], self.hdr[4]]) as usize;
                if !(RESET..=CREDIT).contains(&self.hdr[1]) || len > MAX_PAYLOAD {
                    self.stats.skipped += HEADER_SIZE as u64;
                    self.hdr_len = 0;
                    return;
                }
                self.left = len;
                self.ctrl_len = 0;
                if len == 0 {
                    self.frame_done();
                }
            }
            return;
        }
        // A payload byte of a frame that is not the open connection's DATA.
        if self.hdr[1] == DATA {
            self.stats.stale += 1;
        } else if self.ctrl_len < CTRL_MAX {
            self.ctrl[self.ctrl_len] = b;
            self.ctrl_len += 1;
        }
        self.left -= 1;
        if self.left == 0 {
            self.frame_done();
        }
    }

    fn frame_done(&mut self) {
        self.hdr_len = 0;
        let (kind, id) = (self.hdr[1], self.hdr[2]);
        match kind {
            RESET if self.ctrl_len >= 4 => {
                let nonce = u32::from_be_bytes([self.ctrl[0], self.ctrl[1], self.ctrl[2], self.ctrl[3]]);
                if nonce == 0 {
                    // The modem started over (a bridge restarted): whatever was open is
                    // gone; announce ourselves.
                    if self.conn == Conn::Opening || self.conn == Conn::Open {
                        self.set_closed(b"the modem restarted");
                    }
                    self.send_reset();
                } else if self.awaiting_reset && nonce == self.nonce {
                    self.awaiting_reset = false;
                    self.ready = true;
                }
                // Another nonce: the answer to an earlier RESET, stale.
            }
            OPENED if id == self.cur && self.conn == Conn::Opening => self.conn = Conn::Open,
            CLOSED if id == self.cur && (self.conn == Conn::Opening || self.conn == Conn::Open) => {
                let mut r = [0u8; CTRL_MAX];
                let n = self.ctrl_len;
                r[..n].copy_from_slice(&self.ctrl[..n]);
                self.set_closed(&r[..n]);
            }
            _ => {}
        }
    }

    fn set_closed(&mut self, why: &[u8]) {
        self.conn = Conn::Closed;
        let n = why.len().min(CTRL_MAX);
        self.reason[..n].copy_from_slice(&why[..n]);
        self.reason_len = n;
    }

    /// Why the last connection closed or could not open.
    pub fn reason(&self) -> &str {
        core::str::from_utf8(&self.reason[..self.reason_len]).unwrap_or("(not UTF-8)")
    }

    /// Whether the modem answered RESET.
    pub fn ready(&self) -> bool {
        self.ready
    }

    fn wait(&mut self, deadline: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        loop {
            self.poll();
            if done(self) {
                return true;
            }
            if self.port.now_ms() >= deadline {
                return false;
            }
            self.port.idle();
        }
    }

    /// Announces the device to the modem and waits for its answer (RESET is repeated
    /// every second: the modem may not be there yet).
    pub fn reset(&mut self, timeout_ms: u64) -> Result<(), Error> {
        let end = self.port.now_ms() + timeout_ms;
        loop {
            self.send_reset();
            let next = (self.port.now_ms() + 1000).min(end);
            if self.wait(next, |m| m.ready) {
                return Ok(());
            }
            if self.port.now_ms() >= end {
                return Err(Error::Timeout);
            }
        }
    }

    /// Opens a TCP connection to `addr` (`host:port`) through the modem.
    pub fn open(&mut self, addr: &str, timeout_ms: u64) -> Result<(), Error> {
        if self.conn == Conn::Open || self.conn == Conn::Opening {
            self.close();
        }
        if !self.ready {
            self.reset(timeout_ms)?;
        }
        self.cur = self.next_id;
        self.next_id = if self.next_id == 255 { 1 } else { self.next_id + 1 };
        self.conn = Conn::Opening;
        self.reason_len = 0;
        let cur = self.cur;
        self.send(OPEN, cur, addr.as_bytes());
        let end = self.port.now_ms() + timeout_ms;
        self.wait(end, |m| m.conn != Conn::Opening);
        match self.conn {
            Conn::Open => Ok(()),
            Conn::Opening => {
                self.close();
                self.set_closed(b"open timed out");
                // A modem that does not answer may have lost track of us: start over.
                self.ready = false;
                Err(Error::Timeout)
            }
            _ => Err(Error::Refused),
        }
    }

    /// Whether the connection is open (data may still be waiting after it closed: read
    /// until [`Error::Closed`]).
    pub fn is_open(&self) -> bool {
        self.conn == Conn::Open
    }

    /// Takes received bytes of the open connection, without waiting. `Ok(0)`: none yet.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.poll();
        if !self.at_data() {
            return if self.conn == Conn::Open { Ok(0) } else { Err(Error::Closed) };
        }
        let n = buf.len().min(self.left);
        let got = self.port.read(&mut buf[..n]);
        self.consumed(got);
        self.left -= got;
        if self.left == 0 {
            self.hdr_len = 0;
        }
        Ok(got)
    }

    /// Whether bytes of the open connection are waiting (or it closed).
    pub fn readable(&mut self) -> bool {
        self.poll();
        self.at_data() || self.conn != Conn::Open
    }

    /// Sends bytes on the open connection.
    pub fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.poll();
        if self.conn != Conn::Open {
            return Err(Error::Closed);
        }
        let cur = self.cur;
        for chunk in data.chunks(MAX_PAYLOAD) {
            self.send(DATA, cur, chunk);
        }
        Ok(())
    }

    /// Closes the connection (the modem closes the TCP connection; whatever it still
    /// sends for it is dropped).
    pub fn close(&mut self) {
        if self.conn == Conn::Open || self.conn == Conn::Opening {
            let cur = self.cur;
            self.send(CLOSE, cur, &[]);
            self.set_closed(b"closed by the device");
        }
        self.cur = 0;
        self.conn = Conn::Idle;
    }
}

/// The byte stream TLS runs over: one connection of the modem, with timeouts, and a
/// non-blocking mode that only ever says "nothing yet" between TLS records.
///
/// The TLS client reads a record header, then its body, with blocking reads. The session
/// loop must not block while nothing arrives (apps tick, heartbeats go out), but a read
/// that fails in the middle of a record would lose it. So the transport follows the
/// record framing (5-byte header: type, version, length) of the bytes it hands out: at a
/// record boundary with nothing received it fails with `Interrupted` ("try later"); inside
/// a record it waits for the rest, which is on its way.
pub struct Transport<'m, P: Port> {
    pub modem: &'m mut Modem<P>,
    /// Mode and counters, shared with the owner while the TLS client holds the transport.
    pub ctl: &'m TransportCtl,
    rec_hdr: [u8; 5],
    rec_hdr_len: usize,
    rec_left: usize,
}

/// How a [`Transport`] behaves, and what it saw.
#[derive(Debug, Default)]
pub struct TransportCtl {
    /// Fail with `Interrupted` at record boundaries when nothing has arrived.
    pub nonblocking: Cell<bool>,
    /// How long a read waits for bytes that must come (0: 30 s).
    pub timeout_ms: Cell<u64>,
    /// The largest record seen (header included), for the footprint measurements.
    pub largest_record: Cell<usize>,
    pub records: Cell<u32>,
}

impl<'m, P: Port> Transport<'m, P> {
    pub fn new(modem: &'m mut Modem<P>, ctl: &'m TransportCtl) -> Self {
        Transport { modem, ctl, rec_hdr: [0; 5], rec_hdr_len: 0, rec_left: 0 }
    }

    /// Whether the transport stands between two records.
    pub fn at_boundary(&self) -> bool {
        self.rec_hdr_len == 0 && self.rec_left == 0
    }

    fn track(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            if self.rec_left > 0 {
                let k = self.rec_left.min(data.len() - i);
                self.rec_left -= k;
                i += k;
                continue;
            }
            self.rec_hdr[self.rec_hdr_len] = data[i];
            self.rec_hdr_len += 1;
            i += 1;
            if self.rec_hdr_len == 5 {
                self.rec_left = u16::from_be_bytes([self.rec_hdr[3], self.rec_hdr[4]]) as usize;
                self.rec_hdr_len = 0;
                self.ctl.records.set(self.ctl.records.get() + 1);
                self.ctl.largest_record.set(self.ctl.largest_record.get().max(5 + self.rec_left));
            }
        }
    }
}

impl<P: Port> ErrorType for Transport<'_, P> {
    type Error = ErrorKind;
}

impl<P: Port> embedded_io::Read for Transport<'_, P> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        let timeout = match self.ctl.timeout_ms.get() {
            0 => 30_000,
            t => t,
        };
        let end = self.modem.port.now_ms() + timeout;
        loop {
            match self.modem.read(buf) {
                Ok(0) => {}
                Ok(n) => {
                    self.track(&buf[..n]);
                    return Ok(n);
                }
                Err(_) => return Err(ErrorKind::ConnectionReset),
            }
            if self.ctl.nonblocking.get() && self.at_boundary() {
                return Err(ErrorKind::Interrupted);
            }
            if self.modem.port.now_ms() >= end {
                return Err(ErrorKind::TimedOut);
            }
            self.modem.port.idle();
        }
    }
}

impl<P: Port> embedded_io::Write for Transport<'_, P> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.modem.write(buf).map_err(|_| ErrorKind::BrokenPipe)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}
