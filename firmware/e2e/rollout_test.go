//go:build qemu

package e2e

// A progressive rollout to real firmware under QEMU (issue #13 on the
// firmware of issue #11): both QEMU boards on one gateway run version 1 of an
// app, rolled out by steps; version 2 panics the firmware a few ticks after
// it starts. The rollout sends it to the canary only (step 1 of 2), the
// canary crashes and reboots, its next hello reports the crash, and the
// gateway halts the rollout and rolls back: the canary runs version 1 again,
// the other board never receives version 2, the application's status says
// rolled_back with the canary's crash as the reason, and a rollout.rolled_back
// event is recorded.
//
// Waits come from the figures crash_test.go names (reconcile pass, transfer
// bound, watchdog, backoff, heartbeats), never from a guess of how fast
// this machine runs QEMU.

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

func TestRolloutOnFirmware(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	cfg := crashGatewayConfig()
	g := startGateway(t, cfg)
	canary := bootCrashBoard(t, g, cfg, "stm32f4-discovery", "ring-stm32")
	other := bootCrashBoard(t, g, cfg, "mps2-an386", "ring-mps2")
	ctx := context.Background()

	const app = "ringed"
	zero, bake := 0, 300
	put := func(version string, wasm []byte, bakeSeconds *int) {
		t.Helper()
		mod, err := g.api.UploadModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.api.PutApplication(ctx, app, apiv1.ApplicationSpec{Version: version, SHA256: mod.SHA256, Limits: crashLimits(),
			Selector: fleet.Selector{Boards: []string{canary.board, other.board}},
			Rollout: fleet.Rollout{Steps: []fleet.RolloutStep{{Devices: 1}, {Percent: 100}}, BakeSeconds: bakeSeconds,
				Canary: map[string]string{"crash": canary.device}, OnFailure: fleet.OnFailureRollback}})
		if err != nil {
			t.Fatal(err)
		}
	}
	status := func() apiv1.ApplicationStatus {
		t.Helper()
		st, err := g.api.ApplicationStatus(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// A deploy reaches a board within a reconcile pass and is installed and
	// started within the transfer bound; two ticks of margin (a progressive
	// rollout holds no min-ready time: the bake is the hold), and its values
	// come within the output period.
	step := crashResync + canary.transferBound() + 2*crashTick + crashOutputPeriod

	// Version 1 goes through both steps (no bake) to both boards.
	put("1.0.0", crashApp(t, "__panic", 100, -1), &zero)
	eventually(t, 2*step, "version 1 completed on both boards", func() bool {
		st := status()
		return st.Rollout != nil && st.Rollout.Phase == fleet.RolloutCompleted && st.Updated == 2
	})
	// The protocol generation of each board's last command (version 1's deploy).
	gen1 := map[string]uint64{}
	for _, b := range []*crashBoard{canary, other} {
		d, ok := b.deployment(app)
		if !ok || d.Observed != "1.0.0" || d.State != "running" {
			t.Fatalf("%s: deployment %+v after version 1 completed", b.device, d)
		}
		gen1[b.device] = d.Generation
	}
	otherMark := other.q.mark()

	// Version 2 panics the firmware after crashNormalTicks ticks. Its first
	// step (the canary) bakes for 5 minutes: it never passes, the crash
	// halts it first.
	canaryMark := canary.q.mark()
	t2 := time.Now()
	put("2.0.0", crashApp(t, "__panic", 200, crashNormalTicks), &bake)
	_, crashAt := canary.waitLine(canaryMark, `^PANIC: trap at pc=`, step+time.Duration(crashNormalTicks+1)*crashTick)
	canary.waitLine(crashAt, `^wasmbed-firmware `, crashWatchdog)
	// The rebooted canary opens a session (at the latest after its longest
	// backoff and a handshake), reports the crash in its hello, and the
	// gateway's rollout halts on it.
	back := crashBackoffMax + 2*cfg.HandshakeTimeout + cfg.HeartbeatInterval
	var st apiv1.ApplicationStatus
	eventually(t, back, "the rollout of version 2 rolled back", func() bool {
		st = status()
		return st.Rollout != nil && st.Rollout.Version == "2.0.0" && st.Rollout.Phase == fleet.RolloutRolledBack
	})
	p := st.Rollout
	t.Logf("rolled back %v after the put: step %d of %d, reason %q, back to %q", time.Since(t2).Round(time.Second), p.Step, p.Steps, p.Reason, p.RolledBackTo)
	if p.Step != 1 || p.RolledBackTo != "1.0.0" {
		t.Errorf("rollout %+v: expected a rollback at step 1 to 1.0.0", *p)
	}
	found := false
	for _, f := range p.Failures {
		if f.Device == canary.device && strings.Contains(f.Reason, "panic") {
			found = true
		} else {
			t.Errorf("unexpected failure %+v", f)
		}
	}
	if !found {
		t.Errorf("rollout failures %+v: none for %s naming the panic", p.Failures, canary.device)
	}

	// The canary runs version 1 again: a new deploy of the stable spec, sent
	// when its session is planned, running and publishing version 1's values.
	eventually(t, step, canary.device+" back on version 1", func() bool {
		d, ok := canary.deployment(app)
		// Version 2's deploy and the rollback's: two commands after version 1's.
		return ok && d.Observed == "1.0.0" && d.State == "running" && d.Generation > gen1[canary.device]+1
	})
	eventually(t, crashOutputPeriod+3*crashTick+cfg.HeartbeatInterval, canary.device+" publishing version 1's values again", func() bool {
		for _, v := range canary.values(app, "value", t2) {
			if v > 100 && v < 200 {
				return true
			}
		}
		return false
	})
	// The other board never received version 2: no deploy on its console
	// since version 1 completed, its deployment still version 1's.
	if l, i := other.q.find(regexp.MustCompile(`^deploy: `+regexp.QuoteMeta(app)), otherMark); i >= 0 {
		t.Errorf("%s: %q on its console after version 1 completed, expected nothing of version 2", other.device, l)
	}
	if d, ok := other.deployment(app); !ok || d.Generation != gen1[other.device] || d.Observed != "1.0.0" || d.State != "running" {
		t.Errorf("%s: deployment %+v, expected version 1 (generation %d) running, never touched", other.device, d, gen1[other.device])
	}
	if st.StableVersion != "1.0.0" {
		t.Errorf("stable version %q, expected 1.0.0", st.StableVersion)
	}

	// One rollout.rolled_back event for version 2, naming the canary.
	evs, err := g.api.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var rolled []string
	for _, e := range evs {
		if e.Kind == "rollout.rolled_back" {
			rolled = append(rolled, fmt.Sprintf("%s: %s", e.Object, e.Message))
		}
	}
	if len(rolled) != 1 || !strings.Contains(rolled[0], canary.device) {
		t.Errorf("rollout.rolled_back events %q, expected one naming %s", rolled, canary.device)
	}
}
