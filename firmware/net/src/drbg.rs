//! Randomness: an entropy pool and HMAC-DRBG (NIST SP 800-90A, HMAC with SHA-256).
//!
//! The board feeds the pool whatever it has (a hardware RNG, timing jitter, the
//! provisioning bundle's per-device seed; see the board modules and
//! firmware/README.md, "Entropy"); the DRBG is seeded from the pool and reseeded before
//! each key or handshake, so no output ever depends on fixed inputs alone.

use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Collects entropy samples into a SHA-256 state.
#[derive(Clone)]
pub struct Pool {
    h: Sha256,
    pub samples: u64,
}

impl Default for Pool {
    fn default() -> Self {
        Pool { h: Sha256::new(), samples: 0 }
    }
}

impl Pool {
    pub fn add(&mut self, data: &[u8]) {
        self.h.update(data);
        self.samples += 1;
    }

    pub fn add_u32(&mut self, v: u32) {
        self.add(&v.to_le_bytes());
    }

    /// The pool's digest; the pool goes on from it (forward: later takes differ).
    pub fn take(&mut self) -> [u8; 32] {
        let d: [u8; 32] = self.h.clone().finalize().into();
        self.h = Sha256::new();
        self.h.update(d);
        d
    }
}

/// HMAC-DRBG with SHA-256.
pub struct HmacDrbg {
    k: [u8; 32],
    v: [u8; 32],
    /// Outputs since the last (re)seed.
    pub generated: u64,
}

impl HmacDrbg {
    pub fn new(seed: &[u8]) -> Self {
        let mut d = HmacDrbg { k: [0; 32], v: [1; 32], generated: 0 };
        d.update(seed);
        d
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = HmacSha256::new_from_slice(&self.k).expect("any key length");
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    fn update(&mut self, data: &[u8]) {
        self.k = self.mac(&[&self.v, &[0x00], data]);
        self.v = self.mac(&[&self.v]);
        if data.is_empty() {
            return;
        }
        self.k = self.mac(&[&self.v, &[0x01], data]);
        self.v = self.mac(&[&self.v]);
    }

    /// Mixes fresh entropy in.
    pub fn reseed(&mut self, entropy: &[u8]) {
        self.update(entropy);
        self.generated = 0;
    }

    pub fn generate(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            self.v = self.mac(&[&self.v]);
            chunk.copy_from_slice(&self.v[..chunk.len()]);
        }
        self.update(&[]);
        self.generated += 1;
    }
}

impl RngCore for HmacDrbg {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.generate(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.generate(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.generate(dest)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.generate(dest);
        Ok(())
    }
}

impl CryptoRng for HmacDrbg {}
