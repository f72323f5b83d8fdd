// Package board describes the boards Wasmbed devices run on, as Go data: what
// a board offers WebAssembly apps (RAM for their linear memories, storage for
// modules, host ABI features, GPIO pins) and what its link can take (frame
// size). The gateway's module check, the Go agent and the fleet simulator all
// read these profiles.
//
// The profiles are generated (profiles_gen.go) from board/boards.toml, which
// also gives the firmware its constants and memory maps: for the boards the
// firmware is built for, the numbers are the firmware's own (its page pool,
// the largest module its code pool takes, its fuel cap). Profiles marked
// Provisional (linux, uno-r4) are estimates.
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
