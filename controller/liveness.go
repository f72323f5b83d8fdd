package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// Gateway liveness. A gateway that holds a Lease (kubestore.GatewayLeaseName,
// renewed every few seconds) is alive while the Lease is: the controller
// notes, on its own clock, when it saw each renewal, and the Lease expires
// its duration after the last one seen (as the node lifecycle controller
// judges node Leases: no comparison of clocks across machines; a controller
// that starts, or becomes leader, gives every Lease a full duration from
// when it first sees it). A gateway without a Lease (an older gateway) is
// alive while it reports in its Gateway status (gatewayReady).
//
// The controller's own view may be stale: when it has seen no renewal of
// any Lease for half a lease duration (the API server away, its watch
// broken, or every gateway gone at once), it is blind: it judges gateways
// by their status heartbeat meanwhile (minutes, not seconds), and the first
// renewal it sees afterwards gives every Lease a fresh duration, so that
// an outage of the API server does not move devices off gateways that
// merely could not renew through it.

// liveness is what the controller knows of a gateway's life.
type liveness struct {
	Lease bool          // judged by its Lease (else by its status heartbeat)
	Live  bool          // alive now
	Left  time.Duration // until it stops being alive (Live), or since it did (negative)
	Since time.Time     // the last sign of life (zero: none ever)
}

// leaseSeen is one gateway's Lease as the controller saw it.
type leaseSeen struct {
	renew    time.Time // the Lease's renewTime, as written (identifies a renewal)
	holder   string
	dur      time.Duration
	valid    bool      // held: a holder and a renewal
	observed time.Time // when this controller saw that renewal
	live     bool      // as last told to the other controllers
}

// leases tracks the gateways' Leases and tells the assignment and gateway
// status controllers when a gateway's life changes (expired, or renewed
// again), through their channels.
type leases struct {
	mu      sync.Mutex
	seen    map[string]*leaseSeen // by gateway
	lastAny time.Time             // when a renewal of any Lease was last seen
	now     func() time.Time
	ns      string
	subs    []chan event.GenericEvent
}

func newLeases(ns string) *leases {
	return &leases{seen: map[string]*leaseSeen{}, now: time.Now, ns: ns}
}

// subscribe is a channel of the gateways whose life changed.
func (t *leases) subscribe() <-chan event.GenericEvent {
	ch := make(chan event.GenericEvent, 1024)
	t.subs = append(t.subs, ch)
	return ch
}

// blindLocked: no renewal of any Lease seen for half the longest lease
// duration; the controller's view is not to be trusted.
func (t *leases) blindLocked(now time.Time) bool {
	if t.lastAny.IsZero() {
		return false
	}
	var longest time.Duration
	for _, s := range t.seen {
		longest = max(longest, s.dur)
	}
	return now.Sub(t.lastAny) > longest/2
}

func (s *leaseSeen) life(now time.Time) liveness {
	left := s.observed.Add(s.dur).Sub(now)
	return liveness{Lease: true, Live: s.valid && left > 0, Left: left, Since: s.observed}
}

// observe records a Lease's state at now and reports whether the gateway
// is alive by its Lease, how long that lasts, and whether that changed.
func (t *leases) observe(gw string, l *coordinationv1.Lease, now time.Time) (live bool, left time.Duration, changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var renew time.Time
	if l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	s := t.seen[gw]
	first := s == nil
	if first {
		s = &leaseSeen{}
		t.seen[gw] = s
	}
	s.dur = kubestore.LeaseDuration(l)
	if first || !renew.Equal(s.renew) || holder != s.holder {
		if t.blindLocked(now) {
			// The first renewal after a blind spell: every Lease gets a
			// fresh duration from now.
			for _, o := range t.seen {
				o.observed = now
			}
		}
		s.renew, s.holder, s.observed = renew, holder, now
		t.lastAny = now
	}
	s.valid = holder != "" && !renew.IsZero()
	life := s.life(now)
	changed = first || life.Live != s.live
	s.live = life.Live
	return life.Live, life.Left, changed
}

// forget drops a deleted Lease: the gateway is judged by its heartbeat again.
func (t *leases) forget(gw string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.seen[gw]
	delete(t.seen, gw)
	return ok
}

// of is what is known of gw's life at now: by its Lease, or by its status
// heartbeat when it has none or the controller is blind.
func (t *leases) of(gw *v1alpha1.Gateway, now time.Time) liveness {
	t.mu.Lock()
	s := t.seen[gw.Name]
	if s != nil && !t.blindLocked(now) {
		l := s.life(now)
		t.mu.Unlock()
		return l
	}
	t.mu.Unlock()
	ready, left := gatewayReady(gw, now)
	l := liveness{Live: ready, Left: left}
	if t := gw.Status.LastHeartbeatTime; t != nil {
		l.Since = t.Time
	}
	return l
}

// notify tells the subscribers that gw's life changed.
func (t *leases) notify(ctx context.Context, gw string) {
	obj := &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: gw, Namespace: t.ns}}
	for _, ch := range t.subs {
		select {
		case ch <- event.GenericEvent{Object: obj}:
		case <-ctx.Done():
			return
		}
	}
}

// leaseReconciler follows the gateways' Leases.
type leaseReconciler struct {
	c client.Client
	t *leases
}

func (r *leaseReconciler) setup(mgr manager.Manager, tr trace.Tracer) error {
	isGateway := predicate.NewPredicateFuncs(func(o client.Object) bool {
		l, ok := o.(*coordinationv1.Lease)
		if !ok {
			return false
		}
		_, ok = kubestore.LeaseGateway(l)
		return ok
	})
	return ctrl.NewControllerManagedBy(mgr).Named("gateway-lease").
		For(&coordinationv1.Lease{}, builder.WithPredicates(isGateway)).
		Complete(traced(tr, "gateway-lease", r))
}

func (r *leaseReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var l coordinationv1.Lease
	if err := r.c.Get(ctx, req.NamespacedName, &l); err != nil {
		if err := client.IgnoreNotFound(err); err != nil {
			return reconcile.Result{}, err
		}
		if gw, ok := strings.CutPrefix(req.Name, kubestore.GatewayLeasePrefix); ok && r.t.forget(gw) {
			r.t.notify(ctx, gw)
		}
		return reconcile.Result{}, nil
	}
	gw, ok := kubestore.LeaseGateway(&l)
	if !ok {
		return reconcile.Result{}, fmt.Errorf("lease %s is not a gateway's", l.Name)
	}
	live, left, changed := r.t.observe(gw, &l, r.t.now())
	if changed {
		r.t.notify(ctx, gw)
	}
	if live {
		// Looked at again when it would expire without a renewal.
		return reconcile.Result{RequeueAfter: left + 50*time.Millisecond}, nil
	}
	// Expired: looked at again now and then (a blind spell's end may give
	// it a fresh duration without a renewal of its own).
	return reconcile.Result{RequeueAfter: max(kubestore.LeaseDuration(&l), time.Second)}, nil
}
