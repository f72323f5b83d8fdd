// Package v1alpha1 is the fleet.wasmbed.dev/v1alpha1 API: the custom
// resources of Wasmbed's Kubernetes mode.
//
//   - Device, Application and Gateway mirror fleet.Device, fleet.Application
//     and fleet.Gateway. A Device's status also holds its deployment records
//     (one per application, with the protocol generation last sent), written
//     by the gateway that serves the device.
//   - EnrollmentToken (only the sha256 of the secret) and
//     CertificateRevocation are the small records enrollment and revocation
//     need; DeviceCertificate is the ledger of every device certificate
//     signed, with its state (current, pending, superseded, revoked).
//
// All are namespaced: one namespace is one fleet. Module bytes live in
// ConfigMaps (see package fleet/kubestore). The CRDs in config/crd are
// generated from these types by controller-gen.
//
// +kubebuilder:object:generate=true
// +groupName=fleet.wasmbed.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is the API group of Wasmbed's custom resources.
const Group = "fleet.wasmbed.dev"

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: Group, Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group and version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Device{}, &DeviceList{},
		&Application{}, &ApplicationList{},
		&Gateway{}, &GatewayList{},
		&EnrollmentToken{}, &EnrollmentTokenList{},
		&CertificateRevocation{}, &CertificateRevocationList{},
		&DeviceCertificate{}, &DeviceCertificateList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
