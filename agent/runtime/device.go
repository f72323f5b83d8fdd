package runtime

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/module"
	"github.com/wasmbed/wasmbed/protocol"
)

// Sink receives what a device's apps produce. Its methods are called from
// the app's call (while the app is locked): they must be quick and must not
// call back into the Device.
type Sink interface {
	// Log receives a log line. Dropping it is the sink's business.
	Log(app string, rec protocol.LogRecord)
	// Publish receives a published value; false means the queue is full
	// (the app's publish returns abi.ErrBusy).
	Publish(app string, rec protocol.ValueRecord) bool
	// Stopped says the runtime stopped an app on its own: state is
	// AppStateTrapped, AppStateFuelExhausted or AppStateOutOfMemory, detail
	// says why. Not called for Stop, Remove or Close.
	Stopped(app string, state protocol.AppState, detail string)
}

// DeviceConfig configures a Device.
type DeviceConfig struct {
	Board board.Profile
	Sink  Sink
	// Clock is the device clock time_ms and output records read; nil means time.Now.
	Clock  func() time.Time
	Logger *slog.Logger
}

// Device is one device's apps and GPIO pins. It is safe for concurrent use.
type Device struct {
	e     *Engine
	board board.Profile
	sink  Sink
	clock func() time.Time
	log   *slog.Logger
	pins  []atomic.Uint32

	mu     sync.Mutex
	apps   map[string]*app
	closed bool
}

// NewDevice makes a device on the engine.
func (e *Engine) NewDevice(cfg DeviceConfig) *Device {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = e.log
	}
	if cfg.Sink == nil {
		cfg.Sink = nopSink{}
	}
	return &Device{
		e: e, board: cfg.Board, sink: cfg.Sink, clock: cfg.Clock, log: cfg.Logger,
		pins: make([]atomic.Uint32, cfg.Board.GPIOPins),
		apps: map[string]*app{},
	}
}

type nopSink struct{}

func (nopSink) Log(string, protocol.LogRecord)            {}
func (nopSink) Publish(string, protocol.ValueRecord) bool { return true }
func (nopSink) Stopped(string, protocol.AppState, string) {}

// AppSpec is what a deploy says of an app.
type AppSpec struct {
	Name    string
	Version string
	Limits  protocol.Limits
	Config  map[string]string
}

// AppInfo describes an installed app.
type AppInfo struct {
	Name    string
	Version string
	State   protocol.AppState
	Detail  string // why the app was stopped (trap message) or failed
	SHA256  [32]byte
	Size    int
	Limits  protocol.Limits
	Stats   Stats
}

// Errors of Device methods, matched with errors.Is.
var (
	ErrNotFound = errors.New("no such app")
	ErrNoRoom   = errors.New("no room")
)

// defaultTick is the tick period when a deploy says 0.
const defaultTick = time.Second

// Install validates wasm for the device's board (module.Inspect), checks that
// it fits next to the other apps (memory limits, module storage, app count),
// compiles it (once per process, whatever the number of devices) and
// instantiates it once to prove it can. It replaces an app of the same name,
// stopping it. The app is installed, not started.
//
// On failure the returned AppInfo's State says what to report: OutOfMemory
// when the module's initial memory exceeds the limit, otherwise Failed; the
// error is a *module.CheckError, wraps ErrNoRoom, or says why it does not
// instantiate. The device keeps its previous app of that name then.
func (d *Device) Install(ctx context.Context, spec AppSpec, wasm []byte) (AppInfo, error) {
	failed := AppInfo{Name: spec.Name, Version: spec.Version, State: protocol.AppStateFailed,
		SHA256: sha256.Sum256(wasm), Size: len(wasm), Limits: spec.Limits}
	fail := func(err error) (AppInfo, error) {
		failed.Detail = clip(err.Error(), protocol.MaxTextLen)
		return failed, err
	}
	if err := d.admit(spec, len(wasm)); err != nil {
		return fail(err)
	}
	c, err := d.e.acquire(ctx, wasm)
	if err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(&module.CheckError{Board: d.board.Name, Reason: module.ReasonInvalidWasm, Err: err,
			Message: "not a valid WebAssembly module: " + err.Error()})
	}
	info, err := module.Inspect(c.cm, wasm, d.board, spec.Limits)
	if err != nil {
		d.e.release(c)
		var ce *module.CheckError
		if errors.As(err, &ce) && ce.Reason == module.ReasonMemory {
			failed.State = protocol.AppStateOutOfMemory
		}
		return fail(err)
	}
	a := &app{dev: d, spec: spec, code: c, info: info, state: protocol.AppStateInstalled}
	a.spec.Config = maps.Clone(spec.Config)
	a.period = time.Duration(spec.Limits.TickMS) * time.Millisecond
	if a.period <= 0 {
		a.period = defaultTick
	}
	// Prove it instantiates, then free the instance: Start makes a fresh one.
	a.mu.Lock()
	err = a.instantiate(ctx)
	a.closeInstance()
	a.stats = Stats{} // the proof is not a start of the app
	a.mu.Unlock()
	if err != nil {
		d.e.release(c)
		return fail(fmt.Errorf("does not instantiate: %w", err))
	}

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.e.release(c)
		return fail(errClosed)
	}
	if err := d.admitLocked(spec, len(wasm)); err != nil { // again: another install may have raced
		d.mu.Unlock()
		d.e.release(c)
		return fail(err)
	}
	old := d.apps[spec.Name]
	d.apps[spec.Name] = a
	d.mu.Unlock()
	if old != nil {
		old.shutdown()
	}
	d.log.Debug("app installed", "app", spec.Name, "version", spec.Version, "bytes", len(wasm))
	return a.Info(), nil
}

func (d *Device) admit(spec AppSpec, size int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	return d.admitLocked(spec, size)
}

// admitLocked checks the app fits next to the others (an app of the same
// name is being replaced and does not count).
func (d *Device) admitLocked(spec AppSpec, size int) error {
	n, mem, flash := 1, uint64(spec.Limits.Memory), uint64(size)
	for name, a := range d.apps {
		if name == spec.Name {
			continue
		}
		n++
		mem += uint64(a.spec.Limits.Memory)
		flash += uint64(a.info.Size)
	}
	switch {
	case n > d.board.MaxApps:
		return fmt.Errorf("%w: board %s takes at most %d apps", ErrNoRoom, d.board.Name, d.board.MaxApps)
	case mem > uint64(d.board.AppRAM):
		return fmt.Errorf("%w: the apps' memory limits would total %s; board %s has %s of RAM for apps",
			ErrNoRoom, board.FormatBytes(mem), d.board.Name, board.FormatBytes(uint64(d.board.AppRAM)))
	case flash > uint64(d.board.ModuleFlash):
		return fmt.Errorf("%w: the modules would total %s; board %s has %s of module storage",
			ErrNoRoom, board.FormatBytes(flash), d.board.Name, board.FormatBytes(uint64(d.board.ModuleFlash)))
	}
	return nil
}

func (d *Device) get(name string) (*app, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	a, ok := d.apps[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return a, nil
}

// Start instantiates the app afresh, calls its init and schedules its
// ticks. Starting a running app does nothing. If init traps or runs out of
// fuel or memory, the returned state says so (and the Sink is not told: the
// caller reports it). The error is for a missing app or a closed device.
func (d *Device) Start(ctx context.Context, name string) (AppInfo, error) {
	a, err := d.get(name)
	if err != nil {
		return AppInfo{}, err
	}
	a.start(ctx)
	return a.Info(), nil
}

// Stop halts the app and frees its instance; it stays installed.
func (d *Device) Stop(name string) (AppInfo, error) {
	a, err := d.get(name)
	if err != nil {
		return AppInfo{}, err
	}
	a.stop(protocol.AppStateStopped, "")
	return a.Info(), nil
}

// Remove stops and forgets the app.
func (d *Device) Remove(name string) error {
	d.mu.Lock()
	a, ok := d.apps[name]
	delete(d.apps, name)
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	a.shutdown()
	return nil
}

// App describes one app.
func (d *Device) App(name string) (AppInfo, bool) {
	a, err := d.get(name)
	if err != nil {
		return AppInfo{}, false
	}
	return a.Info(), true
}

// Apps describes every app, sorted by name.
func (d *Device) Apps() []AppInfo {
	d.mu.Lock()
	apps := slices.Collect(maps.Values(d.apps))
	d.mu.Unlock()
	out := make([]AppInfo, len(apps))
	for i, a := range apps {
		out[i] = a.Info()
	}
	slices.SortFunc(out, func(a, b AppInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// RAMFree is the board's RAM for apps not reserved by installed apps' memory limits.
func (d *Device) RAMFree() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	used := uint64(0)
	for _, a := range d.apps {
		used += uint64(a.spec.Limits.Memory)
	}
	return uint32(max(0, int64(d.board.AppRAM)-int64(used)))
}

// FlashFree is the board's module storage not used by installed modules.
func (d *Device) FlashFree() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	used := uint64(0)
	for _, a := range d.apps {
		used += uint64(a.info.Size)
	}
	return uint32(max(0, int64(d.board.ModuleFlash)-int64(used)))
}

// Pin reads a GPIO pin as the apps left it (false outside the board's pins).
func (d *Device) Pin(pin int) bool {
	return pin >= 0 && pin < len(d.pins) && d.pins[pin].Load() != 0
}

// SetPin sets a pin's level from outside, as a button or sensor would.
func (d *Device) SetPin(pin int, high bool) {
	if pin >= 0 && pin < len(d.pins) {
		v := uint32(0)
		if high {
			v = 1
		}
		d.pins[pin].Store(v)
	}
}

// Close stops every app and frees them. The Sink is not told.
func (d *Device) Close() {
	d.mu.Lock()
	d.closed = true
	apps := d.apps
	d.apps = map[string]*app{}
	d.mu.Unlock()
	for _, a := range apps {
		a.shutdown()
	}
}
