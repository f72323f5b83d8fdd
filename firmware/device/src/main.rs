//! Wasmbed device firmware: boots a Cortex-M4 board, runs WebAssembly apps under an in-place interpreter
//! against the `wasmbed` host ABI, and keeps a mutual-TLS session with a gateway over
//! the link UART (see firmware/README.md).
#![no_std]
#![no_main]

extern crate alloc;

#[macro_use]
mod console;
mod agent;
mod apps;
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
mod vectors;

use cortex_m_rt::{entry, exception, ExceptionFrame};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// board/boards.toml `[firmware]`.
pub use board::WATCHDOG_MS;

#[entry]
fn main() -> ! {
    stack::paint();
    let mut cp = cortex_m::Peripherals::take().unwrap();
    board::init();
    heap::init();
    // After the heap: the report's words are made there.
    let boot = reset::boot();
    clock::init(&mut cp.SYST, board::CORE_HZ);
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
        board::APP_RAM / 1024,
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
        cortex_m::asm::wfi();
    }
}

// The HardFault vector: the `bkpt` of a semihosting call no host answered
// (flash::WASMBED_SEMIHOSTING set) is skipped with -1 in r0, as a failed call; any
// other fault goes to `hard_fault` with the stacked frame.
core::arch::global_asm!(
    ".section .HardFault.wasmbed,\"ax\",%progbits",
    ".global HardFault",
    ".type HardFault,%function",
    ".thumb_func",
    "HardFault:",
    "tst lr, #4",
    "ite eq",
    "mrseq r0, msp",
    "mrsne r0, psp",
    "ldr r2, ={flag}",
    "ldr r3, [r2]",
    "cbz r3, 1f",
    "ldr r1, [r0, #24]",
    "adds r1, #2",
    "str r1, [r0, #24]",
    "mov r1, #-1",
    "str r1, [r0]",
    "bx lr",
    "1:",
    "b {handler}",
    flag = sym flash::WASMBED_SEMIHOSTING,
    handler = sym hard_fault,
);

/// A fault, or a panic: the device build panics with `-Cpanic=immediate-abort`
/// (.cargo/config.toml), so a panic is a trap instruction (`udf #254`), which faults
/// here with no message in the image; `addr2line -f -e <the ELF> <pc>` names the function.
unsafe extern "C" fn hard_fault(ef: &ExceptionFrame) -> ! {
    extern "C" {
        static __stext: u8;
        static __etext: u8;
    }
    let pc = ef.pc();
    // Only a pc inside the image's code is read (a jump elsewhere faults here too).
    let text = core::ptr::addr_of!(__stext) as u32..core::ptr::addr_of!(__etext) as u32;
    let trap = text.contains(&pc) && pc & 1 == 0 && core::ptr::read_volatile(pc as *const u16) == 0xdefe;
    let what = if trap { "PANIC: trap" } else { "FAULT: hard fault" };
    println!("{} at pc={:#010x} lr={:#010x}", what, pc, ef.lr());
    reset::note_fault(trap, pc, ef.lr());
    cortex_m::peripheral::SCB::sys_reset()
}

/// The watchdog's early warning (the MPS2's CMSDK watchdog raises NMI on its first
/// expiry and resets on the second): noted, so the next boot knows why.
#[exception]
unsafe fn NonMaskableInt() {
    // Noted for the next boot's report; no printing here (the firmware may be stuck
    // inside the console itself).
    reset::note_watchdog();
    loop {
        cortex_m::asm::nop();
    }
}

/// Interrupts: the link UART's receive interrupt; any other is masked.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn >= 0 && board::LINK_IRQ == Some(irqn as u16) {
        link::on_irq();
        return;
    }
    if irqn >= 0 {
        reg::write(0xE000_E180 + 4 * (irqn as usize / 32), 1 << (irqn as u32 % 32)); // ICER
    }
}

/// Not called in the device build (panics trap, above); kept for a build without
/// `-Cpanic=immediate-abort`.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("PANIC: {}", info);
    reset::note_fault(true, 0, 0);
    cortex_m::peripheral::SCB::sys_reset()
}

/// Resets the board on purpose (QEMU with `-no-reboot` exits instead).
pub fn reset() -> ! {
    reset::note_requested();
    cortex_m::peripheral::SCB::sys_reset()
}
