//go:build qemu && firmwarebench

package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/corpus"
	"github.com/wasmbed/wasmbed/fleet"
)

var rePeak = regexp.MustCompile(`^peak: heap ([0-9]+) stack ([0-9]+)`)

// TestFirmwareRAM is bench/firmware.sh's firmware_<board>_ram_bytes: the most
// the firmware's heap and stack held while the shipped image enrolled (key
// generation, the enrollment's TLS 1.3 handshake, the session's mutual one)
// and ran apps: a publishing app, the corpus app that recurses to the call
// depth limit, and a ladder app of half the board's module storage (at most
// 16 KiB of code), one at a time, each until it settled as the corpus expects
// and then removed, so the console's `peak: heap <bytes> stack <bytes>` line,
// printed after each command, covers the apps' runs. Boards run in QEMU where it has
// a machine, else in Renode (bin/ on PATH). Prints
// `bench: firmware_ram_peaks <board> <heap peak> <stack peak>`.
func TestFirmwareRAM(t *testing.T) {
	needQEMU(t)
	cfg := sweepGatewayConfig()
	g := startGateway(t, cfg)
	for _, board := range []string{"stm32f4-discovery", "mps2-an386", "nano33ble", "riscv32-virt", "uno-r4"} {
		t.Run(board, func(t *testing.T) {
			b := bootSweepBoard(t, g, cfg, board, "ram-"+board)
			var apps []corpus.Entry
			if board == "uno-r4" {
				// Its module storage takes none of the corpus' apps: the example blinker
				// (no memory), twice.
				apps = append(apps, blinkerEntry(t), blinkerEntry(t))
			} else {
				for _, name := range []string{"update-v1", "recurse"} {
					e, ok := corpus.Lookup(name)
					if !ok {
						t.Fatalf("no corpus entry %s", name)
					}
					apps = append(apps, e)
				}
				apps = append(apps, corpus.Ladder(min(16*1024, int(b.prof.ModuleFlash)/2)))
			}
			// One at a time (the boards hold one 64 KiB page), each removed after it
			// settled: the peak line after the last removal covers every run.
			var line string
			for _, e := range apps {
				if v := e.Verdict(b.prof); v.Reason != "" {
					t.Fatalf("%s: refused by the module check on %s (%s)", e.Name, board, v.Reason)
				}
				d, err := b.start(e.Name, e, 2)
				if err != nil {
					t.Fatal(err)
				}
				if o := b.settle(d); o.Problem != "" || o.State != e.Expect.State {
					t.Fatalf("%s on %s: %s %s (%s), want %s", e.Name, board, o.State, o.Detail, o.Problem, e.Expect.State)
				}
				mark := b.q.mark()
				if err := b.remove(d.app); err != nil {
					t.Fatal(err)
				}
				if err := b.waitGone(d.app, cfg.HeartbeatInterval*time.Duration(cfg.MissedHeartbeats)); err != nil {
					t.Fatal(err)
				}
				line = b.q.waitFrom(mark, rePeak.String(), cfg.HeartbeatInterval*time.Duration(cfg.MissedHeartbeats))
			}
			m := rePeak.FindStringSubmatch(line)
			heap, _ := strconv.Atoi(m[1])
			stack, _ := strconv.Atoi(m[2])
			if heap == 0 || stack == 0 {
				t.Fatalf("%s: %q", board, line)
			}
			if r := b.resets(); len(r) > 0 {
				t.Fatalf("%s reset: %v", board, r)
			}
			fmt.Printf("bench: firmware_ram_peaks %s %d %d\n", board, heap, stack)
		})
	}
}

// blinkerEntry is examples/apps/blinker as a corpus entry: an app with a memory of 0
// pages, which runs.
func blinkerEntry(t *testing.T) corpus.Entry {
	return corpus.Entry{Name: "blinker", Wasm: app(t, "blinker"), Limits: fleet.Limits{Memory: 4096, Fuel: corpus.Fuel, TickMS: corpus.TickMS},
		Expect: corpus.Expect{State: corpus.StateRunning}}
}
