//go:build qemu

package e2e

// Crashes under QEMU, end to end: an app on the test image
// (`<board>-selftest.elf`, whose `publish` of `__panic`, `__fault` and
// `__hang` panics the firmware, faults, or never returns) takes the board
// down; the board reboots (booted resettable: no -no-reboot), says why in its
// next hello, and the real gateway records it: the device's `status.reset`,
// a `device.reset` event, the resets metric, the deployment failed with the
// crash's words, and that generation never sent again. Three crashes in a
// row put the board in safe mode, which a newer generation ends.
//
// No wait is a guess of how fast this machine runs QEMU; each comes from a
// figure the gateway, the protocol or the firmware promises:
//   - a put application is planned at once (the API kicks the reconcile
//     loop), at the latest by the loop's periodic pass (crashResync);
//   - a transfer and install keep moving within the longer of the gateway's
//     silent-device limit (HeartbeatInterval x MissedHeartbeats) and the
//     firmware's watchdog, plus a heartbeat;
//   - ticks come every TickMS; a crash follows the tick that asks for it at
//     once, a hang within the watchdog (its first expiry raises NMI, the
//     second resets the board: WATCHDOG_MS in all);
//   - a rebooted board opens a session at once (its backoff starts over at
//     boot), at the latest after its longest backoff and a handshake;
//   - the gateway plans a session when its hello arrives; anything it would
//     send for the crashed app would come then or with the heartbeats that
//     follow.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	wboard "github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/firmware/provision"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/gateway/daemon"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

const (
	// crashResync: the gateway's reconcile loop plans every session at least
	// this often (gateway/deploy.go, reconcileLoop).
	crashResync = 30 * time.Second
	// crashWatchdog: the firmware's watchdog (firmware/device/src/main.rs,
	// WATCHDOG_MS).
	crashWatchdog = 8 * time.Second
	// crashBackoffMax: the device's longest wait between session attempts
	// (firmware/README.md, Reconnection).
	crashBackoffMax = 30 * time.Second
	// crashOutputPeriod: a device sends app output at least every second.
	crashOutputPeriod = time.Second
	// crashTick and crashNormalTicks: the apps tick every crashTick and
	// publish crashNormalTicks values before they crash the board, so that
	// output has gone out before the crash.
	crashTick        = 500 * time.Millisecond
	crashNormalTicks = 3
)

func crashGatewayConfig() gateway.Config {
	return gateway.Config{HeartbeatInterval: 2 * time.Second, MissedHeartbeats: 3, HandshakeTimeout: 10 * time.Second}
}

var (
	reCrashBanner = regexp.MustCompile(`^wasmbed-firmware `)
	reCrashOnline = regexp.MustCompile(`^session: online as `)
	reCrashAny    = regexp.MustCompile(`^(PANIC|FAULT)`)
)

// crashApp is an app that publishes `value` = base + n on its ticks 1 to
// normal, and from the next tick on publishes key (the test image's fault
// injection), then `rc`, what that publish returned, should it return.
// normal < 0: it never publishes key.
func crashApp(t *testing.T, key string, base float64, normal int) []byte {
	t.Helper()
	return wasmtest.WAT(t, fmt.Sprintf(`(module
  (import "wasmbed" "publish" (func $publish (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "value")
  (data (i32.const 8) "rc")
  (data (i32.const 16) %q)
  (global $n (mut i32) (i32.const 0))
  (func (export "tick")
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.le_u (global.get $n) (i32.const %d))
      (then
        (drop (call $publish (i32.const 0) (i32.const 5)
          (f64.add (f64.const %v) (f64.convert_i32_u (global.get $n))))))
      (else
        (drop (call $publish (i32.const 8) (i32.const 2)
          (f64.convert_i32_s (call $publish (i32.const 16) (i32.const %d) (f64.const 0)))))))))`,
		key, int32(normal), base, len(key)))
}

// crashBoard is one enrolled QEMU board running the test image, resettable.
type crashBoard struct {
	t      *testing.T
	g      *gw
	cfg    gateway.Config
	q      *qemu
	board  string
	device string
	prof   wboard.Profile
	boots  uint32 // boots the board has reported so far
	// crashes counts the crashes of each app, for its app.failed events.
	crashes map[string]int
}

// bootCrashBoard registers device (label crash=device), boots the test image
// enrolled with the gateway on its own bridge, rebooting on a reset, and
// waits until it is online.
func bootCrashBoard(t *testing.T, g *gw, cfg gateway.Config, board, device string) *crashBoard {
	t.Helper()
	prof, ok := wboard.Lookup(board)
	if !ok {
		t.Fatalf("no board profile %s", board)
	}
	br := startBridge(t)
	token := g.register(device, board, map[string]string{"crash": device})
	elf := provisioned(t, board+"-selftest", board, &provision.Bundle{Gateways: []string{g.device}, ServerName: "localhost",
		CARoot: g.caDER, Device: device, Token: token, TokenExpires: time.Now().Add(time.Hour)})
	q := bootWith(t, device, board, elf, br, true)
	// Enrollment makes a key and two TLS handshakes on the emulated core: as
	// the other end-to-end tests, a minute for each step.
	q.wait(`^enroll: certificate for `+device, 60*time.Second)
	q.wait(`^session: online as `+device, 60*time.Second)
	b := &crashBoard{t: t, g: g, cfg: cfg, q: q, board: board, device: device, prof: prof, boots: 1,
		crashes: map[string]int{}}
	eventually(t, cfg.HeartbeatInterval*time.Duration(cfg.MissedHeartbeats), device+" online in the API", func() bool {
		d := g.deviceStatus(device)
		return d.Status.Phase == fleet.PhaseOnline && d.Status.Reset != nil && d.Status.Reset.Boots == 1
	})
	if r := g.deviceStatus(device).Status.Reset; r.Cause != "power_on" || r.Unexpected != 0 || r.SafeMode {
		t.Fatalf("%s: first boot reported as %+v, expected power_on", device, *r)
	}
	return b
}

// waitLine waits for a console line matching pattern at or after line from
// and returns it with its index. Unlike qemu.wait it does not stop at a
// PANIC or FAULT line: here they are expected.
func (b *crashBoard) waitLine(from int, pattern string, timeout time.Duration) (string, int) {
	b.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(timeout)
	for {
		if l, i := b.q.find(re, from); i >= 0 {
			return l, i
		}
		select {
		case <-b.q.dev.Done():
			if l, i := b.q.find(re, from); i >= 0 {
				return l, i
			}
			b.t.Fatalf("%s: QEMU ended before a line matching %q\n%s", b.device, pattern, b.q.dev.Tail(30))
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: no line matching %q within %v (console: %s)\n%s", b.device, pattern, timeout, b.q.log, b.q.dev.Tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// put uploads wasm and puts it as application app, selecting this board.
func (b *crashBoard) put(app, version string, wasm []byte, lim fleet.Limits) {
	b.t.Helper()
	ctx := context.Background()
	mod, err := b.g.api.UploadModule(ctx, wasm)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.g.api.PutApplication(ctx, app, apiv1.ApplicationSpec{Version: version, SHA256: mod.SHA256, Limits: lim,
		Selector: fleet.Selector{Labels: map[string]string{"crash": b.device}}}); err != nil {
		b.t.Fatal(err)
	}
}

// deployment is the gateway's record of app on this board.
func (b *crashBoard) deployment(app string) (fleet.Deployment, bool) {
	b.t.Helper()
	deps, err := b.g.api.Deployments(context.Background(), app, b.device)
	if err != nil {
		b.t.Fatal(err)
	}
	if len(deps) != 1 {
		return fleet.Deployment{}, false
	}
	return deps[0], true
}

// rollout is the board's row of the application's status.
func (b *crashBoard) rollout(app string) apiv1.DeviceRollout {
	b.t.Helper()
	st, err := b.g.api.ApplicationStatus(context.Background(), app)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, d := range st.Devices {
		if d.Device == b.device {
			return d
		}
	}
	return apiv1.DeviceRollout{}
}

// values returns what app published under key on this board after t0.
func (b *crashBoard) values(app, key string, after time.Time) []float64 {
	b.t.Helper()
	out, err := b.g.api.ApplicationOutput(context.Background(), app, b.device, 1000)
	if err != nil {
		b.t.Fatal(err)
	}
	var v []float64
	for _, r := range out {
		if r.Key == key && r.Value != nil && !r.Time.Before(after) {
			v = append(v, *r.Value)
		}
	}
	return v
}

// transferBound: how long a transfer and install may take without moving
// (the file comment).
func (b *crashBoard) transferBound() time.Duration {
	hb := b.cfg.HeartbeatInterval
	return max(hb*time.Duration(b.cfg.MissedHeartbeats), crashWatchdog) + hb
}

// crash is what one crash looked like.
type crash struct {
	gen         uint64
	mark        int    // console line count before the put
	banner      int    // console index of the boot banner after the crash
	crashLine   string // the PANIC or FAULT line
	resetLine   string // `reset: <cause> ... (boot N, M unexpected in a row...)`
	culprit     string // `reset: app <app> crashed: ...`, if the console says so
	reset       fleet.ResetStatus
	crashedWith time.Time // when the board came back online in the API
}

// crashWith puts app at version (wasm crashes it on its tick
// crashNormalTicks+1) and follows it on the console through the deploy, the
// start, the crash (consoleCrash), the reboot and the next session, until
// the API has the new boot's hello; it returns what it saw.
func (b *crashBoard) crashWith(app, version string, wasm []byte, lim fleet.Limits, consoleCrash, cause string) crash {
	b.t.Helper()
	hb := b.cfg.HeartbeatInterval
	c := crash{mark: b.q.mark()}
	b.put(app, version, wasm, lim)

	l, _ := b.waitLine(c.mark, `^deploy: `+regexp.QuoteMeta(app)+` generation [0-9]+ `, crashResync+hb)
	if _, err := fmt.Sscanf(strings.TrimPrefix(l, "deploy: "+app+" "), "generation %d", &c.gen); err != nil {
		b.t.Fatalf("deploy line %q: %v", l, err)
	}
	b.t.Log(l)
	gen := fmt.Sprint(c.gen)
	running := `^app: ` + regexp.QuoteMeta(app) + ` generation ` + gen + ` running`
	_, start := b.waitLine(c.mark, running, b.transferBound())

	// Its normal ticks, then the one that crashes the board, which reboots
	// at once (a hang: at the watchdog's second expiry). The app publishes
	// `rc` only if the publish that should crash the board returns: then the
	// fault injection did not happen, and the test says so as soon as the API
	// shows it.
	ticks := time.Duration(crashNormalTicks+1) * time.Duration(lim.TickMS) * time.Millisecond
	bound := ticks + crashWatchdog + hb
	deadline := time.Now().Add(bound)
	for {
		if _, c.banner = b.q.find(reCrashBanner, start); c.banner >= 0 {
			break
		}
		if rc := b.values(app, "rc", time.Time{}); len(rc) > 0 {
			b.t.Fatalf("%s: the app's publish of its fault key returned %v (its output %q in the API) instead of crashing the board; console:\n%s",
				b.device, rc, "rc", b.q.dev.Tail(12))
		}
		if time.Now().After(deadline) {
			var crashes []string
			for _, l := range b.q.dev.Lines(start) {
				if reCrashAny.MatchString(l) {
					crashes = append(crashes, l)
				}
			}
			if len(crashes) > 1 {
				b.t.Fatalf("%s: no boot banner within %v of the app starting, but %d crash reports (a reset loop before the banner): %q, then %q",
					b.device, bound, len(crashes), crashes[0], crashes[1])
			}
			b.t.Fatalf("%s: no reboot within %v of the app starting (console: %s)\n%s", b.device, bound, b.q.log, b.q.dev.Tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.boots++
	b.crashes[app]++
	if consoleCrash != "" {
		re := regexp.MustCompile(consoleCrash)
		for _, l := range b.q.dev.Lines(start)[:c.banner-start] {
			if re.MatchString(l) {
				c.crashLine = l
			}
		}
		if c.crashLine == "" {
			b.t.Errorf("%s: no line matching %q before the reboot; console:\n%s", b.device, consoleCrash,
				strings.Join(b.q.dev.Lines(start)[:c.banner-start], "\n"))
		}
		b.t.Log(c.crashLine)
	}
	c.resetLine, _ = b.waitLine(c.banner, `^reset: `+cause+`\b`, hb)
	b.t.Log(c.resetLine)
	b.waitLine(c.banner, reCrashOnline.String()+regexp.QuoteMeta(b.device), crashBackoffMax+b.cfg.HandshakeTimeout+hb)
	// The console may blame the app too (the API must).
	if l, _ := b.q.find(regexp.MustCompile(`^reset: app `), c.banner); l != "" {
		c.culprit = l
		b.t.Log(l)
	}

	// The API has the new boot once the gateway has its hello.
	eventually(b.t, hb*time.Duration(b.cfg.MissedHeartbeats), fmt.Sprintf("%s: boot %d in the API", b.device, b.boots), func() bool {
		d := b.g.deviceStatus(b.device)
		return d.Status.Phase == fleet.PhaseOnline && d.Status.Reset != nil && d.Status.Reset.Boots >= b.boots
	})
	c.reset = *b.g.deviceStatus(b.device).Status.Reset
	c.crashedWith = time.Now()
	return c
}

// checkCrash checks the API after a crash of app: the device's last reset,
// the deployment failed with the crash's words at its generation, a
// device.reset event. unexpected: the reset's count in a row.
func (b *crashBoard) checkCrash(app string, c crash, cause string, unexpected uint32, safe bool) {
	b.t.Helper()
	hb := b.cfg.HeartbeatInterval
	r := c.reset
	if r.Cause != cause || r.Boots != b.boots || r.Unexpected != unexpected || r.SafeMode != safe || r.Time.IsZero() {
		b.t.Errorf("%s: status.reset is %+v; expected cause %s, boots %d, unexpected %d, safe_mode %v",
			b.device, r, cause, b.boots, unexpected, safe)
	}
	if (cause == "panic" || cause == "hard_fault") && !strings.HasPrefix(r.Detail, "pc=0x") {
		b.t.Errorf("%s: status.reset.detail %q, expected the fault's pc and lr", b.device, r.Detail)
	}
	words := "crashed: " + cause + " in tick"
	if c.culprit != "" && !strings.Contains(c.culprit, "reset: app "+app+" "+words) {
		b.t.Errorf("%s: the console blames %q, expected app %s %q", b.device, c.culprit, app, words)
	}
	wantLine := fmt.Sprintf("(boot %d, %d unexpected in a row", b.boots, unexpected)
	if !strings.Contains(c.resetLine, wantLine) {
		b.t.Errorf("%s: console %q, expected %q", b.device, c.resetLine, wantLine)
	}

	// The deployment: failed, with the crash's words, at the generation that crashed.
	var dep fleet.Deployment
	eventually(b.t, hb*time.Duration(b.cfg.MissedHeartbeats), app+" failed in the API", func() bool {
		d, ok := b.deployment(app)
		dep = d
		return ok && d.State == "failed"
	})
	if dep.Generation != c.gen || !strings.Contains(dep.Detail, words) {
		j, _ := json.Marshal(dep)
		b.t.Errorf("%s: deployment of %s is %s; expected failed at generation %d with %q", b.device, app, j, c.gen, words)
	}
	if row := b.rollout(app); row.State != "failed" || !strings.Contains(row.Detail, words) || row.Generation != c.gen {
		b.t.Errorf("%s: application status row of %s is %+v", b.device, app, row)
	}

	// Events say so. The gateway appends them just after it records the
	// deployment (the state seen above): read until they are there, for at most
	// a heartbeat period.
	var resets, failed []string
	var evs []fleet.Event
	for deadline := time.Now().Add(b.cfg.HeartbeatInterval); ; {
		var err error
		evs, err = b.g.api.Events(context.Background(), 0, 1000)
		if err != nil {
			b.t.Fatal(err)
		}
		resets, failed = nil, nil
		for _, e := range evs {
			switch {
			case e.Kind == "device.reset" && e.Object == b.device:
				resets = append(resets, e.Message)
			case e.Kind == "app.failed" && e.Object == fleet.DeploymentKey(app, b.device) && strings.Contains(e.Message, words):
				failed = append(failed, e.Message)
			}
		}
		if (len(resets) >= int(b.boots-1) && len(failed) >= b.crashes[app]) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantEvent := fmt.Sprintf("unexpected reset: %s", cause)
	if len(resets) != int(b.boots-1) || !strings.HasPrefix(resets[len(resets)-1], wantEvent) {
		b.t.Errorf("%s: device.reset events %q; expected %d, the last %q...", b.device, resets, b.boots-1, wantEvent)
	} else {
		b.t.Logf("event device.reset: %s", resets[len(resets)-1])
	}
	if len(failed) != b.crashes[app] {
		b.t.Errorf("%s: app.failed events for %s: %q, expected %d (one per crash)", b.device, app, failed, b.crashes[app])
		for _, e := range evs {
			b.t.Logf("event %s %s %s", e.Kind, e.Object, e.Message)
		}
	}
}

// noResend checks that the gateway sends nothing for the crashed
// generation: no deploy of app on the console since the boot that followed
// the crash, and the deployment still failed at that generation, for as long
// as the gateway has to notice a silent device (MissedHeartbeats + 1
// heartbeats) after the hello.
func (b *crashBoard) noResend(app string, c crash) {
	b.t.Helper()
	quiet := b.cfg.HeartbeatInterval * time.Duration(b.cfg.MissedHeartbeats+1)
	time.Sleep(time.Until(c.crashedWith.Add(quiet)))
	if l, _ := b.q.find(regexp.MustCompile(`^deploy: `+regexp.QuoteMeta(app)+` `), c.banner); l != "" {
		// What the gateway recorded of the app meanwhile.
		var evs []fleet.Event
		all, _ := b.g.api.Events(context.Background(), 0, 1000)
		for _, e := range all {
			if e.Object == fleet.DeploymentKey(app, b.device) || e.Kind == "device.reset" && e.Object == b.device {
				evs = append(evs, e)
			}
		}
		j, _ := json.MarshalIndent(evs, "      ", "  ")
		b.t.Errorf("%s: the gateway sent the crashed app again: %s\n      events: %s", b.device, l, j)
	}
	if l, _ := b.q.find(regexp.MustCompile(`^app: `+regexp.QuoteMeta(app)+` generation`), c.banner); l != "" {
		b.t.Errorf("%s: the crashed app ran again: %s", b.device, l)
	}
	if d, ok := b.deployment(app); !ok || d.State != "failed" || d.Generation != c.gen {
		j, _ := json.Marshal(d)
		b.t.Errorf("%s: %v after the crash, the deployment of %s is %s", b.device, quiet, app, j)
	}
}

// crashMetric returns the gateway's metric line that starts with prefix
// (GET /metrics with the admin token), or "".
func crashMetric(t *testing.T, g *gw, prefix string) string {
	t.Helper()
	rootPEM, err := os.ReadFile(filepath.Join(g.dir, daemon.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := os.ReadFile(filepath.Join(g.dir, daemon.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, _ := http.NewRequest("GET", "https://"+g.apiAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(admin)))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func crashLimits() fleet.Limits {
	return fleet.Limits{Memory: 65536, TickMS: uint32(crashTick / time.Millisecond)}
}

// An app that panics the firmware (every board; riscv32-virt under Renode,
// where the reset is the firmware's restart of the core), then one that faults it
// (one board): each reset is seen on the console, reported in the next
// hello and recorded by the gateway, and the crashed generation is not sent
// again.
func TestCrashReported(t *testing.T) {
	needQEMU(t)
	needRenode(t)
	t.Parallel()
	for _, bd := range append(boards, renodeBoards...) {
		t.Run(bd.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Now()
			cfg := crashGatewayConfig()
			g := startGateway(t, cfg)
			short, _, _ := strings.Cut(bd.name, "-")
			b := bootCrashBoard(t, g, cfg, bd.name, "crash-"+short)

			app := "panicker"
			c := b.crashWith(app, "1.0.0", crashApp(t, "__panic", 0, crashNormalTicks), crashLimits(), `^PANIC: trap at pc=`, "panic")
			b.checkCrash(app, c, "panic", 1, false)
			if v := b.values(app, "value", time.Time{}); len(v) == 0 {
				t.Errorf("%s: none of the app's %d values before the crash reached the API", b.device, crashNormalTicks)
			}
			b.noResend(app, c)
			if l := crashMetric(t, g, `wasmbed_gateway_device_resets_total{cause="panic"}`); !strings.HasSuffix(l, " 1") {
				t.Errorf("%s: metric %q, expected one panic", b.device, l)
			}
			t.Logf("%s: panic reported, %v since boot", b.device, time.Since(t0).Round(time.Second))

			if bd.name != "stm32f4-discovery" {
				return
			}
			// A hard fault, from another app, on the same board: the second
			// unexpected reset in a row; the first crashed app stays failed and
			// is still not sent again.
			app2 := "faulter"
			c2 := b.crashWith(app2, "1.0.0", crashApp(t, "__fault", 0, crashNormalTicks), crashLimits(), `^FAULT: hard fault at pc=`, "hard_fault")
			b.checkCrash(app2, c2, "hard_fault", 2, false)
			b.noResend(app2, c2)
			c.banner = c2.banner
			b.noResend(app, c)
			if l := crashMetric(t, g, `wasmbed_gateway_device_resets_total{cause="hard_fault"}`); !strings.HasSuffix(l, " 1") {
				t.Errorf("%s: metric %q, expected one hard fault", b.device, l)
			}
			t.Logf("%s: hard fault reported, %v since boot", b.device, time.Since(t0).Round(time.Second))
		})
	}
}

// An app that never returns from a host call, on the board whose watchdog
// QEMU models (mps2-an386; netduinoplus2 has none): the watchdog resets the
// board and the gateway records why.
func TestWatchdogReported(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	const board = "mps2-an386"
	t0 := time.Now()
	cfg := crashGatewayConfig()
	g := startGateway(t, cfg)
	b := bootCrashBoard(t, g, cfg, board, "hang-mps2")
	lim := crashLimits()
	lim.Fuel = b.prof.MaxFuel // as much as the board allows: the hang is not the fuel's doing
	app := "hanger"
	c := b.crashWith(app, "1.0.0", crashApp(t, "__hang", 0, crashNormalTicks), lim, "", "watchdog")
	b.checkCrash(app, c, "watchdog", 1, false)
	b.noResend(app, c)
	if l := crashMetric(t, g, `wasmbed_gateway_device_resets_total{cause="watchdog"}`); !strings.HasSuffix(l, " 1") {
		t.Errorf("metric %q, expected one watchdog reset", l)
	}
	t.Logf("watchdog reset reported in %v", time.Since(t0).Round(time.Second))
}

// Three crashes in a row, each of a new version of the app (a new
// generation, which the gateway sends): the boot after the third is in safe
// mode. A newer version that behaves is accepted, ends safe mode and runs.
func TestCrashLoopBreaker(t *testing.T) {
	needQEMU(t)
	t.Parallel()
	const board = "stm32f4-discovery"
	t0 := time.Now()
	cfg := crashGatewayConfig()
	g := startGateway(t, cfg)
	b := bootCrashBoard(t, g, cfg, board, "loop-stm32")
	app := "looper"
	bad := crashApp(t, "__panic", 0, crashNormalTicks)
	var last crash
	for i := 1; i <= 3; i++ {
		safe := i == 3
		last = b.crashWith(app, fmt.Sprintf("1.0.%d", i), bad, crashLimits(), `^PANIC: trap at pc=`, "panic")
		b.checkCrash(app, last, "panic", uint32(i), safe)
	}
	b.noResend(app, last)
	t.Logf("safe mode after 3 crashes, %v since boot", time.Since(t0).Round(time.Second))

	// The operator's new intent: a version that behaves.
	mark := b.q.mark()
	good := crashApp(t, "", 1000, -1)
	put := time.Now()
	b.put(app, "2.0.0", good, crashLimits())
	hb := cfg.HeartbeatInterval
	l, _ := b.waitLine(mark, `^deploy: `+regexp.QuoteMeta(app)+` generation [0-9]+ `, crashResync+hb)
	t.Log(l)
	l, _ = b.waitLine(mark, `^app: `+regexp.QuoteMeta(app)+` generation [0-9]+ running`, b.transferBound())
	t.Log(l)
	eventually(t, hb*time.Duration(cfg.MissedHeartbeats), app+" 2.0.0 running in the API", func() bool {
		d, ok := b.deployment(app)
		return ok && d.State == "running" && d.Observed == "2.0.0" && d.Generation > last.gen
	})
	// It publishes 1000 + n on every tick.
	need := 3
	ticks := time.Duration(need) * crashTick
	eventually(t, ticks+crashOutputPeriod+hb, fmt.Sprintf("%d values of 2.0.0", need), func() bool {
		n := 0
		for _, v := range b.values(app, "value", put) {
			if v > 1000 {
				n++
			}
		}
		return n >= need
	})
	if n := b.q.count(reCrashAny.String()); n != 3 {
		t.Errorf("%d crashes on the console, expected the 3 asked for", n)
	}
	t.Logf("out of safe mode and running in %v (%v in all)", time.Since(put).Round(time.Second), time.Since(t0).Round(time.Second))
}
