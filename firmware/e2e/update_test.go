//go:build qemu

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/firmware/corpus"
	"github.com/wasmbed/wasmbed/fleet"
)

// updates is how many updates TestUpdateLoop makes after the first install.
const updates = 100

// TestUpdateLoop updates one app 100 times on each QEMU board, alternating
// the corpus's two versions (corpus.Update(1), corpus.Update(2): other code,
// other published values), each through the API and waited until the API
// shows the new version running on the device (every tenth also until it
// publishes that version's values). The board must never reset, and its heap
// (the console's `heap: free <firmware heap> <largest module>` after each install) must be the
// same after the last install of version 1 as after the first.
func TestUpdateLoop(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	cfg := sweepGatewayConfig()
	g := startGateway(t, cfg)
	for _, bd := range boards {
		t.Run(bd.name, func(t *testing.T) {
			t.Parallel()
			b := bootSweepBoard(t, g, cfg, bd.name, "update-"+bd.name)
			t0 := time.Now()
			versions := [2]corpus.Entry{corpus.Update(1), corpus.Update(2)}
			app := corpus.UpdateApp + "-" + b.short
			var heapFirst, heapLast []int
			var fails []string
			var slowest time.Duration
			resets := 0 // updates that reset the board; the first three are shown
			for i := 0; i <= updates; i++ {
				e := versions[i%2]
				// Fixed width: the device keeps the version string, and the heap
				// figures compare like with like.
				version := fmt.Sprintf("1.0.%03d", i)
				need := 0 // the API's word; every tenth, its values too
				if i%10 == 0 || i == updates {
					need = settleTicks
				}
				d := deploy{app: app, version: version, e: e, mark: b.q.mark(), need: need, seen: b.output(app)}
				d.t0 = time.Now()
				if err := b.put(app, version, e); err != nil {
					t.Fatalf("update %d: %v", i, err)
				}
				o := b.settle(d)
				slowest = max(slowest, o.Took)
				problem, _ := b.check(e, o)
				if o.State != corpus.StateRunning && problem == "" {
					problem = o.State + " " + o.Detail
				}
				if len(o.Resets) > 0 {
					resets++
				}
				if problem != "" && (len(o.Resets) == 0 || resets <= 3) {
					fails = append(fails, fmt.Sprintf("update %d (%s, v%d): %s", i, version, i%2+1, problem))
				}
				for _, r := range o.Resets {
					if resets <= 3 {
						fails = append(fails, fmt.Sprintf("update %d (%s): the board reset; console:\n      %s", i, version, r))
					}
				}
				if len(o.Resets) > 0 {
					// The next update is a new generation: let the board come back first.
					if err := b.waitOnline(); err != nil {
						t.Fatalf("update %d: %v (%d failures so far: %s)", i, err, len(fails), strings.Join(fails, "; "))
					}
				}
				// The heap figure printed after this install.
				if i == 0 || i == updates {
					h := b.heapAfterInstall(app, d.mark, o.Generation)
					if i == 0 {
						heapFirst = h
					} else {
						heapLast = h
					}
				}
			}
			t.Logf("%s: %d updates in %v (slowest %v)", bd.name, updates, time.Since(t0).Round(time.Second), slowest.Round(time.Millisecond))
			// Updates the board could not install beside the running version: each
			// said so to the gateway (an app.replaced event), none silently. Two
			// versions fit beside each other where the board's largest module is twice
			// theirs and its RAM for apps holds both versions' pages (mps2-an386); on
			// stm32f4-discovery the page pool is one page, which the running version
			// holds.
			replaced := b.q.count(`^deploy: ` + regexp.QuoteMeta(app) + `: no room for two versions`)
			events := b.events("app.replaced", fleet.DeploymentKey(app, b.device))
			t.Logf("%s: %d of %d updates replaced the running version in place", bd.name, replaced, updates)
			if events != replaced {
				t.Errorf("%s: %d updates replaced in place on the console, %d app.replaced events", bd.name, replaced, events)
			}
			pages := uint64(versions[0].Limits.Memory) / corpus.PageSize * corpus.PageSize
			twoFit := 2*len(versions[0].Wasm) <= int(b.prof.ModuleFlash) && 2*pages <= uint64(b.prof.AppRAM)
			if twoFit && replaced != 0 || !twoFit && replaced == 0 {
				t.Errorf("%s: %d updates replaced in place (two %d B modules and their %d B of pages beside each other fit: %v)",
					bd.name, replaced, len(versions[0].Wasm), pages, twoFit)
			}
			// For bench/firmware.sh (make bench): the figures of issue #11.
			fmt.Printf("bench: firmware_update_resets %s %d\n", bd.name, b.boots-1)
			if heapFirst != nil && heapLast != nil {
				fmt.Printf("bench: firmware_heap_free_after_updates %s %d %d %d\n", bd.name, updates, heapFirst[0], heapLast[0])
			}
			if n := b.boots - 1; n > 0 {
				crashes := b.crashLines()
				t.Errorf("%s: %d unexpected resets in %d of %d updates (console of the first three below); %d crash lines, the first: %q",
					bd.name, n, resets, updates, len(crashes), crashes[:min(1, len(crashes))])
			}
			for _, f := range fails {
				t.Errorf("%s: %s", bd.name, f)
			}
			switch {
			case heapFirst == nil || heapLast == nil:
				t.Errorf("%s: no `heap: free <firmware heap> <largest module>` line after the installs (first %v, last %v); the boot line: %q",
					bd.name, heapFirst, heapLast, b.q.dev.Lines(0)[min(3, len(b.q.dev.Lines(0))-1)])
			case !slices.Equal(heapFirst, heapLast):
				t.Errorf("%s: heap free after the first install %v, after the last %v (bytes; main heap first): lost over %d updates",
					bd.name, heapFirst, heapLast, updates)
			default:
				t.Logf("%s: heap free after the first and the last install: %v", bd.name, heapFirst)
			}
		})
	}
}

// events counts the gateway's events of kind about object.
func (b *sweepBoard) events(kind, object string) int {
	b.t.Helper()
	evs, err := b.g.api.Events(context.Background(), 0, 10000)
	if err != nil {
		b.t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Kind == kind && e.Object == object {
			n++
		}
	}
	return n
}

// heapAfterInstall is the first `heap: free` figure after the deploy of
// generation gen (the console's `deploy: <app> generation <gen>` line) at or
// after line mark, or nil.
func (b *sweepBoard) heapAfterInstall(app string, mark int, gen uint64) []int {
	re := regexp.MustCompile(fmt.Sprintf(`^deploy: %s generation %d `, regexp.QuoteMeta(app), gen))
	_, i := b.q.find(re, mark)
	if i < 0 {
		return nil
	}
	// The line comes with the install, before anything else is done.
	deadline := time.Now().Add(b.cfg.HeartbeatInterval)
	for {
		if h := b.heapLines(i); len(h) > 0 {
			return h[0]
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
