package provider

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/gateway/daemon"
)

// testGateway is a real gateway (embedded store and step-ca) started
// in-process for acceptance tests, with a client for checks.
type testGateway struct {
	api, device string
	dir         string
	token       string
	caPEM       string
	client      *apiv1.Client
}

func startTestGateway(t *testing.T) *testGateway {
	t.Helper()
	return startTestGatewayWith(t, nil)
}

// startTestGatewayWith starts a test gateway whose options opts (if not
// nil) changes first.
func startTestGatewayWith(t *testing.T, opts func(*daemon.Options)) *testGateway {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	o := daemon.Options{DataDir: dir, APIAddr: "127.0.0.1:0", DeviceAddr: "127.0.0.1:0",
		Gateway: gateway.Config{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func(a, d net.Addr) { ready <- [2]net.Addr{a, d} }}
	if opts != nil {
		opts(&o)
	}
	go func() {
		done <- daemon.Run(ctx, o)
	}()
	g := &testGateway{dir: dir}
	select {
	case a := <-ready:
		g.api, g.device = "https://"+a[0].String(), a[1].String()
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start")
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	g.token, g.caPEM = read(daemon.AdminTokenFile), read(daemon.CACertFile)
	u, _ := url.Parse(g.api)
	s, diags := resolveSettings(configModel{}, func(k string) string {
		return map[string]string{EnvEndpoint: g.api, EnvToken: g.token, EnvCACertFile: filepath.Join(dir, daemon.CACertFile)}[k]
	})
	if diags.HasError() {
		t.Fatalf("%v", diags)
	}
	g.client = apiv1.NewClient(u, g.token, s.CAPool)
	return g
}

// providerBlock configures the provider for g, the way users write it.
func (g *testGateway) providerBlock() string {
	return fmt.Sprintf(`
provider "wasmbed" {
  endpoint = %q
  token    = %q
  ca_cert  = <<-EOT
%s
  EOT
}
`, g.api, g.token, g.caPEM)
}

// startAgents registers n devices and starts them as agents that enroll.
func (g *testGateway) startAgents(t *testing.T, n int, boardName string, labels map[string]string) *sim.Fleet {
	t.Helper()
	ctx := context.Background()
	tokens := map[string]string{}
	for i := 0; i < n; i++ {
		name := sim.DefaultName(i)
		if _, err := g.client.PutDevice(ctx, name, apiv1.DeviceSpec{Board: boardName, Labels: labels}); err != nil {
			t.Fatal(err)
		}
		tok, err := g.client.CreateToken(ctx, name, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = tok.Token
	}
	f, err := sim.Start(ctx, sim.Config{Devices: n, Dir: t.TempDir(),
		Bundle: func(name string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: []string{g.device}, CARoot: g.caPEM, ServerName: "127.0.0.1", Device: name,
				Token: tokens[name], Board: boardName}, nil
		},
		Agent:  func(_ int, c *agent.Config) { c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Stop() })
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := f.WaitConnected(wctx, n); err != nil {
		t.Fatal(err)
	}
	return f
}
