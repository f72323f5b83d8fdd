package corpus

import (
	"encoding/binary"
	"math"
)

// A small WebAssembly 1.0 binary encoder: just what the corpus needs (one
// memory, one funcref table, active element and data segments, functions,
// mutable globals with constant initialisers, exports, a start section for
// the module that must be refused for having one).

// valType is a value type's binary encoding.
type valType byte

const (
	i32 valType = 0x7f
	i64 valType = 0x7e
	f64 valType = 0x7c
)

// Opcodes used by the generator (WebAssembly 1.0, section 5.4).
const (
	opUnreachable  = 0x00
	opBlock        = 0x02
	opLoop         = 0x03
	opIf           = 0x04
	opElse         = 0x05
	opEnd          = 0x0b
	opBr           = 0x0c
	opBrIf         = 0x0d
	opBrTable      = 0x0e
	opReturn       = 0x0f
	opCall         = 0x10
	opCallIndirect = 0x11
	opDrop         = 0x1a
	opSelect       = 0x1b
	opLocalGet     = 0x20
	opLocalSet     = 0x21
	opLocalTee     = 0x22
	opGlobalGet    = 0x23
	opGlobalSet    = 0x24
	opI32Load      = 0x28
	opI64Load      = 0x29
	opF64Load      = 0x2b
	opI32Load8U    = 0x2d
	opI32Load16U   = 0x2f
	opI32Store     = 0x36
	opI64Store     = 0x37
	opF64Store     = 0x39
	opI32Store8    = 0x3a
	opMemorySize   = 0x3f
	opMemoryGrow   = 0x40
	opI32Const     = 0x41
	opI64Const     = 0x42
	opF64Const     = 0x44
	opI32Eqz       = 0x45
	opI32Eq        = 0x46
	opI32Ne        = 0x47
	opI32LtS       = 0x48
	opI32LtU       = 0x49
	opI32GtS       = 0x4a
	opI32GeU       = 0x4f
	opI64Eqz       = 0x50
	opI64Ne        = 0x52
	opI64LtU       = 0x54
	opI64GtS       = 0x55
	opF64Lt        = 0x63
	opF64Gt        = 0x64
	opF64Ge        = 0x66
	opI32Clz       = 0x67
	opI32Popcnt    = 0x69
	opI32Add       = 0x6a
	opI32Sub       = 0x6b
	opI32Mul       = 0x6c
	opI32DivU      = 0x6e
	opI32RemU      = 0x70
	opI32And       = 0x71
	opI32Or        = 0x72
	opI32Xor       = 0x73
	opI32Shl       = 0x74
	opI32ShrS      = 0x75
	opI32ShrU      = 0x76
	opI32Rotl      = 0x77
	opI64Ctz       = 0x7a
	opI64Add       = 0x7c
	opI64Sub       = 0x7d
	opI64Mul       = 0x7e
	opI64DivU      = 0x80
	opI64And       = 0x83
	opI64Or        = 0x84
	opI64Xor       = 0x85
	opI64Shl       = 0x86
	opI64ShrU      = 0x88
	opI64Rotr      = 0x8a
	opF64Abs       = 0x99
	opF64Neg       = 0x9a
	opF64Floor     = 0x9c
	opF64Nearest   = 0x9e
	opF64Sqrt      = 0x9f
	opF64Add       = 0xa0
	opF64Sub       = 0xa1
	opF64Mul       = 0xa2
	opF64Div       = 0xa3
	opF64Min       = 0xa4
	opF64Max       = 0xa5
	opI32WrapI64   = 0xa7
	opI64ExtendS   = 0xac
	opI64ExtendU   = 0xad
	opF64FromI32S  = 0xb7
	opF64FromI32U  = 0xb8
	opF64FromI64S  = 0xb9
	opF64FromI64   = 0xbf // f64.reinterpret_i64
)

// code is a byte buffer with WebAssembly's encodings.
type code []byte

func (c *code) op(b ...byte) { *c = append(*c, b...) }

func (c *code) u32(v uint32) { *c = binary.AppendUvarint(*c, uint64(v)) }

func (c *code) s64(v int64) {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			*c = append(*c, b)
			return
		}
		*c = append(*c, b|0x80)
	}
}

func (c *code) name(s string) {
	c.u32(uint32(len(s)))
	*c = append(*c, s...)
}

func (c *code) bytes(b []byte) {
	c.u32(uint32(len(b)))
	*c = append(*c, b...)
}

func (c *code) i32c(v int32) { c.op(opI32Const); c.s64(int64(v)) }
func (c *code) i64c(v int64) { c.op(opI64Const); c.s64(v) }
func (c *code) f64c(v float64) {
	c.op(opF64Const)
	*c = binary.LittleEndian.AppendUint64(*c, math.Float64bits(v))
}
func (c *code) idx(op byte, i uint32) { c.op(op); c.u32(i) }

// mem emits a load or store with its memarg (alignment as log2, offset).
func (c *code) mem(op byte, align, offset uint32) { c.op(op); c.u32(align); c.u32(offset) }

// funcType is a function type.
type funcType struct{ params, results []valType }

func (t funcType) key() string {
	var c code
	c.types(t.params)
	c.types(t.results)
	return string(c)
}

func (c *code) types(ts []valType) {
	c.u32(uint32(len(ts)))
	for _, t := range ts {
		c.op(byte(t))
	}
}

type imported struct {
	module, name string
	typ          uint32
}

type function struct {
	typ    uint32
	locals []valType // beyond the parameters, in order
	body   code      // without the final end
}

type global struct {
	typ  valType
	init code // a constant expression, without end
}

type export struct {
	name  string
	kind  byte // 0 func, 1 table, 2 memory, 3 global
	index uint32
}

type dataSeg struct {
	offset uint32
	data   []byte
}

// builder assembles a module. Function indices count imports first.
type builder struct {
	types    []funcType
	imports  []imported
	funcs    []function
	table    int64 // minimum size; -1: no table
	memMin   int64 // -1: no memory
	memMax   int64 // -1: no maximum
	globals  []global
	exports  []export
	start    int64 // -1: none
	elems    []uint32
	data     []dataSeg
	codeSize int // the code section's payload size, set by encode
}

func newBuilder() *builder { return &builder{table: -1, memMin: -1, memMax: -1, start: -1} }

// typeOf returns the index of a function type, adding it once.
func (b *builder) typeOf(params, results []valType) uint32 {
	t := funcType{params, results}
	for i, u := range b.types {
		if u.key() == t.key() {
			return uint32(i)
		}
	}
	b.types = append(b.types, t)
	return uint32(len(b.types) - 1)
}

func (b *builder) importFunc(module, name string, params, results []valType) uint32 {
	b.imports = append(b.imports, imported{module, name, b.typeOf(params, results)})
	return uint32(len(b.imports) - 1)
}

// reserve adds a function to be defined later (its body set with define);
// it returns the function's index.
func (b *builder) reserve(params, results []valType) uint32 {
	b.funcs = append(b.funcs, function{typ: b.typeOf(params, results)})
	return uint32(len(b.imports) + len(b.funcs) - 1)
}

func (b *builder) define(index uint32, locals []valType, body code) {
	f := &b.funcs[int(index)-len(b.imports)]
	f.locals, f.body = locals, body
}

func (b *builder) addGlobal(t valType, init int64) uint32 {
	var c code
	switch t {
	case i32:
		c.i32c(int32(init))
	case i64:
		c.i64c(init)
	case f64:
		c.f64c(float64(init))
	}
	b.globals = append(b.globals, global{t, c})
	return uint32(len(b.globals) - 1)
}

func (b *builder) exportFunc(name string, index uint32) {
	b.exports = append(b.exports, export{name, 0, index})
}

func section(out []byte, id byte, payload code) []byte {
	out = append(out, id)
	out = binary.AppendUvarint(out, uint64(len(payload)))
	return append(out, payload...)
}

func limits(c *code, min, max int64) {
	if max < 0 {
		c.op(0)
		c.u32(uint32(min))
		return
	}
	c.op(1)
	c.u32(uint32(min))
	c.u32(uint32(max))
}

// encode returns the module's bytes.
func (b *builder) encode() []byte {
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	if len(b.types) > 0 {
		var c code
		c.u32(uint32(len(b.types)))
		for _, t := range b.types {
			c.op(0x60)
			c.types(t.params)
			c.types(t.results)
		}
		out = section(out, 1, c)
	}
	if len(b.imports) > 0 {
		var c code
		c.u32(uint32(len(b.imports)))
		for _, im := range b.imports {
			c.name(im.module)
			c.name(im.name)
			c.op(0)
			c.u32(im.typ)
		}
		out = section(out, 2, c)
	}
	if len(b.funcs) > 0 {
		var c code
		c.u32(uint32(len(b.funcs)))
		for _, f := range b.funcs {
			c.u32(f.typ)
		}
		out = section(out, 3, c)
	}
	if b.table >= 0 {
		var c code
		c.u32(1)
		c.op(0x70)
		limits(&c, b.table, -1)
		out = section(out, 4, c)
	}
	if b.memMin >= 0 {
		var c code
		c.u32(1)
		limits(&c, b.memMin, b.memMax)
		out = section(out, 5, c)
	}
	if len(b.globals) > 0 {
		var c code
		c.u32(uint32(len(b.globals)))
		for _, g := range b.globals {
			c.op(byte(g.typ), 1) // mutable
			c.op(g.init...)
			c.op(opEnd)
		}
		out = section(out, 6, c)
	}
	if len(b.exports) > 0 {
		var c code
		c.u32(uint32(len(b.exports)))
		for _, e := range b.exports {
			c.name(e.name)
			c.op(e.kind)
			c.u32(e.index)
		}
		out = section(out, 7, c)
	}
	if b.start >= 0 {
		var c code
		c.u32(uint32(b.start))
		out = section(out, 8, c)
	}
	if len(b.elems) > 0 {
		var c code
		c.u32(1)
		c.u32(0) // table 0, active, offset expression
		c.i32c(0)
		c.op(opEnd)
		c.u32(uint32(len(b.elems)))
		for _, e := range b.elems {
			c.u32(e)
		}
		out = section(out, 9, c)
	}
	var cs code
	cs.u32(uint32(len(b.funcs)))
	for _, f := range b.funcs {
		var body code
		// Locals, run-length encoded.
		var groups [][2]uint32
		for _, t := range f.locals {
			if n := len(groups); n > 0 && groups[n-1][1] == uint32(t) {
				groups[n-1][0]++
			} else {
				groups = append(groups, [2]uint32{1, uint32(t)})
			}
		}
		body.u32(uint32(len(groups)))
		for _, g := range groups {
			body.u32(g[0])
			body.op(byte(g[1]))
		}
		body = append(body, f.body...)
		body.op(opEnd)
		cs.bytes(body)
	}
	if len(b.funcs) > 0 {
		b.codeSize = len(cs)
		out = section(out, 10, cs)
	}
	if len(b.data) > 0 {
		var c code
		c.u32(uint32(len(b.data)))
		for _, d := range b.data {
			c.u32(0) // memory 0, active
			c.i32c(int32(d.offset))
			c.op(opEnd)
			c.bytes(d.data)
		}
		out = section(out, 11, c)
	}
	return out
}
