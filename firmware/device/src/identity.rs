//! What the device keeps: its identity — the P-256 key (made on the device, never sent
//! anywhere) and the certificate chain the gateway's CA issued for it — and what it had
//! applied: each app's generation, and the apps that were installed (name, version,
//! generation, sha256, a crash's words).
//!
//! Where it lives (firmware/README.md, "What survives a reset and a power cut"):
//!
//! - the identity in flash (flash.rs, `wasmbed_kept`: two sectors, a record log that a
//!   power cut at any point leaves with the old identity or the new one), written when
//!   it changes (enrollment, renewal, revocation);
//! - everything, the identity included, in RAM, in a `.uninit` area the runtime does not
//!   clear at boot, with a checksum: it survives a reset (watchdog, panic, a QEMU system
//!   reset) but not a power cut; after one, the identity comes from flash and the apps
//!   are deployed again.
//!
//! Both are tied to the bundle (device name, CA root, token): a device provisioned
//! again, with a new token, enrolls again. The bundle itself (name, gateway addresses,
//! CA root) is in the image's config area, in flash. Modules are not kept (they live in
//! the code pool): after a reset the apps are reported `downloading` at their
//! generation, and the gateway sends their deploys again.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;

use alloc::boxed::Box;
use p256::ecdsa::SigningKey;
use sha2::{Digest, Sha256};
use wasmbed_net::bundle::Bundle;

use crate::board;

/// The identity's flash log.
pub type KeptFlash = wasmbed_kept::Log<Box<dyn wasmbed_kept::Flash>>;

pub struct Identity {
    pub key: SigningKey,
    /// Certificates, DER, leaf first, back to back.
    pub chain: Vec<u8>,
    /// The leaf's expiry, Unix ms (0: unknown, a factory identity).
    pub not_after: i64,
    /// When to renew, Unix ms (0: never).
    pub renew_at: i64,
}

/// Each app's applied generation (a few apps: a list, not a map).
#[derive(Default)]
pub struct Gens(Vec<(String, u64)>);

impl Gens {
    pub fn get(&self, app: &str) -> Option<u64> {
        self.0.iter().find(|(a, _)| a == app).map(|(_, g)| *g)
    }

    /// Sets an app's generation. Beyond `most` apps, one that `held` says the device
    /// no longer has is forgotten first, so names that come and go cannot fill memory.
    pub fn set(&mut self, app: &str, gen: u64, most: usize, held: impl Fn(&str) -> bool) {
        match self.0.iter_mut().find(|(a, _)| a == app) {
            Some(e) => e.1 = gen,
            None => self.0.push((String::from(app), gen)),
        }
        if self.0.len() > most {
            if let Some(i) = self.0.iter().position(|(a, _)| a != app && !held(a)) {
                self.0.swap_remove(i);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &(String, u64)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// An app that was installed.
#[derive(Clone, Debug)]
pub struct AppRecord {
    pub name: String,
    pub version: String,
    pub generation: u64,
    pub sha256: [u8; 32],
    /// Why a crash took it down (`crashed: panic in tick ...`), empty if none: such an
    /// app stays reported `failed` across later resets until the gateway sends it again.
    pub detail: String,
}

/// Everything kept.
#[derive(Default)]
pub struct Kept {
    pub id: Option<Identity>,
    pub gens: Gens,
    pub apps: Vec<AppRecord>,
}

/// What to keep, borrowed.
pub struct KeptRef<'a> {
    pub id: Option<&'a Identity>,
    pub gens: &'a Gens,
    pub apps: &'a [AppRecord],
}

/// The kept state's area: the identity (its key, dates and certificate chain, about
/// 1.1 KB) and, per app, its generation and record (names, version, hash: about 200 B,
/// 500 B at the protocol's longest). 3 KiB, 2 KiB on a board of one app (the Uno R4's
/// 32 KiB of RAM). State that does not fit is not kept (`save`); the agent tells the gateway.
const SIZE: usize = if board::MAX_APPS == 1 { 2048 } else { 3072 };
const MAGIC: &[u8; 4] = b"WBK2";

#[unsafe(link_section = ".uninit.wasmbed_kept")]
static mut STORE: MaybeUninit<[u8; SIZE]> = MaybeUninit::uninit();

fn store() -> *mut u8 {
    core::ptr::addr_of_mut!(STORE) as *mut u8
}

/// What ties the kept state to the bundle: the device name, the CA root, the token.
fn owner(b: &Bundle<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b.device.as_bytes());
    h.update([0]);
    h.update(b.token.as_bytes());
    h.update([0]);
    h.update(b.ca_root);
    h.finalize().into()
}

/// A record written into a fixed area: what does not fit is counted, not written
/// (`fits` says whether all of it was).
struct Rec<'a> {
    buf: &'a mut [u8],
    n: usize,
}

impl Rec<'_> {
    fn extend_from_slice(&mut self, b: &[u8]) {
        if let Some(d) = self.buf.get_mut(self.n..self.n + b.len()) {
            d.copy_from_slice(b);
        }
        self.n += b.len();
    }
    fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }
    fn fits(&self) -> bool {
        self.n <= self.buf.len()
    }
}

fn put_id(rec: &mut Rec<'_>, id: Option<&Identity>) {
    match id {
        Some(id) => {
            rec.push(1);
            rec.extend_from_slice(&id.key.to_bytes());
            rec.extend_from_slice(&id.not_after.to_le_bytes());
            rec.extend_from_slice(&id.renew_at.to_le_bytes());
            rec.extend_from_slice(&(id.chain.len() as u16).to_le_bytes());
            rec.extend_from_slice(&id.chain);
        }
        None => rec.push(0),
    }
}

/// Writes the identity (or its absence) to flash; Ok(false): unchanged, nothing written.
pub fn persist(log: &mut KeptFlash, id: Option<&Identity>, b: &Bundle<'_>) -> Result<bool, wasmbed_kept::Error> {
    // The owner, then put_id's: its flag, key, two dates, the chain's length and the chain.
    let mut buf = vec![0u8; 32 + 1 + 32 + 8 + 8 + 2 + id.map_or(0, |i| i.chain.len())];
    let mut rec = Rec { buf: &mut buf, n: 0 };
    rec.extend_from_slice(&owner(b));
    put_id(&mut rec, id);
    let n = rec.n;
    log.write(&buf[..n])
}

/// The identity in flash, if there is one for this bundle.
pub fn recall(log: &mut KeptFlash, b: &Bundle<'_>) -> Option<Identity> {
    let v = log.load().ok()??;
    if v.get(..32)? != owner(b) {
        return None;
    }
    get_id(&mut Reader { b: &v, p: 32 })?
}

fn put_str(rec: &mut Rec<'_>, s: &str) {
    let n = s.len().min(255);
    rec.push(n as u8);
    rec.extend_from_slice(&s.as_bytes()[..n]);
}

/// Keeps the state for after a reset, written in place (no copy on the heap). Returns
/// false if it does not fit (then nothing is kept: better no state than a partial one).
pub fn save(k: &KeptRef<'_>, b: &Bundle<'_>) -> bool {
    // SAFETY: the store is ours, written only from the main loop; any bytes are a u8.
    let area: &mut [u8] = unsafe { core::slice::from_raw_parts_mut(store(), SIZE) };
    let mut rec = Rec { buf: &mut area[..SIZE - 32], n: 0 };
    rec.extend_from_slice(MAGIC);
    rec.extend_from_slice(&owner(b));
    put_id(&mut rec, k.id);
    rec.push(k.gens.len().min(255) as u8);
    for (name, gen) in k.gens.iter().take(255) {
        put_str(&mut rec, name);
        rec.extend_from_slice(&gen.to_le_bytes());
    }
    rec.push(k.apps.len().min(255) as u8);
    for a in k.apps.iter().take(255) {
        put_str(&mut rec, &a.name);
        put_str(&mut rec, &a.version);
        rec.extend_from_slice(&a.generation.to_le_bytes());
        rec.extend_from_slice(&a.sha256);
        put_str(&mut rec, &a.detail);
    }
    if !rec.fits() {
        clear();
        return false;
    }
    let n = rec.n;
    let sum = Sha256::digest(&area[..n]);
    area[n..n + 32].copy_from_slice(&sum);
    true
}

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u8()? as usize;
        Some(String::from(core::str::from_utf8(self.take(n)?).ok()?))
    }
}

/// An identity as put_id wrote it: None if malformed, Some(None) if there was none.
fn get_id(r: &mut Reader<'_>) -> Option<Option<Identity>> {
    if r.u8()? != 1 {
        return Some(None);
    }
    let key = SigningKey::from_slice(r.take(32)?).ok()?;
    let not_after = r.u64()? as i64;
    let renew_at = r.u64()? as i64;
    let n = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
    let chain = r.take(n)?.to_vec();
    Some(Some(Identity { key, chain, not_after, renew_at }))
}

/// The state kept before a reset, if there is some for this device and CA.
pub fn load(b: &Bundle<'_>) -> Option<Kept> {
    // SAFETY: reading our own RAM; whatever it holds is checked below.
    let raw: &[u8] = unsafe { core::slice::from_raw_parts(store(), SIZE) };
    if &raw[..4] != MAGIC || raw[4..36] != owner(b) {
        return None;
    }
    let mut r = Reader { b: raw, p: 36 };
    let mut k = Kept { id: get_id(&mut r)?, ..Kept::default() };
    for _ in 0..r.u8()? {
        let name = r.str()?;
        let gen = r.u64()?;
        k.gens.0.push((name, gen));
    }
    for _ in 0..r.u8()? {
        let name = r.str()?;
        let version = r.str()?;
        let generation = r.u64()?;
        let sha256 = r.take(32)?.try_into().ok()?;
        let detail = r.str()?;
        k.apps.push(AppRecord { name, version, generation, sha256, detail });
    }
    let end = r.p;
    if Sha256::digest(&raw[..end])[..] != *r.take(32)? {
        return None;
    }
    Some(k)
}

/// Forgets the kept state.
pub fn clear() {
    // SAFETY: as in save.
    unsafe { core::ptr::write_bytes(store(), 0, 4) };
}
