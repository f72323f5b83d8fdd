package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/module"
	"github.com/wasmbed/wasmbed/protocol"
)

// app is one installed app of a device.
type app struct {
	dev    *Device
	spec   AppSpec
	code   *compiled // released by shutdown
	info   *module.Info
	period time.Duration

	// epoch invalidates scheduled ticks: bumped (under mu) whenever the app
	// leaves the running state. Read without mu by the dispatcher.
	epoch atomic.Uint64

	mu       sync.Mutex // serialises calls and state changes
	state    protocol.AppState
	detail   string
	mod      api.Module // the instance, while running
	init     api.Function
	tick     api.Function
	gone     bool // removed or replaced: never runs again
	released bool

	// Per call, under mu.
	cancelCall context.CancelFunc
	oomSize    uint64 // a memory.grow to this many bytes was refused

	stats Stats // under mu
}

// Stats is what the runtime measured of an app since it was installed: what a
// heartbeat reports of it (protocol.AppMetrics). wazero meters no
// instructions, so there is no fuel count here: the agent turns fuel into a
// time budget per call.
type Stats struct {
	Calls      uint64        // init and tick calls
	CallTime   time.Duration // spent in them
	Traps      uint64        // times the runtime stopped the app
	Memory     uint32        // linear memory of the instance, 0 when none runs
	MemoryPeak uint32
	Starts     uint64 // instantiations
	// Instantiate is how long the last instantiation took.
	Instantiate time.Duration
	Published   uint64 // values accepted by publish
}

// sawMemory notes the instance's memory size, with mu held.
func (a *app) sawMemory() {
	if a.mod == nil || a.mod.Memory() == nil {
		a.stats.Memory = 0
		return
	}
	n := uint32(min(uint64(a.mod.Memory().Size()), uint64(^uint32(0))))
	a.stats.Memory, a.stats.MemoryPeak = n, max(a.stats.MemoryPeak, n)
}

func (a *app) epochNow() uint64 { return a.epoch.Load() }

// Info describes the app.
func (a *app) Info() AppInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AppInfo{Name: a.spec.Name, Version: a.spec.Version, State: a.state, Detail: a.detail,
		SHA256: a.info.SHA256, Size: a.info.Size, Limits: a.spec.Limits, Stats: a.stats}
}

// memoryLimit is the app's linear memory limit in bytes.
func (a *app) memoryLimit() uint64 { return module.MemoryLimit(a.dev.board, a.spec.Limits) }

// instantiate makes a fresh instance, its memory capped by an allocator
// that stops the app when a grow goes past the limit. Called with mu held.
func (a *app) instantiate(ctx context.Context) error {
	if a.dev.e.ctx.Err() != nil {
		return errClosed
	}
	ctx, cancel := context.WithTimeout(ctx, a.dev.e.budget(a.spec.Limits.Fuel))
	defer cancel()
	ctx = experimental.WithMemoryAllocator(ctx, module.NewAllocator(a.memoryLimit(), a.refuseGrow))
	t0 := time.Now()
	mod, err := a.dev.e.rt.InstantiateModule(ctx, a.code.cm, module.InstanceConfig())
	a.stats.Starts++
	a.stats.Instantiate = time.Since(t0)
	if err != nil {
		return err
	}
	a.mod = mod
	a.sawMemory()
	a.init = mod.ExportedFunction(abi.ExportInit)
	a.tick = mod.ExportedFunction(abi.ExportTick)
	return nil
}

// refuseGrow is the allocator's callback: note the size and end the call
// (wazero notices at the app's next call or loop iteration).
func (a *app) refuseGrow(size uint64) {
	a.oomSize = size
	if a.cancelCall != nil {
		a.cancelCall()
	}
}

func (a *app) closeInstance() {
	if a.mod != nil {
		_ = a.mod.Close(context.Background())
		a.mod, a.init, a.tick = nil, nil, nil
	}
}

// call runs one init or tick call under the fuel budget, with mu held. On
// failure it closes the instance and sets the state; it returns whether the
// app goes on.
func (a *app) call(fn api.Function, name string) bool {
	e := a.dev.e
	budget := e.budget(a.spec.Limits.Fuel)
	ctx, cancel := context.WithTimeout(e.ctx, budget)
	a.cancelCall, a.oomSize = cancel, 0
	t0 := time.Now()
	_, err := fn.Call(context.WithValue(ctx, callKey{}, a))
	a.stats.Calls++
	a.stats.CallTime += time.Since(t0)
	cancel()
	a.cancelCall = nil
	a.sawMemory()

	var state protocol.AppState
	var detail string
	var exit *sys.ExitError
	var trap *hostTrap
	switch {
	case a.oomSize != 0:
		state = protocol.AppStateOutOfMemory
		detail = fmt.Sprintf("%s: memory.grow to %s refused: the memory limit is %s", name,
			board.FormatBytes(a.oomSize), board.FormatBytes(a.memoryLimit()))
	case err == nil:
		return true
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
		state = protocol.AppStateFuelExhausted
		detail = fmt.Sprintf("%s used its fuel (%d, a budget of %v on this agent)", name, a.spec.Limits.Fuel, budget)
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled && e.ctx.Err() != nil:
		// The engine is closing: not the app's fault, and nobody to tell.
		a.closeInstance()
		return false
	case errors.As(err, &trap):
		state, detail = protocol.AppStateTrapped, name+": "+trap.msg
	default:
		state = protocol.AppStateTrapped
		msg, _, _ := strings.Cut(err.Error(), "\n") // wazero appends a stack trace
		detail = name + ": " + msg
	}
	detail = clip(detail, protocol.MaxTextLen)
	a.stats.Traps++
	a.setStopped(state, detail)
	a.dev.log.Info("app stopped by the runtime", "app", a.spec.Name, "state", state, "detail", detail)
	return false
}

// setStopped leaves the running state, with mu held.
func (a *app) setStopped(state protocol.AppState, detail string) {
	a.epoch.Add(1)
	a.closeInstance()
	a.stats.Memory = 0
	a.state, a.detail = state, detail
}

func (a *app) start(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gone || a.state == protocol.AppStateRunning {
		return
	}
	a.closeInstance()
	if err := a.instantiate(ctx); err != nil {
		a.state, a.detail = protocol.AppStateFailed, clip("does not instantiate: "+err.Error(), protocol.MaxTextLen)
		return
	}
	a.state, a.detail = protocol.AppStateRunning, ""
	if a.init != nil && !a.call(a.init, abi.ExportInit) {
		return
	}
	epoch := a.epoch.Add(1)
	a.dev.e.sched.add(a, time.Now().Add(a.period), epoch)
}

func (a *app) stop(state protocol.AppState, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gone {
		return
	}
	a.setStopped(state, detail)
}

// shutdown stops the app for good and drops its compiled module.
func (a *app) shutdown() {
	a.mu.Lock()
	a.gone = true
	a.setStopped(protocol.AppStateRemoved, "")
	release := !a.released
	a.released = true
	a.mu.Unlock()
	if release {
		a.dev.e.release(a.code)
	}
}

// runTick is a scheduled tick: call it if the app is still in the epoch it
// was scheduled in, then schedule the next one, skipping ticks that are
// already late.
func (a *app) runTick(epoch uint64, due time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.epoch.Load() != epoch || a.state != protocol.AppStateRunning || a.tick == nil {
		return
	}
	if !a.call(a.tick, abi.ExportTick) {
		if a.state != protocol.AppStateRunning && a.state != protocol.AppStateStopped {
			a.dev.sink.Stopped(a.spec.Name, a.state, a.detail)
		}
		return
	}
	next := due.Add(a.period)
	if now := time.Now(); !next.After(now) {
		next = now.Add(a.period - now.Sub(due)%a.period)
	}
	a.dev.e.sched.add(a, next, epoch)
}
