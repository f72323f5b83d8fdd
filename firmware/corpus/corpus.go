// Package corpus builds a corpus of realistic WebAssembly apps for Wasmbed
// devices (docs/abi.md), deterministically, from the Go source in this
// package: apps of 1 KiB to 128 KiB of code, with or without data segments,
// from 0 memory pages to more than a board has, with small and large
// function tables, importing and calling every ABI function; apps that
// behave (publish a value each tick), trap in init or after a few ticks, spin
// until their fuel runs out, grow their memory until the limit, recurse until
// the call stack ends; modules the gateway must refuse (initial memory over
// the limit, invalid, foreign imports, a start function); and two versions
// of one app for update loops. The host tests check every entry against the
// gateway's module check for every board profile and run the good ones on
// the Go agent's runtime; firmware/e2e pushes them to the firmware under QEMU.
//
// The modules are emitted by a small binary encoder (wasm.go) and a code
// generator (gen.go) rather than written as WAT for wat2wasm, because:
//   - sizes are parameters: a 96 KiB app is a number, not a 96 KiB source
//     file, and the code section's size is known exactly (Entry.CodeBytes),
//     so a search for the largest module a board runs can make any size;
//   - the bytes depend only on this package (splitmix64 seeded from the
//     entry's name), not on the wabt release installed, so a size or a
//     regression found once is found again, and a benchmark can reuse it;
//   - generation takes milliseconds and needs no external tool, so the host
//     tests stay fast and bench can build the corpus anywhere Go runs;
//   - invalid and odd modules (a type error, a truncated section, a start
//     function) are as easy to make as valid ones.
//
// The generated functions are valid, trap-free and bounded by construction
// (see gen.go); the host tests confirm it on wazero for every entry.
package corpus

import (
	"fmt"
	"slices"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
)

// PageSize is a WebAssembly page.
const PageSize = 65536

// States a runtime reports for an app (protocol.AppState's names).
const (
	StateRunning       = "running"
	StateTrapped       = "trapped"
	StateFuelExhausted = "fuel_exhausted"
	StateOutOfMemory   = "out_of_memory"
	StateFailed        = "failed"
)

// Reasons the gateway's module check gives (module.Reason's values).
const (
	ReasonTooLarge      = "too_large"
	ReasonInvalidWasm   = "invalid_wasm"
	ReasonUnknownImport = "unknown_import"
	ReasonStartFunction = "start_function"
	ReasonMemory        = "memory"
	ReasonLimits        = "limits"
)

// Expect is what an entry does, whatever the board.
type Expect struct {
	// Refused is the module check's reason when it refuses the module on
	// every board ("" when it depends only on sizes: see Entry.Verdict).
	Refused string
	// State is what a runtime reports once the app has settled: running, or
	// trapped, fuel_exhausted, out_of_memory (with a reason).
	State string
	// Publish: the app publishes KeyTick = Base + n on its n-th tick (and
	// KeySum) once running; Ticks values (1..Ticks) before it stops, for a
	// TrapTick app.
	Publish bool
	Base    float64
	Ticks   int
}

// Entry is one module of the corpus.
type Entry struct {
	Name      string
	Wasm      []byte
	CodeBytes int    // the code section's payload
	Pages     uint32 // initial memory
	Params    Params // how it was generated (zero for hand-made modules)
	// Limits and Config are the deploy's.
	Limits fleet.Limits
	Config map[string]string
	Expect Expect
	// Ladder marks the size ladder: apps that behave, from 1 KiB to 128 KiB of
	// code. A device that has no memory for one may refuse it (failed, with
	// a reason) rather than run it; other entries must do what Expect says.
	Ladder bool
}

// Verdict is what should become of an entry on a board: refused by the
// gateway's module check (Reason), or accepted and then reaching State.
type Verdict struct {
	Reason string // "" when accepted
	State  string
}

// Verdict derives the board's verdict from the entry's expectation and sizes,
// in the order the gateway's module check applies its rules: module storage
// (before the bytes are decoded), validity, the board's RAM for apps, the
// deploy's limits (memory, and fuel against the board's MaxFuel), the initial
// memory against the memory limit. (An upload refuses a module that is not
// valid WebAssembly before any board's check: Expect.Refused says which.)
func (e *Entry) Verdict(p board.Profile) Verdict {
	mem := uint64(e.Pages) * PageSize
	switch {
	case uint64(len(e.Wasm)) > uint64(p.ModuleFlash): // checked before the bytes are decoded
		return Verdict{Reason: ReasonTooLarge}
	case e.Expect.Refused == ReasonInvalidWasm:
		return Verdict{Reason: ReasonInvalidWasm}
	case e.Expect.Refused != "":
		return Verdict{Reason: e.Expect.Refused}
	case mem > uint64(p.AppRAM):
		return Verdict{Reason: ReasonMemory}
	case e.Limits.Memory == 0 || e.Limits.Fuel == 0 || e.Limits.Memory > p.AppRAM:
		return Verdict{Reason: ReasonLimits}
	case p.MaxFuel != 0 && e.Limits.Fuel > p.MaxFuel:
		return Verdict{Reason: ReasonLimits}
	case mem > uint64(e.Limits.Memory):
		return Verdict{Reason: ReasonMemory}
	}
	return Verdict{State: e.Expect.State}
}

// Tick period and fuel of every entry's deploy.
const (
	TickMS = 250
	Fuel   = fleet.DefaultFuel
)

// LadderSizes are the code sizes of the size ladder, in bytes.
var LadderSizes = []int{1 << 10, 2 << 10, 4 << 10, 8 << 10, 14 << 10, 16 << 10, 24 << 10, 32 << 10,
	48 << 10, 64 << 10, 96 << 10, 128 << 10}

// App makes an entry from Params, with a deploy's limits: memory for its
// initial pages (one page at least; 4 KiB, which reserves no page on a
// device, for an app with none), the default fuel, TickMS.
func App(name string, p Params) Entry {
	if p.Name == "" {
		p.Name = name
	}
	wasm, cs := build(p)
	lim := fleet.Limits{Fuel: Fuel, Memory: uint32(max(p.Pages, 1)) * PageSize, TickMS: TickMS}
	if p.Pages == 0 {
		lim.Memory = 4096
	}
	e := Entry{Name: name, Wasm: wasm, CodeBytes: cs, Pages: p.Pages, Params: p, Limits: lim,
		Config: map[string]string{KeyMode: "corpus " + name}, Expect: Expect{State: StateRunning}}
	if p.Pages > 0 {
		e.Expect.Publish, e.Expect.Base = true, p.Base
	}
	switch p.Behaviour {
	case TrapInit:
		e.Expect = Expect{State: StateTrapped}
	case TrapTick:
		e.Expect.State, e.Expect.Ticks = StateTrapped, p.TrapAfter-1
	case Spin:
		e.Expect = Expect{State: StateFuelExhausted}
	case Grow:
		e.Expect = Expect{State: StateOutOfMemory}
	case Recurse:
		e.Expect = Expect{State: StateTrapped}
	}
	return e
}

// Ladder is the size-ladder app of code bytes: one page, a KiB of data.
func Ladder(code int) Entry {
	e := App(ladderName(code), Params{Code: code, Data: 1024, Pages: 1, MaxPages: -1, Table: 16})
	e.Ladder = true
	return e
}

func ladderName(code int) string {
	if code%1024 == 0 {
		return "ok-" + itoa(code/1024) + "k"
	}
	return "ok-" + itoa(code) + "b"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// Update is version v (1 or 2) of the app "corpus-update", about 3 KiB of
// code (the size of the app whose updates crashed boards in issue 11): other
// code and another published base (v × 1,000,000) per version.
func Update(v int) Entry {
	e := App("corpus-update", Params{Name: "corpus-update v" + itoa(v), Seed: uint64(0xc0de0000 + v), Code: 2600,
		Data: 256, Pages: 1, MaxPages: -1, Table: 8, Base: float64(v) * 1e6})
	e.Name = "update-v" + itoa(v)
	return e
}

// UpdateApp is the application name both versions deploy as.
const UpdateApp = "corpus-update"

// All returns the corpus, in a fixed order: the size ladder, memory and data
// variants, misbehaving apps, modules to refuse, and the two update versions.
func All() []Entry {
	var out []Entry
	for _, n := range LadderSizes {
		out = append(out, Ladder(n))
	}
	app := func(name string, p Params) { out = append(out, App(name, p)) }
	one := func(p Params) Params { p.Pages, p.MaxPages = max(p.Pages, 1), -1; return p }
	app("ok-data8k", one(Params{Code: 2048, Data: 8192, Table: 16}))
	app("ok-data32k", one(Params{Code: 4096, Data: 32768, Table: 16}))
	app("ok-table1024", one(Params{Code: 4096, Data: 512, Table: 1024}))
	app("ok-pages0", Params{Code: 2048, Pages: 0, MaxPages: 0, Table: 8})
	app("ok-pages2", Params{Code: 2048, Data: 1024, Pages: 2, MaxPages: -1, Table: 8})
	app("ok-pages4", Params{Code: 2048, Data: 1024, Pages: 4, MaxPages: 8, Table: 8})
	app("ok-pages16", Params{Code: 2048, Data: 1024, Pages: 16, MaxPages: -1, Table: 8})
	app("mem-pages17", Params{Code: 2048, Data: 1024, Pages: 17, MaxPages: -1, Table: 8})

	app("trap-init", one(Params{Code: 2048, Data: 256, Table: 8, Behaviour: TrapInit}))
	app("trap-tick3", one(Params{Code: 2048, Data: 256, Table: 8, Behaviour: TrapTick, TrapAfter: 3}))
	app("spin", one(Params{Code: 1024, Table: 8, Behaviour: Spin}))
	// Spinning through the most fuel a board takes per call must end in
	// fuel_exhausted well before the firmware's watchdog (board.MaxFuel).
	for _, f := range []uint64{700_000, 2_000_000} {
		e := App(fmt.Sprintf("spin-%dk", f/1_000), one(Params{Code: 1024, Table: 8, Behaviour: Spin}))
		e.Limits.Fuel = f
		out = append(out, e)
	}
	grow0 := App("grow", Params{Code: 1024, Pages: 0, MaxPages: -1, Table: 8, Behaviour: Grow})
	grow0.Limits.Memory = PageSize // from no memory to one page, then refused
	out = append(out, grow0)
	grow := App("grow-1m", one(Params{Code: 1024, Table: 8, Behaviour: Grow}))
	grow.Limits.Memory = 1 << 20 // more than the STM32F4 has: refused there; 16 pages on the MPS2
	out = append(out, grow)
	app("recurse", one(Params{Code: 1024, Table: 8, Behaviour: Recurse}))

	// The smallest apps: no memory, about 700 B, for the boards of least RAM (the Uno R4's
	// module storage is 819 B): one that runs, one that traps, one that spins.
	tiny := func(name string, b Behaviour) {
		app(name, Params{Code: 600, Pages: 0, MaxPages: 0, Table: 4, Behaviour: b, TrapAfter: 3})
	}
	tiny("tiny", Normal)
	tiny("tiny-trap", TrapTick)
	tiny("tiny-spin", Spin)

	over := App("mem-over-limit", Params{Code: 1024, Pages: 2, MaxPages: -1, Table: 8})
	over.Limits.Memory = PageSize // the module needs two pages: over the limit everywhere
	out = append(out, over)
	bad := App("import-unknown", one(Params{Code: 1024, Table: 8, ImportEnv: true}))
	bad.Expect = Expect{Refused: ReasonUnknownImport}
	out = append(out, bad)
	start := App("start-function", one(Params{Code: 1024, Table: 8, Start: true}))
	start.Expect = Expect{Refused: ReasonStartFunction}
	out = append(out, start)
	out = append(out, invalidTruncated(), invalidType())

	out = append(out, Update(1), Update(2))
	return out
}

// Lookup returns the entry named name.
func Lookup(name string) (Entry, bool) {
	all := All()
	i := slices.IndexFunc(all, func(e Entry) bool { return e.Name == name })
	if i < 0 {
		return Entry{}, false
	}
	return all[i], true
}

// invalidTruncated is a good 4 KiB app cut in the middle of its code.
func invalidTruncated() Entry {
	e := App("invalid-truncated", Params{Code: 4096, Data: 256, Pages: 1, MaxPages: -1, Table: 8})
	e.Wasm = e.Wasm[:len(e.Wasm)*2/3]
	e.Expect = Expect{Refused: ReasonInvalidWasm}
	return e
}

// invalidType has every part an app needs, but tick adds an f64 to an i32.
func invalidType() Entry {
	b := newBuilder()
	tick := b.reserve(nil, nil)
	var c code
	c.f64c(1)
	c.i32c(1)
	c.op(opI32Add)
	c.op(opDrop)
	b.define(tick, nil, c)
	b.memMin = 1
	b.exports = append(b.exports, export{"memory", 2, 0})
	b.exportFunc("tick", tick)
	wasm := b.encode()
	return Entry{Name: "invalid-type", Wasm: wasm, CodeBytes: b.codeSize, Pages: 1,
		Limits: fleet.Limits{Fuel: Fuel, Memory: PageSize, TickMS: TickMS}, Expect: Expect{Refused: ReasonInvalidWasm}}
}
