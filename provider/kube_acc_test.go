package provider

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/controller"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/daemon"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// kubeFleet is a namespace of a real kube-apiserver with a gateway in
// Kubernetes mode and the controller running in-process.
type kubeFleet struct {
	env        *kubetest.Env
	ns         string
	kubeconfig string
	device     string // the gateway's device address
	backend    *kubeBackend
}

func startKubeFleet(t *testing.T) *kubeFleet {
	t.Helper()
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 2)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", DeviceAddr: "127.0.0.1:0", Log: log,
			Gateway: gateway.Config{Name: "gw-1"}, Store: daemon.StoreKubernetes, KubeConfig: env.Config, Namespace: ns,
			GatewayHeartbeat: time.Second, Ready: func(_, d net.Addr) { ready <- d }})
	}()
	go func() { done <- controller.Run(ctx, env.Config, controller.Options{Namespace: ns, Log: log}) }()
	f := &kubeFleet{env: env, ns: ns, kubeconfig: env.Kubeconfig(t, env.Config, "default")}
	select {
	case d := <-ready:
		f.device = d.String()
	case err := <-done:
		t.Fatalf("gateway or controller: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not start")
	}
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	var err error
	if f.backend, err = newKubeBackend(context.Background(), env.Config, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.backend.store.Close() })
	return f
}

func (f *kubeFleet) providerBlock() string {
	return fmt.Sprintf(`
provider "wasmbed" {
  kubernetes {
    kubeconfig = %q
    namespace  = %q
  }
}
`, f.kubeconfig, f.ns)
}

// startAgents runs the registered devices as agents, enrolling with tokens
// the backend mints (as wasmbed_enrollment_token does).
func (f *kubeFleet) startAgents(t *testing.T, names ...string) *sim.Fleet {
	t.Helper()
	ctx := context.Background()
	root, err := f.backend.CA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, n := range names {
		tok, err := f.backend.CreateToken(ctx, n, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens[n] = tok.Token
	}
	fl, err := sim.Start(ctx, sim.Config{Devices: len(names), Dir: t.TempDir(), Name: func(i int) string { return names[i] },
		Bundle: func(name string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: []string{f.device}, CARoot: root, ServerName: "127.0.0.1", Device: name,
				Token: tokens[name], Board: "linux"}, nil
		},
		Agent:  func(_ int, c *agent.Config) { c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fl.Stop() })
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := fl.WaitConnected(wctx, len(names)); err != nil {
		t.Fatal(err)
	}
	return fl
}

// The provider's kubernetes backend, with the real terraform: devices
// (one assigned by the controller, without drift), an application rolled
// out to agents behind a gateway in Kubernetes mode, a new version, a
// module refused at plan time, import, the certificate resource refused,
// and destroy revoking the enrolled devices.
func TestAccKubernetes(t *testing.T) {
	f := startKubeFleet(t)
	ctx := context.Background()
	sensor := writeModule(t, "sensor", wasmtest.App(t, "sensor"))
	bad := writeModule(t, "bad", wasmtest.WAT(t, `(module (import "wasmbed" "teleport" (func)) (memory (export "memory") 1) (func (export "tick")))`))
	devices := f.providerBlock() + `
resource "wasmbed_device" "k1" {
  name    = "k-1"
  board   = "linux"
  labels  = { role = "sensor" }
  gateway = "gw-1"
}

resource "wasmbed_device" "k2" {
  name    = "k-2"
  board   = "linux"
  labels  = { role = "sensor" }
  gateway = "gw-1"
}

resource "wasmbed_device" "assigned" {
  name   = "k-3"
  board  = "linux"
  labels = { role = "sensor" }
}

data "wasmbed_gateway" "gw" {
  name = "gw-1"
}
`
	app := func(version, module string) string {
		return devices + fmt.Sprintf(`
resource "wasmbed_application" "sensor" {
  name        = "sensor"
  version     = %q
  module_path = %q
  limits      = { tick_ms = 100 }
  selector    = { labels = { role = "sensor" } }
  timeouts    = { create = "45s", update = "45s" }
}

data "wasmbed_application" "sensor" {
  name       = wasmbed_application.sensor.name
  depends_on = [wasmbed_application.sensor]
}

data "wasmbed_devices" "sensors" {
  labels     = { role = "sensor" }
  depends_on = [wasmbed_application.sensor]
}
`, version, module)
	}
	var serials []string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		CheckDestroy: func(*terraform.State) error {
			for _, n := range []string{"k-1", "k-2", "k-3"} {
				if _, err := f.backend.GetDevice(ctx, n); !isNotFound(err) {
					return fmt.Errorf("device %s after destroy: %v", n, err)
				}
			}
			for _, s := range serials {
				var rev v1alpha1.CertificateRevocation
				if err := f.env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: s}, &rev); err != nil {
					return fmt.Errorf("certificate %s of a deleted device not revoked: %v", s, err)
				}
			}
			if _, err := f.backend.GetApplication(ctx, "sensor"); !isNotFound(err) {
				return fmt.Errorf("application after destroy: %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{Config: devices, Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_device.k1", "gateway", "gw-1"),
				resource.TestCheckResourceAttr("wasmbed_device.k2", "phase", "registered"),
				resource.TestCheckNoResourceAttr("wasmbed_device.assigned", "gateway"),
				resource.TestCheckResourceAttr("data.wasmbed_gateway.gw", "addresses.0", f.device),
			)},
			// The controller has assigned k-3 meanwhile: no drift.
			{PreConfig: func() {
				deadline := time.Now().Add(30 * time.Second)
				for {
					var d v1alpha1.Device
					if err := f.env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "k-3"}, &d); err == nil && d.Spec.Gateway == "gw-1" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("k-3 not assigned by the controller")
					}
					time.Sleep(50 * time.Millisecond)
				}
				f.startAgents(t, "k-1", "k-2", "k-3")
			}, Config: devices, PlanOnly: true},
			{Config: app("1.0.0", bad), ExpectError: regexp.MustCompile(`(?s)Module cannot run on board linux.*teleport`)},
			{Config: app("1.0.0", sensor), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.sensor", "generation", "1"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "converged", "true"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "updated", "3"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "devices.0.state", "running"),
				resource.TestCheckResourceAttr("data.wasmbed_devices.sensors", "devices.#", "3"),
				resource.TestCheckResourceAttr("data.wasmbed_devices.sensors", "devices.2.gateway", "gw-1"),
				resource.TestCheckResourceAttr("data.wasmbed_devices.sensors", "devices.2.phase", "online"),
			)},
			{Config: app("1.1.0", sensor), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.sensor", "generation", "2"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "devices.1.observed_version", "1.1.0"),
				func(*terraform.State) error {
					for _, n := range []string{"k-1", "k-2", "k-3"} {
						d, err := f.backend.GetDevice(ctx, n)
						if err != nil || d.Status.CertSerial == "" {
							return fmt.Errorf("%s not enrolled: %+v %v", n, d.Status, err)
						}
						serials = append(serials, d.Status.CertSerial)
					}
					return nil
				},
			)},
			{ResourceName: "wasmbed_application.sensor", ImportState: true, ImportStateId: "sensor", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"module_path", "timeouts"}},
			{ResourceName: "wasmbed_device.assigned", ImportState: true, ImportStateId: "k-3", ImportStateVerify: true},
			{Config: app("1.1.0", sensor) + `
resource "wasmbed_certificate" "c" {
  device  = "k-1"
  csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMA==\n-----END CERTIFICATE REQUEST-----\n"
}
`, ExpectError: regexp.MustCompile(`needs\s+the\s+standalone\s+backend`)},
		},
	})
}

// A kubeconfig that does not exist fails at configure time, on the attribute.
func TestAccKubernetesBadKubeconfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{{Config: fmt.Sprintf(`
provider "wasmbed" {
  kubernetes {
    kubeconfig = %q
  }
}

data "wasmbed_gateway" "gw" {
  name = "gw-1"
}
`, missing), ExpectError: regexp.MustCompile(`Cannot load the Kubernetes configuration`)}},
	})
}
