package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smallstep/certificates/authority/config"
	stepca "github.com/smallstep/certificates/ca"

	"github.com/smallstep/certificates/errs"
	"github.com/wasmbed/wasmbed/ca/stepcatest"
)

func TestExternal(t *testing.T) {
	s := stepcatest.Start(t)
	ctx := context.Background()
	x, err := NewExternal(ctx, ExternalConfig{URL: s.URL, RootFile: s.Root, Provisioner: "admin", PasswordFile: s.PasswordFile, Log: testLogger(t)})
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
		c, err := stepca.NewClient(s.URL, stepca.WithRootFile(s.Root))
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
	crl, err := x.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if crlLists(t, crl, chain[1], chain[0].SerialNumber) {
		t.Fatal("the CRL lists the serial before its revocation")
	}
	if err := x.Revoke(ctx, chain[0].SerialNumber, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	// The server's own CRL lists it at once (generateOnRevoke).
	if crl, err = x.CRL(ctx); err != nil {
		t.Fatal(err)
	}
	if !crlLists(t, crl, chain[1], chain[0].SerialNumber) {
		t.Fatal("the external CA's CRL does not list the revoked serial")
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
	s := stepcatest.Start(t)
	ctx := context.Background()
	bad := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(bad, []byte("not the password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  ExternalConfig
		want string
	}{
		{ExternalConfig{URL: s.URL, RootFile: s.Root, Provisioner: "admin", PasswordFile: bad}, "decrypt provisioner key"},
		{ExternalConfig{URL: s.URL, RootFile: s.Root, Provisioner: "nobody", PasswordFile: s.PasswordFile}, "no provisioner nobody"},
		{ExternalConfig{URL: "http://" + s.URL[len("https://"):], RootFile: s.Root, Provisioner: "admin", PasswordFile: s.PasswordFile}, "URL must be https"},
		{ExternalConfig{URL: s.URL, RootFile: s.Root + ".missing", Provisioner: "admin", PasswordFile: s.PasswordFile}, "root file"},
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
	_, err := NewExternal(ctx, ExternalConfig{URL: s.URL, RootFile: otherRoot, Provisioner: "admin", PasswordFile: s.PasswordFile})
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
	addr := stepcatest.FreeAddr(t)
	cfg.Address = addr
	served := filepath.Join(dir, "served.json")
	if err := cfg.Save(served); err != nil {
		t.Fatal(err)
	}
	url := "https://" + addr
	stepcatest.Run(t, served, filepath.Join(dir, FilePassword), filepath.Join(dir, FileRootCert), url, filepath.Join(t.TempDir(), "step"))

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
