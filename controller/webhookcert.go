package controller

import (
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
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// The webhook's own certificate: without cert-manager (or anything else
// that issues the webhook's serving certificate and injects its CA), the
// controller does it, as many operators do: a CA and a serving certificate
// for the webhook Service's DNS names, kept in a Secret of the namespace so
// that every replica serves the same, written into the webhook server's
// certificate directory; the CA goes into the caBundle of each webhook of
// the ValidatingWebhookConfiguration, checked again every few minutes (a
// kubectl apply of the configuration may have replaced it).

// Defaults of the self-managed webhook certificate.
const (
	DefaultWebhookService       = "wasmbed-webhook"
	DefaultWebhookConfiguration = "wasmbed-validating-webhook"
	DefaultWebhookSecret        = "wasmbed-webhook-tls"
)

// Validity of the webhook's CA and serving certificate; a serving
// certificate with less than webhookRenewBefore left, or without the
// names it needs, is issued anew at start.
const (
	webhookCAValidity   = 10 * 365 * 24 * time.Hour
	webhookCertValidity = 365 * 24 * time.Hour
	webhookRenewBefore  = 30 * 24 * time.Hour
	webhookInjectEvery  = 5 * time.Minute
)

// webhookHosts are the names the serving certificate holds: the
// Service's DNS names in ns, and extra ones (IP addresses too).
func webhookHosts(o *WebhookOptions, ns string) []string {
	svc := o.Service
	if svc == "" {
		svc = DefaultWebhookService
	}
	hosts := []string{svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local"}
	return append(hosts, o.ExtraHosts...)
}

// webhookPEM is what the Secret holds.
type webhookPEM struct{ caCert, caKey, cert, key []byte }

// ensureWebhookCert makes o.CertDir hold a serving certificate from the
// namespace's Secret (creating or renewing it), and returns the CA (PEM)
// to inject.
func ensureWebhookCert(ctx context.Context, c client.Client, ns string, o *WebhookOptions, log *slog.Logger) ([]byte, error) {
	name := o.Secret
	if name == "" {
		name = DefaultWebhookSecret
	}
	hosts := webhookHosts(o, ns)
	for attempt := 0; ; attempt++ {
		var sec corev1.Secret
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &sec)
		switch {
		case apierrors.IsNotFound(err):
			p, err := issueWebhookPEM(nil, hosts, time.Now())
			if err != nil {
				return nil, err
			}
			sec = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "wasmbed"}},
				Type: corev1.SecretTypeTLS, Data: p.data()}
			if err := c.Create(ctx, &sec); apierrors.IsAlreadyExists(err) && attempt < 3 {
				continue // another replica was first: use its
			} else if err != nil {
				return nil, fmt.Errorf("webhook certificate: create Secret %s: %w", name, err)
			}
			log.Info("webhook certificate issued", "secret", name, "hosts", hosts)
		case err != nil:
			return nil, fmt.Errorf("webhook certificate: read Secret %s: %w", name, err)
		}
		p := webhookPEM{caCert: sec.Data["ca.crt"], caKey: sec.Data["ca.key"], cert: sec.Data[corev1.TLSCertKey], key: sec.Data[corev1.TLSPrivateKeyKey]}
		if why := p.stale(hosts, time.Now()); why != "" {
			next, err := issueWebhookPEM(&p, hosts, time.Now())
			if err != nil {
				return nil, err
			}
			sec.Data = next.data()
			if err := c.Update(ctx, &sec); apierrors.IsConflict(err) && attempt < 3 {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("webhook certificate: renew Secret %s: %w", name, err)
			}
			log.Info("webhook certificate renewed", "secret", name, "why", why)
			p = next
		}
		if err := os.MkdirAll(o.CertDir, 0o700); err != nil {
			return nil, err
		}
		for f, b := range map[string][]byte{"tls.crt": p.cert, "tls.key": p.key} {
			if err := os.WriteFile(filepath.Join(o.CertDir, f), b, 0o600); err != nil {
				return nil, fmt.Errorf("webhook certificate: %w", err)
			}
		}
		return p.caCert, nil
	}
}

func (p webhookPEM) data() map[string][]byte {
	return map[string][]byte{"ca.crt": p.caCert, "ca.key": p.caKey, corev1.TLSCertKey: p.cert, corev1.TLSPrivateKeyKey: p.key}
}

// stale says why p must be issued anew ("": it serves hosts until well
// after now).
func (p webhookPEM) stale(hosts []string, now time.Time) string {
	if _, err := tls.X509KeyPair(p.cert, p.key); err != nil {
		return "no usable serving certificate: " + err.Error()
	}
	leaf, err := parsePEMCert(p.cert)
	if err != nil {
		return err.Error()
	}
	ca, err := parsePEMCert(p.caCert)
	if err != nil {
		return "CA: " + err.Error()
	}
	if _, err := parsePEMKey(p.caKey); err != nil {
		return "CA key: " + err.Error()
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return "not signed by the CA"
	}
	if now.Add(webhookRenewBefore).After(leaf.NotAfter) {
		return "expires " + leaf.NotAfter.UTC().Format(time.RFC3339)
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return "does not name " + h
		}
	}
	return ""
}

// issueWebhookPEM issues a serving certificate for hosts, signed by the
// CA of prev when it has a usable one with time left, else by a new CA.
func issueWebhookPEM(prev *webhookPEM, hosts []string, now time.Time) (webhookPEM, error) {
	var ca *x509.Certificate
	var caKey *ecdsa.PrivateKey
	var out webhookPEM
	if prev != nil {
		c, err1 := parsePEMCert(prev.caCert)
		k, err2 := parsePEMKey(prev.caKey)
		if err1 == nil && err2 == nil && now.Add(webhookCertValidity).Before(c.NotAfter) {
			ca, caKey, out.caCert, out.caKey = c, k, prev.caCert, prev.caKey
		}
	}
	if ca == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return out, err
		}
		tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "wasmbed webhook CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(webhookCAValidity), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			return out, err
		}
		if ca, err = x509.ParseCertificate(der); err != nil {
			return out, err
		}
		kb, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return out, err
		}
		caKey = k
		out.caCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		out.caKey = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return out, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(webhookCertValidity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		return out, err
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return out, err
	}
	out.cert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out.key = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	return out, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

func parsePEMCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func parsePEMKey(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM key")
	}
	return x509.ParseECPrivateKey(blk.Bytes)
}

// injectCABundle puts caPEM into the caBundle of every webhook of the
// ValidatingWebhookConfiguration name (if not there already); changed
// says whether it wrote.
func injectCABundle(ctx context.Context, c client.Client, name string, caPEM []byte) (changed bool, err error) {
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &cfg); err != nil {
		return false, fmt.Errorf("webhook configuration %s: %w", name, err)
	}
	patch := client.MergeFromWithOptions(cfg.DeepCopy(), client.MergeFromWithOptimisticLock{})
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, caPEM) {
			cfg.Webhooks[i].ClientConfig.CABundle = slices.Clone(caPEM)
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	if err := c.Patch(ctx, &cfg, patch); err != nil {
		return false, fmt.Errorf("webhook configuration %s: inject the CA: %w", name, err)
	}
	return true, nil
}

// selfSignWebhook prepares the webhook's certificate (o.SelfSigned) and
// keeps its CA injected until ctx ends. It returns once the certificate is
// in o.CertDir and the CA injected.
func selfSignWebhook(ctx context.Context, cfg *rest.Config, ns string, o *WebhookOptions, log *slog.Logger) error {
	c, err := client.New(cfg, client.Options{Scheme: kubestore.Scheme()})
	if err != nil {
		return err
	}
	if o.CertDir == "" {
		if o.CertDir, err = os.MkdirTemp("", "wasmbed-webhook-"); err != nil {
			return err
		}
	}
	caPEM, err := ensureWebhookCert(ctx, c, ns, o, log)
	if err != nil {
		return err
	}
	name := o.Configuration
	if name == "" {
		name = DefaultWebhookConfiguration
	}
	if changed, err := injectCABundle(ctx, c, name, caPEM); err != nil {
		return err
	} else if changed {
		log.Info("webhook CA injected", "configuration", name)
	}
	go func() {
		t := time.NewTicker(webhookInjectEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if changed, err := injectCABundle(ctx, c, name, caPEM); err != nil {
				log.Warn("webhook CA not injected", "err", err)
			} else if changed {
				log.Info("webhook CA injected again (the configuration had lost it)", "configuration", name)
			}
		}
	}()
	return nil
}
