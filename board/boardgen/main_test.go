package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every file generated from board/boards.toml is what the file gives now: a
// fact changed in one place only (the TOML, or a generated file by hand)
// fails here, in `go test ./...`, as well as in make generate-check.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	stale, err := run("../..", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("these files differ from board/boards.toml; run make generate (go run ./board/boardgen):\n  %s", strings.Join(stale, "\n  "))
	}
}

func TestCheckFindsAStaleFile(t *testing.T) {
	root := t.TempDir()
	src, err := os.ReadFile("../../" + factsFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../" + abiDocFile)
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string][]byte{factsFile: src, abiDocFile: doc, "firmware/device/boards/gone/memory.x": []byte("old")} {
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		must(t, os.WriteFile(filepath.Join(root, p), b, 0o644))
	}
	stale, err := run(root, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) < 5 || !strings.Contains(strings.Join(stale, " "), "boards/gone/memory.x") {
		t.Fatalf("a fresh tree: stale %v", stale)
	}
	if _, err := os.Stat(filepath.Join(root, "firmware/device/boards/gone")); !os.IsNotExist(err) {
		t.Fatalf("the memory map of a board without firmware stayed: %v", err)
	}
	if stale, err := run(root, false); err != nil || len(stale) != 0 {
		t.Fatalf("after writing: stale %v, %v", stale, err)
	}
	// A fact changed by hand in a generated file is found.
	rs := filepath.Join(root, "firmware/device/src/board/facts.rs")
	b, _ := os.ReadFile(rs)
	must(t, os.WriteFile(rs, []byte(strings.Replace(string(b), "HEAP_SIZE: usize = 32_768", "HEAP_SIZE: usize = 40_960", 1)), 0o644))
	if stale, _ := run(root, false); len(stale) != 1 || stale[0] != "firmware/device/src/board/facts.rs" {
		t.Fatalf("after an edit by hand: stale %v", stale)
	}
}

func TestParseRefuses(t *testing.T) {
	src, err := os.ReadFile("../../" + factsFile)
	if err != nil {
		t.Fatal(err)
	}
	good := string(src)
	for _, c := range []struct{ from, to, want string }{
		{"heap = 32_768", "heap = 32_768\nhaep = 1", "unknown keys: board.firmware.haep"},
		{"max_frame = 4096\ngpio_pins = 5", "max_frame = 4096\nmax_fuel = 3\ngpio_pins = 5", "come from the firmware's rules"},
		{`{ name = "CCM", attrs = "rw", origin = 0x1000_0000, length = 65_536 }`, `{ name = "CCM", attrs = "rw", origin = 0x1000_0000, length = 32_768 }`, "writable memory regions hold 163840"},
		{"link_irq = 38", "link_irq = 99", "outside the part's 82 interrupts"},
		{"code_pool = 63_488", "code_pool = 10_000", "takes no module"},
		{"input_pins = [4]", "input_pins = [5]", "input pin 5 outside 0..4"},
		{`name = "uno-r4"`, `name = "nano33ble"`, `board "nano33ble" twice`},
		{"watchdog_ms = 8000", "watchdog_ms = 0", "[firmware]"},
		{"queue_records = 64", "queue_records = 0", "[firmware]"},
		{"code_pool = 63_488", "code_pool = 63_488\ncode_base = 0", "when set, are not 0"},
	} {
		bad := strings.Replace(good, c.from, c.to, 1)
		if bad == good {
			t.Fatalf("%q not in boards.toml", c.from)
		}
		if _, err := parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q -> %q: err %v, want %q", c.from, c.to, err, c.want)
		}
	}
}

func TestDerivedFigures(t *testing.T) {
	src, _ := os.ReadFile("../../" + factsFile)
	f, err := parse(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range f.Boards {
		if b.Name != "stm32f4-discovery" {
			continue
		}
		// (63488 - 10240) * 16 / 30 and 168 MHz * 6 s / 500.
		if got := f.moduleStorage(b); got != 28398 {
			t.Errorf("module storage %d", got)
		}
		if got := f.maxFuel(b); got != 2_016_000 {
			t.Errorf("max fuel %d", got)
		}
		return
	}
	t.Fatal("no stm32f4-discovery")
}

// A board's own code_base and output queue replace the firmware's rules for it alone.
func TestBoardRulesOverride(t *testing.T) {
	src, _ := os.ReadFile("../../" + factsFile)
	f, err := parse([]byte(strings.Replace(string(src), "code_pool = 63_488", "code_pool = 63_488\ncode_base = 3072\nqueue_bytes = 512", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range f.Boards {
		switch {
		case b.Name == "stm32f4-discovery":
			// (63488 - 3072) * 16 / 30
			if got := f.moduleStorage(b); got != 32221 {
				t.Errorf("stm32f4-discovery: module storage %d", got)
			}
			if f.queueBytes(b) != 512 || f.queueRecords(b) != 64 {
				t.Errorf("stm32f4-discovery: queue %d bytes, %d records", f.queueBytes(b), f.queueRecords(b))
			}
		case b.Firmware != nil && b.Firmware.CodeBase == nil && b.Firmware.QueueBytes == nil:
			if f.codeBase(b) != 10_240 || f.queueBytes(b) != 4096 {
				t.Errorf("%s: code base %d, queue %d bytes: want the firmware's rules", b.Name, f.codeBase(b), f.queueBytes(b))
			}
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
