package v1alpha1_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// The board enum in the markers is written by hand: it must be board.Names().
func TestBoardEnumIsBoardNames(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(kubetest.CRDDir(), "fleet.wasmbed.dev_devices.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["board"].Enum {
		got = append(got, strings.Trim(string(e.Raw), `"`))
	}
	if want := board.Names(); !slices.Equal(got, want) {
		t.Fatalf("Device spec.board enum %v, board.Names() %v: update the Board marker in api/v1alpha1/common.go and run controller-gen", got, want)
	}
}

// The address pattern in the markers is written by hand: it must be
// fleet.AddressPattern, what the management API and the provider check.
func TestAddressPatternIsFleets(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(kubetest.CRDDir(), "fleet.wasmbed.dev_gateways.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	got := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["addresses"].Items.Schema.Pattern
	if got != fleet.AddressPattern {
		t.Fatalf("Gateway spec.addresses pattern %s, fleet.AddressPattern %s: update the Address marker in api/v1alpha1/gateway_types.go and run controller-gen", got, fleet.AddressPattern)
	}
}

func TestValidObjectsAcceptedWithDefaults(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	c := env.Client

	dev := &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "dev-1", Namespace: ns},
		Spec: v1alpha1.DeviceSpec{Board: "stm32f4-discovery", Labels: v1alpha1.Labels{"site": "a", "Role_2": "", "x.y-z": "V1.2_3"}}}
	if err := c.Create(ctx, dev); err != nil {
		t.Fatalf("valid device refused: %v", err)
	}
	if dev.Status.Phase != "registered" {
		t.Errorf("a new device's phase: %q, want registered", dev.Status.Phase)
	}
	app := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Name: "sensor", Namespace: ns},
		Spec: v1alpha1.ApplicationSpec{Version: "1.0.0+build.7", SHA256: sha, Config: v1alpha1.Config{"offset": "100"},
			Selector: v1alpha1.Selector{Labels: v1alpha1.Labels{"site": "a"}, Boards: []v1alpha1.Board{"linux", "uno-r4"}}}}
	if err := c.Create(ctx, app); err != nil {
		t.Fatalf("valid application refused: %v", err)
	}
	var got v1alpha1.Application
	if err := c.Get(ctx, client.ObjectKeyFromObject(app), &got); err != nil {
		t.Fatal(err)
	}
	if l := got.Spec.Limits; l.Fuel != fleet.DefaultFuel || l.Memory != fleet.DefaultMemory || l.TickMS != fleet.DefaultTickMS {
		t.Errorf("limits not defaulted: %+v", l)
	}
	if r := got.Spec.Rollout; r.Strategy != v1alpha1.RolloutAllAtOnce || r.MaxUnavailable != 1 || r.MinReadySeconds != 0 {
		t.Errorf("rollout not defaulted: %+v", r)
	}
	if got.Spec.Running == nil || !*got.Spec.Running {
		t.Errorf("running not defaulted to true: %v", got.Spec.Running)
	}
	if got.Generation != 1 {
		t.Errorf("generation %d", got.Generation)
	}
	// Only spec changes move the generation; status goes through its subresource.
	got.Status.Selected, got.Status.Converged = 3, true
	if err := c.Status().Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Version = "1.0.1"
	got.Status.Selected = 99 // ignored on the main resource
	if err := c.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(app), &got); err != nil {
		t.Fatal(err)
	}
	if got.Generation != 2 || got.Status.Selected != 3 || !got.Status.Converged {
		t.Errorf("after a spec and a status write: generation %d, status %+v", got.Generation, got.Status)
	}

	gw := &v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw-a", Namespace: ns},
		Spec: v1alpha1.GatewaySpec{Addresses: []v1alpha1.Address{"10.0.0.1:8081", "gw.example.com:8081", "[::1]:8081"}, Capacity: 100}}
	if err := c.Create(ctx, gw); err != nil {
		t.Fatalf("valid gateway refused: %v", err)
	}
	tok := &v1alpha1.EnrollmentToken{ObjectMeta: metav1.ObjectMeta{Name: "0123456789abcdef", Namespace: ns},
		Spec: v1alpha1.EnrollmentTokenSpec{Device: "dev-1", Hash: sha, ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour))}}
	if err := c.Create(ctx, tok); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	now := metav1.Now()
	tok.Status.UsedAt = &now
	if err := c.Status().Update(ctx, tok); err != nil {
		t.Fatalf("marking the token used: %v", err)
	}
	tok.Spec.Device = "dev-2"
	if err := c.Update(ctx, tok); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "cannot be changed") {
		t.Errorf("changing a token's spec: %v, want refused", err)
	}
	rev := &v1alpha1.CertificateRevocation{ObjectMeta: metav1.ObjectMeta{Name: "1f3a", Namespace: ns},
		Spec: v1alpha1.CertificateRevocationSpec{Device: "dev-1", Reason: "lost", RevokedAt: metav1.Now()}}
	if err := c.Create(ctx, rev); err != nil {
		t.Fatalf("valid revocation refused: %v", err)
	}

	// Device status: deployments keyed by app, with their generations.
	now2 := metav1.NowMicro()
	dev.Status = v1alpha1.DeviceStatus{Phase: "online", LastSeen: &now2, Deployments: []v1alpha1.DeploymentRecord{
		{App: "sensor", Generation: 7, Command: "deploy", Version: "1.0.0", State: "running", UpdatedAt: &now2}}}
	if err := c.Status().Update(ctx, dev); err != nil {
		t.Fatal(err)
	}
	dev.Status.Deployments = append(dev.Status.Deployments, dev.Status.Deployments[0])
	if err := c.Status().Update(ctx, dev); !apierrors.IsInvalid(err) {
		t.Errorf("two deployment records for one app: %v, want refused", err)
	}

	// The printer columns, as kubectl shows them.
	kubeconfig := env.Kubeconfig(t, env.Config, ns)
	for kind, want := range map[string][]string{
		"devices":      {"NAME", "BOARD", "PHASE", "GATEWAY", "AGE", "dev-1", "stm32f4-discovery", "online"},
		"applications": {"VERSION", "SELECTED", "UPDATED", "FAILED", "CONVERGED", "AGE", "sensor", "1.0.1", "true"},
		"gateways":     {"ADDRESSES", "DEVICES", "AGE", "gw-a", "10.0.0.1:8081"},
	} {
		out, err := exec.Command(filepath.Join(env.Assets, "kubectl"), "--kubeconfig", kubeconfig, "get", kind).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get %s: %v\n%s", kind, err, out)
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("kubectl get %s: no %q in\n%s", kind, w, out)
			}
		}
	}
}

func TestInvalidObjectsRefused(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }
	dev := func(mod func(*v1alpha1.Device)) client.Object {
		d := &v1alpha1.Device{ObjectMeta: meta("dev"), Spec: v1alpha1.DeviceSpec{Board: "linux"}}
		mod(d)
		return d
	}
	app := func(mod func(*v1alpha1.Application)) client.Object {
		a := &v1alpha1.Application{ObjectMeta: meta("app"), Spec: v1alpha1.ApplicationSpec{Version: "1.0.0", SHA256: sha}}
		mod(a)
		return a
	}
	long := strings.Repeat("a", 65)
	for _, tc := range []struct {
		name string
		obj  client.Object
		want string // in the API server's message
	}{
		{"unknown board", dev(func(d *v1alpha1.Device) { d.Spec.Board = "esp32" }), `spec.board: Unsupported value: "esp32"`},
		{"name longer than 64", dev(func(d *v1alpha1.Device) { d.Name = long }), "device names are at most 64 characters"},
		{"name not a Kubernetes name", dev(func(d *v1alpha1.Device) { d.Name = "Dev_1" }), "metadata.name"},
		{"label key", dev(func(d *v1alpha1.Device) { d.Spec.Labels = v1alpha1.Labels{"-x": "a"} }), "label keys must be"},
		{"label value", dev(func(d *v1alpha1.Device) { d.Spec.Labels = v1alpha1.Labels{"site": "a b"} }), "spec.labels.site"},
		{"gateway name", dev(func(d *v1alpha1.Device) { d.Spec.Gateway = "gw/1" }), "spec.gateway"},
		{"negative fuel", app(func(a *v1alpha1.Application) { a.Spec.Limits.Fuel = -1 }), "spec.limits.fuel"},
		{"negative memory", app(func(a *v1alpha1.Application) { a.Spec.Limits.Memory = -65536 }), "spec.limits.memory"},
		{"memory above 4 GiB", app(func(a *v1alpha1.Application) { a.Spec.Limits.Memory = 1 << 32 }), "spec.limits.memory"},
		{"negative tick", app(func(a *v1alpha1.Application) { a.Spec.Limits.TickMS = -5 }), "spec.limits.tickMS"},
		{"unknown strategy", app(func(a *v1alpha1.Application) { a.Spec.Rollout.Strategy = "canary" }), `spec.rollout.strategy: Unsupported value: "canary"`},
		{"negative max unavailable", app(func(a *v1alpha1.Application) { a.Spec.Rollout.MaxUnavailable = -1 }), "spec.rollout.maxUnavailable"},
		{"negative min ready", app(func(a *v1alpha1.Application) { a.Spec.Rollout.MinReadySeconds = -1 }), "spec.rollout.minReadySeconds"},
		{"selector board", app(func(a *v1alpha1.Application) { a.Spec.Selector.Boards = []v1alpha1.Board{"esp32"} }), "spec.selector.boards"},
		{"selector label", app(func(a *v1alpha1.Application) { a.Spec.Selector.Labels = v1alpha1.Labels{"a/b": "c"} }), "label keys must be"},
		{"bad sha256", app(func(a *v1alpha1.Application) { a.Spec.SHA256 = "ABC" }), "spec.sha256"},
		{"bad version", app(func(a *v1alpha1.Application) { a.Spec.Version = "1.0 beta" }), "spec.version"},
		{"config value too long", app(func(a *v1alpha1.Application) { a.Spec.Config = v1alpha1.Config{"k": strings.Repeat("v", 257)} }), "config values must be at most 256 bytes"},
		{"application name", app(func(a *v1alpha1.Application) { a.Name = long }), "application names are at most 64 characters"},
		{"gateway address", &v1alpha1.Gateway{ObjectMeta: meta("gw"), Spec: v1alpha1.GatewaySpec{Addresses: []v1alpha1.Address{"no-port"}}}, "spec.addresses[0]"},
		{"gateway port above 65535", &v1alpha1.Gateway{ObjectMeta: meta("gw"), Spec: v1alpha1.GatewaySpec{Addresses: []v1alpha1.Address{"h:99999"}}}, "spec.addresses[0]"},
		{"gateway port 0", &v1alpha1.Gateway{ObjectMeta: meta("gw"), Spec: v1alpha1.GatewaySpec{Addresses: []v1alpha1.Address{"h:8081", "h:0"}}}, "spec.addresses[1]"},
		{"gateway address twice", &v1alpha1.Gateway{ObjectMeta: meta("gw"), Spec: v1alpha1.GatewaySpec{Addresses: []v1alpha1.Address{"h:8081", "h:8081"}}}, `spec.addresses[1]: Duplicate value: "h:8081"`},
		{"gateway capacity", &v1alpha1.Gateway{ObjectMeta: meta("gw"), Spec: v1alpha1.GatewaySpec{Capacity: -1}}, "spec.capacity"},
		{"token hash", &v1alpha1.EnrollmentToken{ObjectMeta: meta("t1"), Spec: v1alpha1.EnrollmentTokenSpec{Device: "d", Hash: "secret"}}, "spec.hash"},
		{"revocation name", &v1alpha1.CertificateRevocation{ObjectMeta: meta("serial-x"), Spec: v1alpha1.CertificateRevocationSpec{Device: "d", RevokedAt: metav1.Now()}}, "named by the certificate serial"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx, tc.obj)
			if err == nil {
				t.Fatalf("accepted; want refused with %q", tc.want)
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refused with %v; want Invalid mentioning %q", err, tc.want)
			}
		})
	}
}

// kubectl get enrollmenttokens shows when a live token expires (a column
// of type date shows an age, "<invalid>" for a time to come).
func TestKubectlShowsTokenExpiry(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tok := &v1alpha1.EnrollmentToken{ObjectMeta: metav1.ObjectMeta{Name: "00000000000000aa", Namespace: ns},
		Spec: v1alpha1.EnrollmentTokenSpec{Device: "d", Hash: sha, ExpiresAt: metav1.NewTime(exp)}}
	if err := env.Client.Create(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(env.Assets, "kubectl"), "--kubeconfig", env.Kubeconfig(t, env.Config, ns),
		"get", "enrollmenttokens").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get enrollmenttokens: %v\n%s", err, out)
	}
	if want := exp.Format(time.RFC3339); !strings.Contains(string(out), want) || strings.Contains(string(out), "<invalid>") {
		t.Fatalf("kubectl get enrollmenttokens:\n%s\nwant the expiry %s", out, want)
	}
}

// The kustomize tree renders with the kubectl of bin/ from config/ (what
// kubectl apply -k config/ applies) and every object it holds passes the
// API server's validation (server-side dry run). A gateway pod registers
// the address devices reach it at, the one its certificate names.
func TestConfigRendersAndValidates(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	kinds := map[string]int{}
	for _, u := range render(t, env, "config") {
		kinds[u.GetKind()]++
		if u.GetKind() == "StatefulSet" {
			checkAdvertised(t, u)
		}
		if u.GetKind() == "Namespace" {
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("namespace: %v", err)
			}
			continue
		}
		if err := env.Client.Patch(ctx, u, client.Apply, client.DryRunAll, client.FieldOwner("test"), client.ForceOwnership); err != nil {
			t.Errorf("%s %s/%s refused: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	want := map[string]int{"Namespace": 1, "CustomResourceDefinition": 6, "ServiceAccount": 2, "Role": 3, "RoleBinding": 2,
		"ClusterRole": 1, "ClusterRoleBinding": 1, "ValidatingAdmissionPolicy": 1, "ValidatingAdmissionPolicyBinding": 1,
		"ValidatingWebhookConfiguration": 1, "Service": 2, "Deployment": 1, "StatefulSet": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("config renders %d %s, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
}

// checkAdvertised: the gateway StatefulSet's pods register (--advertise) a
// valid address whose host their certificate names (--host), for pod
// wasmbed-gateway-0 in namespace wasmbed-system.
func checkAdvertised(t *testing.T, sts *unstructured.Unstructured) {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(sts.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("StatefulSet %s: %d containers", sts.GetName(), len(containers))
	}
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	pod := strings.NewReplacer("$(POD_NAME)", "wasmbed-gateway-0", "$(POD_NAMESPACE)", "wasmbed-system")
	var advertised, hosts []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--advertise="); ok {
			advertised = append(advertised, pod.Replace(v))
		}
		if v, ok := strings.CutPrefix(a, "--host="); ok {
			hosts = append(hosts, pod.Replace(v))
		}
	}
	want := "wasmbed-gateway-0.wasmbed-gateway.wasmbed-system.svc:8081"
	if !slices.Equal(advertised, []string{want}) || fleet.ValidateAddresses(advertised) != nil {
		t.Fatalf("the gateway pods advertise %q, want [%s] (args %q)", advertised, want, args)
	}
	if host, _, _ := strings.Cut(want, ":"); !slices.Contains(hosts, host) {
		t.Fatalf("the advertised host %s is not in the certificate's --host %q", host, hosts)
	}
}

// The fleet of config/ has the controller's admission webhook, ready to
// work without cert-manager: the controller serves it with a certificate
// it issues itself (--webhook-self-signed, written where it may write: its
// root file system is read-only), the configuration calls the webhook
// Service of the fleet's namespace, and the controller may inject the CA
// into that configuration (its ClusterRole names it) and keep the CA in
// the Secret its Role names.
func TestConfigHasTheWebhook(t *testing.T) {
	env := kubetest.Start(t)
	objs := map[string]*unstructured.Unstructured{}
	for _, u := range render(t, env, "config") {
		objs[u.GetKind()+"/"+u.GetName()] = u
	}
	wh := objs["ValidatingWebhookConfiguration/"+kubetest.WebhookConfiguration]
	if wh == nil {
		t.Fatalf("no ValidatingWebhookConfiguration %s in config/", kubetest.WebhookConfiguration)
	}
	hooks, _, _ := unstructured.NestedSlice(wh.Object, "webhooks")
	for _, h := range hooks {
		svc, _, _ := unstructured.NestedStringMap(h.(map[string]any), "clientConfig", "service")
		if svc["name"] != "wasmbed-webhook" || svc["namespace"] != "wasmbed-system" {
			t.Errorf("webhook %v calls %v", h.(map[string]any)["name"], svc)
		}
	}
	if objs["Service/"+"wasmbed-webhook"] == nil {
		t.Error("no webhook Service")
	}
	dep := fmt.Sprint(objs["Deployment/wasmbed-controller"].Object)
	for _, want := range []string{"--webhook-self-signed", "--webhook-cert-dir=/run/wasmbed/webhook", "mountPath:/run/wasmbed/webhook"} {
		if !strings.Contains(dep, want) {
			t.Errorf("the controller's Deployment lacks %s: %s", want, dep)
		}
	}
	cr := fmt.Sprint(objs["ClusterRole/wasmbed-controller-webhook"].Object)
	if !strings.Contains(cr, kubetest.WebhookConfiguration) || !strings.Contains(cr, "patch") {
		t.Errorf("the controller may not patch its webhook configuration: %s", cr)
	}
	if role := fmt.Sprint(objs["Role/wasmbed-controller"].Object); !strings.Contains(role, "wasmbed-webhook-tls") {
		t.Errorf("the controller's Role does not name the Secret %s: %s", "wasmbed-webhook-tls", role)
	}
}

// render is what `kubectl kustomize` makes of dir (under the repository's
// root), object by object.
func render(t *testing.T, env *kubetest.Env, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := exec.Command(filepath.Join(env.Assets, "kubectl"), "kustomize", filepath.Join(kubetest.RepoRoot(), dir)).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatal(err)
		}
		if u.Object != nil {
			objs = append(objs, u)
		}
	}
}
