package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeviceCertificateSpec is one entry of the certificate ledger: a device
// certificate the CA signed, by whichever path (enrollment, renewal, the
// management API), and its state. The object is named by the certificate's
// serial (lowercase hex). A gateway admits a device session only with a
// certificate whose entry is current (or pending, the successor a renewal
// issued).
// +kubebuilder:validation:XValidation:rule="self.device == oldSelf.device && self.notAfter == oldSelf.notAfter && self.source == oldSelf.source",message="a certificate's device, source and validity cannot change"
type DeviceCertificateSpec struct {
	Device Name `json:"device"`
	// Source is the path that had the CA sign the certificate.
	// +kubebuilder:validation:Enum=enrollment;renewal;api;unrecorded
	Source string `json:"source"`
	// +optional
	// +kubebuilder:validation:Format=date-time
	NotBefore *metav1.Time `json:"notBefore,omitempty"`
	// +kubebuilder:validation:Format=date-time
	NotAfter metav1.Time `json:"notAfter"`
	// +kubebuilder:validation:Format=date-time
	IssuedAt metav1.Time `json:"issuedAt"`
	// State: current (the device's certificate), pending (issued by a
	// renewal, not used yet), superseded (replaced; refused) or revoked.
	// +kubebuilder:validation:Enum=current;pending;superseded;revoked
	State string `json:"state"`
	// Renews is the serial of the device's current certificate when a
	// renewal issued this one: it is usable only while that one is current.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Renews string `json:"renews,omitempty"`
	// Reason says why the certificate was superseded or revoked.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Reason string `json:"reason,omitempty"`
	// ChangedAt is when the state last changed.
	// +optional
	// +kubebuilder:validation:Format=date-time
	ChangedAt *metav1.Time `json:"changedAt,omitempty"`
}

// DeviceCertificate is a device certificate in the ledger.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=wasmbed
// +kubebuilder:printcolumn:name="Device",type=string,JSONPath=`.spec.device`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.spec.source`
// +kubebuilder:printcolumn:name="Not After",type=date,JSONPath=`.spec.notAfter`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[0-9a-f]{1,64}$')",message="a device certificate is named by its serial, lowercase hex"
type DeviceCertificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec DeviceCertificateSpec `json:"spec"`
}

// DeviceCertificateList is a list of DeviceCertificates.
//
// +kubebuilder:object:root=true
type DeviceCertificateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DeviceCertificate `json:"items"`
}
