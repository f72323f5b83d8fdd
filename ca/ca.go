package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/smallstep/cli-utils/token"
	"github.com/smallstep/cli-utils/token/provision"
	"go.step.sm/crypto/jose"
	"go.step.sm/crypto/randutil"
	"go.step.sm/crypto/x509util"

	"github.com/wasmbed/wasmbed/protocol"
)

// Authority signs device and gateway certificates.
type Authority interface {
	// Root is the CA root certificate that devices and API clients trust.
	Root() *x509.Certificate
	// SignDevice signs a device's CSR. The certificate's subject CN and a URI/DNS SAN carry the
	// device name given here (never what the CSR asks for); key must be ECDSA P-256 (refuse
	// others with a clear error); ExtKeyUsage client auth; lifetime ttl (backdated a minute for
	// clock skew). It checks the CSR signature. Returns the chain leaf first (leaf, intermediate).
	SignDevice(ctx context.Context, csr *x509.CertificateRequest, name string, ttl time.Duration) ([]*x509.Certificate, error)
	// SignServer issues a TLS server certificate (new P-256 key made here) for hosts (DNS names or IPs),
	// chain included in tls.Certificate.Certificate, for the gateway's device listener and API.
	SignServer(ctx context.Context, hosts []string, ttl time.Duration) (tls.Certificate, error)
	// Revoke records a revocation with the CA, best effort (the gateway also refuses revoked serials itself).
	Revoke(ctx context.Context, serial *big.Int, reason string) error
	// CRL is the CA's current certificate revocation list, DER, signed by
	// the CA (step-ca's own CRL: every serial revoked with Revoke that has
	// not expired).
	CRL(ctx context.Context) ([]byte, error)
	Close() error
}

var (
	_ Authority = (*Embedded)(nil)
	_ Authority = (*External)(nil)
)

// deviceURIPrefix starts the URI SAN of every device certificate.
const deviceURIPrefix = "urn:wasmbed:device:"

// tokenLifetime is how long a one-time token minted here is valid. Tokens are
// used immediately after minting; the slack only covers a slow CA round trip.
const tokenLifetime = 5 * time.Minute

// DeviceURI is the URI SAN that names device name in its certificate:
// urn:wasmbed:device:NAME.
func DeviceURI(name string) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: "wasmbed:device:" + name}
}

// DeviceName returns the device name carried by a device certificate issued
// by this package: the subject common name, which must also appear as the
// certificate's urn:wasmbed:device: URI SAN. It does not verify the chain;
// call it on a certificate the TLS stack has already verified.
func DeviceName(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", errors.New("ca: no certificate")
	}
	name := cert.Subject.CommonName
	if err := protocol.ValidName(name); err != nil {
		return "", fmt.Errorf("ca: certificate common name: %w", err)
	}
	want := DeviceURI(name).String()
	for _, u := range cert.URIs {
		if u.String() == want {
			return name, nil
		}
	}
	return "", fmt.Errorf("ca: certificate for %q lacks the URI SAN %s", name, want)
}

// deviceSANs are the SANs of device name's certificate: the URI, and the name
// as a DNS name when it is one.
func deviceSANs(name string) []string {
	sans := []string{DeviceURI(name).String()}
	if isDNSName(name) {
		sans = append(sans, name)
	}
	return sans
}

// isDNSName reports whether s is a plain DNS host name (labels of letters,
// digits and inner hyphens) and not an IP address.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 || net.ParseIP(s) != nil {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// describeKey names a public key type for error messages.
func describeKey(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == nil {
			return "ECDSA (unknown curve)"
		}
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return "no key"
	default:
		return fmt.Sprintf("%T", pub)
	}
}

// checkDevice validates the arguments of SignDevice before a token is spent
// on them. step-ca applies the same name rules; checking here gives clear
// errors and keeps both implementations identical.
func checkDevice(csr *x509.CertificateRequest, name string, ttl time.Duration) error {
	if err := protocol.ValidName(name); err != nil {
		return fmt.Errorf("device name: %w", err)
	}
	if ttl <= 0 {
		return fmt.Errorf("lifetime %v must be positive", ttl)
	}
	return CheckDeviceCSR(csr, name)
}

// CheckDeviceCSR is the rule a device's CSR must follow for SignDevice to
// sign it for name (docs/protocol.md, enroll): an ECDSA P-256 key, a valid
// signature, a subject common name that is empty or name, and SANs that are
// empty or exactly the ones the certificate carries (DNS name and URI
// urn:wasmbed:device:name). The certificate's subject and SANs are set
// here from name, whatever the CSR asks.
func CheckDeviceCSR(csr *x509.CertificateRequest, name string) error {
	if csr == nil {
		return errors.New("no CSR")
	}
	if k, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		return fmt.Errorf("device key must be ECDSA P-256, CSR has %s", describeKey(csr.PublicKey))
	}
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("CSR signature does not verify: %w", err)
	}
	if cn := csr.Subject.CommonName; cn != "" && cn != name {
		return fmt.Errorf("CSR asks for common name %q: the certificate names the device %q (leave the CSR subject empty or use the device name)", cn, name)
	}
	sans := deviceSANs(name)
	var dns, uris []string
	for _, s := range sans {
		if strings.HasPrefix(s, deviceURIPrefix) {
			uris = append(uris, s)
		} else {
			dns = append(dns, s)
		}
	}
	if len(csr.DNSNames) > 0 && !sameSet(csr.DNSNames, dns) {
		return fmt.Errorf("CSR asks for DNS names %q: the certificate carries %q (leave CSR SANs empty)", csr.DNSNames, dns)
	}
	if len(csr.URIs) > 0 {
		got := make([]string, len(csr.URIs))
		for i, u := range csr.URIs {
			got[i] = u.String()
		}
		if !sameSet(got, uris) {
			return fmt.Errorf("CSR asks for URIs %q: the certificate carries %q (leave CSR SANs empty)", got, uris)
		}
	}
	if len(csr.IPAddresses) > 0 || len(csr.EmailAddresses) > 0 {
		return fmt.Errorf("CSR asks for IP or email SANs (%v %q): device certificates carry only the device name", csr.IPAddresses, csr.EmailAddresses)
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// checkHosts validates SignServer's host list.
func checkHosts(hosts []string, ttl time.Duration) error {
	if len(hosts) == 0 {
		return errors.New("no hosts")
	}
	if ttl <= 0 {
		return fmt.Errorf("lifetime %v must be positive", ttl)
	}
	for _, h := range hosts {
		if net.ParseIP(h) == nil && !isDNSName(h) {
			return fmt.Errorf("host %q is neither an IP address nor a DNS name", h)
		}
	}
	return nil
}

// serverKeyAndCSR makes the P-256 key and CSR of a server certificate.
func serverKeyAndCSR(hosts []string) (*ecdsa.PrivateKey, *x509.CertificateRequest, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	csr, err := x509util.CreateCertificateRequest(hosts[0], hosts, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CSR: %w", err)
	}
	return key, csr, nil
}

// tlsCertificate assembles a tls.Certificate from a signed chain.
func tlsCertificate(chain []*x509.Certificate, key *ecdsa.PrivateKey) tls.Certificate {
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, crt := range chain {
		c.Certificate = append(c.Certificate, crt.Raw)
	}
	return c
}

// checkChain makes sure a CA answer is a usable leaf-first chain.
func checkChain(chain []*x509.Certificate) error {
	if len(chain) < 2 {
		return fmt.Errorf("CA returned %d certificates, want leaf and intermediate", len(chain))
	}
	for i, c := range chain {
		if c == nil {
			return fmt.Errorf("CA returned a nil certificate at %d", i)
		}
	}
	return nil
}

// reasonCodes maps RFC 5280 CRLReason names to their codes.
var reasonCodes = map[string]int{
	"unspecified":          0,
	"keycompromise":        1,
	"cacompromise":         2,
	"affiliationchanged":   3,
	"superseded":           4,
	"cessationofoperation": 5,
	"certificatehold":      6,
	"removefromcrl":        8,
	"privilegewithdrawn":   9,
	"aacompromise":         10,
}

// reasonCode is the RFC 5280 code for reason when reason is one of the
// CRLReason names (case and separators ignored), else 0 (unspecified).
func reasonCode(reason string) int {
	k := strings.ToLower(strings.NewReplacer(" ", "", "-", "", "_", "").Replace(reason))
	return reasonCodes[k]
}

// tokenMinter mints step-ca one-time tokens signed with a JWK provisioner key,
// the same tokens `step ca token` makes.
type tokenMinter struct {
	key *jose.JSONWebKey // private, decrypted
	sha string           // hex SHA-256 of the root, optional
}

func (m *tokenMinter) mint(issuer, audience, subject string, sans []string) (string, error) {
	id, err := randutil.Hex(64)
	if err != nil {
		return "", err
	}
	now := time.Now()
	opts := []token.Options{
		token.WithJWTID(id),
		token.WithKid(m.key.KeyID),
		token.WithIssuer(issuer),
		token.WithAudience(audience),
		token.WithValidity(now, now.Add(tokenLifetime)),
	}
	if sans != nil {
		opts = append(opts, token.WithSANS(sans))
	}
	if m.sha != "" {
		opts = append(opts, token.WithSHA(m.sha))
	}
	tok, err := provision.New(subject, opts...)
	if err != nil {
		return "", err
	}
	return tok.SignedString(m.key.Algorithm, m.key.Key)
}

// decryptJWK decrypts a provisioner's encryptedKey with its password.
func decryptJWK(encryptedKey string, password []byte) (*jose.JSONWebKey, error) {
	enc, err := jose.ParseEncrypted(encryptedKey)
	if err != nil {
		return nil, fmt.Errorf("parse encrypted provisioner key: %w", err)
	}
	data, err := enc.Decrypt(password)
	if err != nil {
		return nil, fmt.Errorf("decrypt provisioner key (wrong password?): %w", err)
	}
	key := new(jose.JSONWebKey)
	if err := key.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("parse provisioner key: %w", err)
	}
	if key.IsPublic() {
		return nil, errors.New("provisioner key is not a private key")
	}
	return key, nil
}
