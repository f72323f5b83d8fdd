package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/ca/stepcatest"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/protocol"
)

func TestServeWritesCredentialsAndGuardsTheAPI(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	for _, f := range []string{AdminTokenFile, ReaderTokenFile} {
		st, err := os.Stat(filepath.Join(h.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if got := h.call("", "GET", "/healthz", nil, nil); got != http.StatusOK {
		t.Errorf("healthz: %d", got)
	}
	for _, path := range []string{"/v1/devices", "/v1/applications", "/metrics", "/v1/events"} {
		if got := h.call("", "GET", path, nil, nil); got != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, got)
		}
		if got := h.call("wba_wrong", "GET", path, nil, nil); got != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, got)
		}
		if got := h.call(h.reader, "GET", path, nil, nil); got != http.StatusOK {
			t.Errorf("GET %s as reader: %d", path, got)
		}
	}
	if got := h.call(h.reader, "PUT", "/v1/devices/d1", map[string]any{"board": "stm32f4-discovery"}, nil); got != http.StatusForbidden {
		t.Errorf("PUT as reader: %d, want 403", got)
	}
	var bad struct{ Error string }
	if got := h.call(h.admin, "PUT", "/v1/devices/d1", map[string]any{"board": "z80"}, &bad); got != http.StatusBadRequest || !strings.Contains(bad.Error, "unknown") {
		t.Errorf("unknown board: %d %q", got, bad.Error)
	}
	if got := h.call(h.admin, "PUT", "/v1/devices/bad%20name", map[string]any{"board": "stm32f4-discovery"}, nil); got != http.StatusBadRequest {
		t.Errorf("bad device name: %d", got)
	}
	h.must(http.StatusCreated, "PUT", "/v1/devices/d1", map[string]any{"board": "stm32f4-discovery"}, nil)
	var audit struct{ Audit []fleet.AuditRecord }
	h.must(http.StatusOK, "GET", "/v1/audit", nil, &audit)
	if len(audit.Audit) != 1 || audit.Audit[0].Actor != "admin" || audit.Audit[0].Object != "device/d1" {
		t.Errorf("audit: %+v", audit.Audit)
	}
}

// A device holds at most gateway.MaxUnusedTokens valid tokens never used:
// one more is refused (409, naming the way out), deleting them or letting
// it expire makes room, and expired ones are deleted when the next is made.
func TestEnrollmentTokensBoundedPerDevice(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	h.must(http.StatusCreated, "PUT", "/v1/devices/dev-a", map[string]any{"board": "stm32f4-discovery"}, nil)
	count := func() int {
		t.Helper()
		var l apiv1.TokenList
		h.must(http.StatusOK, "GET", "/v1/tokens?device=dev-a", nil, &l)
		return len(l.Tokens)
	}
	var short struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	h.must(http.StatusCreated, "POST", "/v1/devices/dev-a/tokens", map[string]any{"ttl_seconds": 1}, &short)
	for range gateway.MaxUnusedTokens - 1 {
		h.must(http.StatusCreated, "POST", "/v1/devices/dev-a/tokens", nil, nil)
	}
	st, _, p := h.rawCall("POST", "/v1/devices/dev-a/tokens", "application/json", []byte(`{}`))
	if st != http.StatusConflict || p.Code != apiv1.CodeConflict || !strings.Contains(p.Detail, "DELETE /v1/devices/dev-a/tokens") {
		t.Fatalf("token %d: %d %+v, want 409 conflict naming the way out", gateway.MaxUnusedTokens+1, st, p)
	}
	if n := count(); n != gateway.MaxUnusedTokens {
		t.Fatalf("%d tokens after the refusal, want %d", n, gateway.MaxUnusedTokens)
	}
	// Once the short one has expired, the next token is made and the
	// expired one deleted.
	time.Sleep(time.Until(short.ExpiresAt) + 100*time.Millisecond)
	h.must(http.StatusCreated, "POST", "/v1/devices/dev-a/tokens", nil, nil)
	if n := count(); n != gateway.MaxUnusedTokens {
		t.Fatalf("%d tokens after the expired one made room, want %d", n, gateway.MaxUnusedTokens)
	}
	h.must(http.StatusNoContent, "DELETE", "/v1/devices/dev-a/tokens", nil, nil)
	h.must(http.StatusCreated, "POST", "/v1/devices/dev-a/tokens", nil, nil)
	if n := count(); n != 1 {
		t.Fatalf("%d tokens after deleting them and making one, want 1", n)
	}
}

func TestEnrollmentTokensAreOneTimeAndBound(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	token := h.registerDevice("dev-a", "stm32f4-discovery", nil)
	tokenB := h.registerDevice("dev-b", "stm32f4-discovery", nil)
	// A second token for dev-a, never used: it goes when dev-a enrolls.
	var spareA struct{ Token string }
	h.must(http.StatusCreated, "POST", "/v1/devices/dev-a/tokens", nil, &spareA)
	tokensOf := func(device string) []fleet.EnrollmentToken {
		t.Helper()
		var l apiv1.TokenList
		h.must(http.StatusOK, "GET", "/v1/tokens?device="+device, nil, &l)
		return l.Tokens
	}
	if n := len(tokensOf("dev-a")); n != 2 {
		t.Fatalf("dev-a has %d tokens before enrolling, want 2", n)
	}

	a := newTestDevice(t, h, "dev-a")
	if err := a.enroll(tokenB); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("dev-a with dev-b's token: %v, want unauthorized", err)
	}
	if err := a.enroll("wbt_0000000000000000_nope"); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("unknown token: %v", err)
	}
	if err := a.enroll(token); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if a.cert.Leaf.Subject.CommonName != "dev-a" {
		t.Fatalf("certificate names %q", a.cert.Leaf.Subject.CommonName)
	}
	// Enrolled: the unused token is gone (it would enroll anything registered
	// later as dev-a); the used one stays for a retry by the same key.
	if toks := tokensOf("dev-a"); len(toks) != 1 || toks[0].UsedAt.IsZero() {
		t.Fatalf("dev-a's tokens after enrolling: %+v, want the used one only", toks)
	}
	if err := newTestDevice(t, h, "dev-a").enroll(spareA.Token); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("the unused token after enrolling: %v, want unauthorized", err)
	}
	if n := len(tokensOf("dev-b")); n != 1 {
		t.Fatalf("dev-b's tokens: %d, want its own one, untouched", n)
	}
	again := newTestDevice(t, h, "dev-a")
	if err := again.enroll(token); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("reused token: %v, want unauthorized", err)
	}
	// The same device retrying with the same key (as if the certificate had
	// been lost on the way) gets a new certificate; the first one is revoked,
	// so one enrollment never leaves two certificates behind.
	first := a.cert
	a.cert = nil // an enrollment session: no client certificate
	if err := a.enroll(token); err != nil {
		t.Fatalf("retried enrollment with the same key: %v", err)
	}
	if a.cert.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("the retried enrollment returned the same certificate")
	}
	lost := newTestDevice(t, h, "dev-a")
	lost.key, lost.cert = a.key, first
	if _, err := lost.dial(nil); err == nil {
		t.Fatal("the superseded certificate got a session")
	} else {
		t.Logf("the superseded certificate: %v", err)
	}
	var tok struct{ Token string }
	h.must(http.StatusCreated, "POST", "/v1/devices/dev-b/tokens", map[string]any{"ttl_seconds": 1}, &tok)
	time.Sleep(1100 * time.Millisecond)
	if err := newTestDevice(t, h, "dev-b").enroll(tok.Token); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("expired token: %v, want unauthorized", err)
	}
	// The device's own session works and names it from the certificate.
	w, err := a.dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.Device != "dev-a" || w.HeartbeatMS == 0 {
		t.Fatalf("welcome %+v", w)
	}
	// Refusals are counted by reason, never recorded as events: anyone
	// can be refused, and events are a bounded history.
	var events struct{ Events []fleet.Event }
	h.must(http.StatusOK, "GET", "/v1/events?limit=100", nil, &events)
	for _, e := range events.Events {
		if strings.Contains(e.Kind, "refused") {
			t.Errorf("event %+v recorded for a refused enrollment", e)
		}
	}
	m := h.metrics()
	// token_unknown twice: a made-up token, and the unused one deleted at enrollment.
	for reason, n := range map[string]int{"token_wrong_device": 1, "token_unknown": 2, "token_used": 1, "token_expired": 1} {
		if line := fmt.Sprintf(`wasmbed_gateway_enrollments_refused_total{reason=%q} %d`, reason, n); !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %s", line)
		}
	}
}

func isCode(err error, code protocol.ErrorCode) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == code
}

func TestDeviceListenerRefusals(t *testing.T) {
	h := startGateway(t, gateway.Config{})

	// TLS 1.2 is refused at the handshake.
	_, err := tls.Dial("tcp", h.device, &tls.Config{RootCAs: h.roots, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12})
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("TLS 1.2 client: %v, want a protocol version alert", err)
	}

	// Without a client certificate only enrollment is allowed.
	d := newTestDevice(t, h, "nocert")
	if _, err := d.dial(nil); err != nil {
		t.Fatal(err)
	}
	d.send(&protocol.Heartbeat{Seq: 1})
	env, err := d.recv()
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := env.Msg.(*protocol.Error); !ok || e.Code != protocol.CodeForbidden {
		t.Fatalf("heartbeat without a certificate: %#v", env.Msg)
	}
	if _, err := d.recv(); err == nil {
		t.Fatal("session still open after a refused message")
	}

	// A certificate from another CA is refused at the handshake.
	other := newTestDevice(t, h, "dev-x")
	foreign := foreignCert(t, "dev-x", other.key)
	// GetClientCertificate sends it even though the gateway did not ask for its CA.
	w, err := other.dial(&tls.Config{RootCAs: h.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return foreign, nil }})
	if err == nil {
		t.Fatalf("certificate from another CA accepted: welcome %+v", w)
	}

	// A device with a certificate cannot enroll (claim) another device.
	a := newTestDevice(t, h, "dev-a")
	a.connect()
	h.registerDevice("dev-b", "stm32f4-discovery", nil)
	a.send(&protocol.Enroll{Device: "dev-b", Token: "wbt_x_y", CSR: a.csr()})
	if e := expect[*protocol.Error](a); e.Code != protocol.CodeForbidden {
		t.Fatalf("enroll inside a mutual-TLS session: %+v", e)
	}
}

// foreignCert makes a certificate for name from a CA the gateway never saw.
func foreignCert(t *testing.T, name string, key *ecdsa.PrivateKey) *tls.Certificate {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "evil CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// apiCert has the gateway's CA sign d's key through the API.
func apiCert(t *testing.T, h *harness, d *testDevice, ttlSeconds int) *tls.Certificate {
	var out struct {
		ChainPEM string `json:"chain_pem"`
	}
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: d.csr()}))
	h.must(http.StatusCreated, "POST", "/v1/certificates", map[string]any{"csr_pem": csrPEM, "device": d.name, "ttl_seconds": ttlSeconds}, &out)
	cert, err := tls.X509KeyPair([]byte(out.ChainPEM), marshalKey(t, d.key))
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}

func TestRevocationClosesTheSessionAndRefusesReconnection(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	d := newTestDevice(t, h, "dev-r")
	d.connect()
	var dev fleet.Device
	eventually(t, "device online", func() bool {
		h.must(http.StatusOK, "GET", "/v1/devices/dev-r", nil, &dev)
		return dev.Status.Phase == fleet.PhaseOnline
	})
	h.must(http.StatusOK, "POST", "/v1/devices/dev-r/revoke", map[string]any{"reason": "stolen"}, nil)
	if e := expect[*protocol.Error](d); e.Code != protocol.CodeRevoked {
		t.Fatalf("revoked session got %+v", e)
	}
	if _, err := d.recv(); err == nil {
		t.Fatal("revoked session still open")
	}
	if _, err := d.dial(nil); err == nil {
		t.Fatal("revoked certificate accepted again")
	}
	h.must(http.StatusOK, "GET", "/v1/devices/dev-r", nil, &dev)
	if dev.Status.Phase != fleet.PhaseRevoked {
		t.Fatalf("phase %q after revocation", dev.Status.Phase)
	}
	// Enrolling again with a new token gives a new certificate that works.
	var tok struct{ Token string }
	h.must(http.StatusCreated, "POST", "/v1/devices/dev-r/tokens", nil, &tok)
	d.cert = nil
	if err := d.enroll(tok.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := d.dial(nil); err != nil {
		t.Fatalf("re-enrolled device refused: %v", err)
	}
}

func TestBadInputKeepsOtherDevicesServed(t *testing.T) {
	h := startGateway(t, gateway.Config{HandshakeTimeout: time.Second})
	good := newTestDevice(t, h, "good")
	good.connect()
	heartbeat := func() {
		t.Helper()
		id := good.send(&protocol.Heartbeat{Seq: good.nextID})
		ack := expect[*protocol.HeartbeatAck](good)
		if ack.Seq != id-1 {
			t.Fatalf("ack for seq %d, want %d", ack.Seq, id-1)
		}
	}
	heartbeat()

	// A flood of half-open TCP connections that never handshake.
	var idle []net.Conn
	for i := 0; i < 300; i++ {
		c, err := net.Dial("tcp", h.device)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	heartbeat()

	bad := newTestDevice(t, h, "bad")
	bad.connect()
	// Malformed CBOR: answered with an error, the session goes on.
	bad.conn.Write([]byte{protocol.FrameVersion, 0, 0, 3, 0xff, 0xff, 0xff})
	if e := expect[*protocol.Error](bad); e.Code != protocol.CodeMalformed {
		t.Fatalf("malformed: %+v", e)
	}
	bad.send(&protocol.Heartbeat{Seq: 9})
	expect[*protocol.HeartbeatAck](bad)
	// Unknown message type: unsupported, the session goes on.
	bad.conn.Write([]byte{protocol.FrameVersion, 0, 0, 5, 0x83, 0x18, 0x63, 0x01, 0xa0})
	if e := expect[*protocol.Error](bad); e.Code != protocol.CodeUnsupported {
		t.Fatalf("unknown type: %+v", e)
	}
	// A message only the gateway sends: forbidden.
	bad.send(&protocol.Deploy{App: "x", Generation: 1, Version: "1", SHA256: make([]byte, 32), Size: 1, Limits: protocol.Limits{Fuel: 1, Memory: 1}})
	if e := expect[*protocol.Error](bad); e.Code != protocol.CodeForbidden {
		t.Fatalf("deploy from a device: %+v", e)
	}
	// An oversized frame: the session is closed.
	bad.conn.Write([]byte{protocol.FrameVersion, 0, 0xff, 0xff})
	expect[*protocol.Error](bad)
	if _, err := bad.recv(); err == nil {
		t.Fatal("session open after an oversized frame")
	}
	heartbeat()

	// A second session for the same device replaces the first.
	first := good.conn
	good.connect()
	first.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := first.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("replaced session not closed: %v", err)
	}
	heartbeat()
}

func TestMissedHeartbeatsMarkOffline(t *testing.T) {
	h := startGateway(t, gateway.Config{HeartbeatInterval: 200 * time.Millisecond, MissedHeartbeats: 2})
	d := newTestDevice(t, h, "quiet")
	d.connect()
	var dev fleet.Device
	eventually(t, "offline after missed heartbeats, with an event", func() bool {
		h.must(http.StatusOK, "GET", "/v1/devices/quiet", nil, &dev)
		var events struct{ Events []fleet.Event }
		h.must(http.StatusOK, "GET", "/v1/events", nil, &events)
		for _, e := range events.Events {
			if e.Kind == "device.offline" && strings.Contains(e.Message, "missed 2 heartbeats") {
				return dev.Status.Phase == fleet.PhaseOffline
			}
		}
		return false
	})
}

// The deploy pipeline end to end, with the test device doing what firmware
// does: resume offset, chunks, sha256 check, status, output.
func TestDeployTransfersModuleAndRecordsOutput(t *testing.T) {
	h := startGateway(t, gateway.Config{ChunkSize: 1000})
	wasm := wasmtest.App(t, "sensor")
	var mod struct {
		SHA256 string
		Size   int
	}
	h.must(http.StatusCreated, "POST", "/v1/modules", wasm, &mod)
	d := newTestDevice(t, h, "dev-s")
	d.connect()
	h.must(http.StatusOK, "PUT", "/v1/devices/dev-s", map[string]any{"board": "stm32f4-discovery", "labels": map[string]string{"role": "sensor"}}, nil)
	h.must(http.StatusCreated, "PUT", "/v1/applications/sensor", map[string]any{"version": "1.0.0", "sha256": mod.SHA256,
		"selector": map[string]any{"labels": map[string]string{"role": "sensor"}}, "config": map[string]string{"unit": "C"}}, nil)

	dep := expect[*protocol.Deploy](d)
	if dep.App != "sensor" || dep.Version != "1.0.0" || dep.Size != uint32(len(wasm)) || !dep.Start || dep.Config["unit"] != "C" {
		t.Fatalf("deploy %+v", dep)
	}
	// Take the first chunk, then "reconnect" by reporting a resume offset.
	got := make([]byte, 0, len(wasm))
	d.send(&protocol.TransferProgress{App: "sensor", Generation: dep.Generation, Offset: 0})
	for len(got) < len(wasm) {
		c := expect[*protocol.ModuleChunk](d)
		if c.Offset != uint32(len(got)) || c.Generation != dep.Generation {
			t.Fatalf("chunk at %d gen %d, want %d gen %d", c.Offset, c.Generation, len(got), dep.Generation)
		}
		if len(c.Data) > 1000 {
			t.Fatalf("chunk of %d bytes, configured 1000", len(c.Data))
		}
		got = append(got, c.Data...)
		d.send(&protocol.TransferProgress{App: "sensor", Generation: dep.Generation, Offset: uint32(len(got))})
	}
	if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != mod.SHA256 || hex.EncodeToString(dep.SHA256) != mod.SHA256 {
		t.Fatal("transferred module does not match its sha256")
	}
	d.send(&protocol.AppStatus{App: "sensor", Generation: dep.Generation, State: protocol.AppStateRunning, Version: "1.0.0"})
	now := time.Now().UnixMilli()
	d.send(&protocol.AppOutput{App: "sensor", Seq: 1, Values: []protocol.ValueRecord{{Time: now, Key: "temperature", Value: 21.5}},
		Logs: []protocol.LogRecord{{Time: now, Level: protocol.LogInfo, Text: "hello"}}})
	d.send(&protocol.AppOutput{App: "sensor", Seq: 1, Values: []protocol.ValueRecord{{Time: now, Key: "temperature", Value: 99}}}) // repeat: dropped

	var status struct {
		Converged bool
		Updated   int
		Devices   []struct{ Device, State string }
	}
	eventually(t, "rollout converged", func() bool {
		h.must(http.StatusOK, "GET", "/v1/applications/sensor/status", nil, &status)
		return status.Converged && status.Updated == 1
	})
	var out struct{ Output []fleet.OutputRecord }
	eventually(t, "app output", func() bool {
		h.must(http.StatusOK, "GET", "/v1/applications/sensor/output?device=dev-s", nil, &out)
		return len(out.Output) == 2
	})
	for _, r := range out.Output {
		if r.Key == "temperature" && *r.Value != 21.5 {
			t.Fatalf("value %v", *r.Value)
		}
	}

	// A new version is deployed with a higher generation; a stale status
	// for the old generation is ignored.
	h.must(http.StatusOK, "PUT", "/v1/applications/sensor", map[string]any{"version": "1.0.1", "sha256": mod.SHA256,
		"selector": map[string]any{"labels": map[string]string{"role": "sensor"}}}, nil)
	dep2 := expect[*protocol.Deploy](d)
	if dep2.Generation <= dep.Generation || dep2.Version != "1.0.1" {
		t.Fatalf("second deploy %+v after generation %d", dep2, dep.Generation)
	}
	d.send(&protocol.AppStatus{App: "sensor", Generation: dep.Generation, State: protocol.AppStateTrapped, Version: "1.0.0"})

	// Removing the application removes it from the device.
	h.must(http.StatusNoContent, "DELETE", "/v1/applications/sensor", nil, nil)
	rm := expect[*protocol.Remove](d)
	if rm.Generation <= dep2.Generation {
		t.Fatalf("remove generation %d after %d", rm.Generation, dep2.Generation)
	}
	d.send(&protocol.AppStatus{App: "sensor", Generation: rm.Generation, State: protocol.AppStateRemoved})
	eventually(t, "deployment gone", func() bool {
		var e struct{ Events []fleet.Event }
		h.must(http.StatusOK, "GET", "/v1/events?limit=1000", nil, &e)
		for _, ev := range e.Events {
			if ev.Kind == "app.removed" {
				return true
			}
		}
		return false
	})
}

func TestModuleRefusedBeforeRollout(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	bad := wasmtest.WAT(t, `(module (import "wasmbed" "fly" (func)) (memory (export "memory") 1) (func (export "tick")))`)
	var mod struct{ SHA256 string }
	h.must(http.StatusCreated, "POST", "/v1/modules", bad, &mod)
	var out struct{ Error, Board string }
	code := h.call(h.admin, "PUT", "/v1/applications/x", map[string]any{"version": "1", "sha256": mod.SHA256,
		"selector": map[string]any{"boards": []string{"stm32f4-discovery"}}}, &out)
	if code != http.StatusUnprocessableEntity || out.Board != "stm32f4-discovery" || !strings.Contains(out.Error, "fly") {
		t.Fatalf("unknown import: %d %+v", code, out)
	}
	big := wasmtest.WAT(t, `(module (memory (export "memory") 16) (func (export "tick")))`)
	h.must(http.StatusCreated, "POST", "/v1/modules", big, &mod)
	code = h.call(h.admin, "PUT", "/v1/applications/y", map[string]any{"version": "1", "sha256": mod.SHA256,
		"limits": map[string]any{"memory": 16 * 65536}, "selector": map[string]any{"boards": []string{"stm32f4-discovery"}}}, &out)
	if code != http.StatusUnprocessableEntity || !strings.Contains(out.Error, "stm32f4-discovery") {
		t.Fatalf("1 MiB of memory on a small board: %d %+v", code, out)
	}
	// Fuel per call beyond what the board's firmware runs within its watchdog.
	stm, _ := board.Lookup("stm32f4-discovery")
	h.must(http.StatusCreated, "POST", "/v1/modules", wasmtest.App(t, "sensor"), &mod)
	code = h.call(h.admin, "PUT", "/v1/applications/z", map[string]any{"version": "1", "sha256": mod.SHA256,
		"limits": map[string]any{"fuel": stm.MaxFuel + 1}, "selector": map[string]any{"boards": []string{"stm32f4-discovery"}}}, &out)
	if code != http.StatusUnprocessableEntity || out.Board != "stm32f4-discovery" || !strings.Contains(out.Error,
		fmt.Sprintf("limits.fuel %d exceeds what board stm32f4-discovery can run within its watchdog (%d)", stm.MaxFuel+1, stm.MaxFuel)) {
		t.Fatalf("fuel over the board's cap: %d %+v", code, out)
	}
	// The plan-time check: inline module, nothing stored.
	h.registerDevice("nano", "nano33ble", map[string]string{"role": "x"})
	code = h.call(h.reader, "POST", "/v1/modules/check", map[string]any{"module": bad, "selector": map[string]any{"labels": map[string]string{"role": "x"}}}, &out)
	if code != http.StatusUnprocessableEntity || out.Board != "nano33ble" || !strings.Contains(out.Error, "fly") {
		t.Fatalf("check of a bad module for a selected device's board: %d %+v", code, out)
	}
	var ok struct {
		OK     bool
		Boards []string
	}
	code = h.call(h.reader, "POST", "/v1/modules/check", map[string]any{"module": wasmtest.App(t, "sensor"),
		"selector": map[string]any{"labels": map[string]string{"role": "x"}, "boards": []string{"mps2-an386", "nano33ble"}}}, &ok)
	if code != http.StatusOK || !ok.OK || strings.Join(ok.Boards, ",") != "mps2-an386,nano33ble" {
		t.Fatalf("check of a good module: %d %+v", code, ok)
	}
	if got := h.call(h.admin, "POST", "/v1/modules", []byte("not wasm"), nil); got != http.StatusUnprocessableEntity {
		t.Fatalf("non-wasm upload: %d", got)
	}
	var apps struct{ Applications []fleet.Application }
	h.must(http.StatusOK, "GET", "/v1/applications", nil, &apps)
	if len(apps.Applications) != 0 {
		t.Fatalf("refused applications were stored: %+v", apps.Applications)
	}
}

func TestRestartKeepsStateAndCA(t *testing.T) {
	dir := t.TempDir()
	h := startGatewayIn(t, dir, gateway.Config{})
	d := newTestDevice(t, h, "dev-p")
	d.connect()
	root := h.readFile(CACertFile)
	admin := h.admin
	h.stop()
	h2 := startGatewayIn(t, dir, gateway.Config{})
	if h2.readFile(CACertFile) != root || h2.admin != admin {
		t.Fatal("restart changed the CA root or the admin token")
	}
	d.h = h2
	if _, err := d.dial(nil); err != nil {
		t.Fatalf("enrolled device refused after restart: %v", err)
	}
}

func marshalKey(t *testing.T, key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// A certificate past its expiry is refused: the gateway's clock is moved
// two days ahead of a device certificate that lives one day.
func TestExpiredCertificateRefused(t *testing.T) {
	dir := t.TempDir()
	h := startGatewayIn(t, dir, gateway.Config{CertTTL: 24 * time.Hour})
	d := newTestDevice(t, h, "dev-old")
	d.connect()
	h.stop()
	h2 := startGatewayIn(t, dir, gateway.Config{Clock: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	d.h = h2
	if _, err := d.dial(nil); err == nil {
		t.Fatalf("certificate that expired at %v accepted", d.cert.Leaf.NotAfter)
	}
	// Signing through the API works and the certificate carries the device name.
	h2.registerDevice("dev-api", "stm32f4-discovery", nil)
	fresh := newTestDevice(t, h2, "dev-api")
	fresh.cert = apiCert(t, h2, fresh, 3600)
	if fresh.cert.Leaf == nil {
		leaf, _ := x509.ParseCertificate(fresh.cert.Certificate[0])
		fresh.cert.Leaf = leaf
	}
	if fresh.cert.Leaf.Subject.CommonName != "dev-api" {
		t.Fatalf("API-signed certificate names %q", fresh.cert.Leaf.Subject.CommonName)
	}
}

// The same gateway signs through a real external step-ca server.
func TestExternalStepCA(t *testing.T) {
	srv := stepcatest.Start(t)
	h := startGatewayWith(t, Options{DataDir: t.TempDir(), Gateway: gateway.Config{CertTTL: time.Hour}, ExternalCA: externalCA(srv)})
	rootPEM, _ := os.ReadFile(srv.Root)
	if h.readFile(CACertFile) != strings.TrimSpace(string(rootPEM)) {
		t.Fatal("ca.crt is not the external step-ca's root")
	}
	d := newTestDevice(t, h, "dev-ext")
	w := d.connect()
	if w.Device != "dev-ext" {
		t.Fatalf("welcome %+v", w)
	}
	if got := d.cert.Leaf.Issuer.CommonName; !strings.Contains(got, "wasmbed-external-test") {
		t.Fatalf("device certificate issued by %q, not the external CA", got)
	}
	d.send(&protocol.Heartbeat{Seq: 1})
	expect[*protocol.HeartbeatAck](d)
	// The ledger and revocation with an external CA (ledger_test.go has
	// every path with the embedded one): a renewal, then the device
	// revoked; the server's own CRL, served at /v1/crl, lists both.
	pending := d.renew()
	h.wantState("dev-ext", pending, fleet.CertPending, fleet.SourceRenewal)
	if h.crlLists(d.cert) {
		t.Fatal("the external CA's CRL lists the current certificate")
	}
	h.must(http.StatusOK, "POST", "/v1/devices/dev-ext/revoke", map[string]any{"reason": "stolen"}, nil)
	d.closedWith(protocol.CodeRevoked)
	d.refused(d.cert, "the revoked certificate (external CA)")
	d.refused(pending, "the revoked pending certificate (external CA)")
	if !h.crlLists(d.cert) || !h.crlLists(pending) {
		t.Fatal("the external CA's CRL does not list the revoked certificates")
	}
}

// The Go client (what the Terraform provider uses) against the real API.
func TestAPIClient(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	ctx := context.Background()
	u, _ := url.Parse(h.api)
	c := apiv1.NewClient(u, h.admin, h.roots)
	if _, err := c.GetDevice(ctx, "nope"); !apiv1.IsNotFound(err) {
		t.Fatalf("missing device: %v", err)
	}
	if _, err := c.PutDevice(ctx, "d1", apiv1.DeviceSpec{Board: "mps2-an386", Labels: map[string]string{"site": "a"}}); err != nil {
		t.Fatal(err)
	}
	devs, err := c.ListDevices(ctx, apiv1.DeviceFilter{Labels: map[string]string{"site": "a"}})
	if err != nil || len(devs) != 1 || devs[0].Status.Phase != fleet.PhaseRegistered {
		t.Fatalf("list: %+v %v", devs, err)
	}
	if devs, _ := c.ListDevices(ctx, apiv1.DeviceFilter{Board: "nano33ble"}); len(devs) != 0 {
		t.Fatalf("board filter: %+v", devs)
	}
	mod, err := c.UploadModule(ctx, wasmtest.App(t, "sensor"))
	if err != nil {
		t.Fatal(err)
	}
	sel := fleet.Selector{Labels: map[string]string{"site": "a"}}
	if _, err := c.CheckModule(ctx, apiv1.CheckRequest{SHA256: mod.SHA256, Selector: sel}); err != nil {
		t.Fatalf("check: %v", err)
	}
	app, err := c.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1", SHA256: mod.SHA256, Selector: sel})
	if err != nil || app.Generation != 1 || !app.Running || app.Limits.Fuel == 0 {
		t.Fatalf("put application: %+v %v", app, err)
	}
	same, _ := c.PutApplication(ctx, "sensor", apiv1.ApplicationSpec{Version: "1", SHA256: mod.SHA256, Selector: sel})
	if same.Generation != 1 {
		t.Fatalf("unchanged spec bumped the generation to %d", same.Generation)
	}
	st, err := c.ApplicationStatus(ctx, "sensor")
	if err != nil || st.Selected != 1 || st.Converged || len(st.Devices) != 1 || st.Devices[0].State != "pending" {
		t.Fatalf("status: %+v %v", st, err)
	}
	var apiErr *apiv1.Error
	_, err = c.PutApplication(ctx, "bad", apiv1.ApplicationSpec{Version: "1", SHA256: strings.Repeat("0", 64)})
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity || !strings.Contains(apiErr.Message, "no such module") {
		t.Fatalf("unknown module: %v", err)
	}
	if err := c.DeleteApplication(ctx, "sensor"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteDevice(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetDevice(ctx, "d1"); !apiv1.IsNotFound(err) {
		t.Fatalf("deleted device: %v", err)
	}
}
