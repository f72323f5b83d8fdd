package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/gob"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

// cred is one device's identity as the load generators need it: its name,
// its certificate chain (leaf first) and its private key (PKCS#8).
type cred struct {
	Name  string
	Chain [][]byte
	Key   []byte
}

func writeCreds(path string, creds []cred) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(creds); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readCreds(path string) ([]cred, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var creds []cred
	err = gob.NewDecoder(f).Decode(&creds)
	return creds, err
}

func (c *cred) tlsCertificate() (tls.Certificate, error) {
	key, err := x509.ParsePKCS8PrivateKey(c.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: key: %w", c.Name, err)
	}
	leaf, err := x509.ParseCertificate(c.Chain[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: certificate: %w", c.Name, err)
	}
	return tls.Certificate{Certificate: c.Chain, PrivateKey: key, Leaf: leaf}, nil
}

// deviceKey is a device's P-256 key and a CSR for its name, made before the
// enrollment clock starts.
type deviceKey struct {
	name string
	key  *ecdsa.PrivateKey
	csr  []byte
}

// makeDeviceKeys makes keys and CSRs for names on all cores.
func makeDeviceKeys(names []string) ([]deviceKey, error) {
	out := make([]deviceKey, len(names))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(names); i += workers {
				key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err == nil {
					out[i].csr, err = x509.CreateCertificateRequest(rand.Reader,
						&x509.CertificateRequest{Subject: pkix.Name{CommonName: names[i]}}, key)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				out[i].name, out[i].key = names[i], key
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// throwawayCA is a P-256 CA made for the mosquitto comparison.
type throwawayCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newThrowawayCA() (*throwawayCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatewaybench throwaway CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &throwawayCA{cert, key}, err
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 1}

func (ca *throwawayCA) sign(cn string, pub *ecdsa.PublicKey, server bool) ([]byte, error) {
	serial.Lock()
	serial.n++
	sn := serial.n
	serial.Unlock()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(sn), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
}

// writeServerFiles writes ca.crt, server.crt and server.key (PEM) under dir.
func (ca *throwawayCA) writeServerFiles(dir string) (caFile, certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return
	}
	der, err := ca.sign("localhost", &key.PublicKey, true)
	if err != nil {
		return
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return
	}
	caFile, certFile, keyFile = dir+"/mqtt-ca.crt", dir+"/mqtt-server.crt", dir+"/mqtt-server.key"
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", ca.cert.Raw}, {certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", kder}} {
		if err = os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return
		}
	}
	return
}

// clientCreds gives each device key a client certificate of this CA, on all cores.
func (ca *throwawayCA) clientCreds(keys []deviceKey) ([]cred, error) {
	out := make([]cred, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(keys); i += workers {
				der, err := ca.sign(keys[i].name, &keys[i].key.PublicKey, false)
				if err != nil {
					errs[i] = err
					continue
				}
				k, err := x509.MarshalPKCS8PrivateKey(keys[i].key)
				out[i], errs[i] = cred{Name: keys[i].name, Chain: [][]byte{der}, Key: k}, err
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
