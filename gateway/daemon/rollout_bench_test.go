package daemon

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent/runtime"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// BenchmarkProgressiveRollout measures progressive rollouts in the
// standalone gateway with WASMBED_BENCH_ROLLOUT_DEVICES agents of
// agent/sim (default 1000) in this process, 2 % of them (chosen at random,
// fixed seed) holding faultPin high:
//
//   - all-at-once: a good version without steps, until every device
//     reported it running (the fan-out of this run);
//   - good: a good version by steps of 1 %, 5 %, 25 %, 100 % with 0 s
//     bake, until the rollout completed;
//   - bad: a version trapping where faultPin is high, by steps of 5 %
//     (more below 5,000 devices: at least 250), 25 %, 100 % (60 s bake):
//     blast radius (devices sent it), detection
//     (the first app.trapped event to the rollout.rolled_back event) and
//     rollback (that event to the last of those devices reporting the good
//     version running again), all from the gateway's own timestamps.
func BenchmarkProgressiveRollout(b *testing.B) {
	n := benchEnvInt("WASMBED_BENCH_ROLLOUT_DEVICES", 1000)
	h := startGateway(b, gateway.Config{})
	// A call budget of 10 s instead of the wall-clock fuel budget (100 ms
	// for the default fuel), as the fan-out bench does: the devices share
	// 2 cores with the gateway, and a tick starved past 100 ms would be a
	// fuel_exhausted failure that halts a good rollout.
	engine, err := runtime.New(context.Background(), runtime.Config{Budget: func(uint64) time.Duration { return 10 * time.Second }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { engine.Close(context.Background()) })
	// Enrollments spread (5 ms a device) over 16 source addresses, so
	// that the gateway's bounds on unauthenticated work do not turn a
	// fleet's first connections into refusals and backoff.
	f := startFleet(b, h, n, "linux", map[string]string{"role": "app"}, func(c *sim.Config) {
		c.Engine, c.StartSpread, c.SourceAddrs = engine, time.Duration(n)*5*time.Millisecond, sim.LoopbackAddrs(16)
	})
	rng := rand.New(rand.NewPCG(13, 2))
	faulty := 0
	for _, i := range rng.Perm(n)[:max(1, n/50)] {
		f.Agents()[i].Device().SetPin(faultPin, true)
		faulty++
	}
	good := h.upload(wasmtest.App(b, "sensor"))
	good2 := h.upload(wasmtest.WAT(b, healthApp(false, 0)))
	bad := h.upload(wasmtest.WAT(b, gpioTrapApp))
	timeout := time.Minute + time.Duration(n)*20*time.Millisecond // generous: a deadline, not a measure
	// Ticks every second (the default), as in the fan-out bench: the apps
	// publish on every tick, and 1000 devices ticking every 50 ms would
	// be 20,000 values a second for the store. A device counts as updated
	// after 1 s running (the least min_ready_seconds).
	spec := func(version, sha string, rollout map[string]any) map[string]any {
		if rollout == nil {
			rollout = map[string]any{}
		}
		rollout["min_ready_seconds"] = 1
		return map[string]any{"version": version, "sha256": sha, "selector": map[string]any{"labels": map[string]string{"role": "app"}},
			"rollout": rollout}
	}
	wait := func(what string, cond func(st *apiv1.ApplicationStatus) bool) apiv1.ApplicationStatus {
		deadline := time.Now().Add(timeout)
		for {
			st := h.status("app")
			if cond(&st) {
				return st
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s: not after %s: %+v", what, timeout, st.Rollout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// lastRunning is when the gateway heard the last of devs (all if nil)
	// report version running.
	lastRunning := func(version string, devs map[string]bool) time.Time {
		var last time.Time
		for name, d := range h.devicesAt("app") {
			if devs != nil && !devs[name] {
				continue
			}
			if d.Version != version || d.State != "running" {
				b.Fatalf("%s: %+v", name, d)
			}
			if d.UpdatedAt.After(last) {
				last = d.UpdatedAt
			}
		}
		return last
	}
	b.ResetTimer()

	// All at once.
	start := time.Now()
	h.must(http.StatusCreated, "PUT", "/v1/applications/app", spec("1", good, nil), nil)
	wait("all at once", func(st *apiv1.ApplicationStatus) bool { return st.Converged && st.Updated == n })
	fanout := lastRunning("1", nil).Sub(start)

	// Good, by 4 steps, 0 s bake.
	zero := 0
	start = time.Now()
	h.must(http.StatusOK, "PUT", "/v1/applications/app", spec("2", good2, map[string]any{
		"steps": []map[string]any{{"percent": 1}, {"percent": 5}, {"percent": 25}, {"percent": 100}}, "bake_seconds": zero}), nil)
	st := wait("good rollout completed", func(st *apiv1.ApplicationStatus) bool {
		return st.Rollout != nil && st.Rollout.Version == "2" && st.Rollout.Phase == fleet.RolloutCompleted
	})
	goodSecs := st.Rollout.FinishedAt.Sub(start)
	goodRunning := lastRunning("2", nil).Sub(start)

	// Bad, trapping on the faulty 2 %.
	before := h.devicesAt("app")
	seq := h.lastEventSeq()
	// The first step must hold some faulty devices to see the failure:
	// 5 % of 10,000 (10 of them expected), more of a smaller fleet (250
	// devices, 5 expected).
	firstPct := max(5, (100*250+n-1)/n)
	h.must(http.StatusOK, "PUT", "/v1/applications/app", spec("3", bad, map[string]any{
		"steps": []map[string]any{{"percent": firstPct}, {"percent": max(25, min(100, 2*firstPct))}, {"percent": 100}}, "bake_seconds": 60}), nil)
	st = wait("bad rollout rolled back", func(st *apiv1.ApplicationStatus) bool {
		return st.Rollout != nil && st.Rollout.Version == "3" && st.Rollout.Phase == fleet.RolloutRolledBack
	})
	firstStep := st.Rollout.Target
	sent := map[string]bool{}
	wait("devices back on version 2", func(*apiv1.ApplicationStatus) bool {
		clear(sent)
		for name, d := range h.devicesAt("app") {
			if d.Generation > before[name].Generation {
				sent[name] = true
				if d.Version != "2" || d.State != "running" {
					return false
				}
			}
		}
		return true
	})
	var firstTrap, halted time.Time
	for _, e := range h.eventsAfter(seq) {
		switch {
		case e.Kind == "app.trapped" && firstTrap.IsZero():
			firstTrap = e.Time
		case e.Kind == "rollout.rolled_back":
			halted = e.Time
		}
	}
	if firstTrap.IsZero() || halted.IsZero() {
		b.Fatal("no app.trapped or rollout.rolled_back event")
	}
	rollback := lastRunning("2", sent).Sub(halted)
	b.StopTimer()

	b.ReportMetric(float64(len(sent)), "blast-radius-devices")
	b.ReportMetric(float64(firstStep), "first-step-devices")
	b.ReportMetric(halted.Sub(firstTrap).Seconds(), "detect-s")
	b.ReportMetric(rollback.Seconds(), "rollback-s")
	b.ReportMetric(goodSecs.Seconds(), "good-s")
	b.ReportMetric(fanout.Seconds(), "fanout-s")
	b.ReportMetric(float64(n), "devices")
	b.ReportMetric(0, "ns/op") // the custom metrics are the result
	b.Logf("%d devices, %d faulty: all at once running in %s; 4 steps with 0 s bake completed in %s (all running by %s); "+
		"the bad version reached %d devices (first step %d), halted %s after the first trap, rolled back in %s; %d failures recorded: %s",
		n, faulty, fanout.Round(time.Millisecond), goodSecs.Round(time.Millisecond), goodRunning.Round(time.Millisecond), len(sent), firstStep,
		halted.Sub(firstTrap).Round(time.Millisecond), rollback.Round(time.Millisecond), len(st.Rollout.Failures), truncate(st.Rollout.Reason, 200))
}

// lastEventSeq is the sequence number of the latest recorded event.
func (h *harness) lastEventSeq() uint64 {
	var last uint64
	for _, e := range h.eventsAfter(0) {
		last = e.Seq
	}
	return last
}

// eventsAfter lists every recorded event after seq, page by page.
func (h *harness) eventsAfter(seq uint64) []fleet.Event {
	h.t.Helper()
	var out []fleet.Event
	for {
		var evs apiv1.EventList
		h.must(http.StatusOK, "GET", "/v1/events?limit=5000&after="+strconv.FormatUint(seq, 10), nil, &evs)
		if len(evs.Events) == 0 {
			return out
		}
		out = append(out, evs.Events...)
		seq = evs.Events[len(evs.Events)-1].Seq
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n]) + fmt.Sprintf("... (%d bytes)", len(s))
}
