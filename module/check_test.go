package module_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/module"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

var generous = module.Limits{Memory: 1 << 20, Fuel: fleet.DefaultFuel}

func lookup(t *testing.T, name string) board.Profile {
	t.Helper()
	p, ok := board.Lookup(name)
	if !ok {
		t.Fatalf("no board %q", name)
	}
	return p
}

// limitsFor gives a deploy limit the board can grant.
func limitsFor(p board.Profile) module.Limits {
	return module.Limits{Memory: min(generous.Memory, p.AppRAM), Fuel: generous.Fuel}
}

// wantCheckError asserts err is a *CheckError with the reason, and that its
// message contains every fragment.
func wantCheckError(t *testing.T, err error, reason module.Reason, fragments ...string) *module.CheckError {
	t.Helper()
	var ce *module.CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want a *CheckError %s", err, err, reason)
	}
	if ce.Reason != reason {
		t.Fatalf("reason %s, want %s: %v", ce.Reason, reason, err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("message %q lacks %q", err.Error(), f)
		}
	}
	return ce
}

// The example apps are valid: each passes on the boards it is written for,
// and Info describes it.
func TestExampleApps(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		app      string
		boards   []string
		imports  []string
		features []abi.Feature
		minPages uint32
		hasInit  bool
	}{
		{"blinker", board.Names(), []string{"wasmbed.gpio_write"}, []abi.Feature{abi.FeatureGPIO}, 0, true},
		{"sensor", []string{"stm32f4-discovery", "nano33ble", "mps2-an386", "linux"},
			[]string{"wasmbed.log", "wasmbed.publish", "wasmbed.config_get"},
			[]abi.Feature{abi.FeatureLog, abi.FeaturePublish, abi.FeatureConfig}, 1, true},
		{"trap", []string{"stm32f4-discovery", "linux"}, []string{"wasmbed.log"}, []abi.Feature{abi.FeatureLog}, 1, true},
		{"spin", board.Names(), nil, nil, 0, false},
	} {
		wasm := wasmtest.App(t, c.app)
		for _, name := range c.boards {
			p := lookup(t, name)
			info, err := module.Check(ctx, wasm, p, limitsFor(p))
			if err != nil {
				t.Errorf("%s on %s: %v", c.app, name, err)
				continue
			}
			if info.Size != len(wasm) || info.SHA256 != sha256.Sum256(wasm) {
				t.Errorf("%s: size %d sha %x", c.app, info.Size, info.SHA256)
			}
			if !slices.Equal(info.Imports, c.imports) || !slices.Equal(info.Features, c.features) {
				t.Errorf("%s: imports %v features %v, want %v %v", c.app, info.Imports, info.Features, c.imports, c.features)
			}
			if info.MemoryMinPages != c.minPages || info.HasInit != c.hasInit {
				t.Errorf("%s: min pages %d init %v", c.app, info.MemoryMinPages, info.HasInit)
			}
		}
	}
}

// A board with less than a page for apps takes only 0-page modules, and says
// how much it has.
func TestOnePageModuleOnUnoR4(t *testing.T) {
	p := lookup(t, "uno-r4")
	_, err := module.Check(context.Background(), wasmtest.App(t, "sensor"), p, limitsFor(p))
	wantCheckError(t, err, module.ReasonMemory, "board uno-r4", "64 KiB", "1 page", "8 KiB of RAM for apps")
}

func TestMemoryInfo(t *testing.T) {
	wasm := wasmtest.WAT(t, `(module (memory (export "memory") 1 3) (func (export "tick")))`)
	info, err := module.Check(context.Background(), wasm, lookup(t, "linux"), generous)
	if err != nil {
		t.Fatal(err)
	}
	if info.MemoryMinPages != 1 || info.MemoryMaxPages != 3 || !info.HasMemoryMax || info.MemoryMin() != 65536 {
		t.Fatalf("memory %+v", info)
	}
	wasm = wasmtest.WAT(t, `(module (memory (export "memory") 2) (func (export "tick")))`)
	if info, err = module.Check(context.Background(), wasm, lookup(t, "linux"), generous); err != nil || info.HasMemoryMax {
		t.Fatalf("no max: %+v, %v", info, err)
	}
}

// Each kind of bad module is refused with its reason and a message naming
// the board and the import or size.
func TestBadModules(t *testing.T) {
	stm := lookup(t, "stm32f4-discovery")
	linux := lookup(t, "linux")
	noGPIO := linux
	noGPIO.Name = "no-gpio"
	noGPIO.Features = slices.DeleteFunc(slices.Clone(linux.Features), func(f abi.Feature) bool { return f == abi.FeatureGPIO })
	tiny := linux
	tiny.Name = "tiny-flash"
	tiny.ModuleFlash = 64

	const tick = `(memory (export "memory") 1) (func (export "tick"))`
	for _, c := range []struct {
		name      string
		wasm      []byte // when not WAT
		wat       string
		prof      board.Profile
		lim       module.Limits
		reason    module.Reason
		imp       string
		fragments []string
	}{
		{name: "unknown function", wat: `(module (import "wasmbed" "reboot" (func)) ` + tick + `)`,
			reason: module.ReasonUnknownImport, imp: "wasmbed.reboot", fragments: []string{"wasmbed.reboot", "not a function of the wasmbed ABI v1"}},
		{name: "other module", wat: `(module (import "env" "gpio_write" (func (param i32 i32) (result i32))) ` + tick + `)`,
			reason: module.ReasonUnknownImport, imp: "env.gpio_write", fragments: []string{`env.gpio_write (a function) from module "env"`}},
		{name: "WASI", wat: `(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) ` + tick + `)`,
			reason: module.ReasonUnknownImport, fragments: []string{"wasi_snapshot_preview1.fd_write"}},
		{name: "imported global", wat: `(module (import "wasmbed" "log" (global i32)) ` + tick + `)`,
			reason: module.ReasonUnknownImport, fragments: []string{"wasmbed.log (a global)"}},
		{name: "imported memory", wat: `(module (import "wasmbed" "memory" (memory 1)) (export "memory" (memory 0)) (func (export "tick")))`,
			reason: module.ReasonUnknownImport, fragments: []string{"wasmbed.memory (a memory)"}},
		{name: "wrong signature", wat: `(module (import "wasmbed" "gpio_write" (func (param i32) (result i32))) ` + tick + `)`,
			reason: module.ReasonImportSignature, imp: "wasmbed.gpio_write",
			fragments: []string{"wasmbed.gpio_write with type i32 -> i32", "defines (pin i32, value i32) -> i32"}},
		{name: "wrong result", wat: `(module (import "wasmbed" "time_ms" (func (result i32))) ` + tick + `)`,
			reason: module.ReasonImportSignature, fragments: []string{"with type () -> i32", "() -> i64"}},
		{name: "missing feature", wasm: wasmtest.App(t, "blinker"), prof: noGPIO,
			reason: module.ReasonMissingFeature, imp: "wasmbed.gpio_write",
			fragments: []string{"module cannot run on board no-gpio: imports wasmbed.gpio_write, which board no-gpio lacks (feature gpio)"}},
		{name: "two pages on a one-page board", wat: `(module (memory (export "memory") 2) (func (export "tick")))`, prof: stm,
			lim: module.Limits{Memory: 65536, Fuel: 1}, reason: module.ReasonMemory,
			fragments: []string{"needs 128 KiB of memory at start (2 pages of 64 KiB)", "board stm32f4-discovery has 64 KiB of RAM for apps"}},
		{name: "over the deploy's limit", wat: `(module (memory (export "memory") 2) (func (export "tick")))`,
			lim: module.Limits{Memory: 65536, Fuel: 1}, reason: module.ReasonMemory, fragments: []string{"the memory limit is 64 KiB"}},
		{name: "limit over the board", wat: `(module ` + tick + `)`, prof: stm,
			lim: module.Limits{Memory: 1 << 20, Fuel: 1}, reason: module.ReasonLimits, fragments: []string{"1 MiB exceeds the 64 KiB"}},
		{name: "fuel over the board's watchdog", wat: `(module ` + tick + `)`, prof: stm,
			lim: module.Limits{Memory: 65536, Fuel: stm.MaxFuel + 1}, reason: module.ReasonLimits,
			fragments: []string{fmt.Sprintf("module cannot run on board stm32f4-discovery: limits.fuel %d exceeds what board stm32f4-discovery can run within its watchdog (%d)",
				stm.MaxFuel+1, stm.MaxFuel)}},
		{name: "zero fuel", wat: `(module ` + tick + `)`, lim: module.Limits{Memory: 65536},
			reason: module.ReasonLimits, fragments: []string{"positive memory and fuel"}},
		{name: "missing tick", wat: `(module (memory (export "memory") 1) (func (export "init")))`,
			reason: module.ReasonMissingExport, fragments: []string{`does not export the function "tick"`}},
		{name: "tick with a parameter", wat: `(module (memory (export "memory") 1) (func (export "tick") (param i32)))`,
			reason: module.ReasonMissingExport, fragments: []string{`exports "tick" with type i32 -> ()`}},
		{name: "init with a result", wat: `(module (memory (export "memory") 1) (func (export "tick")) (func (export "init") (result i32) i32.const 0))`,
			reason: module.ReasonMissingExport, fragments: []string{`"init" with type () -> i32`}},
		{name: "memory not exported", wat: `(module (memory 1) (func (export "tick")))`,
			reason: module.ReasonMissingExport, fragments: []string{`does not export its memory as "memory"`}},
		{name: "memory exported under another name", wat: `(module (memory (export "mem") 1) (func (export "tick")))`,
			reason: module.ReasonMissingExport},
		{name: "start function", wat: `(module ` + tick + ` (func $s) (start $s))`,
			reason: module.ReasonStartFunction},
		{name: "too large", wat: `(module ` + tick + ` (data (i32.const 0) "` + strings.Repeat("x", 100) + `"))`, prof: tiny,
			reason: module.ReasonTooLarge, fragments: []string{"board tiny-flash has 64 bytes of module storage"}},
		{name: "not wasm", wasm: []byte("\x00asm\x01\x00\x00\x00\x01\xff"), reason: module.ReasonInvalidWasm},
		{name: "not even a header", wasm: []byte("hello"), reason: module.ReasonInvalidWasm},
		{name: "data outside memory", wat: `(module (memory (export "memory") 0 0) (func (export "tick")) (data (i32.const 0) "x"))`,
			reason: module.ReasonInstantiate, fragments: []string{"does not instantiate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wasm := c.wasm
			if wasm == nil {
				wasm = wasmtest.WAT(t, c.wat)
			}
			prof := c.prof
			if prof.Name == "" {
				prof = linux
			}
			lim := c.lim
			if lim == (module.Limits{}) {
				lim = limitsFor(prof)
			}
			_, err := module.Check(context.Background(), wasm, prof, lim)
			ce := wantCheckError(t, err, c.reason, c.fragments...)
			if ce.Board != prof.Name || !strings.Contains(ce.Error(), "board "+prof.Name) {
				t.Errorf("board %q in %q", ce.Board, ce.Error())
			}
			if c.imp != "" && ce.Import != c.imp {
				t.Errorf("import %q, want %q", ce.Import, c.imp)
			}
		})
	}
}

// A cancelled context is the caller's error, not the module's.
func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := module.Check(ctx, wasmtest.App(t, "blinker"), lookup(t, "linux"), generous)
	var ce *module.CheckError
	if errors.As(err, &ce) {
		t.Fatalf("cancelled check blamed the module: %v", err)
	}
}

// The gateway checks many modules at once.
func TestConcurrentChecks(t *testing.T) {
	c, err := module.NewChecker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	apps := [][]byte{wasmtest.App(t, "blinker"), wasmtest.App(t, "sensor"), wasmtest.App(t, "spin")}
	p := lookup(t, "nano33ble")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if _, err := c.Check(context.Background(), apps[i%len(apps)], p, limitsFor(p)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// The allocator turns a grow past the limit into memory.grow returning -1,
// and tells the caller.
func TestAllocatorLimit(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasm := wasmtest.WAT(t, `(module (memory (export "memory") 1)
	  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`)
	var refused []uint64
	ictx := experimental.WithMemoryAllocator(ctx, module.NewAllocator(2*65536, func(n uint64) { refused = append(refused, n) }))
	mod, err := rt.InstantiateWithConfig(ictx, wasm, module.InstanceConfig())
	if err != nil {
		t.Fatal(err)
	}
	grow := mod.ExportedFunction("grow")
	if r, err := grow.Call(ctx, 1); err != nil || int32(r[0]) != 1 {
		t.Fatalf("grow 1: %v %v", r, err)
	}
	if r, err := grow.Call(ctx, 1); err != nil || int32(r[0]) != -1 {
		t.Fatalf("grow past the limit: %v %v", r, err)
	}
	if !slices.Equal(refused, []uint64{3 * 65536}) {
		t.Fatalf("refused %v", refused)
	}
	if mod.Memory().Size() != 2*65536 {
		t.Fatalf("memory %d bytes", mod.Memory().Size())
	}
}
