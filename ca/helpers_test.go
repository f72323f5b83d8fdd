package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func p256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// makeCSR is what a device does: a CSR for its own key, subject cn (may be
// empty), optional DNS and URI SANs.
func makeCSR(t testing.TB, key crypto.Signer, cn string, dns []string, uris ...string) *x509.CertificateRequest {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// badCSRs are CSRs SignDevice must refuse whatever the authority, with a
// fragment of the expected error.
func badCSRs(t testing.TB) map[string]struct {
	csr  *x509.CertificateRequest
	want string
} {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A CSR whose signature does not match its content: parse it, then
	// corrupt the signature (parsing does not check it, CheckSignature does).
	tampered := makeCSR(t, p256(t), "dev-01", nil)
	der := slices.Clone(tampered.Raw)
	der[len(der)-3] ^= 0xff
	tampered, err = x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]struct {
		csr  *x509.CertificateRequest
		want string
	}{
		"rsa":        {makeCSR(t, rsaKey, "", nil), "device key must be ECDSA P-256, CSR has RSA-2048"},
		"p384":       {makeCSR(t, p384, "", nil), "device key must be ECDSA P-256, CSR has ECDSA P-384"},
		"ed25519":    {makeCSR(t, edKey, "", nil), "device key must be ECDSA P-256, CSR has Ed25519"},
		"bad-sig":    {tampered, "CSR signature does not verify"},
		"other-cn":   {makeCSR(t, p256(t), "dev-02", nil), `CSR asks for common name "dev-02"`},
		"other-dns":  {makeCSR(t, p256(t), "", []string{"gateway.example"}), "CSR asks for DNS names"},
		"other-uri":  {makeCSR(t, p256(t), "", nil, "urn:wasmbed:device:dev-02"), "CSR asks for URIs"},
		"nil":        {nil, "no CSR"},
		"dns-subset": {makeCSR(t, p256(t), "", []string{"dev-01", "dev-02"}), "CSR asks for DNS names"},
	}
}

// checkDeviceCert checks a device chain against root: names, key usage,
// lifetime (ttl plus a minute of backdating) and the chain itself.
func checkDeviceCert(t *testing.T, chain []*x509.Certificate, root *x509.Certificate, key *ecdsa.PrivateKey, name string, ttl time.Duration, onlyClientAuth bool) {
	t.Helper()
	if len(chain) != 2 {
		t.Fatalf("chain has %d certificates, want leaf and intermediate", len(chain))
	}
	leaf := chain[0]
	if leaf.Subject.CommonName != name {
		t.Errorf("CN = %q, want %q", leaf.Subject.CommonName, name)
	}
	if got, err := DeviceName(leaf); err != nil || got != name {
		t.Errorf("DeviceName = %q, %v; want %q", got, err, name)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "urn:wasmbed:device:"+name {
		t.Errorf("URIs = %v", leaf.URIs)
	}
	if !slices.Equal(leaf.DNSNames, []string{name}) || len(leaf.IPAddresses) != 0 || len(leaf.EmailAddresses) != 0 {
		t.Errorf("SANs: DNS %v IP %v email %v; want DNS [%s] only", leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses, name)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("ExtKeyUsage %v lacks client auth", leaf.ExtKeyUsage)
	}
	if onlyClientAuth && !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage %v, want client auth only", leaf.ExtKeyUsage)
	}
	if leaf.IsCA {
		t.Error("leaf is a CA")
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(key.Public()) {
		t.Error("leaf does not certify the CSR's key")
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < ttl+time.Minute-2*time.Second || life > ttl+time.Minute+2*time.Second {
		t.Errorf("lifetime %v, want %v + 1m backdate", life, ttl)
	}
	if skew := time.Until(leaf.NotBefore); skew > -time.Minute+5*time.Second || skew < -time.Minute-5*time.Second {
		t.Errorf("NotBefore %v from now, want about -1m", skew)
	}
	verify(t, chain, root, x509.ExtKeyUsageClientAuth, "")
}

func verify(t *testing.T, chain []*x509.Certificate, root *x509.Certificate, eku x509.ExtKeyUsage, host string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{eku}, DNSName: host})
	if err != nil {
		t.Fatalf("chain does not verify against the root: %v", err)
	}
	if got := chains[0][len(chains[0])-1]; !got.Equal(root) {
		t.Fatal("chain ends at another root")
	}
}

func deviceTLSCert(chain []*x509.Certificate, key crypto.Signer) tls.Certificate {
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

func wantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not contain %q", err, f)
		}
	}
}

// crlLists parses a DER CRL, checks its signature by issuer, and reports
// whether it lists serial.
func crlLists(t *testing.T, der []byte, issuer *x509.Certificate, serial *big.Int) bool {
	t.Helper()
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("parse CRL: %v", err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(serial) == 0 {
			return true
		}
	}
	return false
}
