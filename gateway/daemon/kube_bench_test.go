package daemon

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/runtime"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/gateway/kubemode"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// BenchmarkKubernetesFleet measures the Kubernetes mode at the issue's
// scale, with the real kube-apiserver and etcd, the controller and ten
// gateways (each as its RBAC role allows) and a thousand simulated devices
// (agent/sim on wazero) in this process. It reports:
//
//   - reconcile-s: from writing an Application selecting every device to the
//     controller reporting it converged, every device running it;
//   - writes/device-hour: writes to the API server (requests with a mutating
//     verb, from apiserver_request_total) on Wasmbed's resources and events,
//     per device and hour, while every device heartbeats steadily. Leases
//     (leader election, one per controller replica) are per process, not per
//     device, and are reported apart as lease-writes/hour (the gateways'
//     Leases too: one renewal every 2 s each);
//   - failover-s: one gateway (gw-00, about a tenth of the devices) is
//     killed, as by SIGKILL (its API server access cut, then stopped: its
//     Lease neither renewed nor released, nothing written on the way out);
//     from then until every one of its devices runs its app (the agent's
//     runtime says running) in a session with another gateway, its Device
//     assigned there and online. Default lease (10 s, renewed every 2 s) and
//     agent backoff (500 ms to 30 s); every bundle lists the ten gateways,
//     the assigned one first. failover-device-writes counts the writes to
//     Devices (spec and status) meanwhile, less those of the steady state
//     over as long (the time-compressed last-seen writes; the raw count is
//     failover-device-writes-raw).
//
// The steady window is time-compressed: the gateways write a device's
// last-seen every LastSeen (45 min by default); here every
// WASMBED_BENCH_K8S_LASTSEEN (default 30 s) over a window of two of those,
// and the count is scaled to the default interval (writes per interval
// times intervals per hour). Heartbeats run at the default period (5 s):
// none of them writes. make bench runs it with -benchtime 1x.
func BenchmarkKubernetesFleet(b *testing.B) {
	n := benchEnvInt("WASMBED_BENCH_K8S_DEVICES", 1000)
	gateways := benchEnvInt("WASMBED_BENCH_K8S_GATEWAYS", 10)
	lastSeen := time.Duration(benchEnvInt("WASMBED_BENCH_K8S_LASTSEEN", 30)) * time.Second
	ctx := context.Background()
	env := kubetest.Start(b)
	f := newKubeFleet(b, env)
	f.runController()
	var hs []*harness
	tune := func(o *Options) {
		o.Gateway.HeartbeatInterval = 0 // the default
		o.GatewayHeartbeat = 0          // the default
		o.LastSeenInterval = lastSeen
	}
	// gw-00 is the one killed for the failover.
	cfg0, sever := severable(f.env.GatewayUser(b, f.ns, "gw-00"))
	hs = append(hs, startKubeGatewayAs(b, cfg0, f.ns, "gw-00", b.TempDir(), "", tune))
	for i := 1; i < gateways; i++ {
		hs = append(hs, f.startKubeGateway(fmt.Sprintf("gw-%02d", i), b.TempDir(), "", tune))
	}
	deviceAddr := map[string]string{}
	for i, h := range hs {
		deviceAddr[fmt.Sprintf("gw-%02d", i)] = h.device
	}

	// The devices, unassigned: the controller spreads them over the gateways.
	labels := map[string]string{"role": "sensor"}
	tokens := map[string]string{}
	for i := range n {
		tokens[sim.DefaultName(i)] = f.device(sim.DefaultName(i), "linux", "", labels)
	}
	assigned := map[string]string{}
	eventuallyWithin(b, 2*time.Minute, "every device assigned", func() bool {
		devs, err := f.admin.Devices().List(ctx)
		must(b, err)
		clear(assigned)
		for _, d := range devs {
			if d.Gateway != "" {
				assigned[d.Name] = d.Gateway
			}
		}
		time.Sleep(200 * time.Millisecond)
		return len(assigned) == n
	})
	root := hs[0].readFile(CACertFile)
	// An agent turns fuel into a wall-clock budget per call (abi.FuelBudget,
	// 100 ms and up); a thousand agents sharing two cores with the API
	// server, etcd, ten gateways and the controller would run out of it
	// for want of CPU, not fuel, as gatewaybench's fleet would: the same
	// generous budget as there.
	engine, err := runtime.New(ctx, runtime.Config{Budget: func(uint64) time.Duration { return abi.MaxFuelBudget }})
	must(b, err)
	b.Cleanup(func() { engine.Close(context.Background()) })
	fl, err := sim.Start(ctx, sim.Config{Devices: n, Dir: b.TempDir(), SourceAddrs: sim.LoopbackAddrs(4), Engine: engine,
		Bundle: func(name string) (*agent.Bundle, error) {
			// Every gateway, the assigned one first.
			gws := []string{deviceAddr[assigned[name]]}
			for _, h := range hs {
				if h.device != gws[0] {
					gws = append(gws, h.device)
				}
			}
			return &agent.Bundle{Gateways: gws, CARoot: root, ServerName: "127.0.0.1",
				Device: name, Token: tokens[name], Board: "linux"}, nil
		},
		Logger: testLogger()})
	must(b, err)
	b.Cleanup(func() { fl.Stop() })
	online := func() int {
		devs, err := f.admin.Devices().List(ctx)
		must(b, err)
		k := 0
		for _, d := range devs {
			if d.Status.Phase == fleet.PhaseOnline {
				k++
			}
		}
		return k
	}
	eventuallyWithin(b, 3*time.Minute, "every device enrolled and online", func() bool {
		time.Sleep(500 * time.Millisecond)
		return fl.Connected() == n && online() == n
	})
	b.Logf("%d devices online behind %d gateways", n, gateways)

	// Apply: one application selecting every device.
	b.ResetTimer()
	t0 := time.Now()
	f.putApp("sensor", "1.0.0", wasmtest.App(b, "sensor"), fleet.Selector{Labels: labels}, 1000)
	lastLog := time.Now()
	eventuallyWithin(b, 5*time.Minute, "sensor converged on every device", func() bool {
		time.Sleep(250 * time.Millisecond)
		st := f.appStatus("sensor")
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			b.Logf("%v: controller says %d selected, %d updated, %d in progress, %d failed; records: %v",
				time.Since(t0).Round(time.Second), st.Selected, st.Updated, st.InProgress, st.Failed, recordStates(b, f, "sensor"))
		}
		return st.Converged && int(st.Updated) == n
	})
	reconcile := time.Since(t0)
	b.StopTimer()
	deps, err := f.admin.Deployments().List(ctx)
	must(b, err)
	running := 0
	for _, d := range deps {
		if d.App == "sensor" && d.State == "running" && d.Observed == "1.0.0" {
			running++
		}
	}
	if running != n {
		b.Fatalf("converged, yet %d of %d deployment records say running", running, n)
	}
	b.Logf("reconcile: %v", reconcile.Round(time.Millisecond))

	// Steady state: every device heartbeating, nothing changing.
	time.Sleep(5 * time.Second) // the rollout's last status writes
	w0, l0, by0 := apiServerWrites(b, env)
	window := 2 * lastSeen
	time.Sleep(window)
	w1, l1, by1 := apiServerWrites(b, env)
	steadyDeviceWrites := 0.0
	for k, v := range by1 {
		if d := v - by0[k]; d > 0 {
			b.Logf("  %s: %.0f", k, d)
			if strings.HasPrefix(k, "devices/") {
				steadyDeviceWrites += d
			}
		}
	}
	if c := fl.Connected(); c != n {
		b.Fatalf("%d of %d devices connected at the end of the steady window", c, n)
	}
	writes, leases := w1-w0, l1-l0
	perInterval := writes / float64(n) / (float64(window) / float64(lastSeen))
	perHour := perInterval * float64(time.Hour) / float64(kubemode.DefaultLastSeenInterval)
	b.Logf("steady window %v (last-seen every %v): %.0f writes (%.3f per device per last-seen interval), %.0f lease writes",
		window, lastSeen, writes, perInterval, leases)
	// Failover: gw-00 killed; its devices run their app on other gateways.
	failover, moved, rawWrites := benchFailover(b, f, env, fl, hs[0], sever)
	// Less the steady state's (the last-seen writes, time-compressed here)
	// over as long.
	deviceWrites := max(rawWrites-steadyDeviceWrites*float64(failover+2*time.Second)/float64(window), 0)
	b.Logf("failover: %d devices of gw-00 running on other gateways %v after it was killed; %.0f Device writes meanwhile, %.0f beyond the steady state's",
		moved, failover.Round(time.Millisecond), rawWrites, deviceWrites)

	// Shutting down: the devices leave, then the gateways stop (each writes
	// its devices offline); how long that takes is worth knowing.
	fl.Stop()
	t1 := time.Now()
	for _, h := range hs[1:] {
		h.stop()
	}
	b.Logf("devices gone, %d gateways stopped in %v", len(hs), time.Since(t1).Round(time.Millisecond))
	b.ReportMetric(reconcile.Seconds(), "reconcile-s")
	b.ReportMetric(perHour, "writes/device-hour")
	b.ReportMetric(perInterval, "writes/device-interval")
	b.ReportMetric(leases*float64(time.Hour)/float64(window), "lease-writes/hour")
	b.ReportMetric(float64(n), "devices")
	b.ReportMetric(failover.Seconds(), "failover-s")
	b.ReportMetric(float64(moved), "failover-devices")
	b.ReportMetric(deviceWrites, "failover-device-writes")
	b.ReportMetric(rawWrites, "failover-device-writes-raw")
	b.ReportMetric(0, "ns/op") // the custom metrics are the result
}

// benchFailover kills gateway h (as SIGKILL would: sever cuts its API
// server access first) and waits until every device it served runs its
// app in a session with another gateway: how long that took, how many
// devices, and the writes to Devices meanwhile.
func benchFailover(b *testing.B, f *kubeFleet, env *kubetest.Env, fl *sim.Fleet, h *harness, sever func()) (time.Duration, int, float64) {
	ctx := context.Background()
	devs, err := f.admin.Devices().List(ctx)
	must(b, err)
	victims := map[string]bool{}
	for _, d := range devs {
		if d.Gateway == "gw-00" {
			victims[d.Name] = true
		}
	}
	agents := map[string]*agent.Agent{}
	for _, a := range fl.Agents() {
		if victims[a.Name()] {
			agents[a.Name()] = a
		}
	}
	_, _, by0 := apiServerWrites(b, env)
	b.StartTimer()
	killed := time.Now()
	killKubeGateway(h, sever)
	eventuallyWithin(b, 5*time.Minute, "gw-00's devices running sensor on other gateways", func() bool {
		time.Sleep(100 * time.Millisecond)
		for _, a := range agents {
			if info, ok := a.Device().App("sensor"); !ok || info.State != protocol.AppStateRunning || !a.Status().Connected {
				return false
			}
		}
		devs, err := f.admin.Devices().List(ctx)
		must(b, err)
		for _, d := range devs {
			if victims[d.Name] && (d.Gateway == "gw-00" || d.Status.Phase != fleet.PhaseOnline) {
				return false
			}
		}
		return true
	})
	took := time.Since(killed)
	b.StopTimer()
	time.Sleep(2 * time.Second) // the failover's last writes
	_, _, by1 := apiServerWrites(b, env)
	writes := 0.0
	for k, v := range by1 {
		if strings.HasPrefix(k, "devices/") {
			writes += v - by0[k]
		}
	}
	return took, len(victims), writes
}

// recordStates counts the deployment records of app by state.
func recordStates(b testing.TB, f *kubeFleet, app string) map[string]int {
	deps, err := f.admin.Deployments().List(context.Background())
	must(b, err)
	out := map[string]int{}
	for _, d := range deps {
		if d.App == app {
			out[d.State]++
		}
	}
	return out
}

var requestTotal = regexp.MustCompile(`^apiserver_request_total\{(.*)\} ([0-9.e+]+)$`)
var label = regexp.MustCompile(`(\w+)="([^"]*)"`)

// apiServerWrites reads the API server's request counters: mutating
// requests on Wasmbed's resources and events, and on leases, and all
// mutating requests by resource/subresource and verb.
func apiServerWrites(b testing.TB, env *kubetest.Env) (writes, leases float64, by map[string]float64) {
	by = map[string]float64{}
	cs, err := kubernetes.NewForConfig(env.Config)
	must(b, err)
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	must(b, err)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		m := requestTotal.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		l := map[string]string{}
		for _, kv := range label.FindAllStringSubmatch(m[1], -1) {
			l[kv[1]] = kv[2]
		}
		switch l["verb"] {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY":
		default:
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		must(b, err)
		by[l["resource"]+"/"+l["subresource"]+" "+l["verb"]] += v
		switch {
		case l["resource"] == "leases":
			leases += v
		case l["group"] == "fleet.wasmbed.dev" || l["resource"] == "events":
			writes += v
		}
	}
	must(b, sc.Err())
	return writes, leases, by
}

func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
