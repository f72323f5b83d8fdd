package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// device counts as updated; 0: two ticks, at least one second.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=0
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
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
