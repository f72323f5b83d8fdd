//! Wasmbed device protocol, version 1 (`docs/protocol.md`), for `no_std` devices.
//!
//! - [`frame`]: the 4-byte frame header (version, flags, u16 length) around each message.
//! - [`Envelope`] / [`Message`]: the sixteen messages, decoded without copying (strings and
//!   byte strings borrow from the payload) and encoded as deterministic CBOR, byte for byte
//!   what the Go reference (`protocol/`, fxamacker/cbor core-deterministic) writes.
//! - [`DecodeError`]: every way input can be bad, with the [`ErrorKind`] the golden
//!   vectors in `protocol/testdata/invalid/expect.json` name.
//!
//! CBOR itself is read and written with `minicbor`; what the protocol adds (limits on
//! nesting and sizes, no tags, no indefinite lengths, no duplicate keys, shortest floats)
//! is enforced here.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod cbor;
mod error;
pub mod frame;
mod messages;
mod validate;

pub use error::{DecodeError, EncodeError, ErrorCode, ErrorKind};
pub use messages::*;
pub use validate::{valid_name, valid_version};

/// The detail of the `app_status` (downloading) a device sends when it cannot hold two
/// versions of an app and removed the running one first (Go: `protocol.ReplacedPrefix`).
pub const REPLACED: &str = "replaced: no room for two versions; the running one was removed first";

/// Version of the `wasmbed` host ABI this protocol revision describes (`hello.abi_version`).
pub const ABI_VERSION: u32 = 1;

/// Field limits, as `docs/protocol.md` lists them.
pub mod limits {
    /// Device, app, board and feature names, config keys, value keys.
    pub const MAX_NAME_LEN: usize = 64;
    /// Log lines, details, error messages, config values, firmware strings.
    pub const MAX_TEXT_LEN: usize = 256;
    /// Enrollment token.
    pub const MAX_TOKEN_LEN: usize = 256;
    /// One CSR or one certificate.
    pub const MAX_DER_LEN: usize = 4096;
    /// Certificates in a chain.
    pub const MAX_CHAIN_LEN: usize = 4;
    /// Apps in a hello.
    pub const MAX_APPS: usize = 32;
    /// Features in a hello.
    pub const MAX_FEATURES: usize = 32;
    /// Entries of a deploy's config.
    pub const MAX_CONFIG_PAIRS: usize = 64;
    /// Log lines, and values, in one app_output.
    pub const MAX_RECORDS: usize = 64;
    /// The smallest max_frame a peer may announce: the gateway's certificate answer fits it
    /// whole (`docs/protocol.md`, Frames).
    pub const MIN_FRAME_SIZE: u32 = 2048;
    /// The hard limit on a frame's payload.
    pub const MAX_FRAME_SIZE: u32 = 16384;
    /// CBOR nesting accepted by a decoder.
    pub const MAX_NESTING: usize = 8;
    /// Items in one CBOR array accepted by a decoder.
    pub const MAX_ARRAY_ITEMS: u64 = 1024;
    /// Pairs in one CBOR map accepted by a decoder.
    pub const MAX_MAP_PAIRS: u64 = 256;
}
