package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/kubemode"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// kubeFleet is a namespace of a real API server, with a client store for
// what an operator (kubectl, Terraform) writes.
type kubeFleet struct {
	t     testing.TB
	env   *kubetest.Env
	ns    string
	admin *kubestore.Store
}

func newKubeFleet(t testing.TB, env *kubetest.Env) *kubeFleet {
	t.Helper()
	ns := env.Namespace(t)
	admin, err := kubestore.Open(context.Background(), env.Config, kubestore.Options{Namespace: ns, Component: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	return &kubeFleet{t: t, env: env, ns: ns, admin: admin}
}

func testLogger() *slog.Logger {
	if os.Getenv("WASMBED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startKubeGateway runs a gateway in Kubernetes mode as a user with exactly
// the permissions of config/rbac/gateway_role.yaml, in dir (reused across
// restarts), on deviceAddr ("": any port).
// tune, if given, changes the test's options (short intervals) first.
func (f *kubeFleet) startKubeGateway(name, dir, deviceAddr string, tune ...func(*Options)) *harness {
	t := f.t
	t.Helper()
	cfg := f.env.GatewayUser(t, f.ns, name)
	return startKubeGatewayAs(t, cfg, f.ns, name, dir, deviceAddr, tune...)
}

func startKubeGatewayAs(t testing.TB, cfg *rest.Config, ns, name, dir, deviceAddr string, tune ...func(*Options)) *harness {
	t.Helper()
	if deviceAddr == "" {
		deviceAddr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, dir: dir, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan [2]net.Addr, 1)
	o := Options{DataDir: dir, APIAddr: "127.0.0.1:0", DeviceAddr: deviceAddr, Log: testLogger(),
		Gateway: gateway.Config{Name: name, HeartbeatInterval: time.Second},
		Store:   StoreKubernetes, KubeConfig: cfg, Namespace: ns, GatewayHeartbeat: 500 * time.Millisecond, LastSeenInterval: time.Second,
		Ready: func(a, d net.Addr) { ready <- [2]net.Addr{a, d} }}
	for _, f := range tune {
		f(&o)
	}
	go func() { h.done <- Run(ctx, o) }()
	select {
	case addrs := <-ready:
		h.api, h.device = "https://"+addrs[0].String(), addrs[1].String()
	case err := <-h.done:
		t.Fatalf("gateway %s did not start: %v", name, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway %s did not start in 60s", name)
	}
	t.Cleanup(h.stop)
	h.finishStart()
	return h
}

// device registers a device (assigned to gateway, if not empty) and mints
// its enrollment token.
func (f *kubeFleet) device(name, boardName, gw string, labels map[string]string) string {
	f.t.Helper()
	ctx := context.Background()
	if err := f.admin.Devices().Create(ctx, name, fleet.Device{Name: name, Board: boardName, Labels: labels, Gateway: gw,
		Status: fleet.DeviceStatus{Phase: fleet.PhaseRegistered}}); err != nil {
		f.t.Fatal(err)
	}
	secret, rec := fleet.NewEnrollmentToken(name, time.Hour)
	if err := f.admin.Tokens().Create(ctx, rec.ID, rec); err != nil {
		f.t.Fatal(err)
	}
	return secret
}

func (f *kubeFleet) get(name string) fleet.Device {
	f.t.Helper()
	var o v1alpha1.Device
	if err := f.env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, &o); err != nil {
		f.t.Fatal(err)
	}
	return kubestore.DeviceToFleet(&o)
}

func (f *kubeFleet) deployments(device string) []fleet.Deployment {
	f.t.Helper()
	var o v1alpha1.Device
	if err := f.env.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: device}, &o); err != nil {
		f.t.Fatal(err)
	}
	return kubestore.DeploymentsToFleet(&o)
}

func (f *kubeFleet) putApp(name, version string, wasm []byte, sel fleet.Selector, tickMS uint32) {
	f.t.Helper()
	f.putAppRollout(name, version, wasm, sel, tickMS, fleet.Rollout{Strategy: fleet.RolloutAllAtOnce})
}

func (f *kubeFleet) putAppRollout(name, version string, wasm []byte, sel fleet.Selector, tickMS uint32, ro fleet.Rollout) {
	f.t.Helper()
	ctx := context.Background()
	sha := sha256hex(wasm)
	if err := f.admin.PutModule(ctx, sha, wasm); err != nil {
		f.t.Fatal(err)
	}
	if err := f.admin.Applications().Put(ctx, name, fleet.Application{Name: name, Version: version, SHA256: sha, Size: len(wasm),
		Limits: fleet.Limits{Fuel: 1_000_000, Memory: 65536, TickMS: tickMS}, Selector: sel, Running: true,
		Rollout: ro}); err != nil {
		f.t.Fatal(err)
	}
}

// A gateway in Kubernetes mode: it registers itself, shares its CA,
// reports in, serves only the devices assigned to it, writes their status
// and deployment records into the Device resources, follows revocations
// and reassignments made in Kubernetes, and its API is read-only. It runs
// with the permissions of config/rbac/gateway_role.yaml and nothing more.
func TestKubernetesGatewayServesItsDevices(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	ctx := context.Background()
	c := env.Client
	h := f.startKubeGateway("gw-1", t.TempDir(), "")

	var gw v1alpha1.Gateway
	eventually(t, "Gateway gw-1 registered and reporting", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "gw-1"}, &gw) == nil && gw.Status.LastHeartbeatTime != nil
	})
	if len(gw.Spec.Addresses) != 1 || string(gw.Spec.Addresses[0]) != h.device {
		t.Fatalf("registered addresses %v, want [%s]", gw.Spec.Addresses, h.device)
	}
	var cm corev1.ConfigMap
	must(t, c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: kubemode.CAConfigMap}, &cm))
	if strings.TrimSpace(cm.Data[kubemode.CAConfigMapKey]) != h.readFile(CACertFile) {
		t.Fatalf("ConfigMap %s does not hold the gateway's CA root", kubemode.CAConfigMap)
	}
	var sec corev1.Secret
	must(t, c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: kubemode.CASecret}, &sec))

	mine := newTestDevice(t, h, "dev-1")
	must(t, mine.enroll(f.device("dev-1", "stm32f4-discovery", "gw-1", map[string]string{"role": "sensor"})))
	elsewhere := newTestDevice(t, h, "dev-2")
	must(t, elsewhere.enroll(f.device("dev-2", "stm32f4-discovery", "gw-other", nil)))
	waiting := newTestDevice(t, h, "dev-3")
	must(t, waiting.enroll(f.device("dev-3", "stm32f4-discovery", "", nil)))
	if d := f.get("dev-1"); d.Status.Phase != fleet.PhaseOffline || d.Status.CertSerial != mine.cert.Leaf.SerialNumber.Text(16) {
		t.Fatalf("after enrollment: %+v", d.Status)
	}
	for d, want := range map[*testDevice]string{elsewhere: "served by gateway gw-other", waiting: "not assigned to a gateway yet"} {
		var perr *protocol.Error
		if _, err := d.dial(nil); !errors.As(err, &perr) || perr.Code != protocol.CodeWrongGateway || !strings.Contains(perr.Message, want) {
			t.Fatalf("%s: session answered %v, want wrong_gateway %q", d.name, err, want)
		}
	}

	mine.connect()
	eventually(t, "dev-1 online in its Device resource, gw-1 reporting 1 session", func() bool {
		must(t, c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "gw-1"}, &gw))
		return f.get("dev-1").Status.Phase == fleet.PhaseOnline && gw.Status.Devices == 1
	})

	// An application: the deploy reaches the device, with its generation
	// recorded in the Device's status first.
	f.putApp("sensor", "1.0.0", wasmtest.App(t, "sensor"), fleet.Selector{Labels: map[string]string{"role": "sensor"}}, 100)
	dep := expect[*protocol.Deploy](mine)
	if dep.App != "sensor" || dep.Generation != 1 {
		t.Fatalf("deploy %+v", dep)
	}
	if deps := f.deployments("dev-1"); len(deps) != 1 || deps[0].Generation != 1 || deps[0].Command != "deploy" {
		t.Fatalf("deployment records: %+v", deps)
	}
	mine.send(&protocol.AppStatus{App: "sensor", Generation: 1, State: protocol.AppStateRunning, Version: "1.0.0"})
	eventually(t, "the device's report in its Device resource", func() bool {
		deps := f.deployments("dev-1")
		return len(deps) == 1 && deps[0].State == "running" && deps[0].Observed == "1.0.0"
	})

	// An application written straight into Kubernetes (as with kubectl: no
	// API check) whose module needs more memory than the board has: the
	// gateway checks it for the device's board, records it failed with the
	// reason, and never sends it.
	huge := wasmtest.WAT(t, `(module (memory (export "memory") 40) (func (export "tick")))`)
	hugeSHA := sha256hex(huge)
	must(t, f.admin.PutModule(ctx, hugeSHA, huge))
	must(t, f.admin.Applications().Put(ctx, "huge", fleet.Application{Name: "huge", Version: "1.0.0", SHA256: hugeSHA, Size: len(huge),
		Limits: fleet.Limits{Fuel: 1_000_000, Memory: 40 * 65536, TickMS: 100}, Running: true,
		Selector: fleet.Selector{Labels: map[string]string{"role": "sensor"}}, Rollout: fleet.Rollout{Strategy: fleet.RolloutAllAtOnce}}))
	eventually(t, "huge recorded failed on dev-1", func() bool {
		for _, d := range f.deployments("dev-1") {
			if d.App == "huge" && d.State == "failed" && strings.Contains(d.Detail, "cannot run on board stm32f4-discovery") {
				if n := strings.Count(d.Detail, "cannot run on board"); n != 1 {
					t.Fatalf("huge's detail says the board %d times: %q", n, d.Detail)
				}
				return true
			}
		}
		return false
	})
	must(t, f.admin.Applications().Delete(ctx, "huge"))
	for { // up to the remove that follows the deletion: no deploy of huge
		env, err := mine.recv()
		must(t, err)
		if d, ok := env.Msg.(*protocol.Deploy); ok && d.App == "huge" {
			t.Fatalf("the gateway sent a module the board cannot run: %+v", d)
		}
		if r, ok := env.Msg.(*protocol.Remove); ok && r.App == "huge" {
			break
		}
	}

	// A coarse last-seen while online (every second here, 5 min by default).
	first := f.get("dev-1").Status.LastSeen
	time.Sleep(1100 * time.Millisecond)
	mine.send(&protocol.Heartbeat{Seq: 1})
	eventually(t, "last-seen refreshed", func() bool { return f.get("dev-1").Status.LastSeen.After(first) })

	// The management API is read-only in this mode.
	if code := h.call(h.admin, "PUT", "/v1/devices/x", map[string]any{"board": "linux"}, nil); code != http.StatusForbidden {
		t.Fatalf("API write in Kubernetes mode: status %d, want 403", code)
	}
	var list struct{ Devices []fleet.Device }
	if code := h.call(h.reader, "GET", "/v1/devices", nil, &list); code != http.StatusOK || len(list.Devices) != 3 {
		t.Fatalf("API read: %d %+v", code, list)
	}

	// Revocation made in Kubernetes: the session is closed, the device
	// marked revoked, and refused from then on.
	serial := mine.cert.Leaf.SerialNumber.Text(16)
	must(t, c.Create(ctx, &v1alpha1.CertificateRevocation{ObjectMeta: metav1.ObjectMeta{Name: serial, Namespace: f.ns},
		Spec: v1alpha1.CertificateRevocationSpec{Device: "dev-1", Reason: "stolen", RevokedAt: metav1.Now()}}))
	perr := expect[*protocol.Error](mine)
	if perr.Code != protocol.CodeRevoked {
		t.Fatalf("revocation: %+v", perr)
	}
	eventually(t, "dev-1 revoked in its Device resource", func() bool { return f.get("dev-1").Status.Phase == fleet.PhaseRevoked })
	if _, err := mine.dial(nil); err == nil {
		t.Fatal("a revoked certificate got a session")
	}

	// Reassignment in Kubernetes closes the session of a device moved away.
	moved := newTestDevice(t, h, "dev-4")
	must(t, moved.enroll(f.device("dev-4", "stm32f4-discovery", "gw-1", nil)))
	moved.connect()
	eventually(t, "dev-4 online", func() bool { return f.get("dev-4").Status.Phase == fleet.PhaseOnline })
	_, err := f.admin.Devices().Update(ctx, "dev-4", func(d *fleet.Device) error { d.Gateway = "gw-other"; return nil })
	must(t, err)
	if perr := expect[*protocol.Error](moved); perr.Code != protocol.CodeWrongGateway || !strings.Contains(perr.Message, "gw-other") {
		t.Fatalf("after reassignment: %+v", perr)
	}
	eventually(t, "dev-4 offline", func() bool { return f.get("dev-4").Status.Phase == fleet.PhaseOffline })
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A module applied after its Application, the way the documented kubectl
// command stores it (a file that is valid UTF-8 lands under the
// ConfigMap's data, not binaryData): the deploy waits visibly (a Warning
// event AppModuleMissing on the Device) and goes out once the ConfigMap is
// there, without the device reconnecting. A ConfigMap whose bytes are not
// the module its name says is never sent.
func TestKubernetesModuleAfterItsApplication(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	ctx := context.Background()
	h := f.startKubeGateway("gw-1", t.TempDir(), "")
	dev := newTestDevice(t, h, "dev-1")
	must(t, dev.enroll(f.device("dev-1", "stm32f4-discovery", "gw-1", map[string]string{"role": "blink"})))
	dev.connect()
	// The device heartbeats (every half of the gateway's 1 s interval) for
	// as long as the test waits on the module.
	stop := make(chan struct{})
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
				dev.send(&protocol.Heartbeat{Seq: seq})
			}
		}
	}()
	defer func() { close(stop); <-beat }()
	eventually(t, "dev-1 online", func() bool { return f.get("dev-1").Status.Phase == fleet.PhaseOnline })

	wasm := wasmtest.App(t, "blinker")
	if !utf8.Valid(wasm) {
		t.Fatal("blinker.wasm is not valid UTF-8: pick a module kubectl would put under data")
	}
	sha := sha256hex(wasm)
	must(t, f.admin.Applications().Put(ctx, "blink", fleet.Application{Name: "blink", Version: "1.0.0", SHA256: sha, Size: len(wasm),
		Limits: fleet.Limits{Fuel: 1_000_000, Memory: 65536, TickMS: 100}, Running: true,
		Selector: fleet.Selector{Labels: map[string]string{"role": "blink"}}, Rollout: fleet.Rollout{Strategy: fleet.RolloutAllAtOnce}}))
	eventually(t, "a Warning event AppModuleMissing on dev-1", func() bool {
		var evs corev1.EventList
		must(t, env.Client.List(ctx, &evs, client.InNamespace(f.ns)))
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "dev-1" && e.Reason == "AppModuleMissing" && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, sha) {
				return true
			}
		}
		return false
	})

	// A ConfigMap under the module's name holding other bytes is refused.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: kubestore.ModulePrefix + sha, Namespace: f.ns},
		Data: map[string]string{sha: string(wasm[:len(wasm)-1])}}
	must(t, env.Client.Create(ctx, cm))
	time.Sleep(2 * gateway.ModuleWaitEvery) // two looks at it: nothing must be sent
	must(t, env.Client.Delete(ctx, cm))

	// What `kubectl create configmap module-$SHA --from-file=$SHA=app.wasm` makes.
	cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: kubestore.ModulePrefix + sha, Namespace: f.ns},
		Data: map[string]string{sha: string(wasm)}}
	must(t, env.Client.Create(ctx, cm))
	created := time.Now()
	dep := expect[*protocol.Deploy](dev)
	if dep.App != "blink" || int(dep.Size) != len(wasm) {
		t.Fatalf("deploy %+v", dep)
	}
	// Sent on the module's arrival (looked for every ModuleWaitEvery), not
	// by the reconcile loop's 30 s safety pass.
	if took := time.Since(created); took >= 15*time.Second {
		t.Fatalf("the deploy went out %v after the module arrived: not on its arrival", took)
	}
}
