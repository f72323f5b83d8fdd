//! TLS 1.3 to the gateway over the modem link (embedded-tls, blocking API), and the
//! protocol's frames on top ([`Channel`]).
//!
//! - Cipher suite TLS_AES_128_GCM_SHA256, key exchange and signatures on P-256 (the only
//!   ones offered); the gateway's chain (leaf + intermediate) is checked against the
//!   bundle's CA root and the bundle's server name (a DNS name of the certificate).
//! - Certificate validity is checked once the device has the time from a gateway
//!   (`welcome`, since boot); before that the boards have no trusted clock and validity
//!   is not checked (firmware/README.md, "Time").
//! - Buffers: the read buffer holds one record. The gateway writes each frame with one
//!   `Write`, so its records are at most a frame (the device's `max_frame` + 4) plus 22
//!   bytes; its handshake records (the certificate chain, about 1.1 KB) and the session
//!   ticket fit too. The write buffer only bounds our records: larger frames are split.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use embedded_io::ErrorKind;
use embedded_tls::blocking::{
    Aes128GcmSha256, Certificate, CryptoProvider, TlsClock, TlsConfig, TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{CryptoRngCore, SignatureScheme};
use p256::ecdsa::{DerSignature, SigningKey};
use wasmbed_net::drbg::HmacDrbg;
use wasmbed_net::link::{Transport, TransportCtl};
use wasmbed_proto::frame;
use wasmbed_proto::{DecodeError, EncodeError, Envelope, Message};

use crate::board;
use crate::clock;
use crate::link::BoardPort;

/// One encrypted record of the largest frame the gateway may send us.
pub const READ_BUF: usize = board::MAX_FRAME as usize + frame::HEADER_SIZE + 5 + 1 + 16;
/// Our records: frames larger than this are split into several records.
pub const WRITE_BUF: usize = 2048;
/// The server's Certificate message, kept by the verifier until CertificateVerify.
const CERT_SIZE: usize = 2048;
/// Our largest frame (app_output batches are cut to fit).
pub const MAX_SEND: usize = 1536;

/// The certificate verifier's clock: the gateway's time once a session told it.
pub struct Clock;

impl TlsClock for Clock {
    fn now() -> Option<u64> {
        clock::synced().then(|| (clock::unix_ms() / 1000) as u64)
    }
}

pub struct Provider<'a> {
    rng: &'a mut HmacDrbg,
    verifier: CertVerifier<'a, Aes128GcmSha256, Clock, CERT_SIZE>,
    key: Option<SigningKey>,
    chain: &'a [u8],
}

impl CryptoProvider for Provider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = DerSignature;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }

    fn signer(&mut self) -> Result<(impl signature::SignerMut<DerSignature>, SignatureScheme), TlsError> {
        let key = self.key.clone().ok_or(TlsError::InvalidPrivateKey)?;
        Ok((key, SignatureScheme::EcdsaSecp256r1Sha256))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        // Leaf and intermediate back to back (the vendored embedded-tls sends each).
        self.key.as_ref().map(|_| Certificate::X509(self.chain))
    }
}

/// Why a session ended.
#[derive(Debug)]
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

pub type Conn<'a> = TlsConnection<'a, Transport<'a, BoardPort>, Aes128GcmSha256>;

/// Runs the TLS handshake over an open link connection: server-authenticated, or mutual
/// with `identity` (key, certificate chain DER back to back).
pub fn handshake<'a, 'p>(
    transport: Transport<'a, BoardPort>,
    rbuf: &'a mut [u8],
    wbuf: &'a mut [u8],
    server_name: &str,
    ca_root: &'p [u8],
    rng: &'p mut HmacDrbg,
    identity: Option<(&SigningKey, &'p [u8])>,
) -> Result<Conn<'a>, NetError> {
    let mut tls = TlsConnection::new(transport, rbuf, wbuf);
    let config = TlsConfig::new().with_server_name(server_name);
    // On the heap: the verifier keeps a copy of the server's certificates (2 KB), and
    // the handshake is what takes the most stack.
    let mut provider = Box::new(Provider {
        rng,
        verifier: CertVerifier::new(Certificate::X509(ca_root)),
        key: identity.map(|(k, _)| k.clone()),
        chain: identity.map(|(_, c)| c).unwrap_or(&[]),
    });
    tls.open(TlsContext::new(&config, &mut *provider))?;
    Ok(tls)
}

/// Protocol frames over a TLS connection.
pub struct Channel<'a> {
    pub tls: Conn<'a>,
    pub ctl: &'a TransportCtl,
    rx: Vec<u8>,
    rx_len: usize,
    tx: Vec<u8>,
    /// The gateway's max_frame, once welcomed.
    pub peer_max: usize,
    pub sent: u32,
    pub received: u32,
}

impl<'a> Channel<'a> {
    pub fn new(tls: Conn<'a>, ctl: &'a TransportCtl) -> Self {
        Channel {
            tls,
            ctl,
            rx: vec![0; board::MAX_FRAME as usize + frame::HEADER_SIZE],
            rx_len: 0,
            tx: vec![0; MAX_SEND + frame::HEADER_SIZE],
            peer_max: wasmbed_proto::limits::MIN_FRAME_SIZE as usize,
            sent: 0,
            received: 0,
        }
    }

    /// Sends one message in one frame (one TLS record when it fits the write buffer).
    pub fn send(&mut self, request_id: u64, msg: Message<'_>) -> Result<(), NetError> {
        let env = Envelope::new(request_id, msg);
        let n = match env.encode_frame(&mut self.tx) {
            Ok(n) => n,
            Err(EncodeError::BufferFull) => {
                // Rare (a long CSR): encode on the heap.
                let payload = env.to_vec().map_err(NetError::Encode)?;
                let mut big = frame::header(payload.len()).map_err(NetError::Encode)?.to_vec();
                big.extend_from_slice(&payload);
                return self.write(&big);
            }
            Err(e) => return Err(NetError::Encode(e)),
        };
        let tx = core::mem::take(&mut self.tx);
        let r = self.write(&tx[..n]);
        self.tx = tx;
        r
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

    /// A whole frame's payload if one has arrived (without waiting between records).
    pub fn poll(&mut self) -> Result<Option<Vec<u8>>, NetError> {
        loop {
            let want = if self.rx_len < frame::HEADER_SIZE {
                frame::HEADER_SIZE - self.rx_len
            } else {
                let h: [u8; 4] = self.rx[..4].try_into().unwrap();
                let n = frame::parse_header(&h, board::MAX_FRAME as usize).map_err(NetError::Decode)?;
                frame::HEADER_SIZE + n - self.rx_len
            };
            if want == 0 {
                let payload = self.rx[frame::HEADER_SIZE..self.rx_len].to_vec();
                self.rx_len = 0;
                self.received += 1;
                return Ok(Some(payload));
            }
            match self.tls.read(&mut self.rx[self.rx_len..self.rx_len + want]) {
                Ok(0) => return Err(NetError::Closed),
                Ok(k) => self.rx_len += k,
                Err(TlsError::Io(ErrorKind::Interrupted)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits for a whole frame (up to `timeout_ms`).
    pub fn recv(&mut self, timeout_ms: u64) -> Result<Vec<u8>, NetError> {
        let end = clock::uptime_ms() + timeout_ms;
        let was = self.ctl.nonblocking.replace(true);
        let r = loop {
            match self.poll() {
                Ok(Some(p)) => break Ok(p),
                Ok(None) if clock::uptime_ms() >= end => break Err(NetError::Timeout),
                Ok(None) => {
                    board::watchdog_feed();
                    cortex_m::asm::wfi();
                }
                Err(e) => break Err(e),
            }
        };
        self.ctl.nonblocking.set(was);
        r
    }
}
