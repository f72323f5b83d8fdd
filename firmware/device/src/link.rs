//! The link UART wired to the modem protocol (wasmbed-net's `link`): received bytes go
//! into a ring from the UART's receive interrupt, so nothing is lost while the firmware
//! is busy (a P-256 operation takes a while); the ring's size is the window the modem
//! is told, so the modem never sends more than fits. When the ring is full anyway the
//! interrupt is masked and the byte stays in the UART (an emulator then holds the rest
//! back; on silicon the UART would overrun and the link protocol resynchronises).
//!
//! Boards without a link interrupt (`LINK_IRQ = None`) are polled.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use wasmbed_net::link::{Modem, Port};

use crate::{board, clock};

const RING: usize = board::LINK_RING;

struct Ring(UnsafeCell<[u8; RING]>);
// SAFETY: single producer (the interrupt) and single consumer (the main loop), indices
// published with release/acquire.
unsafe impl Sync for Ring {}

static BUF: Ring = Ring(UnsafeCell::new([0; RING]));
static HEAD: AtomicUsize = AtomicUsize::new(0); // written by the producer
static TAIL: AtomicUsize = AtomicUsize::new(0); // written by the consumer
static PAUSED: AtomicBool = AtomicBool::new(false);
/// Measurement mode (the `tls-bench` diagnostic): reads take what the peer sent whole.
pub static SETTLE: AtomicBool = AtomicBool::new(false);
/// HEAD when the ring last settled.
static SETTLED: AtomicUsize = AtomicUsize::new(0);
/// How long the link must be quiet for what arrived to count as whole.
const QUIET_MS: u64 = 20;
/// Arrival-time jitter of received bytes, for the entropy pool.
pub static JITTER: AtomicU32 = AtomicU32::new(0);

fn push_pending() {
    while board::link_rx_ready() {
        let head = HEAD.load(Ordering::Relaxed);
        let tail = TAIL.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= RING {
            PAUSED.store(true, Ordering::Relaxed);
            board::link_irq(false);
            return;
        }
        let Some(b) = board::link_read() else { return };
        // SAFETY: slot head is not visible to the consumer until HEAD moves.
        unsafe { (*BUF.0.get())[head % RING] = b };
        HEAD.store(head.wrapping_add(1), Ordering::Release);
        let j = JITTER.load(Ordering::Relaxed);
        JITTER.store(j.rotate_left(7) ^ clock::phase() ^ b as u32, Ordering::Relaxed);
    }
}

/// The link UART's receive interrupt.
pub fn on_irq() {
    let t0 = clock::cycles();
    board::link_irq_ack();
    push_pending();
    clock::add_waited(clock::cycles() - t0);
}

pub fn init() {
    if let Some(irq) = board::LINK_IRQ {
        board::link_irq(true);
        crate::arch::irq_enable(irq);
        // A byte that arrived before the interrupt was enabled raises none (the CMSDK
        // UART sets its interrupt status only on arrival) and holds the rest back.
        critical_section::with(|_| push_pending());
    }
}

/// The board's side of the modem link.
pub struct BoardPort;

impl Port for BoardPort {
    fn write(&mut self, data: &[u8]) {
        board::link_write(data);
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        if !SETTLE.load(Ordering::Relaxed) {
            return self.take(buf);
        }
        // Measuring the firmware's work (clock::waited): when bytes arrive, first wait
        // until the link has been quiet a while, so that a flight of the peer's is taken
        // whole, in the same pieces whatever the host's timing; a read that finds nothing
        // is part of waiting too.
        settle();
        let (t0, w0) = (clock::cycles(), clock::waited());
        let n = self.take(buf);
        if n == 0 {
            clock::add_waited((clock::cycles() - t0).saturating_sub(clock::waited() - w0));
        }
        n
    }

    fn now_ms(&self) -> u64 {
        clock::uptime_ms()
    }

    fn idle(&mut self) {
        board::watchdog_feed();
        let (t0, w0) = (clock::cycles(), clock::waited());
        // Woken by the next byte or the next SysTick (1 ms).
        crate::arch::wfi();
        // Time asleep is waiting; the link interrupt, if it ran, counted itself.
        let slept = (clock::cycles() - t0).saturating_sub(clock::waited() - w0);
        clock::add_waited(slept);
    }
}

/// Waits (counted as waiting) until no byte has arrived for QUIET_MS, if any arrived
/// since the last time.
fn settle() {
    let mut last = HEAD.load(Ordering::Acquire);
    if last == SETTLED.load(Ordering::Relaxed) {
        return;
    }
    let (t0, w0) = (clock::cycles(), clock::waited());
    let mut since = clock::uptime_ms();
    // A full ring stops the modem until credits go back: take what is there.
    while !PAUSED.load(Ordering::Relaxed) && clock::uptime_ms() - since < QUIET_MS {
        board::watchdog_feed();
        crate::arch::wfi();
        let head = HEAD.load(Ordering::Acquire);
        if head != last {
            last = head;
            since = clock::uptime_ms();
        }
    }
    SETTLED.store(last, Ordering::Relaxed);
    clock::add_waited((clock::cycles() - t0).saturating_sub(clock::waited() - w0));
}

impl BoardPort {
    /// What the ring holds, up to `buf.len()` bytes.
    fn take(&mut self, buf: &mut [u8]) -> usize {
        if board::LINK_IRQ.is_none() {
            let mut n = 0;
            while n < buf.len() {
                match board::link_read() {
                    Some(b) => buf[n] = b,
                    None => break,
                }
                n += 1;
            }
            return n;
        }
        let tail = TAIL.load(Ordering::Relaxed);
        let mut head = HEAD.load(Ordering::Acquire);
        if head == tail && !PAUSED.load(Ordering::Relaxed) {
            // Nothing in the ring: pick up a byte whose interrupt went missing.
            critical_section::with(|_| push_pending());
            head = HEAD.load(Ordering::Acquire);
        }
        let n = head.wrapping_sub(tail).min(buf.len());
        for (i, b) in buf.iter_mut().take(n).enumerate() {
            // SAFETY: [tail, head) was published by the producer.
            *b = unsafe { (*BUF.0.get())[(tail + i) % RING] };
        }
        TAIL.store(tail.wrapping_add(n), Ordering::Release);
        if n > 0 && PAUSED.load(Ordering::Relaxed) {
            critical_section::with(|_| {
                PAUSED.store(false, Ordering::Relaxed);
                push_pending();
                if !PAUSED.load(Ordering::Relaxed) {
                    board::link_irq(true);
                }
            });
        }
        n
    }
}

pub fn modem() -> Modem<BoardPort> {
    Modem::new(BoardPort, RING as u32)
}
