package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/controller"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// runController runs the controller (leader election on) as a user with
// the permissions of config/rbac/controller_role.yaml, restarting it when
// it exits, as its Deployment would (it exits when it cannot renew its
// lease, during an API server outage).
func (f *kubeFleet) runController() {
	t := f.t
	cfg := f.env.UserWithRole(t, f.ns, "controller_role.yaml", "wasmbed-controller")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			err := controller.Run(ctx, cfg, controller.Options{Namespace: f.ns, LeaderElection: true, Log: testLogger()})
			if ctx.Err() == nil {
				t.Logf("controller exited (%v); restarting it", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// appStatus is the Application's status as the controller wrote it.
func (f *kubeFleet) appStatus(name string) v1alpha1.ApplicationStatus {
	var a v1alpha1.Application
	must(f.t, f.env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, &a))
	if a.Status.ObservedGeneration != a.Generation {
		return v1alpha1.ApplicationStatus{}
	}
	return a.Status
}

// waitRunning waits until the controller says app converged on n devices
// and every device's record says it runs version.
func (f *kubeFleet) waitRunning(app, version string, n int) map[string]fleet.Deployment {
	f.t.Helper()
	out := map[string]fleet.Deployment{}
	start := time.Now()
	defer func() {
		f.t.Logf("%s %s running on %d devices after %v", app, version, n, time.Since(start).Round(time.Millisecond))
	}()
	// Informers back off up to 30 s while the API server is away, so
	// catching up after an outage takes up to that long.
	eventuallyWithin(f.t, time.Minute, app+" "+version+" running on all devices", func() bool {
		st := f.appStatus(app)
		if !st.Converged || int(st.Updated) != n {
			return false
		}
		deps, err := f.admin.Deployments().List(context.Background())
		must(f.t, err)
		clear(out)
		for _, d := range deps {
			if d.App == app && d.State == "running" && d.Observed == version {
				out[d.Device] = d
			}
		}
		return len(out) == n
	})
	return out
}

func sessions(t testing.TB, hs ...*harness) int {
	n := 0
	for _, h := range hs {
		var health struct{ Sessions int }
		if code := h.call("", "GET", "/healthz", nil, &health); code != http.StatusOK {
			t.Fatalf("healthz: %d", code)
		}
		n += health.Sessions
	}
	return n
}

// Two gateways and a controller against one kube-apiserver, real agents:
// the controller spreads the devices over both gateways, an Application
// reaches running on the agents behind both; a gateway restart and an API
// server outage (kube-apiserver killed, then started again on the same
// etcd) lose no desired state, and the gateways keep serving through the
// outage and catch up after it.
func TestKubernetesTwoGatewaysAgentsRestartAndOutage(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	ctx := context.Background()
	c := env.Client
	f.runController()
	dirA := t.TempDir()
	ha := f.startKubeGateway("gw-a", dirA, "")
	hb := f.startKubeGateway("gw-b", t.TempDir(), "")
	if ha.readFile(CACertFile) != hb.readFile(CACertFile) {
		t.Fatal("the two gateways do not share the CA")
	}
	eventually(t, "both gateways Ready", func() bool {
		for _, name := range []string{"gw-a", "gw-b"} {
			var gw v1alpha1.Gateway
			must(t, c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &gw))
			if !meta.IsStatusConditionTrue(gw.Status.Conditions, "Ready") {
				return false
			}
		}
		return true
	})

	// Four agents, unassigned: the controller assigns them; their bundle
	// names both gateways and an agent refused by one tries the other.
	const n = 4
	labels := map[string]string{"role": "sensor"}
	tokens := map[string]string{}
	for i := range n {
		tokens[sim.DefaultName(i)] = f.device(sim.DefaultName(i), "linux", "", labels)
	}
	root := ha.readFile(CACertFile)
	fl, err := sim.Start(ctx, sim.Config{Devices: n, Dir: t.TempDir(), SourceAddrs: sim.LoopbackAddrs(4),
		Bundle: func(name string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: []string{ha.device, hb.device}, CARoot: root, ServerName: "127.0.0.1",
				Device: name, Token: tokens[name], Board: "linux"}, nil
		},
		Agent: func(_ int, c *agent.Config) {
			c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
			c.OutputInterval = 100 * time.Millisecond
		},
		Logger: testLogger()})
	must(t, err)
	t.Cleanup(func() { fl.Stop() })
	eventually(t, "all agents connected", func() bool { return fl.Connected() == n })
	perGateway := map[string]int{}
	for i := range n {
		perGateway[f.get(sim.DefaultName(i)).Gateway]++
	}
	if perGateway["gw-a"] != n/2 || perGateway["gw-b"] != n/2 {
		t.Fatalf("devices per gateway: %v", perGateway)
	}

	// Either gateway's (read-only) API shows every device online, its own
	// from its sessions, the other's as stored.
	for _, h := range []*harness{ha, hb} {
		eventually(t, "all devices online through "+h.api, func() bool {
			var list apiv1.DeviceList
			h.call(h.reader, "GET", "/v1/devices?phase=online", nil, &list)
			return len(list.Devices) == n
		})
	}

	// An application reaches running behind both gateways.
	sel := fleet.Selector{Labels: labels}
	f.putApp("sensor", "1.0.0", wasmtest.App(t, "sensor"), sel, 50)
	before := f.waitRunning("sensor", "1.0.0", n)
	for _, h := range []*harness{ha, hb} {
		var out apiv1.OutputList
		eventually(t, "values published through "+h.api, func() bool {
			h.call(h.reader, "GET", "/v1/applications/sensor/output?limit=50", nil, &out)
			return len(out.Output) > 0
		})
	}

	// Gateway restart: gw-a stops and comes back on the same data directory
	// and address; its devices reconnect and nothing is redeployed.
	devA := ha.device
	ha.stop()
	eventually(t, "gw-a's agents disconnected", func() bool { return fl.Connected() == n/2 })
	ha = f.startKubeGateway("gw-a", dirA, devA)
	eventually(t, "all agents reconnected", func() bool { return fl.Connected() == n })
	after := f.waitRunning("sensor", "1.0.0", n)
	for dev, d := range after {
		if d.Generation != before[dev].Generation {
			t.Errorf("%s: generation %d after the gateway restart, %d before: redeployed", dev, d.Generation, before[dev].Generation)
		}
	}
	f.putApp("sensor", "1.1.0", wasmtest.App(t, "sensor"), sel, 50)
	before = f.waitRunning("sensor", "1.1.0", n)

	// A device behind gw-b that will leave during the outage.
	probe := newTestDevice(t, hb, "probe")
	must(t, probe.enroll(f.device("probe", "stm32f4-discovery", "gw-b", nil)))
	probe.connect()
	eventually(t, "probe online", func() bool { return f.get("probe").Status.Phase == fleet.PhaseOnline })

	// The API server outage.
	env.StopAPIServer(t)
	outage := time.Now()
	var out apiv1.OutputList
	ha.call(ha.reader, "GET", "/v1/applications/sensor/output?limit=1", nil, &out)
	lastBefore := out.Output[len(out.Output)-1].Time
	time.Sleep(2 * time.Second)
	if s := sessions(t, ha, hb); s != n+1 {
		t.Fatalf("%d sessions during the outage, want %d", s, n+1)
	}
	eventually(t, "apps publishing through gw-a during the outage", func() bool {
		ha.call(ha.reader, "GET", "/v1/applications/sensor/output?limit=1", nil, &out)
		return len(out.Output) == 1 && out.Output[0].Time.After(lastBefore)
	})
	probe.conn.Close() // its status (offline) can only be kept in memory now
	eventually(t, "gw-b noticed the probe left", func() bool { return sessions(t, ha, hb) == n })
	// Longer than the controller's lease renewal deadline (10 s): it exits
	// and is restarted, and the informers back off.
	time.Sleep(time.Until(outage.Add(12 * time.Second)))
	t.Logf("outage: %v", time.Since(outage).Round(time.Millisecond))
	env.StartAPIServer(t)

	eventually(t, "the probe's offline status written after the outage", func() bool {
		return f.get("probe").Status.Phase == fleet.PhaseOffline
	})
	if fl.Connected() != n {
		t.Fatalf("%d agents connected after the outage", fl.Connected())
	}
	a, err := f.admin.Applications().Get(ctx, "sensor")
	must(t, err)
	if a.Version != "1.1.0" || !a.Running || a.Selector.Labels["role"] != "sensor" {
		t.Fatalf("application after the outage: %+v", a)
	}
	// Desired state changed after the outage reaches every device, with
	// generations above all those used before.
	f.putApp("sensor", "1.2.0", wasmtest.App(t, "sensor"), sel, 50)
	after = f.waitRunning("sensor", "1.2.0", n)
	var devs []string
	for dev, d := range after {
		devs = append(devs, dev+"@"+f.get(dev).Gateway)
		if d.Generation <= before[dev].Generation {
			t.Errorf("%s: generation %d after the outage, %d before", dev, d.Generation, before[dev].Generation)
		}
	}
	sort.Strings(devs)
	t.Logf("running 1.2.0: %v", devs)
}

func eventuallyWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A batched rollout across two gateways keeps to maxUnavailable in total,
// not per gateway: the controller admits the devices (Application
// status.admission) and each gateway updates only those. Sampled every
// few milliseconds, the devices updating (in progress or failed at the new
// spec) never exceed one, and the rollout still completes.
func TestKubernetesBatchedRolloutAcrossGateways(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	ctx := context.Background()
	f.runController()
	ha := f.startKubeGateway("gw-a", t.TempDir(), "")
	hb := f.startKubeGateway("gw-b", t.TempDir(), "")
	const n = 6
	labels := map[string]string{"role": "sensor"}
	tokens := map[string]string{}
	for i := range n {
		gw := "gw-a"
		if i%2 == 1 {
			gw = "gw-b"
		}
		tokens[sim.DefaultName(i)] = f.device(sim.DefaultName(i), "linux", gw, labels)
	}
	root := ha.readFile(CACertFile)
	fl, err := sim.Start(ctx, sim.Config{Devices: n, Dir: t.TempDir(),
		Bundle: func(name string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: []string{ha.device, hb.device}, CARoot: root, ServerName: "127.0.0.1",
				Device: name, Token: tokens[name], Board: "linux"}, nil
		},
		Agent:  func(_ int, c *agent.Config) { c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond },
		Logger: testLogger()})
	must(t, err)
	t.Cleanup(func() { fl.Stop() })
	eventually(t, "all agents online", func() bool {
		devs, err := f.admin.Devices().List(ctx)
		must(t, err)
		k := 0
		for _, d := range devs {
			if d.Status.Phase == fleet.PhaseOnline {
				k++
			}
		}
		return fl.Connected() == n && k == n
	})
	sel := fleet.Selector{Labels: labels}
	ro := fleet.Rollout{Strategy: fleet.RolloutBatched, MaxUnavailable: 1, MinReadySeconds: 1}
	f.putAppRollout("sensor", "1.0.0", wasmtest.App(t, "sensor"), sel, 50, ro)

	start := time.Now()
	maxUpdating, samples := 0, 0
	eventuallyWithin(t, 90*time.Second, "batched rollout converged", func() bool {
		a, err := f.admin.Applications().Get(ctx, "sensor")
		must(t, err)
		deps, err := f.admin.Deployments().List(ctx)
		must(t, err)
		c := fleet.CountRollout(&a, deps, time.Now())
		maxUpdating = max(maxUpdating, c.InProgress+c.Failed)
		samples++
		if c.InProgress+c.Failed > 1 {
			t.Fatalf("%d devices updating at once (max_unavailable 1): %+v", c.InProgress+c.Failed, c)
		}
		return c.Updated == n && f.appStatus("sensor").Converged
	})
	t.Logf("batched rollout of %d devices behind 2 gateways in %v; at most %d updating in %d samples",
		n, time.Since(start).Round(time.Millisecond), maxUpdating, samples)
	if maxUpdating != 1 {
		t.Fatalf("never saw a device updating (%d samples)", samples)
	}
	if st := f.appStatus("sensor"); st.Admission != nil {
		t.Errorf("converged, yet an admission is left: %+v", st.Admission)
	}
}

// A gateway that (re)starts while the API server is unreachable starts from
// the snapshot it kept (kube-snapshot.json in its data directory) and the CA
// in its data directory: its devices reconnect and are served with the last
// known desired state, nothing redeployed; when the API server answers
// again, the gateway follows it and writes what it observed meanwhile.
func TestKubernetesGatewayStartsDuringAnOutage(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	ctx := context.Background()
	dir := t.TempDir()
	h := f.startKubeGateway("gw-1", dir, "")
	dev := newTestDevice(t, h, "dev-1")
	must(t, dev.enroll(f.device("dev-1", "stm32f4-discovery", "gw-1", map[string]string{"role": "sensor"})))
	dev.connect()
	eventually(t, "dev-1 online", func() bool { return f.get("dev-1").Status.Phase == fleet.PhaseOnline })
	f.putApp("sensor", "1.0.0", wasmtest.App(t, "sensor"), fleet.Selector{Labels: map[string]string{"role": "sensor"}}, 100)
	d := expect[*protocol.Deploy](dev)
	dev.send(&protocol.AppStatus{App: "sensor", Generation: d.Generation, State: protocol.AppStateRunning, Version: "1.0.0"})
	eventually(t, "sensor running in dev-1's record", func() bool {
		deps := f.deployments("dev-1")
		return len(deps) == 1 && deps[0].State == "running"
	})

	// The gateway stops (writing its snapshot), then the API server goes away.
	devAddr := h.device
	cfg := f.env.GatewayUser(t, f.ns, "gw-1")
	h.stop()
	if _, err := os.Stat(filepath.Join(dir, KubeSnapshotFile)); err != nil {
		t.Fatalf("no snapshot after the gateway stopped: %v", err)
	}
	env.StopAPIServer(t)
	start := time.Now()
	h2 := startKubeGatewayAs(t, cfg, f.ns, "gw-1", dir, devAddr, func(o *Options) { o.KubeSyncTimeout = 2 * time.Second })
	t.Logf("gateway started without the API server in %v", time.Since(start).Round(time.Millisecond))
	dev.h = h2
	w := dev.connect()
	if w.Device != "dev-1" {
		t.Fatalf("welcome %+v", w)
	}
	// Its app is known: the session is not sent a new deploy.
	dev.send(&protocol.Heartbeat{Seq: 1})
	for {
		env, err := dev.recv()
		must(t, err)
		if _, ok := env.Msg.(*protocol.Deploy); ok {
			t.Fatalf("redeployed while starting from the snapshot: %+v", env.Msg)
		}
		if _, ok := env.Msg.(*protocol.HeartbeatAck); ok {
			break
		}
	}
	if s := sessions(t, h2); s != 1 {
		t.Fatalf("%d sessions, want 1", s)
	}

	// The API server returns: the gateway follows it and writes dev-1 online.
	// Meanwhile the device heartbeats, as a device does: however long the API
	// server takes to start on a busy machine, the session must not end for
	// the device's silence (the gateway's heartbeat interval is 1 s).
	stop := dev.keepAlive(300 * time.Millisecond)
	env.StartAPIServer(t)
	eventuallyWithin(t, time.Minute, "dev-1 online in its Device resource after the outage", func() bool {
		var o v1alpha1.Device
		if env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "dev-1"}, &o) != nil {
			return false
		}
		return kubestore.DeviceToFleet(&o).Status.Phase == fleet.PhaseOnline
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// keepAlive heartbeats every interval from a goroutine, reading the acks,
// until the returned function is called; that returns the first problem (a
// send or read that failed, or a message other than an ack).
func (d *testDevice) keepAlive(interval time.Duration) func() error {
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		seq := uint64(1 << 32)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				errc <- nil
				return
			case <-tick.C:
			}
			seq++
			if err := d.stream.Send(protocol.Envelope{RequestID: seq, Msg: &protocol.Heartbeat{Seq: seq}}); err != nil {
				errc <- fmt.Errorf("%s: heartbeat: %w", d.name, err)
				return
			}
			env, err := d.recv()
			if err != nil {
				errc <- fmt.Errorf("%s: heartbeat ack: %w", d.name, err)
				return
			}
			if _, ok := env.Msg.(*protocol.HeartbeatAck); !ok {
				errc <- fmt.Errorf("%s: %s while heartbeating, want heartbeat_ack", d.name, env.Msg.Type())
				return
			}
		}
	}()
	return func() error {
		close(done)
		return <-errc
	}
}
