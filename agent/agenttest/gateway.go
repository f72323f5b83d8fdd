// Package agenttest is a scripted test double of the Wasmbed gateway, so the
// agent's and the simulator's tests can script exact message sequences
// (stale generations, cut transfers, missing heartbeat acks) without the real
// gateway (package gateway), which is built and tested separately.
package agenttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/agent"
	"github.com/wasmbed/wasmbed/protocol"
)

// Gateway is a SCRIPTED TEST DOUBLE of the Wasmbed gateway. It is not the
// gateway (package gateway) and implements none of its logic
// (no store, no rollouts, no token expiry, no revocation list): it is a TLS
// 1.3 listener speaking the protocol package, with a test CA, that
//
//   - answers enrollment sessions (no client certificate): hello -> welcome,
//     enroll -> checks the one-time token it was given -> signs the CSR ->
//     certificate, then closes the session, as docs/protocol.md says;
//   - in mutual-TLS sessions takes the device name from the client
//     certificate, answers hello with welcome, acknowledges heartbeats (can
//     be switched off), signs renew CSRs, and hands everything else to the
//     test through a Session, which scripts deploys, chunks and commands.
type Gateway struct {
	t         testing.TB
	ln        net.Listener
	addr      string
	caCert    *x509.Certificate
	caKey     *ecdsa.PrivateKey
	caPEM     string
	serverTLS *tls.Config

	CertLife      time.Duration
	HeartbeatMS   uint32
	AckHeartbeats atomic.Bool

	mu       sync.Mutex
	tokens   map[string]string // device -> one-time token
	issued   []*x509.Certificate
	sessions chan *Session
	// Enrollments counts certificates issued to enrollments, Accepts TCP connections.
	Enrollments atomic.Int32
	Accepts     atomic.Int32
}

// NewGateway starts a gateway double on 127.0.0.1 with a fresh test CA; it
// stops with the test.
func NewGateway(t testing.TB) *Gateway {
	t.Helper()
	g := &Gateway{t: t, CertLife: time.Hour, HeartbeatMS: 50, tokens: map[string]string{},
		sessions: make(chan *Session, 4096)}
	g.AckHeartbeats.Store(true)
	var err error
	if g.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &g.caKey.PublicKey, g.caKey)
	if err != nil {
		t.Fatal(err)
	}
	g.caCert, _ = x509.ParseCertificate(der)
	g.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))

	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gateway"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, g.caCert, &srvKey.PublicKey, g.caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(g.caCert)
	g.serverTLS = &tls.Config{MinVersion: tls.VersionTLS13, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}}
	g.listen("127.0.0.1:0")
	t.Cleanup(func() { g.ln.Close() })
	return g
}

func (g *Gateway) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		g.t.Fatal(err)
	}
	g.ln, g.addr = ln, ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.Accepts.Add(1)
			go g.serve(tls.Server(c, g.serverTLS))
		}
	}()
}

// Stop closes the listener (sessions go on); Restart listens again on the same address.
func (g *Gateway) Stop()    { g.ln.Close() }
func (g *Gateway) Restart() { g.listen(g.addr) }

// Addr is the listening address.
func (g *Gateway) Addr() string { return g.addr }

// CAPEM is the test CA's certificate.
func (g *Gateway) CAPEM() string { return g.caPEM }

// Issued returns the certificates issued so far.
func (g *Gateway) Issued() []*x509.Certificate {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*x509.Certificate(nil), g.issued...)
}

// Sessions is how many mutual-TLS sessions wait for NextSession.
func (g *Gateway) Sessions() int { return len(g.sessions) }

// Bundle registers a one-time token for device and returns its provisioning bundle.
func (g *Gateway) Bundle(device, token string) *agent.Bundle {
	g.mu.Lock()
	g.tokens[device] = token
	g.mu.Unlock()
	return &agent.Bundle{Gateways: []string{g.addr}, CARoot: g.caPEM, Device: device, Token: token, Board: "linux"}
}

func (g *Gateway) welcome(device string) *protocol.Welcome {
	return &protocol.Welcome{Device: device, Time: time.Now().UnixMilli(), HeartbeatMS: g.HeartbeatMS,
		MaxFrame: protocol.MaxFrameSize, Gateway: "gateway-double"}
}

func (g *Gateway) sign(csrDER []byte, device string) (*protocol.Certificate, error) {
	req, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: device},
		NotBefore: now, NotAfter: now.Add(g.CertLife),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, g.caCert, req.PublicKey, g.caKey)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	g.mu.Lock()
	g.issued = append(g.issued, cert)
	g.mu.Unlock()
	return &protocol.Certificate{Chain: [][]byte{der}, NotAfter: cert.NotAfter.UnixMilli()}, nil
}

func (g *Gateway) serve(c *tls.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Handshake(); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	s := protocol.NewStream(c, protocol.MaxFrameSize)
	peer := c.ConnectionState().PeerCertificates
	e, err := s.Receive()
	if err != nil {
		return
	}
	if _, ok := e.Msg.(*protocol.Hello); !ok {
		return
	}
	if len(peer) == 0 { // enrollment session
		_ = s.Send(protocol.Envelope{RequestID: e.RequestID, Msg: g.welcome("")})
		e, err := s.Receive()
		if err != nil {
			return
		}
		en, ok := e.Msg.(*protocol.Enroll)
		if !ok {
			_ = s.Send(protocol.Envelope{RequestID: e.RequestID, Msg: &protocol.Error{Code: protocol.CodeForbidden, Message: "enroll first"}})
			return
		}
		g.mu.Lock()
		want, ok := g.tokens[en.Device]
		if ok && want == en.Token {
			delete(g.tokens, en.Device) // single use
		}
		g.mu.Unlock()
		if !ok || want != en.Token {
			_ = s.Send(protocol.Envelope{RequestID: e.RequestID, Msg: &protocol.Error{Code: protocol.CodeUnauthorized, Message: "enrollment refused"}})
			return
		}
		cert, err := g.sign(en.CSR, en.Device)
		if err != nil {
			_ = s.Send(protocol.Envelope{RequestID: e.RequestID, Msg: &protocol.Error{Code: protocol.CodeInvalid, Message: err.Error()}})
			return
		}
		g.Enrollments.Add(1)
		_ = s.Send(protocol.Envelope{RequestID: e.RequestID, Msg: cert})
		return
	}
	device := peer[0].Subject.CommonName
	_ = s.Send(protocol.Envelope{RequestID: e.RequestID, Msg: g.welcome(device)})
	gs := &Session{g: g, Conn: c, s: s, Device: device, Hello: e.Msg.(*protocol.Hello), Serial: peer[0].SerialNumber,
		msgs: make(chan protocol.Envelope, 1024), Outputs: make(chan *protocol.AppOutput, 1024), done: make(chan struct{})}
	gs.ids.Store(1000)
	g.sessions <- gs
	defer close(gs.done)
	for {
		e, err := s.Receive()
		if err != nil {
			return
		}
		switch m := e.Msg.(type) {
		case *protocol.Heartbeat:
			gs.Beats.Add(1)
			if g.AckHeartbeats.Load() {
				_ = s.Send(protocol.Envelope{RequestID: e.RequestID, Msg: &protocol.HeartbeatAck{Seq: m.Seq, Time: time.Now().UnixMilli()}})
			}
		case *protocol.Renew:
			cert, err := g.sign(m.CSR, device)
			if err != nil {
				_ = s.Send(protocol.Envelope{RequestID: e.RequestID, Msg: &protocol.Error{Code: protocol.CodeInvalid, Message: err.Error()}})
				continue
			}
			gs.Renewals.Add(1)
			_ = s.Send(protocol.Envelope{RequestID: e.RequestID, Msg: cert})
		case *protocol.AppOutput:
			gs.Outputs <- m
		default:
			gs.msgs <- e
		}
	}
}

// NextSession waits for the next mutual-TLS session.
func (g *Gateway) NextSession(t testing.TB) *Session {
	t.Helper()
	select {
	case s := <-g.sessions:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no session within 10 s")
		return nil
	}
}

// Session is one device session of the gateway double, driven by the test.
type Session struct {
	g *Gateway
	// Conn is the TLS connection; closing it drops the session.
	Conn *tls.Conn
	// Device is the name in the client certificate, Hello the device's hello,
	// Serial the client certificate's serial number.
	Device string
	Hello  *protocol.Hello
	Serial *big.Int
	// Beats counts heartbeats, Renewals renewals answered.
	Beats    atomic.Int32
	Renewals atomic.Int32
	// Outputs receives every app_output.
	Outputs chan *protocol.AppOutput

	s    *protocol.Stream
	ids  atomic.Uint64
	msgs chan protocol.Envelope
	done chan struct{}
}

// Send sends a message with a fresh request id and returns the id.
func (gs *Session) Send(t testing.TB, m protocol.Message) uint64 {
	t.Helper()
	id := gs.ids.Add(1)
	if err := gs.s.Send(protocol.Envelope{RequestID: id, Msg: m}); err != nil {
		t.Fatalf("gateway double: send %s: %v", m.Type(), err)
	}
	return id
}

// Next returns the next message other than heartbeats, renewals and output.
func (gs *Session) Next(t testing.TB) protocol.Envelope {
	t.Helper()
	select {
	case e := <-gs.msgs:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("gateway double: no message within 10 s")
		return protocol.Envelope{}
	}
}

// Expect reads the next message and checks its type and request id.
func Expect[T protocol.Message](t testing.TB, gs *Session, id uint64) T {
	t.Helper()
	e := gs.Next(t)
	m, ok := e.Msg.(T)
	if !ok || e.RequestID != id {
		var zero T
		t.Fatalf("gateway double: got %s %+v (request %d), want %T for request %d", e.Msg.Type(), e.Msg, e.RequestID, zero, id)
	}
	return m
}

// Deploy sends a deploy and the whole module in chunks of chunk bytes,
// checking every transfer_progress, and returns the app_status answering
// the deploy.
func (gs *Session) Deploy(t testing.TB, d protocol.Deploy, wasm []byte, chunk int) *protocol.AppStatus {
	t.Helper()
	sum := sha256.Sum256(wasm)
	d.SHA256, d.Size = sum[:], uint32(len(wasm))
	id := gs.Send(t, &d)
	p := Expect[*protocol.TransferProgress](t, gs, id)
	return gs.SendFrom(t, d, id, wasm, p.Offset, chunk)
}

// SendFrom sends the module from offset and returns the deploy's app_status.
func (gs *Session) SendFrom(t testing.TB, d protocol.Deploy, deployID uint64, wasm []byte, offset uint32, chunk int) *protocol.AppStatus {
	t.Helper()
	for int(offset) < len(wasm) {
		end := min(int(offset)+chunk, len(wasm))
		cid := gs.Send(t, &protocol.ModuleChunk{App: d.App, Generation: d.Generation, Offset: offset, Data: wasm[offset:end]})
		p := Expect[*protocol.TransferProgress](t, gs, cid)
		if p.Offset != uint32(end) {
			t.Fatalf("transfer_progress %d after a chunk ending at %d", p.Offset, end)
		}
		offset = p.Offset
	}
	return Expect[*protocol.AppStatus](t, gs, deployID)
}

// Values collects published values of an app until n have arrived.
func (gs *Session) Values(t testing.TB, app string, n int) []protocol.ValueRecord {
	t.Helper()
	var out []protocol.ValueRecord
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case m := <-gs.Outputs:
			if m.App == app {
				out = append(out, m.Values...)
			}
		case <-deadline:
			t.Fatalf("%d of %d values of %s within 10 s", len(out), n, app)
		}
	}
	return out
}

// WaitClosed waits for the session to end.
func (gs *Session) WaitClosed(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case <-gs.done:
	case <-time.After(within):
		t.Fatalf("session still open after %v", within)
	}
}
