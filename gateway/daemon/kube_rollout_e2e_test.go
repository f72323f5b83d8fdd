package daemon

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/controller"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
)

// Progressive rollouts in Kubernetes mode: the rollout suite
// (rollout_suite_test.go) with the controller the one writer of their
// progress (Application status.rollout, status.stable), evaluating
// fleet's rollout logic over the Device resources the gateways keep, and
// admitting the devices each step lets take the new spec
// (status.admission); two gateways follow, the devices spread over both.
// Operators act with kubectl (the annotation
// fleet.wasmbed.dev/rollout-action, which the controller applies, records
// as an event and removes). One API server for all the scenarios, a
// namespace each.
func TestKubernetesProgressiveRollout(t *testing.T) {
	env := kubetest.Start(t)
	runRolloutSuite(t, func(t *testing.T, c rolloutFleet) (rolloutMode, *sim.Fleet) {
		return startKubeRollout(t, env, c)
	})
}

// kubeRollout is the suite's mode of one namespace.
type kubeRollout struct {
	*kubeFleet
	t              *testing.T
	ctrl           *rest.Config // the controller's user
	grace          time.Duration
	stopController func()
	kubeconfig     string // kubectl's, as an operator with the editor Role
	refused        int    // actions the controller refused
}

func startKubeRollout(t *testing.T, env *kubetest.Env, c rolloutFleet) (*kubeRollout, *sim.Fleet) {
	f := newKubeFleet(t, env)
	m := &kubeRollout{kubeFleet: f, t: t, grace: c.grace, ctrl: env.UserWithRole(t, f.ns, "controller_role.yaml", "wasmbed-controller")}
	m.startController()
	t.Cleanup(func() { m.stopController() })
	hs := []*harness{f.startKubeGateway("gw-a", t.TempDir(), ""), f.startKubeGateway("gw-b", t.TempDir(), "")}
	tokens := map[string]string{}
	for i := range c.n {
		name, labels := sim.DefaultName(i), map[string]string{"role": "app"}
		if i < c.canaries {
			labels["ring"] = "canary" // sim-00000 on gw-a, sim-00001 on gw-b
		}
		if slices.Contains(c.faulty, name) {
			labels["hw"] = "rev-b"
		}
		tokens[name] = f.device(name, "linux", []string{"gw-a", "gw-b"}[i%2], labels)
	}
	ctx := context.Background()
	root := hs[0].readFile(CACertFile)
	fl, err := sim.Start(ctx, sim.Config{Devices: c.n, Dir: t.TempDir(),
		Bundle: func(name string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: []string{hs[0].device, hs[1].device}, CARoot: root, ServerName: "127.0.0.1",
				Device: name, Token: tokens[name], Board: "linux"}, nil
		},
		Agent:  func(_ int, c *agent.Config) { c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond },
		Logger: testLogger()})
	must(t, err)
	t.Cleanup(func() { fl.Stop() })
	eventuallyWithin(t, rolloutTimeout, "all agents online", func() bool {
		devs, err := f.admin.Devices().List(ctx)
		must(t, err)
		online := 0
		for _, d := range devs {
			if d.Status.Phase == fleet.PhaseOnline {
				online++
			}
		}
		return fl.Connected() == c.n && online == c.n
	})
	for _, a := range fl.Agents() {
		if slices.Contains(c.faulty, a.Name()) {
			a.Device().SetPin(faultPin, true)
		}
	}
	return m, fl
}

// startController runs the controller under the controller Role (no
// leader election: restart starts the next at once).
func (m *kubeRollout) startController() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := controller.Options{Namespace: m.ns, RolloutOfflineGrace: m.grace, Log: testLogger()}
	go func() { done <- controller.Run(ctx, m.ctrl, o) }()
	m.stopController = func() { cancel(); <-done }
}

// put writes app's spec as the provider does: the status (progress,
// stable release) is the controller's and stays.
func (m *kubeRollout) put(version string, wasm []byte, ro fleet.Rollout) {
	m.t.Helper()
	ctx := context.Background()
	sha := sha256hex(wasm)
	must(m.t, m.admin.PutModule(ctx, sha, wasm))
	ro.Strategy = fleet.RolloutAllAtOnce
	app := fleet.Application{Name: "app", Version: version, SHA256: sha, Size: len(wasm),
		Limits:   fleet.Limits{Fuel: 1_000_000, Memory: 65536, TickMS: 50},
		Selector: fleet.Selector{Labels: map[string]string{"role": "app"}}, Running: true, Rollout: ro}
	_, err := m.admin.Applications().Update(ctx, "app", func(cur *fleet.Application) error {
		app.Stable, app.Progress = cur.Stable, cur.Progress
		*cur = app
		return nil
	})
	if errors.Is(err, fleet.ErrNotFound) {
		err = m.admin.Applications().Create(ctx, "app", app)
	}
	must(m.t, err)
}

// app reads the Application from the API server (not a cache).
func (m *kubeRollout) app() (v1alpha1.Application, fleet.Application) {
	m.t.Helper()
	var o v1alpha1.Application
	must(m.t, m.env.Client.Get(context.Background(), client.ObjectKey{Namespace: m.ns, Name: "app"}, &o))
	return o, kubestore.ApplicationToFleet(&o)
}

func (m *kubeRollout) state() rolloutState {
	o, a := m.app()
	st := rolloutState{p: a.CurrentProgress(), converged: o.Status.Converged && o.Status.ObservedGeneration == o.Generation,
		history: a.History}
	if a.Stable != nil {
		st.stable = a.Stable.Version
	}
	return st
}

// took counts the deployments at the spec, as the gateways wrote them.
func (m *kubeRollout) took() int {
	_, a := m.app()
	n := 0
	for _, d := range m.deployments() {
		if d.SpecHash == fleet.SpecHash(&a) && !d.Removing {
			n++
		}
	}
	return n
}

func (m *kubeRollout) deployments() map[string]fleet.Deployment {
	m.t.Helper()
	deps, err := m.admin.Deployments().List(context.Background())
	must(m.t, err)
	out := map[string]fleet.Deployment{}
	for _, d := range deps {
		if d.App == "app" {
			out[d.Device] = d
		}
	}
	return out
}

// appEvents lists the Kubernetes events on the Application, oldest first.
func (m *kubeRollout) appEvents() []corev1.Event {
	m.t.Helper()
	var evs corev1.EventList
	must(m.t, m.env.Client.List(context.Background(), &evs, client.InNamespace(m.ns)))
	out := slices.DeleteFunc(evs.Items, func(e corev1.Event) bool {
		return e.InvolvedObject.Kind != "Application" || e.InvolvedObject.Name != "app"
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastTimestamp.Before(&out[j].LastTimestamp) })
	return out
}

// events are the rollout events the controller recorded as Kubernetes
// events (rollout.rolled_back: reason RolloutRolledBack), one for each
// time an event was recorded (the same event again counts up). Their
// times are whole seconds: each is given its second's end.
func (m *kubeRollout) events(kind string) []fleet.Event {
	var reason strings.Builder
	for _, w := range strings.FieldsFunc(kind, func(r rune) bool { return r == '.' || r == '_' }) {
		reason.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	var out []fleet.Event
	for _, e := range m.appEvents() {
		for i := int32(0); e.Reason == reason.String() && i < max(e.Count, 1); i++ {
			out = append(out, fleet.Event{Time: e.LastTimestamp.Add(time.Second), Kind: kind, Object: "app", Message: e.Message})
		}
	}
	return out
}

// act annotates the Application with kubectl and waits until the
// controller took the annotation and recorded the action applied (an
// event naming it as the actor) or refused (RolloutActionRefused, a
// warning): an action applied twice would show in the events' counts.
func (m *kubeRollout) act(action string) (*fleet.RolloutProgress, error) {
	m.t.Helper()
	seen := map[string]int32{}
	for _, e := range m.appEvents() {
		seen[e.Name] = max(e.Count, 1)
	}
	m.kubectl("annotate", "--overwrite", "application", "app", kubestore.AnnotationRolloutAction+"="+action)
	var refusal *corev1.Event
	applied := false
	eventuallyWithin(m.t, rolloutTimeout, action+" applied or refused", func() bool {
		for _, e := range m.appEvents() {
			if max(e.Count, 1) == seen[e.Name] {
				continue
			}
			if e.Reason == "RolloutActionRefused" {
				refusal = &e
			}
			applied = applied || strings.Contains(e.Message, "(by "+m.actor()+")")
		}
		o, _ := m.app()
		_, left := o.Annotations[kubestore.AnnotationRolloutAction]
		return !left && (applied || refusal != nil)
	})
	if refusal != nil {
		if m.refused++; refusal.Type != corev1.EventTypeWarning {
			m.t.Errorf("refusal event: %s %q", refusal.Type, refusal.Message)
		}
		return nil, errors.New(refusal.Message)
	}
	_, a := m.app()
	return a.CurrentProgress(), nil
}

func (m *kubeRollout) actor() string { return "annotation " + kubestore.AnnotationRolloutAction }

// kubectl runs bin/kubectl as an operator with the editor Role.
func (m *kubeRollout) kubectl(args ...string) string {
	m.t.Helper()
	if m.kubeconfig == "" {
		m.kubeconfig = m.env.Kubeconfig(m.t, m.env.UserWithRole(m.t, m.ns, "editor_role.yaml", "operator"), m.ns)
	}
	out, err := exec.Command(filepath.Join(m.env.Assets, "kubectl"), append([]string{"--kubeconfig", m.kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (m *kubeRollout) restart() {
	m.stopController()
	m.startController()
}

// revoke records the revocation in Kubernetes; the device's gateway drops
// its session when it learns of it.
func (m *kubeRollout) revoke(device string) time.Time {
	must(m.t, m.env.Client.Create(context.Background(), &v1alpha1.CertificateRevocation{
		ObjectMeta: metav1.ObjectMeta{Name: m.get(device).Status.CertSerial, Namespace: m.ns},
		Spec:       v1alpha1.CertificateRevocationSpec{Device: v1alpha1.Name(device), Reason: "test: the device goes silent", RevokedAt: metav1.Now()}}))
	return time.Time{}
}

func (m *kubeRollout) device(name string) fleet.Device { return m.get(name) }

func (m *kubeRollout) check(at checkpoint) {
	t := m.t
	switch at {
	case rolledBack:
		for _, e := range m.appEvents() {
			if e.Reason == "RolloutRolledBack" && e.Type != corev1.EventTypeWarning {
				t.Errorf("rolled_back event: %s %q", e.Type, e.Message)
			}
		}
		if o, _ := m.app(); o.Status.Rollout == nil || o.Status.Rollout.Phase != "rolled_back" || o.Status.Stable == nil || o.Status.Stable.Version != "1.0.0" {
			t.Errorf("Application status: %+v", o.Status)
		}
		if out := m.kubectl("get", "application", "app", "-o", "wide"); !strings.Contains(out, "rolled_back") || !strings.Contains(out, "1.0.0") {
			t.Errorf("kubectl get application -o wide:\n%s", out)
		} else {
			t.Logf("kubectl get application -o wide:\n%s", out)
		}
	case paused:
		if o, _ := m.app(); o.Status.Admission != nil && len(o.Status.Admission.Devices) > 0 {
			t.Errorf("paused, yet devices admitted: %+v", o.Status.Admission)
		}
	case actionsDone:
		refusals := 0
		for _, e := range m.appEvents() {
			if e.Reason == "RolloutActionRefused" {
				refusals += int(max(e.Count, 1))
			}
		}
		if refusals != m.refused {
			t.Errorf("%d RolloutActionRefused events, want the %d refusals", refusals, m.refused)
		}
	case healthy:
		// The gateways bring the values apps publish under the gate's key
		// to the Device resources (status.healthValues: on a change of
		// range, a new version, and every quarter of the max age), the
		// controller judges them.
		var dev v1alpha1.Device
		must(t, m.env.Client.Get(context.Background(), client.ObjectKey{Namespace: m.ns, Name: sim.DefaultName(3)}, &dev))
		if v, _, _, ok := kubestore.HealthValueOf(&dev, "app", "health"); !ok || v != 1 {
			t.Errorf("%s status.healthValues: %+v", dev.Name, dev.Status.HealthValues)
		}
	}
}
