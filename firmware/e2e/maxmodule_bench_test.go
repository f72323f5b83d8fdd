//go:build qemu && firmwarebench

package e2e

import (
	"fmt"
	"testing"
)

// TestFirmwareMaxModule prints, for bench/firmware.sh, the largest behaving
// corpus app each QEMU board installs and runs (measureMaxModule):
// `bench: firmware_max_module_bytes <board> <bytes>`. Resets and other
// problems met on the way are logged, not failed: the figure is the point.
func TestFirmwareMaxModule(t *testing.T) {
	needQEMU(t)
	cfg := sweepGatewayConfig()
	g := startGateway(t, cfg)
	for _, bd := range boards {
		t.Run(bd.name, func(t *testing.T) {
			t.Parallel()
			b := bootSweepBoard(t, g, cfg, bd.name, "max-"+bd.name)
			m, problems := measureMaxModule(b)
			for _, p := range problems {
				t.Log(p)
			}
			fmt.Printf("bench: firmware_max_module_bytes %s %d (code %d B, bounded %v)\n", bd.name, m.ModuleBytes, m.CodeBytes, m.Bounded)
		})
	}
}
