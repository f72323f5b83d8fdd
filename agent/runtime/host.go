package runtime

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmbed/wasmbed/abi"
	"github.com/wasmbed/wasmbed/module"
	"github.com/wasmbed/wasmbed/protocol"
)

// callKey carries the calling *app in the context of every init and tick
// call; the host functions, shared by all apps, find their app there.
type callKey struct{}

// hostTrap is a trap raised by a host function (a pointer outside the app's
// memory). It is panicked; wazero turns the panic into the call's error.
type hostTrap struct{ msg string }

func (t *hostTrap) Error() string { return t.msg }

func trapf(format string, args ...any) { panic(&hostTrap{msg: fmt.Sprintf(format, args...)}) }

// hostFuncs implements every function of the abi table.
var hostFuncs = map[string]func(a *app, mod api.Module, stack []uint64){
	"log": func(a *app, mod api.Module, stack []uint64) {
		level := int32(stack[0])
		text := read(mod, "log", "text", uint32(stack[1]), uint32(stack[2]))
		a.dev.sink.Log(a.spec.Name, protocol.LogRecord{
			Time:  a.dev.clock().UnixMilli(),
			Level: protocol.LogLevel(min(max(level, abi.LevelError), abi.LevelDebug)),
			Text:  clip(strings.ToValidUTF8(string(text), "\uFFFD"), abi.MaxLogText),
		})
	},
	"time_ms": func(a *app, _ api.Module, stack []uint64) {
		stack[0] = uint64(a.dev.clock().UnixMilli())
	},
	"gpio_write": func(a *app, _ api.Module, stack []uint64) {
		pin, value := int(int32(stack[0])), uint32(stack[1])
		if !a.dev.board.Writable(pin) {
			stack[0] = errno(abi.ErrInvalid)
			return
		}
		a.dev.pins[pin].Store(min(value, 1))
		stack[0] = errno(abi.OK)
	},
	"gpio_read": func(a *app, _ api.Module, stack []uint64) {
		pin := int(int32(stack[0]))
		if !a.dev.board.Readable(pin) {
			stack[0] = errno(abi.ErrInvalid)
			return
		}
		stack[0] = uint64(a.dev.pins[pin].Load())
	},
	"publish": func(a *app, mod api.Module, stack []uint64) {
		key := string(read(mod, "publish", "key", uint32(stack[0]), uint32(stack[1])))
		value := api.DecodeF64(stack[2])
		if protocol.ValidName(key) != nil || math.IsNaN(value) || math.IsInf(value, 0) {
			stack[0] = errno(abi.ErrInvalid)
			return
		}
		if !a.dev.sink.Publish(a.spec.Name, protocol.ValueRecord{Time: a.dev.clock().UnixMilli(), Key: key, Value: value}) {
			stack[0] = errno(abi.ErrBusy)
			return
		}
		a.stats.Published++
		stack[0] = errno(abi.OK)
	},
	"config_get": func(a *app, mod api.Module, stack []uint64) {
		key := string(read(mod, "config_get", "key", uint32(stack[0]), uint32(stack[1])))
		buf := read(mod, "config_get", "buffer", uint32(stack[2]), uint32(stack[3]))
		if protocol.ValidName(key) != nil {
			stack[0] = errno(abi.ErrInvalid)
			return
		}
		v, ok := a.spec.Config[key]
		switch {
		case !ok:
			stack[0] = errno(abi.ErrNotFound)
		case len(v) > len(buf):
			stack[0] = errno(abi.ErrTooSmall)
		default:
			stack[0] = uint64(copy(buf, v))
		}
	},
}

func errno(e abi.Errno) uint64 { return api.EncodeI32(int32(e)) }

// read returns the app's memory at [ptr, ptr+n), trapping when the range is
// not inside it. The slice aliases the memory: use it before the app runs on.
func read(mod api.Module, fn, what string, ptr, n uint32) []byte {
	mem := mod.Memory()
	if mem == nil {
		if n == 0 {
			return nil
		}
		trapf("wasmbed.%s: %s at [%d, %d) but the app has no memory", fn, what, ptr, uint64(ptr)+uint64(n))
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		trapf("wasmbed.%s: %s at [%d, %d) is outside the app's memory of %d bytes", fn, what, ptr, uint64(ptr)+uint64(n), mem.Size())
	}
	return b
}

// clip cuts s to at most n bytes at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// instantiateHost builds the "wasmbed" host module from the abi table.
func (e *Engine) instantiateHost(ctx context.Context) error {
	b := e.rt.NewHostModuleBuilder(abi.ModuleName)
	for _, f := range abi.Functions() {
		impl, ok := hostFuncs[f.Name]
		if !ok {
			return fmt.Errorf("runtime: no implementation of %s", f.QualifiedName())
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				a, _ := ctx.Value(callKey{}).(*app)
				if a == nil {
					trapf("wasmbed.%s called outside an app call", f.Name)
				}
				impl(a, mod, stack)
			}), module.APITypes(f.ParamTypes()), module.APITypes(f.Results)).
			WithName(f.Name).
			Export(f.Name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("runtime: instantiate the %q host module: %w", abi.ModuleName, err)
	}
	return nil
}
