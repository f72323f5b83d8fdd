//! The device agent: what the Go agent (agent/) does, on the board. Enrollment with the
//! bundle's token over server-authenticated TLS, then mutual-TLS sessions: hello,
//! heartbeats at the welcome's period, deploy and module chunks (resumed after a
//! reconnect), start/stop/remove with generations, app_status and app_output from the
//! runtime, certificate renewal, and reconnection with exponential backoff and jitter.
//!
//! One loop does everything (no threads): it reads what the gateway sent, runs the
//! apps' ticks that are due, sends heartbeats and output, and sleeps until the next
//! interrupt. Apps keep running between sessions, and their output waits (up to the
//! runtime's queue) for the next one.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;

use p256::ecdsa::SigningKey;
use wasmbed_net::bundle::Bundle;
use wasmbed_net::csr;
use wasmbed_net::failover::Endpoints;
use wasmbed_net::link::{Modem, Transport, TransportCtl};
use wasmbed_proto::{
    AppCommand, AppMetrics, AppOutput, AppReport, AppState, AppStatus, Certificate, Deploy, Enroll, Envelope, ErrorCode, Heartbeat,
    Hello, Limits, LogRecord, Message, ModuleChunk, MsgType, Renew, ResetReport, TransferProgress, ValueRecord,
    ABI_VERSION,
};
use wasmbed_runtime::transfer::Chunk;
use wasmbed_runtime::{Incoming, Record, Runtime, RuntimeError};

use crate::entropy::Entropy;
use crate::identity::{self, AppRecord, Identity, KeptFlash, KeptRef};
use crate::link::{self, BoardPort};
use crate::tls::{self, Channel, NetError};
use crate::reset::{self, Report};
use crate::{apps, board, clock, flash, heap, stack};
use wasmbed_kept::Log;

const MIN_BACKOFF_MS: u64 = 1_000;
const MAX_BACKOFF_MS: u64 = 30_000;
/// How often queued app output is sent.
const OUTPUT_MS: u64 = 1_000;
/// Heartbeat periods without an ack before the session is given up.
const HEARTBEAT_MISSES: u64 = 3;
const OPEN_TIMEOUT_MS: u64 = 15_000;
const ANSWER_TIMEOUT_MS: u64 = 20_000;
/// Budget for one app_output message (its records are cut to fit a frame).
const OUTPUT_BUDGET: usize = tls::MAX_SEND - 128;

/// The hello every session starts with.
pub fn hello<'a>(ram_free: u32, flash_free: u32, apps: Vec<AppReport<'a>>, reset: Option<ResetReport<'a>>) -> Hello<'a> {
    Hello {
        abi_version: ABI_VERSION,
        board: board::NAME,
        firmware: crate::VERSION,
        ram_free,
        flash_free,
        max_frame: board::MAX_FRAME,
        features: wasmbed_runtime::FEATURES.to_vec(),
        apps,
        reset,
    }
}

/// A module being received (into its app's arena), and the deploy it answers.
struct Pending {
    inc: Incoming,
    deploy_id: u64,
    version: String,
    limits: Limits,
    config: Vec<(String, String)>,
    start: bool,
}

pub struct Agent {
    b: Bundle<'static>,
    ent: Entropy,
    rt: Runtime,
    id: Option<Identity>,
    /// The key an enrollment will certify (made once per boot, kept across attempts).
    enroll_key: Option<SigningKey>,
    gens: identity::Gens,
    /// Where the identity survives a power cut (None: RAM only).
    flash: Option<KeptFlash>,
    /// What went wrong keeping the state (the flash, the RAM area), for the gateway (an
    /// `error`: its events and metrics).
    keep_problem: Option<String>,
    /// Apps installed before a reset whose modules are gone: reported `downloading`
    /// until the gateway deploys them again.
    lost: Vec<AppRecord>,
    pending: Vec<Pending>,
    /// Which gateway of the bundle is tried next (wasmbed_net::failover), and the one
    /// a `wrong_gateway` error named (an index in the bundle), if any.
    eps: Endpoints,
    redirect: Option<usize>,
    /// A renew in flight: its request id and the new key.
    renewal: Option<(u64, SigningKey)>,
    renew_after: u64,
    pub sessions: u32,
    /// A command was applied: print the heap once its frame is freed.
    heap_line: bool,
    /// Why this boot began (hello's `reset`).
    boot: Report,
    /// Picked at random at boot, never 0 (hello's `reset.boot_id`).
    boot_id: u32,
    /// An app a crash took down (the reset's culprit), reported `failed` with the words
    /// for it until the gateway sends it again.
    crashed: Vec<AppRecord>,
    /// Safe mode (after too many unexpected resets): only a generation newer than the
    /// app's last applied one runs.
    safe: bool,
}

/// What one mutual-TLS session keeps.
struct Sess {
    next_id: u64,
    heartbeat_ms: u64,
    last_ack: u64,
    next_heartbeat: u64,
    next_output: u64,
    seq: u64,
    acked: bool,
}

impl Sess {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl Agent {
    #[inline(never)]
    pub fn new(b: Bundle<'static>, boot: Report) -> Self {
        let mut ent = Entropy::new(&b.seed, b.device);
        // This boot's id (hello's `reset.boot_id`): random, so that the gateway tells
        // two boots apart that say the same of themselves (each power-on is boot 1).
        let boot_id = loop {
            let r = rand_core::RngCore::next_u32(&mut ent.drbg);
            if r != 0 {
                break r;
            }
        };
        let mut flash = flash::open().and_then(|f| {
            Log::open(f).map_err(|e| println!("identity: the flash cannot be read: {}", e.words())).ok()
        });
        let kept = identity::load(&b).unwrap_or_default();
        let mut id = kept.id;
        if id.is_some() {
            println!(
                "identity: kept across the reset (not_after {}); {} apps to fetch again",
                id.as_ref().unwrap().not_after,
                kept.apps.len()
            );
        } else if let Some(i) = flash.as_mut().and_then(|f| identity::recall(f, &b)) {
            println!("identity: kept in flash (not_after {})", i.not_after);
            id = Some(i);
        } else if let (Some(key), false) = (b.key, b.certs.is_empty()) {
            match SigningKey::from_slice(key) {
                Ok(key) => {
                    println!("identity: factory certificate from the bundle ({} certificates)", b.certs.len());
                    id = Some(Identity { key, chain: b.certs.concat(), not_after: 0, renew_at: 0 });
                }
                Err(_) => println!("identity: the bundle's key is not a P-256 scalar"),
            }
        }
        println!("entropy: timing jitter + bundle seed{}", if ent.hardware { " + hardware RNG" } else { "" });
        println!("reset: boot id {:08x}", boot_id);
        // Apps a crash took down (this reset's, and earlier ones the gateway has not sent
        // again) stay failed; the others' modules are fetched again.
        let (mut crashed, mut lost): (Vec<AppRecord>, Vec<AppRecord>) =
            kept.apps.into_iter().partition(|a| !a.detail.is_empty());
        if let Some((app, words)) = &boot.culprit {
            if let Some(i) = lost.iter().position(|a| &a.name == app) {
                let mut a = lost.remove(i);
                a.detail = words.clone();
                crashed.push(a);
            }
        }
        let safe = boot.safe_mode;
        let eps = Endpoints::new(b.gateways.len());
        Agent {
            b,
            ent,
            rt: apps::runtime(),
            id,
            enroll_key: None,
            gens: kept.gens,
            keep_problem: flash.is_none().then(|| String::from("no flash for the identity: kept in RAM only, lost at a power cut")),
            flash,
            lost,
            pending: Vec::new(),
            eps,
            redirect: None,
            renewal: None,
            renew_after: 0,
            sessions: 0,
            heap_line: false,
            boot,
            boot_id,
            crashed,
            safe,
        }
    }

    fn reset_report(&self) -> ResetReport<'_> {
        ResetReport {
            cause: self.boot.cause,
            detail: &self.boot.detail,
            boots: self.boot.boots,
            unexpected: self.boot.unexpected,
            safe_mode: self.safe,
            boot_id: self.boot_id,
        }
    }

    /// The runtime's ticks that are due; the watchdog is fed between calls (each is
    /// bounded by its fuel).
    fn poll_apps(&mut self) -> Vec<wasmbed_runtime::Event> {
        if clock::uptime_ms() > reset::STABLE_MS {
            reset::stable();
        }
        self.rt.poll(clock::uptime_ms(), &mut |_| board::watchdog_feed())
    }

    /// Runs the device for good.
    pub fn run(&mut self) -> ! {
        let mut modem = link::modem();
        loop {
            let healthy;
            let result = if self.id.is_none() {
                if self.b.token.is_empty() {
                    println!("agent: not enrolled and no enrollment token in the bundle");
                    healthy = false;
                    Err(NetError::Other("no token"))
                } else {
                    let r = self.enroll(&mut modem);
                    healthy = r.is_ok();
                    r
                }
            } else {
                let r = self.session(&mut modem);
                healthy = matches!(r, Ok(true));
                r.map(|_| ())
            };
            modem.close();
            // Told this gateway does not serve the device (it is assigned to another):
            // the next one at once.
            let wrong_gateway = matches!(&result, Err(NetError::Refused(c, _)) if *c == ErrorCode::WrongGateway as u16);
            match result {
                Ok(()) if self.id.is_some() && healthy && self.sessions == 0 => {
                    // Enrolled just now: straight to the first mutual-TLS session.
                    self.eps.succeeded();
                    continue;
                }
                Ok(()) => {}
                Err(e) => println!("agent: session ended: {}", describe(&e)),
            }
            let r = rand_core::RngCore::next_u64(&mut self.ent.drbg);
            let to = self.redirect.take();
            let wait = if healthy {
                self.eps.healthy_ended(wrong_gateway, MIN_BACKOFF_MS, MAX_BACKOFF_MS, r, to)
            } else {
                self.eps.failed_attempt(MIN_BACKOFF_MS, MAX_BACKOFF_MS, r, to)
            };
            println!("agent: reconnecting in {} ms to {}", wait, self.gateway());
            self.idle(wait);
        }
    }

    /// Keeps the apps running for `ms` (between sessions).
    fn idle(&mut self, ms: u64) {
        let end = clock::uptime_ms() + ms;
        while clock::uptime_ms() < end {
            board::watchdog_feed();
            for ev in self.poll_apps() {
                println!("app: {} {} ({}) while offline", ev.app, ev.state.name(), ev.detail);
            }
            crate::arch::wfi();
        }
    }

    /// The index in the bundle of the first of `addrs` it lists (a `wrong_gateway`
    /// error's gateway).
    fn bundle_index(&self, addrs: &[&str]) -> Option<usize> {
        addrs.iter().find_map(|a| self.b.gateways.iter().position(|g| g.eq_ignore_ascii_case(a)))
    }

    fn gateway(&self) -> &'static str {
        self.b.gateways[self.eps.current() % self.b.gateways.len()]
    }

    fn app_reports(&self) -> Vec<AppReport<'_>> {
        let mut r: Vec<AppReport<'_>> = self
            .rt
            .apps()
            .iter()
            .map(|a| AppReport {
                app: &a.name,
                version: &a.version,
                generation: self.gens.get(&a.name).unwrap_or(a.generation),
                state: a.state,
                sha256: &a.sha256,
                detail: &a.detail,
            })
            .collect();
        // Taken down by the last reset: failed, with the reason, until deployed again.
        r.extend(self.crashed.iter().map(|a| AppReport {
            app: &a.name,
            version: &a.version,
            generation: a.generation,
            state: AppState::Failed,
            sha256: &a.sha256,
            detail: &a.detail,
        }));
        // Lost in a reset: the module must come again (the gateway resumes the deploy).
        r.extend(self.lost.iter().map(|a| AppReport {
            app: &a.name,
            version: &a.version,
            generation: a.generation,
            state: AppState::Downloading,
            sha256: &a.sha256,
            detail: "",
        }));
        r.truncate(wasmbed_proto::limits::MAX_APPS);
        r
    }

    /// Keeps identity, generations and installed apps for after a reset.
    fn keep(&mut self) {
        let mut apps: Vec<AppRecord> = self
            .rt
            .apps()
            .iter()
            .filter(|a| a.state != AppState::Failed)
            .map(|a| AppRecord { name: a.name.clone(), version: a.version.clone(), generation: a.generation, sha256: a.sha256, detail: String::new() })
            .collect();
        apps.extend(self.lost.iter().cloned());
        apps.extend(self.crashed.iter().cloned());
        let k = KeptRef { id: self.id.as_ref(), gens: &self.gens, apps: &apps };
        if !identity::save(&k, &self.b) {
            println!("agent: the state to keep does not fit its area; nothing kept");
            self.keep_problem = Some(String::from("the state to keep across a reset does not fit its RAM area: nothing kept"));
        }
        if let Some(f) = &mut self.flash {
            match identity::persist(f, self.id.as_ref(), &self.b) {
                Ok(true) => println!("identity: written to flash"),
                Ok(false) => {}
                Err(e) => {
                    println!("identity: not written to flash: {}", e.words());
                    self.keep_problem = Some(String::from("identity not written to flash: ") + e.words());
                }
            }
        }
    }

    /// An enrollment session: server-authenticated TLS, hello, enroll with a CSR for a
    /// key made here and the token, certificate; then the gateway closes.
    // Not inlined (nor `session`): their frames would stay under the other's (the TLS
    // handshake is the deepest call of the firmware).
    #[inline(never)]
    fn enroll(&mut self, modem: &mut Modem<BoardPort>) -> Result<(), NetError> {
        let ctl = TransportCtl::default();
        let mut rbuf = vec![0u8; tls::READ_BUF];
        let mut wbuf = vec![0u8; tls::WRITE_BUF];
        let conn = self.connect(modem, &ctl, &mut rbuf, &mut wbuf, false)?;
        let mut ch = Channel::new(conn, &ctl);
        self.enroll_over(&mut ch)?;
        // Kept once the connection and its buffers are gone: the record is the heap's
        // largest moment otherwise.
        drop(ch);
        drop((rbuf, wbuf));
        self.keep();
        Ok(())
    }

    /// Opens the link to the gateway and runs the TLS handshake: server-authenticated to
    /// enroll, mutual with the identity once enrolled. Not inlined (nor what follows it):
    /// the handshake is the deepest call of the firmware, and no frame of the session may
    /// stay under it.
    #[inline(never)]
    fn connect<'a>(
        &mut self,
        modem: &'a mut Modem<BoardPort>,
        ctl: &'a TransportCtl,
        rbuf: &'a mut [u8],
        wbuf: &'a mut [u8],
        mutual: bool,
    ) -> Result<tls::BoxedConn<'a>, NetError> {
        let what = if mutual { "session" } else { "enroll" };
        let gw = self.gateway();
        println!("{}: connecting to {}", what, gw);
        modem.open(gw, OPEN_TIMEOUT_MS).map_err(|_| NetError::Refused(0, modem.reason().to_string()))?;
        self.ent.reseed();
        let t0 = clock::uptime_ms();
        let identity = if mutual { self.id.as_ref().map(|id| (&id.key, &id.chain[..])) } else { None };
        let conn = tls::handshake(
            Transport::new(modem, ctl),
            rbuf,
            wbuf,
            self.b.server_name,
            self.b.ca_root,
            &mut self.ent.drbg,
            identity,
        )?;
        if mutual {
            println!("session: mutual TLS up in {} ms", clock::uptime_ms() - t0);
        } else {
            println!("enroll: TLS up in {} ms (server authenticated)", clock::uptime_ms() - t0);
        }
        Ok(conn)
    }

    /// Enrollment over the server-authenticated connection: hello, welcome, the CSR, the
    /// certificate.
    #[inline(never)]
    fn enroll_over(&mut self, ch: &mut Channel<'_>) -> Result<(), NetError> {
        ch.send(1, Message::Hello(hello(self.rt.ram_free(), self.rt.storage_free(), Vec::new(), Some(self.reset_report()))))?;
        let p = ch.recv(ANSWER_TIMEOUT_MS)?;
        match tls::decode(&p)? {
            Some(Message::Welcome(w)) => {
                clock::set_unix_ms(w.time);
                ch.peer_max = w.max_frame as usize;
                if self.b.token_expires.is_some_and(|t| w.time > t) {
                    println!("enroll: the token expired at {}: the gateway will refuse it", self.b.token_expires.unwrap());
                }
            }
            Some(Message::Error(e)) => return Err(NetError::Refused(e.code, e.message.to_string())),
            _ => return Err(NetError::Other("no welcome")),
        }
        // The frame's buffer back to the channel: the next frame reuses it.
        ch.give_back(p);
        if self.enroll_key.is_none() {
            self.ent.reseed();
            self.enroll_key = Some(SigningKey::random(&mut self.ent.drbg));
        }
        let key = self.enroll_key.clone().unwrap();
        let req = csr::build(&key, self.b.device);
        ch.send(2, Message::Enroll(Enroll { device: self.b.device, token: self.b.token, csr: &req }))?;
        let p = ch.recv(ANSWER_TIMEOUT_MS)?;
        let id = match tls::decode(&p)? {
            Some(Message::Certificate(c)) => self.accept(key, &c)?,
            Some(Message::Error(e)) => return Err(NetError::Refused(e.code, e.message.to_string())),
            _ => return Err(NetError::Other("no certificate")),
        };
        println!("enroll: certificate for {} ({} B chain), not_after {}", self.b.device, id.chain.len(), id.not_after);
        self.id = Some(id);
        self.enroll_key = None;
        Ok(())
    }

    /// Takes a certificate for `key` (the gateway's CA has already been authenticated:
    /// it is the TLS server; the chain is presented to it as is).
    fn accept(&self, key: SigningKey, c: &Certificate<'_>) -> Result<Identity, NetError> {
        if c.chain.is_empty() {
            return Err(NetError::Other("empty certificate chain"));
        }
        // The leaf must be for our key: its SubjectPublicKeyInfo holds our public point.
        let point = key.verifying_key().to_encoded_point(false);
        if !contains(c.chain[0], point.as_bytes()) {
            return Err(NetError::Other("the certificate is not for this device's key"));
        }
        let now = clock::unix_ms();
        let life = (c.not_after - now).max(0);
        Ok(Identity { key, chain: c.chain.concat(), not_after: c.not_after, renew_at: now + life * 2 / 3 })
    }

    /// One mutual-TLS session. Ok(true): the gateway acknowledged a heartbeat (the
    /// backoff starts over).
    #[inline(never)]
    fn session(&mut self, modem: &mut Modem<BoardPort>) -> Result<bool, NetError> {
        let ctl = TransportCtl::default();
        let mut rbuf = vec![0u8; tls::READ_BUF];
        let mut wbuf = vec![0u8; tls::WRITE_BUF];
        let conn = self.connect(modem, &ctl, &mut rbuf, &mut wbuf, true)?;
        let mut ch = Channel::new(conn, &ctl);
        let mut s = self.welcomed(&mut ch)?;
        ctl.nonblocking.set(true);
        let r = self.serve(&mut ch, &mut s);
        self.renewal = None;
        r.map(|_| s.acked)
    }

    /// The session's hello and the gateway's welcome.
    #[inline(never)]
    fn welcomed(&mut self, ch: &mut Channel<'_>) -> Result<Sess, NetError> {
        ch.send(
            1,
            Message::Hello(hello(self.rt.ram_free(), self.rt.storage_free(), self.app_reports(), Some(self.reset_report()))),
        )?;
        let p = ch.recv(ANSWER_TIMEOUT_MS)?;
        let w = match tls::decode(&p)? {
            Some(Message::Welcome(w)) => w,
            Some(Message::Error(e)) => {
                if e.code() == Some(ErrorCode::WrongGateway) {
                    self.redirect = self.bundle_index(&e.gateways);
                }
                return Err(NetError::Refused(e.code, e.message.to_string()));
            }
            _ => return Err(NetError::Other("no welcome")),
        };
        clock::set_unix_ms(w.time);
        ch.peer_max = w.max_frame as usize;
        let now = clock::uptime_ms();
        let s = Sess {
            next_id: 1,
            heartbeat_ms: (w.heartbeat_ms as u64).max(100),
            last_ack: now,
            next_heartbeat: now,
            next_output: now,
            seq: 0,
            acked: false,
        };
        self.sessions += 1;
        println!("session: online as {} with {} (heartbeat {} ms)", w.device, w.gateway, s.heartbeat_ms);
        ch.give_back(p);
        Ok(s)
    }

    #[inline(never)]
    fn serve(&mut self, ch: &mut Channel<'_>, s: &mut Sess) -> Result<(), NetError> {
        loop {
            board::watchdog_feed();
            let mut busy = false;
            if let Some(f) = ch.poll()? {
                busy = true;
                let r = self.handle(ch, s, &f);
                ch.give_back(f);
                r?;
                if core::mem::take(&mut self.heap_line) {
                    // After a command, once its frame is freed: the firmware heap and the
                    // largest module that would fit now; the same after every update
                    // (firmware/e2e TestUpdateLoop).
                    println!("heap: free {} {}", heap::HEAP.free(), self.rt.storage_free());
                    // The most the firmware's heap and stack have held since boot (the
                    // handshakes included): `make bench`'s firmware_<board>_ram_bytes.
                    println!("peak: heap {} stack {}", heap::HEAP.peak(), stack::peak());
                }
            }
            for ev in self.poll_apps() {
                println!("app: {} {} ({})", ev.app, ev.state.name(), ev.detail);
                let gen = self.gens.get(&ev.app).unwrap_or(ev.generation);
                ch.send(
                    0,
                    Message::AppStatus(AppStatus {
                        app: &ev.app,
                        generation: gen,
                        state: ev.state,
                        version: &ev.version,
                        detail: &ev.detail,
                    }),
                )?;
            }
            let now = clock::uptime_ms();
            if now >= s.next_heartbeat {
                if now - s.last_ack > HEARTBEAT_MISSES * s.heartbeat_ms {
                    return Err(NetError::Other("no heartbeat_ack"));
                }
                s.next_heartbeat = now + s.heartbeat_ms;
                s.seq += 1;
                let id = s.id();
                let apps = self.rt.apps().iter().map(metrics_of).collect();
                ch.send(id, Message::Heartbeat(Heartbeat { seq: s.seq, uptime_ms: now, ram_free: self.rt.ram_free(), apps }))?;
            }
            if now >= s.next_output {
                s.next_output = now + OUTPUT_MS;
                self.send_output(ch)?;
            }
            self.maybe_renew(ch, s)?;
            if let Some(why) = self.keep_problem.take() {
                Self::error(ch, 0, ErrorCode::Internal, &why)?;
            }
            if !busy {
                crate::arch::wfi();
            }
        }
    }

    fn error(ch: &mut Channel<'_>, id: u64, code: ErrorCode, msg: &str) -> Result<(), NetError> {
        ch.send(id, Message::Error(wasmbed_proto::Error { code: code as u16, message: msg, gateways: Vec::new() }))
    }

    fn handle(&mut self, ch: &mut Channel<'_>, s: &mut Sess, payload: &[u8]) -> Result<(), NetError> {
        let env = match Envelope::decode_on_device(payload) {
            Ok(Ok(e)) => e,
            // Only devices send this type: not decoded (the Go agent decodes it, then
            // answers the same).
            Ok(Err((t, id))) => return Self::forbidden(ch, id, t),
            Err(e) if e.kind.recoverable() => {
                let mut m = String::new();
                let _ = write!(m, "{}", e);
                return Self::error(ch, wasmbed_proto::peek_request_id(payload), e.kind.code(), &m);
            }
            Err(e) => return Err(NetError::Decode(e)),
        };
        let id = env.request_id;
        if let Some((rid, _)) = &self.renewal {
            if *rid == id && id != 0 {
                let (_, key) = self.renewal.take().unwrap();
                return self.renewed(key, env.msg);
            }
        }
        match env.msg {
            Message::HeartbeatAck(a) => {
                s.last_ack = clock::uptime_ms();
                s.acked = true;
                clock::set_unix_ms(a.time);
                Ok(())
            }
            Message::Deploy(d) => self.deploy(ch, id, &d),
            Message::ModuleChunk(c) => self.chunk(ch, id, &c),
            Message::Start(c) => self.command(ch, id, &c, 11),
            Message::Stop(c) => self.command(ch, id, &c, 12),
            Message::Remove(c) => self.command(ch, id, &c, 13),
            Message::Error(e) => {
                println!("session: gateway error {} for request {}: {}", e.code, id, e.message);
                if e.code() == Some(ErrorCode::Revoked) {
                    println!("session: this device's certificate is revoked; a new enrollment token is needed");
                    self.id = None;
                    self.keep();
                    return Err(NetError::Refused(e.code, e.message.to_string()));
                }
                if e.code() == Some(ErrorCode::WrongGateway) {
                    // Assigned to another gateway now: this one closes the session.
                    println!("session: this gateway no longer serves the device; trying the next one");
                    self.redirect = self.bundle_index(&e.gateways);
                    return Err(NetError::Refused(e.code, e.message.to_string()));
                }
                Ok(())
            }
            m => Self::forbidden(ch, id, m.msg_type()),
        }
    }

    fn forbidden(ch: &mut Channel<'_>, id: u64, t: MsgType) -> Result<(), NetError> {
        let mut m = String::new();
        let _ = write!(m, "a device does not accept {}", t.name());
        Self::error(ch, id, ErrorCode::Forbidden, &m)
    }

    /// A command older than what the device applied.
    fn stale(&self, ch: &mut Channel<'_>, id: u64, app: &str, gen: u64) -> Result<bool, NetError> {
        let have = self.gens.get(app).unwrap_or(0);
        if gen < have {
            let mut m = String::new();
            let _ = write!(m, "app {}: generation {} is older than {}", app, gen, have);
            Self::error(ch, id, ErrorCode::StaleGeneration, &m)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn progress(ch: &mut Channel<'_>, id: u64, app: &str, gen: u64, offset: u32) -> Result<(), NetError> {
        ch.send(id, Message::TransferProgress(TransferProgress { app, generation: gen, offset }))
    }

    fn status(ch: &mut Channel<'_>, id: u64, app: &str, gen: u64, state: AppState, version: &str, detail: &str) -> Result<(), NetError> {
        let mut d = String::from(detail);
        wasmbed_runtime::truncate(&mut d, 256);
        ch.send(id, Message::AppStatus(AppStatus { app, generation: gen, state, version, detail: &d }))
    }

    /// In safe mode, only a generation newer than the app had when the device entered
    /// it runs: the gateway's new intent. Refused otherwise (true), and reported.
    fn safe_refuses(&mut self, ch: &mut Channel<'_>, id: u64, app: &str, gen: u64, version: &str) -> Result<bool, NetError> {
        if !self.safe {
            return Ok(false);
        }
        if gen > self.gens.get(app).unwrap_or(0) {
            self.safe = false;
            return Ok(false);
        }
        // hello's reset says why (cause, unexpected resets in a row).
        let m = "safe mode after unexpected resets: send a newer generation";
        Self::error(ch, id, ErrorCode::Busy, m)?;
        Self::status(ch, id, app, gen, AppState::Failed, version, m)?;
        Ok(true)
    }

    fn deploy(&mut self, ch: &mut Channel<'_>, id: u64, d: &Deploy<'_>) -> Result<(), NetError> {
        if self.stale(ch, id, d.app, d.generation)? || self.safe_refuses(ch, id, d.app, d.generation, d.version)? {
            return Ok(());
        }
        let Ok(sha) = <[u8; 32]>::try_from(d.sha256) else {
            return Self::error(ch, id, ErrorCode::Invalid, "sha256 must be 32 bytes");
        };
        self.applied_gen(d.app, d.generation);
        self.crashed.retain(|a| a.name != d.app); // the gateway sends it again: its call
        // Installed already: the gateway repeats a deploy after a reconnect.
        if let Some(a) = self.rt.app(d.app) {
            if a.generation == d.generation && a.sha256 == sha && a.has_module() {
                let (size, version) = (a.size, a.version.clone());
                Self::progress(ch, id, d.app, d.generation, size)?;
                let mut state = a.state;
                let mut detail = a.detail.clone();
                if d.start && state != AppState::Running {
                    state = self.rt.start(d.app, clock::uptime_ms()).unwrap_or(AppState::Failed);
                    detail = self.rt.app(d.app).map(|a| a.detail.clone()).unwrap_or_default();
                }
                return Self::status(ch, id, d.app, d.generation, state, &version, &detail);
            }
        }
        let config: Vec<(String, String)> = d.config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let cfg_bytes = config.iter().map(|(k, v)| (k.len() + v.len()) as u32).sum();
        let i = match self.pending.iter().position(|p| p.inc.tr.app == d.app) {
            Some(i) if self.pending[i].inc.tr.same(d.app, d.generation, d.sha256, d.size) => Some(i),
            Some(i) => {
                // Another module for the app: the one being received goes.
                let p = self.pending.remove(i);
                self.rt.abandon(p.inc);
                None
            }
            None => None,
        };
        let i = match i {
            Some(i) => i,
            None => match self.rt.receive(d.app, d.generation, sha, d.size, &d.limits, cfg_bytes) {
                Ok(inc) => {
                    if inc.replaced {
                        // Said plainly: a failed install now leaves no version running.
                        println!("deploy: {}: no room for two versions; the old one was removed first", d.app);
                        Self::status(ch, id, d.app, d.generation, AppState::Downloading, d.version, wasmbed_proto::REPLACED)?;
                    }
                    self.pending.push(Pending {
                        inc,
                        deploy_id: id,
                        version: String::new(),
                        limits: d.limits,
                        config: Vec::new(),
                        start: false,
                    });
                    self.pending.len() - 1
                }
                Err(e) => {
                    let mut m = String::new();
                    let _ = write!(m, "app {}: {}", d.app, e);
                    let code = if matches!(e, RuntimeError::Limit(_)) { ErrorCode::Invalid } else { ErrorCode::NoRoom };
                    Self::error(ch, id, code, &m)?;
                    return Self::status(ch, id, d.app, d.generation, AppState::Failed, d.version, &e.detail());
                }
            },
        };
        let p = &mut self.pending[i];
        p.deploy_id = id;
        p.version = d.version.to_string();
        p.limits = d.limits;
        p.config = config;
        p.start = d.start;
        let offset = p.inc.tr.offset();
        println!("deploy: {} generation {} ({} B), resuming at {}", d.app, d.generation, d.size, offset);
        self.keep();
        Self::progress(ch, id, d.app, d.generation, offset)
    }

    fn chunk(&mut self, ch: &mut Channel<'_>, id: u64, c: &ModuleChunk<'_>) -> Result<(), NetError> {
        if self.stale(ch, id, c.app, c.generation)? {
            return Ok(());
        }
        let Some(i) = self.pending.iter().position(|p| p.inc.tr.app == c.app && p.inc.tr.generation == c.generation) else {
            if let Some(a) = self.rt.app(c.app) {
                if a.generation == c.generation {
                    return Self::progress(ch, id, c.app, c.generation, a.size);
                }
            }
            let mut m = String::new();
            let _ = write!(m, "app {}: no transfer of generation {} (send deploy first)", c.app, c.generation);
            return Self::error(ch, id, ErrorCode::NotFound, &m);
        };
        let (before, size) = (self.pending[i].inc.tr.offset(), self.pending[i].inc.tr.size);
        if c.offset == before && before as u64 + c.data.len() as u64 > size as u64 {
            let mut m = String::new();
            let _ = write!(m, "app {}: chunk beyond the module's {} bytes", c.app, size);
            return Self::error(ch, id, ErrorCode::Invalid, &m);
        }
        reset::activity(c.app, wasmbed_runtime::phase::DOWNLOAD);
        let r = self.pending[i].inc.tr.chunk(c.offset, c.data);
        reset::activity("", wasmbed_runtime::phase::NONE);
        match r {
            Chunk::Progress(n) => Self::progress(ch, id, c.app, c.generation, n),
            Chunk::Checksum => {
                let p = self.pending.remove(i);
                self.rt.abandon(p.inc);
                Self::error(ch, id, ErrorCode::Checksum, "the module does not match its sha256")?;
                Self::status(ch, p.deploy_id, c.app, c.generation, AppState::Failed, &p.version, "checksum mismatch")
            }
            Chunk::Complete => {
                let p = self.pending.remove(i);
                Self::progress(ch, id, c.app, c.generation, p.inc.tr.size)?;
                self.install(ch, p)
            }
        }
    }

    fn install(&mut self, ch: &mut Channel<'_>, p: Pending) -> Result<(), NetError> {
        let (app, gen) = (p.inc.tr.app.clone(), p.inc.tr.generation);
        self.lost.retain(|a| a.name != app);
        let r = self.rt.install(p.inc, &p.version, p.limits, &p.config, p.start, clock::uptime_ms());
        let (state, detail) = match r {
            Ok(st) => (st, self.rt.app(&app).map(|a| a.detail.clone()).unwrap_or_default()),
            Err(e) => {
                if matches!(e, RuntimeError::NoRoom(_)) {
                    Self::error(ch, p.deploy_id, ErrorCode::NoRoom, &e.detail())?;
                }
                (e.state(), e.detail())
            }
        };
        self.applied(&app, gen, state, &detail);
        self.keep();
        Self::status(ch, p.deploy_id, &app, gen, state, &p.version, &detail)
    }

    fn command(&mut self, ch: &mut Channel<'_>, id: u64, c: &AppCommand<'_>, kind: u8) -> Result<(), NetError> {
        if self.stale(ch, id, c.app, c.generation)? {
            return Ok(());
        }
        if kind == 11 {
            let version = self.rt.app(c.app).map(|a| a.version.clone()).unwrap_or_default();
            if self.safe_refuses(ch, id, c.app, c.generation, &version)? {
                return Ok(());
            }
        }
        if kind != 13 && self.rt.app(c.app).is_none() {
            let mut m = String::new();
            let _ = write!(m, "app {} is not installed", c.app);
            return Self::error(ch, id, ErrorCode::NotFound, &m);
        }
        self.applied_gen(c.app, c.generation);
        let (state, version, detail) = match kind {
            11 => {
                let st = self.rt.start(c.app, clock::uptime_ms()).unwrap_or(AppState::Failed);
                let a = self.rt.app(c.app).unwrap();
                (st, a.version.clone(), a.detail.clone())
            }
            12 => {
                let st = self.rt.stop(c.app).unwrap_or(AppState::Stopped);
                let a = self.rt.app(c.app).unwrap();
                (st, a.version.clone(), String::new())
            }
            _ => {
                if let Some(i) = self.pending.iter().position(|p| p.inc.tr.app == c.app) {
                    let p = self.pending.remove(i);
                    self.rt.abandon(p.inc);
                }
                self.lost.retain(|a| a.name != c.app);
                self.crashed.retain(|a| a.name != c.app);
                let version = self.rt.remove(c.app).unwrap_or_default();
                (AppState::Removed, version, String::new())
            }
        };
        self.applied(c.app, c.generation, state, "");
        self.keep();
        Self::status(ch, id, c.app, c.generation, state, &version, &detail)
    }

    /// Remembers the generation applied for an app. A removed app's stays (a stale
    /// command for it is still refused), up to twice as many apps as the board holds;
    /// beyond that an app the device no longer has is forgotten first, so names that
    /// come and go cannot fill the memory.
    fn applied_gen(&mut self, app: &str, gen: u64) {
        let rt = &self.rt;
        self.gens.set(app, gen, 2 * board::MAX_APPS, |a| rt.app(a).is_some());
    }

    /// The console line for what a command did (the heap line follows it).
    #[inline(never)]
    fn applied(&mut self, app: &str, gen: u64, state: AppState, detail: &str) {
        println!("app: {} generation {} {} {}", app, gen, state.name(), detail);
        self.heap_line = true;
    }

    /// Sends queued logs and values, one app_output per app per round, cut to a frame;
    /// the records leave the queue once sent (they stay for the next session if not).
    fn send_output(&mut self, ch: &mut Channel<'_>) -> Result<(), NetError> {
        for i in 0..self.rt.apps().len() {
            let app = &self.rt.apps()[i];
            let out = app.output_ref();
            if out.records.is_empty() {
                continue;
            }
            let (mut logs, mut values, mut size, mut n) = (Vec::new(), Vec::new(), 0, 0);
            for r in out.records.iter() {
                let (len, is_log) = match r {
                    Record::Log { text, .. } => (16 + text.len(), true),
                    Record::Value { key, .. } => (24 + key.len(), false),
                };
                if size + len > OUTPUT_BUDGET || (is_log && logs.len() == 64) || (!is_log && values.len() == 64) {
                    break;
                }
                size += len;
                n += 1;
                match r {
                    Record::Log { time, level, text } => logs.push(LogRecord { time: *time, level: *level, text }),
                    Record::Value { time, key, value } => values.push(ValueRecord { time: *time, key, value: *value }),
                }
            }
            let seq = out.seq + 1;
            ch.send(0, Message::AppOutput(AppOutput { app: &app.name, seq, logs, values }))?;
            if let Some(out) = self.rt.apps_mut()[i].output() {
                out.seq = seq;
                out.consume(n);
            }
        }
        Ok(())
    }

    /// Renews the certificate at two thirds of its life: a new key, a CSR, `renew`.
    fn maybe_renew(&mut self, ch: &mut Channel<'_>, s: &mut Sess) -> Result<(), NetError> {
        let Some(id) = &self.id else { return Ok(()) };
        if id.renew_at == 0 || self.renewal.is_some() || !clock::synced() {
            return Ok(());
        }
        if clock::unix_ms() < id.renew_at || clock::uptime_ms() < self.renew_after {
            return Ok(());
        }
        self.ent.reseed();
        let key = SigningKey::random(&mut self.ent.drbg);
        let req = csr::build(&key, self.b.device);
        let rid = s.id();
        println!("renew: sending a CSR for a new key");
        ch.send(rid, Message::Renew(Renew { csr: &req }))?;
        self.renewal = Some((rid, key));
        // If no certificate comes, try again later.
        let life = (id.not_after - id.renew_at).max(0) as u64;
        self.renew_after = clock::uptime_ms() + (life / 10).max(30_000);
        Ok(())
    }

    fn renewed(&mut self, key: SigningKey, msg: Message<'_>) -> Result<(), NetError> {
        match msg {
            Message::Certificate(c) => match self.accept(key, &c) {
                Ok(id) => {
                    // Said once it is kept (RAM and flash): a reset after this line
                    // comes back with the new certificate.
                    let not_after = id.not_after;
                    self.id = Some(id);
                    self.renew_after = 0;
                    self.keep();
                    println!("renew: new certificate, not_after {}", not_after);
                }
                Err(e) => println!("renew: refusing the certificate: {}", describe(&e)),
            },
            Message::Error(e) => println!("renew: refused: {} {}", e.code, e.message),
            m => println!("renew: unexpected answer {}", m.msg_type().name()),
        }
        Ok(())
    }
}

/// What a heartbeat says of an installed app: the runtime's measurements.
fn metrics_of(a: &wasmbed_runtime::App) -> AppMetrics<'_> {
    let (s, published) = a.metrics();
    AppMetrics {
        app: &a.name,
        generation: a.generation,
        calls: s.calls,
        fuel: s.fuel,
        call_us: s.call_us,
        traps: s.traps,
        memory: s.memory,
        memory_peak: s.memory_peak,
        starts: s.starts,
        instantiate_us: s.instantiate_us,
        published,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A session error in words, for the console.
pub fn describe(e: &NetError) -> String {
    let mut s = String::new();
    let _ = match e {
        NetError::Tls(t) => write!(s, "TLS: {}", crate::tls::TlsErr(t)),
        NetError::Decode(d) => write!(s, "bad frame: {}", d),
        NetError::Encode(d) => write!(s, "encode: {}", d),
        NetError::Closed => write!(s, "closed by the gateway"),
        NetError::Timeout => write!(s, "timed out"),
        NetError::Refused(0, why) => write!(s, "link: {}", why),
        NetError::Refused(code, why) => write!(s, "gateway error {}: {}", code, why),
        NetError::Other(why) => write!(s, "{}", why),
    };
    s
}
