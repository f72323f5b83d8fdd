package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/tlsrecord"
	"github.com/wasmbed/wasmbed/protocol"
)

// maxDecodeErrors is how many bad messages a session may send before the
// gateway closes it.
const maxDecodeErrors = 8

// session is one device connection.
type session struct {
	g      *Gateway
	ctx    context.Context // the gateway's, while it serves
	conn   *tlsrecord.Conn
	stream *protocol.Stream // sends; and receives in the request-and-answer parts
	device string           // from the client certificate; "" in an enrollment session
	serial string           // of that certificate, hex
	board  string           // the device's (its hello, as registered)

	nextID   atomic.Uint64
	last     atomic.Int64 // unix nanoseconds of the last message
	closed   atomic.Bool
	resume   atomic.Bool // plan this session with resume in the next reconcile pass
	maxFrame int
	bad      int // bad messages so far; only the reading goroutine touches it

	mu        sync.Mutex
	transfers map[string]*transfer       // by app; made when first needed
	outSeq    map[string]uint64          // last app_output seq per app; made when first needed
	pending   map[string]*pendingCommand // by app: commands whose ack is awaited, traced (tracing.go)
}

// log is the session's logger. It is made when needed, not kept: held
// sessions outnumber log lines.
func (s *session) log() *slog.Logger {
	return s.g.log.With("device", s.device, "remote", s.conn.RemoteAddr().String())
}

// transfer is a module being sent to the device, one chunk per progress report.
type transfer struct {
	generation uint64
	module     []byte
}

func (s *session) id() uint64 { return s.nextID.Add(1) }

func (s *session) lastSeen() time.Time { return time.Unix(0, s.last.Load()) }

func (s *session) send(m protocol.Message, requestID uint64) error {
	if s.closed.Load() {
		return net.ErrClosed
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.g.cfg.HandshakeTimeout))
	err := s.stream.Send(protocol.Envelope{RequestID: requestID, Msg: m})
	if err != nil {
		s.g.Metrics.Errors.WithLabelValues("write_failed").Inc()
		if errors.Is(err, protocol.ErrPeerFrameLimit) {
			// What may not fit is checked before it is sent (enroll.go):
			// this is the gateway's fault, not the connection's.
			s.log().Error("send failed", "type", m.Type(), "err", err)
		} else {
			s.log().Debug("send failed", "type", m.Type(), "err", err)
		}
		s.close("send failed: " + err.Error())
	}
	return err
}

func (s *session) sendError(requestID uint64, code protocol.ErrorCode, msg string) {
	s.g.Metrics.Errors.WithLabelValues("sent_" + code.String()).Inc()
	s.send(&protocol.Error{Code: code, Message: protocol.ClipText(msg)}, requestID)
}

// sendWrongGateway tells the device this gateway does not serve it (err
// from Config.Serves), with the addresses of the one that does if known.
func (s *session) sendWrongGateway(requestID uint64, err error) {
	s.g.Metrics.Errors.WithLabelValues("sent_" + protocol.CodeWrongGateway.String()).Inc()
	e := &protocol.Error{Code: protocol.CodeWrongGateway, Message: protocol.ClipText(err.Error())}
	if se, ok := errors.AsType[*ServedElsewhere](err); ok && se.Addresses != nil {
		for _, a := range se.Addresses() {
			if len(e.Gateways) < protocol.MaxErrorGateways && len(a) <= protocol.MaxTextLen {
				e.Gateways = append(e.Gateways, a)
			}
		}
	}
	s.send(e, requestID)
}

// answerDecodeError answers a message that did not decode (err is bad
// input, not the connection failing), with the request id it carried when
// that could be read. A stream that ended inside a frame (truncated) is not
// answered: it is over.
func (s *session) answerDecodeError(err error) {
	var de *protocol.DecodeError
	if errors.As(err, &de) && !errors.Is(err, protocol.ErrTruncated) {
		s.g.Metrics.Errors.WithLabelValues("decode_" + protocol.KindName(err)).Inc()
		s.sendError(de.RequestID, protocol.CodeFor(err), err.Error())
	}
}

func (s *session) close(reason string) {
	if s.closed.CompareAndSwap(false, true) {
		s.log().Debug("closing session", "reason", reason)
		s.conn.Close()
	}
}

// preauth serves a connection from accept until it holds a device session
// or its enrollment is done, within the bounds of admission.go.
func (g *Gateway) preauth(ctx context.Context, p *preauth) {
	ok, held := false, false
	defer func() {
		g.adm.done(p, ok)
		if !held {
			g.adm.closed()
		}
	}()
	if err := awaitClientHello(p.raw, p.deadline); err != nil || !g.adm.progressed(p) {
		reason := "stalled"
		switch {
		case p.evicted.Load():
			reason = "evicted" // counted when evicted
		case errors.Is(err, errGarbage):
			reason = "garbage"
		}
		if reason != "evicted" {
			g.Metrics.PreAuthRefused.WithLabelValues(reason).Inc()
		}
		p.raw.Close()
		return
	}
	if !acquire(ctx, g.adm.handshakes, p.deadline) {
		g.Metrics.PreAuthRefused.WithLabelValues("handshakes_busy").Inc()
		p.raw.Close()
		return
	}
	defer func() { <-g.adm.handshakes }()
	ok, held = g.handle(ctx, p.raw, p.deadline)
}

// handle runs one connection: the TLS handshake, hello, then an enrollment
// or a device session. ok says whether it enrolled or became a device
// session, held whether that session is being read (which closes raw).
func (g *Gateway) handle(ctx context.Context, raw net.Conn, deadline time.Time) (ok, held bool) {
	var s *session
	defer func() {
		switch {
		case held:
		case s != nil:
			// An enrollment done, or a session refused: let the device
			// read the last answer before the connection goes.
			s.conn.Shutdown(time.Second)
		default:
			raw.Close()
		}
	}()
	raw.SetDeadline(deadline)
	hctx, cancel := context.WithDeadline(ctx, deadline)
	conn, st, err := tlsrecord.Server(hctx, raw, g.tlsConfig)
	cancel()
	if err != nil {
		g.Metrics.Handshakes.WithLabelValues("failed").Inc()
		g.log.Debug("handshake failed", "remote", raw.RemoteAddr().String(), "err", err)
		return false, false
	}
	g.Metrics.Handshakes.WithLabelValues("ok").Inc()
	s = &session{g: g, ctx: ctx, conn: conn, stream: protocol.NewStream(conn, protocol.MaxFrameSize)}
	if pcs := st.PeerCertificates; len(pcs) > 0 {
		s.device, s.serial = pcs[0].Subject.CommonName, pcs[0].SerialNumber.Text(16)
	}

	env, err := s.stream.Receive()
	if err != nil {
		g.Metrics.Errors.WithLabelValues("hello").Inc()
		s.answerDecodeError(err) // the first message must be hello: the session ends either way
		if s.device != "" {
			s.log().Info("no hello", "err", err)
		} else {
			s.log().Debug("no hello", "err", err) // anyone can do that: not worth a line each
		}
		return false, false
	}
	hello, isHello := env.Msg.(*protocol.Hello)
	if !isHello {
		s.sendError(env.RequestID, protocol.CodeForbidden, "the first message must be hello")
		return false, false
	}
	s.stream.SetPeerMaxFrame(hello.MaxFrame)
	s.maxFrame = int(hello.MaxFrame)
	if s.device == "" {
		select {
		case g.adm.enrollments <- struct{}{}:
		default:
			g.Metrics.PreAuthRefused.WithLabelValues("enrollments_busy").Inc()
			s.sendError(env.RequestID, protocol.CodeBusy, "too many enrollments in progress; try again later")
			return false, false
		}
		defer func() { <-g.adm.enrollments }()
		return g.enrollSession(ctx, s, env.RequestID), false
	}
	held = g.deviceSession(ctx, s, env.RequestID, hello)
	return held, held
}

func (g *Gateway) welcome(s *session, requestID uint64) error {
	return s.send(&protocol.Welcome{Device: s.device, Time: time.Now().UnixMilli(),
		HeartbeatMS: uint32(g.cfg.HeartbeatInterval / time.Millisecond), MaxFrame: protocol.MaxFrameSize,
		Gateway: g.cfg.Name}, requestID)
}

// deviceSession admits a device session and, if admitted, starts reading
// it (see awaitMessages) and returns true.
func (g *Gateway) deviceSession(ctx context.Context, s *session, helloID uint64, hello *protocol.Hello) bool {
	dev, err := g.store.Devices().Get(ctx, s.device)
	if err != nil || dev.Status.Phase == fleet.PhaseRevoked {
		g.Metrics.Refused.WithLabelValues("unknown_device").Inc()
		s.log().Warn("session refused: device unknown or revoked", "err", err)
		s.sendError(helloID, protocol.CodeForbidden, "device not registered or revoked")
		return false
	}
	if g.cfg.Serves != nil {
		if err := g.cfg.Serves(&dev); err != nil {
			g.Metrics.Refused.WithLabelValues("not_served_here").Inc()
			s.log().Info("session refused: device not served by this gateway", "err", err)
			s.sendWrongGateway(helloID, err)
			return false
		}
	}
	// Only with the device's certificate in the ledger (see ledger.go).
	if code, err := g.admitCertificate(ctx, &dev, s.serial); err != nil {
		s.log().Warn("session refused: certificate", "serial", s.serial, "err", err)
		s.sendError(helloID, code, err.Error())
		return false
	}
	if hello.Board != dev.Board {
		g.refuseBoard(ctx, s, &dev, hello.Board)
		s.sendError(helloID, protocol.CodeForbidden, "board "+hello.Board+" is not the registered board "+dev.Board)
		return false
	}
	s.board = dev.Board
	if err := g.welcome(s, helloID); err != nil {
		return false
	}
	s.last.Store(time.Now().UnixNano())

	g.mu.Lock()
	old := g.sessions[s.device]
	g.sessions[s.device] = s
	g.mu.Unlock()
	if old != nil {
		old.close("replaced by a new session")
	}
	g.Metrics.Sessions.Inc()
	s.log().Info("device online", "board", hello.Board, "firmware", hello.Firmware)
	now := time.Now().UTC()
	var reset *fleet.ResetStatus // set when the hello reports a boot not recorded yet
	if _, err := g.store.Devices().Update(ctx, s.device, func(d *fleet.Device) error {
		d.Status.Phase = fleet.PhaseOnline
		d.Status.LastSeen = now
		if g.cfg.Serves != nil { // several gateways: say which holds the session
			d.Status.SessionGateway = g.cfg.Name
		}
		d.Status.Firmware, d.Status.RAMFree, d.Status.FlashFree = hello.Firmware, hello.RAMFree, hello.FlashFree
		d.Status.MaxFrame, d.Status.Features, d.Status.Message = hello.MaxFrame, hello.Features, ""
		reset = nil // the update may run again
		if r := hello.Reset; r != nil {
			next := &fleet.ResetStatus{Cause: r.Cause.String(), Detail: r.Detail, Time: now, Boots: r.Boots,
				Unexpected: r.Unexpected, SafeMode: r.SafeMode, BootID: r.BootID}
			if d.Status.Reset.SameBoot(next) {
				next.Time = d.Status.Reset.Time // a reconnect: the same boot, perhaps out of safe mode since
			} else {
				reset = next
			}
			d.Status.Reset = next
		}
		return nil
	}); err != nil {
		s.log().Warn("record device online", "err", err)
		reset = nil
	}
	g.event(ctx, "device.online", s.device, "session from "+s.conn.RemoteAddr().String())
	if reset != nil {
		g.recordReset(ctx, s, hello.Reset)
	}
	g.adoptReportedApps(ctx, s.device, s.board, hello.Apps, reset != nil)
	g.resumeSession(s)
	go g.awaitMessages(s)
	return true
}

// refuseBoard records that the device said, in its hello, that it is
// another board than the registered one: the board decides which modules
// and limits it gets, so its session is refused until the registration or
// the firmware is put right. The status message says so, and an event when
// it first does (a device retrying is not a new event).
func (g *Gateway) refuseBoard(ctx context.Context, s *session, dev *fleet.Device, board string) {
	g.Metrics.Refused.WithLabelValues("board_mismatch").Inc()
	msg := "session refused: the device reports board " + board + ", registered as " + dev.Board
	s.log().Warn("session refused: board mismatch", "board", board, "registered", dev.Board)
	if dev.Status.Message == msg {
		return
	}
	if _, err := g.store.Devices().Update(ctx, s.device, func(d *fleet.Device) error {
		d.Status.Message = msg
		return nil
	}); err != nil {
		s.log().Warn("record board mismatch", "err", err)
	}
	g.event(ctx, "device.board_mismatch", s.device, msg)
}

// A device session has no goroutine of its own. While idle it is waited
// on by a fresh goroutine, which parks with a minimal stack and no buffer
// until the device sends; what arrived is then read and dispatched by a
// worker of the gateway's reader pool, whose stack has grown already, and
// a fresh goroutine waits again. An idle session so costs its keys and a
// goroutine whose stack never grew, which is what lets one gateway hold
// many of them.

// awaitMessages waits until the device sends, for at most the heartbeat
// window, and hands the session to a reader.
func (g *Gateway) awaitMessages(s *session) {
	// Messages decrypted already (a heartbeat that came with the hello)
	// are not on the socket any more: no wait would ever report them.
	if _, n, err := protocol.ParseFrame(s.conn.Buffered(), protocol.MaxFrameSize); n > 0 || err != nil {
		g.readers.run(s)
		return
	}
	s.conn.SetReadDeadline(time.Now().Add(g.cfg.HeartbeatInterval * time.Duration(g.cfg.MissedHeartbeats)))
	if err := s.conn.WaitReadable(); err != nil {
		g.endSession(s.ctx, s, g.readFailure(s, err))
		return
	}
	g.readers.run(s)
}

// readMessages dispatches every whole message that has arrived, on a
// reader, then has a fresh goroutine wait for more.
func (g *Gateway) readMessages(s *session) {
	err := s.conn.Fill()
	if reason, ok := g.dispatchBuffered(s.ctx, s); !ok {
		g.endSession(s.ctx, s, reason)
		return
	}
	if err != nil && err != tlsrecord.ErrWouldBlock {
		g.endSession(s.ctx, s, g.readFailure(s, err))
		return
	}
	// Whatever else the device sent, the next wait finds at once.
	go g.awaitMessages(s)
}

// readerPool runs work on goroutines kept from one session's messages to
// the next. Fresh goroutines would do, but growing their stacks (record
// decryption, CBOR, the answer) cost a tenth of the gateway's CPU in a
// heartbeat storm. The pool grows with the load and shrinks when idle.
type readerPool struct {
	work func(*session)
	idle chan *session // workers waiting for a session receive here
}

// readerIdle is how long a worker waits for work before it ends.
const readerIdle = 10 * time.Second

func newReaderPool(work func(*session)) *readerPool {
	return &readerPool{work: work, idle: make(chan *session)}
}

// run gives s to a waiting worker, or to a new one.
func (p *readerPool) run(s *session) {
	select {
	case p.idle <- s:
	default:
		go p.worker(s)
	}
}

func (p *readerPool) worker(s *session) {
	t := time.NewTimer(readerIdle)
	defer t.Stop()
	for {
		p.work(s)
		t.Reset(readerIdle)
		select {
		case s = <-p.idle:
		case <-t.C:
			return
		}
	}
}

// dispatchBuffered dispatches each whole message among the bytes received;
// a message cut short waits for the rest. It says why the session must end
// when it must.
func (g *Gateway) dispatchBuffered(ctx context.Context, s *session) (string, bool) {
	for {
		payload, n, err := protocol.ParseFrame(s.conn.Buffered(), protocol.MaxFrameSize)
		if err == nil && n == 0 {
			return "", true
		}
		var env protocol.Envelope
		if err == nil {
			env, err = protocol.Unmarshal(payload) // copies what it keeps
		}
		if n > 0 {
			s.conn.Discard(n)
		}
		if err != nil {
			s.log().Warn("bad message from device", "err", err)
			s.answerDecodeError(err)
			if s.bad++; s.bad >= maxDecodeErrors || n == 0 {
				return "protocol error: " + err.Error(), false
			}
			continue
		}
		s.last.Store(time.Now().UnixNano())
		g.dispatch(ctx, s, env)
	}
}

// readFailure says why reading a session ended.
func (g *Gateway) readFailure(s *session, err error) string {
	switch {
	case s.closed.Load():
		return "closed by gateway"
	case errors.Is(err, tlsrecord.ErrWriteFailed):
		// A write timeout is not a missed heartbeat: the device sent.
		g.Metrics.Errors.WithLabelValues("write_failed").Inc()
		return "write failed: " + err.Error()
	case errors.Is(err, os.ErrDeadlineExceeded):
		g.Metrics.Errors.WithLabelValues("missed_heartbeats").Inc()
		return "missed " + strconv.Itoa(g.cfg.MissedHeartbeats) + " heartbeats"
	default:
		return "connection: " + err.Error()
	}
}

// endSession closes a device session and records the device offline
// (unless a newer session replaced this one).
func (g *Gateway) endSession(ctx context.Context, s *session, reason string) {
	defer g.adm.closed()
	g.mu.Lock()
	current := g.sessions[s.device] == s
	if current {
		delete(g.sessions, s.device)
		g.lastHeard[s.device] = s.lastSeen() // for the rollouts' heartbeat gate
	}
	g.mu.Unlock()
	g.Metrics.Sessions.Dec()
	s.close(reason)
	s.endPending(reason)
	if !current {
		return // replaced: the new session owns the status
	}
	if endSessionHook != nil {
		endSessionHook(s)
	}
	s.log().Info("device offline", "reason", reason)
	// A fresh context: the gateway may be stopping, the status must still be written.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := g.store.Devices().Update(wctx, s.device, func(d *fleet.Device) error {
		// A new session of the device may have said hello since this one was
		// taken off the map: it has recorded the device online, and its
		// status is its own. Checked in the update, which the new session's
		// own update comes after (it puts itself on the map first).
		g.mu.Lock()
		replaced := g.sessions[s.device] != nil
		g.mu.Unlock()
		if replaced {
			return errReplaced
		}
		if g.cfg.Serves != nil && d.Status.SessionGateway != g.cfg.Name {
			// Another gateway has its session now, or (a record from before
			// SessionGateway) it is assigned to another.
			if d.Status.SessionGateway != "" {
				return errMovedAway{fmt.Errorf("gateway %s holds its session", d.Status.SessionGateway)}
			}
			if err := g.cfg.Serves(d); err != nil {
				return errMovedAway{err}
			}
		}
		if d.Status.Phase == fleet.PhaseOnline {
			d.Status.Phase = fleet.PhaseOffline
		}
		d.Status.LastSeen = s.lastSeen().UTC()
		d.Status.SessionGateway = ""
		return nil
	})
	switch {
	case errors.Is(err, errReplaced):
		s.log().Info("device back in a new session before this one's end was recorded; left online")
		return
	case errors.As(err, new(errMovedAway)):
		s.log().Info("device moved to another gateway; its status is that gateway's to write", "reason", err)
	case err != nil && !errors.Is(err, fleet.ErrNotFound):
		s.log().Warn("record device offline", "err", err)
	}
	g.event(wctx, "device.offline", s.device, reason)
}

// errMovedAway: the device of a session that ended is served by another
// gateway now.
type errMovedAway struct{ error }

// errReplaced: the device of a session that ended holds a newer session.
var errReplaced = errors.New("a newer session holds the device")

// endSessionHook, when set (tests), runs in endSession after the session is
// taken off the map and before its end is recorded.
var endSessionHook func(*session)

func (g *Gateway) dispatch(ctx context.Context, s *session, env protocol.Envelope) {
	switch m := env.Msg.(type) {
	case *protocol.Heartbeat:
		g.Metrics.Heartbeats.Inc()
		g.apps.observe(s.device, s.board, m, time.Now())
		s.send(&protocol.HeartbeatAck{Seq: m.Seq, Time: time.Now().UnixMilli()}, env.RequestID)
	case *protocol.TransferProgress:
		g.onProgress(s, m)
	case *protocol.AppStatus:
		g.onAppStatus(ctx, s, m)
	case *protocol.AppOutput:
		g.onAppOutput(ctx, s, m)
	case *protocol.Renew:
		g.onRenew(ctx, s, env.RequestID, m)
	case *protocol.Error:
		g.Metrics.Errors.WithLabelValues("device_" + m.Code.String()).Inc()
		s.log().Warn("device reported an error", "request", env.RequestID, "code", m.Code, "message", m.Message)
		g.event(ctx, "device.error", s.device, m.Message)
	default:
		s.sendError(env.RequestID, protocol.CodeForbidden, m.Type().String()+" is not accepted from a device in this session")
	}
}
