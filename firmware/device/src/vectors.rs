//! The device-specific part of the vector table: as many entries as the board has
//! interrupts (`board::IRQS`), each DefaultHandler (main.rs), which reads the active
//! interrupt from IPSR and dispatches the link UART's. cortex-m-rt's own table has 240
//! entries whatever the part: on the STM32F407 (82 interrupts) this saves 632 B of flash.

use crate::board;

#[doc(hidden)]
#[repr(C)]
pub union Vector {
    handler: unsafe extern "C" fn(),
}

extern "C" {
    fn DefaultHandler();
}

#[doc(hidden)]
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
pub static __INTERRUPTS: [Vector; board::IRQS] = [const { Vector { handler: DefaultHandler } }; board::IRQS];
