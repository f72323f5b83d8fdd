//! The gateway's certificate chain, checked as the TLS client needs it (RFC 5280, the
//! parts a device uses): each certificate signed by the next with ECDSA P-256 / SHA-256,
//! the last by the bundle's CA root; every certificate that signs another a CA (basic
//! constraints cA, and keyCertSign when it has a key usage), so a device's own
//! certificate from the same CA cannot vouch for a forged gateway; no more intermediates
//! below a CA (the root included) than its pathLenConstraint allows; every certificate
//! (the root, intermediates and leaf) for server authentication when it says what it is
//! for (extended key usage: device certificates and client-only intermediates are
//! refused, the nesting Go's and browsers' verifiers apply); no critical extension the checker does not know; each within its
//! validity once the device knows the time; the leaf naming the server (a SAN dNSName,
//! or the subject's CN when the certificate has no dNSName, RFC 6125 6.4.4); and the
//! TLS 1.3 CertificateVerify signature with the leaf's key.
//!
//! A small DER reader instead of a general ASN.1 library: it reads definite lengths in
//! their shortest form and one-byte tags, and takes from a certificate only the fields
//! above (the signed TBSCertificate bytes, algorithm, signature, validity, subject,
//! public key, extensions). It replaced embedded-tls's `rustpki` verifier, whose
//! derive-based decoding was about 24 KB of the Cortex-M4 image (firmware/README.md,
//! "Footprint").

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::VerifyingKey;

/// Why a certificate or chain is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not DER, or not the shape of a certificate.
    Malformed,
    /// Signed with something other than ECDSA with SHA-256, or a key that is not P-256.
    UnsupportedAlgorithm,
    /// A signature does not verify.
    BadSignature,
    /// Outside its validity period.
    NotValidNow,
    /// The leaf does not name the server.
    NameMismatch,
    /// No certificate.
    EmptyChain,
    /// A certificate that signs another is not a CA (basic constraints, key usage).
    NotCa,
    /// A certificate's extended key usage does not allow server authentication.
    NotForServers,
    /// More intermediates below a CA than its pathLenConstraint allows.
    PathTooLong,
    /// A critical extension the checker does not process.
    UnknownCriticalExtension,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Malformed => "malformed certificate",
            Error::UnsupportedAlgorithm => "unsupported signature algorithm",
            Error::BadSignature => "bad signature",
            Error::NotValidNow => "certificate not valid now",
            Error::NameMismatch => "certificate does not name the server",
            Error::EmptyChain => "no certificate",
            Error::NotCa => "issuer is not a CA",
            Error::NotForServers => "certificate is not for server authentication",
            Error::PathTooLong => "path length constraint exceeded",
            Error::UnknownCriticalExtension => "unknown critical extension",
        })
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const DNS_NAME: u8 = 0x82; // GeneralName dNSName: [2] IMPLICIT IA5String

/// AlgorithmIdentifier contents of ecdsa-with-SHA256 (1.2.840.10045.4.3.2, no parameters).
const ECDSA_SHA256: &[u8] = &[OID, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
const BOOLEAN: u8 = 0x01;
const OID_CN: &[u8] = &[0x55, 0x04, 0x03]; // 2.5.4.3
const OID_SAN: &[u8] = &[0x55, 0x1D, 0x11]; // 2.5.29.17
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x0F]; // 2.5.29.15
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13]; // 2.5.29.19
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x25]; // 2.5.29.37
const OID_ANY_EKU: &[u8] = &[0x55, 0x1D, 0x25, 0x00]; // 2.5.29.37.0
const OID_SERVER_AUTH: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01]; // 1.3.6.1.5.5.7.3.1
/// The extensions the checks process; any other one marked critical refuses the certificate.
const KNOWN: [&[u8]; 4] = [OID_SAN, OID_KEY_USAGE, OID_BASIC_CONSTRAINTS, OID_EXT_KEY_USAGE];

/// A DER reader: one TLV after another.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The next TLV: tag, contents, and the whole TLV.
    fn any(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), Error> {
        let b = self.0;
        let (&tag, rest) = b.split_first().ok_or(Error::Malformed)?;
        if tag & 0x1F == 0x1F {
            return Err(Error::Malformed); // multi-byte tags: none in a certificate
        }
        let (&l0, rest) = rest.split_first().ok_or(Error::Malformed)?;
        let (len, rest) = match l0 {
            0..=0x7F => (l0 as usize, rest),
            0x81 => match rest {
                [n, rest @ ..] if *n >= 0x80 => (*n as usize, rest),
                _ => return Err(Error::Malformed),
            },
            0x82 => match rest {
                [a, b, rest @ ..] if *a != 0 => ((*a as usize) << 8 | *b as usize, rest),
                _ => return Err(Error::Malformed),
            },
            // Indefinite (not DER) or over 64 KiB (no certificate here is).
            _ => return Err(Error::Malformed),
        };
        if len > rest.len() {
            return Err(Error::Malformed);
        }
        let header = b.len() - rest.len();
        self.0 = &rest[len..];
        Ok((tag, &rest[..len], &b[..header + len]))
    }

    /// The contents of the next TLV, which must have this tag.
    fn expect(&mut self, tag: u8) -> Result<&'a [u8], Error> {
        match self.any()? {
            (t, v, _) if t == tag => Ok(v),
            _ => Err(Error::Malformed),
        }
    }

    fn end(&self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Malformed)
        }
    }
}

/// A BIT STRING's bytes (no unused bits).
fn bits(v: &[u8]) -> Result<&[u8], Error> {
    match v.split_first() {
        Some((0, b)) => Ok(b),
        _ => Err(Error::Malformed),
    }
}

/// The parts of a certificate the checks use, borrowed from its DER.
#[derive(Debug, Clone, Copy)]
pub struct Cert<'a> {
    /// The whole TBSCertificate: what the issuer signed.
    pub tbs: &'a [u8],
    /// The signature algorithm (AlgorithmIdentifier contents).
    pub algorithm: &'a [u8],
    /// The signature (for ECDSA, the DER `Ecdsa-Sig-Value`).
    pub signature: &'a [u8],
    /// Validity, in Unix seconds.
    pub not_before: u64,
    pub not_after: u64,
    /// The subject Name (contents).
    pub subject: &'a [u8],
    /// subjectPublicKey (for an EC key, the SEC1 point).
    pub public_key: &'a [u8],
    /// The extensions (contents of the SEQUENCE; empty without any).
    pub extensions: &'a [u8],
}

/// Reads a certificate (any signature algorithm; [`verify_chain`] checks it).
pub fn parse(der: &[u8]) -> Result<Cert<'_>, Error> {
    let mut top = Der(der);
    let mut c = Der(top.expect(SEQUENCE)?);
    top.end()?;
    let (tag, tbs_body, tbs) = c.any()?;
    if tag != SEQUENCE {
        return Err(Error::Malformed);
    }
    let algorithm = c.expect(SEQUENCE)?;
    let signature = bits(c.expect(BIT_STRING)?)?;
    c.end()?;

    let mut t = Der(tbs_body);
    if t.peek() == Some(0xA0) {
        // [0] EXPLICIT Version: v1, v2 or v3.
        let mut v = Der(t.expect(0xA0)?);
        if !matches!(v.expect(INTEGER)?, [0..=2]) {
            return Err(Error::Malformed);
        }
        v.end()?;
    }
    if t.expect(INTEGER)?.is_empty() {
        return Err(Error::Malformed); // serialNumber
    }
    // The signature algorithm again, which must be the same (RFC 5280 4.1.1.2).
    if t.expect(SEQUENCE)? != algorithm {
        return Err(Error::Malformed);
    }
    t.expect(SEQUENCE)?; // issuer
    let mut validity = Der(t.expect(SEQUENCE)?);
    let not_before = time(&mut validity)?;
    let not_after = time(&mut validity)?;
    validity.end()?;
    let subject = t.expect(SEQUENCE)?;
    let mut spki = Der(t.expect(SEQUENCE)?);
    spki.expect(SEQUENCE)?; // the key's algorithm: the key itself is checked when used
    let public_key = bits(spki.expect(BIT_STRING)?)?;
    spki.end()?;
    let mut extensions: &[u8] = &[];
    while !t.is_empty() {
        match t.any()? {
            (0x81 | 0x82, _, _) => {} // issuerUniqueID, subjectUniqueID
            (0xA3, v, _) => {
                let mut e = Der(v);
                extensions = e.expect(SEQUENCE)?;
                e.end()?;
            }
            _ => return Err(Error::Malformed),
        }
    }
    Ok(Cert { tbs, algorithm, signature, not_before, not_after, subject, public_key, extensions })
}

/// Two ASCII digits.
fn two(d: &[u8]) -> Result<u32, Error> {
    match d {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Ok((a - b'0') as u32 * 10 + (b - b'0') as u32),
        _ => Err(Error::Malformed),
    }
}

/// A UTCTime (`YYMMDDHHMMSSZ`, 1950 to 2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as
/// RFC 5280 4.1.2.5 writes them, in Unix seconds (from 1970).
fn time(d: &mut Der<'_>) -> Result<u64, Error> {
    let (year, rest) = match d.any()? {
        (UTC_TIME, v, _) if v.len() == 13 => {
            let yy = two(&v[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &v[2..])
        }
        (GENERALIZED_TIME, v, _) if v.len() == 15 => (two(&v[..2])? * 100 + two(&v[2..4])?, &v[4..]),
        _ => return Err(Error::Malformed),
    };
    let (month, day) = (two(&rest[0..2])?, two(&rest[2..4])?);
    let (h, m, s) = (two(&rest[4..6])?, two(&rest[6..8])?, two(&rest[8..10])?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(Error::Malformed),
    };
    if rest[10] != b'Z' || year < 1970 || day == 0 || day > days_in_month || h > 23 || m > 59 || s > 59 {
        return Err(Error::Malformed);
    }
    // Days from 1970-01-01 to the date (the proleptic Gregorian calendar, from March).
    let y = (if month <= 2 { year - 1 } else { year }) as u64;
    let (era, yoe) = (y / 400, y % 400);
    let mp = ((month + 9) % 12) as u64;
    let doy = (153 * mp + 2) / 5 + day as u64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + h as u64 * 3_600 + m as u64 * 60 + s as u64)
}

/// Checks that `cert` was signed by the holder of `issuer_key` (a SEC1 P-256 point).
fn signed_by(cert: &Cert<'_>, issuer_key: &[u8]) -> Result<(), Error> {
    if cert.algorithm != ECDSA_SHA256 {
        return Err(Error::UnsupportedAlgorithm);
    }
    let key = VerifyingKey::from_sec1_bytes(issuer_key).map_err(|_| Error::UnsupportedAlgorithm)?;
    let sig = crate::sig::decode(cert.signature).ok_or(Error::Malformed)?;
    key.verify(cert.tbs, &sig).map_err(|_| Error::BadSignature)
}

/// Checks a server's chain (leaf first, as TLS sends it) against the trusted `root`
/// (DER): the last certificate is signed by the root's key, each other one by the next;
/// the root and each certificate that signs another is a CA, and none has more
/// intermediates below it than its pathLenConstraint allows; no certificate, the root
/// included, has a critical extension the checks do not process, is outside its validity
/// at `now` (Unix seconds; `None`: the time is not known, validity is not checked), or
/// has an extended key usage without server authentication; the leaf names `host`.
/// Returns the leaf.
pub fn verify_chain<'a>(root: &'a [u8], chain: &[&'a [u8]], host: &str, now: Option<u64>) -> Result<Cert<'a>, Error> {
    if chain.is_empty() {
        return Err(Error::EmptyChain);
    }
    // From the root (the trust anchor: its own signature is not checked) down to the leaf.
    let mut issuer_key = None;
    // How many more intermediates may follow (RFC 5280 6.1.4 (l), (m)).
    let mut path_left = u32::MAX;
    let mut leaf = Err(Error::EmptyChain);
    for i in (0..=chain.len()).rev() {
        let cert = parse(chain.get(i).unwrap_or(&root))?;
        if let Some(key) = issuer_key {
            signed_by(&cert, key)?;
        }
        known_critical_only(&cert)?;
        if i > 0 {
            let own = ca_path_len(&cert)?.ok_or(Error::NotCa)?;
            path_left = path_left.checked_sub(1).ok_or(Error::PathTooLong)?.min(own);
        }
        if !for_servers(&cert)? {
            return Err(Error::NotForServers);
        }
        if let Some(now) = now {
            if now < cert.not_before || now > cert.not_after {
                return Err(Error::NotValidNow);
            }
        }
        issuer_key = Some(cert.public_key);
        leaf = Ok(cert);
    }
    let leaf = leaf?;
    if !names(&leaf, host)? {
        return Err(Error::NameMismatch);
    }
    Ok(leaf)
}

/// One extension: its OID, whether it is critical, and its value (the OCTET STRING's
/// contents).
struct Extension<'a> {
    oid: &'a [u8],
    critical: bool,
    value: &'a [u8],
}

/// Calls `f` with each extension of `cert`, in order, until it returns `Some`.
fn each_extension<'a, T>(cert: &Cert<'a>, mut f: impl FnMut(&Extension<'a>) -> Result<Option<T>, Error>) -> Result<Option<T>, Error> {
    let mut exts = Der(cert.extensions);
    while !exts.is_empty() {
        let mut ext = Der(exts.expect(SEQUENCE)?);
        let oid = ext.expect(OID)?;
        let critical = if ext.peek() == Some(BOOLEAN) {
            match ext.expect(BOOLEAN)? {
                [0xFF] => true,
                [0x00] => false,
                _ => return Err(Error::Malformed),
            }
        } else {
            false
        };
        let value = ext.expect(OCTET_STRING)?;
        ext.end()?;
        if let Some(t) = f(&Extension { oid, critical, value })? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// The value of the extension `oid`, if the certificate has it.
fn extension<'a>(cert: &Cert<'a>, oid: &[u8]) -> Result<Option<&'a [u8]>, Error> {
    each_extension(cert, |e| Ok((e.oid == oid).then_some(e.value)))
}

/// Refuses a certificate with a critical extension the checks do not process
/// (RFC 5280 4.2).
fn known_critical_only(cert: &Cert<'_>) -> Result<(), Error> {
    let unknown = each_extension(cert, |e| Ok((e.critical && !KNOWN.contains(&e.oid)).then_some(())))?;
    match unknown {
        Some(()) => Err(Error::UnknownCriticalExtension),
        None => Ok(()),
    }
}

/// When the certificate may sign certificates (basic constraints with cA true and, when
/// it has a key usage, keyCertSign: RFC 5280 4.2.1.9, 4.2.1.3), how many intermediates
/// may follow it: its pathLenConstraint, `u32::MAX` without one or when it is over 127
/// (no chain a device reads is that long). `None`: not a CA.
fn ca_path_len(cert: &Cert<'_>) -> Result<Option<u32>, Error> {
    let Some(bc) = extension(cert, OID_BASIC_CONSTRAINTS)? else {
        return Ok(None);
    };
    let mut v = Der(bc);
    let mut seq = Der(v.expect(SEQUENCE)?);
    v.end()?;
    let ca = seq.peek() == Some(BOOLEAN) && seq.expect(BOOLEAN)? == [0xFF];
    if !ca {
        return Ok(None);
    }
    let mut max = u32::MAX;
    if !seq.is_empty() {
        // pathLenConstraint INTEGER (0..MAX): a negative one is malformed.
        max = match seq.expect(INTEGER)? {
            [n @ 0..=0x7F] => *n as u32,
            [0, 0x80..=0xFF, ..] | [1..=0x7F, _, ..] => u32::MAX,
            _ => return Err(Error::Malformed), // negative, or not in its shortest form
        };
        seq.end()?;
    }
    if let Some(ku) = extension(cert, OID_KEY_USAGE)? {
        let mut v = Der(ku);
        let bits = v.expect(BIT_STRING)?;
        v.end()?;
        // The unused-bits count, then the bits from the most significant:
        // digitalSignature (0) ... keyCertSign (5) is 0x04 of the first byte.
        if bits.len() < 2 || bits[1] & 0x04 == 0 {
            return Ok(None);
        }
    }
    Ok(Some(max))
}

/// Whether the certificate may take part in authenticating a server: it has no extended
/// key usage, or one listing serverAuth or anyExtendedKeyUsage (RFC 5280 4.2.1.12; on a
/// CA it limits what it may sign for, as Go's and browsers' verifiers read it).
fn for_servers(cert: &Cert<'_>) -> Result<bool, Error> {
    let Some(eku) = extension(cert, OID_EXT_KEY_USAGE)? else {
        return Ok(true);
    };
    let mut v = Der(eku);
    let mut purposes = Der(v.expect(SEQUENCE)?);
    v.end()?;
    while !purposes.is_empty() {
        let oid = purposes.expect(OID)?;
        if oid == OID_SERVER_AUTH || oid == OID_ANY_EKU {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the certificate names `host`: one of its SAN dNSNames does, or, when it has
/// none, its subject's common name (RFC 6125 6.4.4).
fn names(cert: &Cert<'_>, host: &str) -> Result<bool, Error> {
    let mut has_dns = false;
    if let Some(san) = extension(cert, OID_SAN)? {
        let mut value = Der(san);
        let mut general_names = Der(value.expect(SEQUENCE)?);
        value.end()?;
        while !general_names.is_empty() {
            let (tag, name, _) = general_names.any()?;
            if tag == DNS_NAME {
                has_dns = true;
                if hostname_match(name, host.as_bytes()) {
                    return Ok(true);
                }
            }
        }
    }
    if has_dns {
        return Ok(false);
    }
    // subject: SEQUENCE OF SET OF { type OID, value }
    let mut rdns = Der(cert.subject);
    while !rdns.is_empty() {
        let mut set = Der(rdns.expect(SET)?);
        while !set.is_empty() {
            let mut atv = Der(set.expect(SEQUENCE)?);
            if atv.expect(OID)? == OID_CN {
                let (_, cn, _) = atv.any()?;
                if hostname_match(cn, host.as_bytes()) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// A certificate's DNS name against the server name: letters, digits, `-` and `.`,
/// without regard to case; a wildcard only as the whole leftmost label of a name of at
/// least three labels, standing for exactly one label (RFC 6125 6.4.3). From
/// embedded-tls's `tls_hostname_match_impl` (Apache-2.0).
pub fn hostname_match(name: &[u8], host: &[u8]) -> bool {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.';
    if !name.iter().all(|b| ok(b) || *b == b'*') || !host.iter().all(ok) || host.is_empty() {
        return false;
    }
    let stars = name.iter().filter(|&&b| b == b'*').count();
    if stars == 0 {
        return name.eq_ignore_ascii_case(host);
    }
    let labels = |s: &[u8]| s.iter().filter(|&&b| b == b'.').count() + 1;
    if stars != 1 || !name.starts_with(b"*.") || labels(name) < 3 || labels(name) != labels(host) {
        return false;
    }
    match host.iter().position(|&b| b == b'.') {
        Some(dot) if dot > 0 => host[dot + 1..].eq_ignore_ascii_case(&name[2..]),
        _ => false,
    }
}

/// Checks a TLS 1.3 server CertificateVerify (RFC 8446 4.4.3), scheme
/// ecdsa_secp256r1_sha256: `signature` (DER) by `key` (the leaf's SEC1 point) over the
/// context string and `transcript_hash` (SHA-256 of the handshake up to the Certificate).
pub fn verify_server_signature(key: &[u8], transcript_hash: &[u8], signature: &[u8]) -> Result<(), Error> {
    const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\x00";
    let mut msg = [0x20u8; 64 + CONTEXT.len() + 32];
    if transcript_hash.len() != 32 {
        return Err(Error::Malformed);
    }
    msg[64..64 + CONTEXT.len()].copy_from_slice(CONTEXT);
    msg[64 + CONTEXT.len()..].copy_from_slice(transcript_hash);
    let key = VerifyingKey::from_sec1_bytes(key).map_err(|_| Error::UnsupportedAlgorithm)?;
    let sig = crate::sig::decode(signature).ok_or(Error::Malformed)?;
    key.verify(&msg, &sig).map_err(|_| Error::BadSignature)
}
