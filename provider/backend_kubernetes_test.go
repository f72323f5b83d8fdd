package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

func status(err error) int {
	var e *apiv1.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// The Kubernetes backend answers as the management API does, over the
// custom resources, with the permissions of config/rbac/editor_role.yaml.
func TestKubernetesBackend(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	b, err := newKubeBackend(ctx, env.UserWithRole(t, ns, "editor_role.yaml", "terraform"), ns)
	if err != nil {
		t.Fatal(err)
	}
	defer b.store.Close()
	c := env.Client

	if _, err := b.CA(ctx); status(err) != http.StatusNotFound || !strings.Contains(err.Error(), "no gateway has started") {
		t.Fatalf("CA before any gateway: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "wasmbed-ca", Namespace: ns}, Data: map[string]string{"ca.crt": "PEM"}}))
	if pem, err := b.CA(ctx); err != nil || pem != "PEM" {
		t.Fatalf("CA: %q %v", pem, err)
	}

	gw, err := b.PutGateway(ctx, "gw-1", apiv1.GatewaySpec{Addresses: []string{"10.0.0.1:8081"}, Labels: map[string]string{"site": "a"}, Capacity: 10})
	must(err)
	if gw.Name != "gw-1" || gw.Capacity != 10 || gw.CreatedAt.IsZero() {
		t.Fatalf("gateway: %+v", gw)
	}
	if _, err := b.PutGateway(ctx, "gw-2", apiv1.GatewaySpec{Addresses: []string{"no-port"}}); status(err) != http.StatusBadRequest {
		t.Fatalf("bad address: %v", err)
	}

	d, err := b.PutDevice(ctx, "dev-1", apiv1.DeviceSpec{Board: "linux", Labels: map[string]string{"role": "sensor"}})
	must(err)
	if d.Status.Phase != fleet.PhaseRegistered || d.Gateway != "" {
		t.Fatalf("device: %+v", d)
	}
	if _, err := b.PutDevice(ctx, "dev-2", apiv1.DeviceSpec{Board: "esp32"}); status(err) != http.StatusBadRequest {
		t.Fatalf("unknown board: %v", err)
	}
	if _, err := b.PutDevice(ctx, "Dev_2", apiv1.DeviceSpec{Board: "linux"}); status(err) != http.StatusBadRequest {
		t.Fatalf("name Kubernetes cannot hold: %v", err)
	}
	// The controller assigns a gateway: the device's gateway attribute
	// stays as configured (unset), the data source shows the assignment.
	var o v1alpha1.Device
	must(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dev-1"}, &o))
	o.Spec.Gateway, o.Annotations = "gw-1", map[string]string{kubestore.AnnotationAssignedBy: "wasmbed-controller"}
	must(c.Update(ctx, &o))
	time.Sleep(200 * time.Millisecond) // the backend's informer
	d, err = b.PutDevice(ctx, "dev-1", apiv1.DeviceSpec{Board: "linux", Labels: map[string]string{"role": "sensor", "x": "1"}})
	must(err)
	if d.Gateway != "" || d.Labels["x"] != "1" {
		t.Fatalf("after an update keeping the assignment: %+v", d)
	}
	list, err := b.ListDevices(ctx, apiv1.DeviceFilter{Labels: map[string]string{"role": "sensor"}, Board: "linux"})
	must(err)
	if len(list) != 1 || list[0].Gateway != "gw-1" {
		t.Fatalf("listed: %+v", list)
	}
	// Asked for by name, the same gateway is the configuration's.
	d, err = b.PutDevice(ctx, "dev-1", apiv1.DeviceSpec{Board: "linux", Labels: map[string]string{"role": "sensor"}, Gateway: "gw-1"})
	must(err)
	if d.Gateway != "gw-1" {
		t.Fatalf("gateway set by the configuration: %+v", d)
	}

	tok, err := b.CreateToken(ctx, "dev-1", time.Hour)
	must(err)
	if !strings.HasPrefix(tok.Token, "wbt_"+tok.ID+"_") || tok.Device != "dev-1" {
		t.Fatalf("token: %+v", tok)
	}
	var to v1alpha1.EnrollmentToken
	must(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: tok.ID}, &to))
	if strings.Contains(tok.Token, string(to.Spec.Hash)) || len(to.Spec.Hash) != 64 {
		t.Fatalf("stored token: %+v", to.Spec)
	}
	if _, err := b.CreateToken(ctx, "nope", time.Hour); status(err) != http.StatusNotFound {
		t.Fatalf("token for a missing device: %v", err)
	}
	// The same bound as the gateway's API: at most fleet.MaxUnusedTokens
	// valid unused tokens per device (one way to mint: fleet.MintEnrollmentToken).
	for range fleet.MaxUnusedTokens - 1 {
		_, err := b.CreateToken(ctx, "dev-1", time.Hour)
		must(err)
	}
	if _, err := b.CreateToken(ctx, "dev-1", time.Hour); status(err) != http.StatusConflict || !strings.Contains(err.Error(), "never used") {
		t.Fatalf("token %d for dev-1: %v, want 409", fleet.MaxUnusedTokens+1, err)
	}
	if _, err := b.SignCertificate(ctx, apiv1.CertificateRequest{}); status(err) != http.StatusNotImplemented {
		t.Fatalf("sign: %v", err)
	}

	// Modules and applications, checked as the API checks them.
	sensor := wasmtest.App(t, "sensor")
	bad := wasmtest.WAT(t, `(module (import "wasmbed" "teleport" (func)) (memory (export "memory") 1) (func (export "tick")))`)
	if _, err := b.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1", SHA256: sha256Hex(sensor)}); status(err) != http.StatusUnprocessableEntity {
		t.Fatalf("application before its module: %v (the API answers 422)", err)
	}
	mod, err := b.UploadModule(ctx, sensor)
	must(err)
	sel := fleet.Selector{Labels: map[string]string{"role": "sensor"}}
	if _, err := b.CheckModule(ctx, apiv1.CheckRequest{Module: bad, Selector: sel}); status(err) != http.StatusUnprocessableEntity ||
		!strings.Contains(err.Error(), "board linux") {
		t.Fatalf("check of a module the board cannot run: %v", err)
	}
	// Fuel per call beyond what a board's firmware runs within its watchdog.
	stm, _ := board.Lookup("stm32f4-discovery")
	if _, err := b.CheckModule(ctx, apiv1.CheckRequest{SHA256: mod.SHA256, Selector: fleet.Selector{Boards: []string{"stm32f4-discovery"}},
		Limits: fleet.Limits{Fuel: stm.MaxFuel + 1}}); status(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(),
		fmt.Sprintf("limits.fuel %d exceeds what board stm32f4-discovery can run within its watchdog (%d)", stm.MaxFuel+1, stm.MaxFuel)) {
		t.Fatalf("check of a fuel limit over the board's: %v", err)
	}
	chk, err := b.CheckModule(ctx, apiv1.CheckRequest{SHA256: mod.SHA256, Selector: sel})
	if err != nil || !chk.OK || len(chk.Boards) != 1 {
		t.Fatalf("check: %+v %v", chk, err)
	}
	a, err := b.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1.0.0", SHA256: mod.SHA256, Selector: sel})
	must(err)
	if a.Generation != 1 || a.Limits.Fuel != fleet.DefaultFuel || a.Rollout.Strategy != fleet.RolloutAllAtOnce || !a.Running || a.Size != len(sensor) {
		t.Fatalf("application: %+v", a)
	}
	a, err = b.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1.0.0", SHA256: mod.SHA256, Selector: sel})
	must(err)
	if a.Generation != 1 {
		t.Fatalf("unchanged spec moved the generation to %d", a.Generation)
	}
	a, err = b.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1.1.0", SHA256: mod.SHA256, Selector: sel})
	must(err)
	if a.Generation != 2 {
		t.Fatalf("new version: generation %d", a.Generation)
	}
	if _, err := b.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1.1.0", SHA256: mod.SHA256, Selector: sel,
		Rollout: fleet.Rollout{Strategy: "canary"}}); status(err) != http.StatusBadRequest {
		t.Fatalf("unknown strategy: %v", err)
	}
	st, err := b.ApplicationStatus(ctx, "sensor")
	must(err)
	if st.Selected != 1 || st.Converged || len(st.Devices) != 1 || st.Devices[0].State != "pending" {
		t.Fatalf("status: %+v", st)
	}
	// The app crashed the device (its gateway recorded the report): the
	// rollout has failed there, with why.
	must(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dev-1"}, &o))
	o.Status.Deployments = []v1alpha1.DeploymentRecord{{App: "sensor", Generation: 2, Command: "deploy", Version: "1.1.0",
		SHA256: mod.SHA256, SpecHash: fleet.SpecHash(&a), Running: true, State: "failed", Detail: "crashed: watchdog in tick"}}
	must(c.Status().Update(ctx, &o))
	time.Sleep(200 * time.Millisecond) // the backend's informer
	st, err = b.ApplicationStatus(ctx, "sensor")
	must(err)
	if st.Converged || st.Failed != 1 || st.Devices[0].State != "failed" || st.Devices[0].Detail != "crashed: watchdog in tick" {
		t.Fatalf("status after a crash: %+v", st)
	}

	// Deleting an enrolled device revokes its certificate, and every other
	// one the ledger holds for it (a pending renewal); one certificate can
	// be revoked alone (wasmbed_certificate destroyed).
	must(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dev-1"}, &o))
	o.Status.CertSerial, o.Status.Phase = "abc123", "online"
	must(c.Status().Update(ctx, &o))
	for sn, st := range map[string]string{"abc123": fleet.CertCurrent, "def456": fleet.CertPending, "c0ffee": fleet.CertSuperseded} {
		must(c.Create(ctx, &v1alpha1.DeviceCertificate{ObjectMeta: metav1.ObjectMeta{Name: sn, Namespace: ns},
			Spec: v1alpha1.DeviceCertificateSpec{Device: "dev-1", Source: fleet.SourceEnrollment, NotAfter: metav1.NewTime(time.Now().Add(time.Hour)),
				IssuedAt: metav1.Now(), State: st}}))
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) { // the backend's informers
		d, derr := b.store.Devices().Get(ctx, "dev-1")
		_, cerr := b.store.Certificates().Get(ctx, "c0ffee")
		if derr == nil && cerr == nil && d.Status.CertSerial == "abc123" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backend does not see the device's certificates")
		}
	}
	revoked, err := b.RevokeCertificate(ctx, "c0ffee", "wasmbed_certificate destroyed")
	must(err)
	if revoked.State != fleet.CertRevoked || revoked.Reason != "wasmbed_certificate destroyed" {
		t.Fatalf("revoked certificate: %+v", revoked)
	}
	if _, err := b.RevokeCertificate(ctx, "0bad", ""); !isNotFound(err) {
		t.Fatalf("revoking a certificate not in the ledger: %v", err)
	}
	must(b.DeleteDevice(ctx, "dev-1"))
	var rev v1alpha1.CertificateRevocation
	for _, sn := range []string{"abc123", "def456", "c0ffee"} {
		must(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: sn}, &rev))
		var dc v1alpha1.DeviceCertificate
		must(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: sn}, &dc))
		if dc.Spec.State != fleet.CertRevoked {
			t.Fatalf("certificate %s of the deleted device is %s", sn, dc.Spec.State)
		}
	}
	if _, err := b.GetDevice(ctx, "dev-1"); !isNotFound(err) {
		t.Fatalf("deleted device: %v", err)
	}
	must(b.DeleteApplication(ctx, "sensor"))
	if err := b.DeleteApplication(ctx, "sensor"); !isNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
}

// The kubernetes block excludes the standalone backend's attributes.
func TestKubernetesBlockConflicts(t *testing.T) {
	srv, err := testProviders[TypeName]()
	if err != nil {
		t.Fatal(err)
	}
	kubeType := tftypes.Object{AttributeTypes: map[string]tftypes.Type{"kubeconfig": tftypes.String, "namespace": tftypes.String}}
	objType := tftypes.Object{AttributeTypes: map[string]tftypes.Type{
		"endpoint": tftypes.String, "token": tftypes.String, "ca_cert": tftypes.String, "kubernetes": kubeType}}
	v := tftypes.NewValue(objType, map[string]tftypes.Value{
		"endpoint": tftypes.NewValue(tftypes.String, "https://gw:8080"),
		"token":    tftypes.NewValue(tftypes.String, nil),
		"ca_cert":  tftypes.NewValue(tftypes.String, nil),
		"kubernetes": tftypes.NewValue(kubeType, map[string]tftypes.Value{
			"kubeconfig": tftypes.NewValue(tftypes.String, "/kube"), "namespace": tftypes.NewValue(tftypes.String, "fleet")}),
	})
	dv, err := tfprotov6.NewDynamicValue(objType, v)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.ValidateProviderConfig(context.Background(), &tfprotov6.ValidateProviderConfigRequest{Config: &dv})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Diagnostics) != 1 || resp.Diagnostics[0].Summary != "Conflicting backends" {
		t.Fatalf("diagnostics: %+v", resp.Diagnostics)
	}
}
