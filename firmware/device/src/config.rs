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

/// Reads the bundle (`Ok(None)`: not provisioned). The bytes are copied to the heap once.
pub fn load() -> Result<Option<Bundle<'static>>, BundleError> {
    let p = core::ptr::addr_of!(CONFIG) as *const u8;
    // Volatile: the compiler must not assume the erased bytes it built.
    let bytes: Vec<u8> = (0..SIZE).map(|i| unsafe { core::ptr::read_volatile(p.add(i)) }).collect();
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    bundle::parse(bytes)
}
