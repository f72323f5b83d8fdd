package corpus

// The code generator: functions that look like what a compiler makes of
// small embedded apps (counted loops, nested ifs, switches as br_table,
// locals of the three value types, integer and float arithmetic, loads and
// stores into scratch memory and lookup tables, direct and indirect calls),
// built so that by construction they validate, never trap, and cost a
// bounded number of instructions per call:
//
//   - loops are counted (2 to 6 iterations), at most two deep, and hold no
//     calls; the loop counters are locals no other statement writes;
//   - calls form a DAG of height at most 4: a worker of height h calls only
//     helpers (leaves) and workers of lower height, at most maxCalls times,
//     directly or through the table (whose entries are all workers, sorted by
//     height, so an index taken modulo the number of lower workers can only
//     land on one of them);
//   - divisions are unsigned with the divisor or-ed with 1, there is no
//     float-to-int truncation, and every address is masked into scratch
//     memory or the data segment;
//   - what the checksum (corpus.sum) sees does not depend on the bits of a
//     NaN, which WebAssembly leaves to the runtime: floats reach integers only
//     through comparisons, and the float scratch area is never read as
//     integers.

const (
	maxHeight = 3 // workers have heights 0..maxHeight
	maxCalls  = 2 // calls per function (outside loops)
)

// rng is splitmix64: tiny, and its sequence is fixed forever, so the corpus
// is the same with every Go version.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// pct is true pct times in 100.
func (r *rng) pct(pct int) bool { return r.intn(100) < pct }

// callee is a function generated code may call.
type callee struct {
	index   uint32
	params  []valType
	results []valType
}

// modGen is what function generation needs to know of the module.
type modGen struct {
	r         *rng
	memory    bool   // the module has at least one page: loads and stores allowed
	dataBase  uint32 // the data segment's offset and a mask for reads in it (0: none)
	dataMask  uint32
	workerTyp uint32             // the type index of workers, (i32 i32) -> i32
	workers   []uint32           // worker function indices, by height; also the table's entries
	below     [maxHeight + 2]int // below[h]: how many workers have height < h
	helpers   []callee           // leaf helpers any function may call
	state     []uint32           // i32 globals workers mix into
	fstate    uint32             // an f64 global
}

// fgen generates one function.
type fgen struct {
	m        *modGen
	r        *rng
	c        code
	locals   []valType // parameters then locals
	counters []uint32  // loop counter locals, by loop depth
	nparams  int
	height   int // -1 for helpers: no worker calls
	calls    int // calls emitted so far
	loop     int // loop nesting at the current point
	stmts    int // statements left to emit
}

func (g *fgen) local(t valType) uint32 {
	g.locals = append(g.locals, t)
	return uint32(len(g.locals) - 1)
}

// pick returns a random local of type t that statements may write (not a
// loop counter), or false.
func (g *fgen) pick(t valType, writable bool) (uint32, bool) {
	var cands []uint32
	for i, u := range g.locals {
		if u != t {
			continue
		}
		if writable && i < g.nparams {
			continue
		}
		skip := false
		for _, c := range g.counters {
			if c == uint32(i) {
				skip = true
			}
		}
		if !skip {
			cands = append(cands, uint32(i))
		}
	}
	if len(cands) == 0 {
		return 0, false
	}
	return cands[g.r.intn(len(cands))], true
}

func (g *fgen) canCall() bool { return g.loop == 0 && g.calls < maxCalls }

// addr leaves an address in [base, base+mask] (mask has its low three bits
// clear, so 8-byte accesses stay in).
func (g *fgen) addr(d int, mask uint32) {
	g.expr(i32, d)
	g.c.i32c(int32(mask))
	g.c.op(opI32And)
}

// expr emits code leaving one value of type t, at most d levels deep.
func (g *fgen) expr(t valType, d int) {
	switch t {
	case i32:
		g.exprI32(d)
	case i64:
		g.exprI64(d)
	case f64:
		g.exprF64(d)
	}
}

func (g *fgen) leaf(t valType) {
	r := g.r
	if r.pct(55) {
		if l, ok := g.pick(t, false); ok {
			g.c.idx(opLocalGet, l)
			return
		}
	}
	switch t {
	case i32:
		if r.pct(25) && len(g.m.state) > 0 {
			g.c.idx(opGlobalGet, g.m.state[r.intn(len(g.m.state))])
			return
		}
		consts := []int32{0, 1, 2, 3, 7, 8, 16, 31, 255, 1000, -1, 0x5bd1e995, 0x1f, 65535}
		g.c.i32c(consts[r.intn(len(consts))])
	case i64:
		consts := []int64{1, 3, 0xff, 1 << 32, -7, 6364136223846793005, 1442695040888963407, 0x7fff_ffff}
		g.c.i64c(consts[r.intn(len(consts))])
	case f64:
		if r.pct(20) {
			g.c.idx(opGlobalGet, g.m.fstate)
			return
		}
		consts := []float64{0.5, 1, 1.5, 2, 3.25, 10, 0.001, -4, 100, 9.81}
		g.c.f64c(consts[r.intn(len(consts))])
	}
}

func (g *fgen) exprI32(d int) {
	r, c := g.r, &g.c
	if d <= 0 {
		g.leaf(i32)
		return
	}
	switch r.intn(14) {
	case 0, 1:
		g.leaf(i32)
	case 2, 3:
		g.exprI32(d - 1)
		g.exprI32(d - 1)
		ops := []byte{opI32Add, opI32Sub, opI32Mul, opI32And, opI32Or, opI32Xor, opI32Shl, opI32ShrU, opI32ShrS, opI32Rotl}
		c.op(ops[r.intn(len(ops))])
	case 4:
		switch r.intn(3) {
		case 0:
			g.exprI32(d - 1)
			g.exprI32(d - 1)
			ops := []byte{opI32LtS, opI32LtU, opI32GtS, opI32Eq, opI32Ne, opI32GeU}
			c.op(ops[r.intn(len(ops))])
		case 1:
			g.exprI64(d - 1)
			g.exprI64(d - 1)
			ops := []byte{opI64Ne, opI64LtU, opI64GtS}
			c.op(ops[r.intn(len(ops))])
		default:
			g.exprF64(d - 1)
			g.exprF64(d - 1)
			ops := []byte{opF64Lt, opF64Gt, opF64Ge}
			c.op(ops[r.intn(len(ops))])
		}
	case 5:
		g.exprI64(d - 1)
		c.op(opI32WrapI64)
	case 6:
		if !g.m.memory {
			g.leaf(i32)
			return
		}
		if g.m.dataMask != 0 && r.pct(50) {
			g.addr(d-1, g.m.dataMask)
			ops := []byte{opI32Load8U, opI32Load16U, opI32Load}
			i := r.intn(3)
			c.mem(ops[i], uint32(i), g.m.dataBase)
			return
		}
		g.addr(d-1, scratchMask)
		c.mem(opI32Load, 2, scratchInt)
	case 7:
		g.exprI32(d - 1)
		g.exprI32(d - 1)
		c.i32c(1)
		c.op(opI32Or)
		if r.pct(50) {
			c.op(opI32DivU)
		} else {
			c.op(opI32RemU)
		}
	case 8:
		g.exprI32(d - 1)
		ops := []byte{opI32Clz, opI32Popcnt, opI32Eqz}
		c.op(ops[r.intn(len(ops))])
	case 9:
		g.exprI32(d - 1)
		g.exprI32(d - 1)
		g.exprI32(d - 1)
		c.op(opSelect)
	case 10, 11:
		if g.height > 0 && g.canCall() {
			g.callWorker(d - 1)
			return
		}
		g.exprI32(d - 1)
	case 12:
		if l, ok := g.pick(i32, true); ok {
			g.exprI32(d - 1)
			c.idx(opLocalTee, l)
			return
		}
		g.leaf(i32)
	default:
		if g.m.memory && r.pct(30) {
			c.op(opMemorySize, 0)
			return
		}
		g.leaf(i32)
	}
}

// callWorker calls a lower worker, directly or through the table.
func (g *fgen) callWorker(d int) {
	g.calls++
	n := g.m.below[g.height]
	g.exprI32(d)
	g.exprI32(d)
	if g.r.pct(50) {
		g.c.idx(opCall, g.m.workers[g.r.intn(n)])
		return
	}
	g.exprI32(d)
	g.c.i32c(int32(n))
	g.c.op(opI32RemU)
	g.c.op(opCallIndirect)
	g.c.u32(g.m.workerTyp)
	g.c.op(0)
}

// callHelper calls a helper returning t, if there is one and a call may go here.
func (g *fgen) callHelper(t valType, d int) bool {
	if g.height < 0 || !g.canCall() {
		return false
	}
	var cands []callee
	for _, h := range g.m.helpers {
		if h.results[0] == t {
			cands = append(cands, h)
		}
	}
	if len(cands) == 0 {
		return false
	}
	h := cands[g.r.intn(len(cands))]
	g.calls++
	for _, p := range h.params {
		g.expr(p, d)
	}
	g.c.idx(opCall, h.index)
	return true
}

func (g *fgen) exprI64(d int) {
	r, c := g.r, &g.c
	if d <= 0 {
		g.leaf(i64)
		return
	}
	switch r.intn(9) {
	case 0, 1:
		g.leaf(i64)
	case 2, 3:
		g.exprI64(d - 1)
		g.exprI64(d - 1)
		ops := []byte{opI64Add, opI64Sub, opI64Mul, opI64And, opI64Or, opI64Xor, opI64Shl, opI64ShrU, opI64Rotr}
		c.op(ops[r.intn(len(ops))])
	case 4:
		g.exprI32(d - 1)
		if r.pct(50) {
			c.op(opI64ExtendS)
		} else {
			c.op(opI64ExtendU)
		}
	case 5:
		if !g.m.memory {
			g.leaf(i64)
			return
		}
		g.addr(d-1, scratchMask)
		c.mem(opI64Load, 3, scratchInt)
	case 6:
		g.exprI64(d - 1)
		g.exprI64(d - 1)
		c.i64c(1)
		c.op(opI64Or)
		c.op(opI64DivU)
	case 7:
		g.exprI64(d - 1)
		c.op(opI64Ctz)
	default:
		if !g.callHelper(i64, d-1) {
			g.leaf(i64)
		}
	}
}

func (g *fgen) exprF64(d int) {
	r, c := g.r, &g.c
	if d <= 0 {
		g.leaf(f64)
		return
	}
	switch r.intn(9) {
	case 0, 1:
		g.leaf(f64)
	case 2, 3:
		g.exprF64(d - 1)
		g.exprF64(d - 1)
		ops := []byte{opF64Add, opF64Sub, opF64Mul, opF64Div, opF64Min, opF64Max}
		c.op(ops[r.intn(len(ops))])
	case 4:
		g.exprF64(d - 1)
		ops := []byte{opF64Abs, opF64Neg, opF64Floor, opF64Nearest, opF64Sqrt}
		c.op(ops[r.intn(len(ops))])
	case 5:
		if r.pct(70) {
			g.exprI32(d - 1)
			if r.pct(50) {
				c.op(opF64FromI32S)
			} else {
				c.op(opF64FromI32U)
			}
		} else {
			g.exprI64(d - 1)
			c.op(opF64FromI64S)
		}
	case 6:
		if !g.m.memory {
			g.leaf(f64)
			return
		}
		// Any bytes read as a float are fine; floats are stored only in
		// their own area, which integers never read.
		g.addr(d-1, scratchMask)
		c.mem(opF64Load, 3, scratchF64)
	case 7:
		g.exprI64(d - 1)
		c.op(opF64FromI64)
	default:
		if !g.callHelper(f64, d-1) {
			g.leaf(f64)
		}
	}
}

// block emits n statements (fewer when the function's budget runs out).
func (g *fgen) block(n int) {
	for i := 0; i < n && g.stmts > 0; i++ {
		g.stmt()
	}
}

func (g *fgen) stmt() {
	g.stmts--
	r, c := g.r, &g.c
	switch k := r.intn(16); {
	case k < 5: // assignment
		t := []valType{i32, i32, i32, i64, f64}[r.intn(5)]
		l, ok := g.pick(t, true)
		if !ok {
			return
		}
		g.expr(t, 2+r.intn(2))
		c.idx(opLocalSet, l)
	case k < 6 && len(g.m.state) > 0:
		gl := g.m.state[r.intn(len(g.m.state))]
		c.idx(opGlobalGet, gl)
		g.exprI32(2)
		c.op(opI32Xor)
		c.idx(opGlobalSet, gl)
	case k < 8 && g.m.memory:
		g.addr(1, scratchMask)
		switch r.intn(4) {
		case 0:
			g.exprI32(2)
			c.mem(opI32Store, 2, scratchInt)
		case 1:
			g.exprI64(2)
			c.mem(opI64Store, 3, scratchInt)
		case 2:
			g.exprI32(2)
			c.mem(opI32Store8, 0, scratchInt)
		default:
			g.exprF64(2)
			c.mem(opF64Store, 3, scratchF64)
		}
	case k < 10:
		g.exprI32(2)
		c.op(opIf, 0x40)
		g.block(1 + r.intn(3))
		if r.pct(50) {
			c.op(opElse)
			g.block(1 + r.intn(2))
		}
		c.op(opEnd)
	case k < 12 && g.loop < len(g.counters):
		ctr := g.counters[g.loop]
		c.i32c(int32(2 + r.intn(5)))
		c.idx(opLocalSet, ctr)
		c.op(opLoop, 0x40)
		g.loop++
		g.block(2 + r.intn(3))
		g.loop--
		c.idx(opLocalGet, ctr)
		c.i32c(1)
		c.op(opI32Sub)
		c.idx(opLocalTee, ctr)
		c.op(opBrIf, 0)
		c.op(opEnd)
	case k < 13:
		// switch (e & mask) { case 0..n-1 }, default: none.
		n := 2 + r.intn(3)
		c.op(opBlock, 0x40)
		for range n {
			c.op(opBlock, 0x40)
		}
		g.exprI32(2)
		c.i32c(7)
		c.op(opI32And)
		c.op(opBrTable)
		c.u32(uint32(n))
		for i := range n {
			c.u32(uint32(i))
		}
		c.u32(uint32(n)) // default: out of the switch
		for i := range n {
			c.op(opEnd)
			g.block(1 + r.intn(2))
			if i < n-1 {
				c.op(opBr)
				c.u32(uint32(n - 1 - i))
			}
		}
		c.op(opEnd)
	case k < 15 && g.height > 0 && g.canCall():
		gl := g.m.state[0]
		g.callWorker(1)
		c.idx(opGlobalGet, gl)
		c.op(opI32Add)
		c.idx(opGlobalSet, gl)
	default:
		if g.callHelper(f64, 1) {
			c.idx(opGlobalGet, g.m.fstate)
			c.op(opF64Add)
			c.f64c(0.5)
			c.op(opF64Mul)
			c.idx(opGlobalSet, g.m.fstate)
			return
		}
		l, ok := g.pick(i64, true)
		if !ok {
			return
		}
		g.exprI64(2)
		c.idx(opLocalSet, l)
	}
}

// genFunction generates a function with params and one result. height is
// the worker's height (-1: a helper, which calls nothing).
func (m *modGen) genFunction(params []valType, result valType, height int) ([]valType, code) {
	r := m.r
	g := &fgen{m: m, r: r, height: height, nparams: len(params)}
	g.locals = append(g.locals, params...)
	for range 1 + r.intn(3) {
		g.local(i32)
	}
	for range 1 + r.intn(2) {
		g.local(i64)
	}
	for range 1 + r.intn(2) {
		g.local(f64)
	}
	g.counters = []uint32{g.local(i32), g.local(i32)}
	g.stmts = 4 + r.intn(9)
	for g.stmts > 0 {
		g.stmt()
	}
	// The result mixes a parameter or local with an expression.
	g.expr(result, 2)
	if l, ok := g.pick(result, false); ok {
		g.c.idx(opLocalGet, l)
		switch result {
		case i32:
			g.c.op(opI32Xor)
		case i64:
			g.c.op(opI64Add)
		case f64:
			g.c.op(opF64Add)
		}
	}
	return g.locals[len(params):], g.c
}
