package ui_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/daemon"
)

// The dashboard of a gateway in Kubernetes mode (a real kube-apiserver and
// etcd; the gateway with exactly config/rbac/gateway_role.yaml's rights):
// the whole fleet from the store, live, and no action (the API only reads
// there, so even the gateway's admin token is a reader's).
func TestDashboardKubernetesMode(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t)
	admin, err := kubestore.Open(context.Background(), env.Config, kubestore.Options{Namespace: ns, Component: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	bg := context.Background()
	for i, gw := range []string{"gw-1", "gw-2", ""} {
		name := fmt.Sprintf("dev-%d", i)
		if err := admin.Devices().Create(bg, name, fleet.Device{Name: name, Board: "stm32f4-discovery", Gateway: gw,
			Status: fleet.DeviceStatus{Phase: fleet.PhaseRegistered}}); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(bg)
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{DataDir: dir, APIAddr: "127.0.0.1:0", DeviceAddr: "127.0.0.1:0",
			Gateway: gateway.Config{Name: "gw-1", HeartbeatInterval: time.Second}, Store: daemon.StoreKubernetes,
			KubeConfig: env.GatewayUser(t, ns, "gw-1"), Namespace: ns,
			GatewayHeartbeat: 500 * time.Millisecond, LastSeenInterval: time.Second, Log: quietLog(),
			Ready: func(a, _ net.Addr) { ready <- a }})
	}()
	g := &testGateway{dir: dir}
	select {
	case a := <-ready:
		g.api = "https://" + a.String()
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not start")
	}
	defer func() { cancel(); <-done }()
	tok, err := os.ReadFile(filepath.Join(dir, daemon.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}

	bctx := browser(t)
	login(t, bctx, g, strings.TrimSpace(string(tok)), "admin (reader)")
	run(t, bctx, "overview: the whole fleet", chromedp.WaitVisible(`//div[@id="devices-total"][text()="3"]`),
		chromedp.Evaluate[chromedp.Void](`window.__mark = 9`))
	// A Device created in Kubernetes (kubectl apply) shows up live.
	if err := admin.Devices().Create(bg, "dev-3", fleet.Device{Name: "dev-3", Board: "stm32f4-discovery", Gateway: "gw-2",
		Status: fleet.DeviceStatus{Phase: fleet.PhaseRegistered}}); err != nil {
		t.Fatal(err)
	}
	run(t, bctx, "a Device created in Kubernetes appears", chromedp.WaitVisible(`//div[@id="devices-total"][text()="4"]`))
	if mark := get(t, bctx, "mark", chromedp.Evaluate[int](`window.__mark`)); mark != 9 {
		t.Fatal("the overview was reloaded instead of updated in place")
	}
	if gw2 := get(t, bctx, "by gateway", chromedp.Text(css("#by-gateway"))); !strings.Contains(gw2, "gw-2") {
		t.Fatalf("devices by gateway: %q", gw2)
	}
	run(t, bctx, "device page", chromedp.Navigate(g.api+"/ui/devices/dev-0"), chromedp.WaitVisible(css("#identity")))
	if n := get(t, bctx, "actions", chromedp.Evaluate[int](`document.querySelectorAll("#mint-token, #revoke").length`)); n != 0 {
		t.Fatalf("%d action buttons in Kubernetes mode", n)
	}
}
