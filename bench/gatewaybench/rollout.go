package main

// The progressive-rollout phase: on the agent/sim fleet the fan-out left
// running its last version, a good version by steps with 0 s bake (against
// that fan-out's time), then a version that traps on the 2 % of devices
// whose fault pin is high (faultyDevices, set by the simfleet children), by
// steps with a long bake and rollback on failure: how many devices it
// reached, how fast the gateway halted it, how fast they came back.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// faultPin is the GPIO pin the trapping version reads: high on the faulty
// devices (simDevice.Faulty); one of the benchBoard's input pins (the
// MPS2-AN386 profile has 4 pins, 2 and 3 input only).
const faultPin = 2

// faultyDevices picks 2 % of n devices (at least one) at random, with a
// fixed seed so that runs compare.
func faultyDevices(n int) map[int]bool {
	rng := rand.New(rand.NewPCG(13, 2))
	out := map[int]bool{}
	for _, i := range rng.Perm(n)[:max(1, n/50)] {
		out[i] = true
	}
	return out
}

// rolloutPhase runs after fanoutPhase on the same devices; fanout is the
// median fan-out of this run, prev the version every device runs.
func rolloutPhase(c *runConfig, g *gatewayProc, hs []*childHandle, fanout fanoutRun, faulty int) error {
	upload := func(trap bool) (string, error) {
		wasm, err := fanoutModule(c.work, 32*1024, trap)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(wasm)
		if err := g.api.call("POST", "/v1/modules", wasm, http.StatusCreated, nil); err != nil {
			return "", err
		}
		return hex.EncodeToString(sum[:]), nil
	}
	good, err := upload(false)
	if err != nil {
		return err
	}
	bad, err := upload(true)
	if err != nil {
		return err
	}
	spec := func(version, sha string, rollout map[string]any) map[string]any {
		return map[string]any{"version": version, "sha256": sha, "limits": map[string]any{"memory": 65536, "tick_ms": 1000},
			"selector": map[string]any{"labels": map[string]string{"bench-group": "fanout"}}, "rollout": rollout}
	}
	var st apiv1.ApplicationStatus
	// waitPhase polls the status until the rollout of version is in one of
	// the phases; any other end is an error naming what happened.
	waitPhase := func(version string, want string, t0 time.Time) error {
		deadline := t0.Add(10 * time.Minute)
		lastLog := time.Now()
		for {
			if err := g.api.call("GET", "/v1/applications/fanout/status", nil, http.StatusOK, &st); err != nil {
				return err
			}
			if p := st.Rollout; p != nil && p.Version == version {
				switch {
				case p.Phase == want:
					return nil
				case p.Phase != fleet.RolloutRollingOut:
					return fmt.Errorf("rollout of %s: %s at step %d of %d: %s", version, p.Phase, p.Step, p.Steps, p.Reason)
				}
				if time.Since(lastLog) > 3*time.Second {
					logf("  %.1fs: step %d of %d, %d updated, %d failed", time.Since(t0).Seconds(), p.Step, p.Steps, p.Updated, p.Failed)
					lastLog = time.Now()
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("rollout of %s: not %s after %s: %+v", version, want, time.Since(t0).Round(time.Second), st.Rollout)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// A good version by 4 steps, 0 s bake.
	quiet := waitQuiet(g.p.pid(), 0.2, 3*time.Minute)
	logf("rollout: the gateway went quiet after %s; a good version by steps of 1 %%, 5 %%, 25 %%, 100 %% with 0 s bake to %d devices", quiet.Round(time.Second), c.fanout)
	t0 := time.Now()
	if err := g.api.call("PUT", "/v1/applications/fanout", spec("2.0.0", good, map[string]any{
		"steps": []map[string]any{{"percent": 1}, {"percent": 5}, {"percent": 25}, {"percent": 100}}, "bake_seconds": 0}), http.StatusOK, nil); err != nil {
		return err
	}
	if err := waitPhase("2.0.0", fleet.RolloutCompleted, t0); err != nil {
		return err
	}
	goodSecs := st.Rollout.FinishedAt.Sub(t0).Seconds()
	logf("rollout: the good version completed its 4 steps %.2fs after the PUT (the fan-out of this run: %.2fs; %.2fx)", goodSecs, fanout.acked.Seconds(),
		goodSecs/fanout.acked.Seconds())
	result("rollout_good_seconds", goodSecs, "s", fmt.Sprintf(
		"a good version (a new 32768-byte module) through 4 steps (1 %%, 5 %%, 25 %%, 100 %%) with 0 s bake (no min-ready hold with steps: the bake is the hold), "+
			"PUT /v1/applications/fanout to the rollout's finished_at, %d agent/sim devices, after the fan-out phase on the same devices; that run's "+
			"gateway_fanout_seconds (all at once) %.2f s: %.2fx (target <= 1.5x); %s",
		c.fanout, fanout.acked.Seconds(), goodSecs/fanout.acked.Seconds(), conditions(c.work)))

	// A version that traps on the faulty devices, by steps with a 60 s bake.
	before := map[string]uint64{}
	for _, d := range st.Devices {
		before[d.Device] = d.Generation
	}
	seq, err := lastEventSeq(g)
	if err != nil {
		return err
	}
	firstPct := max(5, (100*250+c.fanout-1)/c.fanout) // at least 250 devices in the first step: 5 expected faulty
	secondPct := max(25, min(100, 2*firstPct))
	waitQuiet(g.p.pid(), 0.2, 3*time.Minute)
	logf("rollout: a version trapping on %d faulty devices (2 %%) by steps of %d %%, %d %%, 100 %%, 60 s bake, rollback", faulty, firstPct, secondPct)
	t0 = time.Now()
	if err := g.api.call("PUT", "/v1/applications/fanout", spec("3.0.0", bad, map[string]any{
		"steps": []map[string]any{{"percent": firstPct}, {"percent": secondPct}, {"percent": 100}}, "bake_seconds": 60,
		"on_failure": "rollback"}), http.StatusOK, nil); err != nil {
		return err
	}
	if err := waitPhase("3.0.0", fleet.RolloutRolledBack, t0); err != nil {
		return err
	}
	firstStep, reason := st.Rollout.Target, st.Rollout.Reason
	sent := map[string]bool{}
	var lastBack time.Time
	for deadline := time.Now().Add(5 * time.Minute); ; {
		back := true
		clear(sent)
		lastBack = time.Time{}
		for _, d := range st.Devices {
			if d.Generation > before[d.Device] {
				sent[d.Device] = true
				if d.Version != "2.0.0" || d.State != "running" {
					back = false
				} else if d.UpdatedAt.After(lastBack) {
					lastBack = d.UpdatedAt
				}
			}
		}
		if back {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rollout: devices not back on 2.0.0 5 minutes after the rollback")
		}
		time.Sleep(250 * time.Millisecond)
		if err := g.api.call("GET", "/v1/applications/fanout/status", nil, http.StatusOK, &st); err != nil {
			return err
		}
	}
	var firstTrap, halted time.Time
	traps := 0
	for after := seq; ; {
		var evs apiv1.EventList
		if err := g.api.call("GET", "/v1/events?limit=1000&after="+strconv.FormatUint(after, 10), nil, http.StatusOK, &evs); err != nil {
			return err
		}
		if len(evs.Events) == 0 {
			break
		}
		for _, e := range evs.Events {
			switch {
			case e.Kind == "app.trapped":
				traps++
				if firstTrap.IsZero() {
					firstTrap = e.Time
				}
			case e.Kind == "rollout.rolled_back" && halted.IsZero():
				halted = e.Time
			}
		}
		after = evs.Events[len(evs.Events)-1].Seq
	}
	if firstTrap.IsZero() || halted.IsZero() {
		return fmt.Errorf("rollout: no app.trapped or rollout.rolled_back event after the bad version")
	}
	detect, rollback := halted.Sub(firstTrap).Seconds(), lastBack.Sub(halted).Seconds()
	logf("rollout: the bad version reached %d devices (first step %d), %d traps recorded, halted %.3fs after the first, all back on 2.0.0 %.3fs later; %s",
		len(sent), firstStep, traps, detect, rollback, truncate(reason, 200))
	cond := conditions(c.work)
	result("rollout_blast_radius_devices", float64(len(sent)), "devices", fmt.Sprintf(
		"devices sent a version that traps on the %d faulty devices (2 %% of %d agent/sim devices, random, fixed seed: their GPIO pin %d high), "+
			"by steps of %d %% (the first step: %d devices), %d %%, 100 %%, 60 s bake, on_failure rollback (target: <= the first step); "+
			"deployment generations raised, from GET /v1/applications/fanout/status; %s", faulty, c.fanout, faultPin, firstPct, firstStep, secondPct, cond))
	result("rollout_detect_seconds", detect, "s", fmt.Sprintf(
		"the gateway's app.trapped event of the first failing device to its rollout.rolled_back event, %d devices (target 2 s); %s", c.fanout, cond))
	result("rollout_rollback_seconds", rollback, "s", fmt.Sprintf(
		"rollout.rolled_back event to the last device that had taken the bad version reporting the version before (%s) running again (its updated_at in the status), "+
			"%d devices sent it (target 10 s); %s", "2.0.0", len(sent), cond))
	return nil
}

// lastEventSeq is the sequence number of the gateway's latest event.
func lastEventSeq(g *gatewayProc) (uint64, error) {
	var last uint64
	for {
		var evs apiv1.EventList
		if err := g.api.call("GET", "/v1/events?limit=1000&after="+strconv.FormatUint(last, 10), nil, http.StatusOK, &evs); err != nil {
			return 0, err
		}
		if len(evs.Events) == 0 {
			return last, nil
		}
		last = evs.Events[len(evs.Events)-1].Seq
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d bytes)", len(s))
}
