package corpus

import (
	"fmt"
	"hash/fnv"
)

// Memory layout of apps with a memory (offsets in the first page).
const (
	addrKeyTick = 0    // "corpus.tick"
	addrKeySum  = 16   // "corpus.sum"
	addrKeyMode = 32   // "corpus.mode", the config key init reads
	addrMsgInit = 64   // init's log line
	addrMsgTick = 128  // the log line of every 8th tick
	addrCfgBuf  = 256  // config_get's buffer
	cfgBufCap   = 256  // values are at most 256 bytes
	scratchInt  = 1024 // integer scratch: 1 KiB
	scratchF64  = 2048 // float scratch: 1 KiB, never read as integers
	scratchMask = 0x3f8
	dataBase    = 4096 // the data segment (Params.Data bytes)
	// MaxData is the most data a one-page app can carry.
	MaxData = 65536 - dataBase
)

// Published keys.
const (
	KeyTick = "corpus.tick" // Base + the tick count (1, 2, ...)
	KeySum  = "corpus.sum"  // a checksum of the work done so far, as an unsigned 32-bit integer
	KeyMode = "corpus.mode" // the config key init reads and logs
)

// Behaviour is what an app does besides its work.
type Behaviour int

const (
	Normal   Behaviour = iota // runs, publishing KeyTick and KeySum every tick
	TrapInit                  // init does its work, logs, then reaches unreachable
	TrapTick                  // tick divides by zero on tick TrapAfter (values 1..TrapAfter-1 published first)
	Spin                      // tick loops forever: fuel
	Grow                      // tick grows memory a page at a time, forever: memory limit
	Recurse                   // tick recurses without end: call stack
)

func (b Behaviour) String() string {
	return [...]string{"normal", "trap-init", "trap-tick", "spin", "grow", "recurse"}[b]
}

// Params describe an app to generate.
type Params struct {
	// Seed picks the code; 0 derives it from Name.
	Seed uint64
	// Name goes into init's log line.
	Name string
	// Code is the code section's target size in bytes (at least about 600:
	// init, tick and a few workers). The generated section is within a few
	// hundred bytes of it.
	Code int
	// Data is the size of the data segment (a lookup table code reads), up to MaxData.
	Data int
	// Pages is the memory's initial size in 64 KiB pages; MaxPages its
	// declared maximum, or -1 for none. An app with 0 pages has no keys in
	// memory: it calls only time_ms, gpio_write and gpio_read, and publishes nothing.
	Pages    uint32
	MaxPages int64
	// Table is the minimum size of the function table (at least the number of workers).
	Table int
	// Base is added to the tick count published as KeyTick.
	Base float64
	// Behaviour and, for TrapTick, the tick that traps.
	Behaviour Behaviour
	TrapAfter int
	// Extra oddities for modules the gateway must refuse.
	ImportEnv bool // also imports env.abort, outside the ABI
	Start     bool // declares a start function
}

// Build generates the app's module. Same Params, same bytes.
func Build(p Params) []byte {
	b, _ := build(p)
	return b
}

// build returns the module and its code section's size.
func build(p Params) ([]byte, int) {
	seed := p.Seed
	if seed == 0 {
		h := fnv.New64a()
		h.Write([]byte(p.Name))
		seed = h.Sum64()
	}
	r := &rng{s: seed}
	mem := p.Pages > 0
	b := newBuilder()

	// Imports: only what init and tick call.
	if p.ImportEnv { // imported, called nowhere: enough for the check to refuse it
		b.importFunc("env", "abort", []valType{i32}, nil)
	}
	var fLog, fConfig, fPublish uint32
	if mem {
		fLog = b.importFunc("wasmbed", "log", []valType{i32, i32, i32}, nil)
	}
	fTime := b.importFunc("wasmbed", "time_ms", nil, []valType{i64})
	fWrite := b.importFunc("wasmbed", "gpio_write", []valType{i32, i32}, []valType{i32})
	fRead := b.importFunc("wasmbed", "gpio_read", []valType{i32}, []valType{i32})
	if mem {
		fPublish = b.importFunc("wasmbed", "publish", []valType{i32, i32, f64}, []valType{i32})
		fConfig = b.importFunc("wasmbed", "config_get", []valType{i32, i32, i32, i32}, []valType{i32})
	}

	// Globals.
	gCounter := b.addGlobal(i32, 0)
	gAcc := b.addGlobal(i32, 0)
	gTime := b.addGlobal(i64, 0)
	gPin := b.addGlobal(i32, 0)
	gCfg := b.addGlobal(i32, 0)
	m := &modGen{r: r, memory: mem, workerTyp: b.typeOf([]valType{i32, i32}, []valType{i32})}
	m.fstate = b.addGlobal(f64, 1)
	for range 3 {
		m.state = append(m.state, b.addGlobal(i32, int64(r.intn(1000))))
	}
	if mem && p.Data >= 16 {
		m.dataBase = dataBase
		mask := uint32(1)
		for mask*2 <= uint32(min(p.Data, MaxData)) {
			mask *= 2
		}
		m.dataMask = (mask - 1) &^ 7
	}

	// The fixed part: init, tick, a recursive function, the deep recursion.
	fInit := b.reserve(nil, nil)
	fTick := b.reserve(nil, nil)
	fRec := b.reserve([]valType{i32}, []valType{i32})
	var fDeep uint32
	if p.Behaviour == Recurse {
		fDeep = b.reserve([]valType{i32}, []valType{i32})
	}

	// Helpers (leaves), then workers by height, until the code reaches its
	// target. Workers of each height get a share of the budget.
	sigs := [][2][]valType{{{f64, f64}, {f64}}, {{i64, i32}, {i64}}, {{f64, i32}, {f64}}}
	if p.Code < 2048 {
		sigs = sigs[:1]
	}
	for _, sig := range sigs {
		idx := b.reserve(sig[0], sig[1])
		locals, body := m.genFunction(sig[0], sig[1][0], -1)
		b.define(idx, locals, body)
		m.helpers = append(m.helpers, callee{idx, sig[0], sig[1]})
	}
	size := func() int { // code bytes so far, roughly (bodies plus a few bytes each)
		n := 0
		for _, f := range b.funcs {
			n += len(f.body) + 2*len(f.locals)/3 + 4
		}
		return n
	}
	const fixed = 400 // init, tick and rec
	share := [maxHeight + 1]int{40, 30, 20, 10}
	target, cum := p.Code-fixed, 0
	for h := 0; h <= maxHeight; h++ {
		m.below[h] = len(m.workers)
		cum += share[h]
		for first := true; first || size() < target*cum/100; first = false {
			if h > 0 && m.below[h] == 0 {
				break
			}
			idx := b.reserve([]valType{i32, i32}, []valType{i32})
			locals, body := m.genFunction([]valType{i32, i32}, i32, h)
			b.define(idx, locals, body)
			m.workers = append(m.workers, idx)
		}
	}
	m.below[maxHeight+1] = len(m.workers)
	root := m.workers[len(m.workers)-1]
	w := int32(len(m.workers))

	b.table = int64(max(p.Table, len(m.workers)))
	b.elems = m.workers

	// rec(n): 1 if n < 1, else rec(n-1)*3 + n; tick calls it with n < 8.
	{
		var c code
		c.idx(opLocalGet, 0)
		c.i32c(1)
		c.op(opI32LtS)
		c.op(opIf, byte(i32))
		c.i32c(1)
		c.op(opElse)
		c.idx(opLocalGet, 0)
		c.i32c(1)
		c.op(opI32Sub)
		c.idx(opCall, fRec)
		c.i32c(3)
		c.op(opI32Mul)
		c.idx(opLocalGet, 0)
		c.op(opI32Add)
		c.op(opEnd)
		b.define(fRec, nil, c)
	}
	if p.Behaviour == Recurse {
		// deep(n) = deep(n+1) + 1, without end.
		var c code
		c.idx(opLocalGet, 0)
		c.i32c(1)
		c.op(opI32Add)
		c.idx(opCall, fDeep)
		c.i32c(1)
		c.op(opI32Add)
		b.define(fDeep, nil, c)
	}

	// Strings, in one data segment at 0.
	tag := fmt.Sprintf("corpus %s init", p.Name)
	if len(tag) > 60 {
		tag = tag[:60]
	}
	const tickMsg = "corpus tick"
	if mem {
		seg := make([]byte, addrCfgBuf)
		copy(seg[addrKeyTick:], KeyTick)
		copy(seg[addrKeySum:], KeySum)
		copy(seg[addrKeyMode:], KeyMode)
		copy(seg[addrMsgInit:], tag)
		copy(seg[addrMsgTick:], tickMsg)
		b.data = append(b.data, dataSeg{0, seg})
		if p.Data > 0 {
			d := make([]byte, min(p.Data, MaxData))
			for i := range d {
				if i%64 < 48 {
					d[i] = byte(r.next())
				} else {
					const text = "lookup table of a corpus app; "
					d[i] = text[i%len(text)]
				}
			}
			b.data = append(b.data, dataSeg{dataBase, d})
		}
	}

	// acc = acc op <code leaving an i32>
	mix := func(c *code, op byte, value func()) {
		value()
		c.idx(opGlobalGet, gAcc)
		c.op(op)
		c.idx(opGlobalSet, gAcc)
	}
	callTable := func(c *code, i func()) {
		c.idx(opGlobalGet, gCounter)
		c.idx(opGlobalGet, gAcc)
		i()
		c.op(opCallIndirect)
		c.u32(m.workerTyp)
		c.op(0)
	}

	// init: the clock, a log line, the config value (logged), a warm-up of
	// the first workers.
	{
		var c code
		c.idx(opCall, fTime)
		c.idx(opGlobalSet, gTime)
		if mem {
			c.i32c(3)
			c.i32c(addrMsgInit)
			c.i32c(int32(len(tag)))
			c.idx(opCall, fLog)
			c.i32c(addrKeyMode)
			c.i32c(int32(len(KeyMode)))
			c.i32c(addrCfgBuf)
			c.i32c(cfgBufCap)
			c.idx(opCall, fConfig)
			c.idx(opGlobalSet, gCfg)
			c.idx(opGlobalGet, gCfg)
			c.i32c(0)
			c.op(opI32GtS)
			c.op(opIf, 0x40)
			c.i32c(3)
			c.i32c(addrCfgBuf)
			c.idx(opGlobalGet, gCfg)
			c.idx(opCall, fLog)
			c.op(opEnd)
		}
		for i := range min(w, 8) {
			mix(&c, opI32Xor, func() { callTable(&c, func() { c.i32c(i) }) })
		}
		if p.Behaviour == TrapInit {
			c.op(opUnreachable)
		}
		b.define(fInit, nil, c)
	}

	// tick.
	{
		var c code
		c.idx(opGlobalGet, gCounter)
		c.i32c(1)
		c.op(opI32Add)
		c.idx(opGlobalSet, gCounter)
		switch p.Behaviour {
		case TrapTick:
			// acc += 1 / (TrapAfter - counter): divides by zero on tick TrapAfter.
			mix(&c, opI32Add, func() {
				c.i32c(1)
				c.i32c(int32(p.TrapAfter))
				c.idx(opGlobalGet, gCounter)
				c.op(opI32Sub)
				c.op(opI32DivU)
			})
		case Spin:
			c.op(opLoop, 0x40)
			mix(&c, opI32Add, func() { c.i32c(1) })
			c.op(opBr, 0)
			c.op(opEnd)
		case Grow:
			// Grow by a page until refused; a runtime that returns -1
			// instead of stopping the app gets a trap.
			c.op(opBlock, 0x40)
			c.op(opLoop, 0x40)
			c.i32c(1)
			c.op(opMemoryGrow, 0)
			c.i32c(-1)
			c.op(opI32Eq)
			c.op(opBrIf, 1)
			c.op(opBr, 0)
			c.op(opEnd)
			c.op(opEnd)
			c.op(opUnreachable)
		case Recurse:
			c.i32c(0)
			c.idx(opCall, fDeep)
			c.op(opDrop)
		}
		// The work: one worker in turn through the table, the root worker, rec.
		mix(&c, opI32Xor, func() {
			callTable(&c, func() {
				c.idx(opGlobalGet, gCounter)
				c.i32c(w)
				c.op(opI32RemU)
			})
		})
		mix(&c, opI32Add, func() {
			c.idx(opGlobalGet, gCounter)
			c.idx(opGlobalGet, gAcc)
			c.idx(opCall, root)
		})
		mix(&c, opI32Add, func() {
			c.idx(opGlobalGet, gCounter)
			c.i32c(7)
			c.op(opI32And)
			c.idx(opCall, fRec)
		})
		// The host: a LED, the button, the clock.
		c.i32c(0)
		c.idx(opGlobalGet, gCounter)
		c.i32c(1)
		c.op(opI32And)
		c.idx(opCall, fWrite)
		c.op(opDrop)
		c.i32c(0)
		c.idx(opCall, fRead)
		c.idx(opGlobalSet, gPin)
		c.idx(opCall, fTime)
		c.idx(opGlobalSet, gTime)
		if mem {
			c.i32c(addrKeyTick)
			c.i32c(int32(len(KeyTick)))
			c.f64c(p.Base)
			c.idx(opGlobalGet, gCounter)
			c.op(opF64FromI32U)
			c.op(opF64Add)
			c.idx(opCall, fPublish)
			c.op(opDrop)
			c.i32c(addrKeySum)
			c.i32c(int32(len(KeySum)))
			c.idx(opGlobalGet, gAcc)
			c.op(opF64FromI32U)
			c.idx(opCall, fPublish)
			c.op(opDrop)
			c.idx(opGlobalGet, gCounter)
			c.i32c(7)
			c.op(opI32And)
			c.op(opI32Eqz)
			c.op(opIf, 0x40)
			c.i32c(4)
			c.i32c(addrMsgTick)
			c.i32c(int32(len(tickMsg)))
			c.idx(opCall, fLog)
			c.op(opEnd)
		}
		b.define(fTick, nil, c)
	}

	// Memory, exports, oddities.
	b.memMin, b.memMax = int64(p.Pages), p.MaxPages
	b.exports = append(b.exports, export{"memory", 2, 0})
	b.exportFunc("init", fInit)
	b.exportFunc("tick", fTick)
	if p.Start {
		b.start = int64(fInit)
	}
	out := b.encode()
	return out, b.codeSize
}
