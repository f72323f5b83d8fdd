// Package abi is the host ABI `wasmbed`, version 1: the functions a Wasmbed
// device offers to the WebAssembly apps it runs, and the exports it expects
// from them.
//
// It is the single source of truth, as Go data: the gateway's module check
// (package module) and the Go agent's runtime (package agent/runtime) iterate
// the same table, and docs/abi.md, which the Rust firmware implements, is
// checked against it by this package's tests.
package abi

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmbed/wasmbed/protocol"
)

// Version is the ABI version a device announces in Hello.ABIVersion.
const Version = protocol.ABIVersion

// ModuleName is the import module name of every host function.
const ModuleName = "wasmbed"

// PageSize is the size of a WebAssembly memory page. Only standard 64 KiB pages
// are accepted in version 1 (see docs/abi.md on custom page sizes).
const PageSize = 65536

// Exports an app provides.
const (
	ExportInit   = "init"   // optional, () -> (), called once when the app starts
	ExportTick   = "tick"   // required, () -> (), called every tick_ms
	ExportMemory = "memory" // required, the app's linear memory
)

// Feature is a capability a board offers; each host function needs one.
type Feature string

// Features, as Hello.Features and board profiles name them.
const (
	FeatureLog     Feature = "log"
	FeatureTime    Feature = "time"
	FeatureGPIO    Feature = "gpio"
	FeaturePublish Feature = "publish"
	FeatureConfig  Feature = "config"
)

// Features returns every feature of this ABI version, in table order.
func Features() []Feature {
	return []Feature{FeatureLog, FeatureTime, FeatureGPIO, FeaturePublish, FeatureConfig}
}

// ValueType is a WebAssembly value type, by its binary encoding (the same
// numbers as wazero's api.ValueType).
type ValueType byte

// Value types used by the ABI.
const (
	I32 ValueType = 0x7f
	I64 ValueType = 0x7e
	F32 ValueType = 0x7d
	F64 ValueType = 0x7c
)

func (t ValueType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	}
	return "type(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// Param is one parameter of a host function.
type Param struct {
	Name string
	Type ValueType
}

// Func is one host function.
type Func struct {
	Name    string      // export name in the "wasmbed" module
	Params  []Param     // in order
	Results []ValueType // zero or one
	Feature Feature     // the board feature it needs
	Doc     string      // one line, for docs and error messages
}

// QualifiedName is "wasmbed.<name>", as error messages print an import.
func (f Func) QualifiedName() string { return ModuleName + "." + f.Name }

// ParamTypes returns the parameter types in order.
func (f Func) ParamTypes() []ValueType {
	out := make([]ValueType, len(f.Params))
	for i, p := range f.Params {
		out[i] = p.Type
	}
	return out
}

// Signature renders the function type, e.g. "(pin i32, value i32) -> i32".
func (f Func) Signature() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, p := range f.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Name + " " + p.Type.String())
	}
	b.WriteString(") -> ")
	b.WriteString(TypeList(f.Results))
	return b.String()
}

// Matches reports whether params and results are exactly this function's type.
func (f Func) Matches(params, results []ValueType) bool {
	return slices.Equal(f.ParamTypes(), params) && slices.Equal(f.Results, results)
}

// TypeList renders a result or parameter type list: "()", "i32", "(i32, i64)".
func TypeList(ts []ValueType) string {
	switch len(ts) {
	case 0:
		return "()"
	case 1:
		return ts[0].String()
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// The function table of ABI version 1. Pointers and lengths are i32 offsets
// into the calling app's exported memory.
var funcs = []Func{
	{
		Name:    "log",
		Params:  []Param{{"level", I32}, {"ptr", I32}, {"len", I32}},
		Feature: FeatureLog,
		Doc:     "log the UTF-8 text at [ptr, ptr+len) at level 1 error, 2 warn, 3 info, 4 debug",
	},
	{
		Name:    "time_ms",
		Results: []ValueType{I64},
		Feature: FeatureTime,
		Doc:     "the device clock, Unix milliseconds (set from the gateway on boards without a clock)",
	},
	{
		Name:    "gpio_write",
		Params:  []Param{{"pin", I32}, {"value", I32}},
		Results: []ValueType{I32},
		Feature: FeatureGPIO,
		Doc:     "drive pin low (value 0) or high (any other value); 0 or a negative error",
	},
	{
		Name:    "gpio_read",
		Params:  []Param{{"pin", I32}},
		Results: []ValueType{I32},
		Feature: FeatureGPIO,
		Doc:     "read pin: 0 low, 1 high, or a negative error",
	},
	{
		Name:    "publish",
		Params:  []Param{{"key_ptr", I32}, {"key_len", I32}, {"value", F64}},
		Results: []ValueType{I32},
		Feature: FeaturePublish,
		Doc:     "send value under the name at [key_ptr, key_ptr+key_len) to the gateway; 0 or a negative error",
	},
	{
		Name:    "config_get",
		Params:  []Param{{"key_ptr", I32}, {"key_len", I32}, {"buf_ptr", I32}, {"buf_cap", I32}},
		Results: []ValueType{I32},
		Feature: FeatureConfig,
		Doc:     "copy the deploy's config value for the key into [buf_ptr, buf_ptr+buf_cap); bytes written or a negative error",
	},
}

// Functions returns the function table, in a fixed order. The slice is a copy.
func Functions() []Func {
	out := make([]Func, len(funcs))
	for i, f := range funcs {
		f.Params = slices.Clone(f.Params)
		f.Results = slices.Clone(f.Results)
		out[i] = f
	}
	return out
}

// Lookup finds a host function by name (without the module name).
func Lookup(name string) (Func, bool) {
	for _, f := range Functions() {
		if f.Name == name {
			return f, true
		}
	}
	return Func{}, false
}

// Errno is a negative i32 a host function returns for an error. Functions
// with an i32 result return 0 (or a count or value) on success.
type Errno int32

// Error returns of version 1. Errors are values the app can handle; a bug in
// the app's use of memory (a pointer range outside its memory) is a trap.
const (
	OK          Errno = 0
	ErrInvalid  Errno = -1 // an argument out of range: no such pin, key not a valid name, value not finite
	ErrNotFound Errno = -2 // config_get: the deploy has no value for this key
	ErrTooSmall Errno = -3 // config_get: buf_cap is smaller than the value; nothing was written
	ErrBusy     Errno = -4 // publish: the output queue is full (the gateway is unreachable); the value was dropped
)

var errnoNames = map[Errno]string{
	OK: "ok", ErrInvalid: "invalid", ErrNotFound: "not_found", ErrTooSmall: "too_small", ErrBusy: "busy",
}

// Errnos returns every defined code, OK first, then -1, -2, ...
func Errnos() []Errno { return []Errno{OK, ErrInvalid, ErrNotFound, ErrTooSmall, ErrBusy} }

func (e Errno) String() string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return "errno(" + strconv.Itoa(int(e)) + ")"
}

// Log levels of the log function; the same numbers as protocol.LogLevel.
const (
	LevelError = int32(protocol.LogError)
	LevelWarn  = int32(protocol.LogWarn)
	LevelInfo  = int32(protocol.LogInfo)
	LevelDebug = int32(protocol.LogDebug)
)

// Limits on what host functions pass on, the protocol's.
const (
	MaxLogText = protocol.MaxTextLen // log text is cut to this many bytes
	MaxKeyLen  = protocol.MaxNameLen // publish and config keys
)

// Fuel on wazero. The firmware's interpreter (wasmi) counts fuel in executed
// instructions; wazero cannot meter instructions, so the Go agent turns a
// call's fuel into a wall-clock budget. See docs/abi.md, "Fuel".
const (
	// FuelUnit is the time one unit of fuel buys on wazero: about one simple
	// instruction of compiled code on a current x86-64 or arm64 core.
	FuelUnit = time.Nanosecond
	// MinFuelBudget is the smallest budget of a call, whatever its fuel: the
	// budget is wall-clock time, and on a loaded machine waiting for a CPU
	// makes shorter deadlines unreliable.
	MinFuelBudget = 100 * time.Millisecond
	// MaxFuelBudget caps the budget of a call.
	MaxFuelBudget = 10 * time.Second
)

// FuelBudget is the wall-clock budget of one init or tick call given fuel:
// fuel × FuelUnit, clamped to [MinFuelBudget, MaxFuelBudget].
func FuelBudget(fuel uint64) time.Duration {
	if fuel >= uint64(MaxFuelBudget/FuelUnit) {
		return MaxFuelBudget
	}
	return max(time.Duration(fuel)*FuelUnit, MinFuelBudget)
}
