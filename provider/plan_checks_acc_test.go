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
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// Plan-time checks and sane plans (issue 15 item 5): bad labels, an
// unregistered gateway and a CSR the CA refuses fail at plan, before any
// write; the plan of a device update knows its observed attributes; a
// gateway created in the same configuration is referenced by id.
func TestAccPlanTimeChecks(t *testing.T) {
	g := startTestGateway(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := func(cn string) string {
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	}
	device := func(labels, gateway string) string {
		return g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_gateway" "edge" {
  name      = "edge-5"
  addresses = ["10.0.0.5:8081"]
}

resource "wasmbed_device" "d" {
  name    = "dev-5"
  board   = "linux"
  labels  = %s
  gateway = %s
}
`, labels, gateway)
	}
	var writes int
	noWrites := func() {
		if w := g.writes(t); w != writes {
			t.Errorf("a refused plan wrote %d times to the gateway", w-writes)
		}
	}
	mark := func() { writes = g.writes(t) }
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{
			// A wrong token, or a CA that is not the gateway's, with only a
			// device in the configuration: refused at plan, saying which.
			{Config: strings.Replace(device("null", "null"), g.token, "wrong-token", 1), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Cannot use the gateway's management API.*refused the token`)},
			{Config: strings.Replace(device("null", "null"), strings.TrimSpace(g.caPEM), strings.TrimSpace(otherCA(t)), 1), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Cannot use the gateway's management API.*certificate does not verify: check ca_cert`)},
			// Labels the gateway would refuse, on a device, an application's
			// selector and a gateway: refused at plan.
			{PreConfig: mark, Config: device(`{ "no spaces" = "a" }`, "null"), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Invalid labels.*label key`)},
			{PreConfig: func() { noWrites(); mark() }, Config: g.providerBlock() + `
resource "wasmbed_application" "a" {
  name          = "a"
  version       = "1"
  module_base64 = "AGFzbQEAAAA="
  selector      = { labels = { role = "bad/value" } }
}`, PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)Invalid labels.*label role value`)},
			// A gateway the fleet does not know: refused at plan.
			{PreConfig: func() { noWrites(); mark() }, Config: device(`{ site = "a" }`, `"no-such-gateway"`), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Gateway no-such-gateway is not registered.*wasmbed_gateway\.NAME\.id`)},
			// A CSR whose subject names another device: refused at plan, as
			// the CA would at apply.
			{PreConfig: func() { noWrites(); mark() }, Config: device("null", "null") + fmt.Sprintf(`
resource "wasmbed_certificate" "c" {
  device  = wasmbed_device.d.name
  csr_pem = %q
}`, csr("someone-else")), PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)Certificate request refused for device dev-5.*common name "someone-else"`)},
			// The gateway created in the same configuration, referenced by
			// id: the check waits for it; the empty subject is accepted.
			{PreConfig: func() { noWrites() }, Config: device(`{ site = "a" }`, "wasmbed_gateway.edge.id") + fmt.Sprintf(`
resource "wasmbed_certificate" "c" {
  device  = wasmbed_device.d.name
  csr_pem = %q
}`, csr("")), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_device.d", "gateway", "edge-5"),
				resource.TestCheckResourceAttrSet("wasmbed_certificate.c", "serial"),
			)},
			// An update of the labels: the observed attributes are known in
			// the plan (as last read: offline, with the certificate signed above),
			// not (known after apply).
			{Config: device(`{ site = "b" }`, "wasmbed_gateway.edge.id") + fmt.Sprintf(`
resource "wasmbed_certificate" "c" {
  device  = wasmbed_device.d.name
  csr_pem = %q
}`, csr("")), ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("wasmbed_device.d", plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue("wasmbed_device.d", tfjsonpath.New("phase"), knownvalue.StringExact("offline")),
				plancheck.ExpectKnownValue("wasmbed_device.d", tfjsonpath.New("certificate_serial"), knownvalue.NotNull()),
				plancheck.ExpectKnownValue("wasmbed_device.d", tfjsonpath.New("certificate_not_after"), knownvalue.NotNull()),
			}}, Check: resource.TestCheckResourceAttr("wasmbed_device.d", "labels.site", "b")},
		},
	})
	if _, err := g.client.GetDevice(context.Background(), "dev-5"); !isNotFound(err) {
		t.Errorf("dev-5 after destroy: %v", err)
	}
}

// An application made outside Terraform, imported with an import block and
// with `terraform import`: the plan after the import is empty (module_path
// is write-only, the module known by its sha256), and nothing is written.
func TestAccApplicationImportPlanEmpty(t *testing.T) {
	g := startTestGateway(t)
	ctx := context.Background()
	wasm := wasmtest.App(t, "sensor")
	p := writeModule(t, "sensor", wasm)
	for _, name := range []string{"imp-block", "imp-cli"} {
		mod, err := g.client.UploadModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.client.PutApplication(ctx, name, apiv1.ApplicationSpec{Version: "1.0.0", SHA256: mod.SHA256,
			Config: map[string]string{"offset": "3"}, Limits: fleet.Limits{TickMS: 500},
			Selector: fleet.Selector{Labels: map[string]string{"role": "nobody"}}}); err != nil {
			t.Fatal(err)
		}
	}
	app := func(name string) string {
		return fmt.Sprintf(`
resource "wasmbed_application" %[1]q {
  name        = %[1]q
  version     = "1.0.0"
  module_path = %[2]q
  config      = { offset = "3" }
  limits      = { tick_ms = 500 }
  selector    = { labels = { role = "nobody" } }
}
`, name, p)
	}
	block := g.providerBlock() + app("imp-block") + `
import {
  to = wasmbed_application.imp-block
  id = "imp-block"
}
`
	// The harness's import step with a configuration of its own needs the
	// provider's source spelled out.
	both := `
terraform {
  required_providers {
    wasmbed = { source = "wasmbed/wasmbed" }
  }
}
` + block + app("imp-cli")
	var writes int
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{
			// The import block: imported, nothing to change.
			{PreConfig: func() { writes = g.writes(t) }, Config: block, ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("wasmbed_application.imp-block", plancheck.ResourceActionNoop),
			}}, Check: func(*terraform.State) error {
				if w := g.writes(t); w != writes {
					return fmt.Errorf("importing with a block wrote %d times", w-writes)
				}
				return nil
			}},
			// terraform import, then the plan is empty (PlanOnly fails otherwise).
			{Config: both, ResourceName: "wasmbed_application.imp-cli", ImportState: true, ImportStateId: "imp-cli", ImportStatePersist: true},
			{Config: both, PlanOnly: true},
		},
	})
}

// otherCA is a self-signed CA certificate (PEM) that signed nothing here.
func otherCA(t *testing.T) string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
