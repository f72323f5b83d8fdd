package daemon

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/ca"
	"github.com/wasmbed/wasmbed/ca/stepcatest"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/protocol"
)

// harness is a gateway process started in-process on loopback ports with a
// fresh data directory: the real store, the real embedded step-ca, real TLS.
type harness struct {
	t      testing.TB
	dir    string
	api    string // https://host:port
	device string // host:port
	admin  string
	reader string
	roots  *x509.CertPool
	http   *http.Client
	cancel context.CancelFunc
	done   chan error
}

func startGateway(t testing.TB, cfg gateway.Config) *harness {
	t.Helper()
	return startGatewayIn(t, t.TempDir(), cfg)
}

func startGatewayIn(t testing.TB, dir string, cfg gateway.Config) *harness {
	t.Helper()
	return startGatewayWith(t, Options{DataDir: dir, Gateway: cfg})
}

// startGatewayWith starts a gateway with opts (data directory, gateway
// configuration, external CA) on loopback ports (opts' own, when given).
func startGatewayWith(t testing.TB, opts Options) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, dir: opts.DataDir, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan [2]net.Addr, 1)
	opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("WASMBED_TEST_LOG") != "" {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.APIAddr == "" && opts.DeviceAddr == "" { // else: a restart on the same ports
		opts.APIAddr, opts.DeviceAddr = "127.0.0.1:0", "127.0.0.1:0"
	}
	opts.Ready = func(a, d net.Addr) { ready <- [2]net.Addr{a, d} }
	go func() { h.done <- Run(ctx, opts) }()
	select {
	case addrs := <-ready:
		h.api, h.device = "https://"+addrs[0].String(), addrs[1].String()
	case err := <-h.done:
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start in 30s")
	}
	t.Cleanup(h.stop)
	h.finishStart()
	return h
}

// externalCA is how a gateway signs through a step-ca server started for a test.
func externalCA(srv stepcatest.Server) *ca.ExternalConfig {
	return &ca.ExternalConfig{URL: srv.URL, RootFile: srv.Root, Provisioner: srv.Provisioner, PasswordFile: srv.PasswordFile}
}

// finishStart reads the credentials the gateway wrote and makes the API client.
func (h *harness) finishStart() {
	t := h.t
	h.admin = h.readFile(AdminTokenFile)
	h.reader = h.readFile(ReaderTokenFile)
	h.roots = x509.NewCertPool()
	if !h.roots.AppendCertsFromPEM([]byte(h.readFile(CACertFile))) {
		t.Fatal("ca.crt holds no certificate")
	}
	h.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.roots}}}
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("gateway stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		h.t.Error("gateway did not stop in 15s")
	}
}

func (h *harness) readFile(name string) string {
	b, err := os.ReadFile(filepath.Join(h.dir, name))
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// call makes an API request with token (none if empty), decoding the JSON
// answer into out (if not nil), and returns the status.
func (h *harness) call(token, method, path string, body any, out any) int {
	h.t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/wasm"
	default:
		js, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, h.api+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// must is call that fails the test unless the status is want.
func (h *harness) must(want int, method, path string, body any, out any) {
	h.t.Helper()
	var raw json.RawMessage
	if got := h.call(h.admin, method, path, body, &raw); got != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) registerDevice(name, boardName string, labels map[string]string) string {
	h.t.Helper()
	h.must(http.StatusCreated, "PUT", "/v1/devices/"+name, map[string]any{"board": boardName, "labels": labels}, nil)
	var tok struct{ Token string }
	h.must(http.StatusCreated, "POST", "/v1/devices/"+name+"/tokens", nil, &tok)
	return tok.Token
}

// testDevice is the device side written out in the test: a real TLS 1.3
// client with its own P-256 key, speaking the protocol package directly, so
// tests can also send what a well-behaved device never would.
type testDevice struct {
	t      testing.TB
	h      *harness
	name   string
	key    *ecdsa.PrivateKey
	cert   *tls.Certificate
	conn   *tls.Conn
	stream *protocol.Stream
	nextID uint64
	hello  *protocol.Hello // what dial says, when set; a plain stm32f4-discovery hello otherwise
}

func newTestDevice(t testing.TB, h *harness, name string) *testDevice {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testDevice{t: t, h: h, name: name, key: key}
}

func (d *testDevice) csr() []byte {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: d.name}}, d.key)
	if err != nil {
		d.t.Fatal(err)
	}
	return der
}

// dial opens a TLS session (with the device certificate once enrolled) and
// says hello. It returns the welcome, or the error the gateway answered.
func (d *testDevice) dial(cfg *tls.Config) (*protocol.Welcome, error) {
	if cfg == nil {
		cfg = &tls.Config{RootCAs: d.h.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
		if d.cert != nil {
			cfg.Certificates = []tls.Certificate{*d.cert}
		}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", d.h.device, cfg)
	if err != nil {
		return nil, err
	}
	d.conn = conn
	d.t.Cleanup(func() { conn.Close() }) // also keeps the connection from being collected (and closed) mid-test
	hello := d.hello
	if hello == nil {
		hello = &protocol.Hello{ABIVersion: 1, Board: "stm32f4-discovery", Firmware: "test", RAMFree: 65536, FlashFree: 262144,
			MaxFrame: 4096, Features: []string{"log", "time", "gpio", "publish", "config"}}
	}
	// The device accepts no frame larger than it announces.
	d.stream = protocol.NewStream(conn, int(hello.MaxFrame))
	d.send(hello)
	env, err := d.recv()
	if err != nil {
		return nil, err
	}
	if w, ok := env.Msg.(*protocol.Welcome); ok {
		return w, nil
	}
	if e, ok := env.Msg.(*protocol.Error); ok {
		return nil, e
	}
	d.t.Fatalf("answer to hello: %#v", env.Msg)
	return nil, nil
}

func (d *testDevice) send(m protocol.Message) uint64 {
	d.t.Helper()
	d.nextID++
	if err := d.stream.Send(protocol.Envelope{RequestID: d.nextID, Msg: m}); err != nil {
		d.t.Fatalf("%s: send %s: %v", d.name, m.Type(), err)
	}
	return d.nextID
}

func (d *testDevice) recv() (protocol.Envelope, error) {
	d.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return d.stream.Receive()
}

// enroll runs an enrollment session with token; the certificate is kept.
func (d *testDevice) enroll(token string) error {
	d.t.Helper()
	if _, err := d.dial(nil); err != nil {
		return err
	}
	defer d.conn.Close()
	d.send(&protocol.Enroll{Device: d.name, Token: token, CSR: d.csr()})
	env, err := d.recv()
	if err != nil {
		return err
	}
	switch m := env.Msg.(type) {
	case *protocol.Certificate:
		leaf, err := x509.ParseCertificate(m.Chain[0])
		if err != nil {
			d.t.Fatal(err)
		}
		d.cert = &tls.Certificate{Certificate: m.Chain, PrivateKey: d.key, Leaf: leaf}
		return nil
	case *protocol.Error:
		return m
	}
	d.t.Fatalf("answer to enroll: %#v", env.Msg)
	return nil
}

// connect enrolls with a fresh token if needed and opens a mutual-TLS session.
func (d *testDevice) connect() *protocol.Welcome {
	d.t.Helper()
	if d.cert == nil {
		if err := d.enroll(d.h.registerDevice(d.name, "stm32f4-discovery", nil)); err != nil {
			d.t.Fatalf("%s: enroll: %v", d.name, err)
		}
	}
	w, err := d.dial(nil)
	if err != nil {
		d.t.Fatalf("%s: session: %v", d.name, err)
	}
	return w
}

// expect reads messages until one of type T arrives (answering nothing).
func expect[T protocol.Message](d *testDevice) T {
	d.t.Helper()
	for {
		env, err := d.recv()
		if err != nil {
			d.t.Fatalf("%s: waiting for %T: %v", d.name, *new(T), err)
		}
		if m, ok := env.Msg.(T); ok {
			return m
		}
	}
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
