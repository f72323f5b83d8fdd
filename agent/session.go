package agent

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmbed/wasmbed/agent/runtime"
	"github.com/wasmbed/wasmbed/module"
	"github.com/wasmbed/wasmbed/protocol"
)

// session is one mutual-TLS session with a gateway.
type session struct {
	a   *Agent
	ctx context.Context
	s   *protocol.Stream
	ids atomic.Uint64 // our request ids; hello was 1

	heartbeat time.Duration
	lastAck   atomic.Int64 // unix nanoseconds of the last heartbeat_ack

	renewMu  sync.Mutex
	renewID  uint64
	renewKey *ecdsa.PrivateKey
	renewed  chan struct{} // a renewal finished (either way): re-arm the timer

	// movedAway: the gateway said, during the session, that it no longer
	// serves the device (wrong_gateway): its assignment moved.
	movedAway atomic.Pointer[protocol.Error]
}

func (ss *session) send(id uint64, m protocol.Message) {
	if err := ss.s.Send(protocol.Envelope{RequestID: id, Msg: m}); err != nil {
		ss.a.log.Debug("send", "type", m.Type(), "err", err)
	}
}

func (ss *session) sendError(id uint64, code protocol.ErrorCode, format string, args ...any) {
	ss.send(id, &protocol.Error{Code: code, Message: protocol.ClipText(fmt.Sprintf(format, args...))})
}

// session runs one mutual-TLS session until it fails or ctx is done.
// healthy says whether the gateway acknowledged a heartbeat (the backoff
// starts over).
func (a *Agent) session(parent context.Context, gateway int) (healthy bool, err error) {
	ctx := parent
	a.mu.Lock()
	cert := a.id.tlsCertificate()
	a.mu.Unlock()
	conn, err := a.dial(ctx, gateway, &cert)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	ss := &session{a: a, ctx: ctx, s: protocol.NewStream(conn, int(a.board.MaxFrame)), renewed: make(chan struct{}, 1)}
	ss.ids.Store(1)
	_ = conn.SetDeadline(time.Now().Add(2 * a.cfg.DialTimeout))
	if err := ss.s.Send(protocol.Envelope{RequestID: 1, Msg: a.hello()}); err != nil {
		return false, fmt.Errorf("send hello: %w", err)
	}
	w, err := expect[*protocol.Welcome](ss.s, 1)
	if err != nil {
		if wrongGateway(err) {
			a.log.Info("this gateway does not serve the device; trying the next one", "err", err)
		}
		return false, fmt.Errorf("hello: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	ss.s.SetPeerMaxFrame(w.MaxFrame)
	ss.heartbeat = time.Duration(w.HeartbeatMS) * time.Millisecond
	ss.lastAck.Store(time.Now().UnixNano())
	welcomed := time.Now()
	if w.Device != a.st.Device {
		a.log.Warn("the gateway names this device differently", "welcome_device", w.Device)
	}
	if skew := a.cfg.Clock().Sub(time.UnixMilli(w.Time)); skew > time.Minute || skew < -time.Minute {
		a.log.Warn("the device clock differs from the gateway's", "skew", skew)
	}
	a.log.Info("session up", "gateway", w.Gateway, "heartbeat", ss.heartbeat)
	a.mu.Lock()
	a.stats.Connected = true
	a.stats.Sessions++
	a.sess = ss
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.stats.Connected = false
		if a.sess == ss {
			a.sess = nil
		}
		a.mu.Unlock()
	}()

	loopErr := make(chan error, 1)
	go func() {
		loopErr <- ss.loop()
		cancel()
	}()
	err = ss.read()
	cancel()
	if lerr := <-loopErr; lerr != nil {
		err = lerr
	}
	if moved := ss.movedAway.Load(); moved != nil {
		err = moved // the gateway let the device go: on to the next one
	}
	if parent.Err() != nil && err != nil && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)) {
		err = nil
	}
	return ss.lastAck.Load() > welcomed.UnixNano(), err
}

// loop sends heartbeats and app output, and renews the certificate.
func (ss *session) loop() error {
	a := ss.a
	hb := time.NewTicker(ss.heartbeat)
	defer hb.Stop()
	out := time.NewTicker(a.cfg.OutputInterval)
	defer out.Stop()
	renew := time.NewTimer(ss.untilRenewal())
	defer renew.Stop()
	var seq uint64
	for {
		select {
		case <-ss.ctx.Done():
			return nil
		case <-hb.C:
			if since := time.Since(time.Unix(0, ss.lastAck.Load())); since > time.Duration(a.cfg.HeartbeatMisses)*ss.heartbeat {
				return fmt.Errorf("no heartbeat_ack for %v", since.Round(time.Millisecond))
			}
			seq++
			ss.send(ss.ids.Add(1), a.heartbeat(seq))
		case <-out.C:
			for _, m := range a.out.drain(ss.s.PeerMaxFrame()) {
				ss.send(0, m)
			}
		case <-renew.C:
			ss.startRenewal()
			renew.Reset(ss.renewRetry())
		case <-ss.renewed:
			renew.Reset(ss.untilRenewal())
		}
	}
}

// untilRenewal is the time until RenewFraction of the certificate's lifetime has passed.
func (ss *session) untilRenewal() time.Duration {
	a := ss.a
	a.mu.Lock()
	leaf := a.id.leaf
	a.mu.Unlock()
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	at := leaf.NotBefore.Add(time.Duration(float64(life) * a.cfg.RenewFraction))
	return max(at.Sub(a.cfg.Clock()), 0)
}

// renewRetry is when to try again if a renewal gets no certificate.
func (ss *session) renewRetry() time.Duration {
	a := ss.a
	a.mu.Lock()
	leaf := a.id.leaf
	a.mu.Unlock()
	return max(leaf.NotAfter.Sub(leaf.NotBefore)/20, a.cfg.MinBackoff)
}

func (ss *session) startRenewal() {
	key, err := newKey()
	if err != nil {
		ss.a.log.Error("renew: make key", "err", err)
		return
	}
	req, err := csr(key, ss.a.st.Device)
	if err != nil {
		ss.a.log.Error("renew: csr", "err", err)
		return
	}
	id := ss.ids.Add(1)
	ss.renewMu.Lock()
	ss.renewID, ss.renewKey = id, key
	ss.renewMu.Unlock()
	ss.a.log.Info("renewing the certificate")
	ss.send(id, &protocol.Renew{CSR: req})
}

// renewal handles the answer to a renew.
func (ss *session) renewal(id uint64, m protocol.Message) bool {
	ss.renewMu.Lock()
	if id == 0 || id != ss.renewID {
		ss.renewMu.Unlock()
		return false
	}
	key := ss.renewKey
	ss.renewID, ss.renewKey = 0, nil
	ss.renewMu.Unlock()
	a := ss.a
	switch m := m.(type) {
	case *protocol.Certificate:
		leaf, err := acceptChain(m.Chain, key, a.st.Device, a.roots)
		if err != nil {
			a.log.Error("renew: refusing the certificate", "err", err)
			return true
		}
		a.mu.Lock()
		nid := &identity{key: key, chain: m.Chain, leaf: leaf}
		if err := nid.save(a.cfg.Dir); err != nil {
			a.mu.Unlock()
			a.log.Error("renew: save", "err", err)
			return true
		}
		a.id = nid
		a.stats.Renewals++
		a.stats.CertNotAfter = leaf.NotAfter
		a.mu.Unlock()
		a.log.Info("certificate renewed", "not_after", leaf.NotAfter)
		select {
		case ss.renewed <- struct{}{}:
		default:
		}
	case *protocol.Error:
		a.log.Error("renew refused", "code", m.Code, "message", m.Message)
	}
	return true
}

// read handles the gateway's messages until the session ends.
func (ss *session) read() error {
	for {
		e, err := ss.s.Receive()
		if err != nil {
			var de *protocol.DecodeError
			if errors.As(err, &de) && !errors.Is(err, protocol.ErrTruncated) &&
				!errors.Is(err, protocol.ErrFrameTooLarge) && !errors.Is(err, protocol.ErrUnsupportedVersion) {
				ss.sendError(de.RequestID, protocol.CodeFor(err), "%v", err)
				continue
			}
			return err
		}
		ss.handle(e)
	}
}

func (ss *session) handle(e protocol.Envelope) {
	a, id := ss.a, e.RequestID
	if ss.renewal(id, e.Msg) {
		return
	}
	switch m := e.Msg.(type) {
	case *protocol.HeartbeatAck:
		ss.lastAck.Store(time.Now().UnixNano())
	case *protocol.Deploy:
		ss.deploy(id, m)
	case *protocol.ModuleChunk:
		ss.chunk(id, m)
	case *protocol.Start:
		ss.command(id, m.App, m.Generation, protocol.TypeStart)
	case *protocol.Stop:
		ss.command(id, m.App, m.Generation, protocol.TypeStop)
	case *protocol.Remove:
		ss.command(id, m.App, m.Generation, protocol.TypeRemove)
	case *protocol.Error:
		a.log.Warn("gateway error", "request", id, "code", m.Code, "message", m.Message)
		if m.Code == protocol.CodeWrongGateway {
			ss.movedAway.Store(m) // the device was assigned to another gateway
		}
	default:
		ss.sendError(id, protocol.CodeForbidden, "a device does not accept %s", e.Msg.Type())
	}
}

// staleGeneration answers a command older than what the device applied.
func (ss *session) staleGeneration(id uint64, app string, gen, have uint64) {
	ss.sendError(id, protocol.CodeStaleGeneration, "app %s: generation %d is older than %d", app, gen, have)
}

func (a *Agent) saveLocked() {
	if err := a.st.save(a.cfg.Dir); err != nil {
		a.log.Error("save state", "err", err)
	}
}

// deploy starts, resumes or confirms the transfer of a module.
func (ss *session) deploy(id uint64, d *protocol.Deploy) {
	a := ss.a
	sha := hexSHA(d.SHA256)
	a.mu.Lock()
	if have := a.st.Generations[d.App]; d.Generation < have {
		a.mu.Unlock()
		ss.staleGeneration(id, d.App, d.Generation, have)
		return
	}
	if d.Size > a.board.ModuleFlash {
		a.mu.Unlock()
		ss.sendError(id, protocol.CodeNoRoom, "app %s: a module of %d bytes does not fit the %d bytes of module storage", d.App, d.Size, a.board.ModuleFlash)
		ss.send(id, &protocol.AppStatus{App: d.App, Generation: d.Generation, State: protocol.AppStateFailed, Version: d.Version,
			Detail: "no room for the module"})
		return
	}
	a.st.Generations[d.App] = d.Generation
	if rec := a.st.Apps[d.App]; rec != nil && rec.Generation == d.Generation && rec.SHA256 == sha {
		// Installed already: the gateway repeats a deploy after a reconnect.
		a.saveLocked()
		a.mu.Unlock()
		ss.send(id, &protocol.TransferProgress{App: d.App, Generation: d.Generation, Offset: d.Size})
		info, _ := a.dev.App(d.App)
		if d.Start && info.State != protocol.AppStateRunning {
			info = ss.start(d.App)
		}
		ss.send(id, &protocol.AppStatus{App: d.App, Generation: d.Generation, State: info.State, Version: info.Version, Detail: info.Detail})
		return
	}
	tr := a.st.Transfers[d.App]
	if tr == nil || tr.Generation != d.Generation || tr.SHA256 != sha || tr.Size != d.Size {
		if tr != nil {
			_ = os.Remove(tr.partPath(a.cfg.Dir))
		}
		tr = &transfer{App: d.App, Generation: d.Generation, SHA256: sha, Size: d.Size}
		if fi, err := os.Stat(modulePath(a.cfg.Dir, sha)); err == nil && fi.Size() == int64(d.Size) {
			tr.Offset = d.Size // this module is here already (another app, or an earlier version)
		}
		a.st.Transfers[d.App] = tr
	}
	tr.Version, tr.Limits, tr.Config, tr.Start, tr.deployID = d.Version, d.Limits, d.Config, d.Start, id
	a.saveLocked()
	offset := tr.Offset
	a.mu.Unlock()
	ss.send(id, &protocol.TransferProgress{App: d.App, Generation: d.Generation, Offset: offset})
	if offset == d.Size {
		ss.finish(tr, id)
	}
}

// chunk stores module bytes at the transfer's offset.
func (ss *session) chunk(id uint64, c *protocol.ModuleChunk) {
	a := ss.a
	a.mu.Lock()
	if have := a.st.Generations[c.App]; c.Generation < have {
		a.mu.Unlock()
		ss.staleGeneration(id, c.App, c.Generation, have)
		return
	}
	tr := a.st.Transfers[c.App]
	if tr == nil || tr.Generation != c.Generation {
		rec := a.st.Apps[c.App]
		a.mu.Unlock()
		if rec != nil && rec.Generation == c.Generation {
			ss.send(id, &protocol.TransferProgress{App: c.App, Generation: c.Generation, Offset: rec.Size})
			return
		}
		ss.sendError(id, protocol.CodeNotFound, "app %s: no transfer of generation %d (send deploy first)", c.App, c.Generation)
		return
	}
	if c.Offset != tr.Offset {
		offset := tr.Offset
		a.mu.Unlock()
		ss.send(id, &protocol.TransferProgress{App: c.App, Generation: c.Generation, Offset: offset})
		return
	}
	if uint64(tr.Offset)+uint64(len(c.Data)) > uint64(tr.Size) {
		a.mu.Unlock()
		ss.sendError(id, protocol.CodeInvalid, "app %s: chunk [%d, %d) beyond the module's %d bytes", c.App, c.Offset, uint64(c.Offset)+uint64(len(c.Data)), tr.Size)
		return
	}
	if err := appendAt(tr.partPath(a.cfg.Dir), int64(tr.Offset), c.Data); err != nil {
		a.mu.Unlock()
		a.log.Error("store chunk", "app", c.App, "err", err)
		ss.sendError(id, protocol.CodeInternal, "storing the chunk failed")
		return
	}
	tr.Offset += uint32(len(c.Data))
	offset, done := tr.Offset, tr.Offset == tr.Size
	a.mu.Unlock()
	ss.send(id, &protocol.TransferProgress{App: c.App, Generation: c.Generation, Offset: offset})
	if done {
		ss.finish(tr, id)
	}
}

// appendAt writes data at offset of the file (its current end).
func appendAt(path string, offset int64, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(offset); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteAt(data, offset); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// finish checks and installs a complete module, and answers the deploy.
// chunkID is the request that completed it (answered with error checksum on
// a mismatch).
func (ss *session) finish(tr *transfer, chunkID uint64) {
	a := ss.a
	status := func(state protocol.AppState, version, detail string) {
		ss.send(tr.deployID, &protocol.AppStatus{App: tr.App, Generation: tr.Generation, State: state, Version: version,
			Detail: protocol.ClipText(detail)})
	}
	part, final := tr.partPath(a.cfg.Dir), modulePath(a.cfg.Dir, tr.SHA256)
	wasm, err := os.ReadFile(part)
	if errors.Is(err, fs.ErrNotExist) {
		wasm, err = os.ReadFile(final)
	}
	a.mu.Lock()
	if a.st.Transfers[tr.App] == tr {
		delete(a.st.Transfers, tr.App)
	}
	if err != nil || sha256Hex(wasm) != tr.SHA256 {
		_ = os.Remove(part)
		a.saveLocked()
		a.mu.Unlock()
		if err != nil {
			a.log.Error("read module", "app", tr.App, "err", err)
			ss.sendError(chunkID, protocol.CodeInternal, "reading the module failed")
			status(protocol.AppStateFailed, tr.Version, "reading the module failed")
			return
		}
		ss.sendError(chunkID, protocol.CodeChecksum, "app %s: the module's sha256 is %s, the deploy says %s", tr.App, sha256Hex(wasm), tr.SHA256)
		status(protocol.AppStateFailed, tr.Version, "checksum mismatch")
		return
	}
	a.mu.Unlock()
	if err := writeFileAtomic(final, wasm, 0o600); err != nil {
		a.log.Error("store module", "app", tr.App, "err", err)
	}
	_ = os.Remove(part)

	spec := runtime.AppSpec{Name: tr.App, Version: tr.Version, Limits: tr.Limits, Config: tr.Config}
	info, err := a.dev.Install(ss.ctx, spec, wasm)
	if err != nil {
		var ce *module.CheckError
		if errors.As(err, &ce) {
			err = errors.New(ce.Message)
		}
		a.log.Warn("install failed", "app", tr.App, "err", err)
		a.mu.Lock()
		a.removeModuleIfUnusedLocked(tr.SHA256)
		a.saveLocked()
		a.mu.Unlock()
		status(info.State, tr.Version, err.Error())
		return
	}
	a.mu.Lock()
	old := a.st.Apps[tr.App]
	a.st.Apps[tr.App] = &appRecord{App: tr.App, Version: tr.Version, Generation: tr.Generation, SHA256: tr.SHA256,
		Size: tr.Size, Limits: tr.Limits, Config: tr.Config, State: info.State}
	if old != nil && old.SHA256 != tr.SHA256 {
		a.removeModuleIfUnusedLocked(old.SHA256)
	}
	a.saveLocked()
	a.mu.Unlock()
	a.log.Info("app installed", "app", tr.App, "version", tr.Version, "generation", tr.Generation)
	if tr.Start {
		info = ss.start(tr.App)
	}
	status(info.State, info.Version, info.Detail)
}

// removeModuleIfUnusedLocked deletes a module file no app or transfer needs.
func (a *Agent) removeModuleIfUnusedLocked(sha string) {
	for _, r := range a.st.Apps {
		if r.SHA256 == sha {
			return
		}
	}
	for _, t := range a.st.Transfers {
		if t.SHA256 == sha {
			return
		}
	}
	_ = os.Remove(modulePath(a.cfg.Dir, sha))
}

// start starts an installed app and records the outcome.
func (ss *session) start(app string) runtime.AppInfo {
	a := ss.a
	info, err := a.dev.Start(ss.ctx, app)
	if err != nil {
		return runtime.AppInfo{Name: app, State: protocol.AppStateFailed, Detail: err.Error()}
	}
	a.mu.Lock()
	if r := a.st.Apps[app]; r != nil {
		r.Running = info.State == protocol.AppStateRunning
		r.State, r.Detail = info.State, info.Detail
		a.saveLocked()
	}
	a.mu.Unlock()
	return info
}

// command applies start, stop or remove.
func (ss *session) command(id uint64, app string, gen uint64, kind protocol.Type) {
	a := ss.a
	a.mu.Lock()
	if have := a.st.Generations[app]; gen < have {
		a.mu.Unlock()
		ss.staleGeneration(id, app, gen, have)
		return
	}
	rec := a.st.Apps[app]
	if rec == nil && kind != protocol.TypeRemove {
		a.mu.Unlock()
		ss.sendError(id, protocol.CodeNotFound, "app %s is not installed", app)
		return
	}
	a.st.Generations[app] = gen
	a.saveLocked()
	a.mu.Unlock()

	var info runtime.AppInfo
	switch kind {
	case protocol.TypeStart:
		info = ss.start(app)
	case protocol.TypeStop:
		var err error
		if info, err = a.dev.Stop(app); err != nil {
			info = runtime.AppInfo{Name: app, Version: rec.Version, State: protocol.AppStateStopped}
		}
		a.mu.Lock()
		if r := a.st.Apps[app]; r != nil {
			r.Running, r.State, r.Detail = false, protocol.AppStateStopped, ""
			a.saveLocked()
		}
		a.mu.Unlock()
	case protocol.TypeRemove:
		_ = a.dev.Remove(app)
		a.out.forget(app)
		a.mu.Lock()
		version := ""
		if rec != nil {
			version = rec.Version
			delete(a.st.Apps, app)
			a.removeModuleIfUnusedLocked(rec.SHA256)
		}
		if tr := a.st.Transfers[app]; tr != nil {
			delete(a.st.Transfers, app)
			_ = os.Remove(tr.partPath(a.cfg.Dir))
			a.removeModuleIfUnusedLocked(tr.SHA256)
		}
		a.saveLocked()
		a.mu.Unlock()
		info = runtime.AppInfo{Name: app, Version: version, State: protocol.AppStateRemoved}
	}
	ss.send(id, &protocol.AppStatus{App: app, Generation: gen, State: info.State, Version: info.Version, Detail: protocol.ClipText(info.Detail)})
}

// events reports the runtime's own app stops (trap, fuel, memory): it
// records them and, when a session is up, sends app_status. It runs for the
// agent's lifetime.
func (a *Agent) events(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.out.notify:
		}
		for _, ev := range a.out.takeEvents() {
			a.mu.Lock()
			r := a.st.Apps[ev.app]
			if r == nil {
				a.mu.Unlock()
				continue
			}
			r.Running, r.State, r.Detail = false, ev.state, ev.detail
			a.saveLocked()
			ss, gen, version := a.sess, a.st.Generations[ev.app], r.Version
			a.mu.Unlock()
			if ss != nil {
				ss.send(0, &protocol.AppStatus{App: ev.app, Generation: gen, State: ev.state, Version: version, Detail: protocol.ClipText(ev.detail)})
			}
		}
	}
}
