package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/admit"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// The validating admission webhook: what kubectl (or anything else) writes
// into Applications and Devices passes fleet/admit's rules, the gateway's
// API's and the provider's, at the door, with the same messages. The CRDs'
// schemas check each field; the webhook what needs the fleet: the boards an
// application lands on and whether its module runs there, the applications
// a device would take and whether they run on its board.

// +kubebuilder:webhook:path=/validate-fleet-wasmbed-dev-v1alpha1-application,mutating=false,failurePolicy=fail,sideEffects=None,groups=fleet.wasmbed.dev,resources=applications,verbs=create;update,versions=v1alpha1,name=applications.fleet.wasmbed.dev,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-fleet-wasmbed-dev-v1alpha1-device,mutating=false,failurePolicy=fail,sideEffects=None,groups=fleet.wasmbed.dev,resources=devices,verbs=create;update,versions=v1alpha1,name=devices.fleet.wasmbed.dev,admissionReviewVersions=v1

// admitter validates Applications and Devices with fleet/admit, reading
// the fleet (devices, applications, module ConfigMaps) from r.
type admitter struct {
	r     client.Reader
	check admit.Checker
}

// webhookServer is the manager's webhook server for o (none without).
func webhookServer(o *WebhookOptions) webhook.Server {
	if o == nil {
		return nil
	}
	port := o.Port
	if port == 0 {
		port = 9443
	}
	return webhook.NewServer(webhook.Options{Host: o.Host, Port: port, CertDir: o.CertDir})
}

func setupWebhooks(mgr manager.Manager) error {
	a := &admitter{r: mgr.GetAPIReader(), check: admit.Check}
	if err := builder.WebhookManagedBy(mgr).For(&v1alpha1.Application{}).WithValidator(applicationValidator{a}).Complete(); err != nil {
		return fmt.Errorf("controller: application webhook: %w", err)
	}
	if err := builder.WebhookManagedBy(mgr).For(&v1alpha1.Device{}).WithValidator(deviceValidator{a}).Complete(); err != nil {
		return fmt.Errorf("controller: device webhook: %w", err)
	}
	return nil
}

// refusal is what the API server tells the writer: fleet/admit's message
// (with the board a module check names); a failure to check is ours.
func refusal(err error) error {
	var r *admit.Error
	if errors.As(err, &r) && r.Board != "" {
		return fmt.Errorf("board %s: %s", r.Board, r.Message)
	}
	return err
}

type applicationValidator struct{ *admitter }

func (v applicationValidator) ValidateCreate(ctx context.Context, obj runtime.Object) (admission.Warnings, error) {
	return v.application(ctx, obj.(*v1alpha1.Application))
}

func (v applicationValidator) ValidateUpdate(ctx context.Context, oldObj, newObj runtime.Object) (admission.Warnings, error) {
	old, cur := oldObj.(*v1alpha1.Application), newObj.(*v1alpha1.Application)
	if equality.Semantic.DeepEqual(old.Spec, cur.Spec) {
		return nil, nil // metadata only (an annotation, a finalizer): the spec passed before
	}
	return v.application(ctx, cur)
}

func (applicationValidator) ValidateDelete(context.Context, runtime.Object) (admission.Warnings, error) {
	return nil, nil
}

func (v applicationValidator) application(ctx context.Context, o *v1alpha1.Application) (admission.Warnings, error) {
	a := kubestore.ApplicationToFleet(o)
	if err := admit.Application(&a); err != nil {
		return nil, refusal(err)
	}
	wasm, err := kubestore.ReadModule(ctx, v.r, o.Namespace, a.SHA256)
	if errors.Is(err, fleet.ErrNotFound) {
		// kubectl may apply the module's ConfigMap after the Application:
		// the gateways wait for it, checking it before they deploy it.
		return admission.Warnings{fmt.Sprintf("module %s is not in the namespace yet (ConfigMap %s%s): devices wait for it, and it is checked for their boards when it comes",
			a.SHA256, kubestore.ModulePrefix, a.SHA256)}, nil
	} else if err != nil {
		return nil, fmt.Errorf("read module %s: %w", a.SHA256, err)
	}
	var devs v1alpha1.DeviceList
	if err := v.r.List(ctx, &devs, client.InNamespace(o.Namespace)); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	fdevs := make([]fleet.Device, len(devs.Items))
	for i := range devs.Items {
		fdevs[i] = kubestore.DeviceToFleet(&devs.Items[i])
	}
	return nil, refusal(admit.Module(ctx, wasm, admit.LandingBoards(a.Selector, fdevs), board.Names(), a.Limits, v.check))
}

type deviceValidator struct{ *admitter }

func (v deviceValidator) ValidateCreate(ctx context.Context, obj runtime.Object) (admission.Warnings, error) {
	return nil, v.device(ctx, obj.(*v1alpha1.Device))
}

func (v deviceValidator) ValidateUpdate(ctx context.Context, oldObj, newObj runtime.Object) (admission.Warnings, error) {
	old, cur := oldObj.(*v1alpha1.Device), newObj.(*v1alpha1.Device)
	if old.Spec.Board == cur.Spec.Board && maps.Equal(old.Spec.Labels, cur.Spec.Labels) {
		// What it would take is unchanged (an assignment, a finalizer):
		// its fields only.
		d := kubestore.DeviceToFleet(cur)
		return nil, refusal(admit.Device(&d, board.Names()))
	}
	return nil, v.device(ctx, cur)
}

func (deviceValidator) ValidateDelete(context.Context, runtime.Object) (admission.Warnings, error) {
	return nil, nil
}

func (v deviceValidator) device(ctx context.Context, o *v1alpha1.Device) error {
	d := kubestore.DeviceToFleet(o)
	if err := admit.Device(&d, board.Names()); err != nil {
		return refusal(err)
	}
	var apps v1alpha1.ApplicationList
	if err := v.r.List(ctx, &apps, client.InNamespace(o.Namespace)); err != nil {
		return fmt.Errorf("list applications: %w", err)
	}
	fapps := make([]fleet.Application, len(apps.Items))
	for i := range apps.Items {
		fapps[i] = kubestore.ApplicationToFleet(&apps.Items[i])
	}
	read := func(ctx context.Context, sha string) ([]byte, error) {
		return kubestore.ReadModule(ctx, v.r, o.Namespace, sha)
	}
	return refusal(admit.Landing(ctx, &d, fapps, admit.Stored(read, v.check)))
}
