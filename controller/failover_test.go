package controller

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

func lease(gw string, renew time.Time, dur int32) *coordinationv1.Lease {
	t := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: kubestore.GatewayLeaseName(gw), Labels: map[string]string{kubestore.LabelGateway: gw}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: new(gw + "_host_1"), LeaseDurationSeconds: new(dur), RenewTime: &t}}
}

// A gateway's life by its Lease, on the controller's clock: a renewal seen
// keeps it alive for the lease duration from when it was seen (whatever
// the renewTime says: no clock comparison), it expires without one, and
// comes back with the next. gw-b renews every second meanwhile: the
// controller's view works.
func TestLeaseLiveness(t *testing.T) {
	tr := newLeases("ns")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gw := &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-a"}}
	at := func(d time.Duration) time.Time {
		for s := time.Duration(0); s <= d; s += time.Second { // gw-b's renewals up to then
			tr.observe("gw-b", lease("gw-b", t0.Add(s), 6), t0.Add(s))
		}
		return t0.Add(d)
	}
	skewed := t0.Add(-time.Hour) // gw-a's clock is an hour behind
	if live, left, changed := tr.observe("gw-a", lease("gw-a", skewed, 6), at(0)); !live || left != 6*time.Second || !changed {
		t.Fatalf("first sight: live %v, left %v, changed %v", live, left, changed)
	}
	// The same renewal seen again 4 s later: 2 s left.
	if live, left, changed := tr.observe("gw-a", lease("gw-a", skewed, 6), at(4*time.Second)); !live || left != 2*time.Second || changed {
		t.Fatalf("no renewal: live %v, left %v, changed %v", live, left, changed)
	}
	if l := tr.of(gw, at(5*time.Second)); !l.Lease || !l.Live || l.Left != time.Second {
		t.Fatalf("at 5 s: %+v", l)
	}
	// No renewal for the duration: expired.
	if l := tr.of(gw, at(6*time.Second)); !l.Lease || l.Live {
		t.Fatalf("at 6 s: %+v", l)
	}
	if live, left, changed := tr.observe("gw-a", lease("gw-a", skewed, 6), at(7*time.Second)); live || left != -time.Second || !changed {
		t.Fatalf("expired: live %v, left %v, changed %v", live, left, changed)
	}
	// Renewed again: alive for a duration from then.
	if live, left, changed := tr.observe("gw-a", lease("gw-a", skewed.Add(time.Second), 6), at(8*time.Second)); !live || left != 6*time.Second || !changed {
		t.Fatalf("renewed: live %v, left %v, changed %v", live, left, changed)
	}
	// Its Lease deleted: judged by its status heartbeat again.
	if !tr.forget("gw-a") {
		t.Fatal("forget: not tracked")
	}
	if l := tr.of(gw, at(8*time.Second)); l.Lease || l.Live {
		t.Fatalf("without a Lease nor a heartbeat: %+v", l)
	}
}

// The controller sees no renewal at all for half a lease duration (the API
// server away): it trusts the gateways' status heartbeats meanwhile, not
// the Leases, and the first renewal afterwards gives every Lease a fresh
// duration, so gw-b, whose renewal comes a little later, is not declared
// dead in between.
func TestLeaseBlindSpell(t *testing.T) {
	tr := newLeases("ns")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr.observe("gw-a", lease("gw-a", t0, 6), t0)
	tr.observe("gw-b", lease("gw-b", t0, 6), t0)
	hb := metav1.NewMicroTime(t0.Add(-10 * time.Second))
	gwb := &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-b"}, Status: v1alpha1.GatewayStatus{LastHeartbeatTime: &hb, HeartbeatSeconds: 30}}
	// 20 s without any renewal: blind; gw-b judged by its heartbeat (90 s window).
	if l := tr.of(gwb, t0.Add(20*time.Second)); l.Lease || !l.Live {
		t.Fatalf("blind: %+v", l)
	}
	// gw-a's renewal comes first: every Lease starts a fresh duration.
	tr.observe("gw-a", lease("gw-a", t0.Add(20*time.Second), 6), t0.Add(20*time.Second))
	if l := tr.of(gwb, t0.Add(21*time.Second)); !l.Lease || !l.Live || l.Left != 5*time.Second {
		t.Fatalf("after the blind spell, before its own renewal: %+v", l)
	}
}

// The controller's decision: a device leaves a gateway whose Lease expired
// at once, one whose status heartbeat stopped only reassignAfter later, a
// deleted one at once; it goes to the live gateway with its labels and the
// fewest devices, capacity allowing.
func TestFailoverDecision(t *testing.T) {
	gw := func(name string, capacity int32, labels v1alpha1.Labels) v1alpha1.Gateway {
		return v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.GatewaySpec{Capacity: capacity, Labels: labels}}
	}
	dead := gw("gw-dead", 0, nil)
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	for _, c := range []struct {
		name   string
		gw     *v1alpha1.Gateway
		life   liveness
		after  time.Duration
		reason string // "": stays
		wait   time.Duration
	}{
		{"alive by its lease", &dead, liveness{Lease: true, Live: true, Left: 3 * time.Second}, 5 * time.Minute, "", 0},
		{"lease expired: at once", &dead, liveness{Lease: true, Left: -time.Millisecond, Since: since}, 5 * time.Minute, "lease expired", 0},
		{"lease expired, reassign-after never: at once all the same", &dead, liveness{Lease: true, Left: -time.Second, Since: since}, -1, "lease expired", 0},
		{"no lease, heartbeat stopped 1m ago: waits", &dead, liveness{Left: -time.Minute, Since: since}, 5 * time.Minute, "", 4*time.Minute + time.Second},
		{"no lease, heartbeat stopped 6m ago", &dead, liveness{Left: -6 * time.Minute, Since: since}, 5 * time.Minute, "has not reported in since", 0},
		{"no lease, reassign-after never", &dead, liveness{Left: -time.Hour, Since: since}, -1, "", 0},
		{"deleted", nil, liveness{}, -1, "deleted", 0},
	} {
		reason, wait := moveReason(c.gw, c.life, c.after)
		if c.reason == "" && reason != "" || !strings.Contains(reason, c.reason) || wait != c.wait {
			t.Errorf("%s: reason %q, wait %v; want %q, %v", c.name, reason, wait, c.reason, c.wait)
		}
	}

	// Where the devices of gw-dead go: live gateways with the device's
	// labels, the fewest devices first, never past capacity.
	gws := []v1alpha1.Gateway{dead, gw("gw-a", 0, nil), gw("gw-b", 3, nil), gw("gw-c", 0, v1alpha1.Labels{"site": "north"}), gw("gw-d", 0, nil)}
	lives := map[string]liveness{"gw-dead": {Lease: true}, "gw-a": {Lease: true, Live: true}, "gw-b": {Live: true}, "gw-c": {Lease: true, Live: true},
		"gw-d": {Lease: true, Live: false}}
	count := map[string]int{"gw-dead": 6, "gw-a": 2, "gw-b": 1, "gw-c": 0}
	d := &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: v1alpha1.DeviceSpec{Gateway: "gw-dead"}}
	got := map[string]int{}
	for range 6 {
		best := pick(d, gws, lives, count, "gw-dead")
		if best == nil {
			t.Fatal("no gateway picked")
		}
		got[best.Name]++
		count[best.Name]++
		count["gw-dead"]--
	}
	// gw-b takes 2 (capacity 3, had 1), gw-a the rest; gw-c lacks the
	// label, gw-d's lease expired.
	if got["gw-b"] != 2 || got["gw-a"] != 4 || len(got) != 2 {
		t.Fatalf("spread: %v", got)
	}
	north := &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: v1alpha1.DeviceSpec{Gateway: "gw-dead", Labels: v1alpha1.Labels{"site": "north"}}}
	if best := pick(north, gws, lives, count, "gw-dead"); best == nil || best.Name != "gw-c" {
		t.Fatalf("a device labelled site=north went to %v", best)
	}
	if best := pick(d, gws[:1], lives, count, "gw-dead"); best != nil {
		t.Fatalf("picked %s with no live gateway", best.Name)
	}
}
