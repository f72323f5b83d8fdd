package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeviceSpec is the desired state of a device: what it is, how it is
// labelled, and which gateway serves it.
type DeviceSpec struct {
	// Board is the device's board profile.
	Board Board `json:"board"`

	// Labels select the device for applications (and gateways, on assignment).
	// +optional
	Labels Labels `json:"labels,omitempty"`

	// Gateway is the gateway that serves the device. Empty: the controller
	// assigns one (by labels and capacity). A gateway refuses sessions of
	// devices assigned to another.
	// +optional
	Gateway Name `json:"gateway,omitempty"`
}

// DevicePhase is where a device is in its life.
// +kubebuilder:validation:Enum=registered;online;offline;revoked
type DevicePhase string

// DeviceStatus is what the serving gateway observed of the device, written
// on transitions (session start and end, app state changes, certificates)
// and, while the device is online, a coarse last-seen, never per heartbeat.
type DeviceStatus struct {
	// Phase: registered (never enrolled), online, offline or revoked.
	// +kubebuilder:default=registered
	// +optional
	Phase DevicePhase `json:"phase,omitempty"`
	// LastSeen is when the gateway last heard the device (coarse: refreshed
	// every few minutes while online).
	// +optional
	LastSeen *metav1.MicroTime `json:"lastSeen,omitempty"`
	// +optional
	Firmware string `json:"firmware,omitempty"`
	// RAMFree and FlashFree are bytes free, as reported at session start.
	// +optional
	RAMFree int64 `json:"ramFree,omitempty"`
	// +optional
	FlashFree int64 `json:"flashFree,omitempty"`
	// MaxFrame is the largest protocol frame the device accepts.
	// +optional
	MaxFrame int64 `json:"maxFrame,omitempty"`
	// +optional
	Features []string `json:"features,omitempty"`
	// CertSerial is the serial (hex) of the device's current certificate.
	// +optional
	CertSerial string `json:"certSerial,omitempty"`
	// +optional
	CertNotAfter *metav1.Time `json:"certNotAfter,omitempty"`
	// CertPending is the serial (hex) of the certificate a renewal issued
	// and the device has not used yet.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CertPending string `json:"certPending,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// SessionGateway is the gateway that holds the device's session (or
	// last held it, until it records the session's end): it may write
	// this device's status, as the gateway it is assigned to may.
	// +optional
	SessionGateway Name `json:"sessionGateway,omitempty"`
	// Reset is what the device said, in its last hello, of its last reset.
	// +optional
	Reset *ResetStatus `json:"reset,omitempty"`

	// Deployments are the applications on the device: what the gateway last
	// sent (with its protocol generation) and what the device reported.
	// +optional
	// +listType=map
	// +listMapKey=app
	Deployments []DeploymentRecord `json:"deployments,omitempty"`

	// HealthValues are, for the apps on the device whose progressive
	// rollout has an app-level health gate (Application
	// spec.rollout.health) and is under way, the latest value the app
	// published under the gate's key: written by the device's gateway when
	// the value enters or leaves the gate's range, when a new version
	// starts, and at least every quarter of the gate's max age while
	// values come, for the controller to evaluate the gate.
	// +optional
	// +listType=map
	// +listMapKey=app
	HealthValues []HealthValueRecord `json:"healthValues,omitempty"`

	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// HealthValueRecord is the latest value an app published under its
// health gate's key.
type HealthValueRecord struct {
	App Name `json:"app"`
	Key Name `json:"key"`
	// Value, as a decimal number.
	Value string `json:"value"`
	// Stamped: when the device says it published it; Received: when its
	// gateway received it.
	Stamped  *metav1.MicroTime `json:"stamped,omitempty"`
	Received *metav1.MicroTime `json:"received,omitempty"`
}

// ResetStatus is a device's last reset, as it reported it (fleet.ResetStatus).
type ResetStatus struct {
	// Cause: unknown, power_on, requested, pin, or the unexpected ones:
	// watchdog, panic, hard_fault, brown_out.
	Cause string `json:"cause"`
	// +optional
	Detail string `json:"detail,omitempty"`
	// Time is when a gateway first heard of this boot.
	// +optional
	Time *metav1.MicroTime `json:"time,omitempty"`
	// Boots counts the device's boots since it was last powered on.
	// +kubebuilder:validation:Minimum=0
	Boots int64 `json:"boots"`
	// Unexpected counts unexpected resets in a row; 0 when the last reset
	// was expected.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Unexpected int64 `json:"unexpected,omitempty"`
	// SafeMode: after 3 unexpected resets in a row the device runs no app
	// until a newer generation is deployed.
	// +optional
	SafeMode bool `json:"safeMode,omitempty"`
	// BootID is the number the device picked at random at this boot: a
	// different one is a new boot even when the cause and the boot count
	// are the same (two power-ons). Absent from devices that do not say.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	BootID int64 `json:"bootID,omitempty"`
}

// DeploymentRecord is one application on one device (fleet.Deployment).
type DeploymentRecord struct {
	App Name `json:"app"`
	// Generation is the protocol generation of the last command sent. It
	// only grows: a device ignores a command older than what it applied.
	// +kubebuilder:validation:Minimum=0
	Generation int64 `json:"generation"`
	// Command is that command.
	// +kubebuilder:validation:Enum=deploy;start;stop;remove
	// +optional
	Command string `json:"command,omitempty"`
	// Version and SHA256 are the desired module for that generation.
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// SpecHash identifies the application spec sent (module, config, limits).
	// +optional
	SpecHash string `json:"specHash,omitempty"`
	// Running is the run state asked for.
	// +optional
	Running bool `json:"running,omitempty"`
	// Removing: the application no longer selects the device.
	// +optional
	Removing bool `json:"removing,omitempty"`
	// State is the app state the device last reported (downloading,
	// installed, running, stopped, trapped, fuel_exhausted, out_of_memory,
	// failed, removed).
	// +optional
	State string `json:"state,omitempty"`
	// +optional
	ObservedVersion string `json:"observedVersion,omitempty"`
	// +optional
	Detail string `json:"detail,omitempty"`
	// +optional
	Offset int64 `json:"offset,omitempty"`
	// +optional
	UpdatedAt *metav1.MicroTime `json:"updatedAt,omitempty"`
}

// Device is a microcontroller (or Linux-class agent) of the fleet.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=wasmbed,shortName=wdev
// +kubebuilder:printcolumn:name="Board",type=string,JSONPath=`.spec.board`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Online",type=string,JSONPath=`.status.conditions[?(@.type=="Online")].status`
// +kubebuilder:printcolumn:name="Gateway",type=string,JSONPath=`.spec.gateway`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 64",message="device names are at most 64 characters"
type Device struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec DeviceSpec `json:"spec"`
	// +kubebuilder:default={}
	// +optional
	Status DeviceStatus `json:"status,omitempty"`
}

// DeviceList is a list of Devices.
//
// +kubebuilder:object:root=true
type DeviceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Device `json:"items"`
}
