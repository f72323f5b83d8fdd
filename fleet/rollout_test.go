package fleet

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStepTargets(t *testing.T) {
	r := Rollout{Steps: []RolloutStep{{Devices: 1}, {Percent: 5}, {Percent: 25}, {Percent: 100}}}
	for n, want := range map[int][]int{
		100:   {1, 5, 25, 100},
		10000: {1, 500, 2500, 10000},
		3:     {1, 1, 1, 3},
		1:     {1, 1, 1, 1},
	} {
		if got := r.StepTargets(n); !slices.Equal(got, want) {
			t.Errorf("n=%d: %v, want %v", n, got, want)
		}
	}
	// A last step short of every device implies a final one.
	r = Rollout{Steps: []RolloutStep{{Devices: 2}, {Percent: 50}}}
	if got := r.StepTargets(10); !slices.Equal(got, []int{2, 5, 10}) {
		t.Errorf("implied final step: %v", got)
	}
}

func TestFailureThreshold(t *testing.T) {
	for _, c := range []struct {
		th   FailureThreshold
		n    int
		want int
	}{
		{FailureThreshold{}, 100, 0},
		{FailureThreshold{Count: 3}, 100, 3},
		{FailureThreshold{Percent: 10}, 100, 10},
		{FailureThreshold{Percent: 10}, 5, 0},
		{FailureThreshold{Count: 3, Percent: 10}, 100, 3},
		{FailureThreshold{Count: 30, Percent: 10}, 100, 10},
	} {
		if got := c.th.Tolerated(c.n); got != c.want {
			t.Errorf("%+v of %d: %d, want %d", c.th, c.n, got, c.want)
		}
	}
}

func TestRolloutValidate(t *testing.T) {
	neg := -1
	for _, c := range []struct {
		r    Rollout
		want string // "" valid
	}{
		{Rollout{}, ""},
		{Rollout{Steps: []RolloutStep{{Devices: 1}, {Percent: 25}, {Percent: 100}}, Canary: map[string]string{"ring": "canary"}}, ""},
		{Rollout{Strategy: RolloutBatched, MaxUnavailable: 2, Steps: []RolloutStep{{Devices: 1}}}, ""},
		{Rollout{Strategy: "rolling"}, "rollout.strategy"},
		{Rollout{OnFailure: OnFailurePause}, "need steps"},
		{Rollout{Steps: []RolloutStep{{}}}, "steps[0]: give devices"},
		{Rollout{Steps: []RolloutStep{{Devices: 1, Percent: 5}}}, "steps[0]: give devices"},
		{Rollout{Steps: []RolloutStep{{Percent: 150}}}, "percent in (0, 100]"},
		{Rollout{Steps: []RolloutStep{{Percent: 50}, {Percent: 10}}}, "must not shrink"},
		{Rollout{Steps: []RolloutStep{{Devices: 1, BakeSeconds: &neg}}}, "bake_seconds"},
		{Rollout{Steps: []RolloutStep{{Devices: 1}}, OnFailure: "retry"}, "on_failure"},
		{Rollout{Steps: []RolloutStep{{Devices: 1}}, StepFailures: FailureThreshold{Percent: 101}}, "step_failures"},
	} {
		c.r.SetDefaults()
		err := c.r.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.r, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want one saying %q", c.r, err, c.want)
		}
	}
	r := Rollout{Steps: []RolloutStep{{Devices: 1}}}
	r.SetDefaults()
	if r.OnFailure != OnFailureRollback || r.Strategy != RolloutAllAtOnce || r.Bake(0) != DefaultBakeSeconds*time.Second {
		t.Errorf("defaults: %+v, bake %v", r, r.Bake(0))
	}
}

// fleetOf is n selected devices d01..dNN, the first canaries of them
// labelled ring=canary, all online.
func fleetOf(n, canaries int) []Device {
	var out []Device
	for i := range n {
		d := Device{Name: fmt.Sprintf("d%02d", i+1), Labels: map[string]string{"role": "x"}}
		if i < canaries {
			d.Labels["ring"] = "canary"
		}
		out = append(out, d)
	}
	return out
}

func online(*Device) bool { return true }

// rolloutSim drives AdvanceRollout and Plan together, as the gateway's
// reconcile pass does, with devices that apply what they are sent at once
// and report it with state (running, or a failure for the bad ones).
type rolloutSim struct {
	t    *testing.T
	a    Application
	devs []Device
	deps map[string]Deployment // by device
	bad  map[string]string     // version -> device -> state reported
	now  time.Time
	evs  []RolloutEvent
	next Rollout // the policy update puts
	// admitted counts the devices admitted to a new spec, over all passes.
	admitted int
	// health: device -> the value it publishes (none when absent), each
	// pass, while running a version in publishing.
	health     map[string]float64
	publishing map[string]bool
	published  map[string]time.Time // by device: when it last published
	values     map[string]float64
}

func (s *rolloutSim) value(app, device, key string) (float64, time.Time, time.Time, bool) {
	at, ok := s.published[device]
	return s.values[device], at, at, ok
}

func (s *rolloutSim) pass() {
	s.t.Helper()
	var deps []Deployment
	for _, d := range s.deps {
		deps = append(deps, d)
	}
	if p, changed, evs := AdvanceRollout(&s.a, s.devs, deps, Observations{Online: online, Value: s.value}, s.now); changed {
		s.a.Progress = p
		s.evs = append(s.evs, evs...)
	}
	eff := s.a.Effective()
	var apps []Application
	if eff != nil {
		apps = []Application{*eff}
	}
	// As the gateway's reconcile pass admits: the strategy's count, then the step's.
	var c RolloutCount
	if eff != nil {
		c = CountRollout(eff, deps, s.now)
	}
	admit := func(a *Application, d *Device) bool {
		if !Admit(a, d, c) || !AdmitStep(a, d, c.Updated+c.InProgress+c.Failed) {
			return false
		}
		c.InProgress++
		s.admitted++
		return true
	}
	for i := range s.devs {
		d := &s.devs[i]
		mine := map[string]Deployment{}
		if dep, ok := s.deps[d.Name]; ok {
			mine[s.a.Name] = dep
		}
		for _, st := range Plan(d, apps, mine, admit, false) {
			dep := st.Deployment
			dep.State, dep.Observed, dep.UpdatedAt = "running", dep.Version, s.now
			if st.Kind == StepRemove {
				dep.State = "removed"
			} else if bad := s.bad[dep.Version+"/"+d.Name]; bad != "" {
				dep.State = bad
			}
			s.deps[d.Name] = dep
		}
		if dep, ok := s.deps[d.Name]; ok && dep.State == "running" && s.publishing[dep.Version] {
			if v, ok := s.health[d.Name]; ok {
				s.published[d.Name], s.values[d.Name] = s.now, v
			}
		}
	}
}

func (s *rolloutSim) versions() map[string]int {
	out := map[string]int{}
	for _, d := range s.deps {
		if d.State == "removed" {
			out["removed"]++
		} else {
			out[d.Version]++
		}
	}
	return out
}

func newSim(t *testing.T, devices, canaries int, r Rollout) *rolloutSim {
	r.SetDefaults()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	a := app("app", "1", true, Selector{Labels: map[string]string{"role": "x"}})
	s := &rolloutSim{t: t, a: a, devs: fleetOf(devices, canaries), deps: map[string]Deployment{}, bad: map[string]string{},
		now: time.Unix(1_000_000, 0), next: r, health: map[string]float64{}, publishing: map[string]bool{},
		published: map[string]time.Time{}, values: map[string]float64{}}
	// Version 1 everywhere, without steps (as before the policy).
	s.pass()
	return s
}

// update puts version v as the application's spec with the policy given
// to newSim, as the API does.
func (s *rolloutSim) update(v string) {
	s.a.Stable = NextStable(&s.a)
	s.a.Version, s.a.SHA256, s.a.Rollout = v, "sha-"+v, s.next
	s.now = s.now.Add(time.Second)
}

// run makes passes, the clock moving step by step, until the phase is not
// rolling_out or n passes were made.
func (s *rolloutSim) run(step time.Duration, n int) {
	for range n {
		s.pass()
		if p := s.a.CurrentProgress(); p != nil && !p.Active() {
			return
		}
		s.now = s.now.Add(step)
	}
}

func TestProgressiveRolloutCompletes(t *testing.T) {
	bake := 30
	s := newSim(t, 20, 0, Rollout{Steps: []RolloutStep{{Devices: 1}, {Percent: 25}, {Percent: 100}}, BakeSeconds: &bake})
	s.update("2")
	s.pass()
	p := s.a.CurrentProgress()
	if p == nil || p.Phase != RolloutRollingOut || p.Step != 1 || p.Steps != 3 || p.Target != 1 || s.versions()["2"] != 1 {
		t.Fatalf("first pass: %+v, versions %v", p, s.versions())
	}
	// Not past step 1 before its bake ends (min-ready is 2 s here).
	for range 10 {
		s.now = s.now.Add(time.Second)
		s.pass()
	}
	if p := s.a.Progress; p.Step != 1 || s.versions()["2"] != 1 || p.BakeUntil.IsZero() {
		t.Fatalf("during the bake: %+v, versions %v", p, s.versions())
	}
	s.run(time.Second, 200)
	if p := s.a.Progress; p.Phase != RolloutCompleted || s.versions()["2"] != 20 || p.Failed != 0 {
		t.Fatalf("end: %+v, versions %v", p, s.versions())
	}
	var kinds []string
	for _, e := range s.evs {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{"rollout.started", "rollout.step", "rollout.step", "rollout.completed"}; !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	// The next version remembers this one as stable.
	s.update("3")
	if s.a.Stable == nil || s.a.Stable.Version != "2" {
		t.Fatalf("stable after a completed rollout: %+v", s.a.Stable)
	}
}

func TestProgressiveRolloutRollsBackOnlyWhatTookIt(t *testing.T) {
	bake := 30
	s := newSim(t, 20, 2, Rollout{Steps: []RolloutStep{{Devices: 2}, {Percent: 50}}, BakeSeconds: &bake,
		Canary: map[string]string{"ring": "canary"}})
	s.update("2")
	s.bad["2/d02"] = "trapped"
	s.run(time.Second, 100)
	p := s.a.Progress
	if p.Phase != RolloutRolledBack || p.Step != 1 || p.RolledBackTo != "1" || len(p.Failures) != 1 || p.Failures[0].Device != "d02" ||
		!strings.HasPrefix(p.Failures[0].Reason, "trapped") {
		t.Fatalf("progress %+v", p)
	}
	// The canaries took version 2 (the first step is theirs alone); the
	// pass that halted brought them back to 1; the others never changed.
	for name, dep := range s.deps {
		if dep.Version != "1" || dep.State != "running" {
			t.Errorf("%s: %+v", name, dep)
		}
		wantGen := uint64(1)
		if name == "d01" || name == "d02" {
			wantGen = 3 // 1, the canary's 2, back to 1
		}
		if dep.Generation != wantGen {
			t.Errorf("%s at generation %d, want %d", name, dep.Generation, wantGen)
		}
	}
	// Passes after the rollback change nothing.
	before := fmt.Sprint(s.deps)
	s.now = s.now.Add(time.Minute)
	s.pass()
	if fmt.Sprint(s.deps) != before {
		t.Fatal("a pass after the rollback changed deployments")
	}
	// A new version rolls out again with the same stable.
	s.update("3")
	if s.a.Stable.Version != "1" {
		t.Fatalf("stable after a rollback: %+v", s.a.Stable)
	}
}

func TestProgressiveFirstVersionRollsBackToRemoval(t *testing.T) {
	bake := 0
	r := Rollout{Steps: []RolloutStep{{Devices: 1}}, BakeSeconds: &bake}
	r.SetDefaults()
	s := &rolloutSim{t: t, a: app("app", "1", true, Selector{Labels: map[string]string{"role": "x"}}), devs: fleetOf(5, 0),
		deps: map[string]Deployment{}, bad: map[string]string{"1/d01": "failed", "1/d02": "failed", "1/d03": "failed", "1/d04": "failed", "1/d05": "failed"},
		now: time.Unix(1_000_000, 0)}
	s.a.Rollout = r
	s.run(time.Second, 20)
	if p := s.a.Progress; p.Phase != RolloutRolledBack || p.RolledBackTo != "" {
		t.Fatalf("progress %+v", p)
	}
	if v := s.versions(); v["removed"] != 1 || len(s.deps) != 1 {
		t.Fatalf("versions %v", v)
	}
}

func TestProgressiveThresholdsAndPause(t *testing.T) {
	bake := 10
	s := newSim(t, 10, 0, Rollout{Steps: []RolloutStep{{Devices: 4}}, BakeSeconds: &bake, OnFailure: OnFailurePause,
		StepFailures: FailureThreshold{Count: 1}, TotalFailures: FailureThreshold{Count: 1}})
	s.update("2")
	s.bad["2/d03"] = "fuel_exhausted"
	s.bad["2/d07"] = "out_of_memory"
	s.run(time.Second, 200)
	p := s.a.Progress
	// One failure in a step, and in all, is tolerated; the second (in
	// step 2) halts.
	if p.Phase != RolloutPaused || p.Step != 2 || p.Failed != 2 || !strings.Contains(p.Reason, "2 failed device(s) in total") ||
		!strings.Contains(p.Reason, "d07: out_of_memory") {
		t.Fatalf("progress %+v", p)
	}
	if v := s.versions(); v["2"] != 10 {
		t.Fatalf("a pause leaves what was sent: %v", v)
	}

	// Actions: pause and abort need an active rollout; resume accepts
	// the failures and the rollout completes.
	if _, _, err := Act(&s.a, ActionPause, "ops", s.now); !errors.Is(err, ErrRolloutState) {
		t.Fatalf("pause of a paused rollout: %v", err)
	}
	np, ev, err := Act(&s.a, ActionResume, "ops", s.now)
	if err != nil || np.Phase != RolloutRollingOut || ev.Kind != "rollout.resumed" || np.Failed != 0 {
		t.Fatalf("resume: %+v %v %v", np, ev, err)
	}
	s.a.Progress = np
	s.run(time.Second, 100)
	if p := s.a.Progress; p.Phase != RolloutCompleted {
		t.Fatalf("after resume: %+v", p)
	}
	if _, _, err := Act(&s.a, ActionAbort, "ops", s.now); !errors.Is(err, ErrRolloutState) {
		t.Fatalf("abort of a completed rollout: %v", err)
	}
}

func TestProgressivePromoteAndAbort(t *testing.T) {
	bake := 3600
	s := newSim(t, 10, 0, Rollout{Steps: []RolloutStep{{Devices: 1}, {Devices: 5}}, BakeSeconds: &bake})
	s.update("2")
	s.run(time.Second, 5)
	if p := s.a.Progress; p.Step != 1 || p.BakeUntil.IsZero() {
		t.Fatalf("baking step 1: %+v", p)
	}
	p, ev, err := Act(&s.a, ActionPromote, "ops", s.now)
	if err != nil || p.Step != 2 || ev.Kind != "rollout.step" || !strings.Contains(ev.Message, "promoted (by ops)") {
		t.Fatalf("promote: %+v %+v %v", p, ev, err)
	}
	s.a.Progress = p
	s.run(time.Second, 5)
	if v := s.versions(); v["2"] != 5 {
		t.Fatalf("after promote: %v", v)
	}
	p, ev, err = Act(&s.a, ActionAbort, "ops", s.now)
	if err != nil || p.Phase != RolloutRolledBack || ev.Kind != "rollout.rolled_back" || !strings.Contains(p.Reason, "aborted (by ops)") {
		t.Fatalf("abort: %+v %+v %v", p, ev, err)
	}
	s.a.Progress = p
	s.pass()
	if v := s.versions(); v["1"] != 10 {
		t.Fatalf("after abort: %v", v)
	}
	// Resume after a rollback starts again from the first step.
	p, _, err = Act(&s.a, ActionResume, "ops", s.now)
	if err != nil || p.Phase != RolloutRollingOut || p.Step != 1 {
		t.Fatalf("resume after rollback: %+v %v", p, err)
	}
	s.a.Progress = p
	s.pass()
	if v := s.versions(); v["2"] != 1 {
		t.Fatalf("resumed: %v", v)
	}
}

func TestProgressiveGates(t *testing.T) {
	since := time.Unix(1000, 0)
	now := since.Add(time.Minute)
	a := &Application{Name: "app", Running: true}
	dep := &Deployment{State: "running", UpdatedAt: since}
	d := &Device{}
	up := Observations{Online: online}
	gate := func(obs Observations) string {
		why, _ := gateFailure(a, d, dep, obs, since, now)
		return why
	}
	if why := gate(up); why != "" {
		t.Fatalf("healthy: %q", why)
	}
	// Offline: failed once without a session for longer than the grace,
	// counted from the last heartbeat or the observer's start.
	offline := Observations{Online: func(*Device) bool { return false }, OfflineGrace: 15 * time.Second}
	d.Status.LastSeen = now.Add(-20 * time.Second)
	if why := gate(offline); why != "stopped heartbeating (no session for 20s)" {
		t.Fatalf("offline: %q", why)
	}
	d.Status.LastSeen = now.Add(-10 * time.Second)
	if why, healthy := gateFailure(a, d, dep, offline, since, now); why != "" || healthy {
		t.Fatalf("offline within the grace: %q %v", why, healthy)
	}
	d.Status.LastSeen = now.Add(-time.Hour)
	offline.Up = now.Add(-5 * time.Second) // a gateway just restarted
	if why := gate(offline); why != "" {
		t.Fatalf("offline, the gateway just up: %q", why)
	}
	d.Status.LastSeen = time.Time{}
	d.Status.Reset = &ResetStatus{Cause: "watchdog", Detail: "in tick", Time: since.Add(time.Second), Unexpected: 1}
	if why := gate(up); why != "unexpected reset: watchdog: in tick" {
		t.Fatalf("reset: %q", why)
	}
	d.Status.Reset.Time = since.Add(-time.Second) // before the rollout
	if why := gate(up); why != "" {
		t.Fatalf("old reset: %q", why)
	}
	dep.State, dep.Detail = "failed", "crashed: hard_fault in tick"
	if why := gate(up); why != "failed: crashed: hard_fault in tick" {
		t.Fatalf("crash: %q", why)
	}

	// The app-level value.
	dep.State, dep.Detail = "running", ""
	one := 1.0
	a.Rollout.Health = &HealthValue{Key: "health", Min: &one, MaxAgeSeconds: 10}
	val := func(v float64, at time.Time) Observations {
		return Observations{Online: online, Value: func(app, device, key string) (float64, time.Time, time.Time, bool) {
			return v, at, at, key == "health"
		}}
	}
	for _, c := range []struct {
		obs     Observations
		want    string
		healthy bool
	}{
		{val(1, now.Add(-time.Second)), "", true},
		{val(0, now.Add(-time.Second)), "health = 0, below 1", false},
		{val(1, now.Add(-20*time.Second)), "stopped publishing health (last 20s ago)", false},
		{val(1, since.Add(-time.Second)), "published no health in 10s of running", false}, // from the version before
		{up, "published no health in 10s of running", false},
		// Stamped by the version before, received after this one started.
		{Observations{Online: online, Value: func(app, device, key string) (float64, time.Time, time.Time, bool) {
			return 0, since.Add(-time.Millisecond), now.Add(-time.Second), true
		}}, "published no health in 10s of running", false},
	} {
		why, healthy := gateFailure(a, d, dep, c.obs, since, now)
		if why != c.want || healthy != c.healthy {
			t.Errorf("%q %v, want %q %v", why, healthy, c.want, c.healthy)
		}
	}
	// Not yet judged: running for less than max_age without a value.
	if why, healthy := gateFailure(a, d, dep, up, since, since.Add(5*time.Second)); why != "" || healthy {
		t.Errorf("early: %q %v", why, healthy)
	}
}

// A version that stops publishing its health value on some devices is
// rolled back; one that keeps it above the minimum completes, each device
// counting as updated once it published.
func TestProgressiveHealthValue(t *testing.T) {
	bake, one := 10, 1.0
	r := Rollout{Steps: []RolloutStep{{Devices: 2}, {Percent: 50}}, BakeSeconds: &bake,
		Health: &HealthValue{Key: "health", Min: &one, MaxAgeSeconds: 5}}
	s := newSim(t, 10, 0, r)
	for _, d := range s.devs {
		s.health[d.Name] = 1
	}
	s.publishing["2"] = true
	s.update("2")
	s.run(time.Second, 200)
	if p := s.a.Progress; p.Phase != RolloutCompleted || s.versions()["2"] != 10 {
		t.Fatalf("good version: %+v, versions %v", p, s.versions())
	}
	// Version 3 publishes nothing on d02 (in the first step).
	s.publishing["3"] = true
	delete(s.health, "d02")
	s.update("3")
	s.run(time.Second, 200)
	p := s.a.Progress
	if p.Phase != RolloutRolledBack || p.Step != 1 || len(p.Failures) != 1 || p.Failures[0].Device != "d02" ||
		p.Failures[0].Reason != "published no health in 5s of running" || p.RolledBackTo != "2" {
		t.Fatalf("silent version: %+v", p)
	}
	if v := s.versions(); v["2"] != 10 {
		t.Fatalf("after the rollback: %v", v)
	}
}

func TestCanaryMatchingNothingPauses(t *testing.T) {
	bake := 0
	s := newSim(t, 4, 0, Rollout{Steps: []RolloutStep{{Devices: 1}}, BakeSeconds: &bake, Canary: map[string]string{"ring": "canary"}})
	s.update("2")
	s.run(time.Second, 5)
	if p := s.a.Progress; p.Phase != RolloutPaused || !strings.Contains(p.Reason, "canary") || s.versions()["2"] != 0 {
		t.Fatalf("progress %+v, versions %v", p, s.versions())
	}
}

// An application that selects no device completes its rollout at once
// (nothing to gate): a Terraform apply waiting for it must not wait for
// its timeout.
func TestProgressiveRolloutOfNoDeviceCompletes(t *testing.T) {
	a := &Application{Name: "a", Version: "1", SHA256: "x", Rollout: Rollout{Strategy: RolloutAllAtOnce,
		Steps: []RolloutStep{{Devices: 1}, {Percent: 50}}, Canary: map[string]string{"ring": "canary"}, OnFailure: OnFailureRollback}}
	p, changed, evs := AdvanceRollout(a, nil, nil, Observations{}, time.Now())
	if p.Phase != RolloutCompleted || !changed || len(evs) != 2 || evs[1].Kind != "rollout.completed" {
		t.Fatalf("progress %+v, events %v", p, evs)
	}
}

// Within a step the strategy still bounds the devices updating at once
// (here, until they have run for the min-ready time the policy sets).
func TestProgressiveBatchedWithinSteps(t *testing.T) {
	bake := 0
	s := newSim(t, 10, 0, Rollout{Strategy: RolloutBatched, MaxUnavailable: 2, MinReadySeconds: 1, Steps: []RolloutStep{{Devices: 5}}, BakeSeconds: &bake})
	s.update("2")
	s.admitted = 0
	s.pass()
	if v := s.versions(); v["2"] != 2 {
		t.Fatalf("first pass: %v", v)
	}
	// Each pass while the two are within min-ready admits none.
	s.pass()
	if v := s.versions(); v["2"] != 2 {
		t.Fatalf("second pass, same instant: %v", v)
	}
	for range 100 {
		s.now = s.now.Add(500 * time.Millisecond)
		s.pass()
		if p := s.a.Progress; p.Step == 1 && s.versions()["2"] > 5 {
			t.Fatalf("step 1 went past its 5 devices: %v", s.versions())
		}
	}
	if p := s.a.Progress; p.Phase != RolloutCompleted || s.versions()["2"] != 10 || s.admitted != 10 {
		t.Fatalf("end: %+v, versions %v, admitted %d", p, s.versions(), s.admitted)
	}
}

// A progressive rollout holds no min-ready time unless the policy sets
// one: with 0 s bake a good version goes through every step as soon as
// each step's devices run it, with no time passing.
func TestProgressiveHoldsNoMinReadyByDefault(t *testing.T) {
	bake := 0
	s := newSim(t, 100, 0, Rollout{Steps: []RolloutStep{{Percent: 1}, {Percent: 5}, {Percent: 25}, {Percent: 100}}, BakeSeconds: &bake})
	s.update("2")
	for range 20 {
		s.pass()
	}
	if p := s.a.Progress; p.Phase != RolloutCompleted || s.versions()["2"] != 100 {
		t.Fatalf("progress %+v, versions %v", p, s.versions())
	}
	// With min_ready_seconds set, the same passes at one instant stop at
	// the first step.
	s = newSim(t, 100, 0, Rollout{MinReadySeconds: 1, Steps: []RolloutStep{{Percent: 1}, {Percent: 5}, {Percent: 25}, {Percent: 100}}, BakeSeconds: &bake})
	s.update("2")
	for range 20 {
		s.pass()
	}
	if p := s.a.Progress; p.Phase != RolloutRollingOut || p.Step != 1 || s.versions()["2"] != 1 {
		t.Fatalf("with min_ready_seconds 1: progress %+v, versions %v", p, s.versions())
	}
}

// An application's history opens a revision for each new version or module,
// closes the one before with how its rollout stood, ignores other changes,
// and keeps the newest MaxHistory.
func TestNextHistory(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	a := Application{Name: "app", Version: "1.0.0", SHA256: "aa", Generation: 1, CreatedAt: t0}
	a.History = NextHistory(nil, &a, t0)
	if len(a.History) != 1 || a.History[0] != (Revision{Version: "1.0.0", SHA256: "aa", Generation: 1, Since: t0}) {
		t.Fatalf("a new application: %+v", a.History)
	}
	next := func(change func(*Application), at time.Time) {
		old := a
		old.History = slices.Clone(a.History)
		change(&a)
		a.Generation++
		a.History = NextHistory(&old, &a, at)
	}
	next(func(a *Application) { a.Config = map[string]string{"k": "v"} }, t0.Add(time.Hour))
	if len(a.History) != 1 {
		t.Fatalf("a config change opened a revision: %+v", a.History)
	}
	next(func(a *Application) { a.Version = "1.1.0" }, t0.Add(2*time.Hour))
	// A progressive rollout of a new module, rolled back, then replaced.
	next(func(a *Application) {
		a.SHA256 = "bb"
		a.Rollout.Steps = []RolloutStep{{Percent: 10}}
	}, t0.Add(3*time.Hour))
	a.Progress = &RolloutProgress{SpecHash: SpecHash(&a), Phase: RolloutRolledBack}
	next(func(a *Application) { a.Version = "1.2.0" }, t0.Add(4*time.Hour))
	want := []Revision{
		{Version: "1.2.0", SHA256: "bb", Generation: 5, Since: t0.Add(4 * time.Hour)},
		{Version: "1.1.0", SHA256: "bb", Generation: 4, Since: t0.Add(3 * time.Hour), Until: t0.Add(4 * time.Hour), Outcome: RolloutRolledBack},
		{Version: "1.1.0", SHA256: "aa", Generation: 3, Since: t0.Add(2 * time.Hour), Until: t0.Add(3 * time.Hour), Outcome: OutcomeReplaced},
		{Version: "1.0.0", SHA256: "aa", Generation: 1, Since: t0, Until: t0.Add(2 * time.Hour), Outcome: OutcomeReplaced},
	}
	if !reflect.DeepEqual(a.History, want) {
		t.Fatalf("history:\n got %+v\nwant %+v", a.History, want)
	}
	for i := range 2 * MaxHistory {
		next(func(a *Application) { a.Version = fmt.Sprintf("2.0.%d", i) }, t0.Add(time.Duration(5+i)*time.Hour))
	}
	if len(a.History) != MaxHistory || a.History[0].Version != fmt.Sprintf("2.0.%d", 2*MaxHistory-1) {
		t.Fatalf("after %d more versions: %d kept, newest %q", 2*MaxHistory, len(a.History), a.History[0].Version)
	}
	// An application stored before histories were kept starts from its spec.
	old := Application{Name: "app", Version: "0.9.0", SHA256: "cc", Generation: 7, CreatedAt: t0}
	cur := old
	cur.Version, cur.Generation = "1.0.0", 8
	if h := NextHistory(&old, &cur, t0.Add(time.Hour)); len(h) != 2 || h[1].Version != "0.9.0" || h[1].Since != t0 || h[1].Outcome != OutcomeReplaced {
		t.Fatalf("from an application without history: %+v", h)
	}
}
