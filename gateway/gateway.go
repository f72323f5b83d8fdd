// Package gateway is the fog-node side of Wasmbed: it holds one mutual-TLS
// session per device, enrolls devices through the certificate authority,
// pushes modules and commands that the reconciliation core (package fleet)
// plans, and turns what devices report into observed state.
package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/wasmbed/wasmbed/ca"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/protocol"
	"github.com/wasmbed/wasmbed/tracing"
)

// Config configures a Gateway. Zero values take the defaults noted.
type Config struct {
	Name              string        // gateway name sent in welcome; default "gateway"
	HeartbeatInterval time.Duration // expected device heartbeat period; default 5s
	MissedHeartbeats  int           // heartbeats missed before a device is offline; default 3
	CertTTL           time.Duration // device certificate lifetime; default 24h
	HandshakeTimeout  time.Duration // from accept to a device session or an enrollment's end (TLS handshake, hello, enroll); default 10s
	ChunkSize         int           // module chunk payload; default 4096, capped by the device's max_frame
	ServerHosts       []string      // names/IPs in the device listener's certificate; default localhost, 127.0.0.1
	ServerCertTTL     time.Duration // lifetime of that certificate, renewed at 2/3 of it; default 24h (step-ca's default maximum)

	// Bounds on unauthenticated work (admission.go says how they act).
	MaxPreAuth          int     // connections held before authentication; default 4096
	MaxHandshakes       int     // of them past their ClientHello (TLS handshake, hello, enrollment) at once; default 256
	MaxEnrollments      int     // enrollment sessions at once; default 128
	MaxPreAuthPerSource int     // pre-auth connections held per source address (IPv6: per /64); default 128
	SourceFailureRate   float64 // failed handshakes and enrollments per second a source may keep making; default 2, negative: no limit
	SourceFailureBurst  int     // and in a burst; default 100
	// MaxFDs caps the descriptors the gateway counts on (0: RLIMIT_NOFILE,
	// and never more than that); FDReserve of them are kept from device
	// connections for the API (256 connections by default), the store, the
	// CA and the Kubernetes client; default a quarter of the limit, at most 512.
	MaxFDs    int
	FDReserve int
	// Clock, if set, is the time certificates are checked against (tests).
	Clock func() time.Time
	// Serves, if set, says whether this gateway may hold the session of a
	// device (in Kubernetes mode: the devices assigned to it); its error is
	// what the device is told, with the error code wrong_gateway (and, a
	// *ServedElsewhere, the addresses of the gateway to go to). Nil: every
	// registered device.
	Serves func(*fleet.Device) error
	// CheckModule, if set, vets a module for the device's board before it
	// is sent (results kept per module, board and limits): a module that
	// cannot run there is recorded as failed with the reason, never sent.
	// The API checks modules when they are put; this catches those that
	// arrive otherwise (a Kubernetes Application written with kubectl).
	CheckModule func(ctx context.Context, wasm []byte, board string, lim fleet.Limits) error
	// ModuleGCInterval: stored modules nothing needs are deleted once two
	// sweeps this far apart found them unused (modulegc.go); default 1h,
	// negative: never (embedded store only).
	ModuleGCInterval time.Duration
	// Tracer makes the gateway's spans (the reconcile passes, the commands
	// to devices and, through the API, its requests); nil: the global
	// tracer provider, a no-op one unless the program installed another.
	Tracer trace.TracerProvider
}

func (c *Config) defaults() {
	if c.Name == "" {
		c.Name = "gateway"
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.MissedHeartbeats <= 0 {
		c.MissedHeartbeats = 3
	}
	if c.CertTTL <= 0 {
		c.CertTTL = 24 * time.Hour
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 4096
	}
	if c.ServerCertTTL <= 0 {
		c.ServerCertTTL = 24 * time.Hour
	}
	if c.ModuleGCInterval == 0 {
		c.ModuleGCInterval = time.Hour
	}
	if len(c.ServerHosts) == 0 {
		c.ServerHosts = []string{"localhost", "127.0.0.1"}
	}
	setDefault(&c.MaxPreAuth, 4096)
	setDefault(&c.MaxHandshakes, 256)
	setDefault(&c.MaxEnrollments, 128)
	setDefault(&c.MaxPreAuthPerSource, 128)
	setDefault(&c.SourceFailureBurst, 100)
	if c.SourceFailureRate == 0 {
		c.SourceFailureRate = 2
	}
}

func setDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// Gateway serves device sessions.
type Gateway struct {
	cfg   Config
	store fleet.Store
	ca    ca.Authority
	log   *slog.Logger
	roots *x509.CertPool

	serverCert atomic.Pointer[tls.Certificate]
	tlsConfig  *tls.Config

	mu       sync.Mutex
	sessions map[string]*session // by device name
	// lastHeard is when a device whose session ended was last heard, by name.
	lastHeard map[string]time.Time
	revoked   map[string]bool // certificate serials, hex

	// planMu makes planning one pass at a time, so a batched rollout never
	// admits more devices than it allows.
	planMu  sync.Mutex
	modules moduleCache
	waits   moduleWaits   // deploys waiting for their module (modulewait.go)
	output  outputFeed    // the apps' output as it arrives (outputfeed.go)
	kick    chan struct{} // asks the reconcile loop for a pass
	// rollouts counts the progressive rollouts under way (the last pass's
	// count): while there are any, a device going offline (a failed health
	// gate) is a reason for a pass; wake schedules the pass a bake's end needs.
	rollouts atomic.Int32
	wake     rolloutWake
	health   healthValues // values the rollouts' app-level gates watch
	started  time.Time    // when New made it
	readers  *readerPool  // reads device sessions that have something to read
	adm      *admission   // bounds unauthenticated connections
	Metrics  *Metrics
	// apps keeps what devices measure of their apps (appmetrics.go).
	apps *appMetrics

	tp     trace.TracerProvider // Config.Tracer or the global one
	tracer trace.Tracer
	writes writeTraces // the API writes the deploys continue (tracing.go)
}

// New makes a gateway over store and authority. Call Serve to accept devices.
func New(cfg Config, store fleet.Store, authority ca.Authority, log *slog.Logger) (*Gateway, error) {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	g := &Gateway{cfg: cfg, store: store, ca: authority, log: log.With("component", "gateway"),
		roots: x509.NewCertPool(), sessions: map[string]*session{}, lastHeard: map[string]time.Time{}, revoked: map[string]bool{},
		kick: make(chan struct{}, 1), Metrics: newMetrics(), started: time.Now()}
	g.tp = tracing.Provider(cfg.Tracer)
	g.tracer = g.tp.Tracer(tracerName)
	g.Metrics.Registry.MustRegister(newAppDevices(g))
	g.apps = newAppMetrics(g.Metrics.Registry, func(device string) bool { online, _ := g.Online(device); return online })
	g.readers = newReaderPool(g.readMessages)
	g.adm = newAdmission(&g.cfg, g.Metrics, g.log)
	g.roots.AddCert(authority.Root())
	g.modules.store = store
	revs, err := store.Revocations().List(context.Background())
	if err != nil {
		return nil, fmt.Errorf("gateway: load revocations: %w", err)
	}
	for _, r := range revs {
		g.revoked[r.Serial] = true
	}
	if err := g.renewServerCert(context.Background()); err != nil {
		return nil, err
	}
	g.tlsConfig = g.TLSConfig()
	if err := g.backfillLedger(context.Background()); err != nil {
		// In Kubernetes mode the API server may be out of reach at start.
		g.log.Warn("certificate ledger not backfilled; devices enrolled before it are refused until it is", "err", err)
	}
	return g, nil
}

// Config returns the effective configuration.
func (g *Gateway) Config() Config { return g.cfg }

func (g *Gateway) renewServerCert(ctx context.Context) error {
	cert, err := g.ca.SignServer(ctx, g.cfg.ServerHosts, g.cfg.ServerCertTTL)
	if err != nil {
		return fmt.Errorf("gateway: server certificate: %w", err)
	}
	g.serverCert.Store(&cert)
	return nil
}

// renewServerCertLoop renews the server certificate when two thirds of its
// lifetime have passed, retrying every minute while the CA is unreachable.
func (g *Gateway) renewServerCertLoop(ctx context.Context) {
	for {
		cert := g.serverCert.Load()
		wait := time.Minute
		if cert.Leaf != nil {
			life := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore)
			wait = max(time.Until(cert.Leaf.NotBefore.Add(life*2/3)), time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := g.renewServerCert(ctx); err != nil {
			g.log.Error("renew server certificate; retrying in a minute", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Minute):
			}
			continue
		}
		g.log.Info("renewed server certificate", "not_after", g.serverCert.Load().Leaf.NotAfter)
	}
}

// ServerCertificate is the certificate the gateway's listeners present; the
// management API uses it too.
func (g *Gateway) ServerCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return g.serverCert.Load(), nil
}

// TLSConfig is the device listener's configuration: TLS 1.3 only, a client
// certificate optional at the TLS layer (a session without one may only
// enroll) but verified against the CA and the revocation list when given.
func (g *Gateway) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      g.roots,
		GetCertificate: g.ServerCertificate,
		Time:           g.cfg.Clock,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			leaf := cs.PeerCertificates[0]
			if g.isRevoked(leaf.SerialNumber.Text(16)) {
				g.Metrics.refused("revoked")
				return fmt.Errorf("certificate %s of %q is revoked", leaf.SerialNumber.Text(16), leaf.Subject.CommonName)
			}
			// A device certificate names the device in its CN and its
			// urn:wasmbed:device URI; other certificates of the CA (the
			// gateway's own) are not device identities.
			if _, err := ca.DeviceName(leaf); err != nil {
				g.Metrics.refused("not_a_device_certificate")
				return err
			}
			return nil
		},
	}
}

func (g *Gateway) isRevoked(serialHex string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.revoked[serialHex]
}

// Serve accepts device connections on l until ctx ends. It also runs the
// reconcile loop and renews the server certificate.
func (g *Gateway) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(6)
	go func() { defer wg.Done(); g.moduleGCLoop(ctx) }()
	go func() { defer wg.Done(); g.moduleWaitLoop(ctx) }()
	go func() { defer wg.Done(); g.reconcileLoop(ctx) }()
	go func() { defer wg.Done(); g.watchRevocations(ctx) }()
	go func() { defer wg.Done(); g.renewServerCertLoop(ctx) }()
	go func() { defer wg.Done(); g.sweepLedgerLoop(ctx) }()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	defer func() {
		cancel()
		g.mu.Lock()
		for _, s := range g.sessions {
			s.close("gateway stopping")
		}
		g.mu.Unlock()
		wg.Wait()
	}()
	g.adm.start()
	defer g.adm.stop()
	var delay time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("gateway: accept: %w", err)
			}
			// Out of file descriptors: the spare one accepts and closes
			// the connection waiting. Otherwise, and if that did not
			// work, back off and keep serving the sessions held.
			if g.adm.acceptFailed(l, err) {
				continue
			}
			delay = min(max(delay*2, 5*time.Millisecond), time.Second)
			g.adm.log.Log("accept", "accept failed; backing off", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if p := g.adm.admit(conn); p != nil {
			go g.preauth(ctx, p)
		}
	}
}

// ErrNoCertificate: the device has no certificate to revoke.
var ErrNoCertificate = errors.New("no certificate to revoke")

// Revoke revokes every certificate of device, whichever path issued it
// (current, pending, superseded): each serial is refused from now on, the
// session (if any) is closed at once, and the CA is told (its CRL lists
// them). Revoking a device whose certificates are all revoked already
// succeeds; one that never had any fails with ErrNoCertificate.
func (g *Gateway) Revoke(ctx context.Context, device, reason string) error {
	d, err := g.store.Devices().Get(ctx, device)
	if err != nil {
		return err
	}
	serials, err := g.revokeCertificates(ctx, device, reason, nil)
	if err != nil {
		return err
	}
	if len(serials) == 0 {
		certs, err := g.deviceCertificates(ctx, device)
		if err != nil {
			return err
		}
		if len(certs) == 0 && d.Status.CertSerial == "" {
			return fmt.Errorf("device %q: %w", device, ErrNoCertificate)
		}
	}
	g.apps.forget(device)
	g.mu.Lock()
	s := g.sessions[device]
	g.mu.Unlock()
	if s != nil {
		s.sendError(0, protocol.CodeRevoked, "certificate revoked")
		s.close("certificate revoked")
	}
	if _, err := g.store.Devices().Update(ctx, device, func(d *fleet.Device) error {
		d.Status.Phase = fleet.PhaseRevoked
		d.Status.Message = "certificate revoked: " + reason
		return nil
	}); err != nil {
		return err
	}
	g.event(ctx, "device.revoked", device, fmt.Sprintf("certificates %v revoked: %s", serials, reason))
	return nil
}

// revokeSerial records the revocation of one certificate of device (hex
// serial): the gateway refuses it from now on, and the CA is told.
func (g *Gateway) revokeSerial(ctx context.Context, device, serialHex, reason string) error {
	rev := fleet.Revocation{Serial: serialHex, Device: device, Reason: reason, RevokedAt: time.Now().UTC()}
	// Refused here first: the watch then sees a revocation made here, not
	// elsewhere.
	g.mu.Lock()
	g.revoked[rev.Serial] = true
	g.mu.Unlock()
	if err := g.store.Revocations().Put(ctx, rev.Serial, rev); err != nil {
		return err
	}
	g.caRevoke(ctx, device, rev.Serial, reason)
	return nil
}

func (g *Gateway) hasSession(device string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sessions[device] != nil
}

func (g *Gateway) watchRevocations(ctx context.Context) {
	for c := range g.store.Watch(ctx) {
		if c.Kind == fleet.KindCertificate {
			g.certificateChanged(ctx, c)
			continue
		}
		if c.Kind != fleet.KindRevocation && c.Kind != "" {
			// Planning concerns the devices holding a session here: a
			// change to another device (an enrollment, a status written
			// for a device elsewhere) would only cost a pass.
			if c.Kind == fleet.KindApplication || c.Kind == fleet.KindDevice && (g.hasSession(c.Key) || g.rollouts.Load() > 0) {
				g.Kick()
			}
			continue
		}
		revs, err := g.store.Revocations().List(ctx)
		if err != nil {
			continue
		}
		g.mu.Lock()
		var news []fleet.Revocation // made elsewhere
		for _, r := range revs {
			if !g.revoked[r.Serial] {
				news = append(news, r)
			}
			g.revoked[r.Serial] = true
		}
		// A revocation made elsewhere (another gateway, Kubernetes) closes
		// the session holding that certificate, as Revoke does here.
		var gone []*session
		for _, s := range g.sessions {
			if s.serial != "" && g.revoked[s.serial] {
				gone = append(gone, s)
			}
		}
		g.mu.Unlock()
		for _, s := range gone {
			s.sendError(0, protocol.CodeRevoked, "certificate revoked")
			s.close("certificate revoked")
		}
		g.revokedElsewhere(ctx, news)
		if c.Kind == "" {
			g.Kick()
		}
	}
}

// Online reports whether device holds a session, and when it was last heard.
func (g *Gateway) Online(device string) (bool, time.Time) {
	g.mu.Lock()
	s := g.sessions[device]
	g.mu.Unlock()
	if s == nil {
		return false, time.Time{}
	}
	return true, s.lastSeen()
}

// AppMetrics is what device measured of its apps in its latest heartbeat
// that carried measurements, if it sent one to this gateway.
func (g *Gateway) AppMetrics(device string) (DeviceAppMetrics, bool) { return g.apps.device(device) }

// Sessions is the number of device sessions held.
func (g *Gateway) Sessions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sessions)
}

func (g *Gateway) event(ctx context.Context, kind, object, msg string) {
	if _, err := g.store.AppendEvent(ctx, fleet.Event{Kind: kind, Object: object, Message: msg}); err != nil {
		g.log.Warn("record event", "kind", kind, "err", err)
	}
}

// CARoot is the root certificate of the gateway's CA.
func (g *Gateway) CARoot() *x509.Certificate { return g.ca.Root() }

// SignDeviceCSR signs a CSR for a registered device outside a device session
// (the API's certificates endpoint), with the configured lifetime when ttl is 0.
// The certificate becomes the device's current one in the ledger.
func (g *Gateway) SignDeviceCSR(ctx context.Context, device string, csrDER []byte, ttl time.Duration) ([]*x509.Certificate, error) {
	csr, err := parseCSR(csrDER, device)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = g.cfg.CertTTL
	}
	chain, err := g.ca.SignDevice(ctx, csr, device, ttl)
	if err != nil {
		return nil, err
	}
	// The device's certificate from now on: the one before is superseded.
	if err := g.recordCertificate(ctx, device, chain[0], fleet.SourceAPI, fleet.CertCurrent); err != nil {
		g.discardCertificate(fleet.WithoutAudit(ctx), device, chain[0], fleet.SourceAPI, "unrecorded")
		return nil, err
	}
	g.event(ctx, "certificate.signed", device, "certificate "+serialHex(chain[0])+" signed through the API")
	return chain, nil
}

// ServedElsewhere is the error of Config.Serves for a device another
// gateway serves (or none yet): Reason is what the device is told, and
// Addresses, if set, looks up the device addresses of the gateway that
// serves it (only when a device is told, not when Serves is merely asked),
// sent with wrong_gateway so that a device whose bundle lists one goes
// there next.
type ServedElsewhere struct {
	Reason    string
	Addresses func() []string
}

func (e *ServedElsewhere) Error() string { return e.Reason }
