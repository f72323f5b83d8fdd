package controller_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/controller"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/admit"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// kubectl apply of objects that break fleet/admit's rules is refused at the
// door by the controller's admission webhook, with the message the
// gateway's API gives (both call fleet/admit): an application whose module
// cannot run on a board it would land on, a device whose board cannot run
// an application that selects it, a rollout whose fields do not go
// together. What passes is accepted; an application applied before its
// module is accepted with a warning (the gateways wait for the module).
func TestWebhookRefusesAtTheDoor(t *testing.T) {
	env := kubetest.StartWithWebhooks(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	wh := env.Env.WebhookInstallOptions
	startControllerWith(t, env, ns, controller.Options{Webhook: &controller.WebhookOptions{
		Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir}})
	kubeconfig := env.Kubeconfig(t, env.Config, ns)
	kubectl := func(yaml string) (string, error) {
		f := filepath.Join(t.TempDir(), "obj.yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(filepath.Join(env.Assets, "kubectl"), "--kubeconfig", kubeconfig, "apply", "-f", f).CombinedOutput()
		return string(out), err
	}
	// Two pages of linear memory: 128 KiB, more than a nano33ble gives apps.
	big := wasmtest.WAT(t, `(module (memory (export "memory") 2) (func (export "tick")))`)
	sum := sha256.Sum256(big)
	sha := hex.EncodeToString(sum[:])
	must(t, env.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: kubestore.ModulePrefix + sha, Namespace: ns},
		BinaryData: map[string][]byte{sha: big}}))
	// What the gateway's API would answer: fleet/admit's refusal.
	want := admit.Module(ctx, big, []string{"nano33ble"}, board.Names(), fleet.Limits{Memory: 2 * 65536, Fuel: fleet.DefaultFuel}, admit.Check)
	if want == nil {
		t.Fatal("the module runs on a nano33ble: the test needs one that does not")
	}

	device := func(name, boardName, role string) string {
		return "apiVersion: fleet.wasmbed.dev/v1alpha1\nkind: Device\nmetadata:\n  name: " + name + "\nspec:\n  board: " + boardName +
			"\n  labels:\n    role: " + role + "\n"
	}
	application := func(name, role, extra string) string {
		return "apiVersion: fleet.wasmbed.dev/v1alpha1\nkind: Application\nmetadata:\n  name: " + name + "\nspec:\n  version: 1.0.0\n  sha256: " + sha +
			"\n  limits:\n    memory: 131072\n  selector:\n    labels:\n      role: " + role + "\n" + extra
	}
	if out, err := kubectl(device("small", "nano33ble", "sensor")); err != nil {
		t.Fatalf("a valid device refused: %v: %s", err, out)
	}
	out, err := kubectl(application("big", "sensor", ""))
	if err == nil || !strings.Contains(out, "denied the request") || !strings.Contains(out, "board nano33ble: "+want.Error()) {
		t.Fatalf("an application that cannot run on a board it lands on: %v: %s\nwant the refusal %q", err, out, want)
	}
	// On boards that can run it: accepted; then a device that cannot is refused.
	if out, err := kubectl(application("big", "gateway", "")); err != nil {
		t.Fatalf("an application for boards that run it: %v: %s", err, out)
	}
	out, err = kubectl(device("late", "nano33ble", "gateway"))
	if err == nil || !strings.Contains(out, "device late would run application big, which cannot run on board nano33ble") {
		t.Fatalf("a device that cannot run the application selecting it: %v: %s", err, out)
	}
	if out, err := kubectl(device("late", "mps2-an386", "gateway")); err != nil {
		t.Fatalf("a device that can: %v: %s", err, out)
	}
	// Rules across fields, as the API words them.
	out, err = kubectl(application("steps", "other", "  rollout:\n    steps:\n    - percent: 50\n    - percent: 10\n"))
	if err == nil || !strings.Contains(out, "denied the request") {
		t.Fatalf("a rollout whose steps go down: %v: %s", err, out)
	}
	// Its module not there yet: accepted, with a warning.
	missing := strings.Replace(application("early", "other", ""), sha, strings.Repeat("ab", 32), 1)
	out, err = kubectl(missing)
	if err != nil || !strings.Contains(out, "Warning") || !strings.Contains(out, "devices wait for it") {
		t.Fatalf("an application applied before its module: %v: %s", err, out)
	}
}

// Without cert-manager: the controller issues the webhook's serving
// certificate itself (its CA in a Secret of the namespace) and injects the
// CA into the webhook configuration, replacing whatever was there (here
// envtest's own CA, which the controller's server does not use): the real
// API server then calls it over TLS and refuses what fleet/admit refuses.
func TestWebhookIssuesItsOwnCertificate(t *testing.T) {
	env := kubetest.StartWithWebhooks(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	wh := env.Env.WebhookInstallOptions
	env.ClusterRoleFor(t, "controller_webhook_role.yaml", "wasmbed-controller")
	startControllerWith(t, env, ns, controller.Options{Webhook: &controller.WebhookOptions{
		Host: wh.LocalServingHost, Port: wh.LocalServingPort, SelfSigned: true, ExtraHosts: []string{wh.LocalServingHost}}})
	var sec corev1.Secret
	eventually(t, "the webhook's Secret", func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: controller.DefaultWebhookSecret}, &sec) == nil
	})
	bundles := func() [][]byte {
		var cfg admissionregistrationv1.ValidatingWebhookConfiguration
		must(t, env.Client.Get(ctx, client.ObjectKey{Name: kubetest.WebhookConfiguration}, &cfg))
		var out [][]byte
		for _, w := range cfg.Webhooks {
			out = append(out, w.ClientConfig.CABundle)
		}
		return out
	}
	eventually(t, "the CA injected into every webhook", func() bool {
		b := bundles()
		return len(b) == 2 && bytes.Equal(b[0], sec.Data["ca.crt"]) && bytes.Equal(b[1], sec.Data["ca.crt"])
	})
	kubeconfig := env.Kubeconfig(t, env.Config, ns)
	apply := func(yaml string) (string, error) {
		f := filepath.Join(t.TempDir(), "obj.yaml")
		must(t, os.WriteFile(f, []byte(yaml), 0o600))
		out, err := exec.Command(filepath.Join(env.Assets, "kubectl"), "--kubeconfig", kubeconfig, "apply", "-f", f).CombinedOutput()
		return string(out), err
	}
	app := "apiVersion: fleet.wasmbed.dev/v1alpha1\nkind: Application\nmetadata:\n  name: steps\nspec:\n  version: 1.0.0\n  sha256: " +
		strings.Repeat("ab", 32) + "\n  selector:\n    labels:\n      role: x\n  rollout:\n    steps:\n    - percent: 50\n    - percent: 10\n"
	out, err := apply(app)
	if err == nil || !strings.Contains(out, "denied the request") {
		t.Fatalf("a rollout whose steps go down, through the self-signed webhook: %v: %s", err, out)
	}
	if out, err := apply("apiVersion: fleet.wasmbed.dev/v1alpha1\nkind: Device\nmetadata:\n  name: d1\nspec:\n  board: nano33ble\n"); err != nil {
		t.Fatalf("a valid device refused: %v: %s", err, out)
	}
}
