package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// ---- Application status

type applications struct {
	c   client.Client
	api client.Reader // the API server, not the cache
	rec record.EventRecorder
	ns  string
	// offlineGrace: how long a device of a progressive rollout may be
	// without a session before it fails the heartbeat gate; started: when
	// the controller began to watch (rollout.go).
	offlineGrace time.Duration
	started      time.Time
}

func (r *applications) setup(mgr ctrl.Manager, tr trace.Tracer) error {
	return ctrl.NewControllerManagedBy(mgr).Named("application-status").
		For(&v1alpha1.Application{}).
		Watches(&v1alpha1.Device{}, handler.EnqueueRequestsFromMapFunc(r.appsOf)).
		Complete(traced(tr, "application-status", r))
}

// appsOf: the applications a device's change may move, those selecting
// it and those it has a record of.
func (r *applications) appsOf(ctx context.Context, o client.Object) []reconcile.Request {
	d := o.(*v1alpha1.Device)
	var apps v1alpha1.ApplicationList
	if err := r.c.List(ctx, &apps, client.InNamespace(r.ns)); err != nil {
		return nil
	}
	fd := kubestore.DeviceToFleet(d)
	has := map[string]bool{}
	for _, rec := range d.Status.Deployments {
		has[string(rec.App)] = true
	}
	var out []reconcile.Request
	for i := range apps.Items {
		a := kubestore.ApplicationToFleet(&apps.Items[i])
		if has[a.Name] || a.Selector.Matches(&fd) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&apps.Items[i])})
		}
	}
	return out
}

func (r *applications) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var app v1alpha1.Application
	if err := r.c.Get(ctx, req.NamespacedName, &app); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	action := app.Annotations[kubestore.AnnotationRolloutAction]
	if action == "" {
		res, err := r.reconcileApp(ctx, &app, "")
		if errors.Is(err, errStatusConflict) {
			return reconcile.Result{Requeue: true}, nil
		}
		return res, err
	}
	// An operator's action: taken (the annotation removed) first, so that
	// it is applied once, then applied to the Application as it is now
	// (again after a conflicting write).
	if taken, err := r.takeAction(ctx, &app, action); err != nil || !taken {
		return reconcile.Result{Requeue: !taken}, err
	}
	for attempt := 1; ; attempt++ {
		res, err := r.reconcileApp(ctx, &app, action)
		if !errors.Is(err, errStatusConflict) {
			return res, err
		}
		if attempt >= maxActionAttempts {
			r.rec.Eventf(&app, corev1.EventTypeWarning, "RolloutActionRefused", "%s=%s: not applied: the status kept changing; annotate again",
				kubestore.AnnotationRolloutAction, action)
			return reconcile.Result{Requeue: true}, nil
		}
		if err := r.api.Get(ctx, req.NamespacedName, &app); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
	}
}

// errStatusConflict: the Application changed since it was read.
var errStatusConflict = errors.New("application status conflict")

// maxActionAttempts bounds the writes of an operator's action that
// conflict with other writes.
const maxActionAttempts = 5

// reconcileApp writes app's status, applying action (if not empty) to its
// progressive rollout; errStatusConflict when app changed meanwhile.
func (r *applications) reconcileApp(ctx context.Context, app *v1alpha1.Application, action string) (reconcile.Result, error) {
	var devs v1alpha1.DeviceList
	if err := r.c.List(ctx, &devs, client.InNamespace(r.ns)); err != nil {
		return reconcile.Result{}, err
	}
	a := kubestore.ApplicationToFleet(app)
	hash := fleet.SpecHash(&a)
	var deps []fleet.Deployment
	selected := 0
	var failed []string
	fdevs := make([]fleet.Device, 0, len(devs.Items))
	for i := range devs.Items {
		fd := kubestore.DeviceToFleet(&devs.Items[i])
		fdevs = append(fdevs, fd)
		if a.Selector.Matches(&fd) {
			selected++
		}
		for _, d := range kubestore.DeploymentsToFleet(&devs.Items[i]) {
			if d.App != a.Name {
				continue
			}
			deps = append(deps, d)
			if d.SpecHash == hash && d.Failed() {
				failed = append(failed, fmt.Sprintf("%s (%s%s)", d.Device, d.State, detail(d.Detail)))
			}
		}
	}
	now := time.Now()
	cnt := fleet.CountRollout(&a, deps, now)
	st := app.Status.DeepCopy()
	st.ObservedGeneration = app.Generation
	// Progressive rollouts: the controller is their one writer (rollout.go).
	trackStable(&a, st, now)
	var evs []fleet.RolloutEvent
	var actErr, invalid error
	if a.Rollout.Progressive() {
		if invalid = rolloutPolicyError(&a); invalid == nil {
			objs := make(map[string]*v1alpha1.Device, len(devs.Items))
			for i := range devs.Items {
				objs[devs.Items[i].Name] = &devs.Items[i]
			}
			evs, actErr = r.advanceRollout(&a, action, objs, fdevs, deps, now)
		} else if action != "" {
			actErr = invalid
		}
		st.Rollout = kubestore.ProgressFromFleet(a.Progress)
	} else if action != "" {
		actErr = fmt.Errorf("%w: application %s has no rollout steps", fleet.ErrRolloutState, a.Name)
	}
	st.Selected, st.Updated, st.InProgress, st.Failed = int32(selected), int32(cnt.Updated), int32(cnt.InProgress), int32(cnt.Failed)
	st.Converged = cnt.Updated == selected
	pending := max(selected-cnt.Updated-cnt.InProgress-cnt.Failed, 0)
	gen := app.Generation
	// A batched rollout: the controller, one writer, admits the devices
	// that may start updating, so gateways serving the same application
	// together keep within maxUnavailable.
	// A progressive one: the devices its current step lets take the new
	// spec (none while paused; after a rollback the gateways send the
	// stable release to the devices that took it, and no others).
	st.Admission = nil
	var prev *fleet.Admission
	if p := app.Status.Admission; p != nil {
		prev = &fleet.Admission{SpecHash: p.SpecHash, Devices: p.Devices}
	}
	switch {
	case a.Rollout.Progressive():
		if p := a.CurrentProgress(); p != nil && p.Phase != fleet.RolloutRolledBack && (p.Phase != fleet.RolloutCompleted || !st.Converged) {
			st.Admission = &v1alpha1.Admission{SpecHash: hash, Devices: admitSteps(&a, fdevs, deps, prev, now)}
		}
	case a.Rollout.Strategy == fleet.RolloutBatched && !st.Converged:
		st.Admission = &v1alpha1.Admission{SpecHash: hash, Devices: fleet.AdmitBatch(&a, fdevs, deps, prev, now)}
	}

	ready := metav1.Condition{Type: v1alpha1.ConditionReady, ObservedGeneration: gen}
	switch {
	case st.Converged:
		ready.Status, ready.Reason = metav1.ConditionTrue, "RolloutComplete"
		ready.Message = fmt.Sprintf("version %s runs on all %d selected devices", a.Version, selected)
		if !a.Running {
			ready.Message = fmt.Sprintf("version %s is installed, stopped, on all %d selected devices", a.Version, selected)
		}
	case cnt.Failed > 0:
		ready.Status, ready.Reason = metav1.ConditionFalse, "DevicesFailed"
		ready.Message = fmt.Sprintf("%d of %d devices updated, %d failed", cnt.Updated, selected, cnt.Failed)
	default:
		ready.Status, ready.Reason = metav1.ConditionFalse, "RolloutInProgress"
		ready.Message = fmt.Sprintf("%d of %d devices updated", cnt.Updated, selected)
	}
	progressing := metav1.Condition{Type: v1alpha1.ConditionProgressing, ObservedGeneration: gen}
	p := a.CurrentProgress()
	switch {
	case invalid != nil:
		progressing.Status, progressing.Reason = metav1.ConditionFalse, "InvalidRolloutPolicy"
		progressing.Message = "no device takes version " + a.Version + ": " + invalid.Error()
	case p != nil && p.Phase == fleet.RolloutRolledBack:
		progressing.Status, progressing.Reason = metav1.ConditionFalse, "RolloutRolledBack"
		progressing.Message = fmt.Sprintf("version %s rolled back at step %d of %d: %s", a.Version, p.Step, p.Steps, p.Reason)
	case p != nil && p.Phase == fleet.RolloutPaused:
		progressing.Status, progressing.Reason = metav1.ConditionFalse, "RolloutPaused"
		progressing.Message = fmt.Sprintf("version %s paused at step %d of %d: %s", a.Version, p.Step, p.Steps, p.Reason)
	case st.Converged:
		progressing.Status, progressing.Reason, progressing.Message = metav1.ConditionFalse, "RolloutComplete", "nothing left to update"
	case cnt.InProgress == 0 && cnt.Failed > 0 && a.Rollout.Strategy == fleet.RolloutBatched:
		progressing.Status, progressing.Reason = metav1.ConditionFalse, "RolloutHalted"
		progressing.Message = fmt.Sprintf("a batched rollout halts on failures: %d failed, %d waiting", cnt.Failed, pending)
	default:
		progressing.Status, progressing.Reason = metav1.ConditionTrue, "Updating"
		progressing.Message = fmt.Sprintf("%d updated, %d in progress, %d waiting (offline or not admitted yet), %d failed",
			cnt.Updated, cnt.InProgress, pending, cnt.Failed)
	}
	degraded := metav1.Condition{Type: v1alpha1.ConditionDegraded, ObservedGeneration: gen,
		Status: metav1.ConditionFalse, Reason: "NoFailures", Message: "no device failed the current version"}
	if len(failed) > 0 {
		sort.Strings(failed)
		if len(failed) > 5 {
			failed = append(failed[:5], fmt.Sprintf("and %d more", len(failed)-5))
		}
		degraded.Status, degraded.Reason = metav1.ConditionTrue, "DevicesFailed"
		degraded.Message = fmt.Sprintf("%d devices stopped or refused version %s: %s", cnt.Failed, a.Version, strings.Join(failed, ", "))
	}
	wasReady := meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionReady)
	wasDegraded := meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionDegraded)
	meta.SetStatusCondition(&st.Conditions, ready)
	meta.SetStatusCondition(&st.Conditions, progressing)
	meta.SetStatusCondition(&st.Conditions, degraded)

	res := reconcile.Result{}
	if cnt.InProgress > 0 {
		// Devices count as updated once the app has run for min-ready.
		res.RequeueAfter = a.MinReady() + 100*time.Millisecond
	}
	if w := r.rolloutRequeue(&a, now); w > 0 && (res.RequeueAfter == 0 || w < res.RequeueAfter) {
		res.RequeueAfter = w
	}
	if !equality.Semantic.DeepEqual(&app.Status, st) {
		app.Status = *st
		if err := r.c.Status().Update(ctx, app); err != nil {
			if apierrors.IsNotFound(err) {
				return reconcile.Result{}, nil
			}
			if apierrors.IsConflict(err) {
				return reconcile.Result{}, errStatusConflict
			}
			return reconcile.Result{}, err
		}
	} else if action == "" {
		return res, nil
	}
	// Written: what the rollout did is recorded.
	for _, ev := range evs {
		r.rolloutEvent(app, ev)
	}
	if action != "" && actErr != nil {
		r.rec.Eventf(app, corev1.EventTypeWarning, "RolloutActionRefused", "%s=%s: %v", kubestore.AnnotationRolloutAction, action, actErr)
	}
	if !wasReady && ready.Status == metav1.ConditionTrue && selected > 0 {
		r.rec.Event(app, corev1.EventTypeNormal, "RolloutComplete", ready.Message)
	}
	if !wasDegraded && degraded.Status == metav1.ConditionTrue {
		r.rec.Event(app, corev1.EventTypeWarning, "DevicesFailed", degraded.Message)
	}
	return res, nil
}

// maxDetail bounds what the Degraded message says of one device: a
// board check's reason whole (about 150 characters), five devices well
// within a condition message's 32768 bytes.
const maxDetail = 300

// detail is ": " + s, cut to maxDetail runes (never inside a character).
func detail(s string) string {
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) > maxDetail {
		s = string(r[:maxDetail]) + "..."
	}
	return ": " + s
}

// ---- Gateway status

type gateways struct {
	c    client.Client
	rec  record.EventRecorder
	ns   string
	live *leases
}

func (r *gateways) setup(mgr ctrl.Manager, tr trace.Tracer) error {
	return ctrl.NewControllerManagedBy(mgr).Named("gateway-status").
		For(&v1alpha1.Gateway{}).
		Watches(&v1alpha1.Device{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if gw := o.(*v1alpha1.Device).Spec.Gateway; gw != "" {
				return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: string(gw)}}}
			}
			return nil
		})).
		// Its Lease expired, or is renewed again.
		WatchesRawSource(source.Channel(r.live.subscribe(), &handler.EnqueueRequestForObject{})).
		Complete(traced(tr, "gateway-status", r))
}

func (r *gateways) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var gw v1alpha1.Gateway
	if err := r.c.Get(ctx, req.NamespacedName, &gw); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	var devs v1alpha1.DeviceList
	if err := r.c.List(ctx, &devs, client.InNamespace(r.ns), client.MatchingFields{fieldGateway: gw.Name}); err != nil {
		return reconcile.Result{}, err
	}
	life := r.live.of(&gw, time.Now())
	ready, left := life.Live, life.Left
	cond := metav1.Condition{Type: v1alpha1.ConditionGatewayReady, ObservedGeneration: gw.Generation}
	switch {
	case ready && life.Lease:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, "Reporting", "the gateway process renews its lease"
	case ready:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, "Reporting", "the gateway process reports in"
	case life.Lease:
		cond.Status, cond.Reason = metav1.ConditionFalse, "LeaseExpired"
		cond.Message = "lease " + kubestore.GatewayLeaseName(gw.Name) + " not renewed since " + life.Since.UTC().Format(time.RFC3339)
	case gw.Status.LastHeartbeatTime == nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "NeverReported", "no gateway process has reported in under this name"
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, "NotReporting"
		cond.Message = "last report at " + gw.Status.LastHeartbeatTime.UTC().Format(time.RFC3339)
	}
	if !ready {
		if err := r.markUnknown(ctx, &gw, devs.Items, cond.Message); err != nil {
			return reconcile.Result{}, err
		}
	}
	was := meta.FindStatusCondition(gw.Status.Conditions, v1alpha1.ConditionGatewayReady)
	conds := append([]metav1.Condition(nil), gw.Status.Conditions...)
	meta.SetStatusCondition(&conds, cond)
	res := reconcile.Result{}
	if ready {
		res.RequeueAfter = left + time.Second // to notice when it stops reporting
	}
	if int(gw.Status.Assigned) == len(devs.Items) && equality.Semantic.DeepEqual(conds, gw.Status.Conditions) {
		return res, nil
	}
	// A merge patch of the controller's fields: the gateway writes the others.
	patch := client.MergeFrom(gw.DeepCopy())
	gw.Status.Assigned, gw.Status.Conditions = int32(len(devs.Items)), conds
	if err := r.c.Status().Patch(ctx, &gw, patch); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if was != nil && was.Status != cond.Status {
		typ := corev1.EventTypeNormal
		if !ready {
			typ = corev1.EventTypeWarning
		}
		r.rec.Event(&gw, typ, cond.Reason, cond.Message)
	}
	return res, nil
}

// reasonGatewayNotReporting is the reason of a Device's Online condition
// the controller set Unknown.
const reasonGatewayNotReporting = "GatewayNotReporting"

// markUnknown marks offline the devices gw last said were online, now
// that it does not report in: nobody vouches for their sessions (the
// gateway may be dead, or cut off from the API server and still serving
// them), so the Online condition is Unknown, as a node's Ready is when its
// kubelet stops posting status. The gateway, once it reports again,
// writes what it holds (a session start, its periodic repair of phases).
func (r *gateways) markUnknown(ctx context.Context, gw *v1alpha1.Gateway, devs []v1alpha1.Device, why string) error {
	for i := range devs {
		d := &devs[i]
		if d.Status.Phase != fleet.PhaseOnline || !d.DeletionTimestamp.IsZero() {
			continue
		}
		// The optimistic lock: a status the gateway writes meanwhile wins
		// (and, a change of one of its devices, brings gw back here).
		patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
		d.Status.Phase = fleet.PhaseOffline
		meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionUnknown,
			Reason: reasonGatewayNotReporting, Message: "gateway " + gw.Name + " does not report in: " + why, ObservedGeneration: d.Generation})
		if err := r.c.Status().Patch(ctx, d, patch); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("mark device %s of gateway %s offline: %w", d.Name, gw.Name, err)
		}
	}
	return nil
}

// ---- enrollment tokens

type tokens struct {
	c         client.Client
	retention time.Duration
}

func (r *tokens) setup(mgr ctrl.Manager, tr trace.Tracer) error {
	return ctrl.NewControllerManagedBy(mgr).Named("token-cleanup").For(&v1alpha1.EnrollmentToken{}).Complete(traced(tr, "token-cleanup", r))
}

func (r *tokens) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var t v1alpha1.EnrollmentToken
	if err := r.c.Get(ctx, req.NamespacedName, &t); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	done := t.Spec.ExpiresAt.Time
	if t.Status.UsedAt != nil && t.Status.UsedAt.Before(&t.Spec.ExpiresAt) {
		done = t.Status.UsedAt.Time
	}
	gone := done.Add(r.retention)
	if wait := time.Until(gone); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	return reconcile.Result{}, client.IgnoreNotFound(r.c.Delete(ctx, &t, client.Preconditions{UID: &t.UID}))
}
