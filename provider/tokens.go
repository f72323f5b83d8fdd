package provider

import (
	"context"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// Enrollment tokens are minted only at apply, only for a device that needs
// one: see wasmbed_provisioning_bundle. Plan, refresh and import never write
// to the gateway.

// defaultTokenTTL is how long a token the provider mints stays valid.
const defaultTokenTTL = 24 * time.Hour

// tokenCleaner is what a backend offers to bound a device's tokens: delete
// every token issued for the device (the standalone API's DELETE
// /v1/devices/{name}/tokens). A backend without it only mints.
type tokenCleaner interface {
	DeleteTokens(ctx context.Context, device string) error
}

var (
	_ tokenCleaner = (*apiv1.Client)(nil)
	_ tokenCleaner = (*gatewayBackend)(nil)
)

// enrolled reports whether d holds a certificate it may use, so that it needs
// no enrollment token: it enrolled (or was given a certificate with
// wasmbed_certificate) and was not revoked since.
func enrolled(d *fleet.Device) bool {
	return d.Status.CertSerial != "" && d.Status.Phase != fleet.PhaseRevoked
}

// mintToken issues a token for device after deleting the ones issued for it
// before (when the backend can): a device has at most the one token its
// bundle holds.
func mintToken(ctx context.Context, b Backend, device string, ttl time.Duration) (apiv1.TokenResponse, error) {
	if c, ok := b.(tokenCleaner); ok {
		if err := c.DeleteTokens(ctx, device); err != nil && !isNotFound(err) {
			return apiv1.TokenResponse{}, err
		}
	}
	return b.CreateToken(ctx, device, ttl)
}

// deleteTokens deletes device's tokens when the backend can; a device gone
// is not an error.
func deleteTokens(ctx context.Context, b Backend, device string) error {
	if c, ok := b.(tokenCleaner); ok {
		if err := c.DeleteTokens(ctx, device); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}
