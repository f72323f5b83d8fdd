package fleet

import (
	"slices"
	"testing"
	"time"
)

func app(name, version string, running bool, sel Selector) Application {
	return Application{Name: name, Version: version, SHA256: "sha-" + version, Running: running, Selector: sel,
		Limits: Limits{Fuel: 1000, Memory: 65536}}
}

func always(*Application, *Device) bool { return true }

func TestPlanDeploysSelectedApps(t *testing.T) {
	d := &Device{Name: "d1", Board: "stm32f4-discovery", Labels: map[string]string{"site": "a"}}
	apps := []Application{
		app("sensor", "1.0", true, Selector{Labels: map[string]string{"site": "a"}}),
		app("other-site", "1.0", true, Selector{Labels: map[string]string{"site": "b"}}),
		app("other-board", "1.0", true, Selector{Boards: []string{"nano33ble"}}),
	}
	steps := Plan(d, apps, nil, always, false)
	if len(steps) != 1 || steps[0].Kind != StepDeploy || steps[0].App.Name != "sensor" {
		t.Fatalf("steps %+v", steps)
	}
	dep := steps[0].Deployment
	if dep.Generation != 1 || dep.Command != "deploy" || !dep.Running || dep.SpecHash != SpecHash(&apps[0]) {
		t.Fatalf("deployment %+v", dep)
	}
}

func TestPlanTransitions(t *testing.T) {
	d := &Device{Name: "d1", Board: "b"}
	a := app("sensor", "1.0", true, Selector{})
	running := Deployment{App: "sensor", Device: "d1", Generation: 3, Command: "deploy", Version: "1.0",
		SHA256: a.SHA256, SpecHash: SpecHash(&a), Running: true, State: "running"}
	deps := map[string]Deployment{"sensor": running}

	if steps := Plan(d, []Application{a}, deps, always, true); len(steps) != 0 {
		t.Fatalf("settled deployment planned %+v", steps)
	}

	stopped := a
	stopped.Running = false
	steps := Plan(d, []Application{stopped}, deps, always, false)
	if len(steps) != 1 || steps[0].Kind != StepStop || steps[0].Deployment.Generation != 4 {
		t.Fatalf("stop: %+v", steps)
	}

	v2 := a
	v2.Version, v2.SHA256 = "2.0", "sha-2.0"
	steps = Plan(d, []Application{v2}, deps, always, false)
	if len(steps) != 1 || steps[0].Kind != StepDeploy || steps[0].Deployment.Generation != 4 || steps[0].Deployment.Version != "2.0" {
		t.Fatalf("upgrade: %+v", steps)
	}
	if steps := Plan(d, []Application{v2}, deps, func(*Application, *Device) bool { return false }, false); len(steps) != 0 {
		t.Fatalf("rollout gate ignored: %+v", steps)
	}

	steps = Plan(d, nil, deps, always, false)
	if len(steps) != 1 || steps[0].Kind != StepRemove || !steps[0].Deployment.Removing || steps[0].Deployment.Generation != 4 {
		t.Fatalf("remove: %+v", steps)
	}
	removing := steps[0].Deployment
	if steps := Plan(d, nil, map[string]Deployment{"sensor": removing}, always, false); len(steps) != 0 {
		t.Fatalf("remove repeated without resume: %+v", steps)
	}
	if steps := Plan(d, nil, map[string]Deployment{"sensor": removing}, always, true); len(steps) != 1 || steps[0].Deployment.Generation != 4 {
		t.Fatalf("remove not resumed: %+v", steps)
	}
}

func TestPlanResumesUnsettledButNotFailed(t *testing.T) {
	d := &Device{Name: "d1"}
	a := app("sensor", "1.0", true, Selector{})
	dep := Deployment{App: "sensor", Device: "d1", Generation: 2, Command: "deploy", SpecHash: SpecHash(&a), Running: true, State: "downloading", Offset: 512}
	steps := Plan(d, []Application{a}, map[string]Deployment{"sensor": dep}, always, true)
	if len(steps) != 1 || steps[0].Kind != StepDeploy || steps[0].Deployment.Generation != 2 {
		t.Fatalf("resume: %+v", steps)
	}
	dep.State = "trapped"
	if steps := Plan(d, []Application{a}, map[string]Deployment{"sensor": dep}, always, true); len(steps) != 0 {
		t.Fatalf("trapped app redeployed in a loop: %+v", steps)
	}
}

func TestBatchedRolloutAdmission(t *testing.T) {
	a := app("sensor", "2.0", true, Selector{})
	a.Rollout = Rollout{Strategy: RolloutBatched, MaxUnavailable: 2}
	h := SpecHash(&a)
	deps := []Deployment{
		{App: "sensor", Device: "d1", SpecHash: h, Running: true, State: "running", UpdatedAt: time.Now().Add(-time.Hour)},
		{App: "sensor", Device: "d2", SpecHash: h, Running: true, State: "downloading"},
		{App: "sensor", Device: "d3", SpecHash: "old", Running: true, State: "running"},
	}
	c := CountRollout(&a, deps, time.Now())
	if c != (RolloutCount{Updated: 1, InProgress: 1}) {
		t.Fatalf("count %+v", c)
	}
	d5 := &Device{Name: "d5"}
	if !Admit(&a, d5, c) {
		t.Fatal("one in progress of two allowed: refused")
	}
	deps = append(deps, Deployment{App: "sensor", Device: "d4", SpecHash: h, Running: true, State: "trapped"})
	if c := CountRollout(&a, deps, time.Now()); Admit(&a, d5, c) {
		t.Fatalf("admitted with %+v", c)
	}
	a.Rollout.Strategy = RolloutAllAtOnce
	if !Admit(&a, d5, CountRollout(&a, deps, time.Now())) {
		t.Fatal("all-at-once refused")
	}
}

// With an Admission (Kubernetes mode) a batched rollout admits the devices
// the controller listed for the current spec, and only those; the
// controller's AdmitBatch keeps in progress + failed + admitted within
// MaxUnavailable, keeps earlier admissions, and skips offline devices.
func TestAdmissionFromTheController(t *testing.T) {
	a := app("sensor", "2.0", true, Selector{Labels: map[string]string{"role": "sensor"}})
	a.Rollout = Rollout{Strategy: RolloutBatched, MaxUnavailable: 2}
	h := SpecHash(&a)
	online := func(name string) Device {
		return Device{Name: name, Labels: map[string]string{"role": "sensor"}, Status: DeviceStatus{Phase: PhaseOnline}}
	}
	devs := []Device{online("d1"), online("d2"), online("d3"), online("d4"), online("d5"),
		{Name: "d0", Labels: map[string]string{"role": "sensor"}, Status: DeviceStatus{Phase: PhaseOffline}},
		{Name: "other", Status: DeviceStatus{Phase: PhaseOnline}}}
	deps := []Deployment{
		{App: "sensor", Device: "d1", SpecHash: h, Running: true, State: "downloading"},
		{App: "sensor", Device: "d2", SpecHash: "old", Running: true, State: "running"},
	}
	// One in progress (d1): one more place, the first online waiting device.
	got := AdmitBatch(&a, devs, deps, nil, time.Now())
	if !slices.Equal(got, []string{"d2"}) {
		t.Fatalf("admitted %v, want [d2]", got)
	}
	// d2 admitted, not started yet: it keeps its place, nobody else gets one.
	adm := &Admission{SpecHash: h, Devices: got}
	if got := AdmitBatch(&a, devs, deps, adm, time.Now()); !slices.Equal(got, []string{"d2"}) {
		t.Fatalf("admitted %v, want [d2] again", got)
	}
	// An admission for another spec does not hold a place.
	if got := AdmitBatch(&a, devs, deps, &Admission{SpecHash: "old", Devices: []string{"d5"}}, time.Now()); !slices.Equal(got, []string{"d2"}) {
		t.Fatalf("admitted %v after a stale admission, want [d2]", got)
	}
	// d1 done, d2 started: d2 is in progress now, d3 is next.
	deps[0].State, deps[0].UpdatedAt = "running", time.Now().Add(-time.Hour)
	deps[1] = Deployment{App: "sensor", Device: "d2", SpecHash: h, Running: true, State: "downloading"}
	if got := AdmitBatch(&a, devs, deps, adm, time.Now()); !slices.Equal(got, []string{"d3"}) {
		t.Fatalf("admitted %v, want [d3]", got)
	}
	// A failure holds its place: with d2 in progress and d3 trapped, nothing.
	deps = append(deps, Deployment{App: "sensor", Device: "d3", SpecHash: h, Running: true, State: "trapped"})
	if got := AdmitBatch(&a, devs, deps, nil, time.Now()); len(got) != 0 {
		t.Fatalf("admitted %v with the budget spent", got)
	}

	// The gateways' side: only listed devices, only for the current spec.
	a.Admission = &Admission{SpecHash: h, Devices: []string{"d4"}}
	c := RolloutCount{}
	if !Admit(&a, &devs[3], c) || Admit(&a, &devs[4], c) {
		t.Fatal("Admit does not follow the admission list")
	}
	a.Admission = &Admission{}
	if Admit(&a, &devs[3], c) {
		t.Fatal("an empty admission admitted a device")
	}
	a.Admission = &Admission{SpecHash: "old", Devices: []string{"d4"}}
	if Admit(&a, &devs[3], c) {
		t.Fatal("an admission for another spec admitted a device")
	}
}

// An app that just started is not yet updated: it might trap on its first ticks.
func TestRolloutWaitsMinReady(t *testing.T) {
	a := app("sensor", "1", true, Selector{})
	a.Limits.TickMS = 1000
	dep := Deployment{App: "sensor", SpecHash: SpecHash(&a), Running: true, State: "running", UpdatedAt: time.Now()}
	if c := CountRollout(&a, []Deployment{dep}, time.Now()); c.InProgress != 1 || c.Updated != 0 {
		t.Fatalf("just started: %+v", c)
	}
	if c := CountRollout(&a, []Deployment{dep}, time.Now().Add(2*time.Second)); c.Updated != 1 {
		t.Fatalf("after two ticks: %+v", c)
	}
}

// A removed app's record keeps its generation: deploying it again goes above
// it, or the device would ignore the deploy as stale.
func TestPlanAfterRemovalKeepsGenerationsGrowing(t *testing.T) {
	d := &Device{Name: "d1"}
	a := app("sensor", "1.0", true, Selector{})
	tomb := Deployment{App: "sensor", Device: "d1", Generation: 5, Command: "remove", Removing: true, State: "removed"}
	if !tomb.Tombstone() {
		t.Fatal("not a tombstone")
	}
	if steps := Plan(d, nil, map[string]Deployment{"sensor": tomb}, always, true); len(steps) != 0 {
		t.Fatalf("removed app planned again: %+v", steps)
	}
	steps := Plan(d, []Application{a}, map[string]Deployment{"sensor": tomb}, always, false)
	if len(steps) != 1 || steps[0].Kind != StepDeploy || steps[0].Deployment.Generation != 6 || steps[0].Deployment.Removing {
		t.Fatalf("redeploy after removal: %+v", steps)
	}
}
