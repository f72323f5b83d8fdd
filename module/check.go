// Package module checks WebAssembly modules against the host ABI (package
// abi) and a board profile (package board) before anything is rolled out: the
// gateway refuses, at plan or apply time, a module that could not run on the
// devices it targets, and the agent runs the same checks before installing.
package module

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/protocol"
)

// Limits are a deploy's limits: Memory (bytes of linear memory) and Fuel (per
// init or tick call) are checked; TickMS is not.
type Limits = protocol.Limits

// Reason says why a module cannot run on a board; it is stable, for programs.
type Reason string

// Reasons, as docs/abi.md lists them.
const (
	ReasonTooLarge        Reason = "too_large"        // larger than the board's module storage
	ReasonInvalidWasm     Reason = "invalid_wasm"     // does not decode or validate
	ReasonUnknownImport   Reason = "unknown_import"   // imports something outside the ABI
	ReasonImportSignature Reason = "import_signature" // imports an ABI function with another type
	ReasonMissingFeature  Reason = "missing_feature"  // imports a function whose feature the board lacks
	ReasonMissingExport   Reason = "missing_export"   // no tick or memory export, or tick/init of the wrong type
	ReasonStartFunction   Reason = "start_function"   // has a start function
	ReasonMemory          Reason = "memory"           // initial memory exceeds the limit or the board
	ReasonLimits          Reason = "limits"           // the deploy's limits are zero or exceed the board
	ReasonInstantiate     Reason = "instantiate"      // does not instantiate
)

// CheckError says why a module cannot run on a board. Message names the
// board and the import or size involved, so a caller can print
// "module X cannot run on board Y: " + Message.
type CheckError struct {
	Board   string // the board profile's name
	Reason  Reason
	Import  string // "wasmbed.gpio_write", when the problem is an import
	Message string // what is wrong, for humans
	Err     error  // the underlying error (wazero's), if any
}

func (e *CheckError) Error() string {
	return "module cannot run on board " + e.Board + ": " + e.Message
}

func (e *CheckError) Unwrap() error { return e.Err }

// Info describes a module that passed the checks.
type Info struct {
	Size     int
	SHA256   [32]byte
	Imports  []string      // qualified names, "wasmbed.log", in import order
	Features []abi.Feature // the features the imports need, in abi.Features order
	// MemoryMinPages and MemoryMaxPages are the declared limits of the
	// module's memory, in 64 KiB pages; HasMemoryMax is false when no
	// maximum is declared (MemoryMaxPages is then 65536).
	MemoryMinPages uint32
	MemoryMaxPages uint32
	HasMemoryMax   bool
	HasInit        bool // exports init
}

// MemoryMin is the initial memory in bytes.
func (i *Info) MemoryMin() uint64 { return uint64(i.MemoryMinPages) * abi.PageSize }

// Checker checks modules with one wazero runtime (the interpreter: a check
// compiles each module once and runs none of its code, so native compilation
// would only cost time). It is safe for concurrent use.
type Checker struct {
	rt wazero.Runtime
}

// NewChecker makes a Checker. Close it when done.
func NewChecker(ctx context.Context) (*Checker, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCloseOnContextDone(true))
	if err := StubHost(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &Checker{rt: rt}, nil
}

// Close releases the runtime.
func (c *Checker) Close(ctx context.Context) error { return c.rt.Close(ctx) }

var defaultChecker = sync.OnceValues(func() (*Checker, error) { return NewChecker(context.Background()) })

// Check validates wasm for a board and a deploy's limits with a shared
// Checker. See Checker.Check.
func Check(ctx context.Context, wasm []byte, prof board.Profile, lim Limits) (*Info, error) {
	c, err := defaultChecker()
	if err != nil {
		return nil, fmt.Errorf("module: checker: %w", err)
	}
	return c.Check(ctx, wasm, prof, lim)
}

// Validate checks that wasm decodes and validates as a WebAssembly module,
// whatever the board: what the gateway checks when a module is uploaded. The
// error is a *CheckError with ReasonInvalidWasm and no board.
func Validate(ctx context.Context, wasm []byte) error {
	c, err := defaultChecker()
	if err != nil {
		return fmt.Errorf("module: checker: %w", err)
	}
	cm, err := c.rt.CompileModule(ctx, wasm)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &CheckError{Reason: ReasonInvalidWasm, Err: err, Message: "not a valid WebAssembly module: " + err.Error()}
	}
	return cm.Close(ctx)
}

// instantiateTimeout bounds the check's instantiation, which runs no app
// code (start functions are refused) but copies data segments.
const instantiateTimeout = 10 * time.Second

// Check validates wasm for a board and a deploy's limits: it fits the board's
// module storage; it compiles; it imports only ABI functions, with their exact
// types, whose features the board offers; it exports tick () -> (), an
// optional init () -> () and its memory; it has no start function; its
// initial memory fits the limit and the board's RAM for apps; and it
// instantiates, with stub host functions, under that memory limit. A module
// that fails is reported as a *CheckError; other errors are the caller's
// (a cancelled context).
func (c *Checker) Check(ctx context.Context, wasm []byte, prof board.Profile, lim Limits) (*Info, error) {
	if err := checkSize(wasm, prof); err != nil {
		return nil, err
	}
	cm, err := c.rt.CompileModule(ctx, wasm)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &CheckError{Board: prof.Name, Reason: ReasonInvalidWasm, Err: err,
			Message: "not a valid WebAssembly module: " + err.Error()}
	}
	defer cm.Close(ctx)
	info, err := Inspect(cm, wasm, prof, lim)
	if err != nil {
		return nil, err
	}
	ictx, cancel := context.WithTimeout(ctx, instantiateTimeout)
	defer cancel()
	ictx = experimental.WithMemoryAllocator(ictx, NewAllocator(MemoryLimit(prof, lim), nil))
	mod, err := c.rt.InstantiateModule(ictx, cm, InstanceConfig())
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &CheckError{Board: prof.Name, Reason: ReasonInstantiate, Err: err,
			Message: "does not instantiate: " + err.Error()}
	}
	if err := mod.Close(ctx); err != nil {
		return nil, fmt.Errorf("module: close instance: %w", err)
	}
	return info, nil
}

// InstanceConfig is the module configuration apps are instantiated with:
// anonymous (one compiled module, many instances) and no start functions
// called by name (wazero calls "_start" by default).
func InstanceConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().WithName("").WithStartFunctions()
}

// MemoryLimit is the linear memory an app may have: the deploy's limit,
// capped by the board's RAM for apps.
func MemoryLimit(prof board.Profile, lim Limits) uint64 {
	return min(uint64(lim.Memory), uint64(prof.AppRAM))
}

func checkSize(wasm []byte, prof board.Profile) error {
	if uint64(len(wasm)) > uint64(prof.ModuleFlash) {
		return &CheckError{Board: prof.Name, Reason: ReasonTooLarge,
			Message: fmt.Sprintf("the module is %s; board %s has %s of module storage",
				board.FormatBytes(uint64(len(wasm))), prof.Name, board.FormatBytes(uint64(prof.ModuleFlash)))}
	}
	return nil
}

// Inspect runs the checks that need no instance on a module compiled by any
// wazero runtime from wasm: size, imports, exports, start function, memory
// and limits. The agent uses it on modules from its compile cache.
func Inspect(cm wazero.CompiledModule, wasm []byte, prof board.Profile, lim Limits) (*Info, error) {
	if err := checkSize(wasm, prof); err != nil {
		return nil, err
	}
	fail := func(r Reason, imp, format string, args ...any) (*Info, error) {
		return nil, &CheckError{Board: prof.Name, Reason: r, Import: imp, Message: fmt.Sprintf(format, args...)}
	}
	sc, err := scan(wasm)
	if err != nil {
		return nil, &CheckError{Board: prof.Name, Reason: ReasonInvalidWasm, Err: err,
			Message: "not a valid WebAssembly module: " + err.Error()}
	}
	info := &Info{Size: len(wasm), SHA256: sha256.Sum256(wasm)}

	// Imports: each one an ABI function of the exact type, offered by the board.
	funcTypes := map[string]api.FunctionDefinition{}
	for _, d := range cm.ImportedFunctions() {
		m, n, _ := d.Import()
		funcTypes[m+"\x00"+n] = d
	}
	need := map[abi.Feature]bool{}
	for _, imp := range sc.imports {
		q := imp.module + "." + imp.name
		if imp.module != abi.ModuleName {
			return fail(ReasonUnknownImport, q, "imports %s (%s) from module %q; apps may import only functions of module %q",
				q, imp.kindName(), imp.module, abi.ModuleName)
		}
		f, ok := abi.Lookup(imp.name)
		if !ok || imp.kind != 0 {
			return fail(ReasonUnknownImport, q, "imports %s (%s), which is not a function of the wasmbed ABI v%d",
				q, imp.kindName(), abi.Version)
		}
		d, ok := funcTypes[imp.module+"\x00"+imp.name]
		if !ok {
			return fail(ReasonInvalidWasm, q, "import %s: no function type (wazero and the import section disagree)", q)
		}
		params, results := valueTypes(d.ParamTypes()), valueTypes(d.ResultTypes())
		if !f.Matches(params, results) {
			return fail(ReasonImportSignature, q, "imports %s with type %s -> %s; ABI v%d defines %s",
				q, abi.TypeList(params), abi.TypeList(results), abi.Version, f.Signature())
		}
		if !prof.Has(f.Feature) {
			return fail(ReasonMissingFeature, q, "imports %s, which board %s lacks (feature %s)", q, prof.Name, f.Feature)
		}
		need[f.Feature] = true
		info.Imports = append(info.Imports, q)
	}
	for _, f := range abi.Features() {
		if need[f] {
			info.Features = append(info.Features, f)
		}
	}

	// Exports.
	exports := cm.ExportedFunctions()
	for _, name := range []string{abi.ExportTick, abi.ExportInit} {
		d, ok := exports[name]
		if !ok {
			if name == abi.ExportTick {
				return fail(ReasonMissingExport, "", "does not export the function %q () -> (), which the runtime calls every tick", name)
			}
			continue
		}
		if len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 0 {
			return fail(ReasonMissingExport, "", "exports %q with type %s -> %s; ABI v%d wants () -> ()",
				name, abi.TypeList(valueTypes(d.ParamTypes())), abi.TypeList(valueTypes(d.ResultTypes())), abi.Version)
		}
		info.HasInit = info.HasInit || name == abi.ExportInit
	}
	if sc.hasStart {
		return fail(ReasonStartFunction, "", "has a start function; app code must run in init or tick, under fuel")
	}
	mem, ok := cm.ExportedMemories()[abi.ExportMemory]
	if !ok {
		return fail(ReasonMissingExport, "", "does not export its memory as %q", abi.ExportMemory)
	}
	info.MemoryMinPages = mem.Min()
	info.MemoryMaxPages, info.HasMemoryMax = mem.Max()

	// Memory and limits.
	minBytes := info.MemoryMin()
	if minBytes > uint64(prof.AppRAM) {
		return fail(ReasonMemory, "", "needs %s of memory at start (%s of 64 KiB); board %s has %s of RAM for apps",
			board.FormatBytes(minBytes), pages(info.MemoryMinPages), prof.Name, board.FormatBytes(uint64(prof.AppRAM)))
	}
	if lim.Memory == 0 || lim.Fuel == 0 {
		return fail(ReasonLimits, "", "the deploy's limits must give positive memory and fuel (memory %d, fuel %d)", lim.Memory, lim.Fuel)
	}
	if lim.Memory > prof.AppRAM {
		return fail(ReasonLimits, "", "the memory limit of %s exceeds the %s of RAM board %s has for apps",
			board.FormatBytes(uint64(lim.Memory)), board.FormatBytes(uint64(prof.AppRAM)), prof.Name)
	}
	if prof.MaxFuel != 0 && lim.Fuel > prof.MaxFuel {
		return fail(ReasonLimits, "", "limits.fuel %d exceeds what board %s can run within its watchdog (%d)",
			lim.Fuel, prof.Name, prof.MaxFuel)
	}
	if minBytes > uint64(lim.Memory) {
		return fail(ReasonMemory, "", "needs %s of memory at start (%s of 64 KiB); the memory limit is %s",
			board.FormatBytes(minBytes), pages(info.MemoryMinPages), board.FormatBytes(uint64(lim.Memory)))
	}
	return info, nil
}

func pages(n uint32) string {
	if n == 1 {
		return "1 page"
	}
	return fmt.Sprintf("%d pages", n)
}

func valueTypes(ts []api.ValueType) []abi.ValueType {
	out := make([]abi.ValueType, len(ts))
	for i, t := range ts {
		out[i] = abi.ValueType(t)
	}
	return out
}

// StubHost instantiates, in rt, a "wasmbed" host module with every ABI
// function doing nothing (results 0), so modules can be instantiated without
// a device.
func StubHost(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ModuleName)
	for _, f := range abi.Functions() {
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
				clear(stack)
			}), APITypes(f.ParamTypes()), APITypes(f.Results)).
			Export(f.Name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("module: instantiate the stub %q host module: %w", abi.ModuleName, err)
	}
	return nil
}

// APITypes converts ABI value types to wazero's.
func APITypes(ts []abi.ValueType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		out[i] = api.ValueType(t)
	}
	return out
}

// NewAllocator returns a wazero memory allocator (for
// experimental.WithMemoryAllocator) that refuses to grow a linear memory
// beyond limit bytes. onRefuse, if not nil, is called with the size asked
// for each time it refuses; memory.grow then returns -1 to the app.
// Instantiating a module whose initial memory exceeds the limit must be
// prevented beforehand (Inspect does): wazero cannot take a refusal there.
func NewAllocator(limit uint64, onRefuse func(size uint64)) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capacity, _ uint64) experimental.LinearMemory {
		return &linearMemory{limit: limit, onRefuse: onRefuse, buf: make([]byte, 0, min(capacity, limit))}
	})
}

type linearMemory struct {
	buf      []byte
	high     int // the most of buf ever handed out: beyond it, buf is as make left it, zero
	limit    uint64
	onRefuse func(uint64)
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		if m.onRefuse != nil {
			m.onRefuse(size)
		}
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		old := len(m.buf)
		m.buf = m.buf[:size]
		if int(size) > old {
			// Grown memory reads zero. Only what was handed out before
			// (were a memory ever to shrink) needs clearing: the rest is
			// zero from make.
			clear(m.buf[old:max(old, min(int(size), m.high))])
		}
		m.high = max(m.high, int(size))
		return m.buf
	}
	nb := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.limit))
	copy(nb, m.buf)
	m.buf, m.high = nb, int(size)
	return m.buf
}

func (m *linearMemory) Free() { m.buf = nil }
