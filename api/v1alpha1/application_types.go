package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Limits bound an app on each device.
type Limits struct {
	// Fuel is the instructions an init or tick call may run.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=250000
	// +optional
	Fuel int64 `json:"fuel,omitempty"`
	// Memory is bytes of linear memory.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:default=65536
	// +optional
	Memory int64 `json:"memory,omitempty"`
	// TickMS is the period of the tick export, milliseconds.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:default=1000
	// +optional
	TickMS int64 `json:"tickMS,omitempty"`
}

// Selector picks the devices an application runs on: all labels must
// match and, when boards is not empty, the board must be one of them.
type Selector struct {
	// +optional
	Labels Labels `json:"labels,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	Boards []Board `json:"boards,omitempty"`
}

// RolloutStrategy is how a new version reaches the devices.
// +kubebuilder:validation:Enum=all_at_once;batched
type RolloutStrategy string

// Rollout strategies (fleet.RolloutAllAtOnce, fleet.RolloutBatched).
const (
	RolloutAllAtOnce RolloutStrategy = "all_at_once"
	RolloutBatched   RolloutStrategy = "batched"
)

// Rollout says how a new version reaches the selected devices.
type Rollout struct {
	// Strategy: all_at_once, or batched (at most maxUnavailable devices
	// updating or failed at a time; a failure halts the rollout).
	// +kubebuilder:default=all_at_once
	// +optional
	Strategy RolloutStrategy `json:"strategy,omitempty"`
	// MaxUnavailable is how many devices a batched rollout updates at once.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=1
	// +optional
	MaxUnavailable int32 `json:"maxUnavailable,omitempty"`
	// MinReadySeconds is how long an app must run on a device before the
	// device counts as updated; 0: two ticks, at least one second, without
	// steps; with steps, no hold (each step's bake is the hold).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=0
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`

	// Steps, when not empty, make the rollout progressive: cumulative
	// device counts or percentages of the selected devices, each baked
	// under health gates before the next (a last step of every device is
	// implied). The controller moves the rollout on; the gateways follow.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	Steps []RolloutStep `json:"steps,omitempty"`
	// Canary: the first step takes only devices with these labels.
	// +optional
	Canary Labels `json:"canary,omitempty"`
	// BakeSeconds is each step's bake time unless the step sets its own
	// (default 60).
	// +kubebuilder:validation:Minimum=0
	// +optional
	BakeSeconds *int32 `json:"bakeSeconds,omitempty"`
	// StepFailures: failed devices tolerated in a step (of its devices);
	// unset tolerates none.
	// +optional
	StepFailures *FailureThreshold `json:"stepFailures,omitempty"`
	// TotalFailures: failed devices tolerated in the whole rollout (of the
	// selected devices); unset adds no limit beyond the steps'.
	// +optional
	TotalFailures *FailureThreshold `json:"totalFailures,omitempty"`
	// Health is an app-level gate: a value the app publishes.
	// +optional
	Health *HealthGate `json:"health,omitempty"`
	// OnFailure: what a rollout does when failures pass a threshold:
	// pause, or rollback (the default with steps) to the last version
	// that passed.
	// +kubebuilder:validation:Enum=pause;rollback
	// +optional
	OnFailure string `json:"onFailure,omitempty"`
}

// RolloutStep is one step of a progressive rollout: devices or percent
// (one of them), cumulative.
type RolloutStep struct {
	// Devices: how many selected devices may run the new version once
	// the step starts.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Devices int32 `json:"devices,omitempty"`
	// Percent of the selected devices (rounded up, at least one): a
	// number, or a string such as "12.5" or "25%".
	// +optional
	Percent *intstr.IntOrString `json:"percent,omitempty"`
	// BakeSeconds overrides the rollout's bakeSeconds for this step.
	// +kubebuilder:validation:Minimum=0
	// +optional
	BakeSeconds *int32 `json:"bakeSeconds,omitempty"`
}

// FailureThreshold: at most count devices and at most percent % (rounded
// down) of the devices concerned.
type FailureThreshold struct {
	// +kubebuilder:validation:Minimum=0
	// +optional
	Count int32 `json:"count,omitempty"`
	// A number, or a string such as "2.5" or "10%".
	// +optional
	Percent *intstr.IntOrString `json:"percent,omitempty"`
}

// HealthGate is a value the app publishes under key: every device that
// took the new version must publish it within maxAgeSeconds of starting
// the app and keep doing so, within [min, max].
type HealthGate struct {
	Key Name `json:"key"`
	// A number (or a string such as "0.5").
	// +optional
	Min *intstr.IntOrString `json:"min,omitempty"`
	// +optional
	Max *intstr.IntOrString `json:"max,omitempty"`
	// Default 30.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxAgeSeconds int32 `json:"maxAgeSeconds,omitempty"`
}

// RolloutPhase is where a progressive rollout stands.
// +kubebuilder:validation:Enum=rolling_out;paused;rolled_back;completed
type RolloutPhase string

// RolloutProgress is the progressive rollout of one spec, as the
// controller (the one writer of rollout progress in Kubernetes mode)
// evaluates it.
type RolloutProgress struct {
	// SpecHash identifies the spec rolled out.
	SpecHash string       `json:"specHash"`
	Version  string       `json:"version"`
	Phase    RolloutPhase `json:"phase"`
	// Step under way (1-based), of Steps.
	Step  int32 `json:"step"`
	Steps int32 `json:"steps"`
	// Target: selected devices the current step lets run the new version.
	Target int32 `json:"target"`
	// +optional
	Selected int32 `json:"selected"`
	// Updated: devices running the new version (min-ready passed).
	// +optional
	Updated int32 `json:"updated"`
	// Failed: failures not accepted by an operator.
	// +optional
	Failed int32 `json:"failed"`
	// BakeUntil: once every device of the step is updated, when the step
	// passes if no gate fails.
	// +optional
	BakeUntil *metav1.MicroTime `json:"bakeUntil,omitempty"`
	// +optional
	StartedAt *metav1.MicroTime `json:"startedAt,omitempty"`
	// +optional
	StepStartedAt *metav1.MicroTime `json:"stepStartedAt,omitempty"`
	// +optional
	FinishedAt *metav1.MicroTime `json:"finishedAt,omitempty"`
	// Failures: devices that failed a health gate, with the reason.
	// +listType=atomic
	// +optional
	Failures []RolloutFailure `json:"failures,omitempty"`
	// Reason the rollout paused or rolled back.
	// +optional
	Reason string `json:"reason,omitempty"`
	// RolledBackTo: the version the devices that took this one went back
	// to (empty: the app was removed from them).
	// +optional
	RolledBackTo string `json:"rolledBackTo,omitempty"`
}

// RolloutFailure is a device that failed a health gate.
type RolloutFailure struct {
	Device string `json:"device"`
	Step   int32  `json:"step"`
	Reason string `json:"reason"`
	// +optional
	Time *metav1.MicroTime `json:"time,omitempty"`
	// Generation: the device's deployment generation that failed.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// Accepted: an operator resumed or promoted past it.
	// +optional
	Accepted bool `json:"accepted,omitempty"`
}

// Release is one spec of an application: what a rollback goes back to.
type Release struct {
	Version Version `json:"version"`
	SHA256  SHA256  `json:"sha256"`
	// +optional
	Size int64 `json:"size,omitempty"`
	// +optional
	Config Config `json:"config,omitempty"`
	// +optional
	Fuel int64 `json:"fuel,omitempty"`
	// +optional
	Memory int64 `json:"memory,omitempty"`
	// +optional
	TickMS int64 `json:"tickMS,omitempty"`
}

// Revision is one module version an application had.
type Revision struct {
	Version Version `json:"version"`
	SHA256  SHA256  `json:"sha256"`
	// Generation is the application's metadata.generation when the version
	// was seen.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// Since is when the controller saw the version first.
	Since metav1.Time `json:"since"`
	// Until is when another version replaced it.
	// +optional
	Until *metav1.Time `json:"until,omitempty"`
	// Outcome is how its rollout stood when it was replaced: completed,
	// rolled_back, paused or rolling_out for a progressive rollout,
	// replaced otherwise.
	// +optional
	// +kubebuilder:validation:Enum=completed;rolled_back;paused;rolling_out;replaced
	Outcome string `json:"outcome,omitempty"`
}

// ObservedSpec is the spec the controller last saw, and whether its
// rollout went by steps: when the spec changes, it becomes status.stable
// if it passed.
type ObservedSpec struct {
	Release `json:",inline"`
	// +optional
	Progressive bool `json:"progressive,omitempty"`
}

// ApplicationSpec is a WASM module version, its config and limits, where it
// runs and how it rolls out.
type ApplicationSpec struct {
	// Version of the module, as devices report it.
	Version Version `json:"version"`
	// SHA256 (hex) of the module. Its bytes are in the ConfigMap
	// module-<sha256> of the namespace, key <sha256> of binaryData.
	SHA256 SHA256 `json:"sha256"`
	// Size of the module in bytes (informational).
	// +kubebuilder:validation:Minimum=0
	// +optional
	Size int64 `json:"size,omitempty"`
	// +optional
	Config Config `json:"config,omitempty"`
	// +kubebuilder:default={}
	// +optional
	Limits Limits `json:"limits"`
	// Selector: an empty selector selects every device of the namespace.
	Selector Selector `json:"selector"`
	// +kubebuilder:default={}
	// +optional
	Rollout Rollout `json:"rollout"`
	// Running: the app is started (true) or installed and stopped.
	// +kubebuilder:default=true
	// +optional
	Running *bool `json:"running,omitempty"`
}

// ApplicationStatus is the rollout, aggregated by the controller from the
// deployment records of the devices.
type ApplicationStatus struct {
	// ObservedGeneration is the metadata.generation the counts are for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Selected devices (matching the selector now).
	// +optional
	Selected int32 `json:"selected"`
	// Updated devices: running the current spec for at least min-ready.
	// +optional
	Updated int32 `json:"updated"`
	// InProgress devices: sent the current spec, not settled yet.
	// +optional
	InProgress int32 `json:"inProgress"`
	// Failed devices: trapped, out of fuel or memory, or refused.
	// +optional
	Failed int32 `json:"failed"`
	// Converged: every selected device is updated.
	// +optional
	Converged bool `json:"converged"`
	// Admission is, for a batched rollout, the devices the controller lets
	// start updating now; gateways update no others, so together they keep
	// within maxUnavailable.
	// +optional
	Admission *Admission `json:"admission,omitempty"`
	// Rollout is the progressive rollout of the current spec (or of an
	// earlier one until the controller starts the next).
	// +optional
	Rollout *RolloutProgress `json:"rollout,omitempty"`
	// Stable is the last spec whose rollout passed (completed, or had no
	// steps): a rollout that fails brings the devices that took the new
	// spec back to it.
	// +optional
	Stable *Release `json:"stable,omitempty"`
	// ObservedSpec is the controller's record of the spec it saw last.
	// +optional
	ObservedSpec *ObservedSpec `json:"observedSpec,omitempty"`
	// History is the module versions the application had, newest (the
	// current one) first, as the controller saw them.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	History []Revision `json:"history,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Admission lists devices admitted to a batched rollout of one spec.
type Admission struct {
	// SpecHash identifies the spec (module, version, config, limits) the
	// list is for.
	SpecHash string `json:"specHash"`
	// Devices admitted and not started yet.
	// +optional
	// +listType=set
	Devices []string `json:"devices,omitempty"`
}

// Application is a WebAssembly application rolled out to selected devices.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=wasmbed,shortName=wapp
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Selected",type=integer,JSONPath=`.status.selected`
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.updated`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failed`
// +kubebuilder:printcolumn:name="Converged",type=boolean,JSONPath=`.status.converged`
// +kubebuilder:printcolumn:name="Rollout",type=string,JSONPath=`.status.rollout.phase`
// +kubebuilder:printcolumn:name="Step",type=integer,JSONPath=`.status.rollout.step`,priority=1
// +kubebuilder:printcolumn:name="Stable",type=string,JSONPath=`.status.stable.version`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 64",message="application names are at most 64 characters"
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ApplicationSpec `json:"spec"`
	// +optional
	Status ApplicationStatus `json:"status,omitempty"`
}

// ApplicationList is a list of Applications.
//
// +kubebuilder:object:root=true
type ApplicationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Application `json:"items"`
}
