//! The provisioning bundle (wasmbed-net's `bundle`): the config area is a section of the
//! image, erased (0xFF) as built; `wasmbed-provision` writes a device's bundle into a
//! copy of the image (firmware/provision).

use wasmbed_net::bundle::{self, Bundle, BundleError};

/// The config area's size in the image (the memory maps reserve more).
pub const SIZE: usize = 4096;

#[used]
#[unsafe(link_section = ".wasmbed_config")]
static CONFIG: [u8; SIZE] = [0xFF; SIZE];

unsafe extern "C" {
    /// The same bytes, through the linker's symbol for the section (wasmbed-sections.x):
    /// the compiler knows nothing of what it holds, so it cannot assume the erased bytes
    /// it built into `CONFIG`.
    static __wasmbed_config: [u8; SIZE];
}

/// Reads the bundle (`Ok(None)`: not provisioned), in place in flash: the bundle borrows
/// from it (no copy in RAM).
pub fn load() -> Result<Option<Bundle<'static>>, BundleError> {
    // SAFETY: the section holds CONFIG's SIZE bytes, never written while the firmware runs.
    let bytes: &'static [u8] = unsafe { &*core::ptr::addr_of!(__wasmbed_config) };
    bundle::parse(bytes)
}
