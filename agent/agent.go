package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wasmbed/wasmbed/agent/runtime"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/protocol"
)

// Agent is one device.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	board board.Profile
	roots *x509.CertPool
	token string // enrollment token, from the bundle

	engine     *runtime.Engine
	ownsEngine bool
	dev        *runtime.Device
	out        *outbox
	started    time.Time
	bootID     uint32 // this process's boot id (hello's reset.boot_id): random, never 0

	mu    sync.Mutex // guards st, id, sess and stats
	st    *state
	id    *identity
	sess  *session // the live mutual-TLS session, if any
	stats Status
}

// Status is what an agent is doing, for tests, the simulator and logs.
type Status struct {
	Device       string
	Enrolled     bool
	Connected    bool      // a mutual-TLS session is up (welcome received)
	Sessions     int       // mutual-TLS sessions that reached welcome
	Enrollments  int       // successful enrollments
	Renewals     int       // successful certificate renewals
	CertNotAfter time.Time // of the current certificate
	LastError    string    // of the last failed connection attempt
}

// New prepares an agent: it reads its state directory, or on a first start
// creates it from the bundle and makes the device's key. It does not connect.
func New(cfg Config) (*Agent, error) {
	cfg.setDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("agent: no state directory")
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, modulesDir), 0o700); err != nil {
		return nil, fmt.Errorf("agent: state directory: %w", err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: state directory: %w", err)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, started: time.Now(), bootID: newBootID()}

	st, err := loadState(cfg.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		b := cfg.Bundle
		if b == nil {
			return nil, fmt.Errorf("agent: %s has no state and no provisioning bundle was given", cfg.Dir)
		}
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("agent: bundle: %w", err)
		}
		st = &state{Device: b.Device, Board: b.Board, Gateways: b.Gateways, ServerName: b.ServerName, CARoot: b.CARoot,
			Generations: map[string]uint64{}, Apps: map[string]*appRecord{}, Transfers: map[string]*transfer{}}
	case err != nil:
		return nil, fmt.Errorf("agent: %w", err)
	case cfg.Bundle != nil && cfg.Bundle.Device != st.Device:
		return nil, fmt.Errorf("agent: %s belongs to device %q, the bundle is for %q", cfg.Dir, st.Device, cfg.Bundle.Device)
	case cfg.Bundle != nil:
		// A new bundle may move the device to other gateways.
		st.Gateways, st.ServerName = cfg.Bundle.Gateways, cfg.Bundle.ServerName
	}
	if cfg.Bundle != nil {
		a.token = cfg.Bundle.Token
	}
	st.Boots++
	var ok bool
	if a.board, ok = board.Lookup(st.Board); !ok {
		return nil, fmt.Errorf("agent: unknown board %q", st.Board)
	}
	if a.roots, err = parseCARoot([]byte(st.CARoot)); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}

	id, err := loadIdentity(cfg.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		key, kerr := newKey()
		if kerr != nil {
			return nil, fmt.Errorf("agent: make key: %w", kerr)
		}
		id = &identity{key: key}
		if err = id.save(cfg.Dir); err != nil {
			return nil, fmt.Errorf("agent: save key: %w", err)
		}
		a.log.Info("made the device key", "device", st.Device)
	} else if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := st.save(cfg.Dir); err != nil {
		return nil, fmt.Errorf("agent: save state: %w", err)
	}
	a.st, a.id = st, id
	a.stats.Device, a.stats.Enrolled = st.Device, id.enrolled()
	if id.enrolled() {
		a.stats.CertNotAfter = id.leaf.NotAfter
	}
	a.log = a.log.With("device", st.Device)
	a.out = newOutbox(a, st.Boots<<32)
	return a, nil
}

// Name is the device name.
func (a *Agent) Name() string { return a.st.Device }

// Board is the device's board profile.
func (a *Agent) Board() board.Profile { return a.board }

// Device is the agent's runtime device (its apps and GPIO pins), once Run has started.
func (a *Agent) Device() *runtime.Device {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dev
}

// Status reports what the agent is doing.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Run runs the device until ctx is done: it reinstalls the persisted apps,
// then enrolls if needed and keeps a session with a gateway, reconnecting
// with backoff. It returns nil when ctx is done, or an error that retrying
// cannot fix.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.boot(ctx); err != nil {
		return err
	}
	defer a.shutdown()
	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	go a.events(evctx)
	a.mu.Lock()
	eps := &endpoints{n: len(a.st.Gateways)}
	a.mu.Unlock()
	for ctx.Err() == nil {
		a.mu.Lock()
		enrolled := a.id.enrolled()
		a.mu.Unlock()
		var err error
		healthy := false
		if !enrolled {
			if a.token == "" {
				return fmt.Errorf("agent %s: not enrolled and no enrollment token", a.st.Device)
			}
			if err = a.enroll(ctx, eps.cur); err == nil {
				eps.failed = 0
				continue // straight to the first mutual-TLS session
			}
		} else {
			healthy, err = a.session(ctx, eps.cur)
		}
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			a.log.Warn("session ended", "err", err)
			a.mu.Lock()
			a.stats.LastError = err.Error()
			a.mu.Unlock()
		}
		// On to the next gateway of the bundle when this one failed
		// (failover.go).
		a.mu.Lock()
		to := redirect(err, a.st.Gateways)
		a.mu.Unlock()
		var d time.Duration
		if healthy {
			d = eps.healthyEnded(err, a.cfg.MinBackoff, a.cfg.MaxBackoff, to)
		} else {
			d = eps.failedAttempt(a.cfg.MinBackoff, a.cfg.MaxBackoff, to)
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	return nil
}

// backoff is the wait before reconnection attempt n (0-based): exponential
// from min, capped at max, with "equal jitter" (half fixed, half random) so
// a fleet that lost its gateway does not come back in step.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n < 32 {
		d = min(lo<<n, hi)
	}
	if d <= 0 {
		d = hi
	}
	half := d / 2
	return half + rand.N(half+1)
}

// boot starts the runtime device and reinstalls the persisted apps.
func (a *Agent) boot(ctx context.Context) error {
	if a.cfg.Engine == nil {
		e, err := runtime.New(ctx, runtime.Config{Logger: a.log})
		if err != nil {
			return fmt.Errorf("agent: runtime: %w", err)
		}
		a.engine, a.ownsEngine = e, true
	} else {
		a.engine = a.cfg.Engine
	}
	dev := a.engine.NewDevice(runtime.DeviceConfig{Board: a.board, Sink: a.out, Clock: a.cfg.Clock, Logger: a.log})
	a.mu.Lock()
	a.dev = dev
	apps := make([]*appRecord, 0, len(a.st.Apps))
	for _, r := range a.st.Apps {
		apps = append(apps, r)
	}
	a.mu.Unlock()
	for _, r := range apps {
		wasm, err := os.ReadFile(modulePath(a.cfg.Dir, r.SHA256))
		if err == nil && sha256Hex(wasm) != r.SHA256 {
			err = errors.New("module file does not match its sha256")
		}
		var info runtime.AppInfo
		if err == nil {
			info, err = dev.Install(ctx, r.spec(), wasm)
		}
		a.mu.Lock()
		if err != nil {
			a.log.Error("reinstall app", "app", r.App, "err", err)
			r.State, r.Detail, r.Running = protocol.AppStateFailed, protocol.ClipText("reinstall: "+err.Error()), false
			a.mu.Unlock()
			continue
		}
		r.State, r.Detail = info.State, ""
		running := r.Running
		a.mu.Unlock()
		if running {
			info, _ = dev.Start(ctx, r.App)
			a.mu.Lock()
			r.State, r.Detail = info.State, info.Detail
			r.Running = info.State == protocol.AppStateRunning
			a.mu.Unlock()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.save(a.cfg.Dir)
}

func (a *Agent) shutdown() {
	a.mu.Lock()
	dev := a.dev
	a.stats.Connected = false
	a.mu.Unlock()
	dev.Close()
	if a.ownsEngine {
		_ = a.engine.Close(context.Background())
	}
}

func (r *appRecord) spec() runtime.AppSpec {
	return runtime.AppSpec{Name: r.App, Version: r.Version, Limits: r.Limits, Config: r.Config}
}

// dial opens a TLS 1.3 connection to gateway i of the bundle (modulo
// their number), with the client certificate when cert is set.
func (a *Agent) dial(ctx context.Context, i int, cert *tls.Certificate) (*tls.Conn, error) {
	a.mu.Lock()
	gws, serverName := a.st.Gateways, a.st.ServerName
	a.mu.Unlock()
	addr := gws[i%len(gws)]
	if serverName == "" {
		serverName, _, _ = net.SplitHostPort(addr)
	}
	d := &net.Dialer{Timeout: a.cfg.DialTimeout}
	if a.cfg.LocalAddr != "" {
		ip := net.ParseIP(a.cfg.LocalAddr)
		if ip == nil {
			return nil, fmt.Errorf("local address %q is not an IP", a.cfg.LocalAddr)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    a.roots,
		ServerName: serverName,
		Time:       a.cfg.Clock,
	}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	td := &tls.Dialer{NetDialer: d, Config: conf}
	hctx, cancel := context.WithTimeout(ctx, a.cfg.DialTimeout)
	defer cancel()
	c, err := td.DialContext(hctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return c.(*tls.Conn), nil
}

// newBootID picks a boot id: random (math/rand/v2 is seeded from the
// system's entropy at each process start), never 0.
func newBootID() uint32 {
	for {
		if id := rand.Uint32(); id != 0 {
			return id
		}
	}
}

// hello describes the device. Each start of the agent is a boot: it cannot
// tell why the last one ended (cause unknown), and its boot id tells the
// gateway that a process restart is not a reconnect of the same boot.
func (a *Agent) hello() *protocol.Hello {
	h := &protocol.Hello{
		ABIVersion: protocol.ABIVersion,
		Board:      a.board.Name,
		Firmware:   protocol.ClipText(a.cfg.Firmware),
		RAMFree:    a.dev.RAMFree(),
		FlashFree:  a.dev.FlashFree(),
		MaxFrame:   a.board.MaxFrame,
		Features:   a.board.FeatureNames(),
		Reset:      &protocol.ResetReport{Cause: protocol.ResetUnknown, Boots: 1, BootID: a.bootID},
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.st.Apps {
		sha, _ := hex.DecodeString(r.SHA256)
		state := r.State
		if info, ok := a.dev.App(r.App); ok {
			state = info.State
		}
		h.Apps = append(h.Apps, protocol.AppReport{App: r.App, Version: r.Version,
			Generation: a.st.Generations[r.App], State: state, SHA256: sha})
		if len(h.Apps) == protocol.MaxApps {
			break
		}
	}
	return h
}

// heartbeat is the next heartbeat: the device's uptime and free RAM, and
// what the runtime measured of each installed app.
func (a *Agent) heartbeat(seq uint64) *protocol.Heartbeat {
	h := &protocol.Heartbeat{Seq: seq, UptimeMS: uint64(time.Since(a.started).Milliseconds()), RAMFree: a.dev.RAMFree()}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.st.Apps {
		info, ok := a.dev.App(r.App)
		if !ok || len(h.Apps) == protocol.MaxApps {
			continue
		}
		s := info.Stats
		h.Apps = append(h.Apps, protocol.AppMetrics{App: r.App, Generation: r.Generation, Calls: s.Calls,
			CallUS: uint64(s.CallTime.Microseconds()), Traps: s.Traps, Memory: s.Memory, MemoryPeak: s.MemoryPeak,
			Starts: s.Starts, InstantiateUS: uint32(min(s.Instantiate.Microseconds(), math.MaxUint32)), Published: s.Published})
	}
	slices.SortFunc(h.Apps, func(x, y protocol.AppMetrics) int { return strings.Compare(x.App, y.App) })
	return h
}

// enroll runs an enrollment session: server-authenticated TLS, hello,
// enroll with a CSR and the token, certificate; then the session closes.
func (a *Agent) enroll(ctx context.Context, attempt int) error {
	if exp := a.cfg.Bundle.TokenExpires; !exp.IsZero() && a.cfg.Clock().After(exp) {
		a.log.Error("the enrollment token has expired; the gateway will refuse it", "expired", exp)
	}
	conn, err := a.dial(ctx, attempt, nil)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(4 * a.cfg.DialTimeout))
	s := protocol.NewStream(conn, int(a.board.MaxFrame))
	if err := s.Send(protocol.Envelope{RequestID: 1, Msg: a.hello()}); err != nil {
		return fmt.Errorf("enroll: send hello: %w", err)
	}
	w, err := expect[*protocol.Welcome](s, 1)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	s.SetPeerMaxFrame(w.MaxFrame)
	a.mu.Lock()
	key := a.id.key
	a.mu.Unlock()
	req, err := csr(key, a.st.Device)
	if err != nil {
		return fmt.Errorf("enroll: csr: %w", err)
	}
	if err := s.Send(protocol.Envelope{RequestID: 2, Msg: &protocol.Enroll{Device: a.st.Device, Token: a.token, CSR: req}}); err != nil {
		return fmt.Errorf("enroll: send: %w", err)
	}
	c, err := expect[*protocol.Certificate](s, 2)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	leaf, err := acceptChain(c.Chain, key, a.st.Device, a.roots)
	if err != nil {
		return fmt.Errorf("enroll: refusing the certificate: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	id := &identity{key: key, chain: c.Chain, leaf: leaf}
	if err := id.save(a.cfg.Dir); err != nil {
		return fmt.Errorf("enroll: save certificate: %w", err)
	}
	a.id = id
	a.stats.Enrolled, a.stats.CertNotAfter = true, leaf.NotAfter
	a.stats.Enrollments++
	a.log.Info("enrolled", "gateway", w.Gateway, "not_after", leaf.NotAfter)
	return nil
}

// expect reads messages until the answer to request id: T, or the peer's
// error as a *protocol.Error.
func expect[T protocol.Message](s *protocol.Stream, id uint64) (T, error) {
	var zero T
	for {
		e, err := s.Receive()
		if err != nil {
			return zero, fmt.Errorf("receive: %w", err)
		}
		if e.RequestID != id {
			continue
		}
		switch m := e.Msg.(type) {
		case T:
			return m, nil
		case *protocol.Error:
			return zero, m
		default:
			return zero, fmt.Errorf("got %s in answer to request %d", e.Msg.Type(), id)
		}
	}
}
