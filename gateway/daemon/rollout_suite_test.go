package daemon

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// The progressive-rollout suite: the scenarios of progressive rollouts
// written once against rolloutMode, and run, as fleet/storetest is by each
// store, by TestProgressiveRollout on the standalone gateway (its API, its
// bbolt store; rollout_e2e_test.go) and by TestKubernetesProgressiveRollout
// in Kubernetes mode (the controller the one writer of the progress,
// devices spread over two gateways following it;
// kube_rollout_e2e_test.go): same semantics, same checks, and each mode's
// own where it has more to show (metrics and the audit log; Kubernetes
// events, kubectl, the resources' status).

// rolloutMode is one mode's way to the scenarios' fleet and its
// application "app" (selector role=app, a tick every 50 ms).
type rolloutMode interface {
	// put writes app's spec: version, module and rollout policy.
	put(version string, wasm []byte, ro fleet.Rollout)
	// state is app's rollout as its writer last wrote it.
	state() rolloutState
	// took counts the devices at app's current spec (updated, updating or
	// failed).
	took() int
	// deployments maps each device to its deployment of app.
	deployments() map[string]fleet.Deployment
	// events lists the recorded rollout events of kind (rollout.step...),
	// oldest first, each no earlier than it was recorded.
	events(kind string) []fleet.Event
	// act asks for an operator's action and returns the progress once it
	// is applied, or why it was refused.
	act(action string) (*fleet.RolloutProgress, error)
	// actor is who acts, as progress reasons and events name them.
	actor() string
	// restart stops the writer of rollout progress and starts it again.
	restart()
	// revoke cuts device off for good (its certificate revoked); it
	// returns when the device surely had lost its session (zero: unknown).
	revoke(device string) time.Time
	// device reads a device's record.
	device(name string) fleet.Device
	// check makes the mode's own checks at a point of a scenario.
	check(at checkpoint)
}

// rolloutState is what a mode reads of app's rollout.
type rolloutState struct {
	p         *fleet.RolloutProgress // the current spec's, nil before it starts
	stable    string                 // the last version that passed
	converged bool
	history   []fleet.Revision // the versions the application had, newest first
}

// checkpoint is a point of a scenario where a mode checks more.
type checkpoint int

const (
	rolledBack  checkpoint = iota // the canaries' version rolled back
	paused                        // an operator paused the rollout
	actionsDone                   // after every action of the actions scenario
	healthy                       // a version that publishes its health value completed
)

// rolloutFleet is a scenario's fleet: n agents sim.DefaultName(i)
// selected by role=app, the first canaries labelled ring=canary, the ones
// in faulty also hw=rev-b with faultPin high; grace, if set, is how long
// a device taking a rollout may go unheard before it fails the heartbeat
// gate.
type rolloutFleet struct {
	n, canaries int
	faulty      []string
	grace       time.Duration
}

// startRolloutMode starts a mode's fleet for one scenario.
type startRolloutMode func(t *testing.T, c rolloutFleet) (rolloutMode, *sim.Fleet)

// rolloutTimeout bounds every wait (the longest bake here is 3 s).
const rolloutTimeout = time.Minute

// runRolloutSuite runs every scenario as a subtest of t, each on a fleet
// of its own.
func runRolloutSuite(t *testing.T, start startRolloutMode) {
	for _, sc := range []struct {
		name string
		fn   func(*testing.T, startRolloutMode)
	}{
		{"RollsBackOnlyTheCanaries", testRollsBackOnlyTheCanaries},
		{"Actions", testRolloutActions},
		{"HealthValue", testRolloutHealthValue},
		{"DeviceGoesSilent", testRolloutDeviceGoesSilent},
		{"SurvivesRestart", testRolloutSurvivesRestart},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.fn(t, start) })
	}
}

// rollout is one scenario's mode and fleet.
type rollout struct {
	rolloutMode
	t  *testing.T
	fl *sim.Fleet
}

func newRollout(t *testing.T, start startRolloutMode, c rolloutFleet) *rollout {
	t.Helper()
	m, fl := start(t, c)
	return &rollout{rolloutMode: m, t: t, fl: fl}
}

func (r *rollout) eventually(what string, cond func() bool) {
	r.t.Helper()
	eventuallyWithin(r.t, rolloutTimeout, what, cond)
}

// wait polls the rollout until cond holds of its current progress.
func (r *rollout) wait(what string, cond func(st rolloutState, p *fleet.RolloutProgress) bool) rolloutState {
	r.t.Helper()
	var st rolloutState
	r.eventually(what, func() bool {
		st = r.state()
		return st.p != nil && cond(st, st.p)
	})
	return st
}

// running reports whether devices (every agent when none) run version,
// by their deployments and by the agents themselves.
func (r *rollout) running(version string, devices ...string) bool {
	if len(devices) == 0 {
		for _, a := range r.fl.Agents() {
			devices = append(devices, a.Name())
		}
	}
	deps := r.deployments()
	for _, name := range devices {
		if d := deps[name]; d.Version != version || d.State != "running" {
			return false
		}
		if v, s := onAgent(r.t, r.fl, name, "app"); v != version || s != protocol.AppStateRunning {
			return false
		}
	}
	return true
}

func (r *rollout) waitRunning(version string, devices ...string) {
	r.t.Helper()
	r.eventually(fmt.Sprintf("%v running %s", devices, version), func() bool { return r.running(version, devices...) })
}

// waitConverged waits until version runs on every device and app's status
// says it converged.
func (r *rollout) waitConverged(version string) {
	r.t.Helper()
	r.eventually(version+" converged", func() bool { return r.state().converged && r.running(version) })
}

// untouched fails for each device but those in took whose deployment
// changed since before.
func (r *rollout) untouched(what string, before map[string]fleet.Deployment, took ...string) {
	r.t.Helper()
	for name, d := range r.deployments() {
		if !slices.Contains(took, name) && d.Generation != before[name].Generation {
			r.t.Errorf("%s: %s never took the version and was sent something: %+v, before %+v", what, name, d, before[name])
		}
	}
}

// faultPin is the GPIO input that marks a device of the faulty hardware
// revision: wasmtest.PinTrapApp(faultPin) traps where it reads high, and
// publishes health=1 elsewhere.
const faultPin = 7

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

// A good version goes through every step (the canaries first), each
// baked before the next, never more devices at it than the step allows;
// a version that traps on the devices of one hardware revision stops at
// its first step (the canaries, one of them faulty) and rolls back: the
// canaries run the good version again, the devices that never got the
// bad one were sent nothing, the status says rolled_back with the step,
// the failing device and its reason, and events are recorded. It stays
// rolled back; a fixed version rolls out again.
func testRollsBackOnlyTheCanaries(t *testing.T, start startRolloutMode) {
	const n = 6
	faulty := []string{sim.DefaultName(0), sim.DefaultName(4)} // a canary and a later device are rev-b
	r := newRollout(t, start, rolloutFleet{n: n, canaries: 2, faulty: faulty})
	good, bad := wasmtest.App(t, "sensor"), wasmtest.WAT(t, wasmtest.PinTrapApp(faultPin))
	bake := 1
	ro := fleet.Rollout{Steps: []fleet.RolloutStep{{Devices: 2}, {Percent: 50}, {Percent: 100}},
		Canary: map[string]string{"ring": "canary"}, BakeSeconds: &bake}

	// The first version, good, by steps: the 2 canaries, then 3, then 6.
	begin := time.Now()
	r.put("1.0.0", good, ro)
	var bakes []fleet.RolloutProgress // each step's progress as its bake began
	started := map[int]time.Time{}    // each step's start
	var st rolloutState
	r.eventually("first version completed", func() bool {
		took := r.took() // before the progress: a step's target only grows
		st = r.state()
		p := st.p
		if p == nil {
			return false
		}
		if !p.BakeUntil.IsZero() && (len(bakes) == 0 || bakes[len(bakes)-1].Step != p.Step) {
			bakes = append(bakes, *p)
		}
		if _, ok := started[p.Step]; !ok {
			started[p.Step] = p.StepStartedAt
		}
		if took > p.Target {
			t.Fatalf("step %d of %d: %d devices took the version, the step allows %d", p.Step, p.Steps, took, p.Target)
		}
		return p.Phase == fleet.RolloutCompleted
	})
	t.Logf("1.0.0 through 3 steps (bake %ds) on %d devices in %v", bake, n, time.Since(begin).Round(time.Millisecond))
	if p := st.p; p.Steps != 3 || p.Step != 3 || p.Updated != n || p.Failed != 0 || !st.converged || st.stable != "" {
		t.Fatalf("completed rollout: %+v, state %+v", p, st)
	}
	if len(bakes) == 0 || bakes[0].Step != 1 || bakes[0].Target != 2 {
		t.Fatalf("step 1 (the canaries) not seen baking: %+v", bakes)
	}
	r.waitRunning("1.0.0")
	// Each step lasted at least its bake: the next started no earlier than
	// the bake's end, and so was recorded (an event is recorded once the
	// progress it tells of is written).
	var ends []fleet.Event
	r.eventually("the events of 2 steps and the completion", func() bool {
		ends = append(r.events("rollout.step"), r.events("rollout.completed")...)
		return len(ends) == 3
	})
	for _, b := range bakes {
		end := st.p.FinishedAt
		if b.Step < st.p.Steps {
			end = started[b.Step+1]
		}
		if end.Before(b.BakeUntil) || ends[b.Step-1].Time.Before(b.BakeUntil.Truncate(time.Millisecond)) {
			t.Errorf("step %d ended at %v (recorded at %v), before its bake did (%v)", b.Step, end, ends[b.Step-1].Time, b.BakeUntil)
		}
	}
	first := r.deployments()

	// Version 2 traps on rev-b devices: sim-00000, a canary, fails in step 1.
	begin = time.Now()
	r.put("2.0.0", bad, ro)
	st = r.wait("version 2 rolled back", func(_ rolloutState, p *fleet.RolloutProgress) bool {
		return p.Version == "2.0.0" && p.Phase == fleet.RolloutRolledBack
	})
	halted := time.Since(begin)
	if p := st.p; p.Step != 1 || p.RolledBackTo != "1.0.0" || st.stable != "1.0.0" || len(p.Failures) != 1 ||
		p.Failures[0].Device != sim.DefaultName(0) || !strings.HasPrefix(p.Failures[0].Reason, "trapped") ||
		!strings.Contains(p.Reason, sim.DefaultName(0)) {
		t.Fatalf("rolled back: %+v, stable %q", p, st.stable)
	}
	canaries := []string{sim.DefaultName(0), sim.DefaultName(1)}
	r.waitRunning("1.0.0", canaries...)
	t.Logf("2.0.0 halted %v after it was written, canaries back on 1.0.0 after %v", halted.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	after := r.deployments()
	for _, c := range canaries { // at most the deploy of version 2 and the rollback
		if after[c].Generation > first[c].Generation+2 {
			t.Errorf("%s: generation %d after %d: more than a deploy and its rollback", c, after[c].Generation, first[c].Generation)
		}
	}
	r.untouched("version 2", first, canaries...)
	if !r.running("1.0.0") {
		t.Errorf("not every device runs 1.0.0: %+v", after)
	}
	// Only the first step's devices, the canaries, were sent version 2:
	// the faulty one surely (then the rollback).
	if took := after[sim.DefaultName(0)].Generation - first[sim.DefaultName(0)].Generation; took != 2 {
		t.Errorf("the faulty canary: %d commands, want the deploy of 2 and the rollback", took)
	}
	var rb []fleet.Event
	r.eventually("one failure and one rollback recorded", func() bool {
		rb = r.events("rollout.rolled_back")
		return len(r.events("rollout.failure")) == 1 && len(rb) == 1
	})
	if !strings.Contains(rb[0].Message, "step 1 of 3") || !strings.Contains(rb[0].Message, sim.DefaultName(0)) {
		t.Errorf("rolled_back event: %q", rb[0].Message)
	}
	r.check(rolledBack)

	// It stays rolled back; a fixed version rolls out again.
	r.put("2.0.1", good, ro)
	st = r.wait("the fix completed", func(_ rolloutState, p *fleet.RolloutProgress) bool {
		return p.Version == "2.0.1" && p.Phase == fleet.RolloutCompleted
	})
	if st.stable != "1.0.0" || !st.converged {
		t.Fatalf("the fix: %+v", st)
	}
	r.waitRunning("2.0.1")
	// The versions it had, and how each rollout stood when the next came.
	var got []string
	for _, v := range st.history {
		got = append(got, v.Version+":"+v.Outcome)
	}
	if want := []string{"2.0.1:", "2.0.0:rolled_back", "1.0.0:completed"}; !slices.Equal(got, want) {
		t.Errorf("history %q, want %q", got, want)
	}
}

// Operators pause, resume, promote and abort a rollout whose bake is an
// hour (the API in standalone mode; the annotation
// fleet.wasmbed.dev/rollout-action, with kubectl, in Kubernetes mode):
// promote moves it step by step, abort rolls back the devices that took
// the version and only those, an action the phase does not allow is
// refused with why, and each action is applied once.
func testRolloutActions(t *testing.T, start startRolloutMode) {
	const n = 4
	r := newRollout(t, start, rolloutFleet{n: n})
	sensor := wasmtest.App(t, "sensor") // every version: a new version is a new spec
	act := func(action string) *fleet.RolloutProgress {
		t.Helper()
		p, err := r.act(action)
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		return p
	}
	refused := func(action, why string) {
		t.Helper()
		if p, err := r.act(action); err == nil || !strings.Contains(err.Error(), why) {
			t.Fatalf("%s: %v (%+v), want refused: %s", action, err, p, why)
		}
	}

	// Without steps there is nothing to act on.
	r.put("1", sensor, fleet.Rollout{})
	r.waitConverged("1")
	refused(fleet.ActionPause, "has no rollout steps")

	// Version 2 by steps of 1 and 2 (then all): it stops in step 1's hour-long bake.
	hour := 3600
	r.put("2", sensor, fleet.Rollout{Steps: []fleet.RolloutStep{{Devices: 1}, {Devices: 2}}, BakeSeconds: &hour})
	r.wait("step 1 baking", func(_ rolloutState, p *fleet.RolloutProgress) bool {
		return p.Step == 1 && !p.BakeUntil.IsZero() && p.Updated == 1
	})
	refused("retry", "want pause, resume, abort or promote")
	if p := act(fleet.ActionPause); p.Phase != fleet.RolloutPaused || p.Reason != "paused (by "+r.actor()+")" {
		t.Fatalf("paused: %+v", p)
	}
	r.check(paused)
	refused(fleet.ActionPause, "cannot pause a rollout that is paused")
	if p := act(fleet.ActionResume); p.Phase != fleet.RolloutRollingOut || p.Step != 1 {
		t.Fatalf("resumed: %+v", p)
	}
	// Promote skips the bake: step 2 brings a second device.
	if p := act(fleet.ActionPromote); p.Step != 2 || p.Phase != fleet.RolloutRollingOut {
		t.Fatalf("promoted: %+v", p)
	}
	r.wait("step 2 baking", func(_ rolloutState, p *fleet.RolloutProgress) bool {
		return p.Step == 2 && !p.BakeUntil.IsZero() && p.Updated == 2
	})
	before := r.deployments()
	// Abort: the two devices that took version 2 go back to 1; the other two are sent nothing.
	if p := act(fleet.ActionAbort); p.Phase != fleet.RolloutRolledBack || p.RolledBackTo != "1" || !strings.Contains(p.Reason, "aborted") {
		t.Fatalf("aborted: %+v", p)
	}
	refused(fleet.ActionAbort, "cannot abort a rollout that is rolled_back")
	r.waitRunning("1")
	var moved []string
	for name, d := range r.deployments() {
		if before[name].Version == "2" {
			moved = append(moved, name)
			if d.Generation != before[name].Generation+1 {
				t.Errorf("%s: generation %d after %d: want one command, the rollback", name, d.Generation, before[name].Generation)
			}
		}
	}
	if len(moved) != 2 {
		t.Fatalf("%v had taken version 2, want 2 devices", moved)
	}
	r.untouched("the abort", before, moved...)
	// Resume after a rollback starts over at step 1; promote twice reaches the last step, once more completes.
	if p := act(fleet.ActionResume); p.Phase != fleet.RolloutRollingOut || p.Step != 1 {
		t.Fatalf("resumed after the rollback: %+v", p)
	}
	for step := 2; step <= 3; step++ {
		if p := act(fleet.ActionPromote); p.Step != step {
			t.Fatalf("promoted to %+v, want step %d", p, step)
		}
	}
	r.waitConverged("2")
	if p := act(fleet.ActionPromote); p.Phase != fleet.RolloutCompleted {
		t.Fatalf("promoted past the last step: %+v", p)
	}
	refused(fleet.ActionResume, "cannot resume a rollout that is completed")
	// Each action recorded once.
	for kind, want := range map[string]int{"rollout.paused": 1, "rollout.resumed": 2, "rollout.step": 3, "rollout.rolled_back": 1, "rollout.completed": 1} {
		if got := r.events(kind); len(got) != want {
			t.Errorf("%d %s events, want %d: %+v", len(got), kind, want, got)
		}
	}
	r.check(actionsDone)
}

// bakeForSilentHealth is the health scenario's bake: the version that
// stops publishing does so after 10 ticks of 50 ms and fails the 1 s max
// age about 1.5 s after it starts, which must be within its first step's
// bake (a progressive rollout holds no min-ready time: the bake is the
// hold).
const bakeForSilentHealth = 3

// The app-level gate: a version whose health value is below the minimum
// on a faulty canary, and one that stops publishing it, are both rolled
// back at their first step; a healthy one goes through.
func testRolloutHealthValue(t *testing.T, start startRolloutMode) {
	r := newRollout(t, start, rolloutFleet{n: 4, canaries: 2, faulty: []string{sim.DefaultName(0)}})
	bake, one := bakeForSilentHealth, 1.0
	ro := fleet.Rollout{Steps: []fleet.RolloutStep{{Devices: 2}, {Percent: 100}}, Canary: map[string]string{"ring": "canary"},
		BakeSeconds: &bake, Health: &fleet.HealthValue{Key: "health", Min: &one, MaxAgeSeconds: 1}}
	r.put("1", wasmtest.WAT(t, healthApp(false, 0)), ro)
	r.wait("healthy version completed", func(_ rolloutState, p *fleet.RolloutProgress) bool { return p.Phase == fleet.RolloutCompleted })
	r.waitConverged("1")
	r.check(healthy)
	first := r.deployments()

	for _, c := range []struct {
		version, src, reason string
		device               string // the failing device, "" for any canary
	}{
		{"2", healthApp(true, 0), "health = 0, below 1", sim.DefaultName(0)},
		{"3", healthApp(false, 10), "stopped publishing health", ""},
	} {
		r.put(c.version, wasmtest.WAT(t, c.src), ro)
		st := r.wait("version "+c.version+" rolled back", func(_ rolloutState, p *fleet.RolloutProgress) bool {
			return p.Version == c.version && p.Phase == fleet.RolloutRolledBack
		})
		if p := st.p; p.Step != 1 || p.RolledBackTo != "1" || len(p.Failures) == 0 || !strings.HasPrefix(p.Failures[0].Reason, c.reason) ||
			c.device != "" && p.Failures[0].Device != c.device {
			t.Fatalf("version %s: %+v", c.version, p)
		}
		r.waitRunning("1")
		r.untouched("version "+c.version, first, sim.DefaultName(0), sim.DefaultName(1))
	}
}

// The heartbeat gate: a canary that loses its session during the bake
// (its certificate revoked: it cannot come back) fails once the grace has
// passed since it was last heard (a device may come back within it), and
// the rollout rolls back.
func testRolloutDeviceGoesSilent(t *testing.T, start startRolloutMode) {
	const grace = 1500 * time.Millisecond
	r := newRollout(t, start, rolloutFleet{n: 4, canaries: 2, grace: grace})
	sensor := wasmtest.App(t, "sensor")
	r.put("1", sensor, fleet.Rollout{})
	r.waitConverged("1")
	first := r.deployments()
	hour := 3600
	r.put("2", sensor, fleet.Rollout{Steps: []fleet.RolloutStep{{Devices: 2}}, Canary: map[string]string{"ring": "canary"}, BakeSeconds: &hour})
	r.wait("the canaries baking", func(_ rolloutState, p *fleet.RolloutProgress) bool { return !p.BakeUntil.IsZero() && p.Updated == 2 })
	silent, other := sim.DefaultName(0), sim.DefaultName(1)
	revoked := r.revoke(silent)
	p := r.wait("rolled back", func(_ rolloutState, p *fleet.RolloutProgress) bool { return p.Phase == fleet.RolloutRolledBack }).p
	if len(p.Failures) != 1 || p.Failures[0].Device != silent || !strings.HasPrefix(p.Failures[0].Reason, "stopped heartbeating") {
		t.Fatalf("rolled back: %+v", p)
	}
	dev := r.device(silent)
	if off := p.Failures[0].Time.Sub(dev.Status.LastSeen); off < grace || !revoked.IsZero() && dev.Status.LastSeen.After(revoked) {
		t.Fatalf("failed %s after it was last heard (%v, revoked at %v), within the grace %s", off, dev.Status.LastSeen, revoked, grace)
	}
	r.waitRunning("1", other)
	r.untouched("version 2", first, silent, other)
}

// The writer of rollout progress restarted during a step's bake goes on
// from the progress it stored: the bake ends when it would have, devices
// that reconnect within the grace are no failures, and the rollout
// completes.
func testRolloutSurvivesRestart(t *testing.T, start startRolloutMode) {
	const n = 4
	r := newRollout(t, start, rolloutFleet{n: n, canaries: 2, grace: 3 * time.Second})
	sensor := wasmtest.App(t, "sensor")
	r.put("1", sensor, fleet.Rollout{})
	r.waitConverged("1")
	bake := 3
	r.put("2", sensor, fleet.Rollout{Steps: []fleet.RolloutStep{{Devices: 2}}, Canary: map[string]string{"ring": "canary"}, BakeSeconds: &bake})
	baking := *r.wait("the canaries baking", func(_ rolloutState, p *fleet.RolloutProgress) bool {
		return !p.BakeUntil.IsZero() && p.Updated == 2
	}).p
	r.restart()
	if p := r.state().p; p == nil || p.Step != 1 || !p.BakeUntil.Equal(baking.BakeUntil) || p.Phase != fleet.RolloutRollingOut {
		t.Fatalf("after the restart: %+v, before it %+v", p, baking)
	}
	st := r.wait("completed", func(_ rolloutState, p *fleet.RolloutProgress) bool { return p.Phase != fleet.RolloutRollingOut })
	if p := st.p; p.Phase != fleet.RolloutCompleted || p.Failed != 0 || len(p.Failures) != 0 || p.Updated != n || !st.converged {
		t.Fatalf("after the restart: %+v", st)
	}
	if st.p.StepStartedAt.Before(baking.BakeUntil) {
		t.Fatalf("step 2 started at %v, before step 1's bake ended (%v)", st.p.StepStartedAt, baking.BakeUntil)
	}
	r.waitRunning("2")
}
