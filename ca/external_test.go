package ca

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smallstep/certificates/authority/config"
	stepca "github.com/smallstep/certificates/ca"
	"github.com/smallstep/certificates/errs"
	"go.step.sm/crypto/pemutil"
)

// stepBin finds a binary built by `make setup`: in $WASMBED_BIN, else in the
// repository's bin directory (../bin from this package). A missing binary
// fails the test: skipping would hide that the external mode went untested.
func stepBin(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("WASMBED_BIN")
	if dir == "" {
		dir = filepath.Join("..", "bin")
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("%s not found at %s (WASMBED_BIN=%q): run make setup", name, path, os.Getenv("WASMBED_BIN"))
	}
	return path
}

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type stepCA struct {
	url, root, password string
}

// startStepCA initialises a CA with `step ca init` in a temporary STEPPATH
// and runs step-ca on a free port until the test ends.
func startStepCA(t *testing.T) stepCA {
	t.Helper()
	step := stepBin(t, "step")
	dir := t.TempDir()
	steppath := filepath.Join(dir, "step")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("external-test-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	initCmd := exec.Command(step, "ca", "init", "--name", "wasmbed-external-test", "--dns", "127.0.0.1",
		"--address", addr, "--provisioner", "admin", "--password-file", pw, "--deployment-type", "standalone")
	initCmd.Env = append(os.Environ(), "STEPPATH="+steppath, "HOME="+dir)
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("step ca init: %v\n%s", err, out)
	}
	root := filepath.Join(steppath, "certs", "root_ca.crt")
	runStepCA(t, filepath.Join(steppath, "config", "ca.json"), pw, root, "https://"+addr, steppath)
	return stepCA{url: "https://" + addr, root: root, password: pw}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runStepCA runs step-ca on config until the test ends and waits until it
// answers /health at url.
func runStepCA(t *testing.T, config, pw, root, url, steppath string) {
	t.Helper()
	var out lockedBuffer
	srv := exec.Command(stepBin(t, "step-ca"), config, "--password-file", pw)
	srv.Env = append(os.Environ(), "STEPPATH="+steppath, "HOME="+filepath.Dir(steppath))
	srv.Stdout, srv.Stderr = &out, &out
	if err := srv.Start(); err != nil {
		t.Fatalf("start step-ca: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("step-ca output:\n%s", out.String())
		}
	})

	rootCert, err := pemutil.ReadCertificate(root)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(rootCert)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("step-ca exited: %v\n%s", err, out.String())
		default:
		}
		resp, err := hc.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("step-ca not healthy at %s after 15s: %v\n%s", url, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExternal(t *testing.T) {
	s := startStepCA(t)
	ctx := context.Background()
	x, err := NewExternal(ctx, ExternalConfig{URL: s.url, RootFile: s.root, Provisioner: "admin", PasswordFile: s.password, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	root := x.Root()
	if !root.IsCA {
		t.Fatal("root is not a CA")
	}

	// Device certificate.
	const ttl = 2 * time.Hour
	key := p256(t)
	chain, err := x.SignDevice(ctx, makeCSR(t, key, "", nil), "dev-01", ttl)
	if err != nil {
		t.Fatal(err)
	}
	// The server's default template adds server auth to client auth.
	checkDeviceCert(t, chain, root, key, "dev-01", ttl, false)

	// The package's checks hold in this mode too.
	for name, tc := range badCSRs(t) {
		_, err := x.SignDevice(ctx, tc.csr, "dev-01", time.Hour)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		wantErr(t, err, "ca: sign device dev-01: ", tc.want)
	}
	// And the server's own limits apply (24h for a default JWK provisioner).
	_, err = x.SignDevice(ctx, makeCSR(t, p256(t), "", nil), "dev-01", 48*time.Hour)
	wantErr(t, err, "ca: sign device dev-01: ")
	t.Logf("48h refused by step-ca: %v", err)

	// Server certificate.
	srv, err := x.SignServer(ctx, []string{"127.0.0.1", "gateway.local"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvChain := []*x509.Certificate{srv.Leaf}
	for _, der := range srv.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		srvChain = append(srvChain, c)
	}
	if len(srvChain) != 2 {
		t.Fatalf("server chain has %d certificates", len(srvChain))
	}
	verify(t, srvChain, root, x509.ExtKeyUsageServerAuth, "gateway.local")
	verify(t, srvChain, root, x509.ExtKeyUsageServerAuth, "127.0.0.1")

	// Revocation: the CA renews the device certificate over mTLS before it
	// is revoked and refuses after.
	renew := func() error {
		c, err := stepca.NewClient(s.url, stepca.WithRootFile(s.root))
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AddCert(root)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{deviceTLSCert(chain, key)}}}
		defer tr.CloseIdleConnections()
		_, err = c.RenewWithContext(ctx, tr)
		return err
	}
	if err := renew(); err != nil {
		t.Fatalf("renew before revoke: %v", err)
	}
	if err := x.Revoke(ctx, chain[0].SerialNumber, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	// step-ca logs "certificate has been revoked"; its client only sees 401.
	var apiErr *errs.Error
	if err := renew(); !errors.As(err, &apiErr) || apiErr.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("renew after revoke: %v, want 401 from step-ca", err)
	}
	if err := x.Revoke(ctx, chain[0].SerialNumber, "keyCompromise"); err != nil {
		t.Errorf("second revoke: %v", err)
	}
}

func TestExternalConfigErrors(t *testing.T) {
	s := startStepCA(t)
	ctx := context.Background()
	bad := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(bad, []byte("not the password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  ExternalConfig
		want string
	}{
		{ExternalConfig{URL: s.url, RootFile: s.root, Provisioner: "admin", PasswordFile: bad}, "decrypt provisioner key"},
		{ExternalConfig{URL: s.url, RootFile: s.root, Provisioner: "nobody", PasswordFile: s.password}, "no provisioner nobody"},
		{ExternalConfig{URL: "http://" + s.url[len("https://"):], RootFile: s.root, Provisioner: "admin", PasswordFile: s.password}, "URL must be https"},
		{ExternalConfig{URL: s.url, RootFile: s.root + ".missing", Provisioner: "admin", PasswordFile: s.password}, "root file"},
	} {
		_, err := NewExternal(ctx, tc.cfg)
		wantErr(t, err, fmt.Sprintf("ca: external CA %s: ", tc.cfg.URL), tc.want)
	}
	// A root that is not the server's: the TLS connection is refused.
	other := shared(t)
	otherRoot := filepath.Join(t.TempDir(), "other.crt")
	if err := writeCert(otherRoot, other.Root()); err != nil {
		t.Fatal(err)
	}
	_, err := NewExternal(ctx, ExternalConfig{URL: s.url, RootFile: otherRoot, Provisioner: "admin", PasswordFile: s.password})
	wantErr(t, err, "certificate signed by unknown authority")
}

// TestEmbeddedDirServedByStepCA checks the package doc's claim that an
// embedded CA directory is a complete step-ca configuration: the step-ca
// server runs on it, and External signing through its device provisioner
// gives the same certificates as Embedded (client auth only).
func TestEmbeddedDirServedByStepCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	e, err := NewEmbedded(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := e.Root()
	if err := e.Close(); err != nil { // releases the database lock
		t.Fatal(err)
	}
	// Serve it on a free port instead of the configured one.
	cfg, err := config.LoadConfiguration(filepath.Join(dir, FileConfig))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg.Address = addr
	served := filepath.Join(dir, "served.json")
	if err := cfg.Save(served); err != nil {
		t.Fatal(err)
	}
	url := "https://" + addr
	runStepCA(t, served, filepath.Join(dir, FilePassword), filepath.Join(dir, FileRootCert), url, filepath.Join(t.TempDir(), "step"))

	ctx := context.Background()
	x, err := NewExternal(ctx, ExternalConfig{URL: url, RootFile: filepath.Join(dir, FileRootCert), Provisioner: DeviceProvisioner, PasswordFile: filepath.Join(dir, FilePassword)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if !x.Root().Equal(root) {
		t.Fatal("step-ca serves another root")
	}
	key := p256(t)
	chain, err := x.SignDevice(ctx, makeCSR(t, key, "", nil), "dev-01", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	checkDeviceCert(t, chain, root, key, "dev-01", time.Hour, true)
}
