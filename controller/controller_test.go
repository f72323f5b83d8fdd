package controller_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/controller"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func logger() *slog.Logger {
	if os.Getenv("WASMBED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startController runs the controller as a user with exactly the
// permissions of config/rbac/controller_role.yaml, with leader election.
func startController(t *testing.T, env *kubetest.Env, ns string) {
	t.Helper()
	startControllerWith(t, env, ns, controller.Options{ReassignAfter: 2 * time.Second})
}

// startControllerWith is startController with options o (namespace, leader
// election and log set here).
func startControllerWith(t *testing.T, env *kubetest.Env, ns string, o controller.Options) {
	t.Helper()
	cfg := env.UserWithRole(t, ns, "controller_role.yaml", "wasmbed-controller")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o.Namespace, o.LeaderElection, o.Log = ns, true, logger()
	go func() {
		done <- controller.Run(ctx, cfg, o)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
}

func heartbeat(t *testing.T, c client.Client, ns, name string, period int32) {
	t.Helper()
	now := metav1.NowMicro()
	gw := &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	patch := fmt.Sprintf(`{"status":{"lastHeartbeatTime":%q,"heartbeatSeconds":%d}}`, now.UTC().Format(metav1.RFC3339Micro), period)
	must(t, c.Status().Patch(context.Background(), gw, client.RawPatch("application/merge-patch+json", []byte(patch))))
}

func TestAssignmentStatusAndCleanup(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	c := env.Client
	startController(t, env, ns)

	for _, gw := range []*v1alpha1.Gateway{
		{ObjectMeta: metav1.ObjectMeta{Name: "gw-a", Namespace: ns}, Spec: v1alpha1.GatewaySpec{Labels: v1alpha1.Labels{"site": "a"}, Capacity: 1}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gw-b", Namespace: ns}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gw-dead", Namespace: ns}},
	} {
		must(t, c.Create(ctx, gw))
	}
	heartbeat(t, c, ns, "gw-a", 30)
	heartbeat(t, c, ns, "gw-b", 30)
	for name, site := range map[string]string{"d1": "a", "d2": "a", "d3": "c"} {
		must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.DeviceSpec{Board: "linux", Labels: v1alpha1.Labels{"site": v1alpha1.LabelValue(site)}}}))
	}
	assigned := func() map[string]string {
		var devs v1alpha1.DeviceList
		must(t, c.List(ctx, &devs, client.InNamespace(ns)))
		out := map[string]string{}
		for _, d := range devs.Items {
			out[d.Name] = string(d.Spec.Gateway)
		}
		return out
	}
	eventually(t, "d1, d2, d3 assigned", func() bool {
		a := assigned()
		return a["d1"] != "" && a["d2"] != "" && a["d3"] != ""
	})
	a := assigned()
	if a["d3"] != "gw-b" || (a["d1"] == "gw-a") == (a["d2"] == "gw-a") || a["d1"] == "gw-dead" || a["d2"] == "gw-dead" {
		t.Fatalf("assignment by labels and capacity: %v (gw-a: site=a, capacity 1; gw-b: any; gw-dead: not reporting)", a)
	}
	// gw-a is full: the next site=a device goes to gw-b.
	must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "d4", Namespace: ns},
		Spec: v1alpha1.DeviceSpec{Board: "linux", Labels: v1alpha1.Labels{"site": "a"}}}))
	eventually(t, "d4 on gw-b", func() bool { return assigned()["d4"] == "gw-b" })
	gwStatus := func(name string) v1alpha1.GatewayStatus {
		var gw v1alpha1.Gateway
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &gw))
		return gw.Status
	}
	eventually(t, "gateway status", func() bool {
		sa, sb, sd := gwStatus("gw-a"), gwStatus("gw-b"), gwStatus("gw-dead")
		return sa.Assigned == 1 && sb.Assigned == 3 && sd.Assigned == 0 &&
			meta.IsStatusConditionTrue(sa.Conditions, "Ready") && meta.IsStatusConditionTrue(sb.Conditions, "Ready") &&
			meta.IsStatusConditionFalse(sd.Conditions, "Ready")
	})
	hasEvent(t, c, ns, "Device", "d4", "Assigned", "assigned to gateway gw-b")

	// Application status from the devices' deployment records.
	app := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Name: "sensor", Namespace: ns},
		Spec: v1alpha1.ApplicationSpec{Version: "1.0.0", SHA256: sha, Selector: v1alpha1.Selector{Labels: v1alpha1.Labels{"site": "a"}}}}
	must(t, c.Create(ctx, app))
	must(t, c.Get(ctx, client.ObjectKeyFromObject(app), app))
	fa := kubestore.ApplicationToFleet(app)
	long := time.Now().Add(-time.Hour)
	// A reason as long as a board check's: the Degraded message has it whole.
	const trap = "unreachable executed in tick at offset 0x2a1f (wasm backtrace: 0: 0x2a1f - sensor!read_sample, 1: 0x2b00 - sensor!tick), after 1532 ticks"
	record := func(device, state string, at time.Time) {
		var d v1alpha1.Device
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: device}, &d))
		d.Status.Deployments = []v1alpha1.DeploymentRecord{kubestore.DeploymentFromFleet(fleet.Deployment{App: "sensor", Device: device,
			Generation: 1, Command: "deploy", Version: "1.0.0", SHA256: sha, SpecHash: fleet.SpecHash(&fa), Running: true,
			State: state, Detail: map[bool]string{true: trap}[state == "trapped"], UpdatedAt: at})}
		must(t, c.Status().Update(ctx, &d))
	}
	record("d1", "running", long)
	record("d2", "trapped", long)
	record("d4", "downloading", time.Now())
	appStatus := func() v1alpha1.ApplicationStatus {
		var a v1alpha1.Application
		must(t, c.Get(ctx, client.ObjectKeyFromObject(app), &a))
		return a.Status
	}
	eventually(t, "1 updated, 1 failed, 1 in progress", func() bool {
		s := appStatus()
		return s.Selected == 3 && s.Updated == 1 && s.Failed == 1 && s.InProgress == 1 && !s.Converged && s.ObservedGeneration == 1
	})
	s := appStatus()
	deg := meta.FindStatusCondition(s.Conditions, "Degraded")
	if deg == nil || deg.Status != "True" || !strings.Contains(deg.Message, "d2 (trapped: "+trap+")") {
		t.Fatalf("Degraded: %+v", deg)
	}
	if !meta.IsStatusConditionTrue(s.Conditions, "Progressing") || !meta.IsStatusConditionFalse(s.Conditions, "Ready") {
		t.Fatalf("conditions: %+v", s.Conditions)
	}
	hasEvent(t, c, ns, "Application", "sensor", "DevicesFailed", "d2 (trapped")
	record("d2", "running", long)
	record("d4", "running", time.Now()) // counts once it has run for min-ready (1 s)
	eventually(t, "converged", func() bool {
		s := appStatus()
		return s.Converged && s.Updated == 3 && meta.IsStatusConditionTrue(s.Conditions, "Ready") &&
			meta.IsStatusConditionFalse(s.Conditions, "Degraded") && meta.IsStatusConditionFalse(s.Conditions, "Progressing")
	})
	hasEvent(t, c, ns, "Application", "sensor", "RolloutComplete", "version 1.0.0 runs on all 3 selected devices")

	// A gateway that stops reporting is not Ready any more; ReassignAfter
	// (2 s here) later, the devices the controller gave it move to a
	// gateway that reports in, and a device given it by name stays.
	onA := "d1"
	if a["d2"] == "gw-a" {
		onA = "d2"
	}
	must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "d5", Namespace: ns},
		Spec: v1alpha1.DeviceSpec{Board: "linux", Gateway: "gw-a", Labels: v1alpha1.Labels{"site": "a"}}}))
	heartbeat(t, c, ns, "gw-a", 1)
	eventually(t, "gw-a not Ready 3 s after its last report", func() bool {
		return meta.IsStatusConditionFalse(gwStatus("gw-a").Conditions, "Ready")
	})
	hasEvent(t, c, ns, "Gateway", "gw-a", "NotReporting", "last report at")
	eventually(t, onA+" moved off gw-a", func() bool { return assigned()[onA] == "gw-b" })
	hasEvent(t, c, ns, "Device", onA, "Reassigned", "gateway gw-a has not reported in since")
	time.Sleep(time.Second)
	if a := assigned(); a["d5"] != "gw-a" {
		t.Fatalf("d5, given gw-a by name, moved: %v", a)
	}

	// A deleted gateway's devices are assigned again.
	must(t, c.Delete(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-b", Namespace: ns}}))
	must(t, c.Create(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-c", Namespace: ns}}))
	heartbeat(t, c, ns, "gw-c", 30)
	eventually(t, "gw-b's devices on gw-c", func() bool {
		a := assigned()
		return a["d3"] == "gw-c" && a["d4"] == "gw-c"
	})

	// Enrollment tokens long expired are deleted.
	old := &v1alpha1.EnrollmentToken{ObjectMeta: metav1.ObjectMeta{Name: "00000000000000aa", Namespace: ns},
		Spec: v1alpha1.EnrollmentTokenSpec{Device: "d1", Hash: sha, ExpiresAt: metav1.NewTime(time.Now().Add(-48 * time.Hour))}}
	fresh := old.DeepCopy()
	fresh.Name, fresh.Spec.ExpiresAt = "00000000000000bb", metav1.NewTime(time.Now().Add(time.Hour))
	must(t, c.Create(ctx, old))
	must(t, c.Create(ctx, fresh))
	eventually(t, "the old token deleted", func() bool {
		var l v1alpha1.EnrollmentTokenList
		must(t, c.List(ctx, &l, client.InNamespace(ns)))
		return len(l.Items) == 1 && l.Items[0].Name == fresh.Name
	})
}

func hasEvent(t *testing.T, c client.Client, ns, kind, name, reason, msg string) {
	t.Helper()
	eventually(t, fmt.Sprintf("event %s on %s %s", reason, kind, name), func() bool {
		var evs corev1.EventList
		must(t, c.List(context.Background(), &evs, client.InNamespace(ns)))
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && e.Reason == reason && strings.Contains(e.Message, msg) {
				return true
			}
		}
		return false
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A device given by name a gateway that does not exist yet waits for it;
// the devices of a gateway that stops reporting in turn offline, Online
// Unknown, as soon as the gateway is not Ready, long before they would be
// reassigned.
func TestPinnedDeviceWaitsAndSilentGatewaysDevicesGoUnknown(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	c := env.Client
	// Reassignment far away: the devices must turn Unknown without it.
	startControllerWith(t, env, ns, controller.Options{ReassignAfter: time.Hour})
	must(t, c.Create(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-a", Namespace: ns}}))
	heartbeat(t, c, ns, "gw-a", 30)
	get := func(name string) v1alpha1.Device {
		var d v1alpha1.Device
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d))
		return d
	}

	// Pinned to gw-later, which does not exist: it stays, while a device
	// created after it is assigned (the controller has been through it).
	must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: ns},
		Spec: v1alpha1.DeviceSpec{Board: "linux", Gateway: "gw-later"}}))
	must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "free", Namespace: ns},
		Spec: v1alpha1.DeviceSpec{Board: "linux"}}))
	eventually(t, "free assigned to gw-a", func() bool { return get("free").Spec.Gateway == "gw-a" })
	heartbeat(t, c, ns, "gw-a", 30) // a Gateway change: the controller looks at the waiting devices again
	eventually(t, "gw-a Ready", func() bool {
		var gw v1alpha1.Gateway
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gw-a"}, &gw))
		return meta.IsStatusConditionTrue(gw.Status.Conditions, "Ready") && gw.Status.Assigned >= 1
	})
	if d := get("pinned"); d.Spec.Gateway != "gw-later" {
		t.Fatalf("pinned to gw-later (not there yet), moved to %q", d.Spec.Gateway)
	}
	must(t, c.Create(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-later", Namespace: ns}}))
	heartbeat(t, c, ns, "gw-later", 1)

	// pinned online on gw-later, as its gateway writes it; then gw-later
	// falls silent (it reported a 1 s period: not Ready 3 s later).
	d := get("pinned")
	d.Status.Phase = fleet.PhaseOnline
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionTrue, Reason: "Online"})
	must(t, c.Status().Update(ctx, &d))
	var notReady time.Time
	eventually(t, "gw-later not Ready (NotReporting: it reported, then stopped)", func() bool {
		var gw v1alpha1.Gateway
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gw-later"}, &gw))
		cond := meta.FindStatusCondition(gw.Status.Conditions, "Ready")
		if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != "NotReporting" {
			return false
		}
		notReady = cond.LastTransitionTime.Time
		return true
	})
	eventually(t, "pinned offline, Online Unknown", func() bool {
		d := get("pinned")
		cond := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionOnline)
		return d.Status.Phase == fleet.PhaseOffline && cond != nil && cond.Status == metav1.ConditionUnknown &&
			cond.Reason == "GatewayNotReporting" && strings.Contains(cond.Message, "gw-later")
	})
	// At once: within a second of Ready turning False (the condition's
	// time has a second's precision).
	if took := time.Since(notReady); took > 3*time.Second {
		t.Fatalf("pinned marked Unknown %v after gw-later stopped being Ready", took)
	}
	if d := get("pinned"); d.Spec.Gateway != "gw-later" {
		t.Fatalf("pinned moved to %q", d.Spec.Gateway)
	}
	hasEvent(t, c, ns, "Device", "pinned", "PinnedGatewayDown", "gateway gw-later has not reported in since")
}

// After a long API server outage the controller works again within a
// bound set by its probe and its leader election, not by client-go's
// backoff: a device created right after the outage is assigned.
func TestControllerCatchesUpAfterALongOutage(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	c := env.Client
	startController(t, env, ns)
	must(t, c.Create(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-a", Namespace: ns}}))
	heartbeat(t, c, ns, "gw-a", 30)
	assigned := func(name string) bool {
		var d v1alpha1.Device
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d) == nil && d.Spec.Gateway == "gw-a"
	}
	must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "before", Namespace: ns}, Spec: v1alpha1.DeviceSpec{Board: "linux"}}))
	eventually(t, "a device assigned before the outage", func() bool { return assigned("before") })

	env.StopAPIServer(t)
	time.Sleep(20 * time.Second) // long enough for client-go's backoff to reach tens of seconds
	env.StartAPIServer(t)
	start := time.Now()
	heartbeat(t, c, ns, "gw-a", 30)
	must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "after", Namespace: ns}, Spec: v1alpha1.DeviceSpec{Board: "linux"}}))
	// The probe finds the API server back (FollowProbe, its timeout 2 s),
	// the manager starts anew and, holding the lease under the same
	// identity, takes it at its first try (else at the next, leader
	// election's retry period of 2 s), then lists the fleet.
	bound := 4*kubestore.FollowProbe + 2*time.Second + 2*time.Second + 5*time.Second
	for !assigned("after") {
		if time.Since(start) > bound {
			t.Fatalf("a device created after the outage not assigned within %v", bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("assigned %v after the API server answered again", time.Since(start).Round(time.Millisecond))
}

// A gateway added to a fleet takes its share of the devices the controller
// assigned: offline ones first, at most RebalanceMaxMoving with a session
// on their way at once (moved, marked offline with Online Unknown
// Reassigned, until their new gateway has them online), never a pinned
// device, until the two differ by at most one.
func TestAddedGatewayTakesItsShare(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	c := env.Client
	const maxMoving = 2
	startControllerWith(t, env, ns, controller.Options{ReassignAfter: time.Hour, RebalanceEvery: time.Hour, RebalanceMaxMoving: maxMoving})
	renewed := func(gw string) {
		now := metav1.NowMicro()
		must(t, c.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: kubestore.GatewayLeaseName(gw), Namespace: ns,
			Labels: map[string]string{kubestore.LabelGateway: gw}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: new(gw), LeaseDurationSeconds: new(int32(3600)), RenewTime: &now}}))
	}
	must(t, c.Create(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-a", Namespace: ns}}))
	renewed("gw-a")
	devs := func() map[string]v1alpha1.Device {
		var l v1alpha1.DeviceList
		must(t, c.List(ctx, &l, client.InNamespace(ns)))
		out := map[string]v1alpha1.Device{}
		for _, d := range l.Items {
			out[d.Name] = d
		}
		return out
	}
	// 11 devices on gw-a, 6 of them online (as gw-a writes it), and one
	// pinned there.
	for i := range 11 {
		must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("d%02d", i), Namespace: ns},
			Spec: v1alpha1.DeviceSpec{Board: "linux"}}))
	}
	must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: ns},
		Spec: v1alpha1.DeviceSpec{Board: "linux", Gateway: "gw-a"}}))
	eventually(t, "11 devices assigned to gw-a", func() bool {
		n := 0
		for _, d := range devs() {
			if d.Spec.Gateway == "gw-a" && d.Name != "pinned" {
				n++
			}
		}
		return n == 11
	})
	online := func(name string) {
		var d v1alpha1.Device
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d))
		d.Status.Phase = fleet.PhaseOnline
		meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionTrue, Reason: "Online"})
		must(t, c.Status().Update(ctx, &d))
	}
	for i := 5; i < 11; i++ {
		online(fmt.Sprintf("d%02d", i))
	}

	// gw-b comes: its Lease alive starts a pass. Play its part: a device
	// moved to it comes online there a little later.
	must(t, c.Create(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-b", Namespace: ns}}))
	renewed("gw-b")
	deadline := time.Now().Add(60 * time.Second)
	maxOnTheWay, movedOnline := 0, 0
	for {
		onTheWay, onB, onA := 0, 0, 0
		for _, d := range devs() {
			switch d.Spec.Gateway {
			case "gw-b":
				onB++
			case "gw-a":
				onA++
			}
			cond := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionOnline)
			if cond != nil && cond.Reason == "Reassigned" && cond.Status == metav1.ConditionUnknown {
				if d.Spec.Gateway != "gw-b" || d.Status.Phase != fleet.PhaseOffline || !strings.Contains(cond.Message, "to gateway gw-b") {
					t.Fatalf("%s moved: gateway %s, phase %s, %s", d.Name, d.Spec.Gateway, d.Status.Phase, cond.Message)
				}
				onTheWay++
				movedOnline++
				online(d.Name)
			}
		}
		maxOnTheWay = max(maxOnTheWay, onTheWay)
		if onB == 6 && onA == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not rebalanced: %d on gw-a (with the pinned one), %d on gw-b", onA, onB)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if maxOnTheWay > maxMoving || movedOnline == 0 {
		t.Fatalf("%d devices with a session on their way at once (at most %d), %d moved online", maxOnTheWay, maxMoving, movedOnline)
	}
	if d := devs()["pinned"]; d.Spec.Gateway != "gw-a" {
		t.Fatalf("the pinned device moved to %s", d.Spec.Gateway)
	}
	hasEvent(t, c, ns, "Device", "d00", "Rebalanced", "moved from gateway gw-a (12 devices) to gateway gw-b (0 devices)")
	// Balanced: nothing more moves (a pass a second while devices were on
	// their way; give it a few).
	time.Sleep(3 * time.Second)
	n := 0
	for _, d := range devs() {
		if d.Spec.Gateway == "gw-b" {
			n++
		}
	}
	if n != 6 {
		t.Fatalf("after balancing, %d devices on gw-b (want 6)", n)
	}
}
