package provider

import (
	"context"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// Backend is what resources and data sources need from a control plane. The
// standalone backend is the gateway's management API (*apiv1.Client); a
// Kubernetes backend (Device, Application and Gateway custom resources) will
// implement the same interface.
type Backend interface {
	// CA returns the PEM root certificate devices trust.
	CA(ctx context.Context) (string, error)

	GetGateway(ctx context.Context, name string) (fleet.Gateway, error)
	PutGateway(ctx context.Context, name string, spec apiv1.GatewaySpec) (fleet.Gateway, error)
	DeleteGateway(ctx context.Context, name string) error

	GetDevice(ctx context.Context, name string) (fleet.Device, error)
	ListDevices(ctx context.Context, f apiv1.DeviceFilter) ([]fleet.Device, error)
	PutDevice(ctx context.Context, name string, spec apiv1.DeviceSpec) (fleet.Device, error)
	DeleteDevice(ctx context.Context, name string) error
	CreateToken(ctx context.Context, device string, ttl time.Duration) (apiv1.TokenResponse, error)
	SignCertificate(ctx context.Context, req apiv1.CertificateRequest) (apiv1.CertificateResponse, error)
	// RevokeCertificate revokes one certificate of the ledger, by serial.
	RevokeCertificate(ctx context.Context, serial, reason string) (fleet.Certificate, error)

	UploadModule(ctx context.Context, wasm []byte) (apiv1.ModuleResponse, error)
	CheckModule(ctx context.Context, req apiv1.CheckRequest) (apiv1.CheckResponse, error)
	GetApplication(ctx context.Context, name string) (fleet.Application, error)
	PutApplication(ctx context.Context, name string, spec apiv1.ApplicationSpec) (fleet.Application, error)
	DeleteApplication(ctx context.Context, name string) error
	ApplicationStatus(ctx context.Context, name string) (apiv1.ApplicationStatus, error)
	Deployments(ctx context.Context, app, device string) ([]fleet.Deployment, error)

	CreateAPIToken(ctx context.Context, req apiv1.APITokenRequest) (apiv1.APITokenSecret, error)
	GetAPIToken(ctx context.Context, name string) (apiv1.APIToken, error)
	UpdateAPIToken(ctx context.Context, name string, u apiv1.APITokenUpdate) (apiv1.APIToken, error)
	RotateAPIToken(ctx context.Context, name string, req apiv1.APITokenRotation) (apiv1.APITokenSecret, error)
	DeleteAPIToken(ctx context.Context, name string) error
}

var (
	_ Backend = (*apiv1.Client)(nil)
	_ Backend = (*gatewayBackend)(nil)
)

// isNotFound reports whether err says the object does not exist.
func isNotFound(err error) bool { return apiv1.IsNotFound(err) }
