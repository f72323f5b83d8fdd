//! Wasmbed device networking for `no_std` boards, kept free of board code so it can be
//! tested on the host:
//!
//! - [`link`]: the modem link, the small framed protocol on the board's second UART
//!   through which a host bridge (or a modem) opens one TCP connection per session, and
//!   [`link::Transport`], the byte stream TLS runs over.
//! - [`bundle`]: the provisioning bundle a factory tool writes into the firmware image.
//! - [`csr`]: the PKCS#10 certificate request for the device's P-256 key.
//! - [`drbg`]: HMAC-DRBG (SHA-256) seeded from the board's entropy.
//! - [`failover`]: which gateway of the bundle to try next, with backoff and jitter.
//! - [`sig`]: ECDSA P-256 signatures in DER.
//! - [`x509`]: the gateway's certificate chain and CertificateVerify, for the TLS client.
#![no_std]

extern crate alloc;

pub mod bundle;
pub mod csr;
pub mod drbg;
pub mod failover;
pub mod link;
pub mod sig;
pub mod x509;
