package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// In Kubernetes mode the controller is the one writer of progressive
// rollout progress: it evaluates fleet's rollout logic (AdvanceRollout,
// Act, NextStable, AdmitStep) over the Device resources the gateways
// keep (phase, last seen, reset, deployment records) and writes
// status.rollout, status.stable and status.admission. The gateways follow
// (kubestore.FollowerView): they deploy the new spec only to the devices
// admitted, and after a rollback the stable release. Several gateways may
// serve one application: only one writer can judge the fleet as a whole.

// trackStable keeps status.stable as the gateway's API keeps
// fleet.Application.Stable: when the spec changes, the spec seen before
// becomes the stable release if it passed (fleet.NextStable).
// status.observedSpec is that spec, and whether its rollout went by steps.
func trackStable(a *fleet.Application, st *v1alpha1.ApplicationStatus, now time.Time) {
	cur := fleet.ReleaseOf(a)
	obs := &v1alpha1.ObservedSpec{Release: *kubestore.ReleaseFromFleet(cur), Progressive: a.Rollout.Progressive()}
	var seen *fleet.Application
	if st.ObservedSpec != nil {
		oldRel := kubestore.ReleaseToFleet(&st.ObservedSpec.Release)
		old := fleet.Application{Name: a.Name, Version: oldRel.Version, SHA256: oldRel.SHA256, Size: oldRel.Size,
			Config: oldRel.Config, Limits: oldRel.Limits, Stable: a.Stable, Progress: a.Progress, History: a.History,
			Generation: a.Generation, CreatedAt: a.CreatedAt}
		if st.ObservedSpec.Progressive {
			old.Rollout.Steps = []fleet.RolloutStep{{}} // progressive: its progress decides
		}
		if fleet.SpecHash(&old) != fleet.SpecHash(a) {
			a.Stable = fleet.NextStable(&old)
			st.Stable = kubestore.ReleaseFromFleet(a.Stable)
		}
		seen = &old
	}
	// The versions it had, as the gateway's API keeps them (fleet.NextHistory).
	a.History = fleet.NextHistory(seen, a, now)
	st.History = kubestore.HistoryFromFleet(a.History)
	st.ObservedSpec = obs
}

// rolloutPolicyError says why a's progressive rollout policy cannot run
// (the API server's schema checks the fields one by one; fleet checks
// them together), nil if it can. Its rollout does not start: no device
// takes the new spec.
func rolloutPolicyError(a *fleet.Application) error {
	ro := a.Rollout
	ro.SetDefaults()
	if err := ro.Validate(); err != nil {
		return err
	}
	return nil
}

// observations: what the health gates read besides the Device resources.
// A device is online while its gateway says so (phase online); one without
// a session fails the heartbeat gate once it has been gone for grace
// since its gateway last heard it (status.lastSeen) or the controller
// started. A device the controller marked offline because its gateway
// stopped reporting in (Online Unknown) does not fail it: nothing says
// the device lost its session, its gateway is what went silent.
// The values of an app-level health gate are those the device's gateway
// recorded in the Device's status.healthValues (gateway/kubemode
// health.go).
func (r *applications) observations(devs map[string]*v1alpha1.Device) fleet.Observations {
	return fleet.Observations{
		Online: func(d *fleet.Device) bool {
			if d.Status.Phase == fleet.PhaseOnline {
				return true
			}
			o := devs[d.Name]
			return o != nil && gatewaySilent(o)
		},
		OfflineGrace: r.offlineGrace,
		Up:           r.started,
		Value: func(app, device, key string) (float64, time.Time, time.Time, bool) {
			if o := devs[device]; o != nil {
				return kubestore.HealthValueOf(o, app, key)
			}
			return 0, time.Time{}, time.Time{}, false
		},
	}
}

// admitSteps is, for a progressive rollout of a under way, the devices
// that may start taking its spec now (the Admission the gateways follow):
// those already admitted and not started keep their place, then online
// selected devices by name, as long as fleet.AdmitStep lets them (the
// step's target, the canary selector in the first step) and, for a
// batched strategy, maxUnavailable. A completed rollout admits as its
// strategy does.
func admitSteps(a *fleet.Application, devs []fleet.Device, deps []fleet.Deployment, prev *fleet.Admission, now time.Time) []string {
	p := a.CurrentProgress()
	switch {
	case p == nil || p.Phase == fleet.RolloutPaused || p.Phase == fleet.RolloutRolledBack:
		return nil
	case p.Phase == fleet.RolloutCompleted:
		if a.Rollout.Strategy == fleet.RolloutBatched {
			return fleet.AdmitBatch(a, devs, deps, prev, now)
		}
		return nil // all at once: the gateways admit every device
	}
	h := fleet.SpecHash(a)
	c := fleet.CountRollout(a, deps, now)
	took := c.Updated + c.InProgress + c.Failed
	started := map[string]bool{}
	for i := range deps {
		if d := &deps[i]; d.App == a.Name && d.SpecHash == h && !d.Removing {
			started[d.Device] = true
		}
	}
	byName := map[string]*fleet.Device{}
	var names []string
	for i := range devs {
		d := &devs[i]
		if a.Selector.Matches(d) && !started[d.Name] && d.Status.Phase == fleet.PhaseOnline {
			byName[d.Name] = d
			names = append(names, d.Name)
		}
	}
	slices.Sort(names)
	if prev != nil && prev.SpecHash == h {
		names = append(slices.Clone(prev.Devices), names...)
	}
	var out []string
	for _, n := range names {
		d := byName[n]
		if d == nil || slices.Contains(out, n) {
			continue
		}
		if a.Rollout.Strategy == fleet.RolloutBatched && c.InProgress+c.Failed+len(out) >= max(a.Rollout.MaxUnavailable, 1) {
			break
		}
		if fleet.AdmitStep(a, d, took+len(out)) {
			out = append(out, n)
		}
	}
	return out
}

// advanceRollout runs a's progressive rollout one evaluation further: the
// operator's action asked by annotation (if any), then
// fleet.AdvanceRollout. It sets a.Progress and returns the events to
// record once the status is written, the action consumed ("" none) and
// the error refusing it.
func (r *applications) advanceRollout(a *fleet.Application, action string, objs map[string]*v1alpha1.Device, devs []fleet.Device, deps []fleet.Deployment, now time.Time) ([]fleet.RolloutEvent, error) {
	var evs []fleet.RolloutEvent
	if p, changed, es := fleet.AdvanceRollout(a, devs, deps, r.observations(objs), now); changed {
		a.Progress = p
		evs = append(evs, es...)
	}
	if action == "" {
		return evs, nil
	}
	p, ev, err := fleet.Act(a, strings.TrimSpace(action), "annotation "+kubestore.AnnotationRolloutAction, now)
	if err != nil {
		return evs, err
	}
	a.Progress = p
	evs = append(evs, ev)
	// The action may move the rollout on at once (a promote past the
	// last step completes it; a resume re-evaluates the gates).
	if p, changed, es := fleet.AdvanceRollout(a, devs, deps, r.observations(objs), now); changed {
		a.Progress = p
		evs = append(evs, es...)
	}
	return evs, nil
}

// rolloutRequeue is when a's progressive rollout must be evaluated again
// without a change to watch: a bake ending, an offline device's grace
// running out, a health value's max age.
func (r *applications) rolloutRequeue(a *fleet.Application, now time.Time) time.Duration {
	p := a.CurrentProgress()
	if p == nil || !p.Active() {
		return 0
	}
	wait := max(r.offlineGrace/2, 100*time.Millisecond)
	if !p.BakeUntil.IsZero() {
		wait = min(wait, max(p.BakeUntil.Sub(now)+10*time.Millisecond, 10*time.Millisecond))
	}
	if hv := a.Rollout.Health; hv != nil {
		// A value that stops coming is noticed within a quarter of its max
		// age (as the gateway does in standalone mode).
		wait = min(wait, max(250*time.Millisecond, hv.MaxAge()/4))
	}
	return wait
}

// rolloutEvent records what a rollout did as a Kubernetes event on the
// Application: reason RolloutStarted, RolloutStep, RolloutFailure,
// RolloutPaused, RolloutResumed, RolloutRolledBack, RolloutCompleted.
func (r *applications) rolloutEvent(app *v1alpha1.Application, ev fleet.RolloutEvent) {
	typ := corev1.EventTypeNormal
	switch ev.Kind {
	case "rollout.failure", "rollout.paused", "rollout.rolled_back":
		typ = corev1.EventTypeWarning
	}
	r.rec.Event(app, typ, eventReason(ev.Kind), ev.Message)
}

// eventReason: rollout.rolled_back -> RolloutRolledBack.
func eventReason(kind string) string {
	var b strings.Builder
	up := true
	for _, c := range kind {
		switch {
		case c == '.' || c == '_':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(c)))
			up = false
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// takeAction removes the rollout-action annotation if it still asks for
// action (a JSON patch whose test fails when another pass took it, or the
// operator changed it meanwhile): taken reports whether this pass is the
// one to apply it; app is then the Application as the patch left it.
func (r *applications) takeAction(ctx context.Context, app *v1alpha1.Application, action string) (taken bool, err error) {
	path := "/metadata/annotations/" + strings.ReplaceAll(strings.ReplaceAll(kubestore.AnnotationRolloutAction, "~", "~0"), "/", "~1")
	patch, _ := json.Marshal([]map[string]any{{"op": "test", "path": path, "value": action}, {"op": "remove", "path": path}})
	err = r.c.Patch(ctx, app, client.RawPatch(types.JSONPatchType, patch))
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
		return false, nil // gone, or taken already (a failed test is 422)
	}
	if err != nil {
		return false, fmt.Errorf("remove annotation %s: %w", kubestore.AnnotationRolloutAction, err)
	}
	return true, nil
}

// gatewaySilent: the controller marked d offline because its gateway
// stopped reporting in (markUnknown), and the gateway has not written
// since.
func gatewaySilent(d *v1alpha1.Device) bool {
	c := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionOnline)
	return c != nil && c.Status == metav1.ConditionUnknown && c.Reason == reasonGatewayNotReporting
}
