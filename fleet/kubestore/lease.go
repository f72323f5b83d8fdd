package kubestore

import (
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
)

// Gateway liveness in Kubernetes mode: each gateway holds a
// coordination.k8s.io Lease, GatewayLeasePrefix + its name, labelled
// LabelGateway, renewed every few seconds; the controller moves the
// devices of a gateway whose Lease expires (as the node lifecycle
// controller does with node Leases).
const (
	GatewayLeasePrefix = "wasmbed-gateway-"
	LabelGateway       = "fleet.wasmbed.dev/gateway"
)

// GatewayLeaseName is the name of gateway's Lease.
func GatewayLeaseName(gateway string) string { return GatewayLeasePrefix + gateway }

// LeaseGateway is the gateway a Lease is the liveness of: its label
// LabelGateway, when the name is GatewayLeaseName of it.
func LeaseGateway(l *coordinationv1.Lease) (string, bool) {
	gw := l.Labels[LabelGateway]
	if gw == "" || l.Name != GatewayLeaseName(gw) || !strings.HasPrefix(l.Name, GatewayLeasePrefix) {
		return "", false
	}
	return gw, true
}

// LeaseDuration is a Lease's duration (0 if it has none).
func LeaseDuration(l *coordinationv1.Lease) time.Duration {
	if l.Spec.LeaseDurationSeconds == nil {
		return 0
	}
	return time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
}
