package kubestore

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
)

// AnnotationRolloutAction on an Application asks the controller for an
// operator's action on its progressive rollout: pause, resume, abort or
// promote (fleet.Act). The controller applies it, records an event and
// removes the annotation.
const AnnotationRolloutAction = "fleet.wasmbed.dev/rollout-action"

// The progressive rollout's policy (spec.rollout), its progress
// (status.rollout) and the stable release (status.stable) map onto
// fleet's types exactly: numbers that may have a fraction (percentages,
// health bounds) are integers when whole, else decimal strings.

func toNumber(v *intstr.IntOrString) float64 {
	if v == nil {
		return 0
	}
	if v.Type == intstr.Int {
		return float64(v.IntVal)
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v.StrVal), "%"), 64)
	if err != nil {
		return math.NaN() // fleet's validation names the field
	}
	return f
}

func fromNumber(f float64) *intstr.IntOrString {
	if f == math.Trunc(f) && math.Abs(f) < 1<<31 {
		v := intstr.FromInt32(int32(f))
		return &v
	}
	v := intstr.FromString(strconv.FormatFloat(f, 'g', -1, 64))
	return &v
}

func intPtr(p *int32) *int {
	if p == nil {
		return nil
	}
	v := int(*p)
	return &v
}

func int32Ptr(p *int) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}

func thresholdToFleet(t *v1alpha1.FailureThreshold) fleet.FailureThreshold {
	if t == nil {
		return fleet.FailureThreshold{}
	}
	return fleet.FailureThreshold{Count: int(t.Count), Percent: toNumber(t.Percent)}
}

func thresholdFromFleet(t fleet.FailureThreshold) *v1alpha1.FailureThreshold {
	if t == (fleet.FailureThreshold{}) {
		return nil
	}
	out := &v1alpha1.FailureThreshold{Count: int32(t.Count)}
	if t.Percent != 0 {
		out.Percent = fromNumber(t.Percent)
	}
	return out
}

func rolloutToFleet(r *v1alpha1.Rollout) fleet.Rollout {
	out := fleet.Rollout{Strategy: string(r.Strategy), MaxUnavailable: int(r.MaxUnavailable), MinReadySeconds: int(r.MinReadySeconds),
		Canary: toLabels(r.Canary), BakeSeconds: intPtr(r.BakeSeconds), StepFailures: thresholdToFleet(r.StepFailures),
		TotalFailures: thresholdToFleet(r.TotalFailures), OnFailure: r.OnFailure}
	for _, s := range r.Steps {
		out.Steps = append(out.Steps, fleet.RolloutStep{Devices: int(s.Devices), Percent: toNumber(s.Percent), BakeSeconds: intPtr(s.BakeSeconds)})
	}
	if h := r.Health; h != nil {
		out.Health = &fleet.HealthValue{Key: string(h.Key), MaxAgeSeconds: int(h.MaxAgeSeconds)}
		if h.Min != nil {
			v := toNumber(h.Min)
			out.Health.Min = &v
		}
		if h.Max != nil {
			v := toNumber(h.Max)
			out.Health.Max = &v
		}
	}
	return out
}

func rolloutFromFleet(r fleet.Rollout) v1alpha1.Rollout {
	out := v1alpha1.Rollout{Strategy: v1alpha1.RolloutStrategy(r.Strategy), MaxUnavailable: int32(r.MaxUnavailable),
		MinReadySeconds: int32(r.MinReadySeconds), Canary: fromLabels(r.Canary), BakeSeconds: int32Ptr(r.BakeSeconds),
		StepFailures: thresholdFromFleet(r.StepFailures), TotalFailures: thresholdFromFleet(r.TotalFailures), OnFailure: r.OnFailure}
	for _, s := range r.Steps {
		st := v1alpha1.RolloutStep{Devices: int32(s.Devices), BakeSeconds: int32Ptr(s.BakeSeconds)}
		if s.Percent != 0 {
			st.Percent = fromNumber(s.Percent)
		}
		out.Steps = append(out.Steps, st)
	}
	if h := r.Health; h != nil {
		out.Health = &v1alpha1.HealthGate{Key: v1alpha1.Name(h.Key), MaxAgeSeconds: int32(h.MaxAgeSeconds)}
		if h.Min != nil {
			out.Health.Min = fromNumber(*h.Min)
		}
		if h.Max != nil {
			out.Health.Max = fromNumber(*h.Max)
		}
	}
	return out
}

// ReleaseToFleet converts a release (nil: none).
func ReleaseToFleet(r *v1alpha1.Release) *fleet.Release {
	if r == nil {
		return nil
	}
	out := &fleet.Release{Version: string(r.Version), SHA256: string(r.SHA256), Size: int(r.Size),
		Config: maps.Clone(map[string]string(r.Config)),
		Limits: fleet.Limits{Fuel: uint64(r.Fuel), Memory: uint32(r.Memory), TickMS: uint32(r.TickMS)}}
	if len(out.Config) == 0 {
		out.Config = nil
	}
	return out
}

// ReleaseFromFleet converts a release (nil: none).
func ReleaseFromFleet(r *fleet.Release) *v1alpha1.Release {
	if r == nil {
		return nil
	}
	out := &v1alpha1.Release{Version: v1alpha1.Version(r.Version), SHA256: v1alpha1.SHA256(r.SHA256), Size: int64(r.Size),
		Fuel: int64(r.Limits.Fuel), Memory: int64(r.Limits.Memory), TickMS: int64(r.Limits.TickMS)}
	if len(r.Config) > 0 {
		out.Config = maps.Clone(r.Config)
	}
	return out
}

// HistoryToFleet converts an application's history.
func HistoryToFleet(h []v1alpha1.Revision) []fleet.Revision {
	var out []fleet.Revision
	for _, r := range h {
		f := fleet.Revision{Version: string(r.Version), SHA256: string(r.SHA256), Generation: r.Generation,
			Since: r.Since.UTC(), Outcome: r.Outcome}
		if r.Until != nil {
			f.Until = r.Until.UTC()
		}
		out = append(out, f)
	}
	return out
}

// HistoryFromFleet converts an application's history.
func HistoryFromFleet(h []fleet.Revision) []v1alpha1.Revision {
	var out []v1alpha1.Revision
	for _, r := range h {
		v := v1alpha1.Revision{Version: v1alpha1.Version(r.Version), SHA256: v1alpha1.SHA256(r.SHA256),
			Generation: r.Generation, Since: metav1.NewTime(r.Since), Outcome: r.Outcome}
		if !r.Until.IsZero() {
			t := metav1.NewTime(r.Until)
			v.Until = &t
		}
		out = append(out, v)
	}
	return out
}

// ProgressToFleet converts a rollout's progress (nil: none).
func ProgressToFleet(p *v1alpha1.RolloutProgress) *fleet.RolloutProgress {
	if p == nil {
		return nil
	}
	out := &fleet.RolloutProgress{SpecHash: p.SpecHash, Version: p.Version, Phase: string(p.Phase), Step: int(p.Step), Steps: int(p.Steps),
		Target: int(p.Target), Selected: int(p.Selected), Updated: int(p.Updated), Failed: int(p.Failed),
		BakeUntil: toMicro(p.BakeUntil), StartedAt: toMicro(p.StartedAt), StepStartedAt: toMicro(p.StepStartedAt),
		FinishedAt: toMicro(p.FinishedAt), Reason: p.Reason, RolledBackTo: p.RolledBackTo}
	for _, f := range p.Failures {
		out.Failures = append(out.Failures, fleet.RolloutFailure{Device: f.Device, Step: int(f.Step), Reason: f.Reason,
			Time: toMicro(f.Time), Generation: uint64(f.Generation), Accepted: f.Accepted})
	}
	return out
}

// ProgressFromFleet converts a rollout's progress (nil: none).
func ProgressFromFleet(p *fleet.RolloutProgress) *v1alpha1.RolloutProgress {
	if p == nil {
		return nil
	}
	out := &v1alpha1.RolloutProgress{SpecHash: p.SpecHash, Version: p.Version, Phase: v1alpha1.RolloutPhase(p.Phase),
		Step: int32(p.Step), Steps: int32(p.Steps), Target: int32(p.Target), Selected: int32(p.Selected), Updated: int32(p.Updated),
		Failed: int32(p.Failed), BakeUntil: fromMicro(p.BakeUntil), StartedAt: fromMicro(p.StartedAt),
		StepStartedAt: fromMicro(p.StepStartedAt), FinishedAt: fromMicro(p.FinishedAt), Reason: p.Reason, RolledBackTo: p.RolledBackTo}
	for _, f := range p.Failures {
		out.Failures = append(out.Failures, v1alpha1.RolloutFailure{Device: f.Device, Step: int32(f.Step), Reason: f.Reason,
			Time: fromMicro(f.Time), Generation: int64(f.Generation), Accepted: f.Accepted})
	}
	return out
}

// FollowerView is application a as a gateway in Kubernetes mode plans it:
// the controller is the one writer of rollout progress there, so a
// gateway never runs the progressive rollout engine itself (it would
// judge the devices of the other gateways offline, and several gateways
// would write progress). A progressive rollout is shown as a batched one
// whose admission is the controller's (status.admission: the devices the
// current step lets take the new spec, and none while paused or before
// the controller started the rollout); once rolled back, as its stable
// release sent all at once (fleet.Application.Effective), or not at all
// (ok false) when no earlier version passed, so that the devices that
// took it remove it; once completed, with its own strategy. Other
// applications are returned as they are.
func FollowerView(a fleet.Application) (view fleet.Application, ok bool) {
	if !a.Rollout.Progressive() {
		return a, true
	}
	if a.RolledBack() {
		e := a.Effective()
		if e == nil {
			return fleet.Application{}, false
		}
		v := *e
		v.Progress, v.Admission = nil, nil
		return v, true
	}
	v := a
	v.Rollout = fleet.Rollout{Strategy: fleet.RolloutBatched, MaxUnavailable: max(a.Rollout.MaxUnavailable, 1),
		MinReadySeconds: a.Rollout.MinReadySeconds}
	if p := a.CurrentProgress(); p != nil && p.Phase == fleet.RolloutCompleted && a.Rollout.Strategy != fleet.RolloutBatched {
		v.Rollout.Strategy = fleet.RolloutAllAtOnce
	}
	v.Progress = nil
	if v.Admission != nil {
		adm := *v.Admission
		adm.Devices = slices.Clone(adm.Devices)
		v.Admission = &adm
	}
	return v, true
}

// HealthValueOf is the value device o's gateway last recorded for app
// under key (status.healthValues): the value, when the device stamped it
// and when the gateway received it; ok false if none.
func HealthValueOf(o *v1alpha1.Device, app, key string) (v float64, stamped, received time.Time, ok bool) {
	for _, r := range o.Status.HealthValues {
		if string(r.App) != app || string(r.Key) != key {
			continue
		}
		f, err := strconv.ParseFloat(r.Value, 64)
		if err != nil {
			return 0, time.Time{}, time.Time{}, false
		}
		return f, toMicro(r.Stamped), toMicro(r.Received), true
	}
	return 0, time.Time{}, time.Time{}, false
}

// HealthValueRecord makes the record of a value app published under key.
func HealthValueRecord(app, key string, v float64, stamped, received time.Time) v1alpha1.HealthValueRecord {
	return v1alpha1.HealthValueRecord{App: v1alpha1.Name(app), Key: v1alpha1.Name(key), Value: strconv.FormatFloat(v, 'g', -1, 64),
		Stamped: fromMicro(stamped), Received: fromMicro(received)}
}
