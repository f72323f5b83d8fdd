package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// reasonReassigned is the reason of a Device's Online condition the
// controller set Unknown when it moved the device off a live gateway.
const reasonReassigned = "Reassigned"

// rebalancer evens out the devices the controller assigned across the live
// gateways: a gateway added (or back after a failover) takes devices from
// the most loaded ones until no live gateway the device could go to has
// two fewer than its own. Devices given a gateway by name are never moved.
// Moving a device with a session breaks that session (its gateway closes it
// with wrong_gateway, naming the new one), so at most maxMoving devices
// are on their way at once: moved while online and not yet online again
// (at most transitTimeout). Offline devices move freely, at most
// maxMoving per pass too (writes, not sessions).
type rebalancer struct {
	a              *assigner
	every          time.Duration // a pass when nothing moves (gateway changes kick one at once)
	maxMoving      int
	transitTimeout time.Duration
	kick           <-chan event.GenericEvent
	now            func() time.Time

	transit map[string]time.Time // device moved while online → when
}

// Start runs passes until ctx ends (the manager starts it on the leader,
// its caches synced).
func (r *rebalancer) Start(ctx context.Context) error {
	next := r.every
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
			// Coalesce a burst (a gateway's Lease and status at once).
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			for len(r.kick) > 0 {
				<-r.kick
			}
		case <-time.After(next):
		}
		moved, err := r.pass(ctx)
		switch {
		case err != nil:
			r.a.log.Warn("rebalance", "err", err)
			next = r.every
		case moved > 0 || len(r.transit) > 0:
			next = time.Second // devices on their way: look again soon
		default:
			next = r.every
		}
	}
}

// move is one device to move.
type move struct {
	device   *v1alpha1.Device
	from, to string
	online   bool
	// counts before the move, for the event
	fromCount, toCount int
}

// pass moves what planMoves says, now; it returns how many moved.
func (r *rebalancer) pass(ctx context.Context) (int, error) {
	var gws v1alpha1.GatewayList
	if err := r.a.c.List(ctx, &gws, client.InNamespace(r.a.ns)); err != nil {
		return 0, err
	}
	var devs v1alpha1.DeviceList
	if err := r.a.c.List(ctx, &devs, client.InNamespace(r.a.ns)); err != nil {
		return 0, err
	}
	now := r.now()
	lives := map[string]liveness{}
	for i := range gws.Items {
		lives[gws.Items[i].Name] = r.a.live.of(&gws.Items[i], now)
	}
	r.settle(devs.Items, now)
	r.a.mu.Lock()
	count := r.a.countLocked(devs.Items, "")
	moves := planMoves(devs.Items, gws.Items, lives, count, r.maxMoving-len(r.transit), r.maxMoving)
	for _, m := range moves {
		r.a.assumed[m.device.Name] = assumption{from: m.from, to: m.to}
	}
	r.a.mu.Unlock()
	moved := 0
	for _, m := range moves {
		if err := r.write(ctx, m); err != nil {
			r.a.mu.Lock()
			delete(r.a.assumed, m.device.Name)
			r.a.mu.Unlock()
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				continue // changed meanwhile: the next pass sees it
			}
			return moved, err
		}
		moved++
		if m.online {
			r.transit[m.device.Name] = now
		}
	}
	if moved > 0 {
		r.a.log.Info("rebalanced", "moved", moved, "on_their_way", len(r.transit))
	}
	return moved, nil
}

// settle forgets the devices on their way that arrived (online again since
// they were moved), are gone, or took too long.
func (r *rebalancer) settle(devs []v1alpha1.Device, now time.Time) {
	byName := map[string]*v1alpha1.Device{}
	for i := range devs {
		byName[devs[i].Name] = &devs[i]
	}
	for name, at := range r.transit {
		d := byName[name]
		if d == nil || now.Sub(at) > r.transitTimeout || arrived(d, at) {
			delete(r.transit, name)
		}
	}
}

// arrived: d is online again since at (its Online condition turned True
// then or later; conditions keep seconds).
func arrived(d *v1alpha1.Device, at time.Time) bool {
	c := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionOnline)
	return d.Status.Phase == fleet.PhaseOnline && c != nil && c.Status == metav1.ConditionTrue &&
		!c.LastTransitionTime.Time.Before(at.Truncate(time.Second))
}

// write reassigns m.device and, when it was online, marks it offline with
// its Online condition Unknown (Reassigned) until its new gateway has its
// session: its old gateway lets it go and no longer writes its status.
func (r *rebalancer) write(ctx context.Context, m move) error {
	d := m.device.DeepCopy()
	d.Spec.Gateway = v1alpha1.Name(m.to)
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[kubestore.AnnotationAssignedBy] = "wasmbed-controller"
	if err := r.a.c.Update(ctx, d); err != nil {
		return fmt.Errorf("rebalance device %s to gateway %s: %w", d.Name, m.to, err)
	}
	r.a.rec.Eventf(d, corev1.EventTypeNormal, "Rebalanced", "moved from gateway %s (%d devices) to gateway %s (%d devices)",
		m.from, m.fromCount, m.to, m.toCount)
	if !m.online {
		return nil
	}
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	d.Status.Phase = fleet.PhaseOffline
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionUnknown,
		Reason: reasonReassigned, Message: "moving from gateway " + m.from + " to gateway " + m.to + " (rebalancing)", ObservedGeneration: d.Generation})
	if err := r.a.c.Status().Patch(ctx, d, patch); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		// Its new gateway writes its status once it has its session.
		r.a.log.Warn("mark a rebalanced device offline", "device", d.Name, "err", err)
	}
	return nil
}

// planMoves chooses the devices to move so that the live gateways even
// out: repeatedly, from the gateway with the most devices, a device the
// controller assigned (offline ones first: moving them breaks no session)
// goes where pick sends it (alive, its labels, capacity left, the fewest
// devices) if that gateway has at least two fewer devices. At most budget
// online devices and limit devices in all. count (devices per gateway) is
// updated with the moves.
func planMoves(devs []v1alpha1.Device, gws []v1alpha1.Gateway, lives map[string]liveness, count map[string]int, budget, limit int) []move {
	movable := map[string][]*v1alpha1.Device{} // by gateway: offline first, then by name
	for i := range devs {
		d := &devs[i]
		gw := string(d.Spec.Gateway)
		if gw == "" || !d.DeletionTimestamp.IsZero() || d.Annotations[kubestore.AnnotationAssignedBy] == "" || !lives[gw].Live {
			continue
		}
		movable[gw] = append(movable[gw], d)
	}
	for _, ds := range movable {
		slices.SortFunc(ds, func(a, b *v1alpha1.Device) int {
			ao, bo := a.Status.Phase == fleet.PhaseOnline, b.Status.Phase == fleet.PhaseOnline
			if ao != bo {
				if ao {
					return 1
				}
				return -1
			}
			return cmp.Compare(a.Name, b.Name)
		})
	}
	from := make([]string, 0, len(movable))
	for gw := range movable {
		from = append(from, gw)
	}
	var out []move
	for len(out) < limit {
		// The most loaded first.
		slices.SortFunc(from, func(a, b string) int {
			if c := cmp.Compare(count[b], count[a]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		found := false
		for _, gw := range from {
			ds := movable[gw]
			for i, d := range ds {
				online := d.Status.Phase == fleet.PhaseOnline
				if online && budget <= 0 {
					continue
				}
				to := pick(d, gws, lives, count, gw)
				if to == nil || count[gw]-count[to.Name] < 2 {
					continue
				}
				out = append(out, move{device: d, from: gw, to: to.Name, online: online, fromCount: count[gw], toCount: count[to.Name]})
				count[gw]--
				count[to.Name]++
				if online {
					budget--
				}
				movable[gw] = slices.Delete(ds, i, i+1)
				found = true
				break
			}
			if found {
				break
			}
		}
		if !found {
			break
		}
	}
	return out
}
