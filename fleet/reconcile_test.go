package fleet

import (
	"testing"
	"time"
)

func app(name, version string, running bool, sel Selector) Application {
	return Application{Name: name, Version: version, SHA256: "sha-" + version, Running: running, Selector: sel,
		Limits: Limits{Fuel: 1000, Memory: 65536}}
}

func always(*Application) bool { return true }

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
	if steps := Plan(d, []Application{v2}, deps, func(*Application) bool { return false }, false); len(steps) != 0 {
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
	if !Admit(&a, c) {
		t.Fatal("one in progress of two allowed: refused")
	}
	deps = append(deps, Deployment{App: "sensor", Device: "d4", SpecHash: h, Running: true, State: "trapped"})
	if c := CountRollout(&a, deps, time.Now()); Admit(&a, c) {
		t.Fatalf("admitted with %+v", c)
	}
	a.Rollout.Strategy = RolloutAllAtOnce
	if !Admit(&a, CountRollout(&a, deps, time.Now())) {
		t.Fatal("all-at-once refused")
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
