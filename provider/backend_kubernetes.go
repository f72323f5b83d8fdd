package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/admit"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/gateway/apischema"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// The Kubernetes backend: the fleet's custom resources in one namespace,
// through fleet/kubestore, with what the gateway's management API does
// around them done here (validation, module checks, the upsert rules), so
// that resources behave the same on both backends. Its errors are
// *apiv1.Error with the status the management API would answer.
//
// Not available in this mode: signing a CSR outside a device session
// (wasmbed_certificate): devices enroll with one-time tokens, and the CA's
// keys stay with the gateways.

// Names the gateways publish (see gateway/daemon).
const (
	kubeCAConfigMap    = "wasmbed-ca"
	kubeCAConfigMapKey = "ca.crt"
)

// Defaults, as the gateway's management API applies them.
const maxModuleSizeAPI = 4 << 20

type kubeBackend struct {
	store *kubestore.Store
	ns    string
	// schemas check specs as a gateway checks request bodies
	// (apischema), by spec type: the same 400s from both backends.
	mu      sync.Mutex
	schemas map[reflect.Type]*openapi3.Schema
}

var _ Backend = (*kubeBackend)(nil)

// newKubeBackend connects to the API server of cfg (informers on the
// namespace's fleet resources; their first list is awaited).
func newKubeBackend(ctx context.Context, cfg *rest.Config, namespace string) (*kubeBackend, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "terraform-provider-wasmbed"
	s, err := kubestore.Open(ctx, cfg, kubestore.Options{Namespace: namespace, Component: "terraform-provider-wasmbed",
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	return &kubeBackend{store: s, ns: namespace, schemas: map[reflect.Type]*openapi3.Schema{}}, nil
}

// kubeError is an *apiv1.Error (what resources inspect: the status, the
// board of a module check) that does not claim to come from a gateway.
type kubeError struct{ e *apiv1.Error }

func (k *kubeError) Error() string {
	if k.e.Board != "" {
		return "kubernetes backend: board " + k.e.Board + ": " + k.e.Message
	}
	return "kubernetes backend: " + k.e.Message
}

func (k *kubeError) Unwrap() error { return k.e }

func apiErr(status int, msg, board string) error {
	return &kubeError{&apiv1.Error{Status: status, Message: msg, Board: board}}
}

// kubeErr gives err the status the management API would answer with.
func kubeErr(err error) error {
	var ae *apiv1.Error
	var refused *admit.Error
	switch {
	case err == nil || errors.As(err, &ae):
		return err
	case errors.As(err, &refused):
		p := refused.Problem()
		return &kubeError{&apiv1.Error{Status: p.Status, Code: p.Code, Message: p.Detail, Board: p.Board}}
	case errors.Is(err, fleet.ErrNotFound), apierrors.IsNotFound(err):
		return apiErr(http.StatusNotFound, err.Error(), "")
	case errors.Is(err, fleet.ErrExists), apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return apiErr(http.StatusConflict, err.Error(), "")
	case errors.Is(err, kubestore.ErrInvalidName), apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return apiErr(http.StatusBadRequest, err.Error(), "")
	case apierrors.IsForbidden(err):
		return apiErr(http.StatusForbidden, err.Error(), "")
	case apierrors.IsUnauthorized(err):
		return apiErr(http.StatusUnauthorized, err.Error(), "")
	}
	return fmt.Errorf("kubernetes backend: %w", err)
}

func badRequest(format string, args ...any) error {
	return apiErr(http.StatusBadRequest, fmt.Sprintf(format, args...), "")
}

// unprocessable is the API's 422 unprocessable: a request its schema lets
// through that breaks a rule the schema cannot state (label and config
// keys, config values, a rollout's combinations, a module not stored,
// neither or both of sha256 and module).
func unprocessable(format string, args ...any) error {
	return &kubeError{&apiv1.Error{Status: http.StatusUnprocessableEntity, Code: apiv1.CodeUnprocessable, Message: fmt.Sprintf(format, args...)}}
}

func (b *kubeBackend) CA(ctx context.Context) (string, error) {
	var cm corev1.ConfigMap
	err := b.store.Client().Get(ctx, client.ObjectKey{Namespace: b.ns, Name: kubeCAConfigMap}, &cm)
	if apierrors.IsNotFound(err) {
		return "", apiErr(http.StatusNotFound,
			"no CA root published in namespace "+b.ns+" (ConfigMap "+kubeCAConfigMap+"): no gateway has started there yet", "")
	} else if err != nil {
		return "", kubeErr(err)
	}
	return cm.Data[kubeCAConfigMapKey], nil
}

// ---- gateways

func (b *kubeBackend) GetGateway(ctx context.Context, name string) (fleet.Gateway, error) {
	g, err := b.store.Gateways().Get(ctx, name)
	return g, kubeErr(err)
}

// checkSpec checks spec as the gateway's API checks a request body of its
// type (apischema: the same schema, the same words).
func (b *kubeBackend) checkSpec(spec any) error {
	t := reflect.TypeOf(spec)
	b.mu.Lock()
	s, ok := b.schemas[t]
	if !ok {
		s = apischema.Body(spec, board.Names())
		b.schemas[t] = s
	}
	b.mu.Unlock()
	if err := apischema.Check(s, spec); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

func (b *kubeBackend) PutGateway(ctx context.Context, name string, spec apiv1.GatewaySpec) (fleet.Gateway, error) {
	if err := errors.Join(admitName("gateway name", name), b.checkSpec(spec)); err != nil {
		return fleet.Gateway{}, err
	}
	if spec.Capacity < 0 {
		return fleet.Gateway{}, badRequest("capacity: must not be negative")
	}
	if err := fleet.ValidateAddresses(spec.Addresses); err != nil {
		return fleet.Gateway{}, badRequest("%v", err)
	}
	if err := admitLabels(spec.Labels); err != nil {
		return fleet.Gateway{}, err
	}
	now := time.Now().UTC()
	gw := fleet.Gateway{Name: name, Addresses: spec.Addresses, Labels: spec.Labels, Capacity: spec.Capacity, UpdatedAt: now}
	if err := b.store.Gateways().Put(ctx, name, gw); err != nil {
		return fleet.Gateway{}, kubeErr(err)
	}
	return b.GetGateway(ctx, name)
}

func (b *kubeBackend) DeleteGateway(ctx context.Context, name string) error {
	return kubeErr(b.store.Gateways().Delete(ctx, name))
}

// ---- devices

// GetDevice reports the gateway the configuration asked for: one the
// controller chose (annotation fleet.wasmbed.dev/assigned-by) is not the
// device's gateway attribute, or Terraform would see drift on every plan.
// ListDevices (the data source) reports where devices are.
func (b *kubeBackend) GetDevice(ctx context.Context, name string) (fleet.Device, error) {
	d, err := b.store.Devices().Get(ctx, name)
	if err != nil {
		return d, kubeErr(err)
	}
	var o v1alpha1.Device
	if b.store.Reader().Get(ctx, client.ObjectKey{Namespace: b.ns, Name: name}, &o) == nil &&
		o.Annotations[kubestore.AnnotationAssignedBy] != "" && string(o.Spec.Gateway) == d.Gateway {
		d.Gateway = ""
	}
	return d, nil
}

func (b *kubeBackend) ListDevices(ctx context.Context, f apiv1.DeviceFilter) ([]fleet.Device, error) {
	devs, err := b.store.Devices().List(ctx)
	if err != nil {
		return nil, kubeErr(err)
	}
	sel := fleet.Selector{Labels: f.Labels}
	if f.Board != "" {
		sel.Boards = []string{f.Board}
	}
	out := []fleet.Device{}
	for i := range devs {
		if sel.Matches(&devs[i]) && (f.Phase == "" || devs[i].Status.Phase == f.Phase) && (f.Gateway == "" || devs[i].Gateway == f.Gateway) {
			out = append(out, devs[i])
		}
	}
	return out, nil
}

// PutDevice registers a device or changes its spec; its status (written by
// its gateway) stays.
func (b *kubeBackend) PutDevice(ctx context.Context, name string, spec apiv1.DeviceSpec) (fleet.Device, error) {
	if err := errors.Join(admitName("device name", name), b.checkSpec(spec)); err != nil {
		return fleet.Device{}, err
	}
	// The rules of fleet/admit, as the gateway's API and the webhook run them.
	cand := fleet.Device{Name: name, Board: spec.Board, Labels: spec.Labels, Gateway: spec.Gateway}
	if err := admit.Device(&cand, board.Names()); err != nil {
		return fleet.Device{}, kubeErr(err)
	}
	apps, err := b.store.Applications().List(ctx)
	if err != nil {
		return fleet.Device{}, kubeErr(err)
	}
	if err := admit.Landing(ctx, &cand, apps, admit.Stored(b.store.GetModule, admit.Check)); err != nil {
		return fleet.Device{}, kubeErr(err)
	}
	now := time.Now().UTC()
	prev, err := b.GetDevice(ctx, name)
	switch {
	case isNotFound(err):
		err = b.store.Devices().Create(ctx, name, fleet.Device{Name: name, Board: spec.Board, Labels: spec.Labels, Gateway: spec.Gateway,
			UpdatedAt: now, Status: fleet.DeviceStatus{Phase: fleet.PhaseRegistered}})
	case err != nil:
		return fleet.Device{}, err
	default:
		if spec.Gateway != "" {
			// Asked for by name: the gateway is the configuration's now,
			// even if the controller had chosen the same.
			var o v1alpha1.Device
			if b.store.Reader().Get(ctx, client.ObjectKey{Namespace: b.ns, Name: name}, &o) == nil && o.Annotations[kubestore.AnnotationAssignedBy] != "" {
				patch := []byte(`{"metadata":{"annotations":{"` + kubestore.AnnotationAssignedBy + `":null}}}`)
				if err := b.store.Client().Patch(ctx, &o, client.RawPatch("application/merge-patch+json", patch)); err != nil {
					return fleet.Device{}, kubeErr(err)
				}
			}
		}
		_, err = b.store.Devices().Update(ctx, name, func(d *fleet.Device) error {
			d.Board, d.Labels, d.UpdatedAt = spec.Board, spec.Labels, now
			// Unset, and unset before: the controller's assignment stays.
			if spec.Gateway != "" || prev.Gateway != "" {
				d.Gateway = spec.Gateway
			}
			return nil
		})
	}
	if err != nil {
		return fleet.Device{}, kubeErr(err)
	}
	return b.GetDevice(ctx, name)
}

// DeleteDevice revokes the device's certificate (its gateway closes the
// session and refuses it from then on) and deletes the Device, and with it
// its deployment records.
func (b *kubeBackend) DeleteDevice(ctx context.Context, name string) error {
	d, err := b.store.Devices().Get(ctx, name)
	if err != nil {
		return kubeErr(err)
	}
	// Every certificate of the device in the ledger, and the one its status
	// names (issued before the ledger).
	serials := map[string]bool{}
	if d.Status.CertSerial != "" && d.Status.Phase != fleet.PhaseRevoked {
		serials[d.Status.CertSerial] = true
	}
	certs, err := b.store.Certificates().List(ctx)
	if err != nil {
		return kubeErr(err)
	}
	for _, c := range certs {
		if c.Device == name && c.State != fleet.CertRevoked {
			serials[c.Serial] = true
		}
	}
	for serial := range serials {
		if _, err := b.revoke(ctx, serial, name, "device deleted"); err != nil && !errors.Is(err, fleet.ErrNotFound) {
			return kubeErr(err)
		}
	}
	return kubeErr(b.store.Devices().Delete(ctx, name))
}

// revoke marks serial revoked in the ledger (ErrNotFound if it is not
// there) and records its CertificateRevocation, which every gateway
// watches: they close the session holding it and refuse it from then on.
func (b *kubeBackend) revoke(ctx context.Context, serial, device, reason string) (fleet.Certificate, error) {
	now := time.Now().UTC()
	c, lerr := b.store.Certificates().Update(ctx, serial, func(c *fleet.Certificate) error {
		if c.State != fleet.CertRevoked {
			c.State, c.Reason, c.ChangedAt = fleet.CertRevoked, reason, now
		}
		device = c.Device
		return nil
	})
	if lerr != nil && !errors.Is(lerr, fleet.ErrNotFound) {
		return fleet.Certificate{}, lerr
	}
	rev := fleet.Revocation{Serial: serial, Device: device, Reason: reason, RevokedAt: now}
	if err := b.store.Revocations().Create(ctx, rev.Serial, rev); err != nil && !errors.Is(err, fleet.ErrExists) {
		return fleet.Certificate{}, err
	}
	return c, lerr
}

// RevokeCertificate revokes one certificate of the ledger (what destroying a
// wasmbed_certificate does).
func (b *kubeBackend) RevokeCertificate(ctx context.Context, serial, reason string) (fleet.Certificate, error) {
	if _, err := b.store.Certificates().Get(ctx, serial); err != nil {
		return fleet.Certificate{}, kubeErr(err)
	}
	c, err := b.revoke(ctx, serial, "", reason)
	return c, kubeErr(err)
}

func (b *kubeBackend) CreateToken(ctx context.Context, device string, ttl time.Duration) (apiv1.TokenResponse, error) {
	if ttl < 0 {
		return apiv1.TokenResponse{}, badRequest("ttl_seconds: must not be negative")
	}
	if _, err := b.store.Devices().Get(ctx, device); err != nil {
		return apiv1.TokenResponse{}, kubeErr(err)
	}
	secret, rec, _, err := fleet.MintEnrollmentToken(ctx, b.store.Tokens(), device, ttl)
	if errors.Is(err, fleet.ErrTooManyTokens) {
		return apiv1.TokenResponse{}, &kubeError{&apiv1.Error{Status: http.StatusConflict, Code: apiv1.CodeConflict, Message: err.Error()}}
	}
	if err != nil {
		return apiv1.TokenResponse{}, kubeErr(err)
	}
	return apiv1.TokenResponse{ID: rec.ID, Device: device, Token: secret, ExpiresAt: rec.ExpiresAt}, nil
}

func (b *kubeBackend) SignCertificate(context.Context, apiv1.CertificateRequest) (apiv1.CertificateResponse, error) {
	return apiv1.CertificateResponse{}, apiErr(http.StatusNotImplemented,
		"signing a CSR outside a device session needs the standalone backend; with the kubernetes backend devices enroll "+
			"with one-time tokens (wasmbed_enrollment_token, wasmbed_provisioning_bundle) and the CA's keys stay with the gateways", "")
}

// ---- API tokens: the gateway's API only reads in Kubernetes mode

func noAPITokens() error {
	return apiErr(http.StatusNotImplemented,
		"wasmbed_api_token needs the standalone backend: in Kubernetes mode the gateways' API only reads, and who may change the fleet is Kubernetes RBAC's", "")
}

func (b *kubeBackend) CreateAPIToken(context.Context, apiv1.APITokenRequest) (apiv1.APITokenSecret, error) {
	return apiv1.APITokenSecret{}, noAPITokens()
}
func (b *kubeBackend) GetAPIToken(context.Context, string) (apiv1.APIToken, error) {
	return apiv1.APIToken{}, noAPITokens()
}
func (b *kubeBackend) UpdateAPIToken(context.Context, string, apiv1.APITokenUpdate) (apiv1.APIToken, error) {
	return apiv1.APIToken{}, noAPITokens()
}
func (b *kubeBackend) RotateAPIToken(context.Context, string, apiv1.APITokenRotation) (apiv1.APITokenSecret, error) {
	return apiv1.APITokenSecret{}, noAPITokens()
}
func (b *kubeBackend) DeleteAPIToken(context.Context, string) error { return noAPITokens() }

// ---- modules and applications

func (b *kubeBackend) UploadModule(ctx context.Context, wasm []byte) (apiv1.ModuleResponse, error) {
	if len(wasm) > maxModuleSizeAPI {
		return apiv1.ModuleResponse{}, apiErr(http.StatusRequestEntityTooLarge, fmt.Sprintf("module larger than %d bytes", maxModuleSizeAPI), "")
	}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return apiv1.ModuleResponse{}, &kubeError{&apiv1.Error{Status: http.StatusUnprocessableEntity, Code: apiv1.CodeModuleRejected, Message: "not a WebAssembly binary module (no \\0asm header)"}}
	}
	sum := sha256.Sum256(wasm)
	sha := hex.EncodeToString(sum[:])
	if err := b.store.PutModule(ctx, sha, wasm); err != nil {
		if len(wasm) > kubestore.MaxModuleSize {
			return apiv1.ModuleResponse{}, apiErr(http.StatusRequestEntityTooLarge, err.Error(), "")
		}
		return apiv1.ModuleResponse{}, kubeErr(err)
	}
	return apiv1.ModuleResponse{SHA256: sha, Size: len(wasm)}, nil
}

func (b *kubeBackend) CheckModule(ctx context.Context, req apiv1.CheckRequest) (apiv1.CheckResponse, error) {
	wasm := req.Module
	switch {
	case len(wasm) > 0 && req.SHA256 != "":
		return apiv1.CheckResponse{}, unprocessable("give sha256 or module, not both")
	case req.SHA256 != "":
		var err error
		if wasm, err = b.store.GetModule(ctx, req.SHA256); err != nil {
			return apiv1.CheckResponse{}, kubeErr(err)
		}
	case len(wasm) == 0:
		return apiv1.CheckResponse{}, unprocessable("no module: give sha256 or module")
	}
	if err := admit.Labels(req.Selector.Labels); err != nil {
		return apiv1.CheckResponse{}, kubeErr(err)
	}
	req.Limits.SetDefaults()
	devs, err := b.store.Devices().List(ctx)
	if err != nil {
		return apiv1.CheckResponse{}, kubeErr(err)
	}
	boards := admit.LandingBoards(req.Selector, devs)
	if err := admit.Module(ctx, wasm, boards, board.Names(), req.Limits, admit.Check); err != nil {
		return apiv1.CheckResponse{}, kubeErr(err)
	}
	return apiv1.CheckResponse{OK: true, Boards: boards}, nil
}

func (b *kubeBackend) GetApplication(ctx context.Context, name string) (fleet.Application, error) {
	a, err := b.store.Applications().Get(ctx, name)
	return a, kubeErr(err)
}

// PutApplication validates the spec as the management API does (the module
// must be uploaded and able to run on every board the application can land
// on), then writes the Application; the API server moves its generation
// when the spec changes.
func (b *kubeBackend) PutApplication(ctx context.Context, name string, spec apiv1.ApplicationSpec) (fleet.Application, error) {
	if err := errors.Join(admitName("application name", name), b.checkSpec(spec)); err != nil {
		return fleet.Application{}, err
	}
	// The rules of fleet/admit, as the gateway's API and the webhook run them.
	cand := fleet.Application{Name: name, Version: spec.Version, SHA256: spec.SHA256, Config: spec.Config,
		Limits: spec.Limits, Selector: spec.Selector, Rollout: spec.Rollout}
	if err := admit.Application(&cand); err != nil {
		return fleet.Application{}, kubeErr(err)
	}
	spec.Limits, spec.Rollout = cand.Limits, cand.Rollout
	wasm, err := b.store.GetModule(ctx, spec.SHA256)
	if errors.Is(err, fleet.ErrNotFound) {
		return fleet.Application{}, kubeErr(admit.NoModule(spec.SHA256, "(wasmbed_application uploads it; kubectl: a ConfigMap, docs/kubernetes.md)"))
	} else if err != nil {
		return fleet.Application{}, kubeErr(err)
	}
	devs, err := b.store.Devices().List(ctx)
	if err != nil {
		return fleet.Application{}, kubeErr(err)
	}
	if err := admit.Module(ctx, wasm, admit.LandingBoards(spec.Selector, devs), board.Names(), spec.Limits, admit.Check); err != nil {
		return fleet.Application{}, kubeErr(err)
	}
	app := fleet.Application{Name: name, Version: spec.Version, SHA256: spec.SHA256, Size: len(wasm), Config: spec.Config,
		Limits: spec.Limits, Selector: spec.Selector, Rollout: spec.Rollout, Running: spec.Running == nil || *spec.Running,
		UpdatedAt: time.Now().UTC()}
	if old, err := b.store.Applications().Get(ctx, name); err == nil && sameSpec(&old, &app) {
		return old, nil // unchanged: keep its UpdatedAt and generation
	}
	// The spec is written; the status (the rollout's progress and the
	// stable release) is the controller's, the one writer of progressive
	// rollouts in this mode: it stays.
	for {
		_, err := b.store.Applications().Update(ctx, name, func(cur *fleet.Application) error {
			app.Stable, app.Progress = cur.Stable, cur.Progress
			*cur = app
			return nil
		})
		if errors.Is(err, fleet.ErrNotFound) {
			if err = b.store.Applications().Create(ctx, name, app); errors.Is(err, fleet.ErrExists) {
				continue // created meanwhile: update it
			}
		}
		if err != nil {
			return fleet.Application{}, kubeErr(err)
		}
		return b.GetApplication(ctx, name)
	}
}

func sameSpec(a, b *fleet.Application) bool {
	return a.Version == b.Version && a.SHA256 == b.SHA256 && maps.Equal(a.Config, b.Config) && a.Limits == b.Limits &&
		reflect.DeepEqual(a.Selector, b.Selector) && a.Rollout.Equal(&b.Rollout) && a.Running == b.Running
}

func (b *kubeBackend) DeleteApplication(ctx context.Context, name string) error {
	return kubeErr(b.store.Applications().Delete(ctx, name))
}

// ApplicationStatus is computed as the management API computes it, from the
// Device resources (their phase and deployment records); the controller
// writes the same counts into the Application's status.
func (b *kubeBackend) ApplicationStatus(ctx context.Context, name string) (apiv1.ApplicationStatus, error) {
	a, err := b.store.Applications().Get(ctx, name)
	if err != nil {
		return apiv1.ApplicationStatus{}, kubeErr(err)
	}
	devs, err := b.store.Devices().List(ctx)
	if err != nil {
		return apiv1.ApplicationStatus{}, kubeErr(err)
	}
	deps, err := b.store.Deployments().List(ctx)
	if err != nil {
		return apiv1.ApplicationStatus{}, kubeErr(err)
	}
	online := func(d *fleet.Device) bool { return d.Status.Phase == fleet.PhaseOnline }
	return apiv1.BuildApplicationStatus(&a, devs, deps, online, time.Now()), nil
}

func (b *kubeBackend) Deployments(ctx context.Context, app, device string) ([]fleet.Deployment, error) {
	deps, err := b.store.Deployments().List(ctx)
	if err != nil {
		return nil, kubeErr(err)
	}
	return apiv1.FilterDeployments(deps, app, device), nil
}

// RolloutAction asks the controller, the one writer of rollout progress in
// Kubernetes mode, for an operator's action on a progressive rollout (as
// kubectl does: the annotation fleet.wasmbed.dev/rollout-action), and
// waits until the Application's status shows it applied. An action the
// rollout's phase does not allow is refused at once (409), as the
// gateway's API does.
func (b *kubeBackend) RolloutAction(ctx context.Context, name, action string) (fleet.Application, error) {
	a, err := b.readApplication(ctx, name)
	if err != nil {
		return fleet.Application{}, err
	}
	if _, _, err := fleet.Act(&a, action, "terraform", time.Now()); errors.Is(err, fleet.ErrRolloutState) {
		return fleet.Application{}, apiErr(http.StatusConflict, err.Error(), "")
	} else if err != nil {
		return fleet.Application{}, badRequest("%v", err)
	}
	before := a.Progress
	o := &v1alpha1.Application{}
	o.Name, o.Namespace = name, b.ns
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, kubestore.AnnotationRolloutAction, action)
	if err := b.store.Client().Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fleet.Application{}, kubeErr(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if a, err = b.readApplication(ctx, name); err != nil {
			return fleet.Application{}, err
		}
		if !reflect.DeepEqual(a.Progress, before) {
			return a, nil
		}
		if time.Now().After(deadline) {
			return fleet.Application{}, apiErr(http.StatusServiceUnavailable, fmt.Sprintf("the %s of %s's rollout was asked (annotation %s) "+
				"but not applied within a minute: is wasmbed-controller running?", action, name, kubestore.AnnotationRolloutAction), "")
		}
		select {
		case <-ctx.Done():
			return fleet.Application{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readApplication reads an Application from the API server (not the
// informers' cache, which may not have seen the controller's last write).
func (b *kubeBackend) readApplication(ctx context.Context, name string) (fleet.Application, error) {
	var o v1alpha1.Application
	if err := b.store.Client().Get(ctx, client.ObjectKey{Namespace: b.ns, Name: name}, &o); err != nil {
		return fleet.Application{}, kubeErr(err)
	}
	return kubestore.ApplicationToFleet(&o), nil
}

// admitName and admitLabels are fleet/admit's rules with the API's statuses.
func admitName(what, s string) error { return kubeErr(admit.Name(what, s)) }

func admitLabels(labels map[string]string) error { return kubeErr(admit.Labels(labels)) }
