package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

const (
	factsFile  = "board/boards.toml"
	abiDocFile = "docs/abi.md"
	memoryDir  = "firmware/device/boards"
)

// facts is board/boards.toml.
type facts struct {
	Firmware rules   `toml:"firmware"`
	Boards   []board `toml:"board"`
}

// rules are what the firmware does on every board: the basis of the figures
// derived for each board that has firmware.
type rules struct {
	WatchdogMS    uint64 `toml:"watchdog_ms"`
	CyclesPerFuel uint64 `toml:"cycles_per_fuel"`
	CodeBase      uint64 `toml:"code_base"`
	CodePerByte16 uint64 `toml:"code_per_byte_16"`
	QueueBytes    uint64 `toml:"queue_bytes"`
	QueueRecords  uint64 `toml:"queue_records"`
}

type board struct {
	Name        string    `toml:"name"`
	Part        string    `toml:"part"`
	Description string    `toml:"description"`
	RAM         uint64    `toml:"ram"`
	AppRAM      uint64    `toml:"app_ram"`
	MaxApps     uint64    `toml:"max_apps"`
	MaxFrame    uint64    `toml:"max_frame"`
	GPIOPins    uint64    `toml:"gpio_pins"`
	InputPins   []uint64  `toml:"input_pins"`
	Pins        string    `toml:"pins"`
	Firmware    *firmware `toml:"firmware"`

	// Only for a board without firmware: the firmware's rules give them otherwise.
	ModuleStorage *uint64 `toml:"module_storage"`
	MaxFuel       *uint64 `toml:"max_fuel"`
	// Estimates (a board without firmware), or a firmware not complete yet (uno-r4:
	// its shipped image does not fit).
	Provisional *bool `toml:"provisional"`
}

// firmware are the sizes and addresses of a board's firmware image.
type firmware struct {
	CoreHz      uint64   `toml:"core_hz"`
	Heap        uint64   `toml:"heap"`
	CodePool    uint64   `toml:"code_pool"`
	IRQs        uint64   `toml:"irqs"`
	LinkIRQ     *uint64  `toml:"link_irq"` // absent: the link is polled
	LinkRing    uint64   `toml:"link_ring"`
	ConsoleUART uint64   `toml:"console_uart"`
	LinkUART    uint64   `toml:"link_uart"`
	Memory      memory   `toml:"memory"`
	Emulator    emulator `toml:"emulator"`

	// The firmware's rules a small board sets lower (absent: [firmware]'s).
	CodeBase     *uint64 `toml:"code_base"`
	QueueBytes   *uint64 `toml:"queue_bytes"`
	QueueRecords *uint64 `toml:"queue_records"`
}

// emulator says how QEMU and Renode run a board (firmware/emulator.Board).
type emulator struct {
	QEMUMachine    string `toml:"qemu_machine"`
	RenodePlatform string `toml:"renode_platform"`
	RenodeConsole  string `toml:"renode_console"`
	RenodeLink     string `toml:"renode_link"`
}

type memory struct {
	Note    string   `toml:"note"`
	Regions []region `toml:"regions"`
	// Linker is written after MEMORY as it is (riscv-rt's REGION_ALIAS lines).
	Linker string `toml:"linker"`
}

type region struct {
	Name   string `toml:"name"`
	Attrs  string `toml:"attrs"`
	Origin uint64 `toml:"origin"`
	Length uint64 `toml:"length"`
}

// moduleStorage is the largest module the board's code pool takes (the
// runtime's Capacity::max_module).
func (f *facts) moduleStorage(b board) uint64 {
	if b.Firmware == nil {
		return *b.ModuleStorage
	}
	base := f.codeBase(b)
	if b.Firmware.CodePool <= base {
		return 0
	}
	return (b.Firmware.CodePool - base) * 16 / f.Firmware.CodePerByte16
}

// codeBase, queueBytes and queueRecords are the board's, else the firmware's rules.
func (f *facts) codeBase(b board) uint64   { return or(b.Firmware.CodeBase, f.Firmware.CodeBase) }
func (f *facts) queueBytes(b board) uint64 { return or(b.Firmware.QueueBytes, f.Firmware.QueueBytes) }
func (f *facts) queueRecords(b board) uint64 {
	return or(b.Firmware.QueueRecords, f.Firmware.QueueRecords)
}

func or(v *uint64, def uint64) uint64 {
	if v != nil {
		return *v
	}
	return def
}

// maxFuel is the fuel one call may burn within three quarters of the
// watchdog (the firmware's apps::capacity).
func (f *facts) maxFuel(b board) uint64 {
	if b.Firmware == nil {
		return *b.MaxFuel
	}
	return b.Firmware.CoreHz * (f.Firmware.WatchdogMS * 3 / 4) / 1000 / f.Firmware.CyclesPerFuel
}

func (b board) provisional() bool { return b.Provisional != nil && *b.Provisional }

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	regionRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

// parse reads and checks the facts: every key known, every board complete
// and consistent with itself.
func parse(src []byte) (*facts, error) {
	var f facts
	md, err := toml.Decode(string(src), &f)
	if err != nil {
		return nil, err
	}
	if u := md.Undecoded(); len(u) > 0 {
		keys := make([]string, len(u))
		for i, k := range u {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("unknown keys: %s", strings.Join(keys, ", "))
	}
	r := f.Firmware
	if r.WatchdogMS == 0 || r.CyclesPerFuel == 0 || r.CodeBase == 0 || r.CodePerByte16 == 0 || r.QueueBytes == 0 || r.QueueRecords == 0 {
		return nil, errors.New("[firmware]: watchdog_ms, cycles_per_fuel, code_base, code_per_byte_16, queue_bytes and queue_records are required")
	}
	if len(f.Boards) == 0 {
		return nil, errors.New("no [[board]]")
	}
	seen := map[string]bool{}
	for _, b := range f.Boards {
		if err := b.check(); err != nil {
			return nil, fmt.Errorf("board %q: %w", b.Name, err)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("board %q twice", b.Name)
		}
		seen[b.Name] = true
		if f.moduleStorage(b) == 0 {
			return nil, fmt.Errorf("board %q: its code pool takes no module (code_pool <= code_base)", b.Name)
		}
	}
	return &f, nil
}

func (b board) check() error {
	switch {
	case !nameRE.MatchString(b.Name):
		return errors.New("name: lowercase letters, digits and '-'")
	case b.Part == "" || b.Description == "" || b.Pins == "":
		return errors.New("part, description and pins are required")
	case b.AppRAM == 0 || b.MaxApps == 0 || b.MaxFrame == 0 || b.GPIOPins == 0:
		return errors.New("app_ram, max_apps, max_frame and gpio_pins are required")
	case b.RAM != 0 && b.AppRAM >= b.RAM:
		return fmt.Errorf("app_ram %d leaves nothing of ram %d for the firmware", b.AppRAM, b.RAM)
	}
	for _, p := range b.InputPins {
		if p >= b.GPIOPins {
			return fmt.Errorf("input pin %d outside 0..%d", p, b.GPIOPins-1)
		}
	}
	fw := b.Firmware
	if fw == nil {
		if b.ModuleStorage == nil || b.MaxFuel == nil || b.Provisional == nil {
			return errors.New("a board without [board.firmware] states module_storage, max_fuel and provisional")
		}
		return nil
	}
	if b.ModuleStorage != nil || b.MaxFuel != nil {
		return errors.New("module_storage and max_fuel come from the firmware's rules: remove them")
	}
	if fw.CoreHz == 0 || fw.Heap == 0 || fw.CodePool == 0 || fw.IRQs == 0 || fw.LinkRing == 0 || fw.ConsoleUART == 0 || fw.LinkUART == 0 {
		return errors.New("[board.firmware]: core_hz, heap, code_pool, irqs, link_ring, console_uart and link_uart are required")
	}
	for _, v := range []*uint64{fw.CodeBase, fw.QueueBytes, fw.QueueRecords} {
		if v != nil && *v == 0 {
			return errors.New("[board.firmware]: code_base, queue_bytes and queue_records, when set, are not 0")
		}
	}
	if fw.LinkIRQ != nil && *fw.LinkIRQ >= fw.IRQs {
		return fmt.Errorf("link_irq %d outside the part's %d interrupts", *fw.LinkIRQ, fw.IRQs)
	}
	if e := fw.Emulator; (e.RenodePlatform == "") != (e.RenodeConsole == "") || (e.RenodePlatform == "") != (e.RenodeLink == "") {
		return errors.New("[board.firmware.emulator]: renode_platform, renode_console and renode_link go together")
	}
	if strings.TrimSpace(fw.Memory.Note) == "" || strings.Contains(fw.Memory.Note, "*/") {
		return errors.New("[board.firmware.memory]: a note is required (and must not close a comment)")
	}
	var names []string
	var writable uint64
	for _, r := range fw.Memory.Regions {
		if !regionRE.MatchString(r.Name) || r.Length == 0 || strings.Trim(r.Attrs, "rwx") != "" || r.Attrs == "" {
			return fmt.Errorf("memory region %+v: an upper-case name, attrs of r, w, x and a length", r)
		}
		if slices.Contains(names, r.Name) {
			return fmt.Errorf("memory region %s twice", r.Name)
		}
		names = append(names, r.Name)
		if strings.Contains(r.Attrs, "w") {
			writable += r.Length
		}
	}
	for _, need := range []string{"FLASH", "CONFIG", "RAM"} {
		if !slices.Contains(names, need) {
			return fmt.Errorf("no memory region %s (cortex-m-rt and the config area need it)", need)
		}
	}
	if writable != b.RAM {
		return fmt.Errorf("ram %d, but the writable memory regions hold %d", b.RAM, writable)
	}
	return nil
}
