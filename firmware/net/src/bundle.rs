//! The provisioning bundle: what a device needs to join a fleet, written into the config
//! area of a copy of the firmware image by `wasmbed-provision` (firmware/provision), so
//! one build serves every device.
//!
//! ```text
//! "WBCF" | version 1 | flags 0 | length u16 BE | TLVs (length bytes) | SHA-256 of all before
//! TLV: tag u8 | length u16 BE | value
//! ```
//!
//! | tag | field | value |
//! |----:|-------|-------|
//! | 1 | gateway | `host:port` of a gateway's device listener; repeated, tried in turn |
//! | 2 | server_name | the DNS name the gateway's certificate must carry |
//! | 3 | ca_root | the fleet CA's root certificate, DER |
//! | 4 | device | the device name |
//! | 5 | token | the one-time enrollment token |
//! | 6 | seed | 32 bytes, per device, mixed into the entropy pool |
//! | 7 | token_expires | i64 BE, Unix milliseconds |
//! | 8 | board | the board the image was built for (checked by the firmware) |
//! | 9 | key | a factory identity: the P-256 private scalar (32 bytes) |
//! | 10 | cert | a factory identity: certificate DER, leaf first; repeated |
//! | 11 | diag | a diagnostic mode instead of the agent: `echo` (the link), `tls` (one TLS hello) |
//!
//! Erased flash (`0xFF` bytes) means "not provisioned". Unknown tags are skipped.

use alloc::vec::Vec;
use sha2::{Digest, Sha256};

pub const MAGIC: &[u8; 4] = b"WBCF";
pub const VERSION: u8 = 1;
pub const HEADER_SIZE: usize = 8;

pub const TAG_GATEWAY: u8 = 1;
pub const TAG_SERVER_NAME: u8 = 2;
pub const TAG_CA_ROOT: u8 = 3;
pub const TAG_DEVICE: u8 = 4;
pub const TAG_TOKEN: u8 = 5;
pub const TAG_SEED: u8 = 6;
pub const TAG_TOKEN_EXPIRES: u8 = 7;
pub const TAG_BOARD: u8 = 8;
pub const TAG_KEY: u8 = 9;
pub const TAG_CERT: u8 = 10;
pub const TAG_DIAG: u8 = 11;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleError {
    /// Not erased and not a bundle.
    BadMagic,
    UnsupportedVersion,
    Truncated,
    Checksum,
    /// A field has the wrong size or is not UTF-8.
    BadField(u8),
    /// A required field is missing.
    Missing(u8),
}

// Display, not Debug, for the console: the firmware is built with `-Zfmt-debug=none`.
impl core::fmt::Display for BundleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BundleError::BadMagic => f.write_str("not a bundle"),
            BundleError::UnsupportedVersion => f.write_str("unsupported version"),
            BundleError::Truncated => f.write_str("truncated"),
            BundleError::Checksum => f.write_str("checksum mismatch"),
            BundleError::BadField(t) => write!(f, "bad field (tag {})", t),
            BundleError::Missing(t) => write!(f, "missing field (tag {})", t),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Bundle<'a> {
    pub gateways: Vec<&'a str>,
    pub server_name: &'a str,
    pub ca_root: &'a [u8],
    pub device: &'a str,
    pub token: &'a str,
    pub seed: [u8; 32],
    pub token_expires: Option<i64>,
    pub board: &'a str,
    pub key: Option<&'a [u8]>,
    pub certs: Vec<&'a [u8]>,
    pub diag: &'a str,
}

fn text(tag: u8, v: &[u8]) -> Result<&str, BundleError> {
    core::str::from_utf8(v).map_err(|_| BundleError::BadField(tag))
}

/// Reads a bundle from the config area; `Ok(None)` if it is erased.
pub fn parse(b: &[u8]) -> Result<Option<Bundle<'_>>, BundleError> {
    if b.len() >= 4 && b[..4] == [0xFF; 4] {
        return Ok(None);
    }
    if b.len() < HEADER_SIZE || &b[..4] != MAGIC {
        return Err(BundleError::BadMagic);
    }
    if b[4] != VERSION {
        return Err(BundleError::UnsupportedVersion);
    }
    let len = u16::from_be_bytes([b[6], b[7]]) as usize;
    let end = HEADER_SIZE + len;
    if b.len() < end + 32 {
        return Err(BundleError::Truncated);
    }
    if Sha256::digest(&b[..end])[..] != b[end..end + 32] {
        return Err(BundleError::Checksum);
    }
    let mut out = Bundle::default();
    let mut seed = false;
    let mut p = HEADER_SIZE;
    while p < end {
        if p + 3 > end {
            return Err(BundleError::Truncated);
        }
        let tag = b[p];
        let n = u16::from_be_bytes([b[p + 1], b[p + 2]]) as usize;
        p += 3;
        if p + n > end {
            return Err(BundleError::Truncated);
        }
        let v = &b[p..p + n];
        p += n;
        match tag {
            TAG_GATEWAY => out.gateways.push(text(tag, v)?),
            TAG_SERVER_NAME => out.server_name = text(tag, v)?,
            TAG_CA_ROOT => out.ca_root = v,
            TAG_DEVICE => out.device = text(tag, v)?,
            TAG_TOKEN => out.token = text(tag, v)?,
            TAG_SEED => {
                out.seed = v.try_into().map_err(|_| BundleError::BadField(tag))?;
                seed = true;
            }
            TAG_TOKEN_EXPIRES => {
                out.token_expires = Some(i64::from_be_bytes(v.try_into().map_err(|_| BundleError::BadField(tag))?))
            }
            TAG_BOARD => out.board = text(tag, v)?,
            TAG_KEY => {
                if n != 32 {
                    return Err(BundleError::BadField(tag));
                }
                out.key = Some(v)
            }
            TAG_CERT => out.certs.push(v),
            TAG_DIAG => out.diag = text(tag, v)?,
            _ => {}
        }
    }
    if out.gateways.is_empty() {
        return Err(BundleError::Missing(TAG_GATEWAY));
    }
    if out.device.is_empty() {
        return Err(BundleError::Missing(TAG_DEVICE));
    }
    if out.ca_root.is_empty() && out.diag != "echo" {
        return Err(BundleError::Missing(TAG_CA_ROOT));
    }
    if !seed {
        return Err(BundleError::Missing(TAG_SEED));
    }
    if out.key.is_some() != !out.certs.is_empty() {
        return Err(BundleError::Missing(if out.key.is_some() { TAG_CERT } else { TAG_KEY }));
    }
    Ok(Some(out))
}

/// Writes a bundle (the provisioning tool is Go; this is for tests and tools in Rust).
pub fn encode(fields: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&[VERSION, 0, 0, 0]);
    for (tag, v) in fields {
        b.push(*tag);
        b.extend_from_slice(&(v.len() as u16).to_be_bytes());
        b.extend_from_slice(v);
    }
    let len = (b.len() - HEADER_SIZE) as u16;
    b[6..8].copy_from_slice(&len.to_be_bytes());
    let sum = Sha256::digest(&b);
    b.extend_from_slice(&sum);
    b
}
