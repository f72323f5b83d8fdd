package main

import (
	"bytes"
	"fmt"
	"go/format"
	"path"
	"slices"
	"strings"
)

const header = "board/boards.toml by `make generate` (go run ./board/boardgen); DO NOT EDIT."

// Markers around docs/abi.md's board table.
const (
	tableBegin = "<!-- BEGIN BOARDS: board/boards.toml, make generate -->\n"
	tableEnd   = "<!-- END BOARDS -->\n"
)

// render returns every generated file by its path from the repository root.
func render(f *facts, abiDoc []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	goSrc, err := f.goProfiles()
	if err != nil {
		return nil, err
	}
	out["board/profiles_gen.go"] = goSrc
	enum, err := f.crdEnum()
	if err != nil {
		return nil, err
	}
	out["api/v1alpha1/board_gen.go"] = enum
	out["firmware/device/src/board/facts.rs"] = f.rustFacts()
	emu, err := f.emulatorBoards()
	if err != nil {
		return nil, err
	}
	out["firmware/emulator/boards_gen.go"] = emu
	for _, b := range f.Boards {
		if b.Firmware != nil {
			out[path.Join(memoryDir, b.Name, "memory.x")] = b.memoryX()
		}
	}
	doc, err := f.abiTable(abiDoc)
	if err != nil {
		return nil, err
	}
	out[abiDocFile] = doc
	return out, nil
}

func (f *facts) goProfiles() ([]byte, error) {
	var w bytes.Buffer
	fmt.Fprintf(&w, "// Code generated from %s\n\npackage board\n\nimport \"github.com/wasmbed/wasmbed/abi\"\n\n", header)
	fmt.Fprintf(&w, "// profiles are the known boards, in board/boards.toml's order. For a board\n")
	fmt.Fprintf(&w, "// with firmware, ModuleFlash and MaxFuel follow from the firmware's sizes by\n")
	fmt.Fprintf(&w, "// its own rules (the file's [firmware] table).\n")
	fmt.Fprintf(&w, "var profiles = []Profile{\n")
	for _, b := range f.Boards {
		fmt.Fprintf(&w, "{\nName: %q,\nPart: %q,\nDescription: %q,\n", b.Name, b.Part, b.Description)
		fmt.Fprintf(&w, "RAM: %d,\nAppRAM: %d,\nModuleFlash: %d,\nMaxApps: %d,\nMaxFrame: %d,\nMaxFuel: %d,\n",
			b.RAM, b.AppRAM, f.moduleStorage(b), b.MaxApps, b.MaxFrame, f.maxFuel(b))
		fmt.Fprintf(&w, "Features: abi.Features(),\nGPIOPins: %d,\n", b.GPIOPins)
		if len(b.InputPins) > 0 {
			fmt.Fprintf(&w, "InputPins: []int{%s},\n", joinInts(b.InputPins, ", "))
		}
		fmt.Fprintf(&w, "Pins: %q,\nProvisional: %v,\n},\n", b.Pins, b.provisional())
	}
	fmt.Fprintf(&w, "}\n")
	return format.Source(w.Bytes())
}

func (f *facts) emulatorBoards() ([]byte, error) {
	var w bytes.Buffer
	fmt.Fprintf(&w, "// Code generated from %s\n\npackage emulator\n\n", header)
	fmt.Fprintf(&w, "// boards are the firmware's boards an emulator runs.\nvar boards = []Board{\n")
	for _, b := range f.Boards {
		if b.Firmware == nil {
			continue
		}
		e := b.Firmware.Emulator
		if e.QEMUMachine == "" && e.RenodePlatform == "" {
			continue
		}
		fmt.Fprintf(&w, "{Name: %q, QEMUMachine: %q, RenodePlatform: %q, RenodeConsole: %q, RenodeLink: %q},\n",
			b.Name, e.QEMUMachine, e.RenodePlatform, e.RenodeConsole, e.RenodeLink)
	}
	fmt.Fprintf(&w, "}\n")
	return format.Source(w.Bytes())
}

func (f *facts) crdEnum() ([]byte, error) {
	names := make([]string, len(f.Boards))
	for i, b := range f.Boards {
		names[i] = b.Name
	}
	// board.Names() order: sorted.
	sorted := slices.Sorted(slices.Values(names))
	var w bytes.Buffer
	fmt.Fprintf(&w, "// Code generated from %s\n\npackage v1alpha1\n\n", header)
	fmt.Fprintf(&w, "// Board is a board profile name (package board, board/boards.toml).\n")
	fmt.Fprintf(&w, "// +kubebuilder:validation:Enum=%s\n", strings.Join(sorted, ";"))
	fmt.Fprintf(&w, "type Board string\n")
	return format.Source(w.Bytes())
}

func (f *facts) rustFacts() []byte {
	var w bytes.Buffer
	fmt.Fprintf(&w, "//! Generated from %s\n", header)
	fmt.Fprintf(&w, "//!\n//! The board's facts, for the board feature the image is built with, and the\n")
	fmt.Fprintf(&w, "//! firmware's rules that the gateway's profiles derive from (explained there).\n\n")
	r := f.Firmware
	fmt.Fprintf(&w, "/// The watchdog's period.\npub const WATCHDOG_MS: u32 = %s;\n", rustInt(r.WatchdogMS))
	fmt.Fprintf(&w, "/// The cycles one unit of fuel may cost at most.\npub const CYCLES_PER_FUEL: u64 = %s;\n", rustInt(r.CyclesPerFuel))
	fmt.Fprintf(&w, "/// Code-pool bytes per module byte, in sixteenths.\npub const CODE_PER_BYTE_16: u32 = %s;\n", rustInt(r.CodePerByte16))
	for _, b := range f.Boards {
		fw := b.Firmware
		if fw == nil {
			continue
		}
		mod := strings.ReplaceAll(b.Name, "-", "_")
		fmt.Fprintf(&w, "\n#[cfg(feature = %q)]\npub use %s::*;\n#[cfg(feature = %q)]\nmod %s {\n", b.Name, mod, b.Name, mod)
		line := func(doc, name, typ, val string) {
			fmt.Fprintf(&w, "    /// %s\n    pub const %s: %s = %s;\n", doc, name, typ, val)
		}
		line("The board's profile name (Hello.board).", "NAME", "&str", fmt.Sprintf("%q", b.Name))
		line("The microcontroller.", "PART", "&str", fmt.Sprintf("%q", b.Part))
		line("The core clock, Hz.", "CORE_HZ", "u32", rustInt(fw.CoreHz))
		line("Largest frame payload the device accepts (announced as max_frame).", "MAX_FRAME", "u32", rustInt(b.MaxFrame))
		line("The firmware's own heap (sessions, TLS buffers, protocol).", "HEAP_SIZE", "usize", rustInt(fw.Heap))
		line("The apps' code pool (heap.rs): modules, compiled code, interpreter state.", "CODE_POOL", "usize", rustInt(fw.CodePool))
		line("Code-pool bytes every app needs whatever its module.", "CODE_BASE", "u32", rustInt(f.codeBase(b)))
		line("The apps' page pool: linear memories, whole 64 KiB pages.", "APP_RAM", "u32", rustInt(b.AppRAM))
		line("How many apps can be installed at once.", "MAX_APPS", "usize", rustInt(b.MaxApps))
		line("The pins gpio_read and gpio_write accept (0 to GPIO_PINS-1).", "GPIO_PINS", "u32", rustInt(b.GPIOPins))
		line("The pins only gpio_read accepts.", "INPUT_PINS", fmt.Sprintf("[u32; %d]", len(b.InputPins)), "["+joinInts(b.InputPins, ", ")+"]")
		line("Interrupt vectors the part has.", "IRQS", "usize", rustInt(fw.IRQs))
		irq := "None"
		if fw.LinkIRQ != nil {
			irq = fmt.Sprintf("Some(%d)", *fw.LinkIRQ)
		}
		line("The link UART's receive interrupt (None: polled).", "LINK_IRQ", "Option<u16>", irq)
		line("The link's receive ring (its window), bytes.", "LINK_RING", "usize", rustInt(fw.LinkRing))
		line("The console UART's registers.", "CONSOLE_UART", "usize", rustHex(fw.ConsoleUART))
		line("The link UART's registers.", "LINK_UART", "usize", rustHex(fw.LinkUART))
		line("The largest module the code pool takes (the gateway's profile; checked against the runtime's rule in apps.rs).", "MODULE_STORAGE", "u32", rustInt(f.moduleStorage(b)))
		line("The fuel one call may burn (the gateway's profile; checked in apps.rs).", "MAX_FUEL", "u64", rustInt(f.maxFuel(b)))
		fmt.Fprintf(&w, "}\n")
	}
	return w.Bytes()
}

func (b board) memoryX() []byte {
	var w bytes.Buffer
	fmt.Fprintf(&w, "/* Generated from %s\n\n", header)
	for _, l := range strings.Split(strings.Trim(b.Firmware.Memory.Note, "\n"), "\n") {
		fmt.Fprintf(&w, "   %s\n", l)
	}
	fmt.Fprintf(&w, "*/\nMEMORY\n{\n")
	for _, r := range b.Firmware.Memory.Regions {
		fmt.Fprintf(&w, "  %-6s (%s)%s : ORIGIN = 0x%08X, LENGTH = %s\n", r.Name, r.Attrs, strings.Repeat(" ", 3-len(r.Attrs)), r.Origin, linkerSize(r.Length))
	}
	fmt.Fprintf(&w, "}\n")
	if l := strings.Trim(b.Firmware.Memory.Linker, "\n"); l != "" {
		fmt.Fprintf(&w, "%s\n", l)
	}
	fmt.Fprintf(&w, "INCLUDE wasmbed-sections.x\n")
	return w.Bytes()
}

// abiTable replaces the table between docs/abi.md's markers.
func (f *facts) abiTable(doc []byte) ([]byte, error) {
	s := string(doc)
	i := strings.Index(s, tableBegin)
	j := strings.Index(s, tableEnd)
	if i < 0 || j < i {
		return nil, fmt.Errorf("%s: no %q ... %q markers", abiDocFile, strings.TrimSpace(tableBegin), strings.TrimSpace(tableEnd))
	}
	var w strings.Builder
	w.WriteString(s[:i+len(tableBegin)])
	w.WriteString("| board | part | RAM for apps | max pages per app | module storage | max apps | max frame | GPIO pins | max fuel per call |\n")
	w.WriteString("|-------|------|-------------:|------------------:|---------------:|---------:|----------:|----------:|------------------:|\n")
	for _, b := range f.sorted() {
		fuel := "no cap"
		if n := f.maxFuel(b); n != 0 {
			fuel = fmt.Sprint(n)
		}
		fmt.Fprintf(&w, "| `%s` | %s | %s | %d | %s | %d | %d | %d | %s |\n", b.Name, b.Part,
			sizeText(b.AppRAM), b.AppRAM/65536, sizeText(f.moduleStorage(b)),
			b.MaxApps, b.MaxFrame, b.GPIOPins, fuel)
	}
	w.WriteString(s[j:])
	return []byte(w.String()), nil
}

func (f *facts) sorted() []board {
	out := slices.Clone(f.Boards)
	slices.SortFunc(out, func(a, b board) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func joinInts(v []uint64, sep string) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, sep)
}

// rustInt writes n with a '_' every three digits from 10,000 on (as rustfmt leaves them).
func rustInt(n uint64) string {
	s := fmt.Sprint(n)
	if len(s) < 5 {
		return s
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, '_')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func rustHex(n uint64) string {
	s := fmt.Sprintf("%08X", n)
	return "0x" + s[:4] + "_" + s[4:]
}

// linkerSize writes a region's length in K when it is whole KiB.
func linkerSize(n uint64) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dK", n/1024)
	}
	return fmt.Sprint(n)
}

// sizeText writes a size as the gateway's messages do (board.FormatBytes, which
// board's TestDocTable holds the table to; boardgen cannot import board, whose
// profiles it writes).
func sizeText(n uint64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
