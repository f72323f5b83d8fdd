// Package runtime runs WebAssembly apps for the Go agent on wazero, with the
// host ABI `wasmbed` (package abi, docs/abi.md).
//
// One Engine serves every device in a process: it holds the wazero runtime,
// the "wasmbed" host module, a cache of compiled modules keyed by sha256, and
// a scheduler whose few worker goroutines run the init and tick calls of all
// apps. A Device is one device's set of apps and its GPIO pins; it costs a
// few hundred bytes plus its apps' linear memories, so a simulator can run
// thousands in one process.
//
// Limits: an app's linear memory is capped by a per-instance wazero memory
// allocator (memory.grow past the deploy's limit stops the app as
// out_of_memory); fuel becomes a wall-clock budget per call (abi.FuelBudget),
// enforced with a context deadline and wazero's close-on-context-done
// (fuel_exhausted); a trap stops the app as trapped. The device and its other
// apps go on in every case.
package runtime

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmbed/wasmbed/abi"
)

// Config configures an Engine. The zero value is usable.
type Config struct {
	Logger *slog.Logger
	// Workers is the number of goroutines running init and tick calls for
	// all devices; 0 means GOMAXPROCS.
	Workers int
	// Budget turns a call's fuel into its wall-clock budget; nil means
	// abi.FuelBudget.
	Budget func(fuel uint64) time.Duration
	// Interpreter selects wazero's interpreter instead of its compiler
	// (slower calls, faster and smaller compilation).
	Interpreter bool
	// IdleModules is how many compiled modules no app uses are kept for a
	// later install; 0 means 16, negative means none.
	IdleModules int
}

// Engine is the shared part of the runtime. It is safe for concurrent use.
type Engine struct {
	log     *slog.Logger
	budget  func(uint64) time.Duration
	maxIdle int

	rt     wazero.Runtime
	ctx    context.Context // cancelled by Close: ends every call
	cancel context.CancelFunc
	sched  *scheduler

	mu    sync.Mutex
	cache map[[32]byte]*compiled
	idle  *list.List // of *compiled with no references, least recently used first
}

// compiled is one entry of the compile cache.
type compiled struct {
	sha   [32]byte
	cm    wazero.CompiledModule
	err   error
	ready chan struct{} // closed when cm or err is set
	refs  int
	elem  *list.Element // in Engine.idle while refs == 0
}

// New starts an Engine. Close it to stop every app and free the runtime.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Budget == nil {
		cfg.Budget = abi.FuelBudget
	}
	if cfg.Workers <= 0 {
		cfg.Workers = goruntime.GOMAXPROCS(0)
	}
	switch {
	case cfg.IdleModules == 0:
		cfg.IdleModules = 16
	case cfg.IdleModules < 0:
		cfg.IdleModules = 0
	}
	rc := wazero.NewRuntimeConfigCompiler()
	if cfg.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	e := &Engine{
		log:     cfg.Logger,
		budget:  cfg.Budget,
		maxIdle: cfg.IdleModules,
		rt:      wazero.NewRuntimeWithConfig(ctx, rc.WithCloseOnContextDone(true)),
		cache:   map[[32]byte]*compiled{},
		idle:    list.New(),
	}
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := e.instantiateHost(ctx); err != nil {
		e.rt.Close(ctx)
		e.cancel()
		return nil, err
	}
	e.sched = newScheduler(cfg.Workers)
	return e, nil
}

// Close stops the scheduler, interrupts running calls and closes the wazero
// runtime. Devices must not be used afterwards.
func (e *Engine) Close(ctx context.Context) error {
	e.cancel()
	e.sched.close()
	return e.rt.Close(ctx)
}

// CachedModules is the number of compiled modules held, in use or idle.
func (e *Engine) CachedModules() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.cache)
}

// acquire returns the compiled module for wasm, compiling it once however
// many devices install it at the same time. Release it when done.
func (e *Engine) acquire(ctx context.Context, wasm []byte) (*compiled, error) {
	sha := sha256.Sum256(wasm)
	e.mu.Lock()
	c, ok := e.cache[sha]
	if ok {
		c.refs++
		if c.elem != nil {
			e.idle.Remove(c.elem)
			c.elem = nil
		}
		e.mu.Unlock()
		select {
		case <-c.ready:
		case <-ctx.Done():
			e.release(c)
			return nil, ctx.Err()
		}
		if c.err != nil {
			e.release(c)
			return nil, c.err
		}
		return c, nil
	}
	c = &compiled{sha: sha, refs: 1, ready: make(chan struct{})}
	e.cache[sha] = c
	e.mu.Unlock()

	start := time.Now()
	c.cm, c.err = e.rt.CompileModule(e.ctx, wasm)
	if c.err != nil {
		e.mu.Lock()
		delete(e.cache, sha) // a failure is not cached
		e.mu.Unlock()
		close(c.ready)
		return nil, c.err
	}
	close(c.ready)
	e.log.Debug("compiled module", "sha256", fmt.Sprintf("%x", sha[:8]), "bytes", len(wasm), "took", time.Since(start))
	return c, nil
}

// release drops a reference; unused modules are kept up to maxIdle.
func (e *Engine) release(c *compiled) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c.refs--
	if c.refs > 0 || c.err != nil {
		return
	}
	c.elem = e.idle.PushBack(c)
	for e.idle.Len() > e.maxIdle {
		old := e.idle.Remove(e.idle.Front()).(*compiled)
		old.elem = nil
		delete(e.cache, old.sha)
		if err := old.cm.Close(e.ctx); err != nil {
			e.log.Warn("close compiled module", "err", err)
		}
	}
}

// errClosed is returned after Close.
var errClosed = errors.New("runtime: engine closed")
