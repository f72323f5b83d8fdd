//go:build unix

package tlsrecord

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pki is a CA with a server and a client certificate.
type pki struct {
	roots  *x509.CertPool
	server tls.Certificate
	client tls.Certificate
	caPEM  []byte
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: []string{cn}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &pki{roots: x509.NewCertPool(), caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.roots.AddCert(ca)
	p.server = issue(2, "localhost", x509.ExtKeyUsageServerAuth)
	p.client = issue(3, "device-1", x509.ExtKeyUsageClientAuth)
	return p
}

func (p *pki) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.roots}
}

func (p *pki) clientConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.client}, RootCAs: p.roots, ServerName: "localhost", MinVersion: tls.VersionTLS13}
}

// accepted is the server side of one connection.
type accepted struct {
	conn  *Conn
	state tls.ConnectionState
	err   error
}

// listen accepts connections and makes the handshake with Server.
func listen(t *testing.T, cfg *tls.Config) (addr string, conns <-chan accepted) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan accepted, 4)
	go func() {
		for {
			raw, err := l.Accept()
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, st, err := Server(ctx, raw, cfg)
			cancel()
			if err != nil {
				raw.Close()
			} else {
				t.Cleanup(func() { c.Close() })
			}
			ch <- accepted{c, st, err}
		}
	}()
	return l.Addr().String(), ch
}

func dial(t *testing.T, addr string, cfg *tls.Config, wrap func(net.Conn) net.Conn) *tls.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		raw = wrap(raw)
	}
	c := tls.Client(raw, cfg)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func accept(t *testing.T, ch <-chan accepted) accepted {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(20 * time.Second):
		t.Fatal("no connection accepted")
	}
	panic("unreachable")
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// TestEchoWithCryptoTLSClient runs application data both ways between
// crypto/tls's client and Conn, in messages that share and that span
// records, sent right after the handshake.
func TestEchoWithCryptoTLSClient(t *testing.T) {
	p := newPKI(t)
	addr, conns := listen(t, p.serverConfig())
	client := dial(t, addr, p.clientConfig(), nil)
	sizes := []int{1, 100, maxPlaintext - 1, maxPlaintext, maxPlaintext + 1, 40000}
	var want []byte
	for i, n := range sizes {
		want = append(want, pattern(n, byte(i))...)
	}
	// Written before the server side has even returned from Server.
	go client.Write(want)

	a := accept(t, conns)
	if a.err != nil {
		t.Fatal(a.err)
	}
	if cn := a.state.PeerCertificates[0].Subject.CommonName; cn != "device-1" {
		t.Errorf("peer certificate %q", cn)
	}
	s := a.conn
	s.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("server read different bytes than the client wrote")
	}
	for _, n := range sizes {
		if _, err := s.Write(got[:n]); err != nil {
			t.Fatal(err)
		}
		back := make([]byte, n)
		if _, err := io.ReadFull(client, back); err != nil {
			t.Fatalf("client read %d bytes: %v", n, err)
		}
		if !bytes.Equal(back, got[:n]) {
			t.Fatalf("client read different bytes (%d)", n)
		}
		got = got[n:]
	}
}

// TestFillAndWait checks the reading that never blocks: Fill says when
// there is nothing, WaitReadable wakes when there is, and an idle Conn
// holds no buffer.
func TestFillAndWait(t *testing.T) {
	p := newPKI(t)
	addr, conns := listen(t, p.serverConfig())
	client := dial(t, addr, p.clientConfig(), nil)
	s := accept(t, conns).conn
	if err := s.Fill(); err != ErrWouldBlock {
		t.Fatalf("Fill on a quiet connection: %v", err)
	}
	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if err := s.WaitReadable(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WaitReadable past the deadline: %v", err)
	}
	// Data that arrived after Fill found nothing, before WaitReadable was
	// called: the poller has reported it already and will not again.
	if _, err := client.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := s.WaitReadable(); err != nil {
		t.Fatalf("WaitReadable with data already there: %v", err)
	}
	if err := s.Fill(); err != nil || string(s.Buffered()) != "early" {
		t.Fatalf("Fill: %q, %v", s.Buffered(), err)
	}
	s.Discard(len(s.Buffered()))

	s.SetReadDeadline(time.Now().Add(20 * time.Second))
	for round := range 3 {
		msg := pattern(300+round, byte(round))
		go client.Write(msg)
		var got []byte
		for len(got) < len(msg) {
			if err := s.WaitReadable(); err != nil {
				t.Fatal(err)
			}
			if s.rbuf != nil && cap(s.rbuf) == bufSize || s.plain != nil && cap(s.plain) == bufSize {
				t.Fatal("a waiting Conn holds a pooled buffer")
			}
			for {
				err := s.Fill()
				got = append(got, s.Buffered()...)
				s.Discard(len(s.Buffered()))
				if err == ErrWouldBlock {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("round %d: got %d bytes, want %d", round, len(got), len(msg))
		}
		if s.rbuf != nil || s.plain != nil {
			t.Fatalf("round %d: buffers kept after everything was consumed", round)
		}
	}
}

// TestKeyUpdate updates keys both ways with crypto/tls's client: the
// server's write key on schedule, and the client's when the server asks.
func TestKeyUpdate(t *testing.T) {
	defer func(n uint64) { keyUpdateAfter = n }(keyUpdateAfter)
	keyUpdateAfter = 3
	p := newPKI(t)
	addr, conns := listen(t, p.serverConfig())
	client := dial(t, addr, p.clientConfig(), nil)
	s := accept(t, conns).conn
	s.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i := range 10 {
		msg := pattern(50, byte(i))
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d after key updates: %v", i, err)
		}
	}
	before := s.in.secret
	s.wmu.Lock()
	err := s.keyUpdateLocked(true)
	s.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	// crypto/tls answers the request when it reads it, which it does on
	// its way to this byte.
	if _, err := s.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	msg := pattern(70, 9)
	if _, err := client.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("client data after its key update: %v", err)
	}
	if bytes.Equal(before, s.in.secret) {
		t.Fatal("the client did not update its key")
	}
}

func TestCloseNotify(t *testing.T) {
	p := newPKI(t)
	addr, conns := listen(t, p.serverConfig())

	client := dial(t, addr, p.clientConfig(), nil)
	s := accept(t, conns).conn
	client.Close()
	s.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server read after the client's close_notify: %v", err)
	}

	client = dial(t, addr, p.clientConfig(), nil)
	s = accept(t, conns).conn
	s.Close()
	if _, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read after the server's close_notify: %v", err)
	}
}

// tamper lets a test change what crypto/tls's client writes once the
// handshake is done.
type tamper struct {
	net.Conn
	mu sync.Mutex
	on func([]byte) []byte
}

func (c *tamper) Write(b []byte) (int, error) {
	c.mu.Lock()
	f := c.on
	c.mu.Unlock()
	if f != nil {
		if _, err := c.Conn.Write(f(append([]byte(nil), b...))); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// TestBadRecords sends what no client may send after the handshake; each
// ends the connection with an error that says what was wrong, and the
// client is told with an alert.
func TestBadRecords(t *testing.T) {
	cases := []struct {
		name   string
		change func([]byte) []byte
		want   string
		alert  string
	}{
		{"flipped bit", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, "authentication failed", "bad record MAC"},
		{"change_cipher_spec", func([]byte) []byte { return []byte{typeChangeCipherSpec, 3, 3, 0, 1, 1} }, "type 20", "unexpected message"},
		{"plaintext alert", func([]byte) []byte { return []byte{typeAlert, 3, 3, 0, 2, 2, 40} }, "type 21", "unexpected message"},
		{"oversized", func(b []byte) []byte {
			return append([]byte{typeApplicationData, 3, 3, 0x50, 0}, make([]byte, 0x5000)...)
		}, "record of 20480 bytes", "record overflow"},
		{"wrong version", func(b []byte) []byte { b[2] = 1; return b }, "record version", "error decoding message"},
		{"too short", func([]byte) []byte { return []byte{typeApplicationData, 3, 3, 0, 3, 1, 2, 3} }, "too short", "error decoding message"},
	}
	p := newPKI(t)
	addr, conns := listen(t, p.serverConfig())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := &tamper{}
			client := dial(t, addr, p.clientConfig(), func(raw net.Conn) net.Conn { tc.Conn = raw; return tc })
			s := accept(t, conns).conn
			tc.mu.Lock()
			tc.on = c.change
			tc.mu.Unlock()
			client.Write([]byte("hello"))
			s.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err := s.Read(make([]byte, 10))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("server: %v, want an error about %q", err, c.want)
			}
			// A sticky error: reading again says the same.
			if err2 := s.Fill(); err2 != err {
				t.Errorf("Fill after the error: %v", err2)
			}
			client.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, cerr := client.Read(make([]byte, 1))
			if cerr == nil || !strings.Contains(cerr.Error(), c.alert) {
				t.Errorf("client: %v, want alert %q", cerr, c.alert)
			}
		})
	}
}

func TestServerRefuses(t *testing.T) {
	p := newPKI(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, _, err := Server(context.Background(), a, p.serverConfig()); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("net.Pipe: %v", err)
	}

	// A client certificate from another CA: the client, done with its
	// side of the handshake, hears why, not a reset (crypto/tls refuses
	// the certificate before it reads the rest of the client's flight).
	other := newPKI(t)
	addr0, conns0 := listen(t, p.serverConfig())
	for i := range 20 {
		cfg := p.clientConfig()
		cfg.Certificates = []tls.Certificate{other.client}
		c, err := tls.Dial("tcp", addr0, cfg)
		if err == nil {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			time.Sleep(20 * time.Millisecond) // the gateway has refused by now
			if _, err = c.Write([]byte("hello")); err == nil {
				_, err = c.Read(make([]byte, 1))
			}
			c.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "unknown certificate authority") {
			t.Fatalf("attempt %d: client saw %v, want the unknown certificate authority alert", i, err)
		}
		if a := accept(t, conns0); a.err == nil {
			t.Fatal("a certificate from another CA was accepted")
		}
	}

	// TLS 1.2 is refused even when the given config allows it.
	addr, conns := listen(t, p.serverConfig())
	cfg := p.clientConfig()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if c, err := tls.Dial("tcp", addr, cfg); err == nil {
		c.Close()
		t.Error("a TLS 1.2 client got through")
	}
	if a := accept(t, conns); a.err == nil || !strings.Contains(a.err.Error(), "version") {
		t.Errorf("server on TLS 1.2: %v", a.err)
	}
}

// TestOpenSSLClientSuites runs every cipher suite against OpenSSL's
// s_client: crypto/tls's client picks AES-128-GCM on this hardware, so the
// other two, and SHA-384's key schedule, need another client.
func TestOpenSSLClientSuites(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed (make setup installs it): ", err)
	}
	p := newPKI(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile := write("ca.pem", p.caPEM)
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.client.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := write("client.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	certFile := write("client.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.client.Certificate[0]}))
	addr, conns := listen(t, p.serverConfig())

	for _, name := range []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, "-tls1_3", "-ciphersuites", name,
				"-CAfile", caFile, "-cert", certFile, "-key", keyFile, "-servername", "localhost", "-verify_return_error", "-quiet")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer stdin.Close()
			a := accept(t, conns)
			if a.err != nil {
				t.Fatalf("handshake: %v (openssl: %s)", a.err, stderr.String())
			}
			if got := tls.CipherSuiteName(a.state.CipherSuite); got != name {
				t.Fatalf("negotiated %s", got)
			}
			s := a.conn
			defer s.Close() // s_client ends at the close_notify
			s.SetReadDeadline(time.Now().Add(20 * time.Second))
			line := "from openssl " + strings.Repeat("x", 5000) + "\n"
			io.WriteString(stdin, line)
			got, err := bufio.NewReader(s).ReadString('\n')
			if err != nil || got != line {
				t.Fatalf("server read %d bytes, %v", len(got), err)
			}
			reply := "from the gateway " + strings.Repeat("y", 20000) + "\n"
			if _, err := io.WriteString(s, reply); err != nil {
				t.Fatal(err)
			}
			back, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil || back != reply {
				t.Fatalf("openssl read %d bytes, %v (stderr: %s)", len(back), err, stderr.String())
			}
		})
	}
}
