package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/tlsrecord"
)

// A device whose old session's end is recorded after its new session said
// hello stays online: the new session holds it. (A board that reset and came
// back while the gateway was still ending its old session, e.g. on missed
// heartbeats, was shown offline with a live session until it next
// reconnected.) endSessionHook puts the new session's hello exactly between
// the old session leaving the map and its end being recorded.
func TestEndOfAReplacedSessionLeavesTheDeviceOnline(t *testing.T) {
	g, store := newTestGateway(t)
	ctx := context.Background()
	const dev = "dev-1"
	if err := store.Devices().Create(ctx, dev, fleet.Device{Name: dev, Board: "stm32f4-discovery"}); err != nil {
		t.Fatal(err)
	}
	setPhase := func(p string) {
		t.Helper()
		if _, err := store.Devices().Update(ctx, dev, func(d *fleet.Device) error { d.Status.Phase = p; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	old := &session{g: g, ctx: ctx, conn: testConn(t), device: dev}
	g.sessions[dev] = old
	g.adm.conns.Add(2) // the two sessions' connections, which endSession gives back
	setPhase(fleet.PhaseOnline)

	// What deviceSession does with a new session: on the map, then online in the store.
	next := &session{g: g, ctx: ctx, conn: testConn(t), device: dev}
	endSessionHook = func(s *session) {
		if s != old {
			return
		}
		g.mu.Lock()
		g.sessions[dev] = next
		g.mu.Unlock()
		setPhase(fleet.PhaseOnline)
	}
	t.Cleanup(func() { endSessionHook = nil })

	g.endSession(ctx, old, "missed 3 heartbeats")
	d, err := store.Devices().Get(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.Phase != fleet.PhaseOnline {
		t.Fatalf("device %s with a live session (the new one on the map: %v)", d.Status.Phase, g.sessions[dev] == next)
	}

	// The new session's own end is recorded.
	endSessionHook = nil
	g.endSession(ctx, next, "connection: EOF")
	if d, _ := store.Devices().Get(ctx, dev); d.Status.Phase != fleet.PhaseOffline {
		t.Fatalf("device %s after its last session ended", d.Status.Phase)
	}
}

// testConn is the gateway's end of a TLS 1.3 connection over loopback TCP.
func testConn(t *testing.T) *tlsrecord.Conn {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"gateway"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client := make(chan *tls.Conn, 1)
	go func() {
		c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		if err != nil {
			client <- nil
			return
		}
		client <- c
	}()
	raw, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := tlsrecord.Server(context.Background(), raw,
		&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	c := <-client
	if c == nil {
		t.Fatal("client handshake failed")
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return conn
}
