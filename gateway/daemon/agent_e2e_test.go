package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// startFleet registers n devices of board with labels on the gateway behind
// api (addresses given) and starts them as agents enrolling with one-time
// tokens through the device listener; opts adjust the fleet's configuration.
func startFleet(t testing.TB, h *harness, n int, boardName string, labels map[string]string, opts ...func(*sim.Config)) *sim.Fleet {
	t.Helper()
	tokens := map[string]string{}
	for i := 0; i < n; i++ {
		name := sim.DefaultName(i)
		tokens[name] = h.registerDevice(name, boardName, labels)
	}
	root := h.readFile(CACertFile)
	cfg := sim.Config{
		Devices: n, Dir: t.TempDir(), SourceAddrs: sim.LoopbackAddrs(4),
		Bundle: func(name string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: []string{h.device}, CARoot: root, ServerName: "127.0.0.1", Device: name,
				Token: tokens[name], Board: boardName}, nil
		},
		Agent: func(_ int, c *agent.Config) {
			c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
			c.OutputInterval = 100 * time.Millisecond
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	f, err := sim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Stop() })
	// 30 s, and more for a benchmark's fleet (enrollments take a few ms
	// each, and its first connections may be spread).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+time.Duration(n)*10*time.Millisecond+cfg.StartSpread)
	defer cancel()
	if err := f.WaitConnected(ctx, n); err != nil {
		t.Fatalf("%d of %d agents connected: %v", f.Connected(), n, err)
	}
	return f
}

func (h *harness) upload(wasm []byte) string {
	h.t.Helper()
	var mod apiv1.ModuleResponse
	h.must(http.StatusCreated, "POST", "/v1/modules", wasm, &mod)
	return mod.SHA256
}

func (h *harness) waitConverged(app string, want int) apiv1.ApplicationStatus {
	h.t.Helper()
	var st apiv1.ApplicationStatus
	eventually(h.t, app+" converged on "+strconv.Itoa(want)+" devices", func() bool {
		h.must(http.StatusOK, "GET", "/v1/applications/"+app+"/status", nil, &st)
		return st.Converged && st.Updated == want
	})
	return st
}

// Real agents against the real gateway: enrollment with tokens, the sensor
// app deployed and publishing, a trapping and a spinning app stopped and
// reported while the sensor app keeps publishing, then an upgrade and a
// removal.
func TestAgentsEndToEnd(t *testing.T) {
	// Heartbeats every second: they carry what the agents measure of their apps.
	h := startGateway(t, gateway.Config{HeartbeatInterval: time.Second})
	startFleet(t, h, 3, "linux", map[string]string{"role": "sensor"})
	sel := map[string]any{"labels": map[string]string{"role": "sensor"}}

	h.must(http.StatusCreated, "PUT", "/v1/applications/sensor", map[string]any{"version": "1.0.0",
		"sha256": h.upload(wasmtest.App(t, "sensor")), "selector": sel, "config": map[string]string{"offset": "100"},
		"limits": map[string]any{"tick_ms": 50}}, nil)
	h.waitConverged("sensor", 3)
	var out apiv1.OutputList
	eventually(t, "published values from every device", func() bool {
		h.must(http.StatusOK, "GET", "/v1/applications/sensor/output?limit=200", nil, &out)
		seen := map[string]bool{}
		for _, r := range out.Output {
			if r.Key == "temperature" && r.Value != nil && *r.Value > 100 {
				seen[r.Device] = true
			}
		}
		return len(seen) == 3
	})

	h.must(http.StatusCreated, "PUT", "/v1/applications/crasher", map[string]any{"version": "0.1.0",
		"sha256": h.upload(wasmtest.App(t, "trap")), "selector": sel, "limits": map[string]any{"tick_ms": 50}}, nil)
	h.must(http.StatusCreated, "PUT", "/v1/applications/spinner", map[string]any{"version": "0.1.0",
		"sha256": h.upload(wasmtest.App(t, "spin")), "selector": sel, "limits": map[string]any{"tick_ms": 50, "fuel": 1000}}, nil)
	for app, state := range map[string]string{"crasher": "trapped", "spinner": "fuel_exhausted"} {
		var st apiv1.ApplicationStatus
		eventually(t, app+" "+state+" on every device", func() bool {
			h.must(http.StatusOK, "GET", "/v1/applications/"+app+"/status", nil, &st)
			n := 0
			for _, d := range st.Devices {
				if d.State == state {
					n++
				}
			}
			return n == 3 && st.Failed == 3
		})
	}
	// The sensor app goes on publishing on every device.
	before := len(out.Output)
	last := out.Output[before-1].Time
	eventually(t, "sensor still publishing after the others failed", func() bool {
		h.must(http.StatusOK, "GET", "/v1/applications/sensor/output?limit=200", nil, &out)
		devs := map[string]bool{}
		for _, r := range out.Output {
			if r.Time.After(last) && r.Key == "temperature" {
				devs[r.Device] = true
			}
		}
		return len(devs) == 3
	})

	// What each agent measured of its apps, per device through the API,
	// from its heartbeats: the sensor calls, publishes and holds its page;
	// the runtime stopped the others (traps), which hold no memory.
	for i := range 3 {
		name := sim.DefaultName(i)
		var dm apiv1.DeviceMetrics
		eventually(t, name+"'s heartbeat measurements of its three apps", func() bool {
			h.must(http.StatusOK, "GET", "/v1/devices/"+name+"/metrics", nil, &dm)
			by := map[string]apiv1.AppMetrics{}
			for _, a := range dm.Apps {
				by[a.App] = a
			}
			sensor, crasher, spinner := by["sensor"], by["crasher"], by["spinner"]
			return dm.ReportedAt != nil && len(dm.Apps) == 3 &&
				sensor.Calls >= 3 && sensor.Published >= 2 && sensor.Starts == 1 && sensor.Traps == 0 &&
				sensor.Memory == 65536 && sensor.MemoryPeak == 65536 && sensor.CallUS > 0 &&
				crasher.Traps == 1 && crasher.Memory == 0 && crasher.MemoryPeak == 65536 && spinner.Traps == 1
		})
		if dm.Device != name || dm.Gateway == "" || dm.UptimeMS == 0 {
			t.Errorf("measurements of %s: %+v", name, dm)
		}
	}

	// The same, per application and board in the metrics (no series per
	// device): devices by state, states reported, output received, what the
	// devices measured.
	var metrics string
	eventually(t, "wasmbed_app_devices: 3 running sensor, 3 trapped crasher", func() bool {
		metrics = h.metrics()
		return strings.Contains(metrics, `wasmbed_app_devices{app="sensor",board="linux",state="running"} 3`) &&
			strings.Contains(metrics, `wasmbed_app_devices{app="crasher",board="linux",state="trapped"} 3`)
	})
	for _, want := range []string{`wasmbed_app_states_total{app="crasher",board="linux",state="trapped"} `,
		`wasmbed_app_states_total{app="spinner",board="linux",state="fuel_exhausted"} `,
		`wasmbed_app_output_total{app="sensor",board="linux",kind="value"} `,
		`wasmbed_app_calls_total{app="sensor",board="linux"} `, `wasmbed_app_call_seconds_total{app="sensor",board="linux"} `,
		`wasmbed_app_published_total{app="sensor",board="linux"} `,
		`wasmbed_app_traps_total{app="crasher",board="linux"} 3`, `wasmbed_app_traps_total{app="spinner",board="linux"} 3`,
		`wasmbed_app_memory_bytes{app="sensor",board="linux"} 196608`, `wasmbed_app_memory_bytes{app="crasher",board="linux"} 0`,
		`wasmbed_app_memory_peak_bytes{app="sensor",board="linux"} 65536`,
		`wasmbed_app_instantiate_seconds_count{app="sensor",board="linux"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `device="`) {
		t.Error("a metric has a device label: its series would grow with the fleet")
	}

	// Upgrade, stop, removal.
	h.must(http.StatusOK, "PUT", "/v1/applications/sensor", map[string]any{"version": "1.1.0",
		"sha256": h.upload(wasmtest.App(t, "sensor")), "selector": sel, "config": map[string]string{"offset": "200"},
		"limits": map[string]any{"tick_ms": 50}}, nil)
	st := h.waitConverged("sensor", 3)
	for _, d := range st.Devices {
		if d.Observed != "1.1.0" || d.State != "running" {
			t.Fatalf("after upgrade: %+v", d)
		}
	}
	h.must(http.StatusOK, "PUT", "/v1/applications/sensor", map[string]any{"version": "1.1.0",
		"sha256": h.upload(wasmtest.App(t, "sensor")), "selector": sel, "config": map[string]string{"offset": "200"},
		"limits": map[string]any{"tick_ms": 50}, "running": false}, nil)
	st = h.waitConverged("sensor", 3)
	for _, d := range st.Devices {
		if d.State != "stopped" && d.State != "installed" {
			t.Fatalf("after stop: %+v", d)
		}
	}
	// The versions it had: the upgrade opened a revision, the stop did not.
	var app fleet.Application
	h.must(http.StatusOK, "GET", "/v1/applications/sensor", nil, &app)
	if hs := app.History; len(hs) != 2 || hs[0].Version != "1.1.0" || !hs[0].Until.IsZero() ||
		hs[1].Version != "1.0.0" || hs[1].Outcome != fleet.OutcomeReplaced || hs[1].Until != hs[0].Since {
		t.Fatalf("sensor's history after an upgrade and a stop: %+v", hs)
	}
	for _, app := range []string{"sensor", "crasher", "spinner"} {
		h.must(http.StatusNoContent, "DELETE", "/v1/applications/"+app, nil, nil)
	}
	eventually(t, "every app removed from every device", func() bool {
		var deps apiv1.DeploymentList
		h.must(http.StatusOK, "GET", "/v1/deployments", nil, &deps)
		return len(deps.Deployments) == 0
	})
}

// A batched rollout never has more devices updating than max_unavailable,
// and a device that fails halts it.
func TestBatchedRollout(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	startFleet(t, h, 4, "linux", map[string]string{"tier": "b"})
	sel := map[string]any{"labels": map[string]string{"tier": "b"}}
	h.must(http.StatusCreated, "PUT", "/v1/applications/app", map[string]any{"version": "1", "sha256": h.upload(wasmtest.App(t, "sensor")),
		"selector": sel, "rollout": map[string]any{"strategy": "batched", "max_unavailable": 1}}, nil)
	h.waitConverged("app", 4)
	// Version 2 traps: the first device to get it fails and the rollout stops there.
	h.must(http.StatusOK, "PUT", "/v1/applications/app", map[string]any{"version": "2", "sha256": h.upload(wasmtest.App(t, "trap")),
		"selector": sel, "rollout": map[string]any{"strategy": "batched", "max_unavailable": 1}, "limits": map[string]any{"tick_ms": 20}}, nil)
	var st apiv1.ApplicationStatus
	eventually(t, "one device failed", func() bool {
		h.must(http.StatusOK, "GET", "/v1/applications/app/status", nil, &st)
		return st.Failed == 1
	})
	time.Sleep(500 * time.Millisecond)
	h.must(http.StatusOK, "GET", "/v1/applications/app/status", nil, &st)
	current := 0
	for _, d := range st.Devices {
		if d.Current {
			current++
		}
	}
	if current != 1 || st.Failed != 1 {
		t.Fatalf("the rollout went on past a failed device: %+v", st)
	}
}

// Killing the gateway (SIGKILL) in the middle of a deploy loses no desired
// state: after a restart the agents reconnect and the rollout converges.
func TestGatewaySIGKILLMidDeploy(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wasmbed-gateway")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/wasmbed-gateway").CombinedOutput(); err != nil {
		t.Fatalf("build gateway: %v\n%s", err, out)
	}
	dir := t.TempDir()
	apiAddr, devAddr := freePort(t), freePort(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--data-dir", dir, "--api-addr", apiAddr, "--device-addr", devAddr, "--chunk-size", "256",
			"--log-level", "debug")
		logf, err := os.OpenFile(filepath.Join(dir, "gateway.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
		waitListening(t, apiAddr)
		return cmd
	}
	gw := start()
	h := &harness{t: t, dir: dir, api: "https://" + apiAddr, device: devAddr}
	h.finishStart()
	startFleet(t, h, 3, "linux", map[string]string{"grp": "k"})

	// A 1 MiB module in 256-byte chunks: thousands of round trips per device.
	big := wasmtest.WAT(t, `(module (memory (export "memory") 17) (data (i32.const 0) "`+strings.Repeat("x", 1<<20)+`") (func (export "tick")))`)
	h.must(http.StatusCreated, "PUT", "/v1/applications/big", map[string]any{"version": "1", "sha256": h.upload(big),
		"selector": map[string]any{"labels": map[string]string{"grp": "k"}}, "limits": map[string]any{"memory": 17 * 65536}}, nil)
	eventually(t, "a transfer under way", func() bool {
		var deps apiv1.DeploymentList
		h.must(http.StatusOK, "GET", "/v1/deployments?app=big", nil, &deps)
		return len(deps.Deployments) > 0
	})
	var st apiv1.ApplicationStatus
	h.must(http.StatusOK, "GET", "/v1/applications/big/status", nil, &st)
	if st.Converged {
		t.Fatal("the deploy finished before the kill: the test did not kill mid-deploy")
	}
	if err := gw.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gw.Wait()

	start()
	st = h.waitConverged("big", 3)
	for _, d := range st.Devices {
		if d.State != "running" || d.Observed != "1" {
			t.Fatalf("after restart: %+v", d)
		}
	}
	var devs apiv1.DeviceList
	h.must(http.StatusOK, "GET", "/v1/devices", nil, &devs)
	for _, d := range devs.Devices {
		if d.Status.Phase != fleet.PhaseOnline {
			t.Errorf("%s is %s after the restart", d.Name, d.Status.Phase)
		}
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
