package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EnrollmentTokenSpec is a one-time enrollment token bound to a device.
// Only the sha256 of its secret is stored; the object is named by the
// token's id (the "wbt_<id>_<secret>" string's id). The spec cannot change.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an enrollment token cannot be changed"
type EnrollmentTokenSpec struct {
	Device Name `json:"device"`
	// Hash is the hex sha256 of the token's secret.
	Hash SHA256 `json:"hash"`
	// +kubebuilder:validation:Format=date-time
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// EnrollmentTokenStatus records the token's use.
type EnrollmentTokenStatus struct {
	// UsedAt is when a device enrolled with the token (unset: unused).
	// +optional
	UsedAt *metav1.Time `json:"usedAt,omitempty"`
	// UsedKey is the hex sha256 of the public key that enrolled: a retry by
	// the same device with the same key (its answer lost) is answered again.
	// +optional
	UsedKey string `json:"usedKey,omitempty"`
	// UsedSerial is the certificate last issued with the token (hex); a
	// retry revokes it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	UsedSerial string `json:"usedSerial,omitempty"`
}

// EnrollmentToken is a one-time token a device enrolls with.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=wasmbed
// +kubebuilder:printcolumn:name="Device",type=string,JSONPath=`.spec.device`
// +kubebuilder:printcolumn:name="Expires",type=string,format=date-time,JSONPath=`.spec.expiresAt`
// +kubebuilder:printcolumn:name="Used",type=date,JSONPath=`.status.usedAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EnrollmentToken struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec EnrollmentTokenSpec `json:"spec"`
	// +optional
	Status EnrollmentTokenStatus `json:"status,omitempty"`
}

// EnrollmentTokenList is a list of EnrollmentTokens.
//
// +kubebuilder:object:root=true
type EnrollmentTokenList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EnrollmentToken `json:"items"`
}

// CertificateRevocationSpec is a revoked device certificate. The object is
// named by the certificate's serial (lowercase hex). It cannot change.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a revocation cannot be changed"
type CertificateRevocationSpec struct {
	Device Name `json:"device"`
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Reason string `json:"reason,omitempty"`
	// +kubebuilder:validation:Format=date-time
	RevokedAt metav1.Time `json:"revokedAt"`
}

// CertificateRevocation makes every gateway refuse a device certificate.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=wasmbed
// +kubebuilder:printcolumn:name="Device",type=string,JSONPath=`.spec.device`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[0-9a-f]{1,64}$')",message="a revocation is named by the certificate serial, lowercase hex"
type CertificateRevocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec CertificateRevocationSpec `json:"spec"`
}

// CertificateRevocationList is a list of CertificateRevocations.
//
// +kubebuilder:object:root=true
type CertificateRevocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CertificateRevocation `json:"items"`
}
