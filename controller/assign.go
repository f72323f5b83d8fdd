package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// assigner gives unassigned devices a gateway, and another one when the
// gateway it gave them dies: at once when the gateway's Lease expires,
// after reassignAfter for a gateway without a Lease that stopped reporting
// in its status.
type assigner struct {
	c             client.Client
	rec           record.EventRecorder
	ns            string
	reassignAfter time.Duration // < 0: never (gateways without a Lease)
	workers       int           // assignments written at once
	log           *slog.Logger
	live          *leases

	// assumed are assignments written but not yet in the cache, so that
	// counts stay right between the write and its watch event (as a
	// scheduler's assume cache does); several workers pick under mu.
	mu      sync.Mutex
	assumed map[string]assumption // by device
}

// assumption: a device moved from one gateway to another, as written.
type assumption struct{ from, to string }

func (r *assigner) setup(mgr ctrl.Manager, tr trace.Tracer) error {
	return ctrl.NewControllerManagedBy(mgr).Named("assign").
		For(&v1alpha1.Device{}).
		// A gateway that appears, reports in, gets capacity or is deleted
		// may change where devices go.
		Watches(&v1alpha1.Gateway{}, handler.EnqueueRequestsFromMapFunc(r.waiting)).
		// So does a gateway whose Lease expires or is renewed again.
		WatchesRawSource(source.Channel(r.live.subscribe(), handler.EnqueueRequestsFromMapFunc(r.waiting))).
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: r.workers}).
		Complete(traced(tr, "assign", r))
}

// waiting lists the devices a gateway's change may concern: those
// unassigned, those of that gateway (deleted, maybe), and those whose
// gateway no longer exists.
func (r *assigner) waiting(ctx context.Context, gw client.Object) []reconcile.Request {
	var devs v1alpha1.DeviceList
	if err := r.c.List(ctx, &devs, client.InNamespace(r.ns)); err != nil {
		return nil
	}
	var gws v1alpha1.GatewayList
	if err := r.c.List(ctx, &gws, client.InNamespace(r.ns)); err != nil {
		return nil
	}
	exists := map[string]bool{}
	for _, g := range gws.Items {
		exists[g.Name] = true
	}
	var out []reconcile.Request
	for _, d := range devs.Items {
		if g := string(d.Spec.Gateway); g == "" || g == gw.GetName() || !exists[g] {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&d)})
		}
	}
	return out
}

// eligible: the gateway is alive, and the device has every label of the
// gateway.
func eligible(gw *v1alpha1.Gateway, life liveness, d *v1alpha1.Device) bool {
	if !life.Live {
		return false
	}
	for k, v := range gw.Spec.Labels {
		if dv, ok := d.Spec.Labels[k]; !ok || dv != v {
			return false
		}
	}
	return true
}

// moveReason decides whether a device the controller assigned (or one not
// assigned yet: "" and no wait) leaves its gateway gw (nil: deleted),
// whose life is life: a reason to move it, or how long to wait before
// looking again (0: it stays, nothing to wait for).
//
//   - a gateway judged by its Lease: the device moves as soon as the Lease
//     has expired;
//   - a gateway judged by its status heartbeat: reassignAfter after it
//     stopped counting as Ready (< 0: never);
//   - a deleted gateway: at once.
func moveReason(gw *v1alpha1.Gateway, life liveness, reassignAfter time.Duration) (reason string, wait time.Duration) {
	switch {
	case gw == nil:
		return "gateway was deleted", 0
	case life.Live:
		return "", 0
	case life.Lease:
		return fmt.Sprintf("gateway %s's lease expired %v ago (no renewal seen since %s)", gw.Name,
			(-life.Left).Round(time.Millisecond), life.Since.UTC().Format(time.RFC3339)), 0
	case reassignAfter < 0:
		return "", 0
	}
	down, since := reassignAfter, "ever" // never reported: as good as gone
	if !life.Since.IsZero() {
		down, since = -life.Left, life.Since.UTC().Format(time.RFC3339)
	}
	if wait := reassignAfter - down; wait > 0 {
		return "", wait + time.Second
	}
	return fmt.Sprintf("gateway %s has not reported in since %s", gw.Name, since), 0
}

// pick chooses d's gateway among gws (lives: their liveness): alive, with
// the device's labels, capacity left (count: devices assigned to each), not
// exclude; the fewest devices first, then the most capacity left.
func pick(d *v1alpha1.Device, gws []v1alpha1.Gateway, lives map[string]liveness, count map[string]int, exclude string) *v1alpha1.Gateway {
	var best *v1alpha1.Gateway
	for i := range gws {
		gw := &gws[i]
		if gw.Name == exclude || !eligible(gw, lives[gw.Name], d) || gw.Spec.Capacity > 0 && count[gw.Name] >= int(gw.Spec.Capacity) {
			continue
		}
		if best == nil || better(gw, best, count) {
			best = gw
		}
	}
	return best
}

func (r *assigner) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var d v1alpha1.Device
	if err := r.c.Get(ctx, req.NamespacedName, &d); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !d.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	var gws v1alpha1.GatewayList
	if err := r.c.List(ctx, &gws, client.InNamespace(r.ns)); err != nil {
		return reconcile.Result{}, err
	}
	now := time.Now()
	byName := map[string]*v1alpha1.Gateway{}
	lives := map[string]liveness{}
	for i := range gws.Items {
		gw := &gws.Items[i]
		byName[gw.Name] = gw
		lives[gw.Name] = r.live.of(gw, now)
	}
	reason := ""
	if d.Spec.Gateway != "" {
		if d.Annotations[kubestore.AnnotationAssignedBy] == "" {
			// Given by name: it stays, also on a gateway that does not
			// exist (yet), whose devices wait for it, and on a dead one
			// (said where the operator looks).
			if gw := byName[string(d.Spec.Gateway)]; gw != nil {
				if why, _ := moveReason(gw, lives[gw.Name], 0); why != "" {
					r.rec.Eventf(&d, corev1.EventTypeWarning, "PinnedGatewayDown",
						"%s; the device is pinned to it and stays (clear spec.gateway to let the controller move it)", why)
				}
			}
			return reconcile.Result{}, nil
		}
		gw := byName[string(d.Spec.Gateway)]
		var wait time.Duration
		reason, wait = moveReason(gw, lives[string(d.Spec.Gateway)], r.reassignAfter)
		if gw == nil {
			reason = "gateway " + string(d.Spec.Gateway) + " was deleted"
		}
		if reason == "" {
			return reconcile.Result{RequeueAfter: wait}, nil
		}
	}

	var devs v1alpha1.DeviceList
	if err := r.c.List(ctx, &devs, client.InNamespace(r.ns)); err != nil {
		return reconcile.Result{}, err
	}
	// Count and pick under the lock, and assume the choice before it is
	// written, so that concurrent workers spread the devices too.
	r.mu.Lock()
	count := r.countLocked(devs.Items, d.Name)
	best := pick(&d, gws.Items, lives, count, string(d.Spec.Gateway))
	if best != nil {
		r.assumed[d.Name] = assumption{from: string(d.Spec.Gateway), to: best.Name}
	}
	r.mu.Unlock()
	if best == nil && reason != "" && byName[string(d.Spec.Gateway)] != nil {
		// Nowhere else to go: it stays, and is looked at again (also when
		// a gateway's life changes).
		r.rec.Eventf(&d, corev1.EventTypeWarning, "NoGateway",
			"%s; no other live gateway has the device's labels and capacity left: it stays", reason)
		return reconcile.Result{RequeueAfter: 30 * time.Second}, nil
	}
	if best == nil {
		r.rec.Eventf(&d, corev1.EventTypeWarning, "NoGateway",
			"no gateway reporting in has the device's labels and capacity left; %d gateways registered", len(gws.Items))
		return reconcile.Result{RequeueAfter: 30 * time.Second}, nil
	}
	prev := d.Spec.Gateway
	d.Spec.Gateway = v1alpha1.Name(best.Name)
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[kubestore.AnnotationAssignedBy] = "wasmbed-controller"
	if err := r.c.Update(ctx, &d); err != nil {
		r.mu.Lock()
		delete(r.assumed, d.Name)
		r.mu.Unlock()
		if apierrors.IsConflict(err) {
			return reconcile.Result{Requeue: true}, nil
		}
		return reconcile.Result{}, fmt.Errorf("assign device %s to gateway %s: %w", d.Name, best.Name, err)
	}
	if prev != "" {
		r.rec.Eventf(&d, corev1.EventTypeNormal, "Reassigned", "%s; assigned to gateway %s", reason, best.Name)
	} else {
		r.rec.Eventf(&d, corev1.EventTypeNormal, "Assigned", "assigned to gateway %s", best.Name)
	}
	return reconcile.Result{}, nil
}

// countLocked counts the devices assigned to each gateway, but for
// except, as written (the assumed assignments not in the cache yet).
func (r *assigner) countLocked(devs []v1alpha1.Device, except string) map[string]int {
	count := map[string]int{}
	for _, o := range devs {
		gw := string(o.Spec.Gateway)
		if a, ok := r.assumed[o.Name]; ok {
			if gw == a.from {
				gw = a.to
			} else {
				delete(r.assumed, o.Name) // the cache has it now
			}
		}
		if gw != "" && o.Name != except {
			count[gw]++
		}
	}
	return count
}

// better: fewer devices assigned, then more capacity left (unlimited
// counts as most), then the name.
func better(a, b *v1alpha1.Gateway, count map[string]int) bool {
	if count[a.Name] != count[b.Name] {
		return count[a.Name] < count[b.Name]
	}
	left := func(g *v1alpha1.Gateway) int {
		if g.Spec.Capacity == 0 {
			return int(^uint(0) >> 1)
		}
		return int(g.Spec.Capacity) - count[g.Name]
	}
	if left(a) != left(b) {
		return left(a) > left(b)
	}
	return a.Name < b.Name
}
