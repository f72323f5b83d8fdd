package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/wasmbed/wasmbed/protocol"
)

// StepKind is what a Step sends.
type StepKind int

// Step kinds.
const (
	StepDeploy StepKind = iota + 1 // deploy (a new or resumed transfer)
	StepStart
	StepStop
	StepRemove
)

func (k StepKind) String() string {
	return [...]string{"", "deploy", "start", "stop", "remove"}[k]
}

// Step is one command for a device, with the deployment record to persist
// before it is sent (so a crash never loses a generation already used).
type Step struct {
	Kind       StepKind
	App        *Application // nil for StepRemove of a deleted application
	Deployment Deployment
}

// SpecHash identifies what a device must hold for an application: module,
// config and limits. A change of it needs a new deploy; a change of Running
// alone needs only start or stop.
func SpecHash(a *Application) string {
	b, _ := json.Marshal(struct {
		SHA256  string
		Version string
		Config  map[string]string
		Limits  Limits
	}{a.SHA256, a.Version, a.Config, a.Limits})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Settled reports whether a deployment reached what was asked of it.
func (d *Deployment) Settled() bool {
	switch d.State {
	case "running":
		return d.Running && !d.Removing
	case "installed", "stopped":
		return !d.Running && !d.Removing
	case "removed":
		return d.Removing
	}
	return false
}

// Tombstone reports whether the deployment only remembers a removed app
// (and its generation).
func (d *Deployment) Tombstone() bool { return d.Removing && d.State == "removed" }

// Failed reports whether the device stopped or refused the app.
func (d *Deployment) Failed() bool {
	switch d.State {
	case "trapped", "fuel_exhausted", "out_of_memory", "failed":
		return !d.Removing
	}
	return false
}

// RolloutCount summarises an application's deployments at its current spec.
type RolloutCount struct {
	Updated    int `json:"updated"`     // settled at the current spec
	InProgress int `json:"in_progress"` // sent, not yet settled
	Failed     int `json:"failed"`
}

// CountRollout counts deps (of any devices) for a at time now. An app that
// started running less than a.MinReady() ago is still in progress: an app
// that traps on its first ticks must not count as updated.
func CountRollout(a *Application, deps []Deployment, now time.Time) RolloutCount {
	var c RolloutCount
	h := SpecHash(a)
	ready := a.MinReady()
	for i := range deps {
		d := &deps[i]
		if d.App != a.Name || d.SpecHash != h || d.Removing {
			continue
		}
		switch {
		case d.Failed():
			c.Failed++
		case d.Settled() && d.Running == a.Running && (d.State != "running" || now.Sub(d.UpdatedAt) >= ready):
			c.Updated++
		default:
			c.InProgress++
		}
	}
	return c
}

// Admit reports whether a's rollout policy lets one more device, d, start
// updating, given the current count. With an Admission (Kubernetes mode)
// a batched rollout admits exactly the devices the controller listed for
// the current spec, whatever the count.
func Admit(a *Application, d *Device, c RolloutCount) bool {
	if a.Rollout.Strategy != RolloutBatched {
		return true
	}
	if a.Admission != nil {
		return a.Admission.SpecHash == SpecHash(a) && slices.Contains(a.Admission.Devices, d.Name)
	}
	return c.InProgress+c.Failed < max(a.Rollout.MaxUnavailable, 1)
}

// AdmitBatch is the controller's side of Admission: for a batched rollout
// of a over devs (every device, with its deployments in deps), the devices
// that may start updating now. Those already admitted and not yet started
// keep their place; new ones (online, selected, not at the current spec,
// by name) fill what MaxUnavailable leaves after the devices in progress,
// failed, or admitted. prev is the last Admission written (nil: none).
func AdmitBatch(a *Application, devs []Device, deps []Deployment, prev *Admission, now time.Time) []string {
	h := SpecHash(a)
	c := CountRollout(a, deps, now)
	started := map[string]bool{}
	for i := range deps {
		d := &deps[i]
		if d.App == a.Name && d.SpecHash == h && !d.Removing {
			started[d.Device] = true
		}
	}
	waiting := map[string]bool{} // selected, online, not started at this spec
	var names []string
	for i := range devs {
		d := &devs[i]
		if a.Selector.Matches(d) && !started[d.Name] && d.Status.Phase == PhaseOnline {
			waiting[d.Name] = true
			names = append(names, d.Name)
		}
	}
	var out []string
	if prev != nil && prev.SpecHash == h {
		for _, n := range prev.Devices {
			if waiting[n] {
				out = append(out, n)
				delete(waiting, n)
			}
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if c.InProgress+c.Failed+len(out) >= max(a.Rollout.MaxUnavailable, 1) {
			break
		}
		if waiting[n] {
			out = append(out, n)
		}
	}
	return out
}

// Plan decides the commands device d needs: for each application selecting
// it, deploy a new spec (when admit allows), or start or stop it; for each
// deployment no application wants any more, remove it. With resume (a new
// session) it also resends the last command of every deployment that has
// not settled, so interrupted transfers continue. apps and deps (d's
// deployments keyed by app) are read, never changed; the returned Steps carry
// the updated deployments.
func Plan(d *Device, apps []Application, deps map[string]Deployment, admit func(*Application, *Device) bool, resume bool) []Step {
	var steps []Step
	wanted := map[string]bool{}
	for i := range apps {
		a := &apps[i]
		if !a.Selector.Matches(d) {
			continue
		}
		wanted[a.Name] = true
		dep, exists := deps[a.Name]
		h := SpecHash(a)
		switch {
		case !exists || dep.SpecHash != h || dep.Removing:
			if !admit(a, d) {
				continue
			}
			next := Deployment{App: a.Name, Device: d.Name, Generation: dep.Generation + 1, Version: a.Version,
				SHA256: a.SHA256, SpecHash: h, Running: a.Running, State: protocol.AppStateDownloading.String(),
				Command: StepDeploy.String()}
			steps = append(steps, Step{Kind: StepDeploy, App: a, Deployment: next})
		case dep.Running != a.Running:
			next := dep
			next.Generation++
			next.Running = a.Running
			next.State, next.Detail = "", ""
			kind := StepStop
			if a.Running {
				kind = StepStart
			}
			next.Command = kind.String()
			steps = append(steps, Step{Kind: kind, App: a, Deployment: next})
		case resume && !dep.Settled() && !dep.Failed():
			steps = append(steps, Step{Kind: stepKind(dep.Command), App: a, Deployment: dep})
		}
	}
	var gone []string
	for name := range deps {
		if !wanted[name] {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		dep := deps[name]
		switch {
		case !dep.Removing:
			next := dep
			next.Generation++
			next.Removing = true
			next.Command = StepRemove.String()
			next.State, next.Detail = "", ""
			steps = append(steps, Step{Kind: StepRemove, Deployment: next})
		case resume && dep.State != "removed":
			steps = append(steps, Step{Kind: StepRemove, Deployment: dep})
		}
	}
	return steps
}

func stepKind(command string) StepKind {
	for k := StepDeploy; k <= StepRemove; k++ {
		if k.String() == command {
			return k
		}
	}
	return StepDeploy
}
