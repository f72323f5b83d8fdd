package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// severable returns a copy of cfg whose requests fail once sever is
// called: a gateway run with it and then stopped says nothing more to the
// API server, as one killed with SIGKILL (its Lease is not renewed nor
// released, no device status is written on the way out).
func severable(cfg *rest.Config) (*rest.Config, func()) {
	var cut atomic.Bool
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if cut.Load() {
				return nil, errors.New("killed (test): no more requests")
			}
			return rt.RoundTrip(r)
		})
	})
	return cfg, func() { cut.Store(true) }
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// killKubeGateway "kills" a gateway started with a severable
// configuration: its API server access cut first, then the process
// stopped; its devices' connections close.
func killKubeGateway(h *harness, sever func()) {
	sever()
	h.cancel()
	h.cancel = nil
	select {
	case <-h.done: // its error, if any, is the cut's
	case <-time.After(30 * time.Second):
		h.t.Error("gateway did not stop in 30s")
	}
}

// Failover: three gateways holding Leases, a controller, agents whose
// bundles list every gateway, an app running. One gateway is killed (no
// word to the API server after that: its Lease neither renewed nor
// released). Its devices are marked offline/Unknown and moved to the live
// gateways when its Lease expires, spread over them, each with a
// Reassigned event; they reach their new gateway (trying the bundle's
// gateways in turn, refused with wrong_gateway where not assigned) and run
// their app again within a bound derived from the lease duration and the
// agents' backoff; nothing redeployed, and the next version rolls out on
// the new gateways. The Device writes during the failover are counted.
func TestKubernetesFailover(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	ctx := context.Background()
	f.runController()
	const (
		leaseDur, leaseRenew = 4 * time.Second, time.Second
		minBackoff, maxBack  = 50 * time.Millisecond, 500 * time.Millisecond
		n                    = 6
	)
	tune := func(o *Options) {
		o.LeaseDuration, o.LeaseRenew = leaseDur, leaseRenew
		o.LastSeenInterval = 0 // the default (45 min): only the failover writes Devices
	}
	names := []string{"gw-a", "gw-b", "gw-c"}
	cfgA, sever := severable(f.env.GatewayUser(t, f.ns, "gw-a"))
	hs := map[string]*harness{"gw-a": startKubeGatewayAs(t, cfgA, f.ns, "gw-a", t.TempDir(), "", tune)}
	for _, name := range names[1:] {
		hs[name] = f.startKubeGateway(name, t.TempDir(), "", tune)
	}
	eventually(t, "every gateway Ready by its lease", func() bool {
		for _, name := range names {
			var gw v1alpha1.Gateway
			must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &gw))
			c := meta.FindStatusCondition(gw.Status.Conditions, "Ready")
			if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "lease") {
				return false
			}
		}
		return true
	})

	labels := map[string]string{"role": "sensor"}
	tokens := map[string]string{}
	for i := range n {
		tokens[sim.DefaultName(i)] = f.device(sim.DefaultName(i), "linux", "", labels)
	}
	endpoints := []string{hs["gw-a"].device, hs["gw-b"].device, hs["gw-c"].device}
	root := hs["gw-a"].readFile(CACertFile)
	fl, err := sim.Start(ctx, sim.Config{Devices: n, Dir: t.TempDir(), SourceAddrs: sim.LoopbackAddrs(4),
		Bundle: func(name string) (*agent.Bundle, error) {
			return &agent.Bundle{Gateways: endpoints, CARoot: root, ServerName: "127.0.0.1",
				Device: name, Token: tokens[name], Board: "linux"}, nil
		},
		Agent: func(_ int, c *agent.Config) {
			c.MinBackoff, c.MaxBackoff = minBackoff, maxBack
			c.OutputInterval = 100 * time.Millisecond
		},
		Logger: testLogger()})
	must(t, err)
	t.Cleanup(func() { fl.Stop() })
	eventually(t, "all agents connected", func() bool { return fl.Connected() == n })
	sel := fleet.Selector{Labels: labels}
	f.putApp("sensor", "1.0.0", wasmtest.App(t, "sensor"), sel, 50)
	before := f.waitRunning("sensor", "1.0.0", n)
	var victims []string
	for i := range n {
		if d := f.get(sim.DefaultName(i)); d.Gateway == "gw-a" {
			victims = append(victims, d.Name)
		}
	}
	if len(victims) != n/len(names) {
		t.Fatalf("gw-a holds %v, want %d devices", victims, n/len(names))
	}

	// Kill gw-a.
	w0, _, by0 := apiServerWrites(t, env)
	killed := time.Now()
	killKubeGateway(hs["gw-a"], sever)

	// The bound: the Lease expires at most its duration after its last
	// renewal (before the kill); the controller then moves the devices,
	// and each reaches its new gateway within one round of its bundle's
	// gateways (at most minBackoff each) plus one round's wait (at most
	// maxBackoff); one lease duration more is the margin for the API
	// server's watches, the controller's and the gateways' work.
	bound := 2*leaseDur + time.Duration(len(names))*minBackoff + maxBack
	eventually(t, "gw-a Ready=False LeaseExpired", func() bool {
		var gw v1alpha1.Gateway
		must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "gw-a"}, &gw))
		c := meta.FindStatusCondition(gw.Status.Conditions, "Ready")
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == "LeaseExpired"
	})
	eventuallyWithin(t, bound, "gw-a's devices online on other gateways, running sensor 1.0.0", func() bool {
		for _, name := range victims {
			d := f.get(name)
			if d.Gateway == "gw-a" || d.Gateway == "" || d.Status.Phase != fleet.PhaseOnline {
				return false
			}
		}
		for _, a := range fl.Agents() {
			if info, ok := a.Device().App("sensor"); !ok || info.State != protocol.AppStateRunning {
				return false
			}
		}
		return fl.Connected() == n
	})
	took := time.Since(killed)
	time.Sleep(leaseRenew) // the last writes of the failover
	w1, _, by1 := apiServerWrites(t, env)
	deviceWrites := 0.0
	var writes []string
	for k, v := range by1 {
		if d := v - by0[k]; d > 0 {
			writes = append(writes, fmt.Sprintf("%s: %.0f", k, d))
			if strings.HasPrefix(k, "devices/") {
				deviceWrites += d
			}
		}
	}
	t.Logf("failover of %d devices in %v (bound %v); %.0f writes, %.0f of Devices: %v", len(victims),
		took.Round(time.Millisecond), bound, w1-w0, deviceWrites, writes)
	// Per moved device: its assignment, Unknown, online on its new
	// gateway, and a few status writes of that session's start; no storm.
	if max := 6 * len(victims); deviceWrites > float64(max) {
		t.Errorf("%.0f Device writes for %d moved devices (at most %d)", deviceWrites, len(victims), max)
	}

	// Spread over the live gateways, each with its event; nothing
	// redeployed; the records still say running at the same generations.
	per := map[string]int{}
	for _, name := range victims {
		per[f.get(name).Gateway]++
		var evs corev1.EventList
		must(t, env.Client.List(ctx, &evs, client.InNamespace(f.ns)))
		found := false
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == name && e.Reason == "Reassigned" && strings.Contains(e.Message, "lease expired") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no Reassigned event naming the expired lease", name)
		}
	}
	if len(per) != 2 {
		t.Errorf("gw-a's devices went to %v, want both live gateways", per)
	}
	after := f.waitRunning("sensor", "1.0.0", n)
	for dev, d := range after {
		if d.Generation != before[dev].Generation {
			t.Errorf("%s: generation %d after the failover, %d before: redeployed", dev, d.Generation, before[dev].Generation)
		}
	}
	// The rollout carries on behind the live gateways.
	f.putApp("sensor", "1.1.0", wasmtest.App(t, "sensor"), sel, 50)
	f.waitRunning("sensor", "1.1.0", n)
}

// A gateway holds its Lease: created with its duration and label, renewed
// every renewal period, and taken over (a new holder, one transition more)
// by the process that restarts under its name.
func TestKubernetesGatewayLease(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	ctx := context.Background()
	const renew = 500 * time.Millisecond
	tune := func(o *Options) { o.LeaseDuration, o.LeaseRenew = 3*time.Second, renew }
	dir := t.TempDir()
	h := f.startKubeGateway("gw-1", dir, "", tune)
	get := func() coordinationv1.Lease {
		var l coordinationv1.Lease
		must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: kubestore.GatewayLeaseName("gw-1")}, &l))
		return l
	}
	var first coordinationv1.Lease
	eventually(t, "gw-1's lease", func() bool {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: kubestore.GatewayLeaseName("gw-1")}, &first)
		return err == nil
	})
	if gw, ok := kubestore.LeaseGateway(&first); !ok || gw != "gw-1" || kubestore.LeaseDuration(&first) != 3*time.Second ||
		first.Spec.HolderIdentity == nil || !strings.HasPrefix(*first.Spec.HolderIdentity, "gw-1_") {
		t.Fatalf("lease %+v", first)
	}
	eventuallyWithin(t, 4*renew, "a renewal", func() bool {
		return get().Spec.RenewTime.After(first.Spec.RenewTime.Time)
	})
	devAddr := h.device
	h.stop()
	f.startKubeGateway("gw-1", dir, devAddr, tune)
	// Within a lease duration of its start, or the controller would see
	// the Lease expire.
	eventuallyWithin(t, 3*time.Second, "the restarted gw-1 holding its lease", func() bool {
		l := get()
		return *l.Spec.HolderIdentity != *first.Spec.HolderIdentity && l.Spec.LeaseTransitions != nil && *l.Spec.LeaseTransitions == 1
	})
}
