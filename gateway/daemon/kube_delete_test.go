package daemon

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/protocol"
)

// Deleting a Device with a Kubernetes client (what kubectl delete does) is
// as safe as the management API's delete: the controller's finalizer
// revokes the device's certificates before the Device goes, its session
// closes as revoked, and a Device created again under the same name
// refuses the old certificate as revoked.
func TestKubernetesDeviceDeletedWithKubectlRevokes(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	ctx := context.Background()
	c := env.Client
	h := f.startKubeGateway("gw-1", t.TempDir(), "")
	f.runController()

	dev := newTestDevice(t, h, "dev-1")
	must(t, dev.enroll(f.device("dev-1", "stm32f4-discovery", "gw-1", nil)))
	dev.connect()
	serial := dev.cert.Leaf.SerialNumber.Text(16)
	key := client.ObjectKey{Namespace: f.ns, Name: "dev-1"}
	eventually(t, "dev-1 online, with the controller's finalizer", func() bool {
		var d v1alpha1.Device
		must(t, c.Get(ctx, key, &d))
		return d.Status.Phase == v1alpha1.DevicePhase(fleet.PhaseOnline) && controllerutil.ContainsFinalizer(&d, kubestore.FinalizerRevokeCertificates)
	})

	must(t, c.Delete(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "dev-1", Namespace: f.ns}}))
	dev.closedWith(protocol.CodeRevoked)
	eventually(t, "the Device gone", func() bool {
		return apierrors.IsNotFound(c.Get(ctx, key, &v1alpha1.Device{}))
	})
	var rev v1alpha1.CertificateRevocation
	must(t, c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: serial}, &rev))
	var crt v1alpha1.DeviceCertificate
	must(t, c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: serial}, &crt))
	if rev.Spec.Device != "dev-1" || rev.Spec.Reason != "device deleted" || crt.Spec.State != fleet.CertRevoked {
		t.Fatalf("after the delete: revocation %+v, ledger %+v", rev.Spec, crt.Spec)
	}

	must(t, c.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "dev-1", Namespace: f.ns},
		Spec: v1alpha1.DeviceSpec{Board: "stm32f4-discovery", Gateway: "gw-1"}}))
	eventually(t, "the new dev-1 in the gateway's view", func() bool {
		_, err := f.admin.Devices().Get(ctx, "dev-1")
		return err == nil
	})
	// Refused as revoked: by the TLS handshake (the gateway's CA revoked it)
	// or by the gateway's answer, not merely as not the new device's.
	var perr *protocol.Error
	if _, err := dev.withCert(dev.cert).dial(nil); err == nil || errors.As(err, &perr) && perr.Code != protocol.CodeRevoked {
		t.Fatalf("the deleted device's certificate, for the new dev-1: %v, want refused as revoked", err)
	}
}
