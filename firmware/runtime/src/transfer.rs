//! Module transfer (`docs/protocol.md`, "Module transfer and resume"): a `deploy`
//! announces app, generation, size and sha256; `module_chunk`s carry the bytes; a chunk
//! at another offset than the current one is ignored (answered with the current
//! offset); the same `deploy` again resumes where the transfer stopped.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

/// One module being received.
pub struct Transfer {
    pub app: String,
    pub generation: u64,
    pub sha256: [u8; 32],
    pub size: u32,
    buf: Vec<u8>,
}

/// What a chunk did.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes held so far (the next offset the gateway must send).
    Progress(u32),
    /// The module is complete and matches its sha256.
    Complete,
    /// The module is complete but its sha256 differs; the transfer starts over.
    Checksum,
}

impl Transfer {
    pub fn new(app: &str, generation: u64, sha256: [u8; 32], size: u32) -> Self {
        Transfer { app: app.to_string(), generation, sha256, size, buf: Vec::new() }
    }

    /// Whether a `deploy` names this same transfer (so it resumes).
    pub fn same(&self, app: &str, generation: u64, sha256: &[u8], size: u32) -> bool {
        self.app == app && self.generation == generation && self.sha256[..] == *sha256 && self.size == size
    }

    /// Allocates the buffer for the whole module, at once (run in the app's arena).
    /// False: no memory for it.
    pub fn reserve(&mut self) -> bool {
        self.buf.try_reserve_exact(self.size as usize).is_ok()
    }

    /// Takes the module's bytes (once complete) to run them.
    pub fn take(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.buf)
    }

    /// Bytes held.
    pub fn offset(&self) -> u32 {
        self.buf.len() as u32
    }

    /// Applies a chunk at `offset`.
    pub fn chunk(&mut self, offset: u32, data: &[u8]) -> Chunk {
        if offset != self.offset() || self.offset() + data.len() as u32 > self.size {
            return Chunk::Progress(self.offset());
        }
        if self.buf.capacity() < self.size as usize {
            // Never allocates here: the buffer was reserved in the app's arena.
            return Chunk::Progress(self.offset());
        }
        self.buf.extend_from_slice(data);
        if self.offset() < self.size {
            return Chunk::Progress(self.offset());
        }
        if Sha256::digest(&self.buf)[..] != self.sha256[..] {
            self.buf.clear();
            return Chunk::Checksum;
        }
        Chunk::Complete
    }

    /// The complete module.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}
