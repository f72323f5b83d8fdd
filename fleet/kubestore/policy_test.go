package kubestore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
)

// A gateway writes what is its own only (config/policy/gateway_policy.yaml
// on top of the wasmbed-gateway Role): its Gateway and Lease, the status of
// the devices assigned to it, of other devices only what enrolling them
// records, and of ConfigMaps and Secrets only the CA's. Checked against the
// real kube-apiserver for a gateway outside the cluster (user
// wasmbed-gateway:<name>) and for a gateway pod (its ServiceAccount token
// bound to the pod), each refusal naming what was refused.
func TestGatewayWritesOnlyItsOwn(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	admin := env.Client

	// The fleet: gateway gw-b with its Lease and a device online there, an
	// unassigned device, the controller's leader election Lease.
	must(t, admin.Create(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-b", Namespace: ns}}))
	for _, name := range []string{"wasmbed-gateway-gw-b", "wasmbed-controller"} {
		must(t, admin.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}))
	}
	for _, d := range []struct{ name, gw string }{{"dev-b", "gw-b"}, {"dev-new", ""}} {
		o := &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: d.name, Namespace: ns},
			Spec: v1alpha1.DeviceSpec{Board: "stm32f4-discovery", Gateway: v1alpha1.Name(d.gw)}}
		must(t, admin.Create(ctx, o))
	}
	must(t, setDeviceStatus(ctx, admin, ns, "dev-b", func(s *v1alpha1.DeviceStatus) {
		s.Phase, s.Firmware, s.CertSerial = "online", "1.0", "aa"
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionTrue, Reason: "Online"})
	}))

	// A gateway pod: the StatefulSet's ServiceAccount, its token bound to
	// the pod gw-p (no kubelet here: the pod object is enough to bind to).
	must(t, admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "wasmbed-gateway", Namespace: ns}}))
	env.UserWithRole(t, ns, "gateway_role.yaml", "system:serviceaccount:"+ns+":wasmbed-gateway") // the Role bound to its user
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gw-p", Namespace: ns}, Spec: corev1.PodSpec{
		ServiceAccountName: "wasmbed-gateway", Containers: []corev1.Container{{Name: "gateway", Image: "wasmbed-gateway"}}}}
	must(t, admin.Create(ctx, pod))
	cs, err := kubernetes.NewForConfig(env.Config)
	must(t, err)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "wasmbed-gateway", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1",
			Name: pod.Name, UID: pod.UID}}}, metav1.CreateOptions{})
	must(t, err)
	podCfg := rest.AnonymousClientConfig(env.Config)
	podCfg.BearerToken = tr.Status.Token
	// The same ServiceAccount with a token bound to nothing: no gateway.
	unbound, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "wasmbed-gateway", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	must(t, err)
	unboundCfg := rest.AnonymousClientConfig(env.Config)
	unboundCfg.BearerToken = unbound.Status.Token

	for _, gw := range []struct {
		name string
		cfg  *rest.Config
	}{{"gw-a", env.GatewayUser(t, ns, "gw-a")}, {"gw-p", podCfg}} {
		t.Run(gw.name, func(t *testing.T) {
			c, err := client.New(gw.cfg, client.Options{Scheme: kubetest.Scheme()})
			must(t, err)
			refused := func(what, want string, err error) {
				t.Helper()
				if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: got %v, want refused with %q", what, err, want)
				}
			}
			// Its own: allowed.
			own := &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: gw.name, Namespace: ns}}
			must(t, c.Create(ctx, own))
			own.Status.Assigned = 1
			must(t, c.Status().Update(ctx, own))
			lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "wasmbed-gateway-" + gw.name, Namespace: ns}}
			must(t, c.Create(ctx, lease))
			must(t, c.Update(ctx, lease))
			if gw.name == "gw-a" { // one CA for the fleet: created once
				must(t, c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "wasmbed-ca", Namespace: ns}}))
			}

			// Another gateway's: refused, saying why.
			refused("create Gateway gw-c", "may write its own Gateway only, not gw-c",
				c.Create(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-c", Namespace: ns}}))
			var b v1alpha1.Gateway
			must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gw-b"}, &b))
			b.Status.Assigned = 7
			refused("gw-b's status", "may write its own Gateway only, not gw-b", c.Status().Update(ctx, &b))
			for _, name := range []string{"wasmbed-gateway-gw-b", "wasmbed-controller"} {
				var l coordinationv1.Lease
				must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &l))
				holder := gw.name
				l.Spec.HolderIdentity = &holder
				refused("renew Lease "+name, "may hold its own Lease (wasmbed-gateway-"+gw.name+") only, not "+name, c.Update(ctx, &l))
			}
			refused("create ConfigMap", "may create the CA configmap (wasmbed-ca) only, not module-x",
				c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "module-x", Namespace: ns}}))
			refused("create Secret", "may create the CA secret (wasmbed-ca) only, not other",
				c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns}}))

			// gw-b's device: faking its session, apps or health is refused;
			// enrolling it (a certificate, phase not online) is not.
			served := "device dev-b is served by gateway gw-b, not " + gw.name
			refused("dev-b offline", served, setDeviceStatus(ctx, c, ns, "dev-b", func(s *v1alpha1.DeviceStatus) {
				s.Firmware = "evil"
			}))
			refused("dev-b's apps", served, setDeviceStatus(ctx, c, ns, "dev-b", func(s *v1alpha1.DeviceStatus) {
				s.Deployments = []v1alpha1.DeploymentRecord{{App: "x", Generation: 1, State: "running"}}
			}))
			must(t, setDeviceStatus(ctx, c, ns, "dev-b", func(s *v1alpha1.DeviceStatus) { s.CertPending = "bb" + gw.name }))
			// A device not assigned yet: enrolled anywhere, online nowhere.
			must(t, setDeviceStatus(ctx, c, ns, "dev-new", func(s *v1alpha1.DeviceStatus) {
				s.Phase, s.CertSerial = "offline", "cc"+gw.name
				meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionFalse, Reason: "Offline"})
			}))
			refused("dev-new online", "device dev-new is served by gateway (none yet), not "+gw.name,
				setDeviceStatus(ctx, c, ns, "dev-new", func(s *v1alpha1.DeviceStatus) { s.Phase = "online" }))
			refused("dev-new Online=True", "device dev-new is served by gateway (none yet)",
				setDeviceStatus(ctx, c, ns, "dev-new", func(s *v1alpha1.DeviceStatus) {
					meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionTrue, Reason: "Online"})
				}))
		})
	}

	t.Run("unbound token", func(t *testing.T) {
		c, err := client.New(unboundCfg, client.Options{Scheme: kubetest.Scheme()})
		must(t, err)
		err = c.Create(ctx, &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-u", Namespace: ns}})
		if err == nil || !strings.Contains(err.Error(), "must be bound to its pod") {
			t.Fatalf("a token bound to no pod registered a gateway: %v", err)
		}
	})

	// Moved to gw-b while gw-a held its session: gw-a records the
	// session's end (once), then it is gw-b's.
	must(t, admin.Create(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "dev-moved", Namespace: ns},
		Spec: v1alpha1.DeviceSpec{Board: "stm32f4-discovery", Gateway: "gw-b"}}))
	must(t, setDeviceStatus(ctx, admin, ns, "dev-moved", func(s *v1alpha1.DeviceStatus) { s.Phase, s.SessionGateway = "online", "gw-a" }))
	ga, err := client.New(env.GatewayUser(t, ns, "gw-a"), client.Options{Scheme: kubetest.Scheme()})
	must(t, err)
	must(t, setDeviceStatus(ctx, ga, ns, "dev-moved", func(s *v1alpha1.DeviceStatus) {
		s.Phase, s.SessionGateway, s.LastSeen = "offline", "", new(metav1.NowMicro())
	}))
	if err := setDeviceStatus(ctx, ga, ns, "dev-moved", func(s *v1alpha1.DeviceStatus) { s.Firmware = "x" }); err == nil {
		t.Fatal("gw-a wrote dev-moved's status after letting its session go")
	}

	// Assigned to gw-a: its gateway writes the device's session and apps.
	var d v1alpha1.Device
	must(t, admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dev-new"}, &d))
	d.Spec.Gateway = "gw-a"
	must(t, admin.Update(ctx, &d))
	must(t, setDeviceStatus(ctx, ga, ns, "dev-new", func(s *v1alpha1.DeviceStatus) {
		s.Phase, s.Firmware = "online", "1.0"
		s.Deployments = []v1alpha1.DeploymentRecord{{App: "x", Generation: 1, State: "running"}}
	}))
}

// setDeviceStatus changes a device's status as c, retrying conflicts.
func setDeviceStatus(ctx context.Context, c client.Client, ns, name string, change func(*v1alpha1.DeviceStatus)) error {
	for {
		var d v1alpha1.Device
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
			return err
		}
		change(&d.Status)
		err := c.Status().Update(ctx, &d)
		if !apierrors.IsConflict(err) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
