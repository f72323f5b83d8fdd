package provider

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/gateway/daemon"
)

// TestAccAPIToken: wasmbed_api_token mints a named token whose role the
// gateway enforces, changes its role in place, rotates it when
// rotate_when_changed changes (the old secret refused), imports, and
// revokes it on destroy.
func TestAccAPIToken(t *testing.T) {
	g := startTestGateway(t)
	cfg := func(role, rotate string) string {
		return g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_api_token" "ci" {
  name                = "ci"
  role                = %q
  description         = "pipeline"
  ttl_seconds         = 86400
  rotate_when_changed = { v = %q }
}
resource "wasmbed_api_token" "dash" {
  name = "dash"
  role = "reader"
}
`, role, rotate)
	}
	// client is a client of the gateway with the token the state holds for
	// addr (remembered in tokens).
	var tokens []string
	client := func(s *terraform.State, addr string) (*apiv1.Client, error) {
		tok := s.RootModule().Resources[addr].Primary.Attributes["token"]
		tokens = append(tokens, tok)
		set, diags := resolveSettings(configModel{}, func(k string) string {
			return map[string]string{EnvEndpoint: g.api, EnvToken: tok, EnvCACertFile: filepath.Join(g.dir, daemon.CACertFile)}[k]
		})
		if diags.HasError() {
			return nil, fmt.Errorf("%v", diags)
		}
		u, _ := url.Parse(g.api)
		return apiv1.NewClient(u, tok, set.CAPool), nil
	}
	// may checks what the token of addr may do: register a device
	// (operator), a gateway (admin); refused is 403.
	may := func(addr string, device, gateway bool) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			c, err := client(s, addr)
			if err != nil {
				return err
			}
			ctx := context.Background()
			_, err = c.PutDevice(ctx, "acc-token-dev", apiv1.DeviceSpec{Board: "linux"})
			if err := allowed(err, device); err != nil {
				return fmt.Errorf("%s registers a device: %w", addr, err)
			}
			_, err = c.PutGateway(ctx, "acc-token-gw", apiv1.GatewaySpec{Addresses: []string{"127.0.0.1:1"}})
			if err := allowed(err, gateway); err != nil {
				return fmt.Errorf("%s registers a gateway: %w", addr, err)
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		CheckDestroy: func(*terraform.State) error {
			for _, n := range []string{"ci", "dash"} {
				if _, err := g.client.GetAPIToken(context.Background(), n); !isNotFound(err) {
					return fmt.Errorf("API token %s still there after destroy: %v", n, err)
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{Config: g.providerBlock() + `
resource "wasmbed_api_token" "bad" {
  name = "bad"
  role = "root"
}`, ExpectError: regexp.MustCompile(`value must be one of`)},
			{Config: cfg("operator", "1"), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestMatchResourceAttr("wasmbed_api_token.ci", "token", regexp.MustCompile(`^wba_ci\.[0-9a-f]{64}$`)),
				resource.TestCheckResourceAttrSet("wasmbed_api_token.ci", "expires_at"),
				resource.TestCheckNoResourceAttr("wasmbed_api_token.dash", "expires_at"),
				may("wasmbed_api_token.ci", true, false),
				may("wasmbed_api_token.dash", false, false),
			)},
			// A role change in place: same secret, new rights.
			{Config: cfg("admin", "1"), Check: resource.ComposeAggregateTestCheckFunc(
				may("wasmbed_api_token.ci", true, true),
				func(*terraform.State) error {
					if tokens[2] != tokens[0] {
						return fmt.Errorf("a role change changed the secret")
					}
					return nil
				},
			)},
			// Rotation: a new secret, the old one refused (no grace).
			{Config: cfg("admin", "2"), Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttrSet("wasmbed_api_token.ci", "rotated_at"),
				may("wasmbed_api_token.ci", true, true),
				func(*terraform.State) error {
					if tokens[3] == tokens[2] {
						return fmt.Errorf("rotate_when_changed did not rotate")
					}
					return nil
				},
				func(*terraform.State) error {
					u, _ := url.Parse(g.api)
					pool := x509.NewCertPool()
					pool.AppendCertsFromPEM([]byte(g.caPEM))
					_, err := apiv1.NewClient(u, tokens[2], pool).GetDevice(context.Background(), "acc-token-dev")
					var e *apiv1.Error
					if !errors.As(err, &e) || e.Status != 401 {
						return fmt.Errorf("the secret before the rotation: %v, want 401", err)
					}
					return nil
				},
			)},
			{ResourceName: "wasmbed_api_token.ci", ImportState: true, ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"token", "rotate_when_changed", "grace_seconds"}},
		},
	})
}

// allowed checks an API answer: nil if ok, else a 403.
func allowed(err error, ok bool) error {
	var e *apiv1.Error
	switch {
	case ok && err != nil:
		return fmt.Errorf("refused: %w", err)
	case !ok && (!errors.As(err, &e) || e.Status != 403):
		return fmt.Errorf("got %v, want 403", err)
	}
	return nil
}
