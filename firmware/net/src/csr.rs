//! The PKCS#10 certificate request (RFC 2986) for the device's P-256 key, in DER, built
//! by hand: subject `CN=<device>`, no attributes, signed ECDSA with SHA-256. The gateway
//! checks the signature and the key type and names the device itself (CN and URI SAN).

use alloc::vec::Vec;
use p256::ecdsa::{signature::Signer, SigningKey};

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_ECDSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];

/// Appends a DER TLV.
pub fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let mut out = Vec::with_capacity(body.len() + 4);
    tlv(&mut out, 0x30, &body);
    out
}

fn prim(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    tlv(&mut out, tag, content);
    out
}

/// The request's `CertificationRequestInfo`: what is signed.
pub fn info(cn: &str, public_key_sec1: &[u8]) -> Vec<u8> {
    let version = prim(0x02, &[0]);
    let atv = seq(&[&prim(0x06, OID_CN), &prim(0x0C, cn.as_bytes())]);
    let rdn = prim(0x31, &atv);
    let name = seq(&[&rdn]);
    let alg = seq(&[&prim(0x06, OID_EC_PUBLIC_KEY), &prim(0x06, OID_P256)]);
    let mut bits = Vec::with_capacity(public_key_sec1.len() + 1);
    bits.push(0);
    bits.extend_from_slice(public_key_sec1);
    let spki = seq(&[&alg, &prim(0x03, &bits)]);
    let attributes = [0xA0, 0x00];
    seq(&[&version, &name, &spki, &attributes])
}

/// The complete request, DER.
pub fn build(key: &SigningKey, cn: &str) -> Vec<u8> {
    let public = key.verifying_key().to_encoded_point(false);
    let info = info(cn, public.as_bytes());
    let sig = crate::sig::encode(&key.sign(&info));
    let alg = seq(&[&prim(0x06, OID_ECDSA_SHA256)]);
    let mut bits = Vec::with_capacity(sig.as_ref().len() + 1);
    bits.push(0);
    bits.extend_from_slice(sig.as_ref());
    seq(&[&info, &alg, &prim(0x03, &bits)])
}
