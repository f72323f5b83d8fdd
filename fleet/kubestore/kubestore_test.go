package kubestore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/fleet/storetest"
)

func logger() *slog.Logger {
	if os.Getenv("WASMBED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func open(t *testing.T, env *kubetest.Env, ns string) *kubestore.Store {
	t.Helper()
	s, err := kubestore.Open(context.Background(), env.Config, kubestore.Options{Namespace: ns, Component: "test", Log: logger(),
		RetryInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The same behaviour as the embedded store (package storetest), against a
// real kube-apiserver: each test in a fresh namespace.
func TestConformance(t *testing.T) {
	env := kubetest.Start(t)
	storetest.Run(t, storetest.Harness{
		New:         func(t *testing.T) fleet.Store { return open(t, env, env.Namespace(t)) },
		OutputBound: 200,
	})
}

// The store's objects, as Kubernetes users see them.
func TestResources(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	s := open(t, env, ns)
	defer s.Close()
	c := env.Client

	must(t, s.Devices().Create(ctx, "dev-1", fleet.Device{Name: "dev-1", Board: "linux", Labels: map[string]string{"site": "a"},
		Status: fleet.DeviceStatus{Phase: fleet.PhaseRegistered}}))
	must(t, s.Deployments().Put(ctx, "sensor/dev-1", fleet.Deployment{App: "sensor", Device: "dev-1", Generation: 3, Command: "deploy", State: "downloading"}))
	_, err := s.Devices().Update(ctx, "dev-1", func(d *fleet.Device) error { d.Status.Phase = fleet.PhaseOnline; return nil })
	must(t, err)
	var dev v1alpha1.Device
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dev-1"}, &dev))
	if dev.Spec.Board != "linux" || dev.Status.Phase != "online" || len(dev.Status.Deployments) != 1 ||
		dev.Status.Deployments[0].Generation != 3 || dev.Status.Deployments[0].App != "sensor" {
		t.Fatalf("Device resource: %+v", dev)
	}
	if len(dev.Status.Conditions) != 1 || dev.Status.Conditions[0].Type != "Online" || dev.Status.Conditions[0].Status != "True" {
		t.Fatalf("Online condition: %+v", dev.Status.Conditions)
	}

	// A write that changes nothing is not sent.
	before := dev.ResourceVersion
	_, err = s.Devices().Update(ctx, "dev-1", func(d *fleet.Device) error { d.Status.Phase = fleet.PhaseOnline; return nil })
	must(t, err)
	deps, err := s.Deployments().List(ctx)
	must(t, err)
	must(t, s.Deployments().PutMany(ctx, map[string]fleet.Deployment{"sensor/dev-1": deps[0]}))
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dev-1"}, &dev))
	if dev.ResourceVersion != before {
		t.Fatalf("writes that change nothing moved the resource version %s -> %s", before, dev.ResourceVersion)
	}

	// Tokens keep only the hash.
	must(t, s.Tokens().Create(ctx, "0011223344556677", fleet.EnrollmentToken{ID: "0011223344556677", Device: "dev-1",
		Hash: strings.Repeat("ab", 32), ExpiresAt: time.Now().Add(time.Hour)}))
	var tok v1alpha1.EnrollmentToken
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "0011223344556677"}, &tok))
	if tok.Spec.Hash != v1alpha1.SHA256(strings.Repeat("ab", 32)) || tok.Status.UsedAt != nil {
		t.Fatalf("token resource: %+v", tok)
	}

	// Modules: ConfigMaps, immutable, size-limited.
	sha := strings.Repeat("0f", 32)
	must(t, s.PutModule(ctx, sha, []byte("\x00asm\x01\x00\x00\x00")))
	var cm corev1.ConfigMap
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "module-" + sha}, &cm))
	if cm.Immutable == nil || !*cm.Immutable || string(cm.BinaryData[sha]) != "\x00asm\x01\x00\x00\x00" {
		t.Fatalf("module ConfigMap: %+v", cm)
	}
	big := make([]byte, kubestore.MaxModuleSize+1)
	if err := s.PutModule(ctx, strings.Repeat("1e", 32), big); err == nil || !strings.Contains(err.Error(), "ConfigMap") {
		t.Fatalf("module over the ConfigMap limit: %v", err)
	}
	must(t, s.PutModule(ctx, strings.Repeat("2d", 32), big[:kubestore.MaxModuleSize]))

	// Names Kubernetes cannot hold are refused clearly.
	if err := s.Devices().Create(ctx, "Dev_1", fleet.Device{Name: "Dev_1", Board: "linux"}); !errors.Is(err, kubestore.ErrInvalidName) {
		t.Fatalf("device Dev_1: %v", err)
	}

	// Events: a Kubernetes Event on the device, and the in-memory history.
	_, err = s.AppendEvent(ctx, fleet.Event{Kind: "app.trapped", Object: "sensor/dev-1", Message: "unreachable executed"})
	must(t, err)
	_, err = s.AppendEvent(ctx, fleet.Event{Kind: "device.reset", Object: "dev-1", Message: "unexpected reset: watchdog"})
	must(t, err)
	for reason, msg := range map[string]string{"AppTrapped": "app sensor: unreachable executed", "DeviceReset": "unexpected reset: watchdog"} {
		eventually(t, "a Warning event "+reason+" on Device dev-1", func() bool {
			var evs corev1.EventList
			must(t, c.List(ctx, &evs, client.InNamespace(ns)))
			for _, e := range evs.Items {
				if e.InvolvedObject.Kind == "Device" && e.InvolvedObject.Name == "dev-1" && e.Type == "Warning" &&
					e.Reason == reason && strings.Contains(e.Message, msg) {
					return true
				}
			}
			return false
		})
	}

	// Another client's change arrives on Watch.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx)
	app := &v1alpha1.Application{}
	app.Name, app.Namespace = "other", ns
	app.Spec = v1alpha1.ApplicationSpec{Version: "1", SHA256: v1alpha1.SHA256(sha)}
	must(t, c.Create(ctx, app))
	for ch := range ch {
		if ch == (fleet.Change{Kind: fleet.KindApplication, Key: "other"}) {
			break
		}
	}
	a, err := s.Applications().Get(ctx, "other")
	must(t, err)
	if a.Limits.Fuel != fleet.DefaultFuel || !a.Running || a.Generation != 1 {
		t.Fatalf("application with the API server's defaults: %+v", a)
	}
}

// While the API server is down, reads keep answering from the cache and
// status writes are kept in memory; when it is back they are written.
// Desired-state writes fail meanwhile.
func TestAPIServerOutage(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	s := open(t, env, ns)
	defer s.Close()
	must(t, s.Devices().Create(ctx, "dev-1", fleet.Device{Name: "dev-1", Board: "linux"}))
	must(t, s.Deployments().Put(ctx, "app/dev-1", fleet.Deployment{App: "app", Device: "dev-1", Generation: 4, Command: "deploy", State: "downloading"}))

	stop := time.Now()
	env.StopAPIServer(t)
	t.Logf("kube-apiserver stopped in %v", time.Since(stop).Round(time.Millisecond))
	_, err := s.Devices().Update(ctx, "dev-1", func(d *fleet.Device) error { d.Status.Phase = fleet.PhaseOnline; return nil })
	must(t, err)
	_, err = s.Deployments().Update(ctx, "app/dev-1", func(d *fleet.Deployment) error { d.State = "running"; return nil })
	must(t, err)
	if s.Pending() != 1 {
		t.Fatalf("%d devices pending, want 1", s.Pending())
	}
	d, err := s.Devices().Get(ctx, "dev-1")
	must(t, err)
	dep, err := s.Deployments().Get(ctx, "app/dev-1")
	must(t, err)
	if d.Status.Phase != fleet.PhaseOnline || dep.State != "running" || dep.Generation != 4 {
		t.Fatalf("reads during the outage: %+v %+v", d.Status, dep)
	}
	// A write of a generation must not pretend: it fails.
	dep.Generation++
	if err := s.Deployments().PutMany(ctx, map[string]fleet.Deployment{"app/dev-1": dep}); err == nil || !kubestore.Unreachable(err) {
		t.Fatalf("PutMany during the outage: %v", err)
	}
	// Unless it changes nothing (a resumed transfer re-sends what was recorded).
	dep.Generation--
	must(t, s.Deployments().PutMany(ctx, map[string]fleet.Deployment{"app/dev-1": dep}))
	if err := s.Applications().Put(ctx, "x", fleet.Application{Name: "x", Version: "1", SHA256: strings.Repeat("0f", 32)}); err == nil {
		t.Fatal("application write during the outage succeeded")
	}

	start := time.Now()
	env.StartAPIServer(t)
	t.Logf("kube-apiserver restarted in %v", time.Since(start).Round(time.Millisecond))
	eventually(t, "the status kept in memory written", func() bool {
		var o v1alpha1.Device
		if env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dev-1"}, &o) != nil {
			return false
		}
		return o.Status.Phase == "online" && len(o.Status.Deployments) == 1 && o.Status.Deployments[0].State == "running" &&
			o.Status.Deployments[0].Generation == 4 && s.Pending() == 0
	})
	t.Logf("status kept in memory written %v after the restart", time.Since(start).Round(time.Millisecond))
	// The informers are back: another client's change is seen.
	var o v1alpha1.Device
	must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dev-1"}, &o))
	o.Spec.Labels = v1alpha1.Labels{"site": "b"}
	must(t, env.Client.Update(ctx, &o))
	eventually(t, "the label change in the cache", func() bool {
		d, err := s.Devices().Get(ctx, "dev-1")
		return err == nil && d.Labels["site"] == "b"
	})
	t.Logf("informers caught up %v after the restart", time.Since(start).Round(time.Millisecond))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// After a long outage the store follows the API server again within a few
// of its probes (FollowProbe), not when client-go's reflectors end their
// backoff (up to a minute after a long outage): a change another client
// makes right after the restart is seen in the store within that bound.
func TestCatchUpAfterALongOutage(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	s := open(t, env, ns)
	defer s.Close()
	must(t, s.Devices().Create(ctx, "dev-1", fleet.Device{Name: "dev-1", Board: "linux"}))
	env.StopAPIServer(t)
	// Long enough for the reflectors' backoff to reach tens of seconds.
	time.Sleep(20 * time.Second)
	env.StartAPIServer(t)
	start := time.Now()
	var o v1alpha1.Device
	must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dev-1"}, &o))
	o.Spec.Labels = v1alpha1.Labels{"site": "after"}
	must(t, env.Client.Update(ctx, &o))
	// A probe, its timeout, a fresh list of the fleet: a few seconds, far
	// below the reflectors' backoff.
	bound := 4*kubestore.FollowProbe + 2*time.Second + 5*time.Second
	for {
		d, err := s.Devices().Get(ctx, "dev-1")
		if err == nil && d.Labels["site"] == "after" {
			break
		}
		if time.Since(start) > bound {
			t.Fatalf("the store did not see a change made after the outage within %v", bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("caught up %v after the API server answered again", time.Since(start).Round(time.Millisecond))
}
