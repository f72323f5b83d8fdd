//! ECDSA P-256 signatures in DER — `SEQUENCE { INTEGER r, INTEGER s }` (RFC 3279
//! 2.2.3) — the form X.509, PKCS#10 and TLS 1.3's CertificateVerify carry them in.
//!
//! Written here instead of going through `ecdsa::der` (the `der` crate): the same
//! strict DER rules (minimal, non-negative integers, exact lengths, nothing after) in a
//! few hundred bytes of code where the generic decoder and encoder took about 3 KB of
//! the STM32F4's flash budget. The host tests check both directions against
//! `ecdsa::der` on many signatures and a corpus of malformed ones.

use p256::ecdsa::{Signature, SigningKey};

/// A DER signature (at most 72 bytes).
#[derive(Clone)]
pub struct Der {
    buf: [u8; 72],
    len: u8,
}

impl AsRef<[u8]> for Der {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// Encodes a signature.
pub fn encode(sig: &Signature) -> Der {
    let raw = sig.to_bytes();
    let mut d = Der { buf: [0; 72], len: 2 };
    d.buf[0] = 0x30;
    for half in raw.chunks(32) {
        let skip = half.iter().take_while(|&&b| b == 0).count().min(31);
        let v = &half[skip..];
        let pad = (v[0] & 0x80 != 0) as usize;
        let at = d.len as usize;
        d.buf[at] = 0x02;
        d.buf[at + 1] = (v.len() + pad) as u8;
        d.buf[at + 2 + pad..at + 2 + pad + v.len()].copy_from_slice(v);
        d.len += (2 + pad + v.len()) as u8;
    }
    d.buf[1] = d.len - 2;
    d
}

/// Decodes a DER signature; None unless it is strict DER of two valid scalars.
pub fn decode(der: &[u8]) -> Option<Signature> {
    let (&[0x30, n], body) = der.split_first_chunk::<2>()? else { return None };
    if n as usize != body.len() {
        return None;
    }
    let mut raw = [0u8; 64];
    let mut rest = body;
    for half in raw.chunks_mut(32) {
        let (&[0x02, n], tail) = rest.split_first_chunk::<2>()? else { return None };
        let n = n as usize;
        if n == 0 || n > 33 || tail.len() < n {
            return None;
        }
        let (v, tail) = tail.split_at(n);
        // Non-negative, and minimal: a leading zero only before a high bit.
        if v[0] & 0x80 != 0 || (n > 1 && v[0] == 0 && v[1] & 0x80 == 0) {
            return None;
        }
        let v = match n {
            33 if v[0] != 0 => return None, // more than 256 bits
            33 => &v[1..],
            _ => v,
        };
        half[32 - v.len()..].copy_from_slice(v);
        rest = tail;
    }
    if !rest.is_empty() {
        return None;
    }
    Signature::from_slice(&raw).ok()
}

/// Signs with a key, in DER: the TLS client's CertificateVerify signer.
pub struct Signer(pub SigningKey);

impl signature::Signer<Der> for Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Der, signature::Error> {
        let sig: Signature = signature::Signer::try_sign(&self.0, msg)?;
        Ok(encode(&sig))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use p256::ecdsa::DerSignature;
    use std::vec::Vec;

    fn sigs() -> Vec<Signature> {
        let mut out = Vec::new();
        for i in 1..=300u32 {
            let mut k = [0u8; 32];
            k[28..].copy_from_slice(&i.to_be_bytes());
            k[0] = 0x11;
            let key = SigningKey::from_slice(&k).unwrap();
            out.push(signature::Signer::sign(&key, &i.to_le_bytes()));
        }
        // Short and high-bit r and s, to cover the padding and stripping cases.
        for (r, s) in [(1u8, 1u8), (0x7f, 0x80), (0x80, 0x7f), (0xff, 0x01)] {
            let mut raw = [0u8; 64];
            raw[31] = r;
            raw[63] = s;
            out.push(Signature::from_slice(&raw).unwrap());
            let mut raw = [0u8; 64];
            raw[0] = r & 0x7f | 0x01; // leading byte with and without the high bit
            raw[32] = s >> 1;
            raw[63] = 1;
            if let Ok(sig) = Signature::from_slice(&raw) {
                out.push(sig);
            }
        }
        out
    }

    #[test]
    fn encodes_as_the_der_crate_does_and_reads_back() {
        for sig in sigs() {
            let ours = encode(&sig);
            let theirs: DerSignature = sig.to_der();
            assert_eq!(ours.as_ref(), theirs.as_bytes(), "{sig:?}");
            assert_eq!(decode(ours.as_ref()), Some(sig));
        }
    }

    #[test]
    fn refuses_what_the_der_crate_refuses() {
        let good = encode(&sigs()[0]).as_ref().to_vec();
        let mut bad: Vec<Vec<u8>> = Vec::new();
        bad.push(Vec::new());
        bad.push(good[..good.len() - 1].to_vec()); // cut
        let mut v = good.clone();
        v.push(0); // trailing byte
        bad.push(v);
        let mut v = good.clone();
        v[0] = 0x31; // not a SEQUENCE
        bad.push(v);
        let mut v = good.clone();
        v[1] += 1; // wrong length
        bad.push(v);
        let mut v = good.clone();
        v[2] = 0x03; // not an INTEGER
        bad.push(v);
        // Non-minimal: a zero before a byte without the high bit.
        bad.push([0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01].to_vec());
        // Negative.
        bad.push([0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01].to_vec());
        // Zero r (not a valid scalar).
        bad.push([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01].to_vec());
        // Empty integer; one longer than 33 bytes.
        bad.push([0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01].to_vec());
        let mut v = std::vec![0x30, 0x26, 0x02, 0x22, 0x00, 0x80];
        v.extend([1u8; 32]);
        v.extend([0x02, 0x01, 0x01]);
        bad.push(v);
        // r >= the group order.
        let mut v = std::vec![0x30, 0x26, 0x02, 0x21, 0x00];
        v.extend([0xffu8; 32]);
        v.extend([0x02, 0x01, 0x01]);
        bad.push(v);
        // Long-form length.
        let mut v = std::vec![0x30, 0x81, good[1]];
        v.extend(&good[2..]);
        bad.push(v);
        for b in &bad {
            assert!(decode(b).is_none(), "accepted {b:02x?}");
            assert!(Signature::from_der(b).is_err(), "the der crate accepts {b:02x?}");
        }
        // Every single-byte change of a good one: we accept exactly what the der crate does.
        for i in 0..good.len() {
            for x in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut v = good.clone();
                v[i] = x;
                assert_eq!(decode(&v).is_some(), Signature::from_der(&v).is_ok(), "byte {i} = {x:#x}: {v:02x?}");
            }
        }
    }
}
