package daemon

import (
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// A device that reset unexpectedly says why in its next hello, and names
// the app the crash took down as failed. The gateway records the reset
// (device status, one event, a metric) and the failed deployment, leaves
// the rollout unconverged, and does not send that generation again; an app
// the device no longer reports is sent again. A reconnect reporting the same
// boot records nothing new; a new version is deployed as usual.
func TestDeviceResetAndCrashedApp(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	var mod struct{ SHA256 string }
	h.must(http.StatusCreated, "POST", "/v1/modules", wasmtest.App(t, "sensor"), &mod)
	sha := make([]byte, 32)
	d := newTestDevice(t, h, "dev-r")
	d.connect()
	h.must(http.StatusOK, "PUT", "/v1/devices/dev-r", map[string]any{"board": "stm32f4-discovery", "labels": map[string]string{"role": "r"}}, nil)
	for _, app := range []string{"sensor", "other"} {
		h.must(http.StatusCreated, "PUT", "/v1/applications/"+app, map[string]any{"version": "1.0.0", "sha256": mod.SHA256,
			"selector": map[string]any{"labels": map[string]string{"role": "r"}}}, nil)
	}
	gens := map[string]uint64{}
	for len(gens) < 2 {
		dep := expect[*protocol.Deploy](d)
		gens[dep.App] = dep.Generation
		d.send(&protocol.AppStatus{App: dep.App, Generation: dep.Generation, State: protocol.AppStateRunning, Version: "1.0.0"})
	}
	var st apiv1.ApplicationStatus
	eventually(t, "sensor converged", func() bool {
		h.must(http.StatusOK, "GET", "/v1/applications/sensor/status", nil, &st)
		return st.Converged
	})

	// The watchdog resets the device while sensor ticks.
	crashed := func(boots, unexpected uint32, cause protocol.ResetCause, safe bool) *protocol.Hello {
		return &protocol.Hello{ABIVersion: 1, Board: "stm32f4-discovery", Firmware: "test", RAMFree: 65536, FlashFree: 262144,
			MaxFrame: 4096, Features: []string{"log", "time", "gpio", "publish", "config"},
			Apps: []protocol.AppReport{{App: "sensor", Version: "1.0.0", Generation: gens["sensor"], State: protocol.AppStateFailed,
				SHA256: sha, Detail: "crashed: watchdog in tick"}},
			Reset: &protocol.ResetReport{Cause: cause, Detail: "app sensor in tick", Boots: boots, Unexpected: unexpected, SafeMode: safe}}
	}
	reconnect := func(hello *protocol.Hello) {
		t.Helper()
		d.conn.Close()
		d.hello = hello
		if _, err := d.dial(nil); err != nil {
			t.Fatalf("reconnect: %v", err)
		}
		// other, which the device no longer holds, is sent again at its
		// generation; sensor, failed, is not sent at all.
		for {
			env, err := d.recv()
			if err != nil {
				t.Fatalf("waiting for other's deploy: %v", err)
			}
			switch m := env.Msg.(type) {
			case *protocol.Deploy:
				if m.App == "sensor" {
					t.Fatalf("the crashed app was sent again: %+v", m)
				}
				if m.Generation != gens["other"] {
					t.Fatalf("other sent again at generation %d, had %d", m.Generation, gens["other"])
				}
			case *protocol.Start:
				t.Fatalf("start after the reset: %+v", m)
			default:
				continue
			}
			break
		}
		hb := d.send(&protocol.Heartbeat{Seq: 1})
		for {
			env, err := d.recv()
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := env.Msg.(*protocol.Deploy); ok && m.App == "sensor" {
				t.Fatalf("the crashed app was sent again: %+v", m)
			}
			if _, ok := env.Msg.(*protocol.HeartbeatAck); ok && env.RequestID == hb {
				break
			}
		}
	}
	reconnect(crashed(2, 1, protocol.ResetWatchdog, false))

	var dev fleet.Device
	h.must(http.StatusOK, "GET", "/v1/devices/dev-r", nil, &dev)
	r := dev.Status.Reset
	if r == nil || r.Cause != "watchdog" || r.Detail != "app sensor in tick" || r.Boots != 2 || r.Unexpected != 1 || r.SafeMode || r.Time.IsZero() {
		t.Fatalf("device status reset: %+v", r)
	}
	resetAt := r.Time
	h.must(http.StatusOK, "GET", "/v1/applications/sensor/status", nil, &st)
	if st.Converged || st.Failed != 1 || len(st.Devices) != 1 || st.Devices[0].State != "failed" || st.Devices[0].Detail != "crashed: watchdog in tick" {
		t.Fatalf("rollout after the crash: %+v", st)
	}
	var deps apiv1.DeploymentList
	h.must(http.StatusOK, "GET", "/v1/deployments?device=dev-r", nil, &deps)
	for _, dep := range deps.Deployments {
		if dep.App == "other" && (dep.State != "unknown" || dep.Generation != gens["other"]) {
			t.Fatalf("other, not reported after the reset: %+v", dep)
		}
	}
	counts := func() (resets, failures int, msgs []string) {
		var ev apiv1.EventList
		h.must(http.StatusOK, "GET", "/v1/events?limit=1000", nil, &ev)
		for _, e := range ev.Events {
			switch {
			case e.Kind == "device.reset" && e.Object == "dev-r":
				resets++
				msgs = append(msgs, e.Message)
			case e.Kind == "app.failed" && e.Object == "sensor/dev-r" && e.Message == "crashed: watchdog in tick":
				failures++
			}
		}
		return
	}
	resets, failures, msgs := counts()
	if resets != 1 || failures != 1 || !strings.Contains(msgs[0], "unexpected reset: watchdog: app sensor in tick (boot 2 since power-on, 1 unexpected in a row)") {
		t.Fatalf("events after the crash: %d resets %q, %d app failures", resets, msgs, failures)
	}
	metric := func(line string) bool {
		req, _ := http.NewRequest("GET", h.api+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+h.reader)
		resp, err := h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), line+"\n")
	}
	if !metric(`wasmbed_gateway_device_resets_total{cause="watchdog"} 1`) || !metric(`wasmbed_gateway_app_failures_total{state="failed"} 1`) {
		t.Fatal("metrics do not count the reset and the failed app once")
	}

	// The same boot again (a reconnect, no reset): nothing new recorded,
	// and still nothing sent for sensor.
	reconnect(crashed(2, 1, protocol.ResetWatchdog, false))
	if resets, failures, _ := counts(); resets != 1 || failures != 1 {
		t.Fatalf("a reconnect recorded the reset again: %d resets, %d app failures", resets, failures)
	}
	h.must(http.StatusOK, "GET", "/v1/devices/dev-r", nil, &dev)
	if dev.Status.Reset == nil || !dev.Status.Reset.Time.Equal(resetAt) {
		t.Fatalf("a reconnect changed the reset time: %+v, was %v", dev.Status.Reset, resetAt)
	}
	if !metric(`wasmbed_gateway_device_resets_total{cause="watchdog"} 1`) {
		t.Fatal("a reconnect counted the reset again")
	}

	// Another reset, and the device lists the crashed app as downloading at its
	// generation (it lost the module and the crash's record): it stays failed and
	// is not sent again (reconnect fails on a deploy of sensor).
	lost := crashed(3, 2, protocol.ResetPanic, false)
	lost.Apps[0].State, lost.Apps[0].Detail = protocol.AppStateDownloading, ""
	reconnect(lost)
	h.must(http.StatusOK, "GET", "/v1/applications/sensor/status", nil, &st)
	if st.Converged || st.Failed != 1 || st.Devices[0].State != "failed" || !strings.HasPrefix(st.Devices[0].Detail, "crashed: watchdog") {
		t.Fatalf("the crashed deployment after a later reset listing it downloading: %+v", st)
	}

	// The third unexpected reset in a row: safe mode.
	reconnect(crashed(4, 3, protocol.ResetHardFault, true))
	h.must(http.StatusOK, "GET", "/v1/devices/dev-r", nil, &dev)
	if r := dev.Status.Reset; r == nil || r.Cause != "hard_fault" || !r.SafeMode || r.Unexpected != 3 || r.Boots != 4 {
		t.Fatalf("device status in safe mode: %+v", r)
	}
	if resets, _, msgs := counts(); resets != 3 || !strings.Contains(msgs[2], "hard_fault") || !strings.Contains(msgs[2], "safe mode") {
		t.Fatalf("safe mode events: %q", msgs)
	}

	// The operator's new intent: a new version is deployed.
	h.must(http.StatusOK, "PUT", "/v1/applications/sensor", map[string]any{"version": "1.0.1", "sha256": mod.SHA256,
		"selector": map[string]any{"labels": map[string]string{"role": "r"}}}, nil)
	for {
		dep := expect[*protocol.Deploy](d)
		if dep.App != "sensor" {
			continue
		}
		if dep.Generation <= gens["sensor"] || dep.Version != "1.0.1" {
			t.Fatalf("new version deployed as %+v after generation %d", dep, gens["sensor"])
		}
		break
	}
}

// A power cut zeroes the device's RAM: the boot after it reports power_on,
// boot 1, like the boot before, and has lost its apps. Only the boot id,
// picked at random at each boot, tells the two apart. A reconnect with the
// same boot id is the same boot: nothing recorded, nothing sent again. A new
// boot id is a new boot: a reset recorded, and the app the device no longer
// reports deployed again at its generation.
func TestPowerCutIsANewBoot(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	var mod struct{ SHA256 string }
	h.must(http.StatusCreated, "POST", "/v1/modules", wasmtest.App(t, "sensor"), &mod)
	sha, _ := hex.DecodeString(mod.SHA256)
	hello := func(bootID uint32, apps ...protocol.AppReport) *protocol.Hello {
		return &protocol.Hello{ABIVersion: 1, Board: "stm32f4-discovery", Firmware: "test", RAMFree: 65536, FlashFree: 262144,
			MaxFrame: 4096, Features: []string{"log", "time", "gpio", "publish", "config"}, Apps: apps,
			Reset: &protocol.ResetReport{Cause: protocol.ResetPowerOn, Boots: 1, BootID: bootID}}
	}
	d := newTestDevice(t, h, "dev-p")
	d.hello = hello(0x1111)
	d.connect()
	h.must(http.StatusOK, "PUT", "/v1/devices/dev-p", map[string]any{"board": "stm32f4-discovery", "labels": map[string]string{"role": "p"}}, nil)
	h.must(http.StatusCreated, "PUT", "/v1/applications/sensor", map[string]any{"version": "1.0.0", "sha256": mod.SHA256,
		"selector": map[string]any{"labels": map[string]string{"role": "p"}}}, nil)
	dep := expect[*protocol.Deploy](d)
	gen := dep.Generation
	d.send(&protocol.AppStatus{App: "sensor", Generation: gen, State: protocol.AppStateRunning, Version: "1.0.0"})
	var st apiv1.ApplicationStatus
	eventually(t, "sensor converged", func() bool {
		h.must(http.StatusOK, "GET", "/v1/applications/sensor/status", nil, &st)
		return st.Converged
	})
	reset := func() *fleet.ResetStatus {
		t.Helper()
		var dev fleet.Device
		h.must(http.StatusOK, "GET", "/v1/devices/dev-p", nil, &dev)
		if dev.Status.Reset == nil {
			t.Fatal("no reset in the device status")
		}
		return dev.Status.Reset
	}
	first := reset()
	if first.Cause != "power_on" || first.Boots != 1 || first.BootID != 0x1111 {
		t.Fatalf("device status reset: %+v", first)
	}
	resets := func() string {
		req, _ := http.NewRequest("GET", h.api+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+h.reader)
		resp, err := h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for l := range strings.Lines(string(b)) {
			if strings.HasPrefix(l, `wasmbed_gateway_device_resets_total{cause="power_on"} `) {
				return strings.TrimSpace(l[strings.LastIndexByte(l, ' ')+1:])
			}
		}
		return ""
	}
	if n := resets(); n != "1" {
		t.Fatalf("power_on resets counted: %q, want 1", n)
	}
	// reconnect says hello and waits for a heartbeat's ack: by then the
	// gateway has taken in the hello (the deployment records say what it
	// made of it); it returns the deploys sent meanwhile.
	reconnect := func(hello *protocol.Hello) (deploys []*protocol.Deploy) {
		t.Helper()
		d.conn.Close()
		d.hello = hello
		if _, err := d.dial(nil); err != nil {
			t.Fatalf("reconnect: %v", err)
		}
		hb := d.send(&protocol.Heartbeat{Seq: 1})
		for {
			env, err := d.recv()
			if err != nil {
				t.Fatal(err)
			}
			switch m := env.Msg.(type) {
			case *protocol.Deploy:
				deploys = append(deploys, m)
			case *protocol.HeartbeatAck:
				if env.RequestID == hb {
					return deploys
				}
			}
		}
	}
	state := func() string {
		t.Helper()
		var deps apiv1.DeploymentList
		h.must(http.StatusOK, "GET", "/v1/deployments?device=dev-p", nil, &deps)
		if len(deps.Deployments) != 1 {
			t.Fatalf("deployments: %+v", deps)
		}
		return deps.Deployments[0].State
	}
	// quiet fails on a deploy within a second.
	quiet := func() {
		t.Helper()
		d.conn.SetReadDeadline(time.Now().Add(time.Second))
		for {
			env, err := d.stream.Receive()
			if err != nil {
				return
			}
			if m, ok := env.Msg.(*protocol.Deploy); ok {
				t.Fatalf("a reconnect of the same boot was sent %+v", m)
			}
		}
	}
	running := protocol.AppReport{App: "sensor", Version: "1.0.0", Generation: gen, State: protocol.AppStateRunning, SHA256: sha}

	// The link drops, the device keeps running: the same boot id.
	if deps := reconnect(hello(0x1111, running)); len(deps) != 0 {
		t.Fatalf("a reconnect of the same boot was sent %+v", deps[0])
	}
	if s := state(); s != "running" {
		t.Fatalf("sensor %s after a reconnect of the same boot", s)
	}
	quiet()
	if r := reset(); !r.Time.Equal(first.Time) || r.BootID != 0x1111 {
		t.Fatalf("a reconnect changed the recorded boot: %+v, was %+v", r, first)
	}
	if n := resets(); n != "1" {
		t.Fatalf("a reconnect counted a reset: %q", n)
	}

	// The power is cut: the same cause and boot count, a new boot id, and no
	// app left. The gateway records the boot and deploys sensor again.
	deps := reconnect(hello(0x2222))
	if s := state(); s != "unknown" && len(deps) == 0 {
		t.Fatalf("sensor %s after the power cut", s)
	}
	if len(deps) == 0 {
		deps = append(deps, expect[*protocol.Deploy](d))
	}
	if len(deps) != 1 || deps[0].App != "sensor" || deps[0].Generation != gen {
		t.Fatalf("after the power cut, deploys %+v, want sensor at generation %d", deps, gen)
	}
	if r := reset(); r.BootID != 0x2222 || r.Cause != "power_on" || r.Boots != 1 || !r.Time.After(first.Time) {
		t.Fatalf("the boot after the power cut: %+v, the one before %+v", r, first)
	}
	if n := resets(); n != "2" {
		t.Fatalf("power_on resets counted after the power cut: %q, want 2", n)
	}
	d.send(&protocol.AppStatus{App: "sensor", Generation: gen, State: protocol.AppStateRunning, Version: "1.0.0"})
	eventually(t, "sensor converged again", func() bool {
		h.must(http.StatusOK, "GET", "/v1/applications/sensor/status", nil, &st)
		return st.Converged
	})

	// An older device, without boot ids, cannot be told apart: its hello is
	// taken for the boot recorded when the cause and counts match.
	if deps := reconnect(hello(0, running)); len(deps) != 0 {
		t.Fatalf("a hello without a boot id was sent %+v", deps[0])
	}
	quiet()
	if n := resets(); n != "2" {
		t.Fatalf("a hello without a boot id counted a reset: %q", n)
	}
}
