//go:build qemu

package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/wasmbed/wasmbed/firmware/emulator"
)

// TestRenodeResetKeepsRAM: a Cortex-M board in Renode, enrolled and online, is
// reset (firmware/emulator's Reset: `machine Reset`, as the watchdog's reset
// is): it comes back with what the firmware keeps in RAM, as on the part (the
// identity "kept across the reset", no enrollment, the reset record's boot
// sequence going on), and draws another boot id although Renode's RNG replays
// its sequence after a reset, so the gateway records a new boot. Both reset
// macros of the emulator's Cortex-M boards: the nRF52840's vector table at 0,
// the STM32F4's in flash at 0x08000000.
func TestRenodeResetKeepsRAM(t *testing.T) {
	needRenode(t)
	t.Parallel()
	cfg := sweepGatewayConfig()
	g := startGateway(t, cfg)
	for _, bd := range []corpusBoard{{"nano33ble", emulator.Auto}, {"stm32f4-discovery", emulator.Renode}} {
		t.Run(bd.id(), func(t *testing.T) {
			t.Parallel()
			renodeSweeps <- struct{}{} // one Renode board at a time beside the QEMU tests
			defer func() { <-renodeSweeps }()
			device := "reset-" + strings.ReplaceAll(bd.id(), "@", "-")
			b := bootSweepBoardOn(t, g, cfg, bd.name, device, bd.engine)
			reBootID := regexp.MustCompile(`^reset: boot id ([0-9a-f]{8})$`)
			first, _ := b.q.find(reBootID, 0)
			before := g.deviceStatus(device).Status.Reset
			if first == "" || before == nil {
				t.Fatalf("no boot id on the console (%q) or in the API (%+v)", first, before)
			}
			mark := b.q.mark()
			b.q.reset()
			t.Log(b.q.waitFrom(mark, `^identity: kept across the reset`, firmwareWatchdog))
			if err := b.waitOnline(); err != nil {
				t.Fatal(err)
			}
			if l, _ := b.q.find(regexp.MustCompile(`^enroll: `), mark); l != "" {
				t.Fatalf("enrolled again after the reset: %s", l)
			}
			second, _ := b.q.find(reBootID, mark)
			t.Logf("boot ids: %s, then %s", first, second)
			if second == "" || second == first {
				t.Fatalf("boot id after the reset %q, before it %q: the same boot to the gateway", second, first)
			}
			eventually(t, cfg.HeartbeatInterval*2, "the new boot recorded", func() bool {
				r := g.deviceStatus(device).Status.Reset
				return r != nil && r.BootID != before.BootID
			})
		})
	}
}
