package fleet

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/wasmbed/wasmbed/protocol"
)

// A progressive rollout (Rollout.Steps not empty) brings a new spec of an
// application to its selected devices in ordered steps. Each step raises
// the number of devices allowed to take the new spec (cumulative: 1
// device, then 5 %, then 25 %...); once every device of a step is updated
// the step bakes for its bake time while health gates watch the devices
// that took the new spec. A device fails a gate when its app is trapped,
// out of fuel or memory, failed (refused, or "crashed: ..." after a reset
// it caused), when the device resets unexpectedly, or when it stops
// heartbeating (its session ends). Failures beyond the step's or the
// total threshold halt the rollout: it pauses, or rolls back every device
// that took the new spec to the last spec that passed (Application.Stable)
// while devices that never got it are left alone. Within a step the
// strategy (all_at_once, or batched with max_unavailable) still decides
// how many devices update at once.
//
// The logic here is store-independent: the gateway runs it in standalone
// mode, the controller in Kubernetes mode.

// What a progressive rollout does when its failures pass a threshold.
const (
	OnFailurePause    = "pause"
	OnFailureRollback = "rollback"
)

// Phases of a progressive rollout (RolloutProgress.Phase).
const (
	RolloutRollingOut = "rolling_out"
	RolloutPaused     = "paused"
	RolloutRolledBack = "rolled_back"
	RolloutCompleted  = "completed"
)

// Operator actions on a progressive rollout (RolloutProgress.Act).
const (
	ActionPause   = "pause"
	ActionResume  = "resume"
	ActionAbort   = "abort"
	ActionPromote = "promote"
)

// DefaultBakeSeconds is a step's bake time when neither the step nor the
// rollout sets one.
const DefaultBakeSeconds = 60

// MaxRolloutSteps bounds a rollout's steps.
const MaxRolloutSteps = 20

// RolloutStep is one step of a progressive rollout: how many of the
// selected devices may run the new spec once the step starts, as a count
// (Devices) or a percentage (Percent, rounded up, at least one device),
// cumulative over the steps before.
type RolloutStep struct {
	Devices int     `json:"devices,omitempty" openapi:"min=0"`
	Percent float64 `json:"percent,omitempty" openapi:"min=0,max=100"`
	// BakeSeconds: how long the step's devices must stay healthy, once all
	// updated, before the next step starts; nil: the rollout's bake_seconds.
	BakeSeconds *int `json:"bake_seconds,omitempty" openapi:"min=0"`
}

// FailureThreshold is how many failed devices a rollout tolerates: at
// most Count devices and at most Percent % (rounded down) of the devices
// concerned (a step's, or all selected). A step's threshold with neither
// set tolerates nothing: one failure halts the rollout; an unset total
// threshold leaves it to the steps'.
type FailureThreshold struct {
	Count   int     `json:"count,omitempty" openapi:"min=0"`
	Percent float64 `json:"percent,omitempty" openapi:"min=0,max=100"`
}

// Tolerated is how many failures of n devices t lets pass.
func (t FailureThreshold) Tolerated(n int) int {
	tol := math.MaxInt
	if t.Count > 0 {
		tol = t.Count
	}
	if t.Percent > 0 {
		tol = min(tol, int(math.Floor(t.Percent*float64(n)/100+1e-9)))
	}
	if tol == math.MaxInt {
		return 0
	}
	return tol
}

// Progressive reports whether the rollout goes by steps.
func (r *Rollout) Progressive() bool { return len(r.Steps) > 0 }

// Equal reports whether r and o are the same policy.
func (r *Rollout) Equal(o *Rollout) bool { return reflect.DeepEqual(r, o) }

// StepTargets is, for n selected devices, the number of devices each step
// lets run the new spec (non-decreasing, the last one n: a final step of
// every device is implied when the last step does not reach them all).
func (r *Rollout) StepTargets(n int) []int {
	var out []int
	for _, s := range r.Steps {
		k := s.Devices
		if s.Percent > 0 {
			k = int(math.Ceil(s.Percent*float64(n)/100 - 1e-9))
		}
		k = min(max(k, 1), n)
		if len(out) > 0 {
			k = max(k, out[len(out)-1])
		}
		out = append(out, k)
	}
	if len(out) == 0 || out[len(out)-1] < n {
		out = append(out, n)
	}
	return out
}

// Bake is step i's (0-based) bake time.
func (r *Rollout) Bake(i int) time.Duration {
	s := DefaultBakeSeconds
	if r.BakeSeconds != nil {
		s = *r.BakeSeconds
	}
	if i < len(r.Steps) && r.Steps[i].BakeSeconds != nil {
		s = *r.Steps[i].BakeSeconds
	} else if i >= len(r.Steps) && len(r.Steps) > 0 && r.Steps[len(r.Steps)-1].BakeSeconds != nil {
		s = *r.Steps[len(r.Steps)-1].BakeSeconds // the implied last step bakes like the one before
	}
	return time.Duration(s) * time.Second
}

// SetDefaults fills what a progressive rollout leaves unset.
func (r *Rollout) SetDefaults() {
	if r.Strategy == "" {
		r.Strategy = RolloutAllAtOnce
	}
	if r.Progressive() && r.OnFailure == "" {
		r.OnFailure = OnFailureRollback
	}
}

// Validate checks a rollout policy (after SetDefaults); the errors name
// the field.
func (r *Rollout) Validate() error {
	var errs []error
	switch r.Strategy {
	case RolloutAllAtOnce:
	case RolloutBatched:
		if r.MaxUnavailable < 1 {
			errs = append(errs, errors.New("rollout: batched needs max_unavailable >= 1"))
		}
	default:
		errs = append(errs, fmt.Errorf("rollout.strategy %q: want %s or %s", r.Strategy, RolloutAllAtOnce, RolloutBatched))
	}
	if r.MinReadySeconds < 0 {
		errs = append(errs, errors.New("rollout.min_ready_seconds: must not be negative"))
	}
	if !r.Progressive() {
		if len(r.Canary) > 0 || r.BakeSeconds != nil || r.OnFailure != "" || r.StepFailures != (FailureThreshold{}) ||
			r.TotalFailures != (FailureThreshold{}) || r.Health != nil {
			errs = append(errs, errors.New("rollout: canary, bake_seconds, step_failures, total_failures, health and on_failure need steps"))
		}
		return errors.Join(errs...)
	}
	if len(r.Steps) > MaxRolloutSteps {
		errs = append(errs, fmt.Errorf("rollout.steps: %d steps, at most %d", len(r.Steps), MaxRolloutSteps))
	}
	lastPct, lastDev := 0.0, 0
	for i, s := range r.Steps {
		at := fmt.Sprintf("rollout.steps[%d]", i)
		switch {
		case (s.Devices > 0) == (s.Percent > 0):
			errs = append(errs, fmt.Errorf("%s: give devices (>= 1) or percent (0 to 100), one of them", at))
		case s.Devices < 0 || s.Percent < 0 || s.Percent > 100 || math.IsNaN(s.Percent):
			errs = append(errs, fmt.Errorf("%s: devices must be >= 1, percent in (0, 100]", at))
		case s.Percent > 0 && s.Percent < lastPct, s.Devices > 0 && s.Devices < lastDev:
			errs = append(errs, fmt.Errorf("%s: steps are cumulative and must not shrink", at))
		}
		if s.Percent > 0 {
			lastPct = s.Percent
		} else {
			lastDev = s.Devices
		}
		if s.BakeSeconds != nil && *s.BakeSeconds < 0 {
			errs = append(errs, fmt.Errorf("%s.bake_seconds: must not be negative", at))
		}
	}
	if r.BakeSeconds != nil && *r.BakeSeconds < 0 {
		errs = append(errs, errors.New("rollout.bake_seconds: must not be negative"))
	}
	if err := ValidateLabels(r.Canary); err != nil {
		errs = append(errs, fmt.Errorf("rollout.canary: %w", err))
	}
	for name, t := range map[string]FailureThreshold{"step_failures": r.StepFailures, "total_failures": r.TotalFailures} {
		if t.Count < 0 || t.Percent < 0 || t.Percent > 100 || math.IsNaN(t.Percent) {
			errs = append(errs, fmt.Errorf("rollout.%s: count must be >= 0, percent in [0, 100]", name))
		}
	}
	if r.Health != nil {
		if err := r.Health.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if r.OnFailure != OnFailurePause && r.OnFailure != OnFailureRollback {
		errs = append(errs, fmt.Errorf("rollout.on_failure %q: want %s or %s", r.OnFailure, OnFailurePause, OnFailureRollback))
	}
	return errors.Join(errs...)
}

// Release is one spec of an application (module, version, config,
// limits): what a rollback brings devices back to.
type Release struct {
	Version string            `json:"version"`
	SHA256  string            `json:"sha256"`
	Size    int               `json:"size"`
	Config  map[string]string `json:"config,omitempty"`
	Limits  Limits            `json:"limits"`
}

// ReleaseOf is a's current spec as a Release.
func ReleaseOf(a *Application) *Release {
	return &Release{Version: a.Version, SHA256: a.SHA256, Size: a.Size, Config: maps.Clone(a.Config), Limits: a.Limits}
}

// RolloutFailure is a device that failed a health gate during a
// progressive rollout.
type RolloutFailure struct {
	Device string    `json:"device"`
	Step   int       `json:"step"` // 1-based step under way when it failed
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
	// Generation is the device's deployment generation that failed: the
	// same failure is recorded once, a new deploy that fails again anew.
	Generation uint64 `json:"generation"`
	// Accepted: an operator resumed or promoted past it; it counts no more.
	Accepted bool `json:"accepted,omitempty"`
}

// RolloutProgress is where a progressive rollout of one spec stands: the
// status the gateway (standalone) or the controller (Kubernetes) writes.
type RolloutProgress struct {
	SpecHash string `json:"spec_hash"` // the spec rolled out (SpecHash)
	Version  string `json:"version"`
	Phase    string `json:"phase"` // rolling_out, paused, rolled_back, completed
	Step     int    `json:"step"`  // 1-based
	Steps    int    `json:"steps"`
	// Target is how many selected devices the current step lets run the
	// new spec; Selected how many devices the application selects.
	Target   int `json:"target"`
	Selected int `json:"selected"`
	// Updated: devices running the new spec (min-ready passed); Failed:
	// failures not accepted.
	Updated int `json:"updated"`
	Failed  int `json:"failed"`
	// BakeUntil, once every device of the step is updated: when the step
	// passes if no gate fails.
	BakeUntil     time.Time        `json:"bake_until,omitzero"`
	StartedAt     time.Time        `json:"started_at"`
	StepStartedAt time.Time        `json:"step_started_at"`
	FinishedAt    time.Time        `json:"finished_at,omitzero"` // completed or rolled back
	Failures      []RolloutFailure `json:"failures,omitempty"`
	// Reason says why the rollout paused or rolled back.
	Reason string `json:"reason,omitempty"`
	// RolledBackTo is the version the devices that took this spec went
	// back to; empty with no earlier version: the app is removed from them.
	RolledBackTo string `json:"rolled_back_to,omitempty"`
}

// Active reports whether the rollout may still send the new spec.
func (p *RolloutProgress) Active() bool { return p.Phase == RolloutRollingOut }

// CurrentProgress is a's progress when it is for a's current spec and a's
// rollout is progressive; nil otherwise (not started yet, or none).
func (a *Application) CurrentProgress() *RolloutProgress {
	if !a.Rollout.Progressive() || a.Progress == nil || a.Progress.SpecHash != SpecHash(a) {
		return nil
	}
	return a.Progress
}

// RolledBack reports whether a's current spec was rolled back: its devices
// must run a.Stable (or, without one, not run the app).
func (a *Application) RolledBack() bool {
	p := a.CurrentProgress()
	return p != nil && p.Phase == RolloutRolledBack
}

// Effective is the application the devices must hold now: a itself, or
// after a rollback a copy at its stable release, sent to every device
// that does not hold it at once (all at once, no steps), or nil when
// there is none: the app is removed from the devices that took it.
func (a *Application) Effective() *Application {
	if !a.RolledBack() {
		return a
	}
	if a.Stable == nil {
		return nil
	}
	e := *a
	e.Version, e.SHA256, e.Size, e.Config, e.Limits = a.Stable.Version, a.Stable.SHA256, a.Stable.Size, a.Stable.Config, a.Stable.Limits
	e.Rollout = Rollout{Strategy: RolloutAllAtOnce, MinReadySeconds: a.Rollout.MinReadySeconds}
	return &e
}

// NextStable is the Stable an application replacing old should remember:
// old's spec when it passed (its rollout completed, or it had no steps),
// else the one old remembered.
func NextStable(old *Application) *Release {
	if !old.Rollout.Progressive() {
		return ReleaseOf(old)
	}
	if p := old.CurrentProgress(); p != nil && p.Phase == RolloutCompleted {
		return ReleaseOf(old)
	}
	return old.Stable
}

// MaxHistory bounds an application's History.
const MaxHistory = 20

// Revision is one module version an application had.
type Revision struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	// Generation is the application's generation when the version was set.
	Generation int64     `json:"generation"`
	Since      time.Time `json:"since"`
	// Until is when another version replaced it (zero for the current one);
	// Outcome how its rollout stood then: completed, rolled_back, paused or
	// rolling_out for a progressive rollout, replaced otherwise.
	Until   time.Time `json:"until,omitzero"`
	Outcome string    `json:"outcome,omitempty" enum:"completed,rolled_back,paused,rolling_out,replaced"`
}

// OutcomeReplaced is the Outcome of a version replaced while no
// progressive rollout judged it.
const OutcomeReplaced = "replaced"

// NextHistory is the History of cur, which replaces old (nil for a new
// application) at now: a new version or module opens a revision and closes
// the one before with how its rollout stood; any other change keeps it.
func NextHistory(old, cur *Application, now time.Time) []Revision {
	var h []Revision
	if old != nil {
		h = slices.Clone(old.History)
		if len(h) == 0 { // written before histories were kept: start from old
			h = []Revision{{Version: old.Version, SHA256: old.SHA256, Generation: old.Generation, Since: old.CreatedAt}}
		}
		if old.Version == cur.Version && old.SHA256 == cur.SHA256 {
			return h
		}
		outcome := OutcomeReplaced
		if p := old.CurrentProgress(); p != nil {
			outcome = p.Phase
		}
		h[0].Until, h[0].Outcome = now, outcome
	}
	h = append([]Revision{{Version: cur.Version, SHA256: cur.SHA256, Generation: cur.Generation, Since: now}}, h...)
	return h[:min(len(h), MaxHistory)]
}

// AdmitStep reports whether a progressive rollout lets device d start
// taking a's current spec, with took devices already holding it: while
// rolling out, up to the step's target, and in the first step only
// devices the canary selector matches; once completed, any.
func AdmitStep(a *Application, d *Device, took int) bool {
	if !a.Rollout.Progressive() {
		return true
	}
	p := a.CurrentProgress()
	switch {
	case p == nil:
		return false
	case p.Phase == RolloutCompleted:
		return true // devices that come later (or back) get it
	case !p.Active() || took >= p.Target:
		return false
	}
	return p.Step > 1 || (Selector{Labels: a.Rollout.Canary}).Matches(d)
}

// Observations is what the health gates read besides the store.
type Observations struct {
	// Online reports whether a device holds a session (heartbeats).
	Online func(*Device) bool
	// OfflineGrace is how long a device may be without a session before
	// it fails the heartbeat gate, counted from when it was last heard
	// (LastHeard, or else Status.LastSeen) or, if later, Up: when the
	// observer (a gateway just started) began to watch. It lets a device
	// reconnect, and a restarted gateway's devices come back, without
	// failing.
	OfflineGrace time.Duration
	Up           time.Time
	// LastHeard is when the observer last heard a device that has no
	// session (zero: not known; the stored LastSeen, which is written when
	// a session ends, stands).
	LastHeard func(*Device) time.Time
	// Value is the latest value device published under key for app, the
	// time the device stamped it with and when the gateway received it;
	// nil or !ok: none known.
	Value func(app, device, key string) (v float64, stamped, received time.Time, ok bool)
}

// gateFailure says why device d, holding deployment dep of a's new spec,
// fails a health gate at now, or "" if it does not; healthy tells whether
// the app-level gate (if any) passed: a value in range received since the
// app started.
func gateFailure(a *Application, d *Device, dep *Deployment, obs Observations, since, now time.Time) (why string, healthy bool) {
	switch {
	case dep.Failed():
		if dep.Detail != "" {
			return dep.State + ": " + dep.Detail, false
		}
		return dep.State, false
	case d.Status.Reset != nil && d.Status.Reset.Unexpected > 0 && !d.Status.Reset.Time.Before(since):
		r := d.Status.Reset
		msg := "unexpected reset: " + r.Cause
		if r.Detail != "" {
			msg += ": " + r.Detail
		}
		return msg, false
	case obs.Online != nil && !obs.Online(d):
		since := d.Status.LastSeen
		if obs.LastHeard != nil {
			if t := obs.LastHeard(d); t.After(since) {
				since = t
			}
		}
		if obs.Up.After(since) {
			since = obs.Up
		}
		if off := now.Sub(since); off > obs.OfflineGrace {
			return fmt.Sprintf("stopped heartbeating (no session for %s)", off.Round(time.Second)), false
		}
		return "", false // may come back
	}
	hv := a.Rollout.Health
	if hv == nil {
		return "", true
	}
	if dep.State != "running" || !a.Running {
		return "", false // not started yet: nothing to judge
	}
	maxAge := hv.MaxAge()
	var v float64
	var stamped, at time.Time
	ok := false
	if obs.Value != nil {
		v, stamped, at, ok = obs.Value(a.Name, d.Name, hv.Key)
	}
	switch {
	// A value counts for this version when it was both stamped and
	// received after the device said the version runs: output queued by
	// the version before may arrive after that.
	case !ok || at.Before(dep.UpdatedAt) || stamped.Before(dep.UpdatedAt):
		if now.Sub(dep.UpdatedAt) > maxAge {
			return fmt.Sprintf("published no %s in %s of running", hv.Key, maxAge), false
		}
		return "", false
	case hv.Min != nil && v < *hv.Min:
		return fmt.Sprintf("%s = %g, below %g", hv.Key, v, *hv.Min), false
	case hv.Max != nil && v > *hv.Max:
		return fmt.Sprintf("%s = %g, above %g", hv.Key, v, *hv.Max), false
	case now.Sub(at) > maxAge:
		return fmt.Sprintf("stopped publishing %s (last %s ago)", hv.Key, now.Sub(at).Round(time.Millisecond)), false
	}
	return "", true
}

// HealthValue is an app-level health gate: a value the app publishes
// (the ABI's publish) under Key. Every device that took the new spec must
// publish it within MaxAgeSeconds of starting the app and keep doing so
// (the latest value at most MaxAgeSeconds old), within [Min, Max]; a
// device counts as updated only once it did.
type HealthValue struct {
	Key           string   `json:"key" openapi:"required,name"`
	Min           *float64 `json:"min,omitempty"`
	Max           *float64 `json:"max,omitempty"`
	MaxAgeSeconds int      `json:"max_age_seconds,omitempty" openapi:"min=0"` // default DefaultHealthMaxAge
}

// DefaultHealthMaxAge is HealthValue.MaxAgeSeconds's default.
const DefaultHealthMaxAge = 30

// MaxAge is how old the latest value may be.
func (h *HealthValue) MaxAge() time.Duration {
	if h.MaxAgeSeconds > 0 {
		return time.Duration(h.MaxAgeSeconds) * time.Second
	}
	return DefaultHealthMaxAge * time.Second
}

func (h *HealthValue) validate() error {
	var errs []error
	if err := protocol.ValidName(h.Key); err != nil {
		errs = append(errs, fmt.Errorf("rollout.health.key: %w", err))
	}
	if h.Min == nil && h.Max == nil {
		errs = append(errs, errors.New("rollout.health: give min, max or both"))
	}
	if h.Min != nil && h.Max != nil && *h.Min > *h.Max {
		errs = append(errs, errors.New("rollout.health: min above max"))
	}
	for _, v := range []*float64{h.Min, h.Max} {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
			errs = append(errs, errors.New("rollout.health: min and max must be finite"))
		}
	}
	if h.MaxAgeSeconds < 0 {
		errs = append(errs, errors.New("rollout.health.max_age_seconds: must not be negative"))
	}
	return errors.Join(errs...)
}

// RolloutEvent is what AdvanceRollout reports happened, to be recorded.
type RolloutEvent struct {
	Kind    string // rollout.started, rollout.step, rollout.failure, rollout.paused, rollout.rolled_back, rollout.completed
	Message string
}

// AdvanceRollout evaluates a's progressive rollout over every device
// (devs) and deployment (deps) at now, with what obs tells of them: it starts the progress of a new spec, records gate failures,
// halts on a threshold, and moves to the next step once a step has baked.
// It returns the new progress (nil when a's rollout is not progressive),
// whether it changed, and the events to record. a is not changed.
func AdvanceRollout(a *Application, devs []Device, deps []Deployment, obs Observations, now time.Time) (*RolloutProgress, bool, []RolloutEvent) {
	if !a.Rollout.Progressive() {
		return nil, false, nil
	}
	h := SpecHash(a)
	var evs []RolloutEvent
	var p RolloutProgress
	if cur := a.CurrentProgress(); cur != nil {
		p = *cur
		p.Failures = slices.Clone(cur.Failures)
	} else {
		p = RolloutProgress{SpecHash: h, Version: a.Version, Phase: RolloutRollingOut, Step: 1, StartedAt: now, StepStartedAt: now}
		evs = append(evs, RolloutEvent{"rollout.started", "version " + a.Version + " rolling out by steps"})
	}
	before := p
	before.Failures = slices.Clone(p.Failures)

	byDevice := map[string]*Deployment{}
	for i := range deps {
		if deps[i].App == a.Name && !deps[i].Removing {
			byDevice[deps[i].Device] = &deps[i]
		}
	}
	var selected []*Device
	canary := 0
	for i := range devs {
		if a.Selector.Matches(&devs[i]) {
			selected = append(selected, &devs[i])
			if len(a.Rollout.Canary) > 0 && (Selector{Labels: a.Rollout.Canary}).Matches(&devs[i]) {
				canary++
			}
		}
	}
	targets := a.Rollout.StepTargets(len(selected))
	p.Steps, p.Selected = len(targets), len(selected)
	p.Step = min(p.Step, len(targets))
	p.Target = targets[p.Step-1]
	if p.Step == 1 && len(a.Rollout.Canary) > 0 {
		p.Target = min(p.Target, canary)
	}

	// Gates, over the devices holding the new spec.
	ready := a.MinReady()
	took, updated, failing := 0, 0, 0
	seen := map[string]bool{} // device/generation failures recorded
	for _, f := range p.Failures {
		seen[fmt.Sprint(f.Device, "/", f.Generation)] = true
	}
	for _, d := range selected {
		dep := byDevice[d.Name]
		if dep == nil || dep.SpecHash != h {
			continue
		}
		took++
		why, healthy := gateFailure(a, d, dep, obs, p.StartedAt, now)
		switch {
		case why != "":
			failing++
		case healthy && dep.Settled() && dep.Running == a.Running && (dep.State != "running" || now.Sub(dep.UpdatedAt) >= ready):
			updated++
		}
		if why == "" || !p.Active() || seen[fmt.Sprint(d.Name, "/", dep.Generation)] {
			continue
		}
		seen[fmt.Sprint(d.Name, "/", dep.Generation)] = true
		p.Failures = append(p.Failures, RolloutFailure{Device: d.Name, Step: p.Step, Reason: why, Time: now, Generation: dep.Generation})
		evs = append(evs, RolloutEvent{"rollout.failure", fmt.Sprintf("step %d of %d: %s: %s", p.Step, p.Steps, d.Name, why)})
	}
	p.Updated = updated
	stepFailed, failed := 0, 0
	for _, f := range p.Failures {
		if f.Accepted {
			continue
		}
		failed++
		if f.Step == p.Step {
			stepFailed++
		}
	}
	p.Failed = failed

	if p.Active() {
		stepSize := p.Target
		if p.Step > 1 {
			stepSize -= targets[p.Step-2]
		}
		stepTol, totalTol := a.Rollout.StepFailures.Tolerated(max(stepSize, 1)), math.MaxInt
		if a.Rollout.TotalFailures != (FailureThreshold{}) {
			totalTol = a.Rollout.TotalFailures.Tolerated(len(selected))
		}
		switch {
		case stepFailed > stepTol || failed > totalTol:
			what := fmt.Sprintf("%d failed device(s) in step %d of %d (tolerated %d)", stepFailed, p.Step, p.Steps, stepTol)
			if failed > totalTol {
				what = fmt.Sprintf("%d failed device(s) in total (tolerated %d)", failed, totalTol)
			}
			p.Reason = what + ": " + describeFailures(p.Failures)
			evs = append(evs, p.halt(a, now))
		case len(selected) == 0:
			// No device selected: nothing to gate or bake; the rollout
			// completes (devices selected later take the spec at once).
			p.Step = p.Steps
			evs = append(evs, p.next(now))
		case p.Step == 1 && len(a.Rollout.Canary) > 0 && canary == 0:
			p.Phase, p.Reason = RolloutPaused, "the canary selector matches no selected device"
			evs = append(evs, RolloutEvent{"rollout.paused", p.Reason})
		case took >= p.Target && updated+failing >= took && p.Target > 0:
			// Every device of the step is updated (or failed within the
			// thresholds): bake, then the next step.
			if p.BakeUntil.IsZero() {
				p.BakeUntil = now.Add(a.Rollout.Bake(p.Step - 1))
			}
			if !now.Before(p.BakeUntil) {
				evs = append(evs, p.next(now))
			}
		}
	}
	changed := !reflect.DeepEqual(before, p) || a.CurrentProgress() == nil
	return &p, changed, evs
}

// halt stops the rollout as a's policy says: pause or roll back.
func (p *RolloutProgress) halt(a *Application, now time.Time) RolloutEvent {
	if a.Rollout.OnFailure == OnFailurePause {
		p.Phase = RolloutPaused
		return RolloutEvent{"rollout.paused", p.Reason}
	}
	return p.rollBack(a, now)
}

func (p *RolloutProgress) rollBack(a *Application, now time.Time) RolloutEvent {
	p.Phase, p.FinishedAt, p.BakeUntil = RolloutRolledBack, now, time.Time{}
	p.RolledBackTo = ""
	to := "the app is removed from the devices that took it (no earlier version passed)"
	if a.Stable != nil {
		p.RolledBackTo = a.Stable.Version
		to = "the devices that took it go back to version " + a.Stable.Version
	}
	return RolloutEvent{"rollout.rolled_back", fmt.Sprintf("version %s rolled back at step %d of %d: %s; %s", a.Version, p.Step, p.Steps, p.Reason, to)}
}

// next moves to the next step, or completes the rollout after the last.
func (p *RolloutProgress) next(now time.Time) RolloutEvent {
	p.BakeUntil = time.Time{}
	if p.Step >= p.Steps {
		p.Phase, p.FinishedAt = RolloutCompleted, now
		return RolloutEvent{"rollout.completed", fmt.Sprintf("version %s on every selected device (%d steps)", p.Version, p.Steps)}
	}
	p.Step++
	p.StepStartedAt = now
	return RolloutEvent{"rollout.step", fmt.Sprintf("version %s: step %d of %d", p.Version, p.Step, p.Steps)}
}

// describeFailures lists the failures not accepted, "device: reason; ...".
func describeFailures(fs []RolloutFailure) string {
	var parts []string
	for _, f := range fs {
		if !f.Accepted {
			parts = append(parts, f.Device+": "+f.Reason)
		}
	}
	if len(parts) > 10 {
		parts = append(parts[:10], fmt.Sprintf("and %d more", len(parts)-10))
	}
	return strings.Join(parts, "; ")
}

// ErrRolloutState is returned by Act for an action the rollout's phase
// does not allow.
var ErrRolloutState = errors.New("rollout action not allowed")

// Act applies an operator's action (pause, resume, abort, promote) to a's
// progress at now, by actor. pause: a rolling-out rollout stops admitting
// devices. resume: a paused rollout goes on, its failures so far accepted;
// a rolled-back one starts again from its first step. abort: the rollout
// is rolled back. promote: the current step's bake (and any pause) is
// skipped, failures so far accepted, and the next step starts (after the
// last, the rollout completes).
func Act(a *Application, action, actor string, now time.Time) (*RolloutProgress, RolloutEvent, error) {
	cur := a.CurrentProgress()
	if !a.Rollout.Progressive() {
		return nil, RolloutEvent{}, fmt.Errorf("%w: application %s has no rollout steps", ErrRolloutState, a.Name)
	}
	if cur == nil {
		return nil, RolloutEvent{}, fmt.Errorf("%w: the rollout of %s version %s has not started yet; try again", ErrRolloutState, a.Name, a.Version)
	}
	p := *cur
	p.Failures = slices.Clone(cur.Failures)
	by := " (by " + actor + ")"
	accept := func() {
		for i := range p.Failures {
			p.Failures[i].Accepted = true
		}
		p.Failed = 0
	}
	not := func() error {
		return fmt.Errorf("%w: cannot %s a rollout that is %s", ErrRolloutState, action, p.Phase)
	}
	var ev RolloutEvent
	switch action {
	case ActionPause:
		if p.Phase != RolloutRollingOut {
			return nil, ev, not()
		}
		p.Phase, p.Reason = RolloutPaused, "paused"+by
		ev = RolloutEvent{"rollout.paused", fmt.Sprintf("version %s at step %d of %d: %s", p.Version, p.Step, p.Steps, p.Reason)}
	case ActionResume:
		switch p.Phase {
		case RolloutPaused:
		case RolloutRolledBack:
			p.Step, p.StartedAt, p.FinishedAt, p.RolledBackTo = 1, now, time.Time{}, ""
		default:
			return nil, ev, not()
		}
		accept()
		p.Phase, p.Reason, p.StepStartedAt, p.BakeUntil = RolloutRollingOut, "", now, time.Time{}
		ev = RolloutEvent{"rollout.resumed", fmt.Sprintf("version %s at step %d of %d%s", p.Version, p.Step, p.Steps, by)}
	case ActionAbort:
		if p.Phase != RolloutRollingOut && p.Phase != RolloutPaused {
			return nil, ev, not()
		}
		p.Reason = "aborted" + by
		ev = p.rollBack(a, now)
	case ActionPromote:
		if p.Phase != RolloutRollingOut && p.Phase != RolloutPaused {
			return nil, ev, not()
		}
		accept()
		p.Phase, p.Reason = RolloutRollingOut, ""
		ev = p.next(now)
		ev.Message += ", promoted" + by
	default:
		return nil, ev, fmt.Errorf("rollout action %q: want %s, %s, %s or %s", action, ActionPause, ActionResume, ActionAbort, ActionPromote)
	}
	return &p, ev, nil
}
