//go:build qemu && firmwarebench

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/emulator"
	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/gateway"
)

var handshakeCPU = regexp.MustCompile(`^tls: handshake cpu ([0-9]+) cycles of the ([0-9]+) Hz core clock`)

// TestFirmwareBench is bench/firmware.sh's TLS figure, built only with the
// firmwarebench tag (so never part of make test) and run with
// WASMBED_FIRMWARE_BENCH naming how many handshakes to run: the shipped
// stm32f4-discovery image, provisioned for the `tls` diagnostic, does a
// server-authenticated TLS 1.3 handshake with the real gateway under QEMU with
// `-icount shift=0` (the virtual clock advances 1 ns per instruction). The firmware
// counts SysTick cycles of the handshake less the time it slept waiting for the link
// and spent in the link's interrupt, which depend on when the host delivers bytes; the
// test prints `bench: tls_handshake_instructions N` per handshake (cycles * 1e9 / core Hz).
func TestFirmwareBench(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WASMBED_FIRMWARE_BENCH"))
	if n <= 0 {
		t.Fatal("WASMBED_FIRMWARE_BENCH is not set: the number of handshakes (bench/firmware.sh sets it)")
	}
	needQEMU(t)
	g := startGateway(t, gateway.Config{})
	br := startBridge(t)
	const board = "stm32f4-discovery"
	for i := range n {
		elf := image(t, board, &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost",
			CARoot: g.caDER, Device: fmt.Sprintf("bench-%d", i), Diag: "tls-bench"})
		dir := os.Getenv("WASMBED_E2E_LOGS")
		if dir == "" {
			dir = t.TempDir()
		}
		log := filepath.Join(dir, fmt.Sprintf("bench-tls-%d.console.log", i))
		os.Remove(log)
		d, err := emulator.Boot(context.Background(), emulator.Options{Board: board, Image: elf, Bridge: br,
			Engine: emulator.QEMU, Name: fmt.Sprintf("bench-%d", i), ConsoleLog: log, Args: []string{"-icount", "shift=0"}})
		if err != nil {
			t.Fatal(err)
		}
		q := &qemu{t: t, dev: d, log: log}
		m := handshakeCPU.FindStringSubmatch(q.wait(handshakeCPU.String(), 120*time.Second))
		q.wait(`^diag: done`, 60*time.Second)
		d.Stop()
		cycles, _ := strconv.ParseUint(m[1], 10, 64)
		hz, _ := strconv.ParseUint(m[2], 10, 64)
		if hz == 0 {
			t.Fatalf("core clock 0 Hz: %s", m[0])
		}
		fmt.Printf("bench: tls_handshake_instructions %d (%d core cycles at %d Hz)\n", cycles*1_000_000_000/hz, cycles, hz)
	}
}
