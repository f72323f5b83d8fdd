package gateway

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Unauthenticated work on the device listener is bounded. A connection is
// pre-authentication ("pre-auth") from accept until it holds a device
// session or its enrollment is done, and goes through two stages:
//
//  1. Waiting for its ClientHello: no goroutine with a grown stack and no
//     buffer, only the socket and a goroutine parked in the runtime's
//     poller until the whole first TLS record has arrived (it stays in the
//     kernel's receive queue, peeked at, until then). This is what a
//     stalled or slow client costs: gateway_stalled_handshake_bytes.
//     Bounded by Config.MaxPreAuth and the descriptor budget; when either
//     is reached, the oldest connection still waiting here is closed to
//     make room (a real device's ClientHello comes within a round trip, a
//     staller's never does), and only if none is waiting is the new one
//     refused.
//  2. The TLS handshake, hello and, without a client certificate, the
//     enrollment: crypto/tls and the protocol. At most Config.MaxHandshakes
//     at once (a connection past stage 1 waits, still cheaply, for a slot)
//     and Config.MaxEnrollments enrollment sessions (beyond: busy).
//
// Both stages together end at Config.HandshakeTimeout after accept. Per
// source address (IPv4, or the /64 of IPv6) at most
// Config.MaxPreAuthPerSource are held (past it, the source's oldest
// connection in stage 1 makes room, or the new one is refused), and every
// connection that made the gateway work (stage 2) and ended without a
// session or an enrollment (a failed handshake, no hello, a refused
// enrollment, the deadline) takes a token from the source's bucket
// (Config.SourceFailureRate per second, Config.SourceFailureBurst deep); a
// source with an empty bucket is refused at accept. Stage 1 costs too little
// to ration: stallers are evicted, garbage is closed at its first byte.
// Devices that succeed never pay, so a fleet behind one NAT address is not
// limited by its own reconnects, nor by a staller among it.
//
// Refusals are counted (wasmbed_gateway_preauth_refused_total) and logged
// at most once per logEvery, never recorded as events.

// preauth is one pre-auth connection.
type preauth struct {
	raw      net.Conn
	src      *source
	deadline time.Time
	waiting  *list.Element // in admission.waiting while in stage 1
	srcWait  *list.Element // in src.waiting likewise
	evicted  atomic.Bool
	working  bool // in stage 2: crypto/tls and the protocol at work
}

// source is what the admission knows of one source address.
type source struct {
	key     string
	held    int        // pre-auth connections held
	waiting *list.List // of them in stage 1, oldest first; made when needed
	tokens  float64    // failure bucket
	updated time.Time  // of tokens
}

// admission bounds the device listener's pre-auth connections.
type admission struct {
	cfg     *Config
	metrics *Metrics
	log     *LogLimiter

	mu      sync.Mutex
	sources map[string]*source
	waiting *list.List // *preauth in stage 1, oldest first
	held    int        // pre-auth connections
	conns   atomic.Int64
	fdLimit int // descriptors the process may have open; 0: unknown
	fdBase  int // descriptors open when serving started (store, CA, listeners)
	reserve int // Config.FDReserve, or its default for fdLimit

	handshakes  chan struct{} // a slot per stage-2 connection
	enrollments chan struct{} // a slot per enrollment session
	spare       *os.File      // given up to accept-and-close when descriptors run out
}

func newAdmission(cfg *Config, m *Metrics, log *slog.Logger) *admission {
	a := &admission{cfg: cfg, metrics: m, log: newLogLimiter(log, logEvery), sources: map[string]*source{}, waiting: list.New(),
		handshakes: make(chan struct{}, cfg.MaxHandshakes), enrollments: make(chan struct{}, cfg.MaxEnrollments)}
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wasmbed_gateway_handshake_slots_used",
			Help: "Handshake slots taken (TLS handshake, hello, enrollment), of --max-handshakes."},
			func() float64 { return float64(len(a.handshakes)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wasmbed_gateway_enrollment_slots_used",
			Help: "Enrollment sessions in progress, of --max-enrollments."},
			func() float64 { return float64(len(a.enrollments)) }))
	return a
}

// logEvery is how often refusals of unauthenticated clients are logged at most.
const logEvery = 10 * time.Second

// start measures the descriptor budget and sets the spare descriptor aside.
func (a *admission) start() {
	a.fdLimit = a.cfg.MaxFDs
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && (a.fdLimit <= 0 || uint64(a.fdLimit) > rl.Cur) && rl.Cur < 1<<30 {
		a.fdLimit = int(rl.Cur)
	}
	a.reserve = a.cfg.FDReserve
	if a.reserve <= 0 {
		a.reserve = min(512, a.fdLimit/4)
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		a.fdBase = len(ents)
	} else {
		a.fdBase = 64
	}
	if f, err := os.Open(os.DevNull); err == nil {
		a.spare = f
	}
}

// stop gives the spare descriptor back and closes the connections still
// waiting for their ClientHello (those past it end with the gateway's
// context).
func (a *admission) stop() {
	if a.spare != nil {
		a.spare.Close()
	}
	a.mu.Lock()
	var waiting []net.Conn
	for e := a.waiting.Front(); e != nil; e = e.Next() {
		waiting = append(waiting, e.Value.(*preauth).raw)
	}
	a.mu.Unlock()
	for _, c := range waiting {
		c.Close()
	}
}

// fdBudget is how many device connections (sessions and pre-auth) may be
// open: the limit less what was open at start and the reserve, which the
// API, the store, the CA and the Kubernetes client keep.
func (a *admission) fdBudget() int {
	if a.fdLimit <= 0 {
		return 1 << 30
	}
	return a.fdLimit - a.fdBase - a.reserve
}

// sourceKey is the address a source is known by: the IPv4 address, or the
// /64 of an IPv6 one.
func sourceKey(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return addr.String()
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// refill brings src's bucket up to now; a.mu held.
func (a *admission) refill(src *source, now time.Time) {
	if a.cfg.SourceFailureRate <= 0 {
		src.tokens = float64(a.cfg.SourceFailureBurst)
		return
	}
	src.tokens = min(float64(a.cfg.SourceFailureBurst), src.tokens+now.Sub(src.updated).Seconds()*a.cfg.SourceFailureRate)
	src.updated = now
}

// admit decides on a connection just accepted: its pre-auth record, or nil
// if it was refused (and closed).
func (a *admission) admit(raw net.Conn) *preauth {
	now := time.Now()
	key := sourceKey(raw.RemoteAddr())
	var evict *preauth
	reason := ""
	a.mu.Lock()
	src := a.sources[key]
	if src == nil {
		src = &source{key: key, tokens: float64(a.cfg.SourceFailureBurst), updated: now}
		a.sources[key] = src
	}
	a.refill(src, now)
	switch {
	case src.tokens < 1:
		reason = "source_failures"
	case src.held >= a.cfg.MaxPreAuthPerSource:
		// Make room: the source's oldest connection still without a
		// ClientHello (a device behind the same NAT as a staller gets in).
		if evict = a.oldest(src.waiting); evict == nil {
			reason = "source_limit"
		}
	case a.held >= a.cfg.MaxPreAuth || int(a.conns.Load()) >= a.fdBudget():
		// Make room: the oldest connection still without a ClientHello.
		if evict = a.oldest(a.waiting); evict == nil && a.held >= a.cfg.MaxPreAuth {
			reason = "capacity"
		} else if evict == nil {
			reason = "fd_reserve"
		}
	}
	if reason != "" {
		a.forget(src)
		a.mu.Unlock()
		a.refuse(raw, reason)
		return nil
	}
	p := &preauth{raw: raw, src: src, deadline: now.Add(a.cfg.HandshakeTimeout)}
	p.waiting = a.waiting.PushBack(p)
	if src.waiting == nil {
		src.waiting = list.New()
	}
	p.srcWait = src.waiting.PushBack(p)
	src.held++
	a.held++
	a.conns.Add(1)
	a.mu.Unlock()
	a.metrics.PreAuth.Inc()
	if evict != nil {
		evict.raw.Close() // its waiting goroutine ends it
		a.metrics.PreAuthEvicted.Inc()
	}
	return p
}

// oldest takes the first connection of l (a stage-1 list) out of stage 1
// and marks it evicted; nil if l is empty. a.mu held.
func (a *admission) oldest(l *list.List) *preauth {
	if l == nil || l.Len() == 0 {
		return nil
	}
	p := l.Front().Value.(*preauth)
	a.unwait(p)
	p.evicted.Store(true)
	return p
}

// unwait takes p out of the stage-1 lists; a.mu held.
func (a *admission) unwait(p *preauth) {
	if p.waiting != nil {
		a.waiting.Remove(p.waiting)
		p.src.waiting.Remove(p.srcWait)
		p.waiting, p.srcWait = nil, nil
	}
}

// forget drops src when it holds nothing and its bucket is full; a.mu held.
func (a *admission) forget(src *source) {
	if src.held == 0 && src.tokens >= float64(a.cfg.SourceFailureBurst) {
		delete(a.sources, src.key)
	}
}

// refuse closes a connection the gateway will not serve, and counts it.
func (a *admission) refuse(raw net.Conn, reason string) {
	raw.Close()
	a.metrics.PreAuthRefused.WithLabelValues(reason).Inc()
	a.log.Log(reason, "unauthenticated connection refused", "reason", reason, "remote", raw.RemoteAddr().String())
}

// progressed takes p out of stage 1; false if it was evicted meanwhile.
func (a *admission) progressed(p *preauth) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unwait(p)
	p.working = !p.evicted.Load()
	return p.working
}

// done ends p's pre-auth time: ok if it became a device session or
// enrolled. Otherwise, if it made the gateway work (stage 2), its source
// pays a token.
func (a *admission) done(p *preauth, ok bool) {
	now := time.Now()
	a.mu.Lock()
	a.unwait(p)
	p.src.held--
	a.held--
	a.refill(p.src, now)
	if !ok && p.working {
		p.src.tokens = max(p.src.tokens-1, 0)
	}
	a.forget(p.src)
	a.mu.Unlock()
	a.metrics.PreAuth.Dec()
}

// closed counts a device connection closed (a pre-auth one refused later,
// or a session ended).
func (a *admission) closed() { a.conns.Add(-1) }

// acceptFailed handles an accept error: out of descriptors, the spare one
// is given up to accept and close the connection waiting, so that the
// listener's queue does not fill with connections nobody serves and the
// client hears at once. It reports whether it did.
func (a *admission) acceptFailed(l net.Listener, err error) bool {
	if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) || a.spare == nil {
		return false
	}
	a.spare.Close()
	if c, err := l.Accept(); err == nil {
		c.Close()
		a.metrics.PreAuthRefused.WithLabelValues("fd_exhausted").Inc()
	}
	a.spare, _ = os.Open(os.DevNull)
	a.log.Log("fd_exhausted", "out of file descriptors: a connection was accepted and closed", "err", err)
	return true
}

// clientHelloWait bounds a record header peek.
const maxClientHelloRecord = 1<<14 + 5

var peekBufs = sync.Pool{New: func() any { b := make([]byte, maxClientHelloRecord); return &b }}

// errGarbage: what the client sent first is not a TLS handshake record.
var errGarbage = errors.New("not a TLS handshake record")

// awaitClientHello parks until the connection's first TLS record has
// arrived whole, without reading it: crypto/tls reads it next. It fails
// when the deadline passes, the client closes, or what arrives cannot
// begin a TLS handshake.
func awaitClientHello(raw net.Conn, deadline time.Time) error {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil // not a socket (tests): crypto/tls waits
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	raw.SetReadDeadline(deadline)
	var werr error
	err = rc.Read(func(fd uintptr) bool {
		var hdr [5]byte
		n, _, e := syscall.Recvfrom(int(fd), hdr[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case e == syscall.EAGAIN || e == syscall.EINTR:
			return false
		case e != nil:
			werr = e
			return true
		case n == 0:
			werr = errors.New("closed by the client")
			return true
		}
		// A handshake record of a TLS version, no larger than the
		// protocol allows (RFC 8446 section 5.1).
		if hdr[0] != 22 || n > 1 && hdr[1] != 3 || n > 2 && hdr[2] > 4 {
			werr = errGarbage
			return true
		}
		if n < 5 {
			return partial(fd, &werr)
		}
		size := int(hdr[3])<<8 | int(hdr[4])
		if size == 0 || size > 1<<14 {
			werr = errGarbage
			return true
		}
		bp := peekBufs.Get().(*[]byte)
		n, _, e = syscall.Recvfrom(int(fd), (*bp)[:5+size], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		peekBufs.Put(bp)
		if e == nil && n == 5+size {
			return true
		}
		return partial(fd, &werr)
	})
	if err != nil {
		return err
	}
	return werr
}

// partial decides on a ClientHello that has arrived in part: wait for the
// rest (false), unless the client has closed (no more data will wake us).
func partial(fd uintptr, werr *error) bool {
	if peerClosed(fd) {
		*werr = errors.New("closed by the client")
		return true
	}
	return false
}

// acquire takes a slot of sem until deadline or ctx ends.
func acquire(ctx context.Context, sem chan struct{}, deadline time.Time) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// LogLimiter logs a kind of line at most once per interval; the lines
// dropped in between are counted in the next one.
type LogLimiter struct {
	log   *slog.Logger
	every time.Duration
	mu    sync.Mutex
	kinds map[string]*logKind
}

type logKind struct {
	last    time.Time
	dropped int
}

// NewLogLimiter makes a logger of lines that may come from anyone (refused
// clients, failed authentication): each kind at most once per every.
func NewLogLimiter(log *slog.Logger, every time.Duration) *LogLimiter {
	return newLogLimiter(log, every)
}

func newLogLimiter(log *slog.Logger, every time.Duration) *LogLimiter {
	return &LogLimiter{log: log, every: every, kinds: map[string]*logKind{}}
}

// Log logs msg at warning level unless a line of kind was logged less than
// the interval ago.
func (l *LogLimiter) Log(kind, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	k := l.kinds[kind]
	if k == nil {
		if len(l.kinds) > 64 {
			clear(l.kinds)
		}
		k = &logKind{}
		l.kinds[kind] = k
	}
	if now.Sub(k.last) < l.every {
		k.dropped++
		l.mu.Unlock()
		return
	}
	dropped := k.dropped
	k.last, k.dropped = now, 0
	l.mu.Unlock()
	if dropped > 0 {
		args = append(args, "similar_lines_dropped", dropped)
	}
	l.log.Warn(msg, args...)
}
