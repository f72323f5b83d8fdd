// Package sim runs a fleet of simulated devices in one process: N agents
// (package agent), each with its own state directory, key, certificate and
// TLS session, sharing one runtime.Engine (one wazero runtime, one compiled
// module cache, one tick scheduler). It is for tests and load benchmarks of
// a gateway.
//
// Per device the cost is the agent's state, its TLS connection and two
// goroutines while connected (session reader and the heartbeat/output
// loop) plus one for runtime stops; app ticks run on the engine's shared
// workers, not on per-app goroutines.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/agent/runtime"
)

// Config describes a fleet.
type Config struct {
	// Devices is the number of agents.
	Devices int
	// Name gives device i's name (0-based); nil means "sim-%05d" of i+1.
	Name func(i int) string
	// Dir holds one state directory per device, Dir/<name>.
	Dir string
	// Bundle gives a device's provisioning bundle (with its enrollment token).
	// It may return nil for a device already enrolled in its directory.
	Bundle func(name string) (*agent.Bundle, error)
	// SourceAddrs are local IPs the devices connect from, round robin (see
	// LoopbackAddrs); empty means the system's choice.
	SourceAddrs []string
	// Engine runs every device's apps; nil means one made for the fleet.
	Engine *runtime.Engine
	// Agent adjusts each device's agent.Config (intervals, backoff...).
	Agent func(i int, cfg *agent.Config)
	// StartSpread staggers the devices' first connections over this long,
	// so a big fleet does not hit the gateway in one instant.
	StartSpread time.Duration
	Logger      *slog.Logger
}

// Fleet is a running set of simulated devices.
type Fleet struct {
	agents    []*agent.Agent
	engine    *runtime.Engine
	ownEngine bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	mu        sync.Mutex
	errs      []error
}

// DefaultName is the default device name, "sim-00001" for i = 0.
func DefaultName(i int) string { return fmt.Sprintf("sim-%05d", i+1) }

// LoopbackAddrs returns n loopback addresses from 127.0.0.2 on (Linux
// routes all of 127.0.0.0/8 to the loopback interface), so a gateway sees
// the devices come from many IPs.
func LoopbackAddrs(n int) []string {
	out := make([]string, n)
	for i := range n {
		v := 2 + i
		out[i] = net.IPv4(127, byte(v>>16), byte(v>>8), byte(v)).String()
	}
	return out
}

// Start creates the devices and runs them until Stop (or ctx is done).
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	if cfg.Devices <= 0 {
		return nil, errors.New("sim: no devices")
	}
	if cfg.Name == nil {
		cfg.Name = DefaultName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{engine: cfg.Engine}
	if f.engine == nil {
		e, err := runtime.New(ctx, runtime.Config{Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("sim: runtime: %w", err)
		}
		f.engine, f.ownEngine = e, true
	}
	for i := range cfg.Devices {
		name := cfg.Name(i)
		var b *agent.Bundle
		if cfg.Bundle != nil {
			var err error
			if b, err = cfg.Bundle(name); err != nil {
				f.closeEngine()
				return nil, fmt.Errorf("sim: device %s: bundle: %w", name, err)
			}
		}
		ac := agent.Config{Dir: filepath.Join(cfg.Dir, name), Bundle: b, Engine: f.engine,
			Logger: cfg.Logger.With("device", name), Firmware: "wasmbed-sim/" + agent.Version}
		if len(cfg.SourceAddrs) > 0 {
			ac.LocalAddr = cfg.SourceAddrs[i%len(cfg.SourceAddrs)]
		}
		if cfg.Agent != nil {
			cfg.Agent(i, &ac)
		}
		a, err := agent.New(ac)
		if err != nil {
			f.closeEngine()
			return nil, fmt.Errorf("sim: device %s: %w", name, err)
		}
		f.agents = append(f.agents, a)
	}
	ctx, f.cancel = context.WithCancel(ctx)
	for i, a := range f.agents {
		f.wg.Go(func() {
			if cfg.StartSpread > 0 {
				select {
				case <-time.After(cfg.StartSpread * time.Duration(i) / time.Duration(len(f.agents))):
				case <-ctx.Done():
					return
				}
			}
			if err := a.Run(ctx); err != nil {
				f.mu.Lock()
				f.errs = append(f.errs, fmt.Errorf("device %s: %w", a.Name(), err))
				f.mu.Unlock()
			}
		})
	}
	return f, nil
}

func (f *Fleet) closeEngine() {
	if f.ownEngine {
		_ = f.engine.Close(context.Background())
	}
}

// Agents returns the fleet's agents, in device order.
func (f *Fleet) Agents() []*agent.Agent { return f.agents }

// Engine is the runtime shared by the fleet.
func (f *Fleet) Engine() *runtime.Engine { return f.engine }

// Connected counts devices with a mutual-TLS session up.
func (f *Fleet) Connected() int {
	n := 0
	for _, a := range f.agents {
		if a.Status().Connected {
			n++
		}
	}
	return n
}

// WaitConnected waits until at least n devices are connected.
func (f *Fleet) WaitConnected(ctx context.Context, n int) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if c := f.Connected(); c >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sim: %d of %d devices connected: %w", f.Connected(), n, ctx.Err())
		case <-t.C:
		}
	}
}

// Stop ends every device and returns the errors their Run returned.
func (f *Fleet) Stop() error {
	f.cancel()
	f.wg.Wait()
	f.closeEngine()
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.errs...)
}
