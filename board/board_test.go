package board_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/protocol"
)

func TestProfilesAreConsistent(t *testing.T) {
	names := board.Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names not sorted: %v", names)
	}
	for _, want := range []string{"stm32f4-discovery", "mps2-an386", "nano33ble", "riscv32-virt", "uno-r4", "linux"} {
		if !slices.Contains(names, want) {
			t.Errorf("no profile %q", want)
		}
	}
	for _, p := range board.All() {
		if err := protocol.ValidName(p.Name); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if p.MaxFrame < protocol.MinFrameSize || p.MaxFrame > protocol.MaxFrameSize {
			t.Errorf("%s: max frame %d outside the protocol's range", p.Name, p.MaxFrame)
		}
		if p.MaxApps < 1 || p.MaxApps > protocol.MaxApps {
			t.Errorf("%s: max apps %d", p.Name, p.MaxApps)
		}
		if p.RAM != 0 && p.AppRAM >= p.RAM {
			t.Errorf("%s: app RAM %d leaves nothing of %d for the firmware", p.Name, p.AppRAM, p.RAM)
		}
		if p.ModuleFlash == 0 || p.AppRAM == 0 {
			t.Errorf("%s: no room for apps", p.Name)
		}
		for _, f := range p.Features {
			if !slices.Contains(abi.Features(), f) {
				t.Errorf("%s: unknown feature %q", p.Name, f)
			}
		}
		for _, pin := range p.InputPins {
			if !p.Readable(pin) || p.Writable(pin) {
				t.Errorf("%s: input pin %d", p.Name, pin)
			}
		}
		if p.Writable(-1) || p.Readable(p.GPIOPins) {
			t.Errorf("%s: pins outside 0..%d accepted", p.Name, p.GPIOPins-1)
		}
		// The firmware's boards carry the firmware's own numbers (board/boards.toml);
		// the others are estimates and say so.
		firmware := p.Name == "stm32f4-discovery" || p.Name == "mps2-an386" || p.Name == "nano33ble" || p.Name == "riscv32-virt" || p.Name == "uno-r4"
		if p.Provisional == firmware {
			t.Errorf("%s: provisional %v; want %v", p.Name, p.Provisional, !firmware)
		}
		got, ok := board.Lookup(p.Name)
		if !ok || got.Name != p.Name {
			t.Errorf("Lookup(%q) = %v, %v", p.Name, got.Name, ok)
		}
	}
	if _, ok := board.Lookup("esp32"); ok {
		t.Error("Lookup found an unknown board")
	}
}

// The numbers the brief of each board implies: which boards can hold a page.
func TestPages(t *testing.T) {
	for name, want := range map[string]uint32{"stm32f4-discovery": 1, "nano33ble": 1, "riscv32-virt": 1, "uno-r4": 0, "mps2-an386": 16} {
		p, _ := board.Lookup(name)
		if p.MaxPages() != want {
			t.Errorf("%s: %d pages, want %d", name, p.MaxPages(), want)
		}
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	p, _ := board.Lookup("linux")
	p.Features[0] = "changed"
	if q, _ := board.Lookup("linux"); q.Features[0] == "changed" {
		t.Fatal("Lookup shares the profile's feature slice")
	}
}

// docs/abi.md's board table is what the firmware and users read: it must
// show the profiles' numbers.
func TestDocTable(t *testing.T) {
	b, err := os.ReadFile("../docs/abi.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, p := range board.All() {
		fuel := "no cap"
		if p.MaxFuel != 0 {
			fuel = fmt.Sprint(p.MaxFuel)
		}
		row := fmt.Sprintf("| `%s` | %s | %s | %d | %s | %d | %d | %d | %s |", p.Name, p.Part,
			board.FormatBytes(uint64(p.AppRAM)), p.MaxPages(), board.FormatBytes(uint64(p.ModuleFlash)),
			p.MaxApps, p.MaxFrame, p.GPIOPins, fuel)
		if !strings.Contains(doc, row) {
			t.Errorf("docs/abi.md lacks the row\n%s", row)
		}
		if len(p.Features) != len(abi.Features()) {
			t.Errorf("%s lacks a feature; docs/abi.md says every board offers all", p.Name)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[uint64]string{65536: "64 KiB", 1 << 20: "1 MiB", 100: "100 bytes", 1536: "1536 bytes", 0: "0 bytes"} {
		if got := board.FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
