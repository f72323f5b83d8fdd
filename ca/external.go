package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/smallstep/certificates/api"
	"github.com/smallstep/certificates/authority/provisioner"
	stepca "github.com/smallstep/certificates/ca"
	"github.com/smallstep/certificates/errs"
	"go.step.sm/crypto/pemutil"
	"go.step.sm/crypto/x509util"
)

// ExternalConfig locates a running step-ca server and the JWK provisioner the
// gateway signs with.
type ExternalConfig struct {
	URL          string // https://host:port of the step-ca server
	RootFile     string // PEM root certificate of that CA (trusted for the HTTPS connection)
	Provisioner  string // name of a JWK provisioner
	PasswordFile string // file holding the password that decrypts the provisioner key

	// Timeout bounds each request to the CA (default 15s).
	Timeout time.Duration
	// Log receives the package's log records (default: discarded).
	Log *slog.Logger
}

// External signs through a step-ca server over HTTPS.
type External struct {
	client         *stepca.Client
	root           *x509.Certificate
	provisioner    string
	minter         tokenMinter
	signAudience   string
	revokeAudience string
	crlURL         string
	http           *http.Client // trusts the CA's root; for the CRL
	log            *slog.Logger
}

// NewExternal connects to the step-ca server of cfg: it loads the root, fetches
// the provisioner's encrypted key from the CA and decrypts it with the
// password. The server must be reachable.
func NewExternal(ctx context.Context, cfg ExternalConfig) (*External, error) {
	x, err := newExternal(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ca: external CA %s: %w", cfg.URL, err)
	}
	return x, nil
}

func newExternal(ctx context.Context, cfg ExternalConfig) (*External, error) {
	switch {
	case cfg.URL == "":
		return nil, errors.New("no URL")
	case cfg.RootFile == "":
		return nil, errors.New("no root file")
	case cfg.Provisioner == "":
		return nil, errors.New("no provisioner")
	case cfg.PasswordFile == "":
		return nil, errors.New("no password file")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("URL must be https://host[:port]")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	roots, err := pemutil.ReadCertificateBundle(cfg.RootFile)
	if err != nil {
		return nil, fmt.Errorf("root file: %w", err)
	}
	pw, err := os.ReadFile(cfg.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	password := []byte(strings.TrimRight(string(pw), "\r\n"))

	client, err := stepca.NewClient(cfg.URL, stepca.WithRootFile(cfg.RootFile), stepca.WithTimeout(timeout))
	if err != nil {
		return nil, err
	}
	encryptedKey, err := findEncryptedKey(ctx, client, cfg.Provisioner)
	if err != nil {
		client.CloseIdleConnections()
		return nil, err
	}
	key, err := decryptJWK(encryptedKey, password)
	if err != nil {
		client.CloseIdleConnections()
		return nil, fmt.Errorf("provisioner %s: %w", cfg.Provisioner, err)
	}
	base := strings.TrimRight(cfg.URL, "/")
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	x := &External{
		client:         client,
		root:           roots[0],
		provisioner:    cfg.Provisioner,
		minter:         tokenMinter{key: key, sha: x509util.Fingerprint(roots[0])},
		signAudience:   base + "/1.0/sign",
		revokeAudience: base + "/1.0/revoke",
		crlURL:         base + "/1.0/crl",
		http: &http.Client{Timeout: timeout, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
		log: log,
	}
	log.Info("ca: using external CA", "url", cfg.URL, "provisioner", cfg.Provisioner, "root_fingerprint", x.minter.sha)
	return x, nil
}

// findEncryptedKey returns the encrypted key of the named JWK provisioner
// from the CA's provisioner list.
func findEncryptedKey(ctx context.Context, client *stepca.Client, name string) (string, error) {
	var opts []stepca.ProvisionerOption
	for {
		resp, err := client.ProvisionersWithContext(ctx, opts...)
		if err != nil {
			return "", fmt.Errorf("list provisioners: %w", err)
		}
		for _, p := range resp.Provisioners {
			if p.GetName() != name {
				continue
			}
			jwk, ok := p.(*provisioner.JWK)
			if !ok {
				return "", fmt.Errorf("provisioner %s is %s, want JWK", name, p.GetType())
			}
			if jwk.EncryptedKey == "" {
				return "", fmt.Errorf("provisioner %s has no encrypted key on the CA", name)
			}
			return jwk.EncryptedKey, nil
		}
		if resp.NextCursor == "" || len(resp.Provisioners) == 0 {
			return "", fmt.Errorf("no provisioner %s on the CA", name)
		}
		opts = []stepca.ProvisionerOption{stepca.WithProvisionerCursor(resp.NextCursor)}
	}
}

// Root is the CA root certificate (from RootFile).
func (x *External) Root() *x509.Certificate { return x.root }

func (x *External) sign(ctx context.Context, csr *x509.CertificateRequest, subject string, sans []string, ttl time.Duration) ([]*x509.Certificate, error) {
	ott, err := x.minter.mint(x.provisioner, x.signAudience, subject, sans)
	if err != nil {
		return nil, fmt.Errorf("mint token: %w", err)
	}
	req := &api.SignRequest{CsrPEM: api.CertificateRequest{CertificateRequest: csr}, OTT: ott}
	req.NotAfter.SetDuration(ttl)
	resp, err := x.client.SignWithContext(ctx, req)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for _, c := range resp.CertChainPEM {
		chain = append(chain, c.Certificate)
	}
	if len(chain) == 0 { // servers predating certChain
		chain = []*x509.Certificate{resp.ServerPEM.Certificate, resp.CaPEM.Certificate}
	}
	if err := checkChain(chain); err != nil {
		return nil, err
	}
	return chain, nil
}

// SignDevice signs a device's CSR through the step-ca server (see
// [Authority]). Certificate contents other than the names come from the
// server's provisioner template; step-ca's default template adds server auth
// to client auth.
func (x *External) SignDevice(ctx context.Context, csr *x509.CertificateRequest, name string, ttl time.Duration) ([]*x509.Certificate, error) {
	if err := checkDevice(csr, name, ttl); err != nil {
		return nil, fmt.Errorf("ca: sign device %s: %w", name, err)
	}
	chain, err := x.sign(ctx, csr, name, deviceSANs(name), ttl)
	if err != nil {
		return nil, fmt.Errorf("ca: sign device %s: %w", name, err)
	}
	x.log.Debug("ca: signed device certificate", "device", name, "serial", chain[0].SerialNumber.String(), "not_after", chain[0].NotAfter)
	return chain, nil
}

// SignServer makes a P-256 key and CSR here and has the step-ca server sign
// it (see [Authority]).
func (x *External) SignServer(ctx context.Context, hosts []string, ttl time.Duration) (tls.Certificate, error) {
	if err := checkHosts(hosts, ttl); err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: sign server %v: %w", hosts, err)
	}
	key, csr, err := serverKeyAndCSR(hosts)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: sign server %v: %w", hosts, err)
	}
	chain, err := x.sign(ctx, csr, hosts[0], hosts, ttl)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: sign server %v: %w", hosts, err)
	}
	x.log.Info("ca: signed server certificate", "hosts", hosts, "serial", chain[0].SerialNumber.String(), "not_after", chain[0].NotAfter)
	return tlsCertificate(chain, key), nil
}

// Revoke asks the step-ca server to record a (passive) revocation of serial:
// the server will no longer renew the certificate. Revoking an already
// revoked serial succeeds.
func (x *External) Revoke(ctx context.Context, serial *big.Int, reason string) error {
	if serial == nil || serial.Sign() <= 0 {
		return fmt.Errorf("ca: revoke %v: invalid serial", serial)
	}
	sn := serial.String()
	ott, err := x.minter.mint(x.provisioner, x.revokeAudience, sn, nil)
	if err != nil {
		return fmt.Errorf("ca: revoke %s: mint token: %w", sn, err)
	}
	if _, err := x.client.RevokeWithContext(ctx, &api.RevokeRequest{
		Serial:     sn,
		OTT:        ott,
		ReasonCode: reasonCode(reason),
		Reason:     reason,
		Passive:    true,
	}, nil); err != nil {
		// Like Embedded, revoking twice succeeds. step-ca answers 400 with
		// this message (and no error code to match on).
		var apiErr *errs.Error
		if errors.As(err, &apiErr) && apiErr.StatusCode() == http.StatusBadRequest && strings.Contains(apiErr.Error(), "is already revoked") {
			return nil
		}
		return fmt.Errorf("ca: revoke %s: %w", sn, err)
	}
	x.log.Info("ca: revoked certificate", "serial", sn, "reason", reason)
	return nil
}

// CRL fetches the step-ca server's revocation list (GET /1.0/crl, DER).
// The server must have its CRL enabled ("crl": {"enabled": true} in its
// ca.json); it lists what was revoked through it, which includes every
// revocation the gateway made with Revoke.
func (x *External) CRL(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, x.crlURL, nil)
	if err != nil {
		return nil, fmt.Errorf("ca: crl: %w", err)
	}
	resp, err := x.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ca: crl: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCRLSize+1))
	if err != nil {
		return nil, fmt.Errorf("ca: crl: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ca: crl: %s answered %s: %s (is the CRL enabled in its ca.json?)", x.crlURL, resp.Status, strings.TrimSpace(string(body)))
	}
	if len(body) > maxCRLSize {
		return nil, fmt.Errorf("ca: crl: %s sent more than %d bytes", x.crlURL, maxCRLSize)
	}
	if _, err := x509.ParseRevocationList(body); err != nil {
		return nil, fmt.Errorf("ca: crl: %s: %w", x.crlURL, err)
	}
	return body, nil
}

// maxCRLSize bounds the CRL read from an external CA.
const maxCRLSize = 16 << 20

// Close releases idle connections to the CA.
func (x *External) Close() error {
	x.client.CloseIdleConnections()
	x.http.CloseIdleConnections()
	return nil
}
