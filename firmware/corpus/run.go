package corpus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/agent/runtime"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/protocol"
)

// agentMinBudget is the least wall-clock time RunOnAgent gives a call.
const agentMinBudget = time.Second

// Result is what an entry did on a runtime.
type Result struct {
	State  string // running (still, after the ticks asked for), or why it stopped
	Detail string
	Ticks  []float64 // KeyTick values, in order
	Sums   []float64 // KeySum values, in order (Sums[i] goes with Ticks[i])
	Logs   []string
	// Toggles counts the changes of GPIO pin 0 seen (apps without memory
	// publish nothing; their ticks show there).
	Toggles int
}

// RunOnAgent installs and starts e on the Go agent's runtime (agent/runtime,
// wazero) as a device of board p, with the entry's limits but ticks every
// tickMS, and watches it until it has ticked n times (n values of KeyTick, or
// n changes of pin 0 for an app without memory) or has stopped. ctx bounds
// the wait. An install the runtime refuses is a Result with state failed or
// out_of_memory and the reason.
//
// Fuel becomes wall-clock time on the agent (docs/abi.md, Fuel); the budget
// of a call is at least agentMinBudget here, so that a machine busy with
// other work (QEMU boards) does not stop a behaving call as fuel_exhausted.
func RunOnAgent(ctx context.Context, e Entry, p board.Profile, n int, tickMS uint32) (Result, error) {
	budget := func(fuel uint64) time.Duration { return max(abi.FuelBudget(fuel), agentMinBudget) }
	eng, err := runtime.New(ctx, runtime.Config{Budget: budget})
	if err != nil {
		return Result{}, err
	}
	defer eng.Close(context.Background())
	s := &sink{changed: make(chan struct{}, 1)}
	dev := eng.NewDevice(runtime.DeviceConfig{Board: p, Sink: s})
	defer dev.Close()
	lim := protocol.Limits{Fuel: e.Limits.Fuel, Memory: e.Limits.Memory, TickMS: tickMS}
	info, err := dev.Install(ctx, runtime.AppSpec{Name: e.Name, Version: "1", Limits: lim, Config: e.Config}, e.Wasm)
	if err != nil {
		return Result{State: info.State.String(), Detail: info.Detail}, nil
	}
	info, err = dev.Start(ctx, e.Name)
	if err != nil {
		return Result{}, err
	}
	if info.State != protocol.AppStateRunning { // init stopped it
		r := s.result()
		r.State, r.Detail = info.State.String(), info.Detail
		return r, nil
	}
	poll := time.NewTicker(time.Duration(max(tickMS/2, 1)) * time.Millisecond)
	defer poll.Stop()
	pin := dev.Pin(0)
	toggles := 0
	for {
		if v := dev.Pin(0); v != pin {
			pin = v
			toggles++
		}
		r := s.result()
		r.Toggles = toggles
		switch {
		case r.State != "":
			return r, nil
		case len(r.Ticks) >= n && len(r.Sums) >= n || (!e.Expect.Publish && toggles >= n):
			r.State = StateRunning
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("corpus: %s on the agent: %w after %d ticks", e.Name, ctx.Err(), max(len(r.Ticks), toggles))
		case <-s.changed:
		case <-poll.C:
		}
	}
}

// sink keeps what the app produces.
type sink struct {
	mu      sync.Mutex
	r       Result
	changed chan struct{}
}

func (s *sink) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *sink) Log(_ string, rec protocol.LogRecord) {
	s.mu.Lock()
	s.r.Logs = append(s.r.Logs, rec.Text)
	s.mu.Unlock()
}

func (s *sink) Publish(_ string, rec protocol.ValueRecord) bool {
	s.mu.Lock()
	switch rec.Key {
	case KeyTick:
		s.r.Ticks = append(s.r.Ticks, rec.Value)
	case KeySum:
		s.r.Sums = append(s.r.Sums, rec.Value)
	}
	s.mu.Unlock()
	s.poke()
	return true
}

func (s *sink) Stopped(_ string, st protocol.AppState, detail string) {
	s.mu.Lock()
	s.r.State, s.r.Detail = st.String(), detail
	s.mu.Unlock()
	s.poke()
}

func (s *sink) result() Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.r
	r.Ticks = append([]float64(nil), r.Ticks...)
	r.Sums = append([]float64(nil), r.Sums...)
	r.Logs = append([]string(nil), r.Logs...)
	return r
}

// ErrMismatch is returned by Check when a Result is not what an entry's
// expectation says.
var ErrMismatch = errors.New("corpus: unexpected result")

// Check compares a Result with what e should do once accepted: its Expect's
// state, and for an app that publishes, KeyTick = Base+1, Base+2, ... (the
// first Expect.Ticks of them for an app that traps after ticking).
func (e *Entry) Check(r Result) error {
	if r.State != e.Expect.State {
		return fmt.Errorf("%w: %s is %s (%s), expected %s", ErrMismatch, e.Name, r.State, r.Detail, e.Expect.State)
	}
	if r.State != StateRunning && r.Detail == "" {
		return fmt.Errorf("%w: %s is %s without a reason", ErrMismatch, e.Name, r.State)
	}
	if !e.Expect.Publish {
		if len(r.Ticks) != 0 {
			return fmt.Errorf("%w: %s published %v", ErrMismatch, e.Name, r.Ticks)
		}
		return nil
	}
	if e.Expect.Ticks > 0 && len(r.Ticks) != e.Expect.Ticks {
		return fmt.Errorf("%w: %s published %d ticks %v before stopping, expected %d", ErrMismatch, e.Name, len(r.Ticks), r.Ticks, e.Expect.Ticks)
	}
	if r.State == StateRunning && len(r.Ticks) == 0 {
		return fmt.Errorf("%w: %s runs but published nothing", ErrMismatch, e.Name)
	}
	for i, v := range r.Ticks {
		if v != e.Expect.Base+float64(i+1) {
			return fmt.Errorf("%w: %s published %s = %v on tick %d, expected %v", ErrMismatch, e.Name, KeyTick, v, i+1, e.Expect.Base+float64(i+1))
		}
	}
	return nil
}
