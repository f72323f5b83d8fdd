package provider

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

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
	if _, err := b.PutApplication(ctx, "sensor", spec("1.0.0", withHealth)); status(err) != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "rollout.health") {
		t.Fatalf("health gate in Kubernetes mode: %v", err)
	}
	a, err := b.PutApplication(ctx, "sensor", spec("1.0.0", ro))
	must(err)
	want := ro
	want.SetDefaults()
	want.MaxUnavailable = 1 // the CRD's default
	if !reflect.DeepEqual(a.Rollout, want) {
		t.Fatalf("policy read back:\n got %+v\nwant %+v", a.Rollout, want)
	}
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
