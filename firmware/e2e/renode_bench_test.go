//go:build qemu && firmwarebench

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/emulator"
	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
)

// TestRenodeBootToOnline is bench/firmware.sh's renode_boot_to_online_seconds:
// per board Renode runs, the time from starting the emulator with a freshly
// provisioned image to the device online at the real gateway (Renode's own
// start, the firmware's boot, key generation, enrollment over TLS 1.3, the
// mutual-TLS session), three boots each; it prints
// `bench: renode_boot_to_online_seconds <board> <median> <min> <max>`.
func TestRenodeBootToOnline(t *testing.T) {
	if _, err := exec.LookPath("renode"); err != nil {
		t.Fatal("no renode on PATH: run make setup and put bin/ on PATH")
	}
	g := startGateway(t, gateway.Config{})
	br := startBridge(t)
	for _, board := range []string{"stm32f4-discovery", "nano33ble", "riscv32-virt", "uno-r4"} {
		var took []time.Duration
		for i := range 3 {
			name := fmt.Sprintf("renode-%s-%d", board, i)
			token := g.register(name, board, nil)
			elf := provisioned(t, board, board, &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost",
				CARoot: g.caDER, Device: name, Token: token})
			start := time.Now()
			d, err := emulator.Boot(context.Background(), emulator.Options{Board: board, Image: elf, Bridge: br, Name: name,
				Engine: emulator.Renode, ConsoleLog: filepath.Join(t.TempDir(), name+".console.log")})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 2*time.Minute, name+" online", func() bool { return g.deviceStatus(name).Status.Phase == fleet.PhaseOnline })
			took = append(took, time.Since(start))
			d.Stop()
		}
		slices.Sort(took)
		fmt.Printf("bench: renode_boot_to_online_seconds %s %.3f %.3f %.3f\n", board, took[1].Seconds(), took[0].Seconds(), took[2].Seconds())
	}
}
