//! The log against a simulated NOR flash that can lose power at any word.

extern crate std;

use super::*;
use alloc::format;
use std::cell::RefCell;
use std::rc::Rc;

/// NOR flash in memory: erase sets a sector to 0xFF, programming ANDs words in. With
/// a budget, each erase and each programmed word spends one; when none is left the
/// operation is cut: an erase leaves its sector garbage, a word is half programmed,
/// and everything after fails like a board without power.
struct Sim {
    mem: Vec<u8>,
    sector: u32,
    budget: Option<usize>,
    ops: usize,
    erases: [u32; 2],
    rng: u64,
}

#[derive(Clone)]
struct Shared(Rc<RefCell<Sim>>);

impl Sim {
    fn new(sector: u32) -> Shared {
        Shared(Rc::new(RefCell::new(Sim {
            mem: vec![0xFF; 2 * sector as usize],
            sector,
            budget: None,
            ops: 0,
            erases: [0; 2],
            rng: 0x9E37_79B9_7F4A_7C15,
        })))
    }
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
    /// Spends one operation; false when the power is gone.
    fn spend(&mut self) -> bool {
        self.ops += 1;
        match &mut self.budget {
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
            None => true,
        }
    }
}

impl Flash for Shared {
    fn sector_size(&self) -> u32 {
        self.0.borrow().sector
    }
    fn read(&mut self, off: u32, buf: &mut [u8]) -> Result<(), Error> {
        let s = self.0.borrow();
        let end = off as usize + buf.len();
        buf.copy_from_slice(s.mem.get(off as usize..end).ok_or(Error::Flash("read out of range"))?);
        Ok(())
    }
    fn erase(&mut self, sector: u32) -> Result<(), Error> {
        let mut s = self.0.borrow_mut();
        assert!(sector < 2);
        let (a, b) = ((sector * s.sector) as usize, ((sector + 1) * s.sector) as usize);
        if !s.spend() {
            for i in a..b {
                let r = s.next() as u8;
                s.mem[i] = r;
            }
            return Err(Error::Flash("power cut during erase"));
        }
        s.mem[a..b].fill(0xFF);
        s.erases[sector as usize] += 1;
        Ok(())
    }
    fn program(&mut self, off: u32, data: &[u8]) -> Result<(), Error> {
        let mut s = self.0.borrow_mut();
        assert_eq!(off % 4, 0, "unaligned program at {off}");
        assert_eq!(data.len() % 4, 0, "program of {} bytes", data.len());
        for (i, w) in data.chunks(4).enumerate() {
            let at = off as usize + 4 * i;
            if !s.spend() {
                let mask = s.next() as u32;
                let half = u32::from_le_bytes(w.try_into().unwrap()) | mask;
                let old = u32::from_le_bytes(s.mem[at..at + 4].try_into().unwrap());
                s.mem[at..at + 4].copy_from_slice(&(old & half).to_le_bytes());
                return Err(Error::Flash("power cut during program"));
            }
            for j in 0..4 {
                s.mem[at + j] &= w[j];
            }
        }
        Ok(())
    }
}

fn value(tag: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(31).wrapping_add(tag * 7) as u8).collect()
}

fn reopen(f: &Shared) -> Log<Shared> {
    f.0.borrow_mut().budget = None;
    Log::open(f.clone()).expect("open")
}

#[test]
fn empty_flash_holds_nothing_and_keeps_a_write() {
    let f = Sim::new(4096);
    let mut log = reopen(&f);
    assert_eq!(log.load().unwrap(), None);
    assert_eq!(log.write(b"identity"), Ok(true));
    assert_eq!(log.load().unwrap().as_deref(), Some(&b"identity"[..]));
    // A power cycle: a new log over the same flash.
    assert_eq!(reopen(&f).load().unwrap().as_deref(), Some(&b"identity"[..]));
}

#[test]
fn an_unchanged_value_is_not_written() {
    let f = Sim::new(4096);
    let mut log = reopen(&f);
    log.write(&value(1, 1200)).unwrap();
    let ops = f.0.borrow().ops;
    assert_eq!(log.write(&value(1, 1200)), Ok(false));
    assert_eq!(reopen(&f).write(&value(1, 1200)), Ok(false));
    assert_eq!(f.0.borrow().ops, ops, "an unchanged value programmed or erased flash");
}

#[test]
fn too_large_is_refused_and_the_old_value_stays() {
    let f = Sim::new(1024);
    let mut log = reopen(&f);
    log.write(b"old").unwrap();
    assert_eq!(log.write(&value(2, 1024)), Err(Error::TooLarge));
    assert_eq!(log.write(&value(2, 1024 - record_size(0) + 1)), Err(Error::TooLarge));
    assert_eq!(reopen(&f).load().unwrap().as_deref(), Some(&b"old"[..]));
    // The largest that fits.
    let big = value(3, 1024 - record_size(0));
    assert_eq!(log.write(&big), Ok(true));
    assert_eq!(reopen(&f).load().unwrap(), Some(big));
}

/// Many writes of varying sizes: every one is read back after a power cycle, and the
/// sectors are erased about once per sector's worth of records (wear).
#[test]
fn a_thousand_writes_wear_the_sectors_evenly() {
    let sector = 16 * 1024;
    let f = Sim::new(sector);
    let mut log = reopen(&f);
    let mut bytes = 0;
    for i in 0..1000u32 {
        let v = value(i, 1 + (i as usize * 37) % 1500);
        bytes += record_size(v.len());
        assert_eq!(log.write(&v), Ok(true));
        if i % 97 == 0 {
            log = reopen(&f);
        }
        assert_eq!(log.load().unwrap(), Some(v), "write {i}");
    }
    let e = f.0.borrow().erases;
    let most = bytes / sector as usize + 2;
    assert!((e[0] + e[1]) as usize <= most, "erases {e:?} for {bytes} bytes of records (at most {most})");
    assert!(e[0].abs_diff(e[1]) <= 1, "uneven wear: {e:?}");
}

/// A power cut at every operation of a write — appending in the same sector, and
/// moving to the other one — leaves the old value or the new one, and the next write
/// after the power comes back works.
#[test]
fn a_power_cut_anywhere_leaves_the_old_or_the_new_value() {
    let sector = 2048;
    for (case, fill) in [("append", 1usize), ("move", 3)] {
        let old = value(100, 500);
        let new = value(200, 600);
        // How many operations the write takes, without a cut.
        let setup = || {
            let f = Sim::new(sector);
            let mut log = reopen(&f);
            for i in 0..fill {
                log.write(&value(i as u32, 300)).unwrap();
            }
            log.write(&old).unwrap();
            f
        };
        let f = setup();
        let before = f.0.borrow().ops;
        reopen(&f).write(&new).unwrap();
        let total = f.0.borrow().ops - before;
        assert!(total > 100, "{case}: the write took only {total} operations");
        let mut kept_old = 0;
        for cut in 0..=total {
            let f = setup();
            let mut log = reopen(&f);
            f.0.borrow_mut().budget = Some(cut);
            let res = log.write(&new);
            let after = reopen(&f).load().unwrap();
            let got = after.as_deref();
            assert!(got == Some(&old[..]) || got == Some(&new[..]), "{case}, cut at {cut}/{total}: lost the value ({res:?})");
            if res.is_ok() {
                assert_eq!(got, Some(&new[..]), "{case}, cut at {cut}: Ok but the new value is not there");
            }
            if got == Some(&old[..]) {
                kept_old += 1;
            }
            // Power back: the next write and a cut during it again.
            let third = value(300, 700);
            let mut log = reopen(&f);
            f.0.borrow_mut().budget = Some(cut / 2);
            let _ = log.write(&third);
            let got = reopen(&f).load().unwrap();
            assert!(
                got.as_deref().is_some_and(|g| g == &old[..] || g == &new[..] || g == &third[..]),
                "{case}, cuts at {cut} then {}: lost the value",
                cut / 2
            );
            let mut log = reopen(&f);
            log.write(&third).unwrap();
            assert_eq!(reopen(&f).load().unwrap(), Some(third.clone()), "{case}, cut at {cut}: no recovery");
        }
        assert!(kept_old > 0, "{case}: no cut kept the old value");
    }
}

/// Flash full of garbage (never erased, or another program's data) holds no value,
/// and takes a write.
#[test]
fn garbage_is_no_value() {
    for seed in 1..50u64 {
        let f = Sim::new(1024);
        {
            let mut s = f.0.borrow_mut();
            s.rng = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
            for i in 0..2048 {
                let r = s.next() as u8;
                s.mem[i] = r;
            }
            // A plausible header at the start: magic, a sequence, a length.
            s.mem[..4].copy_from_slice(&MAGIC.to_le_bytes());
            s.mem[8..12].copy_from_slice(&((seed as u32 * 13) % 2000).to_le_bytes());
        }
        let mut log = reopen(&f);
        assert_eq!(log.load().unwrap(), None, "seed {seed}");
        let v = value(seed as u32, 200);
        log.write(&v).unwrap();
        assert_eq!(reopen(&f).load().unwrap(), Some(v), "seed {seed}");
    }
}

#[test]
fn a_flash_error_is_reported_and_nothing_is_lost() {
    let f = Sim::new(1024);
    let mut log = reopen(&f);
    log.write(b"kept").unwrap();
    f.0.borrow_mut().budget = Some(0);
    let e = log.write(b"next").unwrap_err();
    assert!(matches!(e, Error::Flash(_)), "{}", format!("{e:?}"));
    assert_eq!(reopen(&f).load().unwrap().as_deref(), Some(&b"kept"[..]));
}
