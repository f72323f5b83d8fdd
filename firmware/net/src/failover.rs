//! Which gateway of its bundle a device tries next, and how long it waits first.
//!
//! A failed attempt (no connection, a refused session, a session that ended before
//! the gateway acknowledged a heartbeat) moves to the next gateway after a short
//! pause (up to the minimum backoff, with jitter); once every gateway failed in turn
//! (a round), the wait grows exponentially with the rounds up to the maximum, with
//! jitter ("equal jitter": half fixed, half random), so that a fleet that lost its
//! gateway spreads over the others quickly and does not hammer them in step when
//! none takes it. A healthy session resets it: the device comes back to that gateway
//! first (it is where it is assigned), unless the gateway said the device is served
//! elsewhere (`wrong_gateway`): then the next one, or the gateway it named (one of
//! the bundle's) when it did. With one gateway, the wait grows with every failure.

/// The walk over a bundle's gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    n: usize,
    cur: usize,
    failed: u32,
}

/// The wait before attempt `n` of an exponential backoff from `min_ms` to `max_ms`,
/// half fixed and half random (`rand`).
pub fn backoff(n: u32, min_ms: u64, max_ms: u64, rand: u64) -> u64 {
    let d = min_ms.checked_shl(n.min(16)).unwrap_or(max_ms).min(max_ms);
    let half = d / 2;
    half + rand % (half + 1)
}

impl Endpoints {
    /// A walk over `n` gateways (at least one is assumed).
    pub const fn new(n: usize) -> Self {
        Endpoints { n: if n == 0 { 1 } else { n }, cur: 0, failed: 0 }
    }

    /// The index of the gateway to try next.
    pub fn current(&self) -> usize {
        self.cur
    }

    /// Consecutive failed attempts.
    pub fn failures(&self) -> u32 {
        self.failed
    }

    /// An attempt succeeded without a session to judge (an enrollment): failures
    /// start over.
    pub fn succeeded(&mut self) {
        self.failed = 0;
    }

    /// The attempt on the current gateway failed: on to gateway `to` if given (the
    /// gateway that refused named it), else the next; the wait before the next
    /// attempt (ms).
    pub fn failed_attempt(&mut self, min_ms: u64, max_ms: u64, rand: u64, to: Option<usize>) -> u64 {
        self.failed = self.failed.saturating_add(1);
        self.go(to);
        let n = self.n as u32;
        if n > 1 && self.failed % n != 0 {
            return backoff(0, min_ms, max_ms, rand); // the next gateway of this round
        }
        let rounds = self.failed / n;
        if n == 1 {
            return backoff(rounds - 1, min_ms, max_ms, rand); // the first retry after min_ms
        }
        backoff(rounds, min_ms, max_ms, rand) // a round failed: wait longer
    }

    /// A healthy session (a heartbeat acknowledged) ended, `wrong_gateway` if the
    /// gateway said it no longer serves the device (`to`: the gateway it named); the
    /// wait before the next attempt.
    pub fn healthy_ended(&mut self, wrong_gateway: bool, min_ms: u64, max_ms: u64, rand: u64, to: Option<usize>) -> u64 {
        self.failed = 0;
        if wrong_gateway {
            self.go(to);
        }
        backoff(0, min_ms, max_ms, rand)
    }

    fn go(&mut self, to: Option<usize>) {
        self.cur = match to {
            Some(i) if i < self.n => i,
            _ => (self.cur + 1) % self.n,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn tries_each_gateway_then_backs_off_by_rounds() {
        let (lo, hi) = (100, 2_000);
        let mut e = Endpoints::new(3);
        let mut order = Vec::new();
        for i in 0..9u32 {
            order.push(e.current());
            for rand in [0, u64::MAX / 3, u64::MAX] {
                let mut probe = e;
                let w = probe.failed_attempt(lo, hi, rand, None);
                let bound = match i {
                    2 => 2 * lo,
                    5 => 4 * lo,
                    8 => 8 * lo,
                    _ => lo,
                };
                assert!(w >= bound / 2 && w <= bound, "attempt {i}: wait {w}, want {}..{bound}", bound / 2);
            }
            e.failed_attempt(lo, hi, 7, None);
        }
        assert_eq!(order, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
        for _ in 0..100 {
            assert!(e.failed_attempt(lo, hi, u64::MAX, None) <= hi);
        }
    }

    #[test]
    fn healthy_session_comes_back_unless_moved_away() {
        let mut e = Endpoints::new(3);
        e.failed_attempt(100, 2_000, 1, None); // now on gateway 1
        assert!(e.healthy_ended(false, 100, 2_000, 5, None) <= 100);
        assert_eq!((e.current(), e.failures()), (1, 0));
        e.healthy_ended(true, 100, 2_000, 5, None);
        assert_eq!(e.current(), 2);
        // Told where to go: there, whatever the order.
        e.healthy_ended(true, 100, 2_000, 5, Some(1));
        assert_eq!(e.current(), 1);
        assert!(e.failed_attempt(100, 2_000, 5, Some(0)) <= 100);
        assert_eq!(e.current(), 0);
        e.failed_attempt(100, 2_000, 5, Some(7)); // not one of the bundle's: the next
        assert_eq!(e.current(), 1);
    }

    #[test]
    fn one_gateway_backs_off_every_failure() {
        let mut e = Endpoints::new(1);
        for i in 0..4u32 {
            let w = e.failed_attempt(1_000, 30_000, u64::MAX, None);
            let d = 1_000u64 << i;
            assert!(w >= d / 2 && w <= d, "failure {i}: wait {w}, want {}..{d}", d / 2);
            assert_eq!(e.current(), 0);
        }
    }
}
