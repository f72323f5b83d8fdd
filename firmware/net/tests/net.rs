//! Host tests of wasmbed-net: the link against a scripted modem, the TLS transport's
//! record tracking, bundles, the CSR, the DRBG.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use embedded_io::{ErrorKind, Read, Write};
use wasmbed_net::bundle::{self, BundleError};
use wasmbed_net::drbg::HmacDrbg;
use wasmbed_net::link::{self, Error, Modem, Port, Transport};

/// A UART whose far side is scripted: `rx` is what the modem sent, `tx` what the device
/// wrote; `later` is delivered one chunk per idle() call.
#[derive(Default)]
struct Wire {
    rx: VecDeque<u8>,
    tx: Vec<u8>,
    later: VecDeque<Vec<u8>>,
    now: u64,
}

#[derive(Clone, Default)]
struct FakePort(Rc<RefCell<Wire>>);

impl Port for FakePort {
    fn write(&mut self, data: &[u8]) {
        self.0.borrow_mut().tx.extend_from_slice(data);
    }
    fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut w = self.0.borrow_mut();
        let n = buf.len().min(w.rx.len());
        for b in buf.iter_mut().take(n) {
            *b = w.rx.pop_front().unwrap();
        }
        n
    }
    fn now_ms(&self) -> u64 {
        self.0.borrow().now
    }
    fn idle(&mut self) {
        let mut w = self.0.borrow_mut();
        w.now += 10;
        if let Some(c) = w.later.pop_front() {
            w.rx.extend(c);
        }
    }
}

fn frame(kind: u8, id: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = link::header(kind, id, payload.len()).to_vec();
    f.extend_from_slice(payload);
    f
}

/// Splits what the device wrote into (kind, id, payload).
fn frames(tx: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut p = 0;
    while p < tx.len() {
        assert_eq!(tx[p], link::SYNC, "frame start at {p}");
        let n = u16::from_be_bytes([tx[p + 3], tx[p + 4]]) as usize;
        out.push((tx[p + 1], tx[p + 2], tx[p + 5..p + 5 + n].to_vec()));
        p += 5 + n;
    }
    out
}

/// The modem's answer to the device's n-th RESET (nonce n), or 0: a modem that started.
fn reset_answer_n(nonce: u32) -> Vec<u8> {
    let mut p = nonce.to_be_bytes().to_vec();
    p.extend_from_slice(link::MAGIC);
    frame(link::RESET, 0, &p)
}

fn reset_answer() -> Vec<u8> {
    reset_answer_n(1)
}

fn modem(window: u32) -> (Modem<FakePort>, FakePort) {
    let port = FakePort::default();
    (Modem::new(port.clone(), window), port)
}

#[test]
fn reset_then_open_read_write_close() {
    let (mut m, port) = modem(1024);
    port.0.borrow_mut().later.push_back(reset_answer());
    m.reset(5000).unwrap();
    let sent = frames(&port.0.borrow().tx);
    assert_eq!(sent[0].0, link::RESET);
    assert_eq!(&sent[0].2[..4], &1024u32.to_be_bytes());
    assert_eq!(&sent[0].2[4..8], &1u32.to_be_bytes());
    assert_eq!(&sent[0].2[8..], link::MAGIC);

    port.0.borrow_mut().tx.clear();
    port.0.borrow_mut().later.push_back(frame(link::OPENED, 1, b""));
    m.open("127.0.0.1:9", 5000).unwrap();
    assert!(m.is_open());
    assert_eq!(frames(&port.0.borrow().tx), vec![(link::OPEN, 1, b"127.0.0.1:9".to_vec())]);

    // Data, with stale data of another connection and garbage in between.
    {
        let mut w = port.0.borrow_mut();
        w.rx.extend(frame(link::DATA, 7, b"stale"));
        w.rx.extend([0x00, 0x13, 0x37]);
        w.rx.extend(frame(link::DATA, 1, b"hello "));
        w.rx.extend(frame(link::DATA, 1, b"world"));
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 11 {
        let n = m.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"hello world");
    assert_eq!(m.stats.stale, 5);
    assert_eq!(m.stats.skipped, 3);
    assert_eq!(m.read(&mut buf), Ok(0));

    port.0.borrow_mut().tx.clear();
    m.write(&[7u8; 1500]).unwrap();
    let sent = frames(&port.0.borrow().tx);
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[0].0, sent[0].1, sent[0].2.len()), (link::DATA, 1, 1024));
    assert_eq!(sent[1].2.len(), 476);

    // The peer closes: data before CLOSED is still read, then Closed.
    port.0.borrow_mut().rx.extend(frame(link::DATA, 1, b"bye"));
    port.0.borrow_mut().rx.extend(frame(link::CLOSED, 1, b"EOF"));
    assert_eq!(m.read(&mut buf), Ok(3));
    assert_eq!(m.read(&mut buf), Err(Error::Closed));
    assert_eq!(m.reason(), "EOF");
    assert!(m.write(b"x").is_err());
}

#[test]
fn open_refused_and_timeout() {
    let (mut m, port) = modem(1024);
    port.0.borrow_mut().later.push_back(reset_answer());
    port.0.borrow_mut().later.push_back(frame(link::CLOSED, 1, b"dial tcp: connection refused"));
    assert_eq!(m.open("127.0.0.1:1", 5000), Err(Error::Refused));
    assert_eq!(m.reason(), "dial tcp: connection refused");
    // No answer at all: timeout, and the half-open connection is closed.
    port.0.borrow_mut().tx.clear();
    assert_eq!(m.open("10.0.0.1:1", 200), Err(Error::Timeout));
    let sent = frames(&port.0.borrow().tx);
    assert_eq!(sent.last().unwrap().0, link::CLOSE);
    assert_eq!(sent.last().unwrap().1, 2);
    // ... and the next open starts with a RESET.
    assert!(!m.ready());
}

/// The modem's greeting (nonce 0) that crosses the device's RESET is not its answer.
#[test]
fn reset_answer_needs_the_nonce() {
    let (mut m, port) = modem(1024);
    port.0.borrow_mut().rx.extend(reset_answer_n(0)); // greeting, already waiting
    port.0.borrow_mut().later.push_back(reset_answer_n(7)); // stale
    port.0.borrow_mut().later.push_back(vec![]);
    port.0.borrow_mut().later.push_back(reset_answer_n(2)); // answers the second RESET
    m.reset(5000).unwrap();
    let resets = frames(&port.0.borrow().tx).iter().filter(|f| f.0 == link::RESET).count();
    assert_eq!(resets, 2, "the greeting made the device announce itself again");
    port.0.borrow_mut().later.push_back(frame(link::OPENED, 1, b""));
    m.open("a:1", 5000).unwrap();
}

#[test]
fn modem_restart_closes_and_reannounces() {
    let (mut m, port) = modem(1024);
    port.0.borrow_mut().later.push_back(reset_answer());
    port.0.borrow_mut().later.push_back(frame(link::OPENED, 1, b""));
    m.open("a:1", 5000).unwrap();
    port.0.borrow_mut().tx.clear();
    port.0.borrow_mut().rx.extend(reset_answer_n(0)); // the modem restarted
    let mut buf = [0u8; 8];
    assert_eq!(m.read(&mut buf), Err(Error::Closed));
    assert!(!m.ready());
    let sent = frames(&port.0.borrow().tx);
    assert_eq!(sent[0].0, link::RESET);
}

#[test]
fn credits_follow_consumption() {
    let (mut m, port) = modem(400);
    port.0.borrow_mut().later.push_back(reset_answer());
    port.0.borrow_mut().later.push_back(frame(link::OPENED, 1, b""));
    m.open("a:1", 5000).unwrap();
    port.0.borrow_mut().tx.clear();
    for _ in 0..4 {
        port.0.borrow_mut().rx.extend(frame(link::DATA, 1, &[1u8; 95]));
    }
    let mut buf = [0u8; 1000];
    let mut total = 0;
    while total < 380 {
        total += m.read(&mut buf).unwrap();
    }
    let credited: u32 = frames(&port.0.borrow().tx)
        .iter()
        .filter(|f| f.0 == link::CREDIT)
        .map(|f| u32::from_be_bytes(f.2[..4].try_into().unwrap()))
        .sum();
    // Everything consumed is credited once at least a quarter window is pending.
    let consumed = m.stats.rx_bytes as u32;
    assert!(credited <= consumed && consumed - credited < 100, "credited {credited} of {consumed}");
    assert!(m.stats.credits >= 3);
}

fn tls_record(body_len: usize) -> Vec<u8> {
    let mut r = vec![23, 3, 3];
    r.extend_from_slice(&(body_len as u16).to_be_bytes());
    r.extend(std::iter::repeat_n(0xAB, body_len));
    r
}

#[test]
fn transport_blocks_only_inside_records() {
    let (mut m, port) = modem(4096);
    port.0.borrow_mut().later.push_back(reset_answer());
    port.0.borrow_mut().later.push_back(frame(link::OPENED, 1, b""));
    m.open("a:1", 5000).unwrap();
    let rec = tls_record(300);
    let ctl = link::TransportCtl::default();
    ctl.timeout_ms.set(1000);
    ctl.nonblocking.set(true);
    let mut t = Transport::new(&mut m, &ctl);
    let mut buf = [0u8; 512];
    assert_eq!(t.read(&mut buf).unwrap_err(), ErrorKind::Interrupted);
    // The header and part of the body now, the rest later: the read of the body waits.
    port.0.borrow_mut().rx.extend(frame(link::DATA, 1, &rec[..100]));
    port.0.borrow_mut().later.push_back(frame(link::DATA, 1, &rec[100..]));
    let mut got = Vec::new();
    let mut hdr = [0u8; 5];
    let mut n = 0;
    while n < 5 {
        n += t.read(&mut hdr[n..]).unwrap();
    }
    got.extend_from_slice(&hdr);
    while got.len() < rec.len() {
        let k = t.read(&mut buf[..rec.len() - got.len()]).unwrap();
        got.extend_from_slice(&buf[..k]);
    }
    assert_eq!(got, rec);
    assert!(t.at_boundary());
    assert_eq!(ctl.largest_record.get(), 305);
    assert_eq!(t.read(&mut buf).unwrap_err(), ErrorKind::Interrupted);
    // Blocking mode times out instead.
    ctl.nonblocking.set(false);
    assert_eq!(t.read(&mut buf).unwrap_err(), ErrorKind::TimedOut);
    t.write(b"abc").unwrap();
}

fn sample_bundle() -> Vec<u8> {
    bundle::encode(&[
        (bundle::TAG_GATEWAY, b"127.0.0.1:8081"),
        (bundle::TAG_GATEWAY, b"10.0.0.2:8081"),
        (bundle::TAG_SERVER_NAME, b"localhost"),
        (bundle::TAG_CA_ROOT, &[0x30, 0x03, 0x02, 0x01, 0x01]),
        (bundle::TAG_DEVICE, b"dev-1"),
        (bundle::TAG_TOKEN, b"wbt_0011_secret"),
        (bundle::TAG_SEED, &[9u8; 32]),
        (bundle::TAG_TOKEN_EXPIRES, &1_700_000_000_000i64.to_be_bytes()),
        (bundle::TAG_BOARD, b"stm32f4-discovery"),
        (200, b"a tag from the future"),
    ])
}

#[test]
fn bundle_roundtrip_and_errors() {
    let mut area = sample_bundle();
    area.resize(4096, 0xFF);
    let b = bundle::parse(&area).unwrap().unwrap();
    assert_eq!(b.gateways, ["127.0.0.1:8081", "10.0.0.2:8081"]);
    assert_eq!(b.server_name, "localhost");
    assert_eq!(b.device, "dev-1");
    assert_eq!(b.token, "wbt_0011_secret");
    assert_eq!(b.seed, [9u8; 32]);
    assert_eq!(b.token_expires, Some(1_700_000_000_000));
    assert_eq!(b.board, "stm32f4-discovery");
    assert!(b.key.is_none() && b.certs.is_empty() && b.diag.is_empty());

    assert!(bundle::parse(&[0xFF; 64]).unwrap().is_none());
    assert_eq!(bundle::parse(&[0u8; 64]).unwrap_err(), BundleError::BadMagic);
    let mut bad = area.clone();
    bad[20] ^= 1;
    assert_eq!(bundle::parse(&bad).unwrap_err(), BundleError::Checksum);
    let no_seed = bundle::encode(&[(1, b"a:1"), (3, b"x"), (4, b"d")]);
    assert_eq!(bundle::parse(&no_seed).unwrap_err(), BundleError::Missing(bundle::TAG_SEED));
}

/// The Go provisioning tool's output (firmware/provision, `go test -run Golden -update`)
/// parses here to the same fields.
#[test]
fn bundle_written_by_go() {
    let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/bundle.bin")).unwrap();
    let b = bundle::parse(&raw).unwrap().unwrap();
    assert_eq!(b.gateways, ["127.0.0.1:8081", "gw2.example:8081"]);
    assert_eq!(b.server_name, "localhost");
    assert_eq!(b.device, "sensor-7");
    assert_eq!(b.token, "wbt_0123456789abcdef_secret");
    assert_eq!(b.board, "stm32f4-discovery");
    assert_eq!(b.seed, core::array::from_fn::<u8, 32, _>(|i| i as u8));
    assert_eq!(b.token_expires, Some(1_893_456_000_000));
    assert_eq!(b.ca_root, b"not really DER");
    assert_eq!(b.diag, "echo");
}

/// A CSR from a fixed key; its bytes are pinned (RFC 6979 signatures are deterministic)
/// and Go's x509.ParseCertificateRequest checks them (firmware/provision's tests).
#[test]
fn csr_golden() {
    let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let der = wasmbed_net::csr::build(&key, "sensor-7");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/csr.der");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &der).unwrap();
    }
    assert_eq!(der, std::fs::read(path).expect("testdata/csr.der (UPDATE_GOLDEN=1 writes it)"));
    // The signature covers the request info.
    use p256::ecdsa::signature::Verifier;
    let info = wasmbed_net::csr::info("sensor-7", key.verifying_key().to_encoded_point(false).as_bytes());
    assert_eq!(&der[3..3 + info.len()], &info[..]);
    let sig_start = der.len() - (der[der.len() - 1] as usize); // not used: parse below
    let _ = sig_start;
    let tail = &der[3 + info.len()..];
    // SEQUENCE { OID ecdsa-with-SHA256 } then BIT STRING 00 || DER signature.
    assert_eq!(&tail[..12], &[0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]);
    let sig = p256::ecdsa::DerSignature::try_from(&tail[15..]).unwrap();
    key.verifying_key().verify(&info, &sig).unwrap();
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// NIST CAVP HMAC_DRBG, SHA-256, no prediction resistance, no reseed, COUNT = 0.
#[test]
fn drbg_nist_vector() {
    let mut seed = unhex("ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488");
    seed.extend(unhex("659ba96c601dc69fc902940805ec0ca8"));
    let mut d = HmacDrbg::new(&seed);
    let mut out = [0u8; 128];
    d.generate(&mut out);
    d.generate(&mut out);
    assert_eq!(
        out.to_vec(),
        unhex(concat!(
            "e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89",
            "d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc1",
            "07694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668",
            "961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8"
        ))
    );
}
