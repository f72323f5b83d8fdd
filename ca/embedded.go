package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"
	"go.step.sm/crypto/jose"
	"go.step.sm/crypto/pemutil"
	"go.step.sm/crypto/x509util"
)

// Names of the embedded authority's JWK provisioners. Both use the same key.
const (
	// DeviceProvisioner signs device certificates (client auth only).
	DeviceProvisioner = "wasmbed-device"
	// ServerProvisioner signs the gateway's TLS server certificates.
	ServerProvisioner = "wasmbed-server"
)

// Lifetime limits of the embedded authority's provisioners. A step-ca
// external authority applies its own provisioner's limits instead (24h by
// default).
const (
	MaxDeviceTTL = 30 * 24 * time.Hour
	MaxServerTTL = 365 * 24 * time.Hour
)

// Files the embedded authority keeps in its directory.
const (
	FileRootCert         = "root_ca.crt"         // PEM, the root devices trust
	FileRootKey          = "root_ca_key"         // PEM, encrypted with the password
	FileIntermediateCert = "intermediate_ca.crt" // PEM
	FileIntermediateKey  = "intermediate_ca_key" // PEM, encrypted with the password
	FilePassword         = "password"            // random; decrypts the keys above and the provisioner key
	FileConfig           = "ca.json"             // step-ca configuration, provisioners with their encrypted key
	FileDB               = "db.bolt"             // bbolt: issued certificates, used tokens, revocations
)

// deviceTemplate is step-ca's default leaf template restricted to client
// authentication (like its DefaultAttestedLeafTemplate). The subject and SANs
// come from the token.
const deviceTemplate = `{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
	"keyUsage": ["digitalSignature"],
	"extKeyUsage": ["clientAuth"]
}`

// crlLifetime is how long a CRL of the embedded authority is valid
// (nextUpdate); step-ca makes a new one at two thirds of it, and on every
// revocation.
const crlLifetime = 24 * time.Hour

// The embedded CA serves no HTTP; these only shape token audiences (and the
// address a step-ca server would use if an operator served the directory).
const (
	embeddedAddress = "127.0.0.1:9443"
)

var embeddedDNSNames = []string{"localhost", "127.0.0.1", "::1"}

// Embedded is a step-ca authority running in the gateway process.
type Embedded struct {
	dir    string
	log    *slog.Logger
	auth   *authority.Authority
	root   *x509.Certificate
	minter tokenMinter

	signAudience   string
	revokeAudience string

	// authMu serializes token authorization. step-ca v0.30.2's
	// provisioner.Audiences.All appends to the shared Sign slice, so two
	// concurrent Authorize calls write the same backing array (a data race
	// the race detector reports; the step-ca server has it too). The token
	// use is recorded in a bbolt transaction, which serializes anyway.
	authMu sync.Mutex
	// dbMu: signing and revoking (the writes to the CA's database) share
	// it; a backup holds it alone, so that it copies a database between
	// two of them (backup.go).
	dbMu sync.RWMutex

	closeOnce sync.Once
	closeErr  error
}

// NewEmbedded opens the embedded authority kept in dir, creating it on first
// start (see the File* constants for what is stored there). dir is made with
// mode 0700; secrets are written 0600. The database is locked while the
// authority is open, so one directory serves one process at a time.
func NewEmbedded(dir string, log *slog.Logger) (*Embedded, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("ca: embedded %s: %w", dir, err)
	}
	dir = abs
	if _, err := os.Stat(filepath.Join(dir, FileConfig)); errors.Is(err, fs.ErrNotExist) {
		if err := create(dir, log); err != nil {
			return nil, fmt.Errorf("ca: create embedded CA in %s: %w", dir, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("ca: embedded %s: %w", dir, err)
	}
	e, err := open(dir, log)
	if err != nil {
		return nil, fmt.Errorf("ca: open embedded CA in %s: %w", dir, err)
	}
	return e, nil
}

// create writes a new CA into dir: password, root, intermediate, provisioner
// key and configuration, the configuration last (its presence marks a
// complete CA). The database is created when the authority first opens it.
func create(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, FileRootCert)); err == nil {
		// A previous creation stopped before writing the configuration; its
		// root was never in use by a running gateway.
		log.Warn("ca: replacing an incomplete CA (no configuration)", "dir", dir)
	}

	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	password := []byte(base64.RawURLEncoding.EncodeToString(pw))
	if err := writeFile(filepath.Join(dir, FilePassword), append(password, '\n'), 0o600); err != nil {
		return err
	}

	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	root, err := caCertificate("Wasmbed Root CA", x509util.DefaultRootTemplate, now, 10*365*24*time.Hour, rootKey, nil, rootKey)
	if err != nil {
		return fmt.Errorf("root certificate: %w", err)
	}
	intKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	intermediate, err := caCertificate("Wasmbed Intermediate CA", x509util.DefaultIntermediateTemplate, now, 10*365*24*time.Hour, intKey, root, rootKey)
	if err != nil {
		return fmt.Errorf("intermediate certificate: %w", err)
	}
	if err := writeKey(filepath.Join(dir, FileRootKey), rootKey, password); err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, FileIntermediateKey), intKey, password); err != nil {
		return err
	}
	if err := writeCert(filepath.Join(dir, FileRootCert), root); err != nil {
		return err
	}
	if err := writeCert(filepath.Join(dir, FileIntermediateCert), intermediate); err != nil {
		return err
	}

	pub, jwe, err := jose.GenerateDefaultKeyPair(password)
	if err != nil {
		return fmt.Errorf("provisioner key: %w", err)
	}
	encryptedKey, err := jwe.CompactSerialize()
	if err != nil {
		return fmt.Errorf("provisioner key: %w", err)
	}
	dur := func(d time.Duration) *provisioner.Duration { return &provisioner.Duration{Duration: d} }
	devices := &provisioner.JWK{
		Type:         "JWK",
		Name:         DeviceProvisioner,
		Key:          pub,
		EncryptedKey: encryptedKey,
		Claims:       &provisioner.Claims{MinTLSDur: dur(time.Minute), MaxTLSDur: dur(MaxDeviceTTL), DefaultTLSDur: dur(24 * time.Hour)},
		Options:      &provisioner.Options{X509: &provisioner.X509Options{Template: deviceTemplate}},
	}
	servers := &provisioner.JWK{
		Type:         "JWK",
		Name:         ServerProvisioner,
		Key:          pub,
		EncryptedKey: encryptedKey,
		Claims:       &provisioner.Claims{MinTLSDur: dur(time.Minute), MaxTLSDur: dur(MaxServerTTL), DefaultTLSDur: dur(24 * time.Hour)},
	}
	tlsOpts := config.DefaultTLSOptions
	cfg := &config.Config{
		Root:             []string{filepath.Join(dir, FileRootCert)},
		IntermediateCert: filepath.Join(dir, FileIntermediateCert),
		IntermediateKey:  filepath.Join(dir, FileIntermediateKey),
		Address:          embeddedAddress,
		DNSNames:         embeddedDNSNames,
		DB:               &db.Config{Type: "bbolt", DataSource: filepath.Join(dir, FileDB)},
		AuthorityConfig: &config.AuthConfig{
			DeploymentType: "standalone",
			Provisioners:   provisioner.List{devices, servers},
			Backdate:       dur(time.Minute),
		},
		TLS: &tlsOpts,
	}
	tmp := filepath.Join(dir, FileConfig+".tmp")
	if err := cfg.Save(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, FileConfig)); err != nil {
		return err
	}
	log.Info("created CA", "dir", dir,
		"root", filepath.Join(dir, FileRootCert),
		"config", filepath.Join(dir, FileConfig),
		"db", filepath.Join(dir, FileDB),
		"root_fingerprint", x509util.Fingerprint(root))
	return nil
}

// caCertificate makes a CA certificate from one of x509util's templates,
// self-signed when parent is nil.
func caCertificate(cn, template string, now time.Time, life time.Duration, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, error) {
	cr, err := x509util.CreateCertificateRequest(cn, nil, key)
	if err != nil {
		return nil, err
	}
	c, err := x509util.NewCertificate(cr, x509util.WithTemplate(template, x509util.CreateTemplateData(cn, nil)))
	if err != nil {
		return nil, err
	}
	tmpl := c.GetCertificate()
	tmpl.NotBefore = now.Add(-time.Minute)
	tmpl.NotAfter = now.Add(life)
	if parent == nil {
		parent = tmpl
	}
	return x509util.CreateCertificate(tmpl, parent, key.Public(), parentKey)
}

func writeFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil { // an existing file keeps its mode otherwise
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeKey(path string, key crypto.PrivateKey, password []byte) error {
	block, err := pemutil.Serialize(key, pemutil.WithPassword(password), pemutil.WithPKCS8(true))
	if err != nil {
		return fmt.Errorf("encrypt %s: %w", filepath.Base(path), err)
	}
	return writeFile(path, pem.EncodeToMemory(block), 0o600)
}

func writeCert(path string, c *x509.Certificate) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644)
}

// open loads the CA in dir and starts step-ca's authority on it.
func open(dir string, log *slog.Logger) (*Embedded, error) {
	pw, err := os.ReadFile(filepath.Join(dir, FilePassword))
	if err != nil {
		return nil, err
	}
	password := []byte(strings.TrimSpace(string(pw)))
	cfg, err := config.LoadConfiguration(filepath.Join(dir, FileConfig))
	if err != nil {
		return nil, err
	}
	// The files live in dir wherever it has moved since creation.
	cfg.Root = []string{filepath.Join(dir, FileRootCert)}
	cfg.IntermediateCert = filepath.Join(dir, FileIntermediateCert)
	cfg.IntermediateKey = filepath.Join(dir, FileIntermediateKey)
	if cfg.DB == nil || cfg.DB.Type == "bbolt" {
		cfg.DB = &db.Config{Type: "bbolt", DataSource: filepath.Join(dir, FileDB)}
	}
	if len(cfg.DNSNames) == 0 {
		return nil, errors.New("configuration has no dnsNames")
	}
	if cfg.CRL == nil {
		// step-ca's CRL, regenerated on every revocation and before it
		// expires; CRL serves it. Set here rather than in ca.json so that
		// CAs created before get it too.
		cfg.CRL = &config.CRLConfig{Enabled: true, GenerateOnRevoke: true, CacheDuration: &provisioner.Duration{Duration: crlLifetime}}
	}

	var key *jose.JSONWebKey
	for _, name := range []string{DeviceProvisioner, ServerProvisioner} {
		p, err := findJWK(cfg.AuthorityConfig.Provisioners, name)
		if err != nil {
			return nil, err
		}
		if key == nil {
			if key, err = decryptJWK(p.EncryptedKey, password); err != nil {
				return nil, fmt.Errorf("provisioner %s: %w", name, err)
			}
		}
		if p.Key == nil || p.Key.KeyID != key.KeyID {
			return nil, fmt.Errorf("provisioner %s: key %q, want %q", name, keyID(p.Key), key.KeyID)
		}
	}

	auth, err := authority.New(cfg, authority.WithPassword(password), authority.WithQuietInit())
	if err != nil {
		return nil, err
	}
	root := auth.GetRootCertificate()
	if root == nil {
		_ = auth.Shutdown()
		return nil, errors.New("authority has no root certificate")
	}
	host := cfg.DNSNames[0]
	e := &Embedded{
		dir:            dir,
		log:            log,
		auth:           auth,
		root:           root,
		minter:         tokenMinter{key: key},
		signAudience:   "https://" + host + "/1.0/sign",
		revokeAudience: "https://" + host + "/1.0/revoke",
	}
	log.Info("opened CA", "dir", dir, "root_fingerprint", x509util.Fingerprint(root))
	return e, nil
}

func findJWK(list provisioner.List, name string) (*provisioner.JWK, error) {
	for _, p := range list {
		if p.GetName() != name {
			continue
		}
		jwk, ok := p.(*provisioner.JWK)
		if !ok {
			return nil, fmt.Errorf("provisioner %s is %s, want JWK", name, p.GetType())
		}
		if jwk.EncryptedKey == "" {
			return nil, fmt.Errorf("provisioner %s has no encrypted key", name)
		}
		return jwk, nil
	}
	return nil, fmt.Errorf("no provisioner %s in %s", name, FileConfig)
}

func keyID(k *jose.JSONWebKey) string {
	if k == nil {
		return ""
	}
	return k.KeyID
}

// Dir is the directory the authority is kept in.
func (e *Embedded) Dir() string { return e.dir }

// Root is the CA root certificate.
func (e *Embedded) Root() *x509.Certificate { return e.root }

// StepAuthority exposes the underlying step-ca authority, for instance to
// serve step-ca's HTTP API from the gateway.
func (e *Embedded) StepAuthority() *authority.Authority { return e.auth }

// sign runs one step-ca sign flow: mint a one-time token for the provisioner,
// authorize it, sign with the options the provisioner returned.
func (e *Embedded) sign(ctx context.Context, prov string, csr *x509.CertificateRequest, subject string, sans []string, ttl time.Duration) ([]*x509.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.dbMu.RLock()
	defer e.dbMu.RUnlock()
	ott, err := e.minter.mint(prov, e.signAudience, subject, sans)
	if err != nil {
		return nil, fmt.Errorf("mint token: %w", err)
	}
	ctx = provisioner.NewContextWithMethod(authority.NewContext(ctx, e.auth), provisioner.SignMethod)
	e.authMu.Lock()
	opts, err := e.auth.Authorize(ctx, ott)
	e.authMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	var so provisioner.SignOptions
	so.NotAfter.SetDuration(ttl)
	chain, err := e.auth.SignWithContext(ctx, csr, so, opts...)
	if err != nil {
		return nil, err
	}
	if err := checkChain(chain); err != nil {
		return nil, err
	}
	return chain, nil
}

// SignDevice signs a device's CSR through step-ca (see [Authority]).
func (e *Embedded) SignDevice(ctx context.Context, csr *x509.CertificateRequest, name string, ttl time.Duration) ([]*x509.Certificate, error) {
	if err := checkDevice(csr, name, ttl); err != nil {
		return nil, fmt.Errorf("ca: sign device %s: %w", name, err)
	}
	if ttl > MaxDeviceTTL {
		return nil, fmt.Errorf("ca: sign device %s: lifetime %v exceeds %v", name, ttl, MaxDeviceTTL)
	}
	chain, err := e.sign(ctx, DeviceProvisioner, csr, name, deviceSANs(name), ttl)
	if err != nil {
		return nil, fmt.Errorf("ca: sign device %s: %w", name, err)
	}
	e.log.Debug("ca: signed device certificate", "device", name, "serial", chain[0].SerialNumber.String(), "not_after", chain[0].NotAfter)
	return chain, nil
}

// SignServer issues a TLS server certificate for hosts through step-ca (see
// [Authority]).
func (e *Embedded) SignServer(ctx context.Context, hosts []string, ttl time.Duration) (tls.Certificate, error) {
	if err := checkHosts(hosts, ttl); err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: sign server %v: %w", hosts, err)
	}
	if ttl > MaxServerTTL {
		return tls.Certificate{}, fmt.Errorf("ca: sign server %v: lifetime %v exceeds %v", hosts, ttl, MaxServerTTL)
	}
	key, csr, err := serverKeyAndCSR(hosts)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: sign server %v: %w", hosts, err)
	}
	chain, err := e.sign(ctx, ServerProvisioner, csr, hosts[0], hosts, ttl)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: sign server %v: %w", hosts, err)
	}
	e.log.Info("ca: signed server certificate", "hosts", hosts, "serial", chain[0].SerialNumber.String(), "not_after", chain[0].NotAfter)
	return tlsCertificate(chain, key), nil
}

// Revoke records the revocation of serial in step-ca's database (passive
// revocation, as step-ca supports it: the CA will no longer renew the
// certificate). Revoking an already revoked serial succeeds.
func (e *Embedded) Revoke(ctx context.Context, serial *big.Int, reason string) error {
	if serial == nil || serial.Sign() <= 0 {
		return fmt.Errorf("ca: revoke %v: invalid serial", serial)
	}
	sn := serial.String()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ca: revoke %s: %w", sn, err)
	}
	e.dbMu.RLock()
	defer e.dbMu.RUnlock()
	if revoked, err := e.auth.IsRevoked(sn); err == nil && revoked {
		return nil
	}
	ott, err := e.minter.mint(DeviceProvisioner, e.revokeAudience, sn, nil)
	if err != nil {
		return fmt.Errorf("ca: revoke %s: mint token: %w", sn, err)
	}
	ctx = provisioner.NewContextWithMethod(authority.NewContext(ctx, e.auth), provisioner.RevokeMethod)
	// Revoke loads the provisioner from the token again: same race as in sign.
	e.authMu.Lock()
	_, err = e.auth.Authorize(ctx, ott)
	if err == nil {
		err = e.auth.Revoke(ctx, &authority.RevokeOptions{
			Serial:      sn,
			Reason:      reason,
			ReasonCode:  reasonCode(reason),
			PassiveOnly: true,
			OTT:         ott,
		})
	}
	e.authMu.Unlock()
	if err != nil {
		return fmt.Errorf("ca: revoke %s: %w", sn, err)
	}
	e.log.Info("ca: revoked certificate", "serial", sn, "reason", reason)
	return nil
}

// CRL is step-ca's current revocation list (DER), signed by the
// intermediate.
func (e *Embedded) CRL(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ca: crl: %w", err)
	}
	info, err := e.auth.GetCertificateRevocationList()
	if err != nil {
		return nil, fmt.Errorf("ca: crl: %w", err)
	}
	return info.Data, nil
}

// IsRevoked reports whether serial has been revoked with this CA.
func (e *Embedded) IsRevoked(serial *big.Int) (bool, error) {
	if serial == nil {
		return false, errors.New("ca: is revoked: nil serial")
	}
	ok, err := e.auth.IsRevoked(serial.String())
	if err != nil {
		return false, fmt.Errorf("ca: is revoked %s: %w", serial, err)
	}
	return ok, nil
}

// Close shuts the authority down and releases its database.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		if err := e.auth.Shutdown(); err != nil {
			e.closeErr = fmt.Errorf("ca: close embedded CA: %w", err)
		}
	})
	return e.closeErr
}
