// Package board describes the boards Wasmbed devices run on, as Go data: what
// a board offers WebAssembly apps (RAM for their linear memories, storage for
// modules, host ABI features, GPIO pins) and what its link can take (frame
// size). The gateway's module check, the Go agent and the fleet simulator all
// read these profiles.
//
// For the boards the firmware is built for (stm32f4-discovery, mps2-an386,
// nano33ble, riscv32-virt) the numbers are the firmware's own: its page pool, the largest
// module its code pool takes, its fuel cap; TestFirmwareConstants derives them
// from the firmware's sources. linux and uno-r4 are estimates.
package board

import (
	"slices"
	"strconv"
	"strings"

	"github.com/wasmbed/wasmbed/abi"
)

// Profile describes one board.
type Profile struct {
	Name        string // profile name, as Hello.Board carries it
	Part        string // the microcontroller (or "linux")
	Description string // one line for humans
	// RAM is the part's total RAM in bytes, for reference (0 when unbounded).
	RAM uint32
	// AppRAM is the RAM the runtime can give apps' linear memories, all apps
	// together, in bytes. A linear memory counts whole 64 KiB pages.
	AppRAM uint32
	// ModuleFlash is the storage for installed modules, all apps together, in bytes.
	ModuleFlash uint32
	// MaxApps is how many apps can be installed at once.
	MaxApps int
	// MaxFrame is the largest frame payload the device accepts (its max_frame).
	MaxFrame uint32
	// MaxFuel is the largest fuel per init or tick call the board's firmware
	// accepts: what one call can burn well within the firmware's watchdog
	// (8 s), so an app can never reset the board. 0 means no cap. Admission
	// refuses an application whose limits.fuel exceeds it.
	MaxFuel uint64
	// Features are the host ABI features the board's runtime offers.
	Features []abi.Feature
	// GPIOPins is the number of pins gpio_read and gpio_write accept (0 to GPIOPins-1).
	GPIOPins int
	// InputPins are the pins that can only be read: gpio_write on them
	// returns abi.ErrInvalid.
	InputPins []int
	// Pins says what the pin numbers are on the board.
	Pins string
	// Provisional is true while the numbers are estimates, not measurements.
	Provisional bool
}

// MaxPages is the most 64 KiB pages one app's linear memory can have on the
// board: AppRAM in whole pages. Zero means only modules declaring a memory of
// 0 pages fit (see docs/abi.md, "Memory").
func (p Profile) MaxPages() uint32 { return p.AppRAM / abi.PageSize }

// Writable reports whether gpio_write accepts pin.
func (p Profile) Writable(pin int) bool {
	return pin >= 0 && pin < p.GPIOPins && !slices.Contains(p.InputPins, pin)
}

// Readable reports whether gpio_read accepts pin.
func (p Profile) Readable(pin int) bool { return pin >= 0 && pin < p.GPIOPins }

// Has reports whether the board offers a host ABI feature.
func (p Profile) Has(f abi.Feature) bool { return slices.Contains(p.Features, f) }

// FeatureNames returns the features as Hello.Features carries them.
func (p Profile) FeatureNames() []string {
	out := make([]string, len(p.Features))
	for i, f := range p.Features {
		out[i] = string(f)
	}
	return out
}

func (p Profile) clone() Profile {
	p.Features = slices.Clone(p.Features)
	p.InputPins = slices.Clone(p.InputPins)
	return p
}

const (
	kib = 1024
	mib = 1024 * kib
)

// Fuel per call each board's firmware accepts (Profile.MaxFuel), in one
// place: the firmware's own figure (firmware/device/src/apps.rs, capacity()),
// three quarters of its 8 s watchdog at the board's core clock, at 500
// cycles per unit of fuel at most (the in-place interpreter executes 180-270
// instructions per WebAssembly instruction; bulk memory, calls and host
// functions charge more by their work). TestFirmwareConstants checks them
// against the firmware's sources. The Go agent on Linux has no watchdog: no cap.
const (
	maxFuelLinux            = 0
	maxFuelMPS2AN386        = 300_000   // 25 MHz
	maxFuelNano33BLE        = 768_000   // 64 MHz
	maxFuelRISCV32Virt      = 1_200_000 // 100 MIPS (Renode)
	maxFuelSTM32F4Discovery = 2_016_000 // 168 MHz
	maxFuelUnoR4            = 576_000   // 48 MHz (not built)
)

// profiles are the known boards, in Names order. The sizes are provisional
// estimates (see the package comment).
var profiles = []Profile{
	{
		Name:        "linux",
		Part:        "linux",
		Description: "the Go agent (wasmbed-agent) on a Linux-class device, or a simulated device",
		AppRAM:      256 * mib,
		ModuleFlash: 256 * mib,
		MaxApps:     32, // protocol.MaxApps: a Hello lists at most 32
		MaxFrame:    16384,
		MaxFuel:     maxFuelLinux,
		Features:    abi.Features(),
		GPIOPins:    64,
		Pins:        "an in-memory array of 64 pins (no hardware)",
		Provisional: true,
	},
	{
		Name:        "mps2-an386",
		Part:        "ARM MPS2 AN386 (Cortex-M4)",
		Description: "generic Cortex-M4 FPGA image, emulated by QEMU's mps2-an386",
		RAM:         4 * mib,
		// Generous: the data SSRAM minus the firmware's heap, stack and TLS buffers.
		AppRAM: 1 * mib,
		// No flash: modules are kept in RAM and lost on reset.
		// The largest module its code pool takes (firmware apps.rs: 1 MiB pool,
		// 10 KiB per app, 1.875 bytes per module byte while it is validated).
		ModuleFlash: 553_779,
		MaxApps:     8,
		MaxFrame:    16384,
		MaxFuel:     maxFuelMPS2AN386,
		Features:    abi.Features(),
		GPIOPins:    4,
		InputPins:   []int{2, 3},
		Pins:        "0-1: FPGAIO LED0-LED1, 2-3: FPGAIO BUTTON0-BUTTON1 (read only)",
		Provisional: false,
	},
	{
		Name:        "nano33ble",
		Part:        "nRF52840 (Cortex-M4F)",
		Description: "Arduino Nano 33 BLE",
		RAM:         256 * kib,
		// Two pages: half the RAM, the rest for firmware, TLS and the interpreter.
		AppRAM:      64 * kib,
		ModuleFlash: 46_967, // the largest module its 96 KiB code pool takes
		MaxApps:     4,
		MaxFrame:    4096,
		MaxFuel:     maxFuelNano33BLE,
		Features:    abi.Features(),
		GPIOPins:    4,
		Pins:        "0: LED_BUILTIN (P0.13), 1-3: RGB LED red, green, blue",
		Provisional: false,
	},
	{
		Name:        "riscv32-virt",
		Part:        "RISC-V RV32IMAC (virt)",
		Description: "an RV32IMAC microcontroller on the virt map (Renode riscv_virt with a second UART; QEMU virt)",
		// What the firmware's memory.x gives it: an MCU's 256 KiB, not the platform's DRAM.
		RAM: 256 * kib,
		// One page: a static 64 KiB array.
		AppRAM:      64 * kib,
		ModuleFlash: 29_491, // the largest module its 64 KiB code pool takes
		MaxApps:     4,
		MaxFrame:    4096,
		MaxFuel:     maxFuelRISCV32Virt,
		Features:    abi.Features(),
		GPIOPins:    4,
		Pins:        "0-3: a latch in RAM (the platform has no GPIO): what an app writes it reads back",
		Provisional: false,
	},
	{
		Name:        "stm32f4-discovery",
		Part:        "STM32F407VG (Cortex-M4F)",
		Description: "STM32F4 Discovery kit (QEMU: netduinoplus2, an STM32F405)",
		RAM:         192 * kib,
		// The 64 KiB core-coupled RAM holds exactly one page of linear memory
		// (no DMA needs it); the 128 KiB main SRAM is the firmware's.
		AppRAM:      64 * kib,
		ModuleFlash: 28_398, // the largest module its 62 KiB code pool takes
		MaxApps:     4,
		MaxFrame:    4096,
		MaxFuel:     maxFuelSTM32F4Discovery,
		Features:    abi.Features(),
		GPIOPins:    5,
		InputPins:   []int{4},
		Pins:        "0-3: LD4 green, LD3 orange, LD5 red, LD6 blue (PD12-PD15), 4: user button (PA0, read only)",
		Provisional: false,
	},
	{
		Name:        "uno-r4",
		Part:        "Renesas RA4M1 (Cortex-M4F)",
		Description: "Arduino Uno R4 Minima",
		RAM:         32 * kib,
		// 32 KiB of RAM cannot hold one 64 KiB page: apps get interpreter
		// state only, and a module must declare a memory of 0 pages (state in
		// globals; functions taking pointers can pass only empty ranges).
		AppRAM:      8 * kib,
		ModuleFlash: 32 * kib, // of 256 KiB code flash
		MaxApps:     2,
		MaxFrame:    2048, // the protocol's minimum (a certificate answer fits it)
		MaxFuel:     maxFuelUnoR4,
		Features:    abi.Features(),
		GPIOPins:    14,
		Pins:        "0-13: digital pins D0-D13 (13: LED_BUILTIN)",
		Provisional: true,
	},
}

// Lookup finds a board profile by name.
func Lookup(name string) (Profile, bool) {
	for _, p := range profiles {
		if p.Name == name {
			return p.clone(), true
		}
	}
	return Profile{}, false
}

// Names returns the known board names, sorted.
func Names() []string {
	out := make([]string, len(profiles))
	for i, p := range profiles {
		out[i] = p.Name
	}
	slices.Sort(out)
	return out
}

// All returns every profile, sorted by name.
func All() []Profile {
	out := make([]Profile, len(profiles))
	for i, p := range profiles {
		out[i] = p.clone()
	}
	slices.SortFunc(out, func(a, b Profile) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// FormatBytes renders a byte count for error messages: "64 KiB", "1 MiB", "100 bytes".
func FormatBytes(n uint64) string {
	switch {
	case n >= mib && n%mib == 0:
		return strconv.FormatUint(n/mib, 10) + " MiB"
	case n >= kib && n%kib == 0:
		return strconv.FormatUint(n/kib, 10) + " KiB"
	}
	return strconv.FormatUint(n, 10) + " bytes"
}
