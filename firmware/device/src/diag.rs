//! Diagnostics a bundle can ask for instead of the agent (tag `diag`), for the QEMU
//! tests of the layers below the agent:
//!
//! - `echo`: the modem link alone — open the bundle's first gateway address (a TCP
//!   echo server in the test), send lines and a block larger than the link window,
//!   check they come back, close.
//! - `tls`: one server-authenticated TLS handshake with the gateway, `hello`, the
//!   `welcome`, with the sizes and times that decide the buffers.
//! - `tls-bench`: the same, and the core clock cycles of the handshake's own work, for
//!   bench/firmware.sh: the link's bytes are taken in whole flights and the waits for
//!   them left out (`link::SETTLE`, `clock::waited`), so under QEMU with `-icount` the
//!   count does not depend on the host's timing.

use wasmbed_net::bundle::Bundle;
use wasmbed_net::link::{Modem, Port};

use wasmbed_net::link::{Transport, TransportCtl};
use wasmbed_proto::{Envelope, Message};

use crate::entropy::Entropy;
use crate::tls::{self, Channel};
use crate::{agent, clock, heap, link, stack};

#[inline(never)]
pub fn run(b: &Bundle<'static>) {
    match b.diag {
        "echo" => echo(b.gateways[0]),
        "tls" => tls_hello(b, false),
        "tls-bench" => tls_hello(b, true),
        other => println!("diag: unknown mode {}", other),
    }
    println!("diag: done");
}

fn echo(addr: &str) {
    let mut m = link::modem();
    match m.reset(10_000) {
        Ok(()) => println!("link: modem ready"),
        Err(e) => {
            println!("link: no modem: {}", e);
            return;
        }
    }
    if let Err(e) = m.open(addr, 10_000) {
        println!("link: open {} failed: {} ({})", addr, e, m.reason());
        return;
    }
    println!("link: opened {}", addr);
    let line = b"hello from the device\n";
    if !round_trip(&mut m, line.len(), |i| line[i]) {
        return;
    }
    println!("link: echo ok ({} bytes)", line.len());
    // More than the window: the modem must wait for credits. Made as it is sent (not a
    // 16 KiB buffer: uno-r4's firmware heap is 6 KiB).
    const BLOCK: usize = 16 * 1024;
    let t0 = clock::uptime_ms();
    if !round_trip(&mut m, BLOCK, |i| (i * 7 + i / 251) as u8) {
        return;
    }
    let ms = (clock::uptime_ms() - t0).max(1);
    println!(
        "link: echo ok ({} bytes in {} ms, {} B/s; {} credits, {} skipped)",
        BLOCK,
        ms,
        BLOCK as u64 * 1000 / ms,
        m.stats.credits,
        m.stats.skipped
    );
    m.close();
    println!("link: closed");
}

/// Sends `len` bytes, `byte(i)` each, and checks they come back.
fn round_trip<P: Port>(m: &mut Modem<P>, len: usize, byte: impl Fn(usize) -> u8) -> bool {
    // Compared as it comes (no copy of what was sent).
    let mut got = 0;
    let mut same = true;
    let mut sent = 0;
    let mut buf = [0u8; 256];
    let mut out = [0u8; 512];
    let mut last = clock::uptime_ms();
    while got < len {
        // Interleave writes and reads, as a session does.
        if sent < len {
            let n = (len - sent).min(out.len());
            for (i, b) in out[..n].iter_mut().enumerate() {
                *b = byte(sent + i);
            }
            if m.write(&out[..n]).is_err() {
                println!("link: closed while writing ({})", m.reason());
                return false;
            }
            sent += n;
        }
        match m.read(&mut buf) {
            Ok(0) => {
                if clock::uptime_ms() - last > 10_000 {
                    println!("link: echo timed out after {} of {} bytes", got, len);
                    return false;
                }
                m.port.idle();
            }
            Ok(n) => {
                same &= got + n <= len && buf[..n].iter().enumerate().all(|(i, &b)| b == byte(got + i));
                got += n;
                last = clock::uptime_ms();
            }
            Err(e) => {
                println!("link: read failed: {} ({})", e, m.reason());
                return false;
            }
        }
    }
    if !same || got != len {
        println!("link: echo mismatch");
        return false;
    }
    true
}

fn tls_hello(b: &Bundle<'static>, bench: bool) {
    let mut ent = Entropy::new(&b.seed, b.device);
    println!("entropy: hardware rng {}", if ent.hardware { "yes" } else { "no (jitter + seed)" });
    let mut m = link::modem();
    if let Err(e) = m.open(b.gateways[0], 10_000) {
        println!("link: open {} failed: {} ({})", b.gateways[0], e, m.reason());
        return;
    }
    let ctl = TransportCtl::default();
    let mut rbuf = alloc::vec![0u8; tls::READ_BUF];
    let mut wbuf = alloc::vec![0u8; tls::WRITE_BUF];
    ent.reseed();
    let t0 = clock::uptime_ms();
    link::SETTLE.store(bench, core::sync::atomic::Ordering::Relaxed);
    let (c0, w0) = (clock::cycles(), clock::waited());
    let conn = match tls::handshake(
        Transport::new(&mut m, &ctl),
        &mut rbuf,
        &mut wbuf,
        b.server_name,
        b.ca_root,
        &mut ent.drbg,
        None,
    ) {
        Ok(c) => c,
        Err(e) => {
            link::SETTLE.store(false, core::sync::atomic::Ordering::Relaxed);
            println!("tls: handshake failed: {}", agent::describe(&e));
            return;
        }
    };
    let busy = (clock::cycles() - c0) - (clock::waited() - w0);
    link::SETTLE.store(false, core::sync::atomic::Ordering::Relaxed);
    if bench {
        println!(
            "tls: handshake cpu {} cycles of the {} Hz core clock (waiting for the link and its interrupt excluded)",
            busy,
            crate::board::CORE_HZ
        );
    }
    println!(
        "tls: handshake ok in {} ms: {} records, largest {} B (read buffer {} B, write buffer {} B)",
        clock::uptime_ms() - t0,
        ctl.records.get(),
        ctl.largest_record.get(),
        tls::READ_BUF,
        tls::WRITE_BUF
    );
    let mut ch = Channel::new(conn, &ctl);
    let hello = agent::hello(crate::board::APP_RAM, crate::apps::capacity().max_module(), alloc::vec::Vec::new(), None);
    if let Err(e) = ch.send(1, Message::Hello(hello)) {
        println!("tls: send hello: {}", agent::describe(&e));
        return;
    }
    match ch.recv(10_000) {
        Ok(p) => match Envelope::decode_on_device(&p) {
            Ok(Ok(Envelope { msg: Message::Welcome(w), .. })) => println!(
                "tls: welcome from {} (device \"{}\", heartbeat {} ms, max_frame {})",
                w.gateway, w.device, w.heartbeat_ms, w.max_frame
            ),
            Ok(Ok(e)) => println!("tls: answer to hello: {}", e.msg.msg_type().name()),
            Ok(Err((t, _))) => println!("tls: answer to hello: {}", t.name()),
            Err(e) => println!("tls: bad answer: {}", e),
        },
        Err(e) => println!("tls: no welcome: {}", agent::describe(&e)),
    }
    println!(
        "tls: records {}, largest {} B; heap peak {} B, stack peak {} B",
        ctl.records.get(),
        ctl.largest_record.get(),
        heap::HEAP.peak(),
        stack::peak()
    );
    let _ = ch.tls.close();
    m.close();
}
