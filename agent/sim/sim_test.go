package sim_test

import (
	"context"
	"net"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/agenttest"
	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// A fleet against agenttest.Gateway, a scripted test double of the gateway
// (not the real one): every device enrolls, connects from
// its own loopback address, takes a deploy and publishes; the module is
// compiled once for the whole fleet; goroutines stay a small constant per
// device.
func TestFleet(t *testing.T) {
	const n = 40
	g := agenttest.NewGateway(t)
	g.HeartbeatMS = 200
	before := goruntime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, err := sim.Start(ctx, sim.Config{
		Devices:     n,
		Dir:         t.TempDir(),
		Bundle:      func(name string) (*agent.Bundle, error) { return g.Bundle(name, "token-"+name), nil },
		SourceAddrs: sim.LoopbackAddrs(8),
		StartSpread: 200 * time.Millisecond,
		Agent: func(_ int, c *agent.Config) {
			c.MinBackoff, c.MaxBackoff, c.OutputInterval = 20*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WaitConnected(ctx, n); err != nil {
		t.Fatal(err)
	}
	if got := g.Enrollments.Load(); got != n {
		t.Errorf("%d enrollments for %d devices", got, n)
	}

	wasm := wasmtest.App(t, "sensor")
	sources := map[string]bool{}
	var wg sync.WaitGroup
	for range n {
		s := g.NextSession(t)
		host, _, _ := net.SplitHostPort(s.Conn.RemoteAddr().String())
		sources[host] = true
		wg.Go(func() {
			st := s.Deploy(t, protocol.Deploy{App: "sensor", Generation: 1, Version: "1.0.0", Start: true,
				Limits: protocol.Limits{Fuel: 1_000_000, Memory: 65536, TickMS: 50}}, wasm, 1024)
			if st.State != protocol.AppStateRunning {
				t.Errorf("%s: %+v", s.Device, st)
				return
			}
			s.Values(t, "sensor", 2)
		})
	}
	wg.Wait()
	if len(sources) != 8 || !sources["127.0.0.2"] {
		t.Errorf("connections from %v, want 8 loopback addresses", sources)
	}
	if c := f.Engine().CachedModules(); c != 1 {
		t.Errorf("%d compiled modules for one module on %d devices", c, n)
	}
	// Per connected device: session reader, heartbeat/output loop, runtime
	// events; plus the gateway double's reader per session. No goroutine per app.
	if extra := goruntime.NumGoroutine() - before; extra > 5*n+20 {
		t.Errorf("%d goroutines for %d devices", extra, n)
	}
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.Agents() {
		if a.Status().Connected || !strings.HasPrefix(a.Name(), "sim-000") {
			t.Errorf("%s after stop: %+v", a.Name(), a.Status())
		}
	}
}

func TestLoopbackAddrs(t *testing.T) {
	got := sim.LoopbackAddrs(300)
	if got[0] != "127.0.0.2" || got[253] != "127.0.0.255" || got[254] != "127.0.1.0" || len(got) != 300 {
		t.Fatalf("%v ... %v", got[:2], got[250:])
	}
}

// BenchmarkFleet connects a fleet of 200 devices running the sensor app and
// reports the heap each device costs once connected and running (the
// gateway double's side of each session is in the same process and counts too).
func BenchmarkFleet(b *testing.B) {
	const n = 200
	wasm := wasmtest.App(b, "sensor")
	for range b.N {
		g := agenttest.NewGateway(b)
		g.HeartbeatMS = 1000
		var ms0, ms1 goruntime.MemStats
		goruntime.GC()
		goruntime.ReadMemStats(&ms0)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		f, err := sim.Start(ctx, sim.Config{Devices: n, Dir: b.TempDir(),
			Bundle: func(name string) (*agent.Bundle, error) { return g.Bundle(name, "t-"+name), nil }})
		if err != nil {
			b.Fatal(err)
		}
		if err := f.WaitConnected(ctx, n); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for range n {
			s := g.NextSession(b)
			wg.Go(func() {
				s.Deploy(b, protocol.Deploy{App: "sensor", Generation: 1, Version: "1", Start: true,
					Limits: protocol.Limits{Fuel: 1_000_000, Memory: 65536, TickMS: 100}}, wasm, 4096)
			})
		}
		wg.Wait()
		goruntime.GC()
		goruntime.ReadMemStats(&ms1)
		b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/n, "heap-bytes/device")
		if err := f.Stop(); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}
