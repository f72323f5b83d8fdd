package ui_test

import (
	"context"
	"crypto/x509"
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

	"github.com/chromedp/chromedp"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/boltstore"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/gateway/daemon"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// The dashboard in a real browser (Debian's headless Chromium, driven with
// chromedp) against a real gateway with 10,000 registered devices and
// simulated ones that enroll: login, a device appearing live, a value chart
// updating, an action as admin and none as reader, hostile app output
// shown as text, and the device table paging through the fleet.
//
// WASMBED_UI_SCREENSHOTS=DIR writes screenshots of the main pages there
// (docs/ui-*.png are made so).

// chromium is Debian's, installed by make setup.
const chromium = "/usr/bin/chromium"

// hostile is what an app logs: markup that would run if it were not
// escaped.
const hostile = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`

const bulk = 10000

// maxBrowserTest bounds a browser's whole session in a test.
const maxBrowserTest = 3 * time.Minute

type testGateway struct {
	api, device, dir, admin, reader, caPEM string
	client                                 *apiv1.Client
}

func startGateway(t testing.TB) *testGateway {
	t.Helper()
	dir := t.TempDir()
	// 10,000 devices, written into the store before the gateway opens it.
	st, err := boltstore.Open(filepath.Join(dir, daemon.StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	devs := map[string]fleet.Device{}
	now := time.Now().UTC()
	for i := range bulk {
		n := fmt.Sprintf("bulk-%05d", i)
		devs[n] = fleet.Device{Name: n, Board: "linux", Labels: map[string]string{"ring": fmt.Sprint(i % 10)}, CreatedAt: now, UpdatedAt: now,
			Status: fleet.DeviceStatus{Phase: fleet.PhaseRegistered}}
	}
	if err := st.Devices().PutMany(context.Background(), devs); err != nil {
		t.Fatal(err)
	}
	// A reset the first simulated device "reported" before (device.reset
	// events are what the device page's reset history shows).
	if _, err := st.AppendEvent(context.Background(), fleet.Event{Time: now.Add(-time.Hour), Kind: "device.reset",
		Object: sim.DefaultName(0), Message: "unexpected reset: watchdog: app sensor in tick (boot 3 since power-on, 1 unexpected in a row)"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{DataDir: dir, APIAddr: "127.0.0.1:0", DeviceAddr: "127.0.0.1:0",
			Gateway: gateway.Config{HeartbeatInterval: time.Second}, Log: quietLog(),
			Ready: func(a, d net.Addr) { ready <- [2]net.Addr{a, d} }})
	}()
	g := &testGateway{dir: dir}
	select {
	case a := <-ready:
		g.api, g.device = "https://"+a[0].String(), a[1].String()
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-time.After(60 * time.Second):
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
	g.admin, g.reader, g.caPEM = read(daemon.AdminTokenFile), read(daemon.ReaderTokenFile), read(daemon.CACertFile)
	u, _ := url.Parse(g.api)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(g.caPEM))
	g.client = apiv1.NewClient(u, g.admin, pool)
	return g
}

// enroll registers a device (label site=lab) and starts it as an agent
// that enrolls and holds its session until the test ends.
func (g *testGateway) enroll(t testing.TB, name string) {
	t.Helper()
	bg := context.Background()
	if _, err := g.client.PutDevice(bg, name, apiv1.DeviceSpec{Board: "linux", Labels: map[string]string{"site": "lab"}}); err != nil {
		t.Fatal(err)
	}
	tok, err := g.client.CreateToken(bg, name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f, err := sim.Start(bg, sim.Config{Devices: 1, Dir: t.TempDir(), Name: func(int) string { return name },
		Bundle: func(string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: []string{g.device}, CARoot: g.caPEM, ServerName: "127.0.0.1", Device: name, Token: tok.Token, Board: "linux"}, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Stop() })
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// browser starts a headless Chromium of its own (its own cookies).
func browser(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s: %v (make setup installs Debian's chromium)", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.IgnoreCertErrors, // the gateway's certificate is from the fleet's CA
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// The waits are for conditions (a device online, a value changed), each
	// reached within a few of the gateway's intervals (1 s heartbeats and
	// ticks); the bound on them all only stops a test that cannot pass.
	deadline := time.Now().Add(maxBrowserTest)
	if tt, ok := t.(*testing.T); ok {
		if d, ok := tt.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
			deadline = d.Add(-10 * time.Second)
		}
	}
	ctx, c := context.WithDeadline(ctx, deadline)
	t.Cleanup(c)
	run(t, ctx, "start chromium")
	return ctx
}

func run(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that has a value.
func get[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// css is a CSS selector (a plain string is a DOM search: text, CSS or XPath).
func css(s string) chromedp.CSS { return chromedp.CSS(s) }

func login(t testing.TB, ctx context.Context, g *testGateway, token, want string) {
	t.Helper()
	run(t, ctx, "log in",
		chromedp.Navigate(g.api+"/ui/"),
		chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), token),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css("#who")))
	if who := get(t, ctx, "who", chromedp.Text(css("#who"))); who != want {
		t.Fatalf("logged in as %q, want %q", who, want)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("WASMBED_UI_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, "ui-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDashboard(t *testing.T) {
	g := startGateway(t)
	ctx := browser(t)
	bg := context.Background()

	// A wrong token is refused on the login page.
	run(t, ctx, "a wrong token",
		chromedp.Navigate(g.api+"/ui/login"),
		chromedp.SendKeys(css("#token"), "wba_nobody.00"),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css("#login-error")))

	login(t, ctx, g, g.admin, "admin (admin)")
	if total := get(t, ctx, "overview", chromedp.Text(css("#devices-total"))); total != fmt.Sprint(bulk) {
		t.Fatalf("overview: %s devices, want %d", total, bulk)
	}

	// A device enrolls while the overview is open: the page shows it online
	// without being reloaded (a mark set in the page survives).
	run(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.__mark = 7`))
	name := sim.DefaultName(0)
	g.enroll(t, name)
	run(t, ctx, "the device appears online, live", chromedp.WaitVisible(`//div[@id="devices-online"][text()="1"]`))
	// And again, for the next change: a device registered.
	if _, err := g.client.PutDevice(bg, "late", apiv1.DeviceSpec{Board: "linux"}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "the next change shows too", chromedp.WaitVisible(fmt.Sprintf(`//div[@id="devices-total"][text()="%d"]`, bulk+2)))
	if mark := get(t, ctx, "mark", chromedp.Evaluate[int](`window.__mark`)); mark != 7 {
		t.Fatal("the overview was reloaded instead of updated in place")
	}
	screenshot(t, ctx, "overview")

	// An app that publishes a value every tick and logs hostile markup.
	msg := fmt.Sprintf(`(module
  (import "wasmbed" "log" (func $log (param i32 i32 i32)))
  (import "wasmbed" "publish" (func $publish (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "temperature")
  (data (i32.const 64) %q)
  (global $n (mut i32) (i32.const 0))
  (func (export "init") (call $log (i32.const 3) (i32.const 64) (i32.const %d)))
  (func (export "tick")
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (drop (call $publish (i32.const 0) (i32.const 11) (f64.convert_i32_s (global.get $n))))))`, hostile, len(hostile))
	mod, err := g.client.UploadModule(bg, wasmtest.WAT(t, msg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.client.PutApplication(bg, "probe", apiv1.ApplicationSpec{Version: "1", SHA256: mod.SHA256,
		Selector: fleet.Selector{Labels: map[string]string{"site": "lab"}}}); err != nil {
		t.Fatal(err)
	}

	// The device page: the value's chart and its last value update live;
	// the hostile log line is text.
	run(t, ctx, "device page",
		chromedp.Navigate(g.api+"/ui/devices/"+name),
		chromedp.WaitVisible(css("figure.chart canvas")),
		chromedp.Evaluate[chromedp.Void](`window.__mark = 8`))
	first := get(t, ctx, "the value", chromedp.Text(css("figure.chart .last")))
	run(t, ctx, "the value updates",
		chromedp.WaitVisible(fmt.Sprintf(`//figure[contains(@class,"chart")]//span[@class="last"][text()!=%q]`, first)),
		chromedp.WaitVisible(`//table[@id="logs"]//td[contains(text(), "<script>")]`),
		chromedp.WaitVisible(`//table[@id="resets"]//td[contains(text(), "unexpected reset: watchdog")]`),
		// What the agent measured of the app, from its heartbeats.
		chromedp.WaitVisible(`//table[@id="measured"]//tr[td[1][text()="probe"] and td[3][text()!="0"]]`))
	if mark := get(t, ctx, "mark", chromedp.Evaluate[int](`window.__mark`)); mark != 8 {
		t.Fatal("the device page was reloaded instead of updated in place")
	}
	logs := get(t, ctx, "logs", chromedp.Text(css("#logs")))
	xss := get(t, ctx, "xss", chromedp.Evaluate[*int](`window.__xss === undefined ? null : window.__xss`))
	if !strings.Contains(logs, hostile) || xss != nil {
		t.Fatalf("hostile app output: shown %q, window.__xss = %v (want the markup as text and nothing run)", logs, xss)
	}
	screenshot(t, ctx, "device")

	// An admin's action: an enrollment token, shown once.
	run(t, ctx, "mint a token", chromedp.Click(css("#mint-token")), chromedp.WaitVisible(css("#secret")))
	if secret := get(t, ctx, "secret", chromedp.Text(css("#secret"))); !strings.HasPrefix(secret, "wbt_") {
		t.Fatalf("minted %q", secret)
	}

	// The application page shows the rollout.
	run(t, ctx, "application page",
		chromedp.Navigate(g.api+"/ui/applications/probe"),
		chromedp.WaitVisible(`//td[@id="counts"][text()="1 / 1 / 0 / 0"]`),
		chromedp.WaitVisible(`//table[@id="history"]//tr[td[1][text()="1"] and td[5][text()="current"]]`))
	screenshot(t, ctx, "application")
	// Stop it from the page: the spec says so, and the page offers Start.
	run(t, ctx, "stop the application", chromedp.Click(css("#app-stop")), chromedp.WaitVisible(css("#action-ok")))
	if a, err := g.client.GetApplication(bg, "probe"); err != nil || a.Running {
		t.Fatalf("after Stop: running %v (%v)", a.Running, err)
	}
	run(t, ctx, "the page offers Start", chromedp.Navigate(g.api+"/ui/applications/probe"), chromedp.WaitVisible(css("#app-start")))

	// The devices table pages through the fleet, 50 at a time, and filters
	// by name and label on the server.
	run(t, ctx, "devices table", chromedp.Navigate(g.api+"/ui/devices"), chromedp.WaitVisible(css("#next")))
	rows := get(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll("#devices tbody tr").length`))
	run(t, ctx, "next page", chromedp.Click(css("#next")), chromedp.WaitVisible(css("#first")))
	firstRow := get(t, ctx, "first row", chromedp.Text(css("#devices tbody tr:first-child td:first-child")))
	if rows != 50 || firstRow != "bulk-00050" {
		t.Fatalf("devices table: %d rows, the second page starts at %q (want 50 and bulk-00050)", rows, firstRow)
	}
	screenshot(t, ctx, "devices")
	run(t, ctx, "filter", chromedp.Navigate(g.api+"/ui/devices?prefix=bulk-0999&labels=ring%3D3"), chromedp.WaitVisible(css("#devices")))
	if got := get(t, ctx, "filtered", chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#devices tbody tr td:first-child")).map(e => e.textContent).join(" ")`)); got != "bulk-09993" {
		t.Fatalf("prefix bulk-0999 and ring=3: %q", got)
	}

	// A reader sees no action, and the API refuses one sent anyway.
	rctx := browser(t)
	login(t, rctx, g, g.reader, "reader (reader)")
	run(t, rctx, "reader's device page", chromedp.Navigate(g.api+"/ui/devices/"+name), chromedp.WaitVisible(css("#identity")))
	buttons := get(t, rctx, "buttons", chromedp.Evaluate[int](`document.querySelectorAll("#mint-token, #revoke").length`))
	status := get(t, rctx, "revoke anyway", chromedp.Evaluate[int](`fetch("/ui/devices/`+name+`/revoke", {method: "POST", headers: {"X-CSRF-Token":
		JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"]}}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if buttons != 0 || status != 403 {
		t.Fatalf("reader: %d action buttons, a revoke sent anyway answered %d (want 0 and 403)", buttons, status)
	}
	// Without the CSRF token, a POST is refused before the API.
	status = get(t, rctx, "no CSRF token", chromedp.Evaluate[int](`fetch("/ui/devices/`+name+`/token", {method: "POST"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Fatalf("a POST without the CSRF token: %d, want 403", status)
	}
	if d, _ := g.client.GetDevice(bg, name); d.Status.Phase == fleet.PhaseRevoked {
		t.Fatal("the reader's revoke went through")
	}
}
