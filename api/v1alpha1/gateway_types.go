package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Address is a device endpoint, host:port, the port 1 to 65535 (an IPv6
// host in brackets). The pattern is fleet.AddressPattern; a test fails if
// they differ.
// +kubebuilder:validation:MaxLength=261
// +kubebuilder:validation:Pattern=`^([^\s:\[\]]+|\[[0-9A-Fa-f:.]+\]):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`
type Address string

// GatewaySpec is a gateway's registration.
type GatewaySpec struct {
	// Addresses are the endpoints devices connect to, each once.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	Addresses []Address `json:"addresses,omitempty"`
	// Labels: the controller assigns a device to a gateway only if the
	// device has every label of the gateway.
	// +optional
	Labels Labels `json:"labels,omitempty"`
	// Capacity is how many devices the controller assigns to the gateway
	// at most; 0: unlimited.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Capacity int32 `json:"capacity,omitempty"`
}

// GatewayStatus is reported by the gateway process (devices, heartbeat) and
// the controller (assigned, conditions).
type GatewayStatus struct {
	// Devices is how many device sessions the gateway holds.
	// +optional
	Devices int32 `json:"devices"`
	// Assigned is how many devices are assigned to the gateway.
	// +optional
	Assigned int32 `json:"assigned"`
	// LastHeartbeatTime is when the gateway process last reported.
	// +optional
	LastHeartbeatTime *metav1.MicroTime `json:"lastHeartbeatTime,omitempty"`
	// HeartbeatSeconds is the period the gateway reports at.
	// +optional
	HeartbeatSeconds int32 `json:"heartbeatSeconds,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Gateway is a fog node holding device sessions.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=wasmbed,shortName=wgw
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`
// +kubebuilder:printcolumn:name="Devices",type=integer,JSONPath=`.status.devices`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 64",message="gateway names are at most 64 characters"
type Gateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec GatewaySpec `json:"spec,omitempty"`
	// +optional
	Status GatewayStatus `json:"status,omitempty"`
}

// GatewayList is a list of Gateways.
//
// +kubebuilder:object:root=true
type GatewayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Gateway `json:"items"`
}
