package controller

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// status.stable follows the specs the controller sees as the gateway's API
// keeps fleet.Application.Stable (fleet.NextStable): the spec before, when
// it passed.
func TestTrackStable(t *testing.T) {
	var st v1alpha1.ApplicationStatus
	steps := fleet.Rollout{Strategy: fleet.RolloutAllAtOnce, Steps: []fleet.RolloutStep{{Devices: 1}}}
	app := func(version string, ro fleet.Rollout) fleet.Application {
		return fleet.Application{Name: "app", Version: version, SHA256: "00", Limits: fleet.Limits{Fuel: 1, Memory: 2, TickMS: 3}, Rollout: ro}
	}
	see := func(a fleet.Application, phase string) fleet.Application {
		a.Stable = nil
		if st.Stable != nil {
			a.Stable = &fleet.Release{Version: string(st.Stable.Version)}
		}
		a.Progress = nil
		if st.Rollout != nil {
			a.Progress = &fleet.RolloutProgress{SpecHash: st.Rollout.SpecHash, Phase: string(st.Rollout.Phase)}
		}
		trackStable(&a, &st, time.Now())
		if a.Rollout.Progressive() && phase != "" {
			st.Rollout = &v1alpha1.RolloutProgress{SpecHash: fleet.SpecHash(&a), Phase: v1alpha1.RolloutPhase(phase)}
		}
		return a
	}
	stable := func() string {
		if st.Stable == nil {
			return ""
		}
		return string(st.Stable.Version)
	}
	for _, c := range []struct {
		version string
		ro      fleet.Rollout
		phase   string // the rollout's outcome once seen
		want    string // status.stable once seen
	}{
		{"1", fleet.Rollout{Strategy: fleet.RolloutAllAtOnce}, "", ""}, // a first version: nothing before it
		{"1", fleet.Rollout{Strategy: fleet.RolloutAllAtOnce}, "", ""}, // seen again: unchanged
		{"2", steps, fleet.RolloutRolledBack, "1"},                     // 1 passed (no steps)
		{"3", steps, fleet.RolloutCompleted, "1"},                      // 2 did not pass: 1 stays
		{"4", steps, fleet.RolloutPaused, "3"},                         // 3 completed
		{"5", steps, "", "3"},                                          // 4 paused: not passed
	} {
		see(app(c.version, c.ro), c.phase)
		if got := stable(); got != c.want {
			t.Fatalf("version %s: stable %q, want %q", c.version, got, c.want)
		}
		if st.ObservedSpec == nil || string(st.ObservedSpec.Version) != c.version || st.ObservedSpec.Progressive != c.ro.Progressive() {
			t.Fatalf("version %s: observed %+v", c.version, st.ObservedSpec)
		}
	}
}

// The devices a step admits: online, selected, not at the new spec yet,
// within the step's target and in step 1 the canaries; those admitted
// before keep their place; none while paused.
func TestAdmitSteps(t *testing.T) {
	now := time.Now()
	a := fleet.Application{Name: "app", Version: "2", SHA256: "00", Selector: fleet.Selector{Labels: map[string]string{"role": "app"}},
		Rollout: fleet.Rollout{Strategy: fleet.RolloutAllAtOnce, Steps: []fleet.RolloutStep{{Devices: 2}, {Devices: 4}},
			Canary: map[string]string{"ring": "canary"}}}
	var devs []fleet.Device
	for _, d := range []struct {
		name   string
		canary bool
		online bool
	}{{"a", false, true}, {"b", true, true}, {"c", true, false}, {"d", true, true}, {"e", false, true}, {"f", true, true}} {
		labels := map[string]string{"role": "app"}
		if d.canary {
			labels["ring"] = "canary"
		}
		phase := fleet.PhaseOnline
		if !d.online {
			phase = fleet.PhaseOffline
		}
		devs = append(devs, fleet.Device{Name: d.name, Labels: labels, Status: fleet.DeviceStatus{Phase: phase}})
	}
	h := fleet.SpecHash(&a)
	a.Progress = &fleet.RolloutProgress{SpecHash: h, Phase: fleet.RolloutRollingOut, Step: 1, Steps: 2, Target: 2}
	// f took the spec already; d was admitted before.
	deps := []fleet.Deployment{{App: "app", Device: "f", SpecHash: h, State: "downloading"}}
	prev := &fleet.Admission{SpecHash: h, Devices: []string{"d"}}
	if got := admitSteps(&a, devs, deps, prev, now); !slices.Equal(got, []string{"d"}) {
		t.Fatalf("step 1: %v, want [d] (f took it; the target is 2; d kept its place)", got)
	}
	if got := admitSteps(&a, devs, deps, nil, now); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("step 1 without d admitted before: %v, want [b] (the first canary online by name)", got)
	}
	a.Progress.Step, a.Progress.Target = 2, 4
	if got := admitSteps(&a, devs, deps, prev, now); !slices.Equal(got, []string{"d", "a", "b"}) {
		t.Fatalf("step 2: %v, want [d a b] (c offline)", got)
	}
	a.Rollout.Strategy, a.Rollout.MaxUnavailable = fleet.RolloutBatched, 2
	if got := admitSteps(&a, devs, deps, prev, now); !slices.Equal(got, []string{"d"}) {
		t.Fatalf("step 2, batched by 2 with f in progress: %v, want [d]", got)
	}
	a.Progress.Phase = fleet.RolloutPaused
	if got := admitSteps(&a, devs, deps, prev, now); len(got) != 0 {
		t.Fatalf("paused: %v", got)
	}
}

// The heartbeat gate: a device its gateway marked offline is offline; one
// the controller marked offline because its gateway went silent is not
// judged offline (the gateway, not the device, stopped answering).
func TestHeartbeatGateIgnoresASilentGateway(t *testing.T) {
	mk := func(name, phase string, cond *metav1.Condition) *v1alpha1.Device {
		d := &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: name}}
		d.Status.Phase = v1alpha1.DevicePhase(phase)
		if cond != nil {
			d.Status.Conditions = []metav1.Condition{*cond}
		}
		return d
	}
	devs := map[string]*v1alpha1.Device{
		"up":     mk("up", fleet.PhaseOnline, nil),
		"gone":   mk("gone", fleet.PhaseOffline, &metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionFalse, Reason: "Offline"}),
		"silent": mk("silent", fleet.PhaseOffline, &metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionUnknown, Reason: reasonGatewayNotReporting}),
	}
	obs := (&applications{}).observations(devs)
	for name, want := range map[string]bool{"up": true, "gone": false, "silent": true} {
		d := kubestore.DeviceToFleet(devs[name])
		if got := obs.Online(&d); got != want {
			t.Errorf("%s: online %v for the heartbeat gate, want %v", name, got, want)
		}
	}
}
