package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// assigner gives unassigned devices a gateway, and another one when the
// gateway it gave them stops reporting in for longer than reassignAfter.
type assigner struct {
	c             client.Client
	rec           record.EventRecorder
	ns            string
	reassignAfter time.Duration // < 0: never

	// assumed are assignments written but not yet in the cache, so that
	// counts stay right between the write and its watch event (as a
	// scheduler's assume cache does).
	mu      sync.Mutex
	assumed map[string]string // device -> gateway
}

func (r *assigner) setup(mgr ctrl.Manager, tr trace.Tracer) error {
	return ctrl.NewControllerManagedBy(mgr).Named("assign").
		For(&v1alpha1.Device{}).
		// A gateway that appears, reports in, gets capacity or is deleted
		// may change where devices go.
		Watches(&v1alpha1.Gateway{}, handler.EnqueueRequestsFromMapFunc(r.waiting)).
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

// eligible: the gateway reports in, and the device has every label of the
// gateway.
func eligible(gw *v1alpha1.Gateway, d *v1alpha1.Device, now time.Time) bool {
	if ready, _ := gatewayReady(gw, now); !ready {
		return false
	}
	for k, v := range gw.Spec.Labels {
		if dv, ok := d.Spec.Labels[k]; !ok || dv != v {
			return false
		}
	}
	return true
}

func (r *assigner) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var d v1alpha1.Device
	if err := r.c.Get(ctx, req.NamespacedName, &d); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	var gws v1alpha1.GatewayList
	if err := r.c.List(ctx, &gws, client.InNamespace(r.ns)); err != nil {
		return reconcile.Result{}, err
	}
	byName := map[string]*v1alpha1.Gateway{}
	for i := range gws.Items {
		byName[gws.Items[i].Name] = &gws.Items[i]
	}
	now := time.Now()
	reason := ""
	if d.Spec.Gateway != "" {
		gw, ok := byName[string(d.Spec.Gateway)]
		switch {
		case d.Annotations[kubestore.AnnotationAssignedBy] == "":
			// Given by name: it stays, also on a gateway that does not
			// exist (yet), whose devices wait for it.
			return reconcile.Result{}, nil
		case !ok:
			reason = "gateway " + string(d.Spec.Gateway) + " was deleted"
		case r.reassignAfter < 0:
			return reconcile.Result{}, nil
		default:
			ready, left := gatewayReady(gw, now)
			if ready {
				return reconcile.Result{}, nil
			}
			down, since := r.reassignAfter, "ever" // never reported: as good as gone
			if t := gw.Status.LastHeartbeatTime; t != nil {
				down, since = -left, t.UTC().Format(time.RFC3339)
			}
			if wait := r.reassignAfter - down; wait > 0 {
				return reconcile.Result{RequeueAfter: wait + time.Second}, nil
			}
			reason = fmt.Sprintf("gateway %s has not reported in since %s", gw.Name, since)
		}
	}

	var devs v1alpha1.DeviceList
	if err := r.c.List(ctx, &devs, client.InNamespace(r.ns)); err != nil {
		return reconcile.Result{}, err
	}
	count := map[string]int{}
	r.mu.Lock()
	for _, o := range devs.Items {
		gw := string(o.Spec.Gateway)
		if a, ok := r.assumed[o.Name]; ok {
			if gw == "" {
				gw = a
			} else {
				delete(r.assumed, o.Name) // the cache has it now
			}
		}
		if gw != "" && o.Name != d.Name {
			count[gw]++
		}
	}
	r.mu.Unlock()

	var best *v1alpha1.Gateway
	for i := range gws.Items {
		gw := &gws.Items[i]
		if gw.Name == string(d.Spec.Gateway) || !eligible(gw, &d, now) || gw.Spec.Capacity > 0 && count[gw.Name] >= int(gw.Spec.Capacity) {
			continue
		}
		if best == nil || better(gw, best, count) {
			best = gw
		}
	}
	if best == nil && reason != "" && d.Spec.Gateway != "" && byName[string(d.Spec.Gateway)] != nil {
		// Nowhere else to go: it stays, and is looked at again.
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
		if apierrors.IsConflict(err) {
			return reconcile.Result{Requeue: true}, nil
		}
		return reconcile.Result{}, err
	}
	r.mu.Lock()
	r.assumed[d.Name] = best.Name
	r.mu.Unlock()
	if prev != "" {
		r.rec.Eventf(&d, corev1.EventTypeNormal, "Reassigned", "%s; assigned to gateway %s", reason, best.Name)
	} else {
		r.rec.Eventf(&d, corev1.EventTypeNormal, "Assigned", "assigned to gateway %s", best.Name)
	}
	return reconcile.Result{}, nil
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
