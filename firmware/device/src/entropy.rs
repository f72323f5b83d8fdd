//! Where randomness comes from (firmware/README.md, "Entropy"), per board:
//!
//! - a hardware RNG where the part has one and it answers (STM32F407's RNG, nRF52840's
//!   TRNG) — QEMU models neither the STM32F4's RNG nor any on the MPS2;
//! - timing jitter: the SysTick counter sampled around work whose duration varies
//!   (under QEMU the counter follows the host's clock, so host scheduling shows through),
//!   and the arrival times of every byte received on the link;
//! - the reset record's boot sequence (reset.rs), kept in RAM across resets: Renode's RNG
//!   replays its sequence after a machine reset (each core thread's generator starts again
//!   from the emulation's seed), and its timing is deterministic, so without it a board
//!   reset in Renode would draw the numbers of the boot before, boot id included;
//! - the per-device seed of the provisioning bundle (secret, differs per device, but
//!   fixed: alone it would make every boot of a device repeat itself, so it is only
//!   ever mixed with the above, never used as a constant).
//!
//! Everything goes into a SHA-256 pool; an HMAC-DRBG is seeded from it and reseeded
//! before each key is made and each TLS handshake.

use wasmbed_net::drbg::{HmacDrbg, Pool};

use crate::{board, clock, link};

pub struct Entropy {
    pool: Pool,
    pub drbg: HmacDrbg,
    pub hardware: bool,
}

/// Samples the SysTick phase around a loop whose length depends on the last sample.
fn jitter(pool: &mut Pool, samples: usize) {
    let mut x = clock::phase();
    for _ in 0..samples {
        let spins = 16 + (x & 0x3F);
        for _ in 0..spins {
            x = x.rotate_left(3) ^ clock::phase();
            core::hint::black_box(x);
        }
        pool.add_u32(x ^ clock::phase());
    }
}

impl Entropy {
    pub fn new(seed: &[u8], device: &str) -> Self {
        let mut pool = Pool::default();
        pool.add(seed);
        pool.add(device.as_bytes());
        pool.add_u32(crate::reset::seq());
        let mut hw = [0u8; 32];
        let hardware = board::hw_entropy(&mut hw);
        if hardware {
            pool.add(&hw);
        }
        jitter(&mut pool, 256);
        pool.add(&clock::uptime_ms().to_le_bytes());
        pool.add_u32(link::JITTER.load(core::sync::atomic::Ordering::Relaxed));
        let drbg = HmacDrbg::new(&pool.take());
        Entropy { pool, drbg, hardware }
    }

    /// Mixes fresh samples in (before a key or a handshake).
    pub fn reseed(&mut self) {
        let mut hw = [0u8; 32];
        if board::hw_entropy(&mut hw) {
            self.pool.add(&hw);
        }
        jitter(&mut self.pool, 64);
        self.pool.add(&clock::uptime_ms().to_le_bytes());
        self.pool.add_u32(link::JITTER.load(core::sync::atomic::Ordering::Relaxed));
        let e = self.pool.take();
        self.drbg.reseed(&e);
    }
}
