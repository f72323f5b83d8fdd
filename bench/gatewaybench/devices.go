package main

// The load generator: one child process holds a shard of the device sessions
// (so no process passes the machine's 20000 file descriptors), from its own
// 127.0.0.x source address (so ephemeral ports never run short). The parent
// (run.go) drives it with one-word commands on stdin and reads one JSON line
// per answer on stdout.
//
// The device side of the Wasmbed protocol is written out here with package
// protocol: hello, heartbeats at the gateway's period, and deploy ->
// transfer_progress -> module_chunk ... -> sha256 check -> app_status running.
// It does not run the module (no wazero instance per device), so the fan-out
// figure is the gateway's and the transport's, not a device runtime's. When
// agent/sim offers simulated devices, wasmbedSession is what it replaces.

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmbed/wasmbed/protocol"
)

// childEvent is what a child writes on stdout, one JSON object a line.
type childEvent struct {
	Ev     string  `json:"ev"`               // progress, ready, stats, blast, error
	Open   int64   `json:"open"`             // sessions open now
	Failed int64   `json:"failed"`           // sessions that could not be opened
	Lost   int64   `json:"lost"`             // sessions closed by the peer
	Acked  int64   `json:"acked"`            // open sessions answered since the last mark
	Acks   uint64  `json:"acks"`             // heartbeat acks / PINGRESPs in all
	Errors int64   `json:"errors"`           // protocol errors received
	Msg    string  `json:"msg,omitempty"`    // error text
	ConnS  float64 `json:"conn_s,omitempty"` // seconds the connect phase took

	// blast
	BlastAcks    uint64  `json:"blast_acks,omitempty"`
	BlastSeconds float64 `json:"blast_seconds,omitempty"`
	RTTp50us     int64   `json:"rtt_p50_us,omitempty"`
	RTTp99us     int64   `json:"rtt_p99_us,omitempty"`

	// fan-out
	Deploys     int64 `json:"deploys,omitempty"`
	Running     int64 `json:"running,omitempty"`
	Failures    int64 `json:"failures,omitempty"`
	FirstDeploy int64 `json:"first_deploy_ns,omitempty"` // unix ns
	LastRunning int64 `json:"last_running_ns,omitempty"` // unix ns
}

type child struct {
	mode      string // wasmbed or mqtt
	addr      string
	src       net.IP
	roots     *x509.CertPool
	board     string
	keepalive time.Duration // mqtt

	outMu sync.Mutex
	out   *json.Encoder

	mu       sync.Mutex
	sessions []devSession

	open, failed, lost, errors atomic.Int64
	acks                       atomic.Uint64
	blastAcks                  atomic.Uint64
	blastUntil                 atomic.Int64
	deploys, running, failures atomic.Int64
	firstDeploy, lastRunning   atomic.Int64
}

// devSession is one held session, whatever the protocol.
type devSession interface {
	ackedSinceMark() bool
	mark()
	close()
}

func (c *child) emit(e childEvent) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	c.out.Encode(e)
}

func cmdDevices(args []string) error {
	fs := flag.NewFlagSet("devices", flag.ExitOnError)
	mode := fs.String("mode", "wasmbed", "wasmbed (gateway device sessions) or mqtt (MQTT 3.1.1 over TLS)")
	credsFile := fs.String("creds", "", "credentials file (gob) written by run")
	from := fs.Int("from", 0, "first credential index")
	to := fs.Int("to", 0, "end credential index (exclusive)")
	addr := fs.String("addr", "", "server address")
	src := fs.String("src", "127.0.0.1", "local source address")
	caFile := fs.String("ca", "", "PEM root the server's certificate chains to")
	conc := fs.Int("concurrency", 16, "connections being opened at once")
	board := fs.String("board", benchBoard, "board in hello")
	keepalive := fs.Duration("keepalive", 30*time.Second, "MQTT keepalive (PINGREQ period)")
	fs.Parse(args)

	creds, err := readCreds(*credsFile)
	if err != nil {
		return err
	}
	if *to > len(creds) || *from > *to {
		return fmt.Errorf("range %d..%d outside %d credentials", *from, *to, len(creds))
	}
	creds = creds[*from:*to]
	pemRoot, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemRoot) {
		return fmt.Errorf("%s: no certificate", *caFile)
	}
	c := &child{mode: *mode, addr: *addr, src: net.ParseIP(*src), roots: roots, board: *board, keepalive: *keepalive,
		out: json.NewEncoder(os.Stdout)}

	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				c.emit(childEvent{Ev: "progress", Open: c.open.Load(), Failed: c.failed.Load()})
			}
		}
	}()
	work := make(chan int)
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s, err := c.dialRetry(&creds[i])
				if err != nil {
					if c.failed.Add(1) <= 3 {
						c.emit(childEvent{Ev: "error", Msg: creds[i].Name + ": " + err.Error()})
					}
					continue
				}
				c.mu.Lock()
				c.sessions = append(c.sessions, s)
				c.mu.Unlock()
				c.open.Add(1)
			}
		}()
	}
	for i := range creds {
		work <- i
	}
	close(work)
	wg.Wait()
	close(done)
	creds = nil
	c.emit(childEvent{Ev: "ready", Open: c.open.Load(), Failed: c.failed.Load(), ConnS: time.Since(start).Seconds()})

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "mark":
			c.mu.Lock()
			for _, s := range c.sessions {
				s.mark()
			}
			c.mu.Unlock()
			c.emit(c.stats("mark"))
		case "stats":
			c.emit(c.stats("stats"))
		case "blast": // blast SESSIONS WINDOW WARMUP DURATION
			if len(f) != 5 {
				c.emit(childEvent{Ev: "error", Msg: "blast SESSIONS WINDOW WARMUP DURATION"})
				continue
			}
			n, _ := strconv.Atoi(f[1])
			w, _ := strconv.Atoi(f[2])
			warm, _ := time.ParseDuration(f[3])
			dur, _ := time.ParseDuration(f[4])
			c.emit(c.blast(n, w, warm, dur))
		case "quit":
			c.mu.Lock()
			for _, s := range c.sessions {
				s.close()
			}
			c.mu.Unlock()
			return nil
		default:
			c.emit(childEvent{Ev: "error", Msg: "unknown command " + f[0]})
		}
	}
	return nil // parent went away
}

func (c *child) stats(ev string) childEvent {
	var acked int64
	c.mu.Lock()
	for _, s := range c.sessions {
		if s.ackedSinceMark() {
			acked++
		}
	}
	c.mu.Unlock()
	return childEvent{Ev: ev, Open: c.open.Load(), Failed: c.failed.Load(), Lost: c.lost.Load(), Acked: acked,
		Acks: c.acks.Load(), Errors: c.errors.Load(), Deploys: c.deploys.Load(), Running: c.running.Load(),
		Failures: c.failures.Load(), FirstDeploy: c.firstDeploy.Load(), LastRunning: c.lastRunning.Load()}
}

func (c *child) dialRetry(cr *cred) (devSession, error) {
	var err error
	for attempt := range 4 {
		var s devSession
		if c.mode == "mqtt" {
			s, err = c.dialMQTT(cr)
		} else {
			s, err = c.dialWasmbed(cr)
		}
		if err == nil {
			return s, nil
		}
		time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
	}
	return nil, err
}

func (c *child) dialTLS(cr *cred, serverName string) (*tls.Conn, error) {
	cert, err := cr.tlsCertificate()
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: c.src}}
	raw, err := d.Dial("tcp", c.addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, &tls.Config{RootCAs: c.roots, ServerName: serverName, MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{cert}})
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// ---- the Wasmbed device side

type wasmbedSession struct {
	c        *child
	conn     *tls.Conn
	st       *protocol.Stream
	nextID   atomic.Uint64
	acked    atomic.Bool
	blasting atomic.Bool
	seq      atomic.Uint64
	timer    *time.Timer
	start    time.Time

	bmu  sync.Mutex
	sent []time.Time // blast: send times of heartbeats in flight, oldest first
	rtts []time.Duration

	xfer *transfer // reader goroutine only
}

// transfer is a module being received.
type transfer struct {
	app      string
	gen      uint64
	version  string
	sha      []byte
	size     int
	buf      []byte
	deployID uint64
}

func (c *child) dialWasmbed(cr *cred) (devSession, error) {
	conn, err := c.dialTLS(cr, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	s := &wasmbedSession{c: c, conn: conn, st: protocol.NewStream(conn, 4096), start: time.Now()}
	err = s.send(&protocol.Hello{ABIVersion: 1, Board: c.board, Firmware: "gatewaybench", RAMFree: 65536, FlashFree: 262144,
		MaxFrame: 4096, Features: []string{"log", "time", "gpio", "publish", "config"}}, 0)
	if err != nil {
		conn.Close()
		return nil, err
	}
	env, err := s.st.Receive()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("waiting for welcome: %w", err)
	}
	w, ok := env.Msg.(*protocol.Welcome)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("answer to hello: %v", env.Msg)
	}
	conn.SetDeadline(time.Time{})
	interval := time.Duration(w.HeartbeatMS) * time.Millisecond
	// The first heartbeat at a random point of the period, so a fleet that
	// connected together does not beat together.
	s.timer = time.AfterFunc(rand.N(interval), func() {
		s.heartbeat()
		s.timer.Reset(interval)
	})
	go s.readLoop()
	return s, nil
}

func (s *wasmbedSession) send(m protocol.Message, id uint64) error {
	if id == 0 {
		id = s.nextID.Add(1)
	}
	return s.st.Send(protocol.Envelope{RequestID: id, Msg: m})
}

func (s *wasmbedSession) heartbeat() error {
	return s.send(&protocol.Heartbeat{Seq: s.seq.Add(1), UptimeMS: uint64(time.Since(s.start).Milliseconds()), RAMFree: 65536}, 0)
}

func (s *wasmbedSession) ackedSinceMark() bool { return s.acked.Load() }
func (s *wasmbedSession) mark()                { s.acked.Store(false) }
func (s *wasmbedSession) close() {
	s.timer.Stop()
	s.conn.Close()
}

func (s *wasmbedSession) readLoop() {
	c := s.c
	for {
		env, err := s.st.Receive()
		if err != nil {
			var de *protocol.DecodeError
			if errors.As(err, &de) && !errors.Is(err, protocol.ErrTruncated) {
				c.errors.Add(1)
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				c.lost.Add(1)
				c.open.Add(-1)
			}
			s.timer.Stop()
			return
		}
		switch m := env.Msg.(type) {
		case *protocol.HeartbeatAck:
			c.acks.Add(1)
			s.acked.Store(true)
			if s.blasting.Load() {
				s.onBlastAck()
			}
		case *protocol.Deploy:
			c.deploys.Add(1)
			c.firstDeploy.CompareAndSwap(0, time.Now().UnixNano())
			s.xfer = &transfer{app: m.App, gen: m.Generation, version: m.Version, sha: m.SHA256, size: int(m.Size),
				buf: make([]byte, 0, m.Size), deployID: env.RequestID}
			s.send(&protocol.TransferProgress{App: m.App, Generation: m.Generation, Offset: 0}, env.RequestID)
		case *protocol.ModuleChunk:
			x := s.xfer
			if x == nil || x.app != m.App || x.gen != m.Generation {
				s.send(&protocol.Error{Code: protocol.CodeNotFound, Message: "no transfer for this chunk"}, env.RequestID)
				continue
			}
			if int(m.Offset) == len(x.buf) && len(x.buf)+len(m.Data) <= x.size {
				x.buf = append(x.buf, m.Data...)
			}
			s.send(&protocol.TransferProgress{App: m.App, Generation: m.Generation, Offset: uint32(len(x.buf))}, env.RequestID)
			if len(x.buf) == x.size {
				st := &protocol.AppStatus{App: x.app, Generation: x.gen, State: protocol.AppStateRunning, Version: x.version}
				if sum := sha256.Sum256(x.buf); !slices.Equal(sum[:], x.sha) {
					st.State, st.Detail = protocol.AppStateFailed, "sha256 mismatch"
					c.failures.Add(1)
				} else {
					c.running.Add(1)
					c.lastRunning.Store(time.Now().UnixNano())
				}
				s.send(st, x.deployID)
				s.xfer = nil
			}
		case *protocol.Start, *protocol.Stop, *protocol.Remove:
			// Not part of these benchmarks; answer so the gateway settles.
			var app string
			var gen uint64
			state := protocol.AppStateRunning
			switch m := m.(type) {
			case *protocol.Start:
				app, gen = m.App, m.Generation
			case *protocol.Stop:
				app, gen, state = m.App, m.Generation, protocol.AppStateStopped
			case *protocol.Remove:
				app, gen, state = m.App, m.Generation, protocol.AppStateRemoved
			}
			s.send(&protocol.AppStatus{App: app, Generation: gen, State: state}, env.RequestID)
		case *protocol.Error:
			c.errors.Add(1)
		}
	}
}

func (s *wasmbedSession) onBlastAck() {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if len(s.sent) == 0 {
		return
	}
	now := time.Now()
	s.rtts = append(s.rtts, now.Sub(s.sent[0]))
	s.sent = s.sent[1:]
	if now.UnixNano() < s.c.blastUntil.Load() {
		s.c.blastAcks.Add(1)
		s.sent = append(s.sent, now)
		s.heartbeat()
	} else if len(s.sent) == 0 {
		s.blasting.Store(false)
	}
}

// blast has the first n sessions keep window heartbeats each in flight,
// sending the next as each ack arrives, and counts the round trips completed
// in the duration after warm-up.
func (c *child) blast(n, window int, warmup, dur time.Duration) childEvent {
	c.mu.Lock()
	var ss []*wasmbedSession
	for _, s := range c.sessions {
		if ws, ok := s.(*wasmbedSession); ok && len(ss) < n {
			ss = append(ss, ws)
		}
	}
	c.mu.Unlock()
	t0 := time.Now()
	c.blastUntil.Store(t0.Add(warmup + dur).UnixNano())
	// The first window is sent from here, every later heartbeat by the
	// session's reader on an ack.
	for _, s := range ss {
		s.bmu.Lock()
		s.blasting.Store(true)
		for range window {
			s.sent = append(s.sent, time.Now())
			s.heartbeat()
		}
		s.bmu.Unlock()
	}
	time.Sleep(time.Until(t0.Add(warmup)))
	a0, m0 := c.blastAcks.Load(), time.Now()
	time.Sleep(time.Until(t0.Add(warmup + dur)))
	a1, m1 := c.blastAcks.Load(), time.Now()
	// Let the windows drain before reading the readers' RTT samples.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		busy := false
		for _, s := range ss {
			if s.blasting.Load() {
				busy = true
				break
			}
		}
		if !busy {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var rtts []time.Duration
	for _, s := range ss {
		s.bmu.Lock()
		rtts = append(rtts, s.rtts...)
		s.rtts, s.sent = nil, nil
		s.blasting.Store(false)
		s.bmu.Unlock()
	}
	slices.Sort(rtts)
	e := childEvent{Ev: "blast", BlastAcks: a1 - a0, BlastSeconds: m1.Sub(m0).Seconds()}
	if len(rtts) > 0 {
		e.RTTp50us = rtts[len(rtts)/2].Microseconds()
		e.RTTp99us = rtts[len(rtts)*99/100].Microseconds()
	}
	return e
}

// ---- MQTT 3.1.1 over TLS, for the mosquitto comparison

type mqttSession struct {
	c     *child
	conn  *tls.Conn
	wmu   sync.Mutex
	acked atomic.Bool
	timer *time.Timer
}

var pingreq = []byte{0xC0, 0x00}

// mqttConnect is a CONNECT packet: clean session, the client id, a keepalive.
func mqttConnect(clientID string, keepalive time.Duration) []byte {
	var vh []byte
	vh = append(vh, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02)
	vh = binary.BigEndian.AppendUint16(vh, uint16(keepalive/time.Second))
	vh = binary.BigEndian.AppendUint16(vh, uint16(len(clientID)))
	vh = append(vh, clientID...)
	pkt := []byte{0x10}
	for n := len(vh); ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	return append(pkt, vh...)
}

func (c *child) dialMQTT(cr *cred) (devSession, error) {
	conn, err := c.dialTLS(cr, "localhost")
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(mqttConnect(cr.Name, c.keepalive)); err != nil {
		conn.Close()
		return nil, err
	}
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		conn.Close()
		return nil, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 || ack[3] != 0 {
		conn.Close()
		return nil, fmt.Errorf("CONNACK % x", ack)
	}
	conn.SetDeadline(time.Time{})
	s := &mqttSession{c: c, conn: conn}
	s.timer = time.AfterFunc(rand.N(c.keepalive), func() {
		s.wmu.Lock()
		s.conn.Write(pingreq)
		s.wmu.Unlock()
		s.timer.Reset(c.keepalive)
	})
	go s.readLoop()
	return s, nil
}

func (s *mqttSession) readLoop() {
	var b [2]byte
	for {
		if _, err := io.ReadFull(s.conn, b[:]); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.c.lost.Add(1)
				s.c.open.Add(-1)
			}
			s.timer.Stop()
			return
		}
		if b[0] == 0xD0 { // PINGRESP
			s.c.acks.Add(1)
			s.acked.Store(true)
		} else {
			s.c.errors.Add(1)
		}
	}
}

func (s *mqttSession) ackedSinceMark() bool { return s.acked.Load() }
func (s *mqttSession) mark()                { s.acked.Store(false) }
func (s *mqttSession) close() {
	s.timer.Stop()
	s.conn.Close()
}
