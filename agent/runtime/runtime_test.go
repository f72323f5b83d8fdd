package runtime_test

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/agent/runtime"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/module"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

// recorder is a Sink keeping everything, with a way to wait for it.
type recorder struct {
	mu      sync.Mutex
	logs    map[string][]protocol.LogRecord
	values  map[string][]protocol.ValueRecord
	stopped map[string][]string // "state: detail"
	refuse  string              // Publish refuses this key
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{logs: map[string][]protocol.LogRecord{}, values: map[string][]protocol.ValueRecord{},
		stopped: map[string][]string{}, changed: make(chan struct{}, 1)}
}

func (r *recorder) poke() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) Log(app string, rec protocol.LogRecord) {
	r.mu.Lock()
	r.logs[app] = append(r.logs[app], rec)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) Publish(app string, rec protocol.ValueRecord) bool {
	r.mu.Lock()
	defer r.poke()
	defer r.mu.Unlock()
	if rec.Key == r.refuse {
		return false
	}
	r.values[app] = append(r.values[app], rec)
	return true
}

func (r *recorder) Stopped(app string, st protocol.AppState, detail string) {
	r.mu.Lock()
	r.stopped[app] = append(r.stopped[app], st.String()+": "+detail)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) valuesOf(app string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []float64
	for _, v := range r.values[app] {
		out = append(out, v.Value)
	}
	return out
}

func (r *recorder) value(app, key string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.values[app] {
		if v.Key == key {
			return v.Value, true
		}
	}
	return 0, false
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newEngine(t *testing.T, cfg runtime.Config) *runtime.Engine {
	t.Helper()
	e, err := runtime.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func profile(t *testing.T, name string) board.Profile {
	p, ok := board.Lookup(name)
	if !ok {
		t.Fatalf("no board %s", name)
	}
	return p
}

func spec(name string, tickMS uint32, fuel uint64, config map[string]string) runtime.AppSpec {
	return runtime.AppSpec{Name: name, Version: "1.0.0",
		Limits: protocol.Limits{Fuel: fuel, Memory: 65536, TickMS: tickMS}, Config: config}
}

func install(t *testing.T, d *runtime.Device, s runtime.AppSpec, wasm []byte) {
	t.Helper()
	info, err := d.Install(context.Background(), s, wasm)
	if err != nil || info.State != protocol.AppStateInstalled {
		t.Fatalf("install %s: %v %v", s.Name, info.State, err)
	}
}

func start(t *testing.T, d *runtime.Device, name string) runtime.AppInfo {
	t.Helper()
	info, err := d.Start(context.Background(), name)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return info
}

// The sensor app reads its config at init, logs, and publishes offset+n on
// every tick, in order.
func TestSensorPublishesWithConfig(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	rec := newRecorder()
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "mps2-an386"), Sink: rec})
	wasm := wasmtest.App(t, "sensor")
	install(t, d, spec("s1", 5, 250_000, map[string]string{"offset": "40"}), wasm)
	install(t, d, spec("s2", 5, 250_000, nil), wasm)
	if info := start(t, d, "s1"); info.State != protocol.AppStateRunning {
		t.Fatalf("state %v %s", info.State, info.Detail)
	}
	start(t, d, "s2")
	waitFor(t, "5 values from each", func() bool { return len(rec.valuesOf("s1")) >= 5 && len(rec.valuesOf("s2")) >= 5 })
	if got := rec.valuesOf("s1")[:5]; !slices.Equal(got, []float64{41, 42, 43, 44, 45}) {
		t.Errorf("s1 values %v", got)
	}
	if got := rec.valuesOf("s2")[:5]; !slices.Equal(got, []float64{1, 2, 3, 4, 5}) {
		t.Errorf("s2 values %v", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if l := rec.logs["s1"]; len(l) != 1 || l[0].Text != "sensor started" || l[0].Level != protocol.LogInfo {
		t.Errorf("s1 logs %+v", l)
	}
	if l := rec.logs["s2"]; len(l) != 2 || l[0].Text != "no offset configured" || l[0].Level != protocol.LogWarn {
		t.Errorf("s2 logs %+v", l)
	}
	if v := rec.values["s1"][0]; v.Key != "temperature" || time.Since(time.UnixMilli(v.Time)) > time.Minute {
		t.Errorf("value record %+v", v)
	}
}

// The blinker toggles pin 0 on a 0-page memory board.
func TestBlinkerTogglesPin(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "uno-r4")})
	s := spec("blink", 2, 100_000, nil)
	s.Limits.Memory = 1024
	install(t, d, s, wasmtest.App(t, "blinker"))
	start(t, d, "blink")
	seen := map[bool]int{}
	waitFor(t, "pin 0 to toggle", func() bool {
		seen[d.Pin(0)]++
		return seen[true] > 0 && seen[false] > 0
	})
}

// A trapping app is stopped as trapped, told to the sink once, and the
// other app on the device goes on.
func TestTrapStopsOnlyThatApp(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	rec := newRecorder()
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux"), Sink: rec})
	install(t, d, spec("sensor", 5, 250_000, nil), wasmtest.App(t, "sensor"))
	install(t, d, spec("trap", 5, 250_000, nil), wasmtest.App(t, "trap"))
	start(t, d, "sensor")
	if info := start(t, d, "trap"); info.State != protocol.AppStateRunning {
		t.Fatalf("trap app did not start: %v %s", info.State, info.Detail)
	}
	waitFor(t, "the trap", func() bool { i, _ := d.App("trap"); return i.State == protocol.AppStateTrapped })
	info, _ := d.App("trap")
	if !strings.Contains(info.Detail, "tick: wasm error: unreachable") || strings.Contains(info.Detail, "\n") {
		t.Errorf("detail %q", info.Detail)
	}
	n := len(rec.valuesOf("sensor"))
	waitFor(t, "the sensor to go on", func() bool { return len(rec.valuesOf("sensor")) > n+3 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if s := rec.stopped["trap"]; len(s) != 1 || !strings.HasPrefix(s[0], "trapped: tick: wasm error: unreachable") {
		t.Errorf("sink told %q", s)
	}
	if l := rec.logs["trap"]; len(l) != 1 || l[0].Text != "about to trap" {
		t.Errorf("trap logs %+v", l)
	}
}

// An endless loop is cut at its fuel budget: fuel_exhausted, and the
// workers stay free for the other apps.
func TestSpinIsFuelExhausted(t *testing.T) {
	e := newEngine(t, runtime.Config{Workers: 1})
	rec := newRecorder()
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux"), Sink: rec})
	install(t, d, spec("sensor", 5, 250_000, nil), wasmtest.App(t, "sensor"))
	install(t, d, spec("spin", 5, 1, nil), wasmtest.App(t, "spin"))
	start(t, d, "sensor")
	begin := time.Now()
	start(t, d, "spin")
	waitFor(t, "fuel exhaustion", func() bool { i, _ := d.App("spin"); return i.State == protocol.AppStateFuelExhausted })
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("stopped after %v, budget %v", took, abi.FuelBudget(1))
	}
	info, _ := d.App("spin")
	if !strings.Contains(info.Detail, "tick used its fuel (1, a budget of 100ms") {
		t.Errorf("detail %q", info.Detail)
	}
	n := len(rec.valuesOf("sensor"))
	waitFor(t, "the sensor to go on", func() bool { return len(rec.valuesOf("sensor")) > n+3 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if s := rec.stopped["spin"]; len(s) != 1 || !strings.HasPrefix(s[0], "fuel_exhausted") {
		t.Errorf("sink told %q", s)
	}
}

const growApp = `(module
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (func (export "init") (if (global.get $n) (then unreachable)))
  (func (export "tick")
    (drop (memory.grow (i32.const 1)))
    (global.set $n (i32.add (global.get $n) (i32.const 1)))))`

// memory.grow past the limit stops the app as out_of_memory, after the
// grows that fit succeeded.
func TestGrowPastLimitIsOutOfMemory(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	rec := newRecorder()
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux"), Sink: rec})
	s := spec("grow", 2, 250_000, nil)
	s.Limits.Memory = 3 * 65536
	install(t, d, s, wasmtest.WAT(t, growApp))
	start(t, d, "grow")
	waitFor(t, "out of memory", func() bool { i, _ := d.App("grow"); return i.State == protocol.AppStateOutOfMemory })
	info, _ := d.App("grow")
	if info.Detail != "tick: memory.grow to 256 KiB refused: the memory limit is 192 KiB" {
		t.Errorf("detail %q", info.Detail)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if s := rec.stopped["grow"]; len(s) != 1 || !strings.HasPrefix(s[0], "out_of_memory") {
		t.Errorf("sink told %q", s)
	}
}

// An init that grows past the limit: Start reports out_of_memory.
func TestInitOutOfMemory(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux")})
	install(t, d, spec("g", 10, 1000, nil), wasmtest.WAT(t, `(module (memory (export "memory") 1)
	  (func (export "init") (drop (memory.grow (i32.const 1))) (loop $l (br $l))) (func (export "tick")))`))
	if info := start(t, d, "g"); info.State != protocol.AppStateOutOfMemory || !strings.HasPrefix(info.Detail, "init: memory.grow to 128 KiB refused") {
		t.Fatalf("start: %v %q", info.State, info.Detail)
	}
}

// A module whose initial memory exceeds the deploy's limit is not
// installed: state out_of_memory, and a CheckError.
func TestInstallOverLimit(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux")})
	info, err := d.Install(context.Background(), spec("big", 10, 1000, nil),
		wasmtest.WAT(t, `(module (memory (export "memory") 2) (func (export "tick")))`))
	var ce *module.CheckError
	if !errors.As(err, &ce) || ce.Reason != module.ReasonMemory || info.State != protocol.AppStateOutOfMemory {
		t.Fatalf("got %v, %v", info.State, err)
	}
	if _, ok := d.App("big"); ok {
		t.Fatal("app installed anyway")
	}
	// And a module the board cannot run at all: failed.
	info, err = d.Install(context.Background(), spec("bad", 10, 1000, nil),
		wasmtest.WAT(t, `(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "tick")))`))
	if !errors.As(err, &ce) || ce.Reason != module.ReasonUnknownImport || info.State != protocol.AppStateFailed {
		t.Fatalf("got %v, %v", info.State, err)
	}
}

// A pointer outside the app's memory traps the app, naming the function.
func TestHostTrapOnBadPointer(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux")})
	install(t, d, spec("oob", 10, 1000, nil), wasmtest.WAT(t, `(module
	  (import "wasmbed" "log" (func $log (param i32 i32 i32)))
	  (memory (export "memory") 1)
	  (func (export "init") (call $log (i32.const 3) (i32.const 65530) (i32.const 10)))
	  (func (export "tick")))`))
	info := start(t, d, "oob")
	if info.State != protocol.AppStateTrapped ||
		info.Detail != "init: wasmbed.log: text at [65530, 65540) is outside the app's memory of 65536 bytes" {
		t.Fatalf("got %v %q", info.State, info.Detail)
	}
}

// Every error code of the ABI, as an app sees it: the app publishes what
// each call returned.
func TestABIReturnCodes(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	rec := newRecorder()
	rec.refuse = "refused"
	prof := profile(t, "stm32f4-discovery")
	d := e.NewDevice(runtime.DeviceConfig{Board: prof, Sink: rec, Clock: func() time.Time { return time.UnixMilli(1_700_000_000_123) }})
	d.SetPin(4, true) // the user button
	src := `(module
	  (import "wasmbed" "log" (func $log (param i32 i32 i32)))
	  (import "wasmbed" "time_ms" (func $time (result i64)))
	  (import "wasmbed" "gpio_write" (func $gw (param i32 i32) (result i32)))
	  (import "wasmbed" "gpio_read" (func $gr (param i32) (result i32)))
	  (import "wasmbed" "publish" (func $pub (param i32 i32 f64) (result i32)))
	  (import "wasmbed" "config_get" (func $cfg (param i32 i32 i32 i32) (result i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "greeting")     ;; 0, 8
	  (data (i32.const 16) "missing")     ;; 16, 7
	  (data (i32.const 32) "bad key")     ;; 32, 7
	  (data (i32.const 48) "refused")     ;; 48, 7
	  (data (i32.const 64) "r\ff\fe")     ;; 64, 3: invalid UTF-8
	  (func $p (param $k i32) (param $v f64)  ;; publish under the 2-letter key at k
	    (drop (call $pub (local.get $k) (i32.const 2) (local.get $v))))
	  (data (i32.const 100) "a0a1a2a3a4a5a6a7a8a9b0b1b2b3b4b5b6")
	  (func (export "init")
	    (call $p (i32.const 100) (f64.convert_i32_s (call $gw (i32.const 0) (i32.const 7))))     ;; a0: ok
	    (call $p (i32.const 102) (f64.convert_i32_s (call $gr (i32.const 0))))                   ;; a1: 1
	    (call $p (i32.const 104) (f64.convert_i32_s (call $gw (i32.const 5) (i32.const 1))))     ;; a2: no pin 5
	    (call $p (i32.const 106) (f64.convert_i32_s (call $gw (i32.const 4) (i32.const 1))))     ;; a3: input pin
	    (call $p (i32.const 108) (f64.convert_i32_s (call $gr (i32.const 4))))                   ;; a4: button high
	    (call $p (i32.const 110) (f64.convert_i32_s (call $gr (i32.const -1))))                  ;; a5: invalid
	    (call $p (i32.const 112) (f64.convert_i32_s (call $cfg (i32.const 0) (i32.const 8) (i32.const 1000) (i32.const 100)))) ;; a6: 5
	    (call $p (i32.const 114) (f64.convert_i32_s (call $cfg (i32.const 16) (i32.const 7) (i32.const 1000) (i32.const 100)))) ;; a7: not found
	    (call $p (i32.const 116) (f64.convert_i32_s (call $cfg (i32.const 0) (i32.const 8) (i32.const 1000) (i32.const 4))))  ;; a8: too small
	    (call $p (i32.const 118) (f64.convert_i32_s (call $cfg (i32.const 32) (i32.const 7) (i32.const 1000) (i32.const 4)))) ;; a9: invalid key
	    (call $p (i32.const 120) (f64.convert_i32_s (call $pub (i32.const 32) (i32.const 7) (f64.const 1))))   ;; b0: invalid key
	    (call $p (i32.const 122) (f64.convert_i32_s (call $pub (i32.const 0) (i32.const 8) (f64.const nan))))  ;; b1: NaN
	    (call $p (i32.const 124) (f64.convert_i32_s (call $pub (i32.const 48) (i32.const 7) (f64.const 1))))  ;; b2: busy
	    (call $p (i32.const 126) (f64.convert_i64_s (call $time)))                                            ;; b3: clock
	    (call $p (i32.const 128) (f64.convert_i32_u (i32.load (i32.const 1000))))                             ;; b4: "hell"
	    (call $log (i32.const 9) (i32.const 64) (i32.const 3))
	    (call $log (i32.const 0) (i32.const 0) (i32.const 0)))
	  (func (export "tick")))`
	s := spec("codes", 1000, 250_000, map[string]string{"greeting": "hello"})
	install(t, d, s, wasmtest.WAT(t, src))
	if info := start(t, d, "codes"); info.State != protocol.AppStateRunning {
		t.Fatalf("%v %s", info.State, info.Detail)
	}
	for key, want := range map[string]float64{
		"a0": 0, "a1": 1, "a2": float64(abi.ErrInvalid), "a3": float64(abi.ErrInvalid), "a4": 1, "a5": float64(abi.ErrInvalid),
		"a6": 5, "a7": float64(abi.ErrNotFound), "a8": float64(abi.ErrTooSmall), "a9": float64(abi.ErrInvalid),
		"b0": float64(abi.ErrInvalid), "b1": float64(abi.ErrInvalid), "b2": float64(abi.ErrBusy), "b3": 1_700_000_000_123,
		"b4": float64(uint32('h') | uint32('e')<<8 | uint32('l')<<16 | uint32('l')<<24),
	} {
		if got, ok := rec.value("codes", key); !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", key, got, ok, want)
		}
	}
	if !d.Pin(0) {
		t.Error("gpio_write(0, 7) did not set pin 0 high")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	logs := rec.logs["codes"]
	if len(logs) != 2 || logs[0].Level != protocol.LogDebug || logs[0].Text != "r\uFFFD" ||
		logs[1].Level != protocol.LogError || logs[1].Text != "" || logs[0].Time != 1_700_000_000_123 {
		t.Errorf("logs %+v", logs)
	}
}

// Log text is cut to 256 bytes at a character boundary.
func TestLogTruncated(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	rec := newRecorder()
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux"), Sink: rec})
	text := "é" + strings.Repeat("x", 254) + "éé" // 2 + 254 + 4 bytes: the cut falls inside an é
	install(t, d, spec("long", 1000, 250_000, nil), wasmtest.WAT(t, `(module
	  (import "wasmbed" "log" (func $log (param i32 i32 i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "`+text+`")
	  (func (export "init") (call $log (i32.const 3) (i32.const 0) (i32.const 260)))
	  (func (export "tick")))`))
	start(t, d, "long")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if l := rec.logs["long"]; len(l) != 1 || l[0].Text != text[:256] || len(l[0].Text) != 256 {
		t.Fatalf("logs %+v", l)
	}
}

// Stop ends the ticks; Start gives a fresh instance (init again, state from
// the module); Remove forgets the app.
func TestStopStartRemove(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	rec := newRecorder()
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux"), Sink: rec})
	install(t, d, spec("s", 2, 250_000, nil), wasmtest.App(t, "sensor"))
	start(t, d, "s")
	waitFor(t, "values", func() bool { return len(rec.valuesOf("s")) >= 3 })
	if info, err := d.Stop("s"); err != nil || info.State != protocol.AppStateStopped {
		t.Fatalf("stop: %v %v", info.State, err)
	}
	n := len(rec.valuesOf("s"))
	time.Sleep(30 * time.Millisecond)
	if m := len(rec.valuesOf("s")); m != n {
		t.Fatalf("%d values after stop", m-n)
	}
	start(t, d, "s")
	waitFor(t, "values after restart", func() bool { return len(rec.valuesOf("s")) > n })
	if v := rec.valuesOf("s")[n]; v != 1 {
		t.Errorf("first value after restart %v, want 1 (a fresh instance)", v)
	}
	if err := d.Remove("s"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Start(context.Background(), "s"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("start after remove: %v", err)
	}
	if err := d.Remove("s"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
	n = len(rec.valuesOf("s"))
	time.Sleep(20 * time.Millisecond)
	if m := len(rec.valuesOf("s")); m != n {
		t.Fatalf("%d values after remove", m-n)
	}
}

// Installing under an existing name replaces the app (a new version).
func TestReinstallReplaces(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	rec := newRecorder()
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux"), Sink: rec})
	install(t, d, spec("a", 2, 250_000, nil), wasmtest.App(t, "sensor"))
	start(t, d, "a")
	s := spec("a", 2, 250_000, nil)
	s.Version = "2.0.0"
	install(t, d, s, wasmtest.App(t, "blinker"))
	info, _ := d.App("a")
	if info.Version != "2.0.0" || info.State != protocol.AppStateInstalled || len(d.Apps()) != 1 {
		t.Fatalf("after reinstall: %+v, %d apps", info, len(d.Apps()))
	}
	n := len(rec.valuesOf("a"))
	time.Sleep(20 * time.Millisecond)
	if len(rec.valuesOf("a")) != n {
		t.Fatal("the replaced version still runs")
	}
}

// A device admits apps while their memory limits, modules and number fit
// the board.
func TestNoRoom(t *testing.T) {
	e := newEngine(t, runtime.Config{})
	// A small board: uno-r4's 8 KiB for apps' memory limits, with room for two apps
	// (the Uno R4's firmware takes one).
	uno := profile(t, "uno-r4")
	uno.MaxApps = 2
	d := e.NewDevice(runtime.DeviceConfig{Board: uno})
	blinker := wasmtest.App(t, "blinker")
	s := spec("a", 10, 1000, nil)
	s.Limits.Memory = 4096
	install(t, d, s, blinker)
	s.Name = "b"
	s.Limits.Memory = 5000
	if info, err := d.Install(context.Background(), s, blinker); !errors.Is(err, runtime.ErrNoRoom) ||
		info.State != protocol.AppStateFailed || !strings.Contains(err.Error(), "board uno-r4 has 8 KiB of RAM for apps") {
		t.Fatalf("memory: %v %v", info.State, err)
	}
	s.Limits.Memory = 4096
	install(t, d, s, blinker)
	if d.RAMFree() != 0 || d.FlashFree() != uno.ModuleFlash-2*uint32(len(blinker)) {
		t.Errorf("free: ram %d flash %d", d.RAMFree(), d.FlashFree())
	}
	s.Name = "c"
	s.Limits.Memory = 1
	if _, err := d.Install(context.Background(), s, blinker); !errors.Is(err, runtime.ErrNoRoom) ||
		!strings.Contains(err.Error(), "at most 2 apps") {
		t.Fatalf("count: %v", err)
	}
	// Replacing an app does not count it twice.
	s.Name = "b"
	s.Limits.Memory = 4096
	install(t, d, s, blinker)
}

// Devices share compiled modules: the same module on many devices is
// compiled once; unused modules are kept up to the idle limit.
func TestCompileCacheShared(t *testing.T) {
	e := newEngine(t, runtime.Config{IdleModules: 1})
	wasm := wasmtest.App(t, "sensor")
	var devs []*runtime.Device
	var wg sync.WaitGroup
	for range 20 {
		d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux")})
		devs = append(devs, d)
		wg.Go(func() { install(t, d, spec("s", 10, 1000, nil), wasm) })
	}
	wg.Wait()
	if n := e.CachedModules(); n != 1 {
		t.Fatalf("%d compiled modules for one module on 20 devices", n)
	}
	devs[0].Close()
	install(t, devs[1], spec("b", 10, 1000, nil), wasmtest.App(t, "blinker"))
	if n := e.CachedModules(); n != 2 {
		t.Fatalf("%d compiled modules for two", n)
	}
	for _, d := range devs {
		d.Close()
	}
	if n := e.CachedModules(); n != 1 {
		t.Fatalf("%d compiled modules kept idle, want 1", n)
	}
}

// Many devices in one process: the goroutine count does not grow with the
// number of devices or apps (one shared scheduler), and every app ticks.
func TestManyDevicesSharedScheduler(t *testing.T) {
	e := newEngine(t, runtime.Config{Workers: 2})
	rec := newRecorder()
	wasm := wasmtest.App(t, "sensor")
	before := goruntime.NumGoroutine()
	const n = 300
	var devs []*runtime.Device
	for range n {
		d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "stm32f4-discovery"), Sink: rec})
		devs = append(devs, d)
	}
	for i, d := range devs {
		name := fmt.Sprintf("s%d", i)
		install(t, d, spec(name, 20, 250_000, nil), wasm)
		start(t, d, name)
	}
	waitFor(t, "every app to publish 3 values", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.values) < n {
			return false
		}
		for _, v := range rec.values {
			if len(v) < 3 {
				return false
			}
		}
		return true
	})
	if g := goruntime.NumGoroutine() - before; g > 20 {
		t.Errorf("%d more goroutines with %d running apps", g, n)
	}
	for _, d := range devs {
		d.Close()
	}
}

// Closing the engine ends a running call and returns.
func TestEngineCloseInterruptsCalls(t *testing.T) {
	e, err := runtime.New(context.Background(), runtime.Config{Budget: func(uint64) time.Duration { return time.Hour }})
	if err != nil {
		t.Fatal(err)
	}
	d := e.NewDevice(runtime.DeviceConfig{Board: profile(t, "linux")})
	install(t, d, spec("spin", 1, 1, nil), wasmtest.App(t, "spin"))
	start(t, d, "spin")
	time.Sleep(20 * time.Millisecond) // let the tick begin
	done := make(chan error, 1)
	go func() { done <- e.Close(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on a running call")
	}
	if _, err := d.Install(context.Background(), spec("x", 1, 1, nil), wasmtest.App(t, "blinker")); err == nil {
		t.Fatal("install after close")
	}
}
