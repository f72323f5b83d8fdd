package provider

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/protocol"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// The Kubernetes backend writes a progressive rollout's policy into the
// Application's spec.rollout, never its status (the controller's: the
// progress and the stable release stay through spec updates), and reads
// the progress back for waitRollout, as from the gateway's API.
func TestKubernetesBackendProgressiveRollout(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	b, err := newKubeBackend(ctx, env.UserWithRole(t, ns, "editor_role.yaml", "terraform"), ns)
	if err != nil {
		t.Fatal(err)
	}
	defer b.store.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = b.PutDevice(ctx, "dev-1", apiv1.DeviceSpec{Board: "linux", Labels: map[string]string{"role": "sensor", "ring": "canary"}})
	must(err)
	mod, err := b.UploadModule(ctx, wasmtest.App(t, "sensor"))
	must(err)
	bake, lo := 30, 1.0
	ro := fleet.Rollout{Steps: []fleet.RolloutStep{{Devices: 1}, {Percent: 12.5}, {Percent: 100}}, Canary: map[string]string{"ring": "canary"},
		BakeSeconds: &bake, StepFailures: fleet.FailureThreshold{Count: 1}, TotalFailures: fleet.FailureThreshold{Percent: 2.5},
		OnFailure: fleet.OnFailurePause}
	spec := func(version string, ro fleet.Rollout) apiv1.ApplicationSpec {
		return apiv1.ApplicationSpec{Version: version, SHA256: mod.SHA256, Selector: fleet.Selector{Labels: map[string]string{"role": "sensor"}},
			Rollout: ro}
	}
	withHealth := ro
	withHealth.Health = &fleet.HealthValue{Key: "health", Min: &lo}
	for _, ro := range []fleet.Rollout{withHealth, ro} {
		a, err := b.PutApplication(ctx, "sensor", spec("1.0.0", ro))
		must(err)
		want := ro
		want.SetDefaults()
		want.MaxUnavailable = 1 // the CRD's default
		if !reflect.DeepEqual(a.Rollout, want) {
			t.Fatalf("policy read back:\n got %+v\nwant %+v", a.Rollout, want)
		}
	}
	if _, err := b.PutApplication(ctx, "sensor", spec("1.0.0", fleet.Rollout{Steps: []fleet.RolloutStep{{Percent: 120}}})); status(err) != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "rollout.steps.0.percent: 120: at most 100") { // the API's schema, as the gateway says it
		t.Fatalf("a bad step: %v", err)
	}
	a, err := b.GetApplication(ctx, "sensor")
	must(err)
	var o v1alpha1.Application
	must(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sensor"}, &o))
	if r := o.Spec.Rollout; len(r.Steps) != 3 || r.Steps[1].Percent.String() != "12.5" || r.OnFailure != "pause" || *r.BakeSeconds != 30 ||
		r.TotalFailures.Percent.String() != "2.5" || r.Canary["ring"] != "canary" {
		t.Fatalf("spec.rollout: %+v", r)
	}

	// The controller's status: version 1.0.0 rolled back to 0.9.0.
	now := time.Now()
	p := &fleet.RolloutProgress{SpecHash: fleet.SpecHash(&a), Version: "1.0.0", Phase: fleet.RolloutRolledBack, Step: 1, Steps: 3,
		Target: 1, Selected: 1, Failed: 1, StartedAt: now, StepStartedAt: now, FinishedAt: now, RolledBackTo: "0.9.0",
		Failures: []fleet.RolloutFailure{{Device: "dev-1", Step: 1, Reason: "trapped: unreachable", Time: now, Generation: 2}},
		Reason:   "1 failed device(s) in step 1 of 3 (tolerated 0): dev-1: trapped: unreachable"}
	o.Status.Rollout = kubestore.ProgressFromFleet(p)
	o.Status.Stable = &v1alpha1.Release{Version: "0.9.0", SHA256: v1alpha1.SHA256(mod.SHA256), Fuel: 1000, Memory: 65536, TickMS: 1000}
	must(env.Client.Status().Update(ctx, &o))
	var st apiv1.ApplicationStatus
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) { // the backend's informer
		st, err = b.ApplicationStatus(ctx, "sensor")
		must(err)
		if st.Rollout != nil || time.Now().After(deadline) {
			break
		}
	}
	if st.Rollout == nil || st.Rollout.Phase != fleet.RolloutRolledBack || st.Rollout.Step != 1 || st.StableVersion != "0.9.0" ||
		len(st.Rollout.Failures) != 1 || st.Rollout.Failures[0].Device != "dev-1" {
		t.Fatalf("status: %+v, rollout %+v", st, st.Rollout)
	}
	if got, err := b.GetApplication(ctx, "sensor"); err != nil || got.Stable == nil || got.Stable.Version != "0.9.0" {
		t.Fatalf("application's stable release: %+v %v", got.Stable, err)
	}

	// A fixed version: the spec changes, the status stays.
	_, err = b.PutApplication(ctx, "sensor", spec("1.0.1", ro))
	must(err)
	must(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sensor"}, &o))
	if o.Spec.Version != "1.0.1" || o.Status.Stable == nil || o.Status.Stable.Version != "0.9.0" || o.Status.Rollout == nil ||
		o.Status.Rollout.Version != "1.0.0" {
		t.Fatalf("after a new version: spec %s, status %+v", o.Spec.Version, o.Status)
	}
}

// The same progressive rollout as TestAccApplicationProgressiveRollout, in
// Kubernetes mode: terraform writes the policy into the Application, the
// controller runs the rollout and a gateway in Kubernetes mode follows it
// to the agents. A good version completes through its steps; one that
// traps on the rev-b devices stops at step 1 and rolls back, apply failing
// with the step, the device and the reason; not tainted, the next plan
// updates from the version the devices run; a fixed version rolls out.
func TestAccKubernetesProgressiveRollout(t *testing.T) {
	f := startKubeFleet(t)
	ctx := context.Background()
	const n = 6
	revB := []string{sim.DefaultName(0), sim.DefaultName(4)} // a canary and a later device
	var names []string
	for i := range n {
		name := sim.DefaultName(i)
		names = append(names, name)
		labels := map[string]string{"role": "app"}
		if i < 2 {
			labels["ring"] = "canary"
		}
		if slices.Contains(revB, name) {
			labels["hw"] = "rev-b"
		}
		if _, err := f.backend.PutDevice(ctx, name, apiv1.DeviceSpec{Board: "linux", Labels: labels, Gateway: "gw-1"}); err != nil {
			t.Fatal(err)
		}
	}
	fl := f.startAgents(t, names...)
	for _, a := range fl.Agents() {
		if slices.Contains(revB, a.Name()) {
			a.Device().SetPin(faultPin, true)
		}
	}
	v1 := writeModule(t, "good-1", wasmtest.WAT(t, fmt.Sprintf(goodApp, 1)))
	bad := writeModule(t, "bad", wasmtest.WAT(t, wasmtest.PinTrapApp(faultPin)))
	fixed := writeModule(t, "good-3", wasmtest.WAT(t, fmt.Sprintf(goodApp, 3)))
	app := func(version, module string) string {
		return f.providerBlock() + fmt.Sprintf(`
resource "wasmbed_application" "app" {
  name        = "app"
  version     = %q
  module_path = %q
  limits      = { tick_ms = 50 }
  selector    = { labels = { role = "app" } }
  timeouts    = { create = "2m", update = "2m" }
  rollout = {
    steps        = [{ devices = 2 }, { percent = 50 }, { percent = 100, bake_seconds = 0 }]
    canary       = { ring = "canary" }
    bake_seconds = 1
    on_failure   = "rollback"
  }
}
`, version, module)
	}
	deployments := func() map[string]fleet.Deployment {
		deps, err := f.backend.Deployments(ctx, "app", "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]fleet.Deployment{}
		for _, d := range deps {
			out[d.Device] = d
		}
		return out
	}
	onAgents := func(version string) error {
		for _, a := range fl.Agents() {
			info, ok := a.Device().App("app")
			if !ok || info.Version != version || info.State != protocol.AppStateRunning {
				return fmt.Errorf("%s runs %+v (%v), want %s running", a.Name(), info, ok, version)
			}
		}
		return nil
	}
	completed := func(version, stable string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			st, err := f.backend.ApplicationStatus(ctx, "app")
			if err != nil {
				return err
			}
			if p := st.Rollout; p == nil || p.Phase != fleet.RolloutCompleted || p.Version != version || p.Steps != 3 || p.Updated != n ||
				st.StableVersion != stable {
				return fmt.Errorf("rollout of %s: %+v, stable %q", version, st.Rollout, st.StableVersion)
			}
			return onAgents(version)
		}
	}
	var first map[string]fleet.Deployment
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{
			{Config: app("1.0.0", v1), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.app", "rollout.steps.#", "3"),
				completed("1.0.0", ""),
				func(*terraform.State) error { first = deployments(); return nil },
			)},
			{Config: app("2.0.0", bad),
				ExpectError: regexp.MustCompile(`(?s)Rollout of app version 2\.0\.0 rolled back at step 1 of 3.*` +
					sim.DefaultName(0) + ` \(step 1\): trapped.*went back to version 1\.0\.0.*The state records version 1\.0\.0`)},
			{PreConfig: func() {
				if err := eventuallyTrue(30*time.Second, func() error { return onAgents("1.0.0") }); err != nil {
					t.Fatalf("after the rollback: %v", err)
				}
				canaries := []string{sim.DefaultName(0), sim.DefaultName(1)}
				for name, d := range deployments() {
					if !slices.Contains(canaries, name) && (d.Generation != first[name].Generation || d.Version != "1.0.0") {
						t.Errorf("%s never got 2.0.0 but was sent something: %+v, before %+v", name, d, first[name])
					}
				}
				var evs corev1.EventList
				if err := f.env.Client.List(ctx, &evs, client.InNamespace(f.ns)); err != nil {
					t.Fatal(err)
				}
				rolledBack := 0
				for _, e := range evs.Items {
					if e.InvolvedObject.Name == "app" && e.Reason == "RolloutRolledBack" {
						rolledBack++
					}
				}
				if rolledBack != 1 {
					t.Errorf("%d RolloutRolledBack events on the Application, want 1", rolledBack)
				}
			}, Config: app("2.0.0", bad), PlanOnly: true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPostRefresh: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction("wasmbed_application.app", plancheck.ResourceActionUpdate),
						expectPriorVersion{"wasmbed_application.app", "1.0.0", "2.0.0"}}}},
			// Applying that plan retries 2.0.0 from its first step (the
			// provider asks the controller to resume it, as with the
			// gateway's API): it rolls back again.
			{Config: app("2.0.0", bad), ExpectError: regexp.MustCompile(`(?s)Rollout of app version 2\.0\.0 rolled back at step 1 of 3.*` +
				sim.DefaultName(0) + ` \(step 1\): trapped`)},
			{PreConfig: func() {
				var evs corev1.EventList
				if err := f.env.Client.List(ctx, &evs, client.InNamespace(f.ns)); err != nil {
					t.Fatal(err)
				}
				counts := map[string]int32{}
				for _, e := range evs.Items {
					if e.InvolvedObject.Name == "app" {
						counts[e.Reason] += max(e.Count, 1)
					}
				}
				if counts["RolloutRolledBack"] != 2 || counts["RolloutResumed"] != 1 {
					t.Errorf("events %v: want 2 RolloutRolledBack (the failed update and its retry) and 1 RolloutResumed", counts)
				}
			}, Config: app("3.0.0", fixed), Check: completed("3.0.0", "1.0.0")},
		},
	})
}
