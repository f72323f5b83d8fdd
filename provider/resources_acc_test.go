package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// Acceptance tests: the real terraform (or OpenTofu: TF_ACC_TERRAFORM_PATH)
// against a real gateway with real agents. `make testacc` runs them with
// TF_ACC=1 for both CLIs.

func TestAccDevice(t *testing.T) {
	g := startTestGateway(t)
	cfg := func(labels string) string {
		return g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_device" "d" {
  name   = "dev-acc"
  board  = "stm32f4-discovery"
  labels = %s
}
`, labels)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		CheckDestroy: func(*terraform.State) error {
			if _, err := g.client.GetDevice(context.Background(), "dev-acc"); !isNotFound(err) {
				return fmt.Errorf("device still registered after destroy: %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			// Bad attributes are refused at validate time.
			{Config: g.providerBlock() + `
resource "wasmbed_device" "bad" {
  name  = "no spaces allowed"
  board = "z80"
}`, ExpectError: regexp.MustCompile(`(?s)(must be 1 to 64 letters.*value must be one of|value must be one of.*must be 1 to 64 letters)`)},
			{Config: cfg(`{ site = "a" }`), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_device.d", "id", "dev-acc"),
				resource.TestCheckResourceAttr("wasmbed_device.d", "phase", "registered"),
				resource.TestCheckResourceAttr("wasmbed_device.d", "labels.site", "a"),
			)},
			{Config: cfg(`{ site = "b", tier = "1" }`), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_device.d", "labels.site", "b"),
				resource.TestCheckResourceAttr("wasmbed_device.d", "labels.tier", "1"),
			)},
			{ResourceName: "wasmbed_device.d", ImportState: true, ImportStateId: "dev-acc", ImportStateVerify: true},
			// Deleted outside Terraform: planned again, not an error.
			{PreConfig: func() {
				if err := g.client.DeleteDevice(context.Background(), "dev-acc"); err != nil {
					t.Fatal(err)
				}
			}, Config: cfg(`{ site = "b", tier = "1" }`), PlanOnly: true, ExpectNonEmptyPlan: true},
			{Config: cfg(`{ site = "b", tier = "1" }`)},
		},
	})
}

func writeModule(t *testing.T, name string, wasm []byte) string {
	p := filepath.Join(t.TempDir(), name+".wasm")
	if err := os.WriteFile(p, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAccApplication(t *testing.T) {
	g := startTestGateway(t)
	g.startAgents(t, 3, "linux", map[string]string{"role": "sensor"})
	sensor := writeModule(t, "sensor", wasmtest.App(t, "sensor"))
	// Imports a function the ABI lacks: refused at plan time, naming the board.
	bad := writeModule(t, "bad", wasmtest.WAT(t, `(module (import "wasmbed" "teleport" (func)) (memory (export "memory") 1) (func (export "tick")))`))
	stm, _ := board.Lookup("stm32f4-discovery")
	cfg := func(version, module string) string {
		return g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_application" "sensor" {
  name        = "sensor"
  version     = %q
  module_path = %q
  config      = { offset = "10" }
  limits      = { tick_ms = 100 }
  selector    = { labels = { role = "sensor" } }
  timeouts    = { create = "45s", update = "45s" }
}
`, version, module)
	}
	// The same, read back through the data sources.
	withData := func(version, module string) string {
		return cfg(version, module) + `
data "wasmbed_application" "sensor" {
  name       = wasmbed_application.sensor.name
  depends_on = [wasmbed_application.sensor]
}

data "wasmbed_devices" "sensors" {
  labels     = { role = "sensor" }
  depends_on = [wasmbed_application.sensor]
}
`
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		CheckDestroy: func(*terraform.State) error {
			deps, err := g.client.Deployments(context.Background(), "sensor", "")
			if err != nil || len(deps) != 0 {
				return fmt.Errorf("after destroy the app is still deployed: %+v %v", deps, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{Config: cfg("1.0.0", bad), ExpectError: regexp.MustCompile(`(?s)Module cannot run on board linux.*teleport`)},
			// More fuel per call than a board it targets runs within its
			// watchdog: refused at plan time, naming the board and both numbers.
			{Config: g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_application" "fuel" {
  name        = "fuel"
  version     = "1.0.0"
  module_path = %q
  limits      = { fuel = %d }
  selector    = { boards = ["stm32f4-discovery"] }
}
`, sensor, stm.MaxFuel+1), PlanOnly: true, ExpectError: regexp.MustCompile(strings.ReplaceAll(fmt.Sprintf(
				`(?s)Fuel limit too high for board stm32f4-discovery.*limits\.fuel %d exceeds what board stm32f4-discovery can run within its watchdog \(%d\)`,
				stm.MaxFuel+1, stm.MaxFuel), " ", `\s+`))},
			{Config: withData("1.0.0", sensor), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.sensor", "generation", "1"),
				resource.TestCheckResourceAttr("wasmbed_application.sensor", "limits.fuel", "250000"),
				resource.TestCheckResourceAttr("wasmbed_application.sensor", "rollout.strategy", "all_at_once"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "converged", "true"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "updated", "3"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "devices.0.state", "running"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "devices.0.observed_version", "1.0.0"),
				resource.TestCheckResourceAttr("data.wasmbed_devices.sensors", "devices.#", "3"),
				resource.TestCheckResourceAttr("data.wasmbed_devices.sensors", "devices.0.phase", "online"),
			)},
			// A new version rolls out; apply returns once every device runs it.
			{Config: withData("1.1.0", sensor), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_application.sensor", "generation", "2"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "converged", "true"),
				resource.TestCheckResourceAttr("data.wasmbed_application.sensor", "devices.2.observed_version", "1.1.0"),
			)},
			{ResourceName: "wasmbed_application.sensor", ImportState: true, ImportStateId: "sensor", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"module_path", "timeouts"}},
			{PreConfig: func() {
				if err := g.client.DeleteApplication(context.Background(), "sensor"); err != nil {
					t.Fatal(err)
				}
			}, Config: cfg("1.1.0", sensor), PlanOnly: true, ExpectNonEmptyPlan: true},
			{Config: cfg("1.1.0", sensor)},
		},
	})
}

func TestAccCertificateAndGateway(t *testing.T) {
	g := startTestGateway(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev-cert"}}, key)
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	cfg := g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_device" "d" {
  name  = "dev-cert"
  board = "nano33ble"
}

resource "wasmbed_certificate" "c" {
  device         = wasmbed_device.d.name
  csr_pem        = %q
  validity_hours = 12
}

resource "wasmbed_gateway" "edge" {
  name      = "edge-2"
  addresses = ["10.0.0.2:8081"]
  labels    = { site = "north" }
  capacity  = 500
}

data "wasmbed_gateway" "self" {
  name = "gateway"
}
`, csrPEM)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{
			{Config: cfg, Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttrWith("wasmbed_certificate.c", "cert_pem", func(v string) error {
					block, _ := pem.Decode([]byte(v))
					if block == nil {
						return fmt.Errorf("no PEM")
					}
					c, err := x509.ParseCertificate(block.Bytes)
					if err != nil {
						return err
					}
					if c.Subject.CommonName != "dev-cert" || !c.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
						return fmt.Errorf("certificate for %q with another key", c.Subject.CommonName)
					}
					return nil
				}),
				resource.TestCheckResourceAttr("wasmbed_certificate.c", "ready_for_renewal", "false"),
				resource.TestCheckResourceAttr("wasmbed_gateway.edge", "capacity", "500"),
				resource.TestCheckResourceAttrSet("data.wasmbed_gateway.self", "addresses.0"),
			)},
			{ResourceName: "wasmbed_gateway.edge", ImportState: true, ImportStateId: "edge-2", ImportStateVerify: true},
			// Destroying the certificate (the device stays) revokes it.
			{Config: g.providerBlock() + `
resource "wasmbed_device" "d" {
  name  = "dev-cert"
  board = "nano33ble"
}
`, Check: func(*terraform.State) error {
				certs, err := g.client.ListCertificates(context.Background(), "dev-cert")
				if err != nil {
					return err
				}
				if len(certs) != 1 || certs[0].State != fleet.CertRevoked || certs[0].Reason != "wasmbed_certificate destroyed" {
					return fmt.Errorf("ledger after destroy: %+v, want the one certificate revoked", certs)
				}
				return nil
			}},
		},
	})
}

// An ephemeral token written into a provisioning bundle: the file has it,
// the state does not, and a real agent enrolls with it.
func TestAccProvisioningBundle(t *testing.T) {
	g := startTestGateway(t)
	out := filepath.Join(t.TempDir(), "bundles", "dev-b.json")
	cfg := g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_device" "d" {
  name  = "dev-b"
  board = "linux"
}

ephemeral "wasmbed_enrollment_token" "t" {
  device = wasmbed_device.d.id
}

resource "wasmbed_provisioning_bundle" "b" {
  device      = wasmbed_device.d.name
  gateways    = [%q]
  server_name = "127.0.0.1"
  path        = %q
  token_wo    = ephemeral.wasmbed_enrollment_token.t.token
}
`, g.device, out)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckNoResourceAttr("wasmbed_provisioning_bundle.b", "token_wo"),
				resource.TestCheckResourceAttr("wasmbed_provisioning_bundle.b", "board", "linux"),
				func(s *terraform.State) error {
					for _, r := range s.RootModule().Resources {
						for k, v := range r.Primary.Attributes {
							if strings.HasPrefix(v, "wbt_") {
								return fmt.Errorf("a token is in the state: %s.%s", r.Type, k)
							}
						}
					}
					st, err := os.Stat(out)
					if err != nil {
						return err
					}
					if st.Mode().Perm() != 0o600 {
						return fmt.Errorf("bundle mode %v", st.Mode().Perm())
					}
					b, err := agent.LoadBundle(out)
					if err != nil {
						return err
					}
					a, err := agent.New(agent.Config{Dir: filepath.Join(filepath.Dir(out), "state"), Bundle: b,
						Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
					if err != nil {
						return err
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					go a.Run(ctx)
					for ctx.Err() == nil {
						if a.Status().Connected {
							return nil
						}
						time.Sleep(50 * time.Millisecond)
					}
					return fmt.Errorf("agent did not connect with the bundle: %s", a.Status().LastError)
				},
			),
		}},
	})
}
