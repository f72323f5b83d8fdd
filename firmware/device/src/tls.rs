//! TLS 1.3 to the gateway over the modem link (embedded-tls, blocking API), and the
//! protocol's frames on top ([`Channel`]).
//!
//! - Cipher suite TLS_AES_128_GCM_SHA256, key exchange and signatures on P-256 (the only
//!   ones offered); the gateway's chain (leaf + intermediate) is checked against the
//!   bundle's CA root and the bundle's server name (a DNS name of the certificate) by
//!   [`Verifier`] (`wasmbed_net::x509`).
//! - Certificate validity is checked once the device has the time from a gateway
//!   (`welcome`, since boot); before that the boards have no trusted clock and validity
//!   is not checked (firmware/README.md, "Time").
//! - Buffers: the read buffer holds one record. The gateway writes each frame with one
//!   `Write`, so its records are at most a frame (the device's `max_frame` + 4) plus 22
//!   bytes; its handshake records (the certificate chain, about 1.1 KB) and the session
//!   ticket fit too. The write buffer only bounds our records: larger frames are split.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use embedded_io::ErrorKind;
use embedded_tls::blocking::{
    Aes128GcmSha256, Certificate, CertificateEntryRef, CertificateRef, CertificateVerifyRef, CryptoProvider,
    TlsConfig, TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use embedded_tls::{CryptoRngCore, SignatureScheme};
use p256::ecdsa::SigningKey;
use sha2::{Digest, Sha256};
use wasmbed_net::drbg::HmacDrbg;
use wasmbed_net::link::{Transport, TransportCtl};
use wasmbed_net::x509;
use wasmbed_proto::frame;
use wasmbed_proto::{DecodeError, EncodeError, Envelope, Message};

use crate::board;
use crate::clock;
use crate::link::BoardPort;

/// One encrypted record of the largest frame the gateway may send us.
pub const READ_BUF: usize = board::MAX_FRAME as usize + frame::HEADER_SIZE + 5 + 1 + 16;
/// Our records: frames larger than this are split into several records.
pub const WRITE_BUF: usize = 2048;
/// Our largest frame (app_output batches are cut to fit).
pub const MAX_SEND: usize = 1536;

/// Checks the gateway's certificate chain against the bundle's CA root and server name
/// (`wasmbed_net::x509::verify_chain`), with validity once the device has the time from
/// a gateway, then its CertificateVerify with the leaf's key.
pub struct Verifier<'a> {
    ca_root: &'a [u8],
    host: String,
    /// The leaf's public key and the transcript up to the Certificate message, for
    /// CertificateVerify.
    leaf: Option<(Vec<u8>, Sha256)>,
}

impl TlsVerifier<Aes128GcmSha256> for Verifier<'_> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        self.host = hostname.into();
        Ok(())
    }

    fn verify_certificate(&mut self, transcript: &Sha256, cert: CertificateRef) -> Result<(), TlsError> {
        let mut chain = Vec::with_capacity(cert.entries.len());
        for e in &cert.entries {
            match e {
                CertificateEntryRef::X509(der) => chain.push(*der),
                CertificateEntryRef::RawPublicKey(_) => return Err(TlsError::InvalidCertificate),
            }
        }
        // The gateway's time, once a session told it (the boards have no trusted clock).
        let now = clock::synced().then(|| (clock::unix_ms() / 1000).max(0) as u64);
        let leaf = x509::verify_chain(self.ca_root, &chain, &self.host, now).map_err(x509_error)?;
        self.leaf = Some((leaf.public_key.to_vec(), transcript.clone()));
        Ok(())
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef) -> Result<(), TlsError> {
        let (key, transcript) = self.leaf.take().ok_or(TlsError::InvalidHandshake)?;
        if verify.signature_scheme != SignatureScheme::EcdsaSecp256r1Sha256 {
            return Err(TlsError::InvalidSignatureScheme);
        }
        x509::verify_server_signature(&key, &transcript.finalize(), verify.signature).map_err(|e| match e {
            x509::Error::BadSignature => TlsError::InvalidSignature,
            e => x509_error(e),
        })
    }
}

/// The TlsError embedded-tls's own verifier gave for each case.
fn x509_error(e: x509::Error) -> TlsError {
    match e {
        x509::Error::Malformed => TlsError::DecodeError,
        x509::Error::UnsupportedAlgorithm => TlsError::InvalidSignatureScheme,
        _ => TlsError::InvalidCertificate,
    }
}

pub struct Provider<'a> {
    rng: &'a mut HmacDrbg,
    verifier: Verifier<'a>,
    key: Option<SigningKey>,
    chain: &'a [u8],
}

impl CryptoProvider for Provider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = wasmbed_net::sig::Der;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }

    fn signer(&mut self) -> Result<(impl signature::SignerMut<wasmbed_net::sig::Der>, SignatureScheme), TlsError> {
        let key = self.key.clone().ok_or(TlsError::InvalidPrivateKey)?;
        Ok((wasmbed_net::sig::Signer(key), SignatureScheme::EcdsaSecp256r1Sha256))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        // Leaf and intermediate back to back (the vendored embedded-tls sends each).
        self.key.as_ref().map(|_| Certificate::X509(self.chain))
    }
}

/// Why a session ended.
pub enum NetError {
    Tls(TlsError),
    Decode(DecodeError),
    Encode(EncodeError),
    /// The peer closed the connection.
    Closed,
    Timeout,
    /// The gateway answered with an error: code, message.
    Refused(u16, alloc::string::String),
    /// Something else, said in words.
    Other(&'static str),
}

impl From<TlsError> for NetError {
    fn from(e: TlsError) -> Self {
        match e {
            TlsError::ConnectionClosed | TlsError::Io(ErrorKind::ConnectionReset) => NetError::Closed,
            TlsError::Io(ErrorKind::TimedOut) => NetError::Timeout,
            e => NetError::Tls(e),
        }
    }
}

/// A TLS error in words, as its Debug form would print it (`HandshakeAborted(Fatal,
/// UnknownCa)`): the firmware is built with `-Zfmt-debug=none`, so `{:?}` prints nothing
/// (and embedded-tls's Display is its Debug).
pub struct TlsErr<'a>(pub &'a TlsError);

impl core::fmt::Display for TlsErr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use embedded_tls::alert::{AlertDescription as D, AlertLevel};
        let alert = |f: &mut core::fmt::Formatter<'_>, what: &str, l: &AlertLevel, d: &D| {
            let level = match l {
                AlertLevel::Warning => "Warning",
                AlertLevel::Fatal => "Fatal",
            };
            // The alerts a session meets by name; any other by its number (RFC 8446, 6).
            let desc = match d {
                D::CloseNotify => "CloseNotify",
                D::HandshakeFailure => "HandshakeFailure",
                D::BadCertificate => "BadCertificate",
                D::CertificateRevoked => "CertificateRevoked",
                D::CertificateExpired => "CertificateExpired",
                D::UnknownCa => "UnknownCa",
                D::DecryptError => "DecryptError",
                D::CertificateRequired => "CertificateRequired",
                _ => return write!(f, "{}({}, alert {})", what, level, *d as u8),
            };
            write!(f, "{}({}, {})", what, level, desc)
        };
        let name = match self.0 {
            TlsError::HandshakeAborted(l, d) => return alert(f, "HandshakeAborted", l, d),
            TlsError::AbortHandshake(l, d) => return alert(f, "AbortHandshake", l, d),
            TlsError::ParseError(_) => "ParseError", // its type is not exported
            TlsError::Io(k) => {
                let k = match k {
                    ErrorKind::ConnectionReset => "ConnectionReset",
                    ErrorKind::BrokenPipe => "BrokenPipe",
                    ErrorKind::TimedOut => "TimedOut",
                    ErrorKind::Interrupted => "Interrupted",
                    ErrorKind::NotConnected => "NotConnected",
                    ErrorKind::InvalidData => "InvalidData",
                    ErrorKind::OutOfMemory => "OutOfMemory",
                    _ => "Other",
                };
                return write!(f, "Io({})", k);
            }
            TlsError::ConnectionClosed => "ConnectionClosed",
            TlsError::Unimplemented => "Unimplemented",
            TlsError::MissingHandshake => "MissingHandshake",
            TlsError::IoError => "IoError",
            TlsError::InternalError => "InternalError",
            TlsError::InvalidRecord => "InvalidRecord",
            TlsError::UnknownContentType => "UnknownContentType",
            TlsError::InvalidNonceLength => "InvalidNonceLength",
            TlsError::InvalidTicketLength => "InvalidTicketLength",
            TlsError::UnknownExtensionType => "UnknownExtensionType",
            TlsError::InsufficientSpace => "InsufficientSpace",
            TlsError::InvalidHandshake => "InvalidHandshake",
            TlsError::InvalidCipherSuite => "InvalidCipherSuite",
            TlsError::InvalidSignatureScheme => "InvalidSignatureScheme",
            TlsError::InvalidSignature => "InvalidSignature",
            TlsError::InvalidExtensionsLength => "InvalidExtensionsLength",
            TlsError::InvalidSessionIdLength => "InvalidSessionIdLength",
            TlsError::InvalidSupportedVersions => "InvalidSupportedVersions",
            TlsError::InvalidApplicationData => "InvalidApplicationData",
            TlsError::InvalidKeyShare => "InvalidKeyShare",
            TlsError::InvalidCertificate => "InvalidCertificate",
            TlsError::InvalidCertificateEntry => "InvalidCertificateEntry",
            TlsError::InvalidCertificateRequest => "InvalidCertificateRequest",
            TlsError::InvalidPrivateKey => "InvalidPrivateKey",
            TlsError::UnableToInitializeCryptoEngine => "UnableToInitializeCryptoEngine",
            TlsError::OutOfMemory => "OutOfMemory",
            TlsError::CryptoError => "CryptoError",
            TlsError::EncodeError => "EncodeError",
            TlsError::DecodeError => "DecodeError",
        };
        f.write_str(name)
    }
}

/// Decodes a payload from the gateway: `None` for a message of a type only devices send
/// (a device decodes only the gateway's messages: `Envelope::decode_on_device`).
pub fn decode(p: &[u8]) -> Result<Option<Message<'_>>, NetError> {
    Ok(Envelope::decode_on_device(p).map_err(NetError::Decode)?.ok().map(|e| e.msg))
}

pub type Conn<'a> = TlsConnection<'a, Transport<'a, BoardPort>, Aes128GcmSha256>;

/// A connection on the heap: its key schedule (several HMAC states) makes it about
/// 2.5 KB, which must not be on the stack under the handshake (nor copied in and out of it).
pub type BoxedConn<'a> = Box<Conn<'a>>;

/// Runs the TLS handshake over an open link connection: server-authenticated, or mutual
/// with `identity` (key, certificate chain DER back to back).
#[inline(never)]
pub fn handshake<'a, 'p>(
    transport: Transport<'a, BoardPort>,
    rbuf: &'a mut [u8],
    wbuf: &'a mut [u8],
    server_name: &str,
    ca_root: &'p [u8],
    rng: &'p mut HmacDrbg,
    identity: Option<(&SigningKey, &'p [u8])>,
) -> Result<BoxedConn<'a>, NetError> {
    let mut tls = Box::write(Box::new_uninit(), TlsConnection::new(transport, rbuf, wbuf));
    let config = TlsConfig::new().with_server_name(server_name);
    // On the heap: the handshake is what takes the most stack.
    let mut provider = Box::new(Provider {
        rng,
        verifier: Verifier { ca_root, host: String::new(), leaf: None },
        key: identity.map(|(k, _)| k.clone()),
        chain: identity.map(|(_, c)| c).unwrap_or(&[]),
    });
    tls.open(TlsContext::new(&config, &mut *provider))?;
    Ok(tls)
}

/// Protocol frames over a TLS connection.
pub struct Channel<'a> {
    pub tls: BoxedConn<'a>,
    pub ctl: &'a TransportCtl,
    rx: Vec<u8>,
    rx_len: usize,
    /// The gateway's max_frame, once welcomed.
    pub peer_max: usize,
    pub sent: u32,
    pub received: u32,
}

impl<'a> Channel<'a> {
    pub fn new(tls: BoxedConn<'a>, ctl: &'a TransportCtl) -> Self {
        Channel {
            tls,
            ctl,
            rx: vec![0; board::MAX_FRAME as usize + frame::HEADER_SIZE],
            rx_len: 0,
            peer_max: wasmbed_proto::limits::MIN_FRAME_SIZE as usize,
            sent: 0,
            received: 0,
        }
    }

    /// Sends one message in one frame (one TLS record when it fits the write buffer). The
    /// frame is encoded into a buffer of the heap for the time of the call: most of a
    /// session no frame is being sent.
    pub fn send(&mut self, request_id: u64, msg: Message<'_>) -> Result<(), NetError> {
        let env = Envelope::new(request_id, msg);
        let mut tx = vec![0; MAX_SEND + frame::HEADER_SIZE];
        let n = match env.encode_frame_from_device(&mut tx) {
            Ok(n) => n,
            Err(EncodeError::BufferFull) => {
                // Rare (a long CSR): encode on the heap, into the largest frame the
                // gateway accepts (the same encoder: one copy of it in flash), if the
                // heap has room for it now: a small board's may not.
                drop(tx);
                let want = self.peer_max + frame::HEADER_SIZE;
                let mut big = Vec::new();
                if big.try_reserve_exact(want).is_err() {
                    crate::reset::forget_oom(); // refused, not a crash
                    return Err(NetError::Other("frame larger than the firmware's heap has room for"));
                }
                big.resize(want, 0);
                return match env.encode_frame_from_device(&mut big) {
                    Ok(n) => self.write(&big[..n]),
                    Err(EncodeError::BufferFull) => Err(NetError::Other("frame larger than the gateway accepts")),
                    Err(e) => Err(NetError::Encode(e)),
                };
            }
            Err(e) => return Err(NetError::Encode(e)),
        };
        self.write(&tx[..n])
    }

    fn write(&mut self, mut data: &[u8]) -> Result<(), NetError> {
        if data.len() - frame::HEADER_SIZE > self.peer_max {
            return Err(NetError::Other("frame larger than the gateway accepts"));
        }
        while !data.is_empty() {
            let n = self.tls.write(data)?;
            data = &data[n..];
        }
        self.tls.flush()?;
        self.sent += 1;
        Ok(())
    }

    /// A whole frame if one has arrived (without waiting between records). The frame is
    /// the channel's receive buffer itself, not a copy: give it back (`give_back`) once
    /// done with it, or the next frame needs a new buffer.
    pub fn poll(&mut self) -> Result<Option<Frame>, NetError> {
        if self.rx.is_empty() {
            self.rx = vec![0; board::MAX_FRAME as usize + frame::HEADER_SIZE];
        }
        loop {
            let want = if self.rx_len < frame::HEADER_SIZE {
                frame::HEADER_SIZE - self.rx_len
            } else {
                let h: [u8; 4] = self.rx[..4].try_into().unwrap();
                let n = frame::parse_header(&h, board::MAX_FRAME as usize).map_err(NetError::Decode)?;
                frame::HEADER_SIZE + n - self.rx_len
            };
            if want == 0 {
                let f = Frame { buf: core::mem::take(&mut self.rx), len: self.rx_len };
                self.rx_len = 0;
                self.received += 1;
                return Ok(Some(f));
            }
            match self.tls.read(&mut self.rx[self.rx_len..self.rx_len + want]) {
                Ok(0) => return Err(NetError::Closed),
                Ok(k) => self.rx_len += k,
                Err(TlsError::Io(ErrorKind::Interrupted)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes back the buffer of a frame `poll` returned.
    pub fn give_back(&mut self, f: Frame) {
        if self.rx.is_empty() {
            self.rx = f.buf;
        }
    }

    /// Waits for a whole frame (up to `timeout_ms`).
    pub fn recv(&mut self, timeout_ms: u64) -> Result<Frame, NetError> {
        let end = clock::uptime_ms() + timeout_ms;
        let was = self.ctl.nonblocking.replace(true);
        let r = loop {
            match self.poll() {
                Ok(Some(p)) => break Ok(p),
                Ok(None) if clock::uptime_ms() >= end => break Err(NetError::Timeout),
                Ok(None) => {
                    board::watchdog_feed();
                    crate::arch::wfi();
                }
                Err(e) => break Err(e),
            }
        };
        self.ctl.nonblocking.set(was);
        r
    }
}

/// One received frame: its payload is the frame less its header.
pub struct Frame {
    buf: Vec<u8>,
    len: usize,
}

impl core::ops::Deref for Frame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[frame::HEADER_SIZE..self.len]
    }
}
