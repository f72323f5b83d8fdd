//go:build qemu

package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/gateway/daemon"
)

// gw is the real gateway, started in-process on loopback ports with a fresh data
// directory (store, embedded step-ca, TLS), as gateway/daemon's own tests do.
type gw struct {
	t       *testing.T
	dir     string
	apiAddr string
	device  string // host:port of the device listener
	api     *apiv1.Client
	caDER   []byte
	cancel  context.CancelFunc
	done    chan error
}

func startGateway(t *testing.T, cfg gateway.Config) *gw {
	t.Helper()
	return startGatewayAt(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", cfg)
}

// startGatewayAt starts a gateway on a data directory and addresses (a restart: the
// same directory keeps the CA, the store and the tokens).
func startGatewayAt(t *testing.T, dir, apiAddr, deviceAddr string, cfg gateway.Config) *gw {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &gw{t: t, dir: dir, cancel: cancel, done: make(chan error, 1)}
	log := testLogger(t, "gateway")
	ready := make(chan [2]net.Addr, 1)
	go func() {
		g.done <- daemon.Run(ctx, daemon.Options{DataDir: g.dir, APIAddr: apiAddr, DeviceAddr: deviceAddr,
			Gateway: cfg, Log: log, Ready: func(a, d net.Addr) { ready <- [2]net.Addr{a, d} }})
	}()
	var addrs [2]net.Addr
	select {
	case addrs = <-ready:
	case err := <-g.done:
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start in 30s")
	}
	t.Cleanup(g.stop)
	g.apiAddr, g.device = addrs[0].String(), addrs[1].String()
	rootPEM, err := os.ReadFile(filepath.Join(g.dir, daemon.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(rootPEM)
	g.caDER = blk.Bytes
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	admin, err := os.ReadFile(filepath.Join(g.dir, daemon.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	g.api = apiv1.NewClient(&url.URL{Scheme: "https", Host: addrs[0].String()}, strings.TrimSpace(string(admin)), roots)
	return g
}

func (g *gw) stop() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Errorf("gateway stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		g.t.Error("gateway did not stop in 15s")
	}
}

// register registers a device and issues its one-time enrollment token.
func (g *gw) register(name, board string, labels map[string]string) string {
	g.t.Helper()
	ctx := context.Background()
	if _, err := g.api.PutDevice(ctx, name, apiv1.DeviceSpec{Board: board, Labels: labels}); err != nil {
		g.t.Fatal(err)
	}
	tok, err := g.api.CreateToken(ctx, name, time.Hour)
	if err != nil {
		g.t.Fatal(err)
	}
	return tok.Token
}

func (g *gw) deviceStatus(name string) fleet.Device {
	g.t.Helper()
	d, err := g.api.GetDevice(context.Background(), name)
	if err != nil {
		g.t.Fatal(err)
	}
	return d
}

// eventually polls cond every 200 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
