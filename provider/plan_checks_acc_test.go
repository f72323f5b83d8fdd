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
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
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
