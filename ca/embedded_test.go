package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/provisioner"
)

// sharedCA is one embedded CA for the tests that need no fresh directory
// (creating one costs a PBKDF2 run to encrypt the provisioner key and one to
// decrypt it).
var sharedCA struct {
	once sync.Once
	e    *Embedded
	err  error
}

func shared(t testing.TB) *Embedded {
	t.Helper()
	sharedCA.once.Do(func() {
		dir, err := os.MkdirTemp("", "wasmbed-ca-test-")
		if err != nil {
			sharedCA.err = err
			return
		}
		sharedCA.e, sharedCA.err = NewEmbedded(filepath.Join(dir, "ca"), nil)
	})
	if sharedCA.err != nil {
		t.Fatal(sharedCA.err)
	}
	return sharedCA.e
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedCA.e != nil {
		sharedCA.e.Close()
		os.RemoveAll(filepath.Dir(sharedCA.e.Dir()))
	}
	os.Exit(code)
}

func TestEmbeddedCreateAndSignDevice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	e, err := NewEmbedded(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	// What is on disk, with which modes.
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", st.Mode().Perm())
	}
	for file, mode := range map[string]os.FileMode{
		FileRootCert: 0o644, FileIntermediateCert: 0o644,
		FileRootKey: 0o600, FileIntermediateKey: 0o600, FilePassword: 0o600, FileConfig: 0o600, FileDB: 0o600,
	} {
		st, err := os.Stat(filepath.Join(dir, file))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", file, st.Mode().Perm(), mode)
		}
	}

	root := e.Root()
	if !root.IsCA || root.CheckSignatureFrom(root) != nil {
		t.Fatal("root is not a self-signed CA")
	}
	if k, ok := root.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("root key %s, want P-256", describeKey(root.PublicKey))
	}

	ctx := context.Background()
	const ttl = 2 * time.Hour
	// A device CSR with an empty subject, one naming the device, one with
	// all the SANs the certificate will carry: all get the same names.
	for _, csrName := range []string{"", "dev-01", "sans"} {
		key := p256(t)
		var csr *x509.CertificateRequest
		switch csrName {
		case "sans":
			csr = makeCSR(t, key, "dev-01", []string{"dev-01"}, "urn:wasmbed:device:dev-01")
		default:
			csr = makeCSR(t, key, csrName, nil)
		}
		chain, err := e.SignDevice(ctx, csr, "dev-01", ttl)
		if err != nil {
			t.Fatalf("CSR CN %q: %v", csrName, err)
		}
		checkDeviceCert(t, chain, root, key, "dev-01", ttl, true)
		if !chain[1].Equal(e.StepAuthority().GetIntermediateCertificate()) {
			t.Error("second certificate is not the intermediate")
		}
	}

	// A name that is not a DNS name gets the URI SAN only.
	key := p256(t)
	chain, err := e.SignDevice(ctx, makeCSR(t, key, "", nil), "board_7", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain[0].DNSNames) != 0 || chain[0].Subject.CommonName != "board_7" {
		t.Errorf("board_7: DNS %v CN %q", chain[0].DNSNames, chain[0].Subject.CommonName)
	}
	if n, err := DeviceName(chain[0]); err != nil || n != "board_7" {
		t.Errorf("DeviceName = %q, %v", n, err)
	}
}

func TestEmbeddedRefusesBadRequests(t *testing.T) {
	e := shared(t)
	ctx := context.Background()
	for name, tc := range badCSRs(t) {
		t.Run(name, func(t *testing.T) {
			_, err := e.SignDevice(ctx, tc.csr, "dev-01", time.Hour)
			wantErr(t, err, "ca: sign device dev-01: ", tc.want)
		})
	}
	good := makeCSR(t, p256(t), "", nil)
	_, err := e.SignDevice(ctx, good, "dev 01", time.Hour)
	wantErr(t, err, "device name")
	_, err = e.SignDevice(ctx, good, "dev-01", 0)
	wantErr(t, err, "lifetime 0s must be positive")
	_, err = e.SignDevice(ctx, good, "dev-01", MaxDeviceTTL+time.Hour)
	wantErr(t, err, "exceeds")
	_, err = e.SignServer(ctx, nil, time.Hour)
	wantErr(t, err, "no hosts")
	_, err = e.SignServer(ctx, []string{"bad host"}, time.Hour)
	wantErr(t, err, "neither an IP address nor a DNS name")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = e.SignDevice(cctx, good, "dev-01", time.Hour)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

// TestEmbeddedStepCAEnforcesNames bypasses the package's own CSR checks to
// show that the step-ca flow itself refuses a CSR asking for another name
// and a token used twice.
func TestEmbeddedStepCAEnforcesNames(t *testing.T) {
	e := shared(t)
	ctx := context.Background()
	csr := makeCSR(t, p256(t), "dev-02", nil)
	_, err := e.sign(ctx, DeviceProvisioner, csr, "dev-01", deviceSANs("dev-01"), time.Hour)
	wantErr(t, err, "common name")

	ott, err := e.minter.mint(DeviceProvisioner, e.signAudience, "dev-01", deviceSANs("dev-01"))
	if err != nil {
		t.Fatal(err)
	}
	actx := provisioner.NewContextWithMethod(authority.NewContext(ctx, e.auth), provisioner.SignMethod)
	if _, err := e.auth.Authorize(actx, ott); err != nil {
		t.Fatal(err)
	}
	_, err = e.auth.Authorize(actx, ott)
	wantErr(t, err, "token already used")
}

func TestEmbeddedMutualTLS(t *testing.T) {
	e := shared(t)
	ctx := context.Background()
	srvCert, err := e.SignServer(ctx, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(srvCert.Certificate) != 2 {
		t.Fatalf("server chain has %d certificates", len(srvCert.Certificate))
	}
	if _, ok := srvCert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("server key %T", srvCert.PrivateKey)
	}
	srvChain := []*x509.Certificate{srvCert.Leaf}
	for _, der := range srvCert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		srvChain = append(srvChain, c)
	}
	verify(t, srvChain, e.Root(), x509.ExtKeyUsageServerAuth, "localhost")

	devKey := p256(t)
	devChain, err := e.SignDevice(ctx, makeCSR(t, devKey, "", nil), "dev-01", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.Root())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		device string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		srv := tls.Server(conn, &tls.Config{
			Certificates: []tls.Certificate{srvCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    roots,
			MinVersion:   tls.VersionTLS13,
		})
		if err := srv.HandshakeContext(ctx); err != nil {
			done <- result{err: err}
			return
		}
		st := srv.ConnectionState()
		name, err := DeviceName(st.VerifiedChains[0][0])
		if err == nil {
			_, err = srv.Write([]byte("hello " + name))
		}
		done <- result{device: name, err: err}
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs:      roots,
		Certificates: []tls.Certificate{deviceTLSCert(devChain, devKey)},
		ServerName:   "127.0.0.1",
		MinVersion:   tls.VersionTLS13,
	})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	defer conn.Close()
	msg, err := io.ReadAll(io.LimitReader(conn, 64))
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	st := conn.ConnectionState()
	if st.Version != tls.VersionTLS13 {
		t.Errorf("TLS version %x", st.Version)
	}
	if len(st.VerifiedChains) == 0 || !st.VerifiedChains[0][len(st.VerifiedChains[0])-1].Equal(e.Root()) {
		t.Error("client did not verify the server up to the root")
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("server: %v", r.err)
	}
	if r.device != "dev-01" || string(msg) != "hello dev-01" {
		t.Errorf("server saw device %q, client read %q", r.device, msg)
	}

	// A client certificate from another CA is refused by the server.
	other, err := NewEmbedded(filepath.Join(t.TempDir(), "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	foreignChain, err := other.SignDevice(ctx, makeCSR(t, devKey, "", nil), "dev-01", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		srv := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots, MinVersion: tls.VersionTLS13})
		done <- result{err: srv.HandshakeContext(ctx)}
	}()
	conn2, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{deviceTLSCert(foreignChain, devKey)}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13,
	})
	if err == nil {
		conn2.Read(make([]byte, 1)) // TLS 1.3: the client learns of the refusal on its first read
		conn2.Close()
	}
	if r := <-done; r.err == nil {
		t.Error("server accepted a device certificate from another CA")
	}
}

func TestEmbeddedRevoke(t *testing.T) {
	e := shared(t)
	ctx := context.Background()
	key := p256(t)
	chain, err := e.SignDevice(ctx, makeCSR(t, key, "", nil), "dev-rev", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sn := chain[0].SerialNumber
	if ok, err := e.IsRevoked(sn); err != nil || ok {
		t.Fatalf("before revoke: %v, %v", ok, err)
	}
	crl, err := e.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if crlLists(t, crl, chain[1], sn) {
		t.Fatal("the CRL lists the serial before its revocation")
	}
	// step-ca renews the certificate before revocation...
	if _, err := e.auth.RenewContext(ctx, chain[0], nil); err != nil {
		t.Fatalf("renew before revoke: %v", err)
	}
	if err := e.Revoke(ctx, sn, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.IsRevoked(sn); err != nil || !ok {
		t.Fatalf("after revoke: %v, %v", ok, err)
	}
	// step-ca's CRL, signed by the intermediate, lists it at once.
	if crl, err = e.CRL(ctx); err != nil {
		t.Fatal(err)
	}
	if !crlLists(t, crl, chain[1], sn) {
		t.Fatal("the CRL does not list the revoked serial")
	}
	// ... and refuses to after it.
	_, err = e.auth.RenewContext(ctx, chain[0], nil)
	wantErr(t, err, "revoked")
	if err := e.Revoke(ctx, sn, "keyCompromise"); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	if ok, _ := e.IsRevoked(new(big.Int).Add(sn, big.NewInt(1))); ok {
		t.Error("another serial is revoked")
	}
	wantErr(t, e.Revoke(ctx, big.NewInt(0), ""), "invalid serial")
	if reasonCode("key compromise") != 1 || reasonCode("cessation-of-operation") != 5 || reasonCode("device deleted") != 0 {
		t.Error("reason codes")
	}
}

func TestEmbeddedRestartKeepsRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ctx := context.Background()
	e1, err := NewEmbedded(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	key := p256(t)
	chain1, err := e1.SignDevice(ctx, makeCSR(t, key, "", nil), "dev-01", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := e1.Revoke(ctx, chain1[0].SerialNumber, "superseded"); err != nil {
		t.Fatal(err)
	}
	root1 := e1.Root()
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	// The directory may move between runs.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	e2, err := NewEmbedded(moved, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if !e2.Root().Equal(root1) {
		t.Fatal("restart changed the root")
	}
	chain2, err := e2.SignDevice(ctx, makeCSR(t, key, "", nil), "dev-01", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	checkDeviceCert(t, chain2, root1, key, "dev-01", time.Hour, true)
	if !chain2[1].Equal(chain1[1]) {
		t.Error("restart changed the intermediate")
	}
	if ok, err := e2.IsRevoked(chain1[0].SerialNumber); err != nil || !ok {
		t.Errorf("revocation lost across restart: %v, %v", ok, err)
	}
}

func TestEmbeddedConcurrentSigning(t *testing.T) {
	e := shared(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	serials := sync.Map{}
	for g := range 8 {
		wg.Go(func() {
			key := p256(t)
			for i := range 8 {
				chain, err := e.SignDevice(ctx, makeCSR(t, key, "", nil), "dev-c", time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if _, dup := serials.LoadOrStore(chain[0].SerialNumber.String(), g*8+i); dup {
					errs <- errors.New("duplicate serial")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkEmbeddedSignDevice measures the gateway's side of an enrollment:
// parse the device's CSR, sign it through step-ca (mint, authorize, sign, store).
func BenchmarkEmbeddedSignDevice(b *testing.B) {
	e := shared(b)
	ctx := context.Background()
	ders := make([][]byte, 32)
	for i := range ders {
		ders[i] = makeCSR(b, p256(b), "", nil).Raw
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			csr, err := x509.ParseCertificateRequest(ders[i%len(ders)])
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := e.SignDevice(ctx, csr, "dev-bench", time.Hour); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enrollments/s")
}
