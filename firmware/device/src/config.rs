//! The provisioning bundle (wasmbed-net's `bundle`): the config area is a section of the
//! image, erased (0xFF) as built; `wasmbed-provision` writes a device's bundle into a
//! copy of the image (firmware/provision).

use alloc::boxed::Box;
use alloc::vec::Vec;

use wasmbed_net::bundle::{self, Bundle, BundleError};

/// The config area's size in the image (the memory maps reserve more).
pub const SIZE: usize = 4096;

#[used]
#[unsafe(link_section = ".wasmbed_config")]
static CONFIG: [u8; SIZE] = [0xFF; SIZE];

/// Reads the bundle (`Ok(None)`: not provisioned). Its bytes are copied to the heap,
/// as many as its header says (with its checksum), nothing when the area is erased.
pub fn load() -> Result<Option<Bundle<'static>>, BundleError> {
    let p = core::ptr::addr_of!(CONFIG) as *const u8;
    // Volatile: the compiler must not assume the erased bytes it built.
    let byte = |i: usize| unsafe { core::ptr::read_volatile(p.add(i)) };
    let n = match (0..4).all(|i| byte(i) == 0xFF) {
        true => 4, // erased: parse says "not provisioned"
        false => (bundle::HEADER_SIZE + (u16::from_be_bytes([byte(6), byte(7)]) as usize) + 32).min(SIZE),
    };
    let bytes: Vec<u8> = (0..n).map(byte).collect();
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    bundle::parse(bytes)
}
