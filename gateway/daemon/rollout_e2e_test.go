package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// faultPin is the GPIO input that marks a device of the faulty hardware
// revision: gpioTrapApp traps where it reads high, and publishes health=1
// elsewhere.
const faultPin = 7

const gpioTrapApp = `(module
  (import "wasmbed" "gpio_read" (func $gpio_read (param i32) (result i32)))
  (import "wasmbed" "publish" (func $publish (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "health")
  (func (export "init"))
  (func (export "tick")
    (if (i32.eq (call $gpio_read (i32.const 7)) (i32.const 1)) (then unreachable))
    (drop (call $publish (i32.const 0) (i32.const 6) (f64.const 1)))))`

// rolloutFleet starts n agents selected by role=app; the first canaries
// are labelled ring=canary and the devices in faulty also hw=rev-b, with
// faultPin held high on them.
func rolloutFleet(t testing.TB, h *harness, n, canaries int, faulty ...string) *sim.Fleet {
	t.Helper()
	f := startFleet(t, h, n, "linux", map[string]string{"role": "app"})
	for i, a := range f.Agents() {
		labels := map[string]string{"role": "app"}
		if i < canaries {
			labels["ring"] = "canary"
		}
		if slices.Contains(faulty, a.Name()) {
			labels["hw"] = "rev-b"
			a.Device().SetPin(faultPin, true)
		}
		h.must(http.StatusOK, "PUT", "/v1/devices/"+a.Name(), map[string]any{"board": "linux", "labels": labels}, nil)
	}
	return f
}

func (h *harness) status(app string) apiv1.ApplicationStatus {
	h.t.Helper()
	var st apiv1.ApplicationStatus
	h.must(http.StatusOK, "GET", "/v1/applications/"+app+"/status", nil, &st)
	return st
}

// waitRollout polls the status until cond holds of it.
func (h *harness) waitRollout(app, what string, cond func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool) apiv1.ApplicationStatus {
	h.t.Helper()
	var st apiv1.ApplicationStatus
	eventually(h.t, app+": "+what, func() bool {
		st = h.status(app)
		return st.Rollout != nil && cond(&st, st.Rollout)
	})
	return st
}

// devicesAt maps each device to its deployment of app.
func (h *harness) devicesAt(app string) map[string]fleet.Deployment {
	h.t.Helper()
	var deps apiv1.DeploymentList
	h.must(http.StatusOK, "GET", "/v1/deployments?app="+app, nil, &deps)
	out := map[string]fleet.Deployment{}
	for _, d := range deps.Deployments {
		out[d.Device] = d
	}
	return out
}

// onAgent is what the agent itself runs of app.
func onAgent(t testing.TB, f *sim.Fleet, device, app string) (version string, state protocol.AppState) {
	t.Helper()
	for _, a := range f.Agents() {
		if a.Name() == device {
			info, ok := a.Device().App(app)
			if !ok {
				return "", protocol.AppStateRemoved
			}
			return info.Version, info.State
		}
	}
	t.Fatalf("no agent %s", device)
	return "", 0
}

// A good version goes through every step, each baked before the next; a
// version that traps on the devices of one hardware revision stops at its
// first step (the canaries, one of them faulty) and rolls back: the
// canaries run the good version again, the devices that never got the bad
// one were sent nothing.
func TestProgressiveRolloutRollsBackOnlyTheCanaries(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	const n = 6
	f := rolloutFleet(t, h, n, 2, sim.DefaultName(0), sim.DefaultName(4)) // a canary and a later device are rev-b
	good, bad := h.upload(wasmtest.App(t, "sensor")), h.upload(wasmtest.WAT(t, gpioTrapApp))
	const bake = 1
	policy := map[string]any{"steps": []map[string]any{{"devices": 2}, {"percent": 50}, {"percent": 100}},
		"canary": map[string]string{"ring": "canary"}, "bake_seconds": bake}
	spec := func(version, sha string) map[string]any {
		return map[string]any{"version": version, "sha256": sha, "selector": map[string]any{"labels": map[string]string{"role": "app"}},
			"limits": map[string]any{"tick_ms": 50}, "rollout": policy}
	}

	// The first version, good, by steps: the 2 canaries, then 3, then 6.
	h.must(http.StatusCreated, "PUT", "/v1/applications/app", spec("1.0.0", good), nil)
	var bakes []fleet.RolloutProgress // each step's progress as its bake began
	st := h.waitRollout("app", "first version completed", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		if !p.BakeUntil.IsZero() && (len(bakes) == 0 || bakes[len(bakes)-1].Step != p.Step) {
			bakes = append(bakes, *p)
		}
		// Never more devices at the new version than the step allows.
		if took := st.Updated + st.InProgress + st.Failed; took > p.Target {
			t.Fatalf("step %d of %d: %d devices took the version, the step allows %d", p.Step, p.Steps, took, p.Target)
		}
		return p.Phase == fleet.RolloutCompleted
	})
	p := st.Rollout
	if p.Steps != 3 || p.Step != 3 || p.Updated != n || p.Failed != 0 || !st.Converged || st.StableVersion != "" {
		t.Fatalf("completed rollout: %+v, status %+v", p, st)
	}
	if len(bakes) == 0 || bakes[0].Step != 1 || bakes[0].Target != 2 {
		t.Fatalf("step 1 (the canaries) not seen baking: %+v", bakes)
	}
	// Each step lasted at least its bake: the next started no earlier
	// than the bake's end.
	// (An event is recorded once the progress it tells of is written.)
	var stepTimes []time.Time
	eventually(t, "the events of 2 steps and the completion", func() bool {
		stepTimes = nil
		for _, e := range h.events("rollout.") {
			if e.Kind == "rollout.step" || e.Kind == "rollout.completed" {
				stepTimes = append(stepTimes, e.Time)
			}
		}
		return len(stepTimes) == 3
	})
	for _, b := range bakes {
		if end := stepTimes[b.Step-1]; end.Before(b.BakeUntil.Truncate(time.Millisecond)) {
			t.Errorf("step %d ended at %v, before its bake did (%v)", b.Step, end, b.BakeUntil)
		}
	}
	first := h.devicesAt("app")

	// Version 2 traps on rev-b devices: sim-00001, a canary, fails in step 1.
	h.must(http.StatusOK, "PUT", "/v1/applications/app", spec("2.0.0", bad), nil)
	st = h.waitRollout("app", "version 2 rolled back", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		return p.Version == "2.0.0" && p.Phase == fleet.RolloutRolledBack
	})
	p = st.Rollout
	if p.Step != 1 || p.RolledBackTo != "1.0.0" || st.StableVersion != "1.0.0" || len(p.Failures) != 1 ||
		p.Failures[0].Device != sim.DefaultName(0) || !strings.HasPrefix(p.Failures[0].Reason, "trapped") ||
		!strings.Contains(p.Reason, sim.DefaultName(0)) {
		t.Fatalf("rolled back: %+v", p)
	}
	canaries := []string{sim.DefaultName(0), sim.DefaultName(1)}
	eventually(t, "the canaries running 1.0.0 again", func() bool {
		deps := h.devicesAt("app")
		for _, c := range canaries {
			if d := deps[c]; d.Version != "1.0.0" || d.State != "running" {
				return false
			}
			if v, s := onAgent(t, f, c, "app"); v != "1.0.0" || s != protocol.AppStateRunning {
				return false
			}
		}
		return true
	})
	after := h.devicesAt("app")
	for name, d := range after {
		if slices.Contains(canaries, name) {
			// At most the deploy of version 2 and the rollback.
			if d.Generation > first[name].Generation+2 {
				t.Errorf("%s: generation %d after %d: more than a deploy and its rollback", name, d.Generation, first[name].Generation)
			}
			continue
		}
		if d.Generation != first[name].Generation || d.Version != "1.0.0" {
			t.Errorf("%s never got version 2 but was sent something: %+v, before %+v", name, d, first[name])
		}
		if v, s := onAgent(t, f, name, "app"); v != "1.0.0" || s != protocol.AppStateRunning {
			t.Errorf("%s runs %s %v", name, v, s)
		}
	}
	// Only the first step's devices, the canaries, were sent version 2:
	// the faulty one surely (then the rollback).
	if took := after[sim.DefaultName(0)].Generation - first[sim.DefaultName(0)].Generation; took != 2 {
		t.Errorf("the faulty canary: %d commands, want the deploy of 2 and the rollback", took)
	}
	kinds := map[string]bool{}
	for _, e := range h.events("rollout.") {
		kinds[e.Kind] = true
	}
	if !kinds["rollout.failure"] || !kinds["rollout.rolled_back"] { // recorded before the devices were sent the rollback
		t.Errorf("events: %v", kinds)
	}
	metrics := h.metrics()
	for _, want := range []string{`wasmbed_gateway_rollout_events_total{kind="rolled_back"} 1`, `wasmbed_gateway_rollout_events_total{kind="completed"} 1`,
		`wasmbed_gateway_rollout_events_total{kind="failure"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The application stays rolled back; a fixed version rolls out again.
	h.must(http.StatusOK, "PUT", "/v1/applications/app", spec("2.0.1", good), nil)
	st = h.waitRollout("app", "the fix completed", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		return p.Version == "2.0.1" && p.Phase == fleet.RolloutCompleted
	})
	if st.StableVersion != "1.0.0" || !st.Converged {
		t.Fatalf("the fix: %+v", st)
	}
}

// events lists the recorded events whose kind starts with prefix.
func (h *harness) events(prefix string) []fleet.Event {
	h.t.Helper()
	var evs apiv1.EventList
	h.must(http.StatusOK, "GET", "/v1/events?limit=1000", nil, &evs)
	var out []fleet.Event
	for _, e := range evs.Events {
		if strings.HasPrefix(e.Kind, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// Operators pause, resume, promote and abort a rollout whose bake is an
// hour, through the Go client: promote moves it step by step, abort rolls
// back the devices that took the version and only those.
func TestProgressiveRolloutActions(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	const n = 4
	f := rolloutFleet(t, h, n, 0)
	u, _ := url.Parse(h.api)
	c := apiv1.NewClient(u, h.admin, h.roots)
	ctx := context.Background()
	sha := h.upload(wasmtest.App(t, "sensor"))
	hour := 3600
	spec := func(version string, steps []fleet.RolloutStep) apiv1.ApplicationSpec {
		return apiv1.ApplicationSpec{Version: version, SHA256: sha, Selector: fleet.Selector{Labels: map[string]string{"role": "app"}},
			Limits: fleet.Limits{TickMS: 50}, Rollout: fleet.Rollout{Steps: steps, BakeSeconds: &hour}}
	}
	act := func(action string, wantCode int) fleet.Application {
		t.Helper()
		a, err := c.RolloutAction(ctx, "app", action)
		if wantCode == http.StatusOK {
			if err != nil {
				t.Fatalf("%s: %v", action, err)
			}
			return a
		}
		var e *apiv1.Error
		if !errors.As(err, &e) || e.Status != wantCode {
			t.Fatalf("%s: %v, want status %d", action, err, wantCode)
		}
		return a
	}

	// Without steps there is nothing to act on.
	if _, err := c.PutApplication(ctx, "app", apiv1.ApplicationSpec{Version: "1", SHA256: sha,
		Selector: fleet.Selector{Labels: map[string]string{"role": "app"}}, Limits: fleet.Limits{TickMS: 50}}); err != nil {
		t.Fatal(err)
	}
	h.waitConverged("app", n)
	act(fleet.ActionPause, http.StatusConflict)
	if code := h.call(h.admin, "POST", "/v1/applications/app/rollout/retry", nil, nil); code != http.StatusNotFound {
		t.Fatalf("unknown action: %d", code)
	}
	if code := h.call(h.reader, "POST", "/v1/applications/app/rollout/pause", nil, nil); code != http.StatusForbidden {
		t.Fatalf("reader token: %d", code)
	}

	// Version 2 by steps of 1 and 2 (then all): it stops in step 1's hour-long bake.
	if _, err := c.PutApplication(ctx, "app", spec("2", []fleet.RolloutStep{{Devices: 1}, {Devices: 2}})); err != nil {
		t.Fatal(err)
	}
	h.waitRollout("app", "step 1 baking", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		return p.Step == 1 && !p.BakeUntil.IsZero() && st.Updated == 1
	})
	a := act(fleet.ActionPause, http.StatusOK)
	if a.Progress.Phase != fleet.RolloutPaused || !strings.Contains(a.Progress.Reason, "admin") {
		t.Fatalf("paused: %+v", a.Progress)
	}
	act(fleet.ActionPause, http.StatusConflict)
	if a = act(fleet.ActionResume, http.StatusOK); a.Progress.Phase != fleet.RolloutRollingOut || a.Progress.Step != 1 {
		t.Fatalf("resumed: %+v", a.Progress)
	}
	// Promote skips the bake: step 2 brings a second device.
	if a = act(fleet.ActionPromote, http.StatusOK); a.Progress.Step != 2 {
		t.Fatalf("promoted: %+v", a.Progress)
	}
	h.waitRollout("app", "step 2 baking", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		return p.Step == 2 && !p.BakeUntil.IsZero() && st.Updated == 2
	})
	before := h.devicesAt("app")
	// Abort: the two devices that took version 2 go back to 1; the other two are sent nothing.
	if a = act(fleet.ActionAbort, http.StatusOK); a.Progress.Phase != fleet.RolloutRolledBack || a.Progress.RolledBackTo != "1" {
		t.Fatalf("aborted: %+v", a.Progress)
	}
	act(fleet.ActionAbort, http.StatusConflict)
	eventually(t, "every device running version 1", func() bool {
		deps := h.devicesAt("app")
		for _, ag := range f.Agents() {
			if d := deps[ag.Name()]; d.Version != "1" || d.State != "running" {
				return false
			}
			if v, s := onAgent(t, f, ag.Name(), "app"); v != "1" || s != protocol.AppStateRunning {
				return false
			}
		}
		return true
	})
	after := h.devicesAt("app")
	moved := 0
	for name, d := range after {
		switch before[name].Version {
		case "2":
			moved++
			if d.Generation != before[name].Generation+1 {
				t.Errorf("%s: generation %d after %d: want one command, the rollback", name, d.Generation, before[name].Generation)
			}
		default:
			if d.Generation != before[name].Generation {
				t.Errorf("%s never took version 2 and was sent something: %+v", name, d)
			}
		}
	}
	if moved != 2 {
		t.Fatalf("%d devices had taken version 2, want 2", moved)
	}
	// Resume after a rollback starts over at step 1; promote twice reaches the last step, once more completes.
	if a = act(fleet.ActionResume, http.StatusOK); a.Progress.Phase != fleet.RolloutRollingOut || a.Progress.Step != 1 {
		t.Fatalf("resumed after the rollback: %+v", a.Progress)
	}
	for step := 2; step <= 3; step++ {
		if a = act(fleet.ActionPromote, http.StatusOK); a.Progress.Step != step {
			t.Fatalf("promoted to %+v, want step %d", a.Progress, step)
		}
	}
	h.waitConverged("app", n)
	if a = act(fleet.ActionPromote, http.StatusOK); a.Progress.Phase != fleet.RolloutCompleted {
		t.Fatalf("promoted past the last step: %+v", a.Progress)
	}
	act(fleet.ActionResume, http.StatusConflict)
	audit := 0
	var recs apiv1.AuditList
	h.must(http.StatusOK, "GET", "/v1/audit?limit=100", nil, &recs)
	for _, r := range recs.Audit {
		if strings.HasPrefix(r.Action, "rollout.") {
			audit++
		}
	}
	if audit != 8 {
		t.Errorf("%d rollout actions in the audit log, want 8", audit)
	}
}

// healthApp publishes health = 1 on every tick; with low, 0 where
// faultPin reads high; with stopAfter > 0, nothing after that many ticks.
func healthApp(low bool, stopAfter int) string {
	value := `(f64.const 1)`
	if low {
		value = `(if (result f64) (i32.eq (call $gpio_read (i32.const 7)) (i32.const 1)) (then (f64.const 0)) (else (f64.const 1)))`
	}
	stop := ""
	if stopAfter > 0 {
		stop = fmt.Sprintf(`(global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.gt_u (global.get $n) (i32.const %d)) (then return))`, stopAfter)
	}
	return `(module
  (import "wasmbed" "gpio_read" (func $gpio_read (param i32) (result i32)))
  (import "wasmbed" "publish" (func $publish (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "health")
  (global $n (mut i32) (i32.const 0))
  (func (export "init"))
  (func (export "tick")
    ` + stop + `
    (drop (call $publish (i32.const 0) (i32.const 6) ` + value + `))))`
}

// The app-level gate: a version whose health value is below the minimum
// on a faulty canary, and one that stops publishing it, are both rolled
// back at their first step; a healthy one goes through.
// bakeForSilentHealth is the health tests' bake: the version that stops
// publishing does so after 10 ticks of 50 ms and fails the 1 s max age
// about 1.5 s after it starts, which must be within its first step's bake
// (a progressive rollout holds no min-ready time: the bake is the hold).
const bakeForSilentHealth = 3

func TestProgressiveRolloutHealthValue(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	const n = 4
	f := rolloutFleet(t, h, n, 2, sim.DefaultName(0))
	policy := map[string]any{"steps": []map[string]any{{"devices": 2}, {"percent": 100}}, "canary": map[string]string{"ring": "canary"},
		"bake_seconds": bakeForSilentHealth, "health": map[string]any{"key": "health", "min": 1, "max_age_seconds": 1}}
	spec := func(version, src string) map[string]any {
		return map[string]any{"version": version, "sha256": h.upload(wasmtest.WAT(t, src)),
			"selector": map[string]any{"labels": map[string]string{"role": "app"}}, "limits": map[string]any{"tick_ms": 50}, "rollout": policy}
	}
	h.must(http.StatusCreated, "PUT", "/v1/applications/app", spec("1", healthApp(false, 0)), nil)
	h.waitRollout("app", "healthy version completed", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutCompleted && st.Converged
	})
	first := h.devicesAt("app")

	for _, c := range []struct {
		version, src, reason string
		device               string // the failing device, "" for any canary
	}{
		{"2", healthApp(true, 0), "health = 0, below 1", sim.DefaultName(0)},
		{"3", healthApp(false, 10), "stopped publishing health", ""},
	} {
		h.must(http.StatusOK, "PUT", "/v1/applications/app", spec(c.version, c.src), nil)
		st := h.waitRollout("app", "version "+c.version+" rolled back", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
			return p.Version == c.version && p.Phase == fleet.RolloutRolledBack
		})
		p := st.Rollout
		if p.Step != 1 || p.RolledBackTo != "1" || len(p.Failures) == 0 || !strings.HasPrefix(p.Failures[0].Reason, c.reason) ||
			c.device != "" && p.Failures[0].Device != c.device {
			t.Fatalf("version %s: %+v", c.version, p)
		}
		eventually(t, "every device running version 1 after "+c.version, func() bool {
			for name, d := range h.devicesAt("app") {
				if v, s := onAgent(t, f, name, "app"); d.Version != "1" || d.State != "running" || v != "1" || s != protocol.AppStateRunning {
					return false
				}
			}
			return true
		})
		for name, d := range h.devicesAt("app") {
			if name != sim.DefaultName(0) && name != sim.DefaultName(1) && d.Generation != first[name].Generation {
				t.Errorf("version %s: %s is no canary and was sent something: %+v", c.version, name, d)
			}
		}
	}
}

// The heartbeat gate: a canary that loses its session during the bake
// (its certificate revoked: it cannot come back) fails once the heartbeat
// timeout has passed, and the rollout rolls back.
func TestProgressiveRolloutDeviceGoesSilent(t *testing.T) {
	cfg := gateway.Config{HeartbeatInterval: 300 * time.Millisecond, MissedHeartbeats: 3}
	h := startGateway(t, cfg)
	const n = 4
	f := rolloutFleet(t, h, n, 2)
	spec, first := h.sensorEverywhere(n)
	h.must(http.StatusOK, "PUT", "/v1/applications/app", spec("2", map[string]any{"steps": []map[string]any{{"devices": 2}},
		"canary": map[string]string{"ring": "canary"}, "bake_seconds": 3600}), nil)
	h.waitRollout("app", "the canaries baking", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		return !p.BakeUntil.IsZero() && p.Updated == 2
	})
	silent := sim.DefaultName(0)
	h.must(http.StatusOK, "POST", "/v1/devices/"+silent+"/revoke", map[string]string{"reason": "test: the device goes silent"}, nil)
	revoked := time.Now()
	st := h.waitRollout("app", "rolled back", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutRolledBack
	})
	p := st.Rollout
	if len(p.Failures) != 1 || p.Failures[0].Device != silent || !strings.HasPrefix(p.Failures[0].Reason, "stopped heartbeating") {
		t.Fatalf("rolled back: %+v", p)
	}
	// Not before the heartbeat timeout from when it was last heard: a
	// device may come back within it.
	var dev fleet.Device
	h.must(http.StatusOK, "GET", "/v1/devices/"+silent, nil, &dev)
	grace := cfg.HeartbeatInterval * time.Duration(cfg.MissedHeartbeats)
	if off := p.Failures[0].Time.Sub(dev.Status.LastSeen); off < grace || dev.Status.LastSeen.After(revoked) {
		t.Fatalf("failed %s after it was last heard (%v, revoked at %v), within the heartbeat timeout %s", off, dev.Status.LastSeen, revoked, grace)
	}
	other := sim.DefaultName(1)
	eventually(t, other+" running version 1 again", func() bool {
		d := h.devicesAt("app")[other]
		v, s := onAgent(t, f, other, "app")
		return d.Version == "1" && d.State == "running" && v == "1" && s == protocol.AppStateRunning
	})
	for name, d := range h.devicesAt("app") {
		if name != silent && name != other && d.Generation != first[name].Generation {
			t.Errorf("%s is no canary and was sent something: %+v", name, d)
		}
	}
}

// A gateway restarted during a step's bake goes on from where it was: the
// progress is in its store, and devices that reconnect within the
// heartbeat timeout of its start are no failures.
func TestProgressiveRolloutSurvivesRestart(t *testing.T) {
	opts := Options{DataDir: t.TempDir(), Gateway: gateway.Config{HeartbeatInterval: time.Second, MissedHeartbeats: 3},
		APIAddr: freePort(t), DeviceAddr: freePort(t)}
	h := startGatewayWith(t, opts)
	const n = 4
	rolloutFleet(t, h, n, 2)
	spec, _ := h.sensorEverywhere(n)
	const bake = 3
	h.must(http.StatusOK, "PUT", "/v1/applications/app", spec("2", map[string]any{"steps": []map[string]any{{"devices": 2}},
		"canary": map[string]string{"ring": "canary"}, "bake_seconds": bake}), nil)
	st := h.waitRollout("app", "the canaries baking", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		return !p.BakeUntil.IsZero() && p.Updated == 2
	})
	baking := *st.Rollout
	h.stop()

	h = startGatewayWith(t, opts)
	if st = h.status("app"); st.Rollout == nil || st.Rollout.Step != 1 || !st.Rollout.BakeUntil.Equal(baking.BakeUntil) ||
		st.Rollout.Phase != fleet.RolloutRollingOut {
		t.Fatalf("after the restart: %+v, before it %+v", st.Rollout, baking)
	}
	st = h.waitRollout("app", "completed", func(st *apiv1.ApplicationStatus, p *fleet.RolloutProgress) bool {
		return p.Phase != fleet.RolloutRollingOut
	})
	if p := st.Rollout; p.Phase != fleet.RolloutCompleted || len(p.Failures) != 0 || !st.Converged {
		t.Fatalf("after the restart: %+v", p)
	}
}

// sensorEverywhere deploys the sensor app as "app" version 1, without
// steps, to the n devices of rolloutFleet and waits until they all run it.
// It returns the body of a PUT of another version of it (ticking every 50
// ms, with a rollout policy) and the deployments of version 1.
func (h *harness) sensorEverywhere(n int) (spec func(version string, rollout map[string]any) map[string]any, first map[string]fleet.Deployment) {
	h.t.Helper()
	sha := h.upload(wasmtest.App(h.t, "sensor"))
	spec = func(version string, rollout map[string]any) map[string]any {
		return map[string]any{"version": version, "sha256": sha, "selector": map[string]any{"labels": map[string]string{"role": "app"}},
			"limits": map[string]any{"tick_ms": 50}, "rollout": rollout}
	}
	h.must(http.StatusCreated, "PUT", "/v1/applications/app", spec("1", nil), nil)
	h.waitConverged("app", n)
	return spec, h.devicesAt("app")
}
