//! wasmbed_net::x509 against certificates made by Go's crypto/x509
//! (testdata/x509/gen.go): the chains a gateway presents, and the ones a device must
//! refuse.

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use wasmbed_net::x509::{self, Error};

fn load(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/x509/{name}.der", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

const JAN_2025: u64 = 1_735_689_600;
const JAN_2035: u64 = 2_051_222_400;
const NOW: Option<u64> = Some(1_790_000_000); // 2026

#[test]
fn fields_and_dates() {
    let leaf = load("leaf");
    let c = x509::parse(&leaf).unwrap();
    assert_eq!((c.not_before, c.not_after), (JAN_2025, JAN_2035));
    assert_eq!(c.public_key.len(), 65);
    assert_eq!(c.public_key[0], 4);
    assert_eq!(&leaf[4..4 + c.tbs.len()], c.tbs, "the TBSCertificate follows the outer header");
    // UTCTime before 2050, GeneralizedTime from 2050 on.
    let late = load("late");
    let late = x509::parse(&late).unwrap();
    assert_eq!((late.not_before, late.not_after), (2_506_118_400, 2_556_144_000));
    let root = load("root");
    let root = x509::parse(&root).unwrap();
    assert_eq!((root.not_before, root.not_after), (1_704_067_200, 2_840_140_800));
}

#[test]
fn chain_to_the_root() {
    let (root, inter, leaf) = (load("root"), load("inter"), load("leaf"));
    for host in ["localhost", "LOCALHOST", "a.gw.example"] {
        let c = x509::verify_chain(&root, &[&leaf, &inter], host, NOW).unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(c.tbs, x509::parse(&leaf).unwrap().tbs);
    }
    // Without the time, validity is not checked.
    x509::verify_chain(&root, &[&leaf, &inter], "localhost", None).unwrap();
    x509::verify_chain(&root, &[&leaf, &inter], "localhost", Some(JAN_2025)).unwrap();
    x509::verify_chain(&root, &[&leaf, &inter], "localhost", Some(JAN_2035)).unwrap();
    // The intermediate alone is a chain too (it names no host: CN only, no SAN).
    assert_eq!(x509::verify_chain(&root, &[&inter], "localhost", NOW).unwrap_err(), Error::NameMismatch);
}

#[test]
fn refused_chains() {
    let (root, inter, leaf) = (load("root"), load("inter"), load("leaf"));
    let check = |chain: &[&[u8]], host: &str, now: Option<u64>, want: Error| {
        assert_eq!(x509::verify_chain(&root, chain, host, now).unwrap_err(), want, "{host} {now:?}");
    };
    check(&[&leaf, &inter], "gateway.example", NOW, Error::NameMismatch);
    check(&[&leaf, &inter], "wasmbed-gateway", NOW, Error::NameMismatch); // has SANs: CN not used
    check(&[&leaf, &inter], "b.a.gw.example", NOW, Error::NameMismatch);
    check(&[&leaf, &inter], "gw.example", NOW, Error::NameMismatch);
    check(&[&leaf, &inter], "localhost", Some(JAN_2025 - 1), Error::NotValidNow);
    check(&[&leaf, &inter], "localhost", Some(JAN_2035 + 1), Error::NotValidNow);
    check(&[&leaf], "localhost", NOW, Error::BadSignature); // the intermediate left out
    check(&[&leaf, &load("other_inter")], "localhost", NOW, Error::BadSignature); // another root's
    check(&[&inter, &leaf], "localhost", NOW, Error::BadSignature); // wrong order
    check(&[], "localhost", NOW, Error::EmptyChain);
    // A changed byte in the signed part, or in the signature.
    let mut bad = leaf.clone();
    let i = bad.len() / 2;
    bad[i] ^= 1;
    assert!(x509::verify_chain(&root, &[&bad, &inter], "localhost", NOW).is_err());
    let mut bad = leaf.clone();
    let n = bad.len();
    bad[n - 3] ^= 1;
    assert!(x509::verify_chain(&root, &[&bad, &inter], "localhost", NOW).is_err());
    // A leaf with an RSA key is still signed by the intermediate (ECDSA): its key is only
    // refused when it would have to verify the handshake.
    let rsa = load("rsa_leaf");
    let c = x509::verify_chain(&root, &[&rsa, &inter], "localhost", NOW).unwrap();
    assert_eq!(x509::verify_server_signature(c.public_key, &[0; 32], &[0x30, 0]), Err(Error::UnsupportedAlgorithm));
}

/// A certificate from the same CA that is not a CA's (a device's) cannot vouch for a
/// gateway; a client-only certificate is not a server's; an unknown critical extension
/// refuses the certificate.
#[test]
fn issuers_purposes_and_critical_extensions() {
    let (root, inter) = (load("root"), load("inter"));
    let (device, forged, crit) = (load("device"), load("forged"), load("crit"));
    // forged is signed by device's key, device by the intermediate: every signature
    // holds, but device is no CA.
    assert_eq!(x509::verify_chain(&root, &[&forged, &device, &inter], "localhost", NOW).unwrap_err(), Error::NotCa);
    // device names localhost, but only for client authentication.
    assert_eq!(x509::verify_chain(&root, &[&device, &inter], "localhost", NOW).unwrap_err(), Error::NotForServers);
    assert_eq!(
        x509::verify_chain(&root, &[&crit, &inter], "localhost", NOW).unwrap_err(),
        Error::UnknownCriticalExtension
    );
    // The intermediate is a CA (basic constraints, keyCertSign): the usual chain holds.
    x509::verify_chain(&root, &[&load("leaf"), &inter], "localhost", NOW).unwrap();
}

/// pathLenConstraint (RFC 5280 4.2.1.9): each CA, the root included, bounds the
/// intermediates below it.
#[test]
fn path_length() {
    let (root, inter, inter2, leaf, leaf2) = (load("root"), load("inter"), load("inter2"), load("leaf"), load("leaf2"));
    let (pl0, pl1, root0) = (load("inter_pathlen0"), load("inter_pathlen1"), load("root_pathlen0"));
    let verify = |root: &[u8], chain: &[&[u8]]| x509::verify_chain(root, chain, "localhost", NOW).map(|_| ());
    // Two intermediates under CAs without a constraint, or with room for one more.
    verify(&root, &[&leaf2, &inter2, &inter]).unwrap();
    verify(&root, &[&leaf2, &inter2, &pl1]).unwrap();
    // pathLen 0: it may sign the leaf, not another CA.
    verify(&root, &[&leaf, &pl0]).unwrap();
    assert_eq!(verify(&root, &[&leaf2, &inter2, &pl0]), Err(Error::PathTooLong));
    // The root's own constraint: pathLen 0 allows no intermediate at all.
    assert_eq!(verify(&root0, &[&leaf, &inter]), Err(Error::PathTooLong));
    assert_eq!(verify(&root0, &[&leaf2, &inter2, &inter]), Err(Error::PathTooLong));
    // (the same root without one takes the chain)
    verify(&root, &[&leaf, &inter]).unwrap();
    // A negative pathLenConstraint is malformed: the root's 0 made -1 (the trust
    // anchor's own signature is not checked, so the patched copy is still read).
    let mut neg = root0.clone();
    let at = find_path_len(&neg);
    neg[at] = 0xFF;
    assert_eq!(verify(&neg, &[&leaf, &inter]), Err(Error::Malformed));
}

/// The offset of the pathLenConstraint value in a certificate whose basic constraints
/// are `30 06 01 01 FF 02 01 00` (cA true, pathLen 0).
fn find_path_len(der: &[u8]) -> usize {
    let pat = [0x30, 0x06, 0x01, 0x01, 0xFF, 0x02, 0x01, 0x00];
    der.windows(pat.len()).position(|w| w == pat).expect("basic constraints with pathLen 0") + 7
}

/// An intermediate's extended key usage limits what it may sign for: a client-only one
/// cannot vouch for a gateway, one that lists server authentication can.
#[test]
fn intermediate_purpose() {
    let (root, leaf) = (load("root"), load("leaf"));
    let verify = |inter: &[u8]| x509::verify_chain(&root, &[&leaf, inter], "localhost", NOW).map(|_| ());
    assert_eq!(verify(&load("inter_client")), Err(Error::NotForServers));
    verify(&load("inter_server")).unwrap();
    verify(&load("inter")).unwrap(); // no extended key usage: any purpose
    // A root limited to client authentication vouches for no gateway either (the
    // intermediate itself as the trust anchor here).
    let client = load("inter_client");
    assert_eq!(
        x509::verify_chain(&client, &[&leaf], "localhost", NOW).map(|_| ()),
        Err(Error::NotForServers)
    );
    x509::verify_chain(&load("inter_server"), &[&leaf], "localhost", NOW).unwrap();
}

#[test]
fn common_name_when_no_san() {
    let (root, inter) = (load("root"), load("inter"));
    x509::verify_chain(&root, &[&load("cn_only"), &inter], "localhost", NOW).unwrap();
    assert_eq!(
        x509::verify_chain(&root, &[&load("cn_only"), &inter], "otherhost", NOW).unwrap_err(),
        Error::NameMismatch
    );
}

#[test]
fn malformed_input() {
    let leaf = load("leaf");
    // Every truncation, and trailing bytes.
    for n in 0..leaf.len() {
        assert!(x509::parse(&leaf[..n]).is_err(), "{n}");
    }
    let mut long = leaf.clone();
    long.push(0);
    assert_eq!(x509::parse(&long).unwrap_err(), Error::Malformed);
    // A length in a longer form than needed is not DER.
    let mut nonmin = vec![0x30, 0x82, 0x00, 0x03, 0x02, 0x01, 0x00];
    assert_eq!(x509::parse(&nonmin).unwrap_err(), Error::Malformed);
    nonmin[1] = 0x81;
    assert!(x509::parse(&nonmin).is_err());
    // An indefinite length is not DER either.
    assert_eq!(x509::parse(&[0x30, 0x80, 0, 0]).unwrap_err(), Error::Malformed);
    // Any single byte changed: an error or another certificate, never a panic.
    for i in 0..leaf.len() {
        let mut b = leaf.clone();
        b[i] ^= 0x55;
        let _ = x509::parse(&b);
    }
}

#[test]
fn hostname_rules() {
    let m = |n: &str, h: &str| x509::hostname_match(n.as_bytes(), h.as_bytes());
    assert!(m("example.com", "EXAMPLE.com"));
    assert!(!m("example.com", "sub.example.com"));
    assert!(m("*.example.com", "api.example.com"));
    assert!(!m("*.example.com", "a.b.example.com"));
    assert!(!m("*.example.com", "example.com"));
    assert!(!m("*.example.com", ".example.com"));
    assert!(!m("api.*.example.com", "api.test.example.com"));
    assert!(!m("foo*.example.xx", "foobar.example.xx"));
    assert!(!m("*.com", "example.com"));
    assert!(!m("*.*.example.com", "a.b.example.com"));
    assert!(m("xn--bcher-kva.example", "xn--bcher-kva.example"));
    assert!(!m("bücher.example", "bücher.example"));
    assert!(!m("example!.com", "example!.com"));
    assert!(!m("", ""));
}

/// TLS 1.3 CertificateVerify (RFC 8446 4.4.3) with the leaf's key.
#[test]
fn server_certificate_verify() {
    let key = SigningKey::from_slice(&[9u8; 32]).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    let hash = [0xABu8; 32];
    let mut msg = vec![0x20u8; 64];
    msg.extend_from_slice(b"TLS 1.3, server CertificateVerify\x00");
    msg.extend_from_slice(&hash);
    let sig: DerSignature = key.sign(&msg);
    x509::verify_server_signature(point.as_bytes(), &hash, sig.as_bytes()).unwrap();
    assert_eq!(x509::verify_server_signature(point.as_bytes(), &[0xAC; 32], sig.as_bytes()), Err(Error::BadSignature));
    // The client's context string is not the server's.
    let mut client = vec![0x20u8; 64];
    client.extend_from_slice(b"TLS 1.3, client CertificateVerify\x00");
    client.extend_from_slice(&hash);
    let sig: DerSignature = key.sign(&client);
    assert_eq!(x509::verify_server_signature(point.as_bytes(), &hash, sig.as_bytes()), Err(Error::BadSignature));
}
