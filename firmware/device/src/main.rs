//! Wasmbed device firmware: boots a Cortex-M4 or RISC-V board, runs WebAssembly apps under an in-place interpreter
//! against the `wasmbed` host ABI, and keeps a mutual-TLS session with a gateway over
//! the link UART (see firmware/README.md).
#![no_std]
#![no_main]

extern crate alloc;

#[macro_use]
mod console;
mod agent;
mod apps;
mod arch;
mod board;
mod clock;
mod config;
#[cfg(feature = "diag")]
mod diag;
mod entropy;
mod flash;
mod heap;
mod identity;
mod link;
mod reg;
mod reset;
#[cfg(feature = "bench")]
mod bench;
#[cfg(feature = "selftest")]
mod selftest;
mod stack;
mod tls;
#[cfg(target_arch = "arm")]
mod vectors;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// board/boards.toml `[firmware]`.
pub use board::WATCHDOG_MS;

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    stack::paint();
    board::init();
    heap::init();
    // After the heap: the report's words are made there.
    let boot = reset::boot();
    clock::init(board::CORE_HZ);
    // Every loop feeds it; an app call is bounded by its fuel, so a stuck firmware (not a
    // stuck app) resets the board.
    board::watchdog_start(WATCHDOG_MS);

    println!("");
    println!("wasmbed-firmware {} board={} ({})", VERSION, board::NAME, board::PART);
    // The SysTick clock is checked against a 20 ms delay (the uptime it shows).
    let t0 = clock::uptime_ms();
    clock::delay_ms(20);
    println!(
        "memory: heap {} KiB, code pool {} KiB, page pool {} KiB, stack {} KiB, max_frame {}\r\nclock: {} MHz core, uptime {} ms, watchdog {} ms",
        heap::HEAP.free() / 1024,
        board::CODE_POOL / 1024,
        board::page_pool().1 / 1024,
        stack::size() / 1024,
        board::MAX_FRAME,
        board::CORE_HZ / 1_000_000,
        clock::uptime_ms() - t0,
        WATCHDOG_MS
    );
    // The cause, its detail (a pc, the app), boots since power-on, unexpected resets in
    // a row (safe mode from wasmbed_proto::SAFE_MODE_AFTER on).
    println!("reset: {} {} (boot {}, {} unexpected in a row)", boot.cause.name(), boot.detail, boot.boots, boot.unexpected);
    link::init();
    println!("boot: ok");

    #[cfg(feature = "selftest")]
    if matches!(config::load(), Ok(None)) {
        selftest::run(6);
    }
    #[cfg(feature = "bench")]
    bench::run();

    match config::load() {
        Ok(None) => println!("config: not provisioned"),
        Err(e) => println!("config: bad bundle: {}", e),
        Ok(Some(b)) if !b.board.is_empty() && b.board != board::NAME => {
            println!("config: the bundle is for board {}, this image for {}", b.board, board::NAME)
        }
        Ok(Some(b)) => {
            println!("config: device {} gateway {} ({} more)", b.device, b.gateways[0], b.gateways.len() - 1);
            // Test images: `powercut <n>` runs the agent with a power cut at the kept
            // flash's n-th operation (flash.rs).
            #[cfg(feature = "selftest")]
            let b = match b.diag.strip_prefix("powercut ").map(str::parse::<u32>) {
                Some(Ok(n)) => {
                    println!("flash: a power cut is due at operation {}", n);
                    flash::CUT.store(n, core::sync::atomic::Ordering::Relaxed);
                    wasmbed_net::bundle::Bundle { diag: "", ..b }
                }
                _ => b,
            };
            if !b.diag.is_empty() {
                #[cfg(feature = "diag")]
                diag::run(&b);
                #[cfg(not(feature = "diag"))]
                println!("config: diag modes are in the test image");
            } else {
                agent::Agent::new(b, boot).run();
            }
        }
    }

    loop {
        board::watchdog_feed();
        arch::wfi();
    }
}

/// Not called in the device build (panics trap, above); kept for a build without
/// `-Cpanic=immediate-abort`.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("PANIC: {}", info);
    reset::note_fault(true, 0, 0);
    arch::sys_reset()
}

/// Resets the board on purpose (QEMU with `-no-reboot` exits instead).
pub fn reset() -> ! {
    reset::note_requested();
    arch::sys_reset()
}
