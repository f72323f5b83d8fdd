//! The flash the identity is kept in across power loss (`wasmbed_kept`: a record log
//! over two erase sectors, identity.rs):
//!
//! - on silicon, two sectors of the part's own flash through its controller
//!   (`board::kept_flash`: STM32F4 sectors 9 and 10, nRF52840 two NVMC pages below the
//!   config page);
//! - under QEMU, which models neither flash controller, a file on the host,
//!   `wasmbed-flash.img` in QEMU's working directory, through Arm semihosting:
//!   `firmware/emulator` runs QEMU with semihosting on and a directory per device, so
//!   a device restarted as a new QEMU process finds its identity again. Without
//!   semihosting (QEMU run by hand without `-semihosting-config enable=on`) the probe
//!   below fails cleanly and the identity is kept in RAM only, across resets.

use alloc::boxed::Box;

use wasmbed_kept::{Error, Flash};

/// The kept flash: the board's, or under emulation the semihosting file.
pub fn open() -> Option<Box<dyn Flash>> {
    if crate::board::emulated() {
        return Semihost::open().map(|f| Box::new(f) as Box<dyn Flash>);
    }
    crate::board::kept_flash()
}

/// Test images: a bundle `diag` of `powercut <n>` stops the board (QEMU exits, like a
/// power cut) at the kept flash's n-th erase or programmed word after boot.
#[cfg(feature = "selftest")]
pub static CUT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(u32::MAX);

/// How many of `n` operations happen before the power cut (all of them: none).
#[cfg(feature = "selftest")]
fn before_cut(n: u32) -> u32 {
    use core::sync::atomic::Ordering;
    let left = CUT.load(Ordering::Relaxed);
    CUT.store(left.saturating_sub(n), Ordering::Relaxed);
    left.min(n)
}

#[cfg(not(feature = "selftest"))]
fn before_cut(n: u32) -> u32 {
    n
}

/// The power cut of a test image: QEMU exits.
fn cut() -> ! {
    println!("flash: power cut");
    loop {
        sys(0x18, 0x20026); // SYS_EXIT, ADP_Stopped_ApplicationExit
    }
}

const SYS_OPEN: u32 = 0x01;
const SYS_WRITE: u32 = 0x05;
const SYS_READ: u32 = 0x06;
const SYS_SEEK: u32 = 0x0A;
const SYS_FLEN: u32 = 0x0C;

/// Set while a semihosting call is made: the HardFault handler (main.rs) then knows a
/// fault is the `bkpt` of a call no host answered (QEMU without semihosting escalates
/// it to HardFault), and makes the call return -1 instead of resetting the board.
#[no_mangle]
pub static mut WASMBED_SEMIHOSTING: u32 = 0;

/// A semihosting call, -1 when no host answers (arch.rs).
fn sys(op: u32, args: u32) -> u32 {
    crate::arch::semihosting(op, args)
}

fn call(op: u32, args: &[u32]) -> u32 {
    sys(op, args.as_ptr() as u32)
}

/// Erase sector size of the emulated flash (the nRF52840's page).
const SECTOR: u32 = 4096;

/// The emulated flash: a host file of two sectors, with NOR semantics (erase to 0xFF,
/// programming only clears bits).
struct Semihost {
    fd: u32,
}

impl Semihost {
    fn open() -> Option<Semihost> {
        const NAME: &[u8] = b"wasmbed-flash.img\0";
        let open = |mode: u32| call(SYS_OPEN, &[NAME.as_ptr() as u32, mode, NAME.len() as u32 - 1]);
        let mut fd = open(3); // "r+b"
        if fd == u32::MAX {
            fd = open(7); // "w+b": a new file
        }
        if fd == u32::MAX {
            println!("flash: no semihosting host: the identity is kept in RAM only");
            return None;
        }
        let mut f = Semihost { fd };
        let len = call(SYS_FLEN, &[fd]);
        if len == u32::MAX || len < 2 * SECTOR {
            let start = if len == u32::MAX { 0 } else { len / SECTOR };
            for s in start..2 {
                f.fill(s * SECTOR).ok()?;
            }
        }
        Some(f)
    }

    fn seek(&mut self, off: u32) -> Result<(), Error> {
        match call(SYS_SEEK, &[self.fd, off]) {
            0 => Ok(()),
            _ => Err(Error::Flash("semihosting seek")),
        }
    }

    fn put(&mut self, off: u32, data: &[u8]) -> Result<(), Error> {
        self.seek(off)?;
        match call(SYS_WRITE, &[self.fd, data.as_ptr() as u32, data.len() as u32]) {
            0 => Ok(()),
            _ => Err(Error::Flash("semihosting write")),
        }
    }

    /// Erases one sector.
    fn fill(&mut self, off: u32) -> Result<(), Error> {
        let ff = [0xFFu8; 256];
        for p in (0..SECTOR).step_by(ff.len()) {
            self.put(off + p, &ff)?;
        }
        Ok(())
    }
}

impl Flash for Semihost {
    fn sector_size(&self) -> u32 {
        SECTOR
    }
    fn read(&mut self, off: u32, buf: &mut [u8]) -> Result<(), Error> {
        self.seek(off)?;
        match call(SYS_READ, &[self.fd, buf.as_mut_ptr() as u32, buf.len() as u32]) {
            0 => Ok(()),
            _ => Err(Error::Flash("semihosting read")),
        }
    }
    fn erase(&mut self, sector: u32) -> Result<(), Error> {
        if before_cut(1) == 0 {
            cut();
        }
        self.fill(sector * SECTOR)
    }
    /// The log programs only erased words, so a write is what programming does; a
    /// power cut leaves the words before it.
    fn program(&mut self, off: u32, data: &[u8]) -> Result<(), Error> {
        let words = data.len() as u32 / 4;
        let done = before_cut(words);
        self.put(off, &data[..4 * done as usize])?;
        if done < words {
            cut();
        }
        Ok(())
    }
}
