package controller

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// revoker makes deleting a Device, by any client, revoke its certificates,
// as the management API and the provider do: every Device carries the
// finalizer kubestore.FinalizerRevokeCertificates; once the Device is
// being deleted, each certificate of the device that is not revoked yet
// is marked revoked in the ledger and gets a CertificateRevocation (the
// gateways close the session holding it and revoke it with their CA),
// then the finalizer goes and the API server deletes the Device. Until
// then a Device of the same name cannot be created, so a new device never
// meets the certificates of the one before.
type revoker struct {
	c   client.Client
	api client.Reader // the API server: deletions are rare, and a certificate just issued must not be missed
	rec record.EventRecorder
}

func (r *revoker) setup(mgr ctrl.Manager, tr trace.Tracer) error {
	return ctrl.NewControllerManagedBy(mgr).Named("device-finalizer").For(&v1alpha1.Device{}).Complete(traced(tr, "device-finalizer", r))
}

func (r *revoker) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var d v1alpha1.Device
	if err := r.c.Get(ctx, req.NamespacedName, &d); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if d.DeletionTimestamp.IsZero() {
		if controllerutil.ContainsFinalizer(&d, kubestore.FinalizerRevokeCertificates) {
			return reconcile.Result{}, nil
		}
		// The optimistic lock keeps the finalizers others added.
		patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(&d, kubestore.FinalizerRevokeCertificates)
		if err := r.c.Patch(ctx, &d, patch); err != nil {
			if apierrors.IsConflict(err) {
				return reconcile.Result{Requeue: true}, nil
			}
			return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("add finalizer to device %s: %w", d.Name, err))
		}
		return reconcile.Result{}, nil
	}
	if !controllerutil.ContainsFinalizer(&d, kubestore.FinalizerRevokeCertificates) {
		return reconcile.Result{}, nil
	}
	serials, err := r.revokeAll(ctx, &d, "device deleted")
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(serials) > 0 {
		r.rec.Eventf(&d, corev1.EventTypeNormal, "CertificatesRevoked", "device deleted: certificates %v revoked", serials)
	}
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(&d, kubestore.FinalizerRevokeCertificates)
	if err := r.c.Patch(ctx, &d, patch); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{Requeue: true}, nil
		}
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("remove finalizer of device %s: %w", d.Name, err))
	}
	return reconcile.Result{}, nil
}

// revokeAll revokes every certificate of d that is not revoked yet: those
// of the ledger (current, pending, superseded), and the ones its status
// names that the ledger lacks (issued before it). It returns the serials
// it recorded revocations of; run again after a failure, it revokes what
// is left (the ledger's entry is revoked before its revocation is made).
func (r *revoker) revokeAll(ctx context.Context, d *v1alpha1.Device, reason string) ([]string, error) {
	var certs v1alpha1.DeviceCertificateList
	if err := r.api.List(ctx, &certs, client.InNamespace(d.Namespace)); err != nil {
		return nil, fmt.Errorf("list certificates of device %s: %w", d.Name, err)
	}
	var revs v1alpha1.CertificateRevocationList
	if err := r.api.List(ctx, &revs, client.InNamespace(d.Namespace)); err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	revoked := map[string]bool{}
	for _, rv := range revs.Items {
		revoked[rv.Name] = true
	}
	inLedger := map[string]bool{}
	var serials []string
	now := metav1.Now()
	for i := range certs.Items {
		c := &certs.Items[i]
		if string(c.Spec.Device) != d.Name {
			continue
		}
		inLedger[c.Name] = true
		if c.Spec.State == fleet.CertRevoked {
			continue // revoked by its own path, which told the CA
		}
		// The ledger first: a gateway admits by it.
		c.Spec.State, c.Spec.Reason, c.Spec.ChangedAt = fleet.CertRevoked, reason, &now
		if err := r.c.Update(ctx, c); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("revoke certificate %s of device %s in the ledger: %w", c.Name, d.Name, err)
		}
		if !revoked[c.Name] {
			serials = append(serials, c.Name)
		}
	}
	for _, sn := range []string{d.Status.CertSerial, d.Status.CertPending} {
		if sn != "" && !inLedger[sn] && !revoked[sn] {
			serials = append(serials, sn)
		}
	}
	for _, sn := range serials {
		rv := &v1alpha1.CertificateRevocation{ObjectMeta: metav1.ObjectMeta{Name: sn, Namespace: d.Namespace},
			Spec: v1alpha1.CertificateRevocationSpec{Device: v1alpha1.Name(d.Name), Reason: reason, RevokedAt: metav1.NewTime(time.Now().UTC())}}
		if err := r.c.Create(ctx, rv); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("record the revocation of certificate %s of device %s: %w", sn, d.Name, err)
		}
	}
	return serials, nil
}
