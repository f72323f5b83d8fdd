package daemon

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/cmd/wasmbed-controller/controller"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// Progressive rollouts in Kubernetes mode: the controller is the one
// writer of their progress (Application status.rollout, status.stable),
// evaluating fleet's rollout logic over the Device resources the gateways
// keep, and admits the devices each step lets take the new spec
// (status.admission); the gateways follow. Same outcomes as the
// standalone gateway's tests (rollout_e2e_test.go), with the devices
// spread over two gateways.

// startKubeAgents starts the agents of the devices registered with
// tokens (names sim.DefaultName(i)), dialling every gateway of hs, and
// waits until all are online in their Device resources.
func (f *kubeFleet) startKubeAgents(tokens map[string]string, hs []*harness, faulty ...string) *sim.Fleet {
	t := f.t
	t.Helper()
	ctx := context.Background()
	var addrs []string
	for _, h := range hs {
		addrs = append(addrs, h.device)
	}
	root := hs[0].readFile(CACertFile)
	fl, err := sim.Start(ctx, sim.Config{Devices: len(tokens), Dir: t.TempDir(),
		Bundle: func(name string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: addrs, CARoot: root, ServerName: "127.0.0.1",
				Device: name, Token: tokens[name], Board: "linux"}, nil
		},
		Agent:  func(_ int, c *agent.Config) { c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond },
		Logger: testLogger()})
	must(t, err)
	t.Cleanup(func() { fl.Stop() })
	eventuallyWithin(t, time.Minute, "all agents online", func() bool {
		devs, err := f.admin.Devices().List(ctx)
		must(t, err)
		k := 0
		for _, d := range devs {
			if d.Status.Phase == fleet.PhaseOnline {
				k++
			}
		}
		return fl.Connected() == len(tokens) && k == len(tokens)
	})
	for _, a := range fl.Agents() {
		if slices.Contains(faulty, a.Name()) {
			a.Device().SetPin(faultPin, true)
		}
	}
	return fl
}

// putSpec writes app's spec as the provider does: the status (progress,
// stable release) is the controller's and stays.
func (f *kubeFleet) putSpec(name, version string, wasm []byte, ro fleet.Rollout) {
	f.t.Helper()
	ctx := context.Background()
	sha := sha256hex(wasm)
	must(f.t, f.admin.PutModule(ctx, sha, wasm))
	app := fleet.Application{Name: name, Version: version, SHA256: sha, Size: len(wasm),
		Limits:   fleet.Limits{Fuel: 1_000_000, Memory: 65536, TickMS: 50},
		Selector: fleet.Selector{Labels: map[string]string{"role": "app"}}, Running: true, Rollout: ro}
	_, err := f.admin.Applications().Update(ctx, name, func(cur *fleet.Application) error {
		app.Stable, app.Progress = cur.Stable, cur.Progress
		*cur = app
		return nil
	})
	if errors.Is(err, fleet.ErrNotFound) {
		err = f.admin.Applications().Create(ctx, name, app)
	}
	must(f.t, err)
}

// app reads the Application from the API server (not a cache).
func (f *kubeFleet) app(name string) (v1alpha1.Application, fleet.Application) {
	f.t.Helper()
	var o v1alpha1.Application
	must(f.t, f.env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, &o))
	return o, kubestore.ApplicationToFleet(&o)
}

// waitProgress polls the Application until cond holds of its current
// rollout's progress.
func (f *kubeFleet) waitProgress(name, what string, cond func(a *fleet.Application, p *fleet.RolloutProgress) bool) fleet.Application {
	f.t.Helper()
	var a fleet.Application
	eventuallyWithin(f.t, time.Minute, name+": "+what, func() bool {
		_, a = f.app(name)
		p := a.CurrentProgress()
		return p != nil && cond(&a, p)
	})
	return a
}

// deploymentsOf maps each device to its deployment of app.
func (f *kubeFleet) deploymentsOf(app string) map[string]fleet.Deployment {
	f.t.Helper()
	deps, err := f.admin.Deployments().List(context.Background())
	must(f.t, err)
	out := map[string]fleet.Deployment{}
	for _, d := range deps {
		if d.App == app {
			out[d.Device] = d
		}
	}
	return out
}

// appEvents lists the Kubernetes events on Application name, by reason.
func (f *kubeFleet) appEvents(name string) map[string][]corev1.Event {
	f.t.Helper()
	var evs corev1.EventList
	must(f.t, f.env.Client.List(context.Background(), &evs, client.InNamespace(f.ns)))
	out := map[string][]corev1.Event{}
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == "Application" && e.InvolvedObject.Name == name {
			out[e.Reason] = append(out[e.Reason], e)
		}
	}
	return out
}

// operators holds, per fleet, the kubeconfig of an operator bound to
// config/rbac/editor_role.yaml.
var operators sync.Map // *kubeFleet -> string

// kubectl runs bin/kubectl as an operator with the editor Role.
func (f *kubeFleet) kubectl(args ...string) string {
	f.t.Helper()
	kc, ok := operators.Load(f)
	if !ok {
		kc = f.env.Kubeconfig(f.t, f.env.UserWithRole(f.t, f.ns, "editor_role.yaml", "operator"), f.ns)
		operators.Store(f, kc)
		f.t.Cleanup(func() { operators.Delete(f) })
	}
	out, err := exec.Command(filepath.Join(f.env.Assets, "kubectl"), append([]string{"--kubeconfig", kc.(string)}, args...)...).CombinedOutput()
	if err != nil {
		f.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// annotate asks the controller for a rollout action, with
// `kubectl annotate application NAME fleet.wasmbed.dev/rollout-action=ACTION`.
func (f *kubeFleet) annotate(name, action string) {
	f.t.Helper()
	f.kubectl("annotate", "--overwrite", "application", name, kubestore.AnnotationRolloutAction+"="+action)
}

// A good version goes through every step (the canaries on both gateways
// first), never more devices at it than the step allows; a version that
// traps on the devices of one hardware revision stops at its first step
// and rolls back: the canaries run the good version again, the devices
// that never got the bad one were sent nothing, the status says
// rolled_back with the step, the failing device and its reason, and
// events are recorded.
func TestKubernetesProgressiveRolloutRollsBackOnlyTheCanaries(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	f.runController()
	hs := []*harness{f.startKubeGateway("gw-a", t.TempDir(), ""), f.startKubeGateway("gw-b", t.TempDir(), "")}
	const n = 6
	faulty := []string{sim.DefaultName(0), sim.DefaultName(4)} // a canary (on gw-a) and a later device
	tokens := map[string]string{}
	for i := range n {
		labels := map[string]string{"role": "app"}
		if i < 2 {
			labels["ring"] = "canary" // sim-00000 on gw-a, sim-00001 on gw-b
		}
		if slices.Contains(faulty, sim.DefaultName(i)) {
			labels["hw"] = "rev-b"
		}
		tokens[sim.DefaultName(i)] = f.device(sim.DefaultName(i), "linux", []string{"gw-a", "gw-b"}[i%2], labels)
	}
	fl := f.startKubeAgents(tokens, hs, faulty...)
	good, bad := wasmtest.App(t, "sensor"), wasmtest.WAT(t, gpioTrapApp)
	bake := 1
	ro := fleet.Rollout{Strategy: fleet.RolloutAllAtOnce, Steps: []fleet.RolloutStep{{Devices: 2}, {Percent: 50}, {Percent: 100}},
		Canary: map[string]string{"ring": "canary"}, BakeSeconds: &bake, OnFailure: fleet.OnFailureRollback}

	start := time.Now()
	f.putSpec("app", "1.0.0", good, ro)
	var bakes []fleet.RolloutProgress
	a := f.waitProgress("app", "first version completed", func(a *fleet.Application, p *fleet.RolloutProgress) bool {
		if !p.BakeUntil.IsZero() && (len(bakes) == 0 || bakes[len(bakes)-1].Step != p.Step) {
			bakes = append(bakes, *p)
		}
		took := 0
		for _, d := range f.deploymentsOf("app") {
			if d.SpecHash == fleet.SpecHash(a) && !d.Removing {
				took++
			}
		}
		if p.Active() && took > p.Target {
			t.Fatalf("step %d of %d: %d devices took the version, the step allows %d", p.Step, p.Steps, took, p.Target)
		}
		return p.Phase == fleet.RolloutCompleted
	})
	t.Logf("1.0.0 through 3 steps (bake %ds) on %d devices behind 2 gateways in %v", bake, n, time.Since(start).Round(time.Millisecond))
	if p := a.Progress; p.Steps != 3 || p.Step != 3 || p.Updated != n || p.Failed != 0 || a.Stable != nil {
		t.Fatalf("completed: %+v, stable %+v", p, a.Stable)
	}
	if len(bakes) == 0 || bakes[0].Step != 1 || bakes[0].Target != 2 {
		t.Fatalf("step 1 (the canaries) not seen baking: %+v", bakes)
	}
	f.waitRunning("app", "1.0.0", n)
	eventuallyWithin(t, 30*time.Second, "events RolloutStep x2 and RolloutCompleted", func() bool {
		evs := f.appEvents("app")
		return len(evs["RolloutStep"]) == 2 && len(evs["RolloutCompleted"]) == 1
	})
	first := f.deploymentsOf("app")

	// Version 2 traps on rev-b devices: sim-00000, a canary, fails in step 1.
	start = time.Now()
	f.putSpec("app", "2.0.0", bad, ro)
	a = f.waitProgress("app", "version 2 rolled back", func(a *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Version == "2.0.0" && p.Phase == fleet.RolloutRolledBack
	})
	halted := time.Since(start)
	p := a.Progress
	if p.Step != 1 || p.RolledBackTo != "1.0.0" || a.Stable == nil || a.Stable.Version != "1.0.0" || len(p.Failures) != 1 ||
		p.Failures[0].Device != sim.DefaultName(0) || !strings.HasPrefix(p.Failures[0].Reason, "trapped") ||
		!strings.Contains(p.Reason, sim.DefaultName(0)) {
		t.Fatalf("rolled back: %+v, stable %+v", p, a.Stable)
	}
	canaries := []string{sim.DefaultName(0), sim.DefaultName(1)}
	eventuallyWithin(t, 30*time.Second, "the canaries running 1.0.0 again", func() bool {
		deps := f.deploymentsOf("app")
		for _, c := range canaries {
			if d := deps[c]; d.Version != "1.0.0" || d.State != "running" {
				return false
			}
			if v, s := onAgent(t, fl, c, "app"); v != "1.0.0" || s != protocol.AppStateRunning {
				return false
			}
		}
		return true
	})
	t.Logf("2.0.0 halted %v after it was written, canaries back on 1.0.0 after %v", halted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	after := f.deploymentsOf("app")
	for name, d := range after {
		if slices.Contains(canaries, name) {
			if d.Generation > first[name].Generation+2 {
				t.Errorf("%s: generation %d after %d: more than a deploy and its rollback", name, d.Generation, first[name].Generation)
			}
			continue
		}
		if d.Generation != first[name].Generation || d.Version != "1.0.0" {
			t.Errorf("%s never got version 2 but was sent something: %+v, before %+v", name, d, first[name])
		}
		if v, s := onAgent(t, fl, name, "app"); v != "1.0.0" || s != protocol.AppStateRunning {
			t.Errorf("%s runs %s %v", name, v, s)
		}
	}
	if took := after[sim.DefaultName(0)].Generation - first[sim.DefaultName(0)].Generation; took != 2 {
		t.Errorf("the faulty canary: %d commands, want the deploy of 2 and the rollback", took)
	}
	eventuallyWithin(t, 30*time.Second, "events RolloutFailure and RolloutRolledBack", func() bool {
		evs := f.appEvents("app")
		return len(evs["RolloutFailure"]) == 1 && len(evs["RolloutRolledBack"]) == 1
	})
	rb := f.appEvents("app")["RolloutRolledBack"][0]
	if rb.Type != corev1.EventTypeWarning || !strings.Contains(rb.Message, "step 1 of 3") || !strings.Contains(rb.Message, sim.DefaultName(0)) {
		t.Errorf("rolled_back event: %s %q", rb.Type, rb.Message)
	}
	o, _ := f.app("app")
	if o.Status.Rollout == nil || o.Status.Rollout.Phase != "rolled_back" || o.Status.Stable == nil || o.Status.Stable.Version != "1.0.0" {
		t.Errorf("Application status: %+v", o.Status)
	}
	if out := f.kubectl("get", "application", "app", "-o", "wide"); !strings.Contains(out, "rolled_back") || !strings.Contains(out, "1.0.0") {
		t.Errorf("kubectl get application -o wide:\n%s", out)
	} else {
		t.Logf("kubectl get application -o wide:\n%s", out)
	}

	// It stays rolled back; a fixed version rolls out again.
	f.putSpec("app", "2.0.1", good, ro)
	a = f.waitProgress("app", "the fix completed", func(a *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Version == "2.0.1" && p.Phase == fleet.RolloutCompleted
	})
	if a.Stable == nil || a.Stable.Version != "1.0.0" {
		t.Fatalf("the fix: stable %+v", a.Stable)
	}
	f.waitRunning("app", "2.0.1", n)
}

// The operators' actions through kubectl: the annotation
// fleet.wasmbed.dev/rollout-action on the Application, which the
// controller applies, records as an event and removes. promote skips a
// step's bake, pause stops admitting devices, resume goes on, abort rolls
// back; an action the phase does not allow is refused with a warning.
func TestKubernetesProgressiveRolloutActions(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	f.runController()
	h := f.startKubeGateway("gw-a", t.TempDir(), "")
	const n = 4
	tokens := map[string]string{}
	for i := range n {
		tokens[sim.DefaultName(i)] = f.device(sim.DefaultName(i), "linux", "gw-a", map[string]string{"role": "app"})
	}
	fl := f.startKubeAgents(tokens, []*harness{h})
	v1 := wasmtest.App(t, "sensor")
	v2 := v1              // the same module: a new version is a new spec
	zero, long := 0, 3600 // a bake that never ends in this test: only a promote moves on
	ro := fleet.Rollout{Strategy: fleet.RolloutAllAtOnce, Steps: []fleet.RolloutStep{{Devices: 1}, {Percent: 50}},
		BakeSeconds: &zero, OnFailure: fleet.OnFailureRollback}
	f.putSpec("app", "1.0.0", v1, ro)
	f.waitProgress("app", "1.0.0 completed", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutCompleted
	})
	f.waitRunning("app", "1.0.0", n)

	ro.BakeSeconds = &long
	f.putSpec("app", "2.0.0", v2, ro)
	f.waitProgress("app", "step 1 baking", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Step == 1 && !p.BakeUntil.IsZero() && p.Updated == 1
	})
	acted := func(action, reason string) {
		t.Helper()
		eventuallyWithin(t, 30*time.Second, action+": annotation consumed and event "+reason, func() bool {
			o, _ := f.app("app")
			_, left := o.Annotations[kubestore.AnnotationRolloutAction]
			return !left && len(f.appEvents("app")[reason]) > 0
		})
	}

	f.annotate("app", "promote")
	f.waitProgress("app", "promoted to step 2", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Step == 2 && p.Phase == fleet.RolloutRollingOut
	})
	acted("promote", "RolloutStep")
	f.waitProgress("app", "step 2 baking", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Step == 2 && !p.BakeUntil.IsZero() && p.Updated == 2
	})

	f.annotate("app", "pause")
	a := f.waitProgress("app", "paused", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutPaused
	})
	if !strings.Contains(a.Progress.Reason, "paused (by annotation "+kubestore.AnnotationRolloutAction+")") {
		t.Errorf("pause reason: %q", a.Progress.Reason)
	}
	acted("pause", "RolloutPaused")
	if o, _ := f.app("app"); o.Status.Admission != nil && len(o.Status.Admission.Devices) > 0 {
		t.Errorf("paused, yet devices admitted: %+v", o.Status.Admission)
	}
	f.annotate("app", "resume")
	f.waitProgress("app", "resumed", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutRollingOut && p.Step == 2
	})
	acted("resume", "RolloutResumed")

	f.annotate("app", "abort")
	a = f.waitProgress("app", "aborted", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutRolledBack
	})
	if a.Progress.RolledBackTo != "1.0.0" || !strings.Contains(a.Progress.Reason, "aborted") {
		t.Errorf("aborted: %+v", a.Progress)
	}
	acted("abort", "RolloutRolledBack")
	eventuallyWithin(t, 30*time.Second, "every device on 1.0.0 again", func() bool {
		deps := f.deploymentsOf("app")
		for i := range n {
			name := sim.DefaultName(i)
			if d := deps[name]; d.Version != "1.0.0" || d.State != "running" {
				return false
			}
			if v, s := onAgent(t, fl, name, "app"); v != "1.0.0" || s != protocol.AppStateRunning {
				return false
			}
		}
		return true
	})

	// Not allowed once rolled back: refused, with a warning, and removed.
	f.annotate("app", "pause")
	acted("refused pause", "RolloutActionRefused")
	if ev := f.appEvents("app")["RolloutActionRefused"][0]; ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, "rolled_back") {
		t.Errorf("refusal event: %s %q", ev.Type, ev.Message)
	}
	// Resume of a rolled-back rollout starts it again from step 1.
	f.annotate("app", "resume")
	f.waitProgress("app", "restarted at step 1", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutRollingOut && p.Step == 1
	})
	// Each action was applied once: one event each (an identical event
	// recorded again counts up), and one refusal, the one asked for.
	want := map[string]int32{"RolloutActionRefused": 1, "RolloutPaused": 1, "RolloutRolledBack": 1, "RolloutResumed": 2}
	got := map[string]int32{}
	eventuallyWithin(t, 30*time.Second, "the events of the actions", func() bool {
		clear(got)
		for reason, evs := range f.appEvents("app") {
			for _, e := range evs {
				got[reason] += max(e.Count, 1)
			}
		}
		return got["RolloutResumed"] == want["RolloutResumed"]
	})
	// (A duplicate comes from a pass on a cache that has not seen the
	// annotation removed yet: within moments of the action, long before
	// the next action's event.)
	for reason, n := range want {
		if got[reason] != n {
			t.Errorf("%d %s events, want %d (all: %v)", got[reason], reason, n, got)
		}
	}
}

// The app-level gate in Kubernetes mode: the gateways bring the values
// apps publish under the gate's key to the Device resources
// (status.healthValues: on a change of range, a new version, and every
// quarter of the max age), the controller judges them. A version whose
// value is below the minimum on a faulty canary, and one that stops
// publishing it, are rolled back at their first step; a healthy one goes
// through.
func TestKubernetesProgressiveRolloutHealthValue(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	f.runController()
	hs := []*harness{f.startKubeGateway("gw-a", t.TempDir(), ""), f.startKubeGateway("gw-b", t.TempDir(), "")}
	const n = 4
	tokens := map[string]string{}
	for i := range n {
		labels := map[string]string{"role": "app"}
		if i < 2 {
			labels["ring"] = "canary"
		}
		tokens[sim.DefaultName(i)] = f.device(sim.DefaultName(i), "linux", []string{"gw-a", "gw-b"}[i%2], labels)
	}
	fl := f.startKubeAgents(tokens, hs, sim.DefaultName(0))
	bake, one := bakeForSilentHealth, 1.0
	ro := fleet.Rollout{Strategy: fleet.RolloutAllAtOnce, Steps: []fleet.RolloutStep{{Devices: 2}, {Percent: 100}},
		Canary: map[string]string{"ring": "canary"}, BakeSeconds: &bake, OnFailure: fleet.OnFailureRollback,
		Health: &fleet.HealthValue{Key: "health", Min: &one, MaxAgeSeconds: 1}}
	f.putSpec("app", "1", wasmtest.WAT(t, healthApp(false, 0)), ro)
	f.waitProgress("app", "healthy version completed", func(a *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutCompleted
	})
	f.waitRunning("app", "1", n)
	var dev v1alpha1.Device
	must(t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: sim.DefaultName(3)}, &dev))
	if v, _, _, ok := kubestore.HealthValueOf(&dev, "app", "health"); !ok || v != 1 {
		t.Errorf("%s status.healthValues: %+v", dev.Name, dev.Status.HealthValues)
	}
	first := f.deploymentsOf("app")

	for _, c := range []struct {
		version, src, reason string
		device               string // the failing device, "" for any canary
	}{
		{"2", healthApp(true, 0), "health = 0, below 1", sim.DefaultName(0)},
		{"3", healthApp(false, 10), "stopped publishing health", ""},
	} {
		f.putSpec("app", c.version, wasmtest.WAT(t, c.src), ro)
		a := f.waitProgress("app", "version "+c.version+" rolled back", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
			return p.Version == c.version && p.Phase == fleet.RolloutRolledBack
		})
		p := a.Progress
		if p.Step != 1 || p.RolledBackTo != "1" || len(p.Failures) == 0 || !strings.HasPrefix(p.Failures[0].Reason, c.reason) ||
			c.device != "" && p.Failures[0].Device != c.device {
			t.Fatalf("version %s: %+v", c.version, p)
		}
		eventuallyWithin(t, 30*time.Second, "every device running version 1 after "+c.version, func() bool {
			for name, d := range f.deploymentsOf("app") {
				if v, s := onAgent(t, fl, name, "app"); d.Version != "1" || d.State != "running" || v != "1" || s != protocol.AppStateRunning {
					return false
				}
			}
			return true
		})
		for name, d := range f.deploymentsOf("app") {
			if name != sim.DefaultName(0) && name != sim.DefaultName(1) && d.Generation != first[name].Generation {
				t.Errorf("version %s: %s is no canary and was sent something: %+v", c.version, name, d)
			}
		}
	}
}

// runControllerWith runs the controller (leader election on, under the
// controller Role) with tuned options, restarting it when it exits.
func (f *kubeFleet) runControllerWith(tune func(*controller.Options)) {
	t := f.t
	cfg := f.env.UserWithRole(t, f.ns, "controller_role.yaml", "wasmbed-controller")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			o := controller.Options{Namespace: f.ns, LeaderElection: true, Log: testLogger()}
			tune(&o)
			if err := controller.Run(ctx, cfg, o); ctx.Err() == nil {
				t.Logf("controller exited (%v); restarting it", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// The heartbeat gate in Kubernetes mode: a canary that loses its session
// during the bake (its certificate revoked in Kubernetes: it cannot come
// back) fails once the controller's offline grace has passed since its
// gateway last heard it, and the rollout rolls back.
func TestKubernetesProgressiveRolloutDeviceGoesSilent(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	const grace = 2 * time.Second
	f.runControllerWith(func(o *controller.Options) { o.RolloutOfflineGrace = grace })
	hs := []*harness{f.startKubeGateway("gw-a", t.TempDir(), ""), f.startKubeGateway("gw-b", t.TempDir(), "")}
	const n = 4
	tokens := map[string]string{}
	for i := range n {
		labels := map[string]string{"role": "app"}
		if i < 2 {
			labels["ring"] = "canary"
		}
		tokens[sim.DefaultName(i)] = f.device(sim.DefaultName(i), "linux", []string{"gw-a", "gw-b"}[i%2], labels)
	}
	fl := f.startKubeAgents(tokens, hs)
	zero, long := 0, 3600
	ro := fleet.Rollout{Strategy: fleet.RolloutAllAtOnce, Steps: []fleet.RolloutStep{{Devices: 2}}, Canary: map[string]string{"ring": "canary"},
		BakeSeconds: &zero, OnFailure: fleet.OnFailureRollback}
	sensor := wasmtest.App(t, "sensor")
	f.putSpec("app", "1", sensor, ro)
	f.waitProgress("app", "version 1 completed", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutCompleted
	})
	f.waitRunning("app", "1", n)
	first := f.deploymentsOf("app")
	ro.BakeSeconds = &long
	f.putSpec("app", "2", sensor, ro)
	f.waitProgress("app", "the canaries baking", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return !p.BakeUntil.IsZero() && p.Updated == 2
	})
	silent := sim.DefaultName(0)
	must(t, env.Client.Create(context.Background(), &v1alpha1.CertificateRevocation{
		ObjectMeta: metav1.ObjectMeta{Name: f.get(silent).Status.CertSerial, Namespace: f.ns},
		Spec:       v1alpha1.CertificateRevocationSpec{Device: v1alpha1.Name(silent), Reason: "test: the device goes silent", RevokedAt: metav1.Now()}}))
	a := f.waitProgress("app", "rolled back", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutRolledBack
	})
	p := a.Progress
	if len(p.Failures) != 1 || p.Failures[0].Device != silent || !strings.HasPrefix(p.Failures[0].Reason, "stopped heartbeating") {
		t.Fatalf("rolled back: %+v", p)
	}
	// Not before the grace from when its gateway last heard it.
	dev := f.get(silent)
	if off := p.Failures[0].Time.Sub(dev.Status.LastSeen); off < grace {
		t.Fatalf("failed %s after it was last heard (%v), within the grace %s", off, dev.Status.LastSeen, grace)
	}
	other := sim.DefaultName(1)
	eventuallyWithin(t, 30*time.Second, other+" running version 1 again", func() bool {
		d := f.deploymentsOf("app")[other]
		v, s := onAgent(t, fl, other, "app")
		return d.Version == "1" && d.State == "running" && v == "1" && s == protocol.AppStateRunning
	})
	for name, d := range f.deploymentsOf("app") {
		if name != silent && name != other && d.Generation != first[name].Generation {
			t.Errorf("%s is no canary and was sent something: %+v", name, d)
		}
	}
}

// The controller restarted during a step's bake goes on from the progress
// in the Application's status: the bake ends when it would have, the
// devices are no failures, and the rollout completes.
func TestKubernetesProgressiveRolloutSurvivesControllerRestart(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	cfg := env.UserWithRole(t, f.ns, "controller_role.yaml", "wasmbed-controller")
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- controller.Run(ctx, cfg, controller.Options{Namespace: f.ns, Log: testLogger()}) }()
		return func() { cancel(); <-done }
	}
	stop := start()
	h := f.startKubeGateway("gw-a", t.TempDir(), "")
	const n = 4
	tokens := map[string]string{}
	for i := range n {
		tokens[sim.DefaultName(i)] = f.device(sim.DefaultName(i), "linux", "gw-a", map[string]string{"role": "app"})
	}
	f.startKubeAgents(tokens, []*harness{h})
	zero, bake := 0, 3
	ro := fleet.Rollout{Strategy: fleet.RolloutAllAtOnce, Steps: []fleet.RolloutStep{{Devices: 1}, {Percent: 100}}, BakeSeconds: &zero}
	sensor := wasmtest.App(t, "sensor")
	f.putSpec("app", "1", sensor, ro)
	f.waitProgress("app", "version 1 completed", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutCompleted
	})
	ro.BakeSeconds = &bake
	f.putSpec("app", "2", sensor, ro)
	a := f.waitProgress("app", "step 1 baking", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Step == 1 && !p.BakeUntil.IsZero()
	})
	bakeUntil := a.Progress.BakeUntil
	stop()
	stop = start()
	defer func() { stop() }()
	a = f.waitProgress("app", "version 2 completed", func(_ *fleet.Application, p *fleet.RolloutProgress) bool {
		return p.Phase == fleet.RolloutCompleted
	})
	if p := a.Progress; p.Failed != 0 || len(p.Failures) != 0 || p.Updated != n {
		t.Fatalf("after the restart: %+v", p)
	}
	if a.Progress.StepStartedAt.Before(bakeUntil) {
		t.Fatalf("step 2 started at %v, before step 1's bake ended (%v)", a.Progress.StepStartedAt, bakeUntil)
	}
	f.waitRunning("app", "2", n)
}
