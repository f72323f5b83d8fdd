// Package bridge is the host side of the board's modem link (firmware/net/src/link.rs):
// it plays the modem on the other end of the board's second UART — under QEMU, the
// serial port given as `-serial tcp:HOST:PORT` connects to Serve's listener — and opens
// one real TCP connection per OPEN, so the gateway sees device sessions begin and end
// and TLS stays end to end (the bridge only carries ciphertext).
//
// Frames, both ways: SYNC 0xA5 | kind | id | length u16 BE | payload (<= 1024 bytes).
// Toward the device the bridge never has more than the device's announced window of
// bytes sent and not yet credited, so the device's receive ring cannot overflow.
package bridge

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Frame kinds.
const (
	KindReset  = 1
	KindOpen   = 2
	KindOpened = 3
	KindData   = 4
	KindClose  = 5
	KindClosed = 6
	KindCredit = 7
)

const (
	Sync       = 0xA5
	HeaderSize = 5
	MaxPayload = 1024
)

// Magic is the protocol name both sides put in RESET.
var Magic = []byte("wasmbed-link/1")

// Config configures a Bridge.
type Config struct {
	// Dial opens the TCP connection an OPEN asks for (default: net.Dialer, 10 s).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Allow, if set, vets an OPEN's address; an error refuses it.
	Allow func(addr string) error
	Log   *slog.Logger
}

// AllowList is a Config.Allow that admits only the listed host:port
// addresses (the gateways devices may reach); an empty list admits any.
func AllowList(addrs []string) func(addr string) error {
	if len(addrs) == 0 {
		return nil
	}
	return func(addr string) error {
		if slices.Contains(addrs, addr) {
			return nil
		}
		return fmt.Errorf("%s is not allowed", addr)
	}
}

// Stats counts what the bridge did, over all links.
type Stats struct {
	Links, Opens, Refused, Closes, Resets atomic.Int64
	ToDevice, FromDevice                  atomic.Int64 // payload bytes of DATA
}

// Bridge serves modem links.
type Bridge struct {
	cfg   Config
	Stats Stats
}

// New makes a bridge.
func New(cfg Config) *Bridge {
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		cfg.Dial = d.DialContext
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Bridge{cfg: cfg}
}

// Serve accepts links (one per emulated board's UART) on l until ctx ends.
func (b *Bridge) Serve(ctx context.Context, l net.Listener) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.ServeLink(ctx, c); err != nil {
				b.cfg.Log.Debug("link ended", "remote", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// ServeLink runs one link until it fails or ctx ends; it closes rw.
func (b *Bridge) ServeLink(ctx context.Context, rw io.ReadWriteCloser) error {
	b.Stats.Links.Add(1)
	l := &link{b: b, rw: rw, log: b.cfg.Log, conns: map[byte]*conn{}}
	l.cond = sync.NewCond(&l.mu)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		l.shutdown()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.writer()
	}()
	// A bridge that (re)starts greets the device (nonce 0), which then announces itself.
	l.enqueue(frame(KindReset, 0, resetPayload(0)), true)
	err := l.reader(ctx)
	l.shutdown()
	<-done
	return err
}

type conn struct {
	id      byte
	gen     int
	c       net.Conn // nil while dialing
	dropped bool     // closed by the device or a reset
}

type link struct {
	b   *Bridge
	rw  io.ReadWriteCloser
	log *slog.Logger

	mu     sync.Mutex
	cond   *sync.Cond
	window int
	credit int
	queue  [][]byte // frames for the device, in order
	queued int      // bytes in queue
	conns  map[byte]*conn
	gen    int // bumped by each device RESET: older frames and connections are dropped
	closed bool
}

// resetPayload is the bridge's RESET: the nonce of the device's RESET it answers (0: a
// greeting), then Magic.
func resetPayload(nonce uint32) []byte {
	return append(binary.BigEndian.AppendUint32(nil, nonce), Magic...)
}

func frame(kind, id byte, payload []byte) []byte {
	f := make([]byte, HeaderSize, HeaderSize+len(payload))
	f[0], f[1], f[2] = Sync, kind, id
	binary.BigEndian.PutUint16(f[3:], uint16(len(payload)))
	return append(f, payload...)
}

// enqueue queues a frame for the device; free frames skip flow control (the bridge's
// own RESET, sent before the device said its window).
func (l *link) enqueue(f []byte, free bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if free {
		l.queue = append([][]byte{f}, l.queue...)
		l.credit += len(f)
	} else {
		l.queue = append(l.queue, f)
	}
	l.queued += len(f)
	l.cond.Broadcast()
}

// writer sends queued frames as credit allows.
func (l *link) writer() {
	for {
		l.mu.Lock()
		for !l.closed && (len(l.queue) == 0 || len(l.queue[0]) > l.credit) {
			l.cond.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		f := l.queue[0]
		l.queue = l.queue[1:]
		l.queued -= len(f)
		l.credit -= len(f)
		l.cond.Broadcast()
		l.mu.Unlock()
		if _, err := l.rw.Write(f); err != nil {
			l.shutdown()
			return
		}
	}
}

func (l *link) shutdown() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	conns := l.conns
	l.conns = map[byte]*conn{}
	l.cond.Broadcast()
	l.mu.Unlock()
	for _, c := range conns {
		l.drop(c)
	}
	l.rw.Close()
}

// drop closes a connection without telling the device.
func (l *link) drop(c *conn) {
	l.mu.Lock()
	c.dropped = true
	nc := c.c
	l.mu.Unlock()
	if nc != nil {
		nc.Close()
		l.b.Stats.Closes.Add(1)
	}
}

func (l *link) reader(ctx context.Context) error {
	r := bufio.NewReader(l.rw)
	hdr := make([]byte, HeaderSize)
	for {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if b != Sync {
			continue
		}
		hdr[0] = b
		if _, err := io.ReadFull(r, hdr[1:]); err != nil {
			return err
		}
		kind, id, n := hdr[1], hdr[2], int(binary.BigEndian.Uint16(hdr[3:]))
		if kind < KindReset || kind > KindCredit {
			l.log.Debug("skipping a bad frame header", "kind", kind)
			continue
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return err
		}
		l.handle(ctx, kind, id, payload)
	}
}

func (l *link) handle(ctx context.Context, kind, id byte, p []byte) {
	switch kind {
	case KindReset:
		if len(p) < 8 {
			return
		}
		window, nonce := int(binary.BigEndian.Uint32(p)), binary.BigEndian.Uint32(p[4:])
		l.b.Stats.Resets.Add(1)
		l.mu.Lock()
		old := l.conns
		l.conns = map[byte]*conn{}
		l.gen++
		l.window, l.credit = window, window
		l.queue, l.queued = nil, 0
		l.mu.Unlock()
		for _, c := range old {
			l.drop(c)
		}
		l.log.Info("device reset", "window", window, "closed", len(old))
		l.enqueue(frame(KindReset, 0, resetPayload(nonce)), false)
	case KindOpen:
		l.open(ctx, id, string(p))
	case KindData:
		l.mu.Lock()
		c := l.conns[id]
		var nc net.Conn
		if c != nil && !c.dropped {
			nc = c.c
		}
		l.mu.Unlock()
		if nc == nil {
			return // not open (any more): the device will hear CLOSED
		}
		l.b.Stats.FromDevice.Add(int64(len(p)))
		nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := nc.Write(p); err != nil {
			l.closed1(c, "write: "+err.Error())
		}
	case KindClose:
		l.mu.Lock()
		c := l.conns[id]
		delete(l.conns, id)
		l.mu.Unlock()
		if c != nil {
			l.drop(c)
			l.enqueue(frame(KindClosed, id, []byte("closed")), false)
		}
	case KindCredit:
		if len(p) < 4 {
			return
		}
		l.mu.Lock()
		l.credit = min(l.credit+int(binary.BigEndian.Uint32(p)), l.window)
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

// closed1 ends connection c from the bridge's side and tells the device why.
func (l *link) closed1(c *conn, why string) {
	l.mu.Lock()
	current := l.conns[c.id] == c && !c.dropped
	if current {
		delete(l.conns, c.id)
	}
	l.mu.Unlock()
	if !current {
		return
	}
	l.drop(c)
	if len(why) > 90 {
		why = why[:90]
	}
	l.enqueueFor(c, frame(KindClosed, c.id, []byte(why)))
}

// enqueueFor queues a frame of connection c unless a reset came in between.
func (l *link) enqueueFor(c *conn, f []byte) {
	l.mu.Lock()
	stale := c.gen != l.gen
	l.mu.Unlock()
	if !stale {
		l.enqueue(f, false)
	}
}

func (l *link) open(ctx context.Context, id byte, addr string) {
	l.mu.Lock()
	old := l.conns[id]
	c := &conn{id: id, gen: l.gen}
	l.conns[id] = c
	l.mu.Unlock()
	if old != nil {
		l.drop(old)
	}
	refuse := func(why string) {
		l.b.Stats.Refused.Add(1)
		l.log.Info("open refused", "id", id, "addr", addr, "err", why)
		l.closed1(c, why)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		refuse("bad address: " + err.Error())
		return
	}
	if l.b.cfg.Allow != nil {
		if err := l.b.cfg.Allow(addr); err != nil {
			refuse(err.Error())
			return
		}
	}
	go func() {
		nc, err := l.b.cfg.Dial(ctx, "tcp", addr)
		if err != nil {
			refuse(err.Error())
			return
		}
		l.mu.Lock()
		ok := !c.dropped && l.conns[id] == c
		if ok {
			c.c = nc
		}
		l.mu.Unlock()
		if !ok {
			nc.Close()
			return
		}
		l.b.Stats.Opens.Add(1)
		l.log.Info("opened", "id", id, "addr", addr, "local", nc.LocalAddr().String())
		l.enqueueFor(c, frame(KindOpened, id, nil))
		l.pump(c, nc)
	}()
}

// pump carries what the TCP connection sends to the device, no faster than the device
// takes it.
func (l *link) pump(c *conn, nc net.Conn) {
	buf := make([]byte, MaxPayload)
	for {
		l.mu.Lock()
		max := min(MaxPayload, l.window/2-HeaderSize)
		// Keep at most a window's worth queued: TCP backpressure does the rest.
		for !l.closed && !c.dropped && l.queued > l.window {
			l.cond.Wait()
		}
		gone := l.closed || c.dropped
		l.mu.Unlock()
		if gone {
			return
		}
		if max <= 0 {
			max = 1
		}
		n, err := nc.Read(buf[:max])
		if n > 0 {
			l.b.Stats.ToDevice.Add(int64(n))
			l.enqueueFor(c, frame(KindData, c.id, buf[:n]))
		}
		if err != nil {
			why := "EOF"
			if !errors.Is(err, io.EOF) {
				why = err.Error()
			}
			l.closed1(c, why)
			return
		}
	}
}

// String describes the stats.
func (s *Stats) String() string {
	return fmt.Sprintf("links %d opens %d refused %d closes %d resets %d to-device %d from-device %d",
		s.Links.Load(), s.Opens.Load(), s.Refused.Load(), s.Closes.Load(), s.Resets.Load(), s.ToDevice.Load(), s.FromDevice.Load())
}
