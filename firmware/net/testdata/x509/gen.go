//go:build ignore

// Writes the certificates firmware/net/tests/x509.rs checks wasmbed_net::x509 with:
//
//	cd firmware/net/testdata/x509 && go run gen.go
//
// root.der (CA), inter.der (CA, signed by root), leaf.der (signed by inter: CN
// wasmbed-gateway, SAN DNS localhost and *.gw.example, valid 2025-01-01 to 2035-01-01),
// cn_only.der (signed by inter, no SAN, CN localhost), other_inter.der (a CA signed by
// another root, same subject as inter), rsa_leaf.der (signed by inter, RSA key: a
// leaf whose key cannot sign a P-256 CertificateVerify), late.der (signed by inter,
// valid 2049-06-01 to 2051-01-01: UTCTime, then GeneralizedTime), device.der (signed
// by inter: a device's client-only certificate, SAN DNS localhost), forged.der (a
// gateway-like leaf for localhost signed with device.der's key: a device vouching for
// a forged gateway), crit.der (like leaf.der, with an unknown critical extension).
//
// Path length and purpose: inter2.der (a CA signed by inter) and leaf2.der (signed by
// inter2, SAN DNS localhost): a chain with two intermediates; inter_pathlen0.der and
// inter_pathlen1.der (inter's subject and key, signed by root, pathLenConstraint 0 and
// 1); root_pathlen0.der (root's subject and key, pathLenConstraint 0: no intermediate
// may follow); inter_client.der (inter's subject and key, extended key usage client
// authentication only) and inter_server.der (server and client authentication).
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"time"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

var serial int64

func cert(name string, tmpl *x509.Certificate, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(name, der, 0o644); err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return c
}

func key() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func ca(cn string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, NotBefore: date(2024, 1, 1), NotAfter: date(2060, 1, 1),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
}

func leaf(cn string, dns ...string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"Wasmbed test"}},
		NotBefore: date(2025, 1, 1), NotAfter: date(2035, 1, 1), DNSNames: dns,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
}

func main() {
	rootKey, interKey := key(), key()
	root := cert("root.der", ca("Wasmbed Test Root"), nil, rootKey.Public(), rootKey)
	inter := cert("inter.der", ca("Wasmbed Test Intermediate"), root, interKey.Public(), rootKey)
	cert("leaf.der", leaf("wasmbed-gateway", "localhost", "*.gw.example"), inter, key().Public(), interKey)
	cert("cn_only.der", leaf("localhost"), inter, key().Public(), interKey)
	late := leaf("localhost", "localhost")
	late.NotBefore, late.NotAfter = date(2049, 6, 1), date(2051, 1, 1)
	cert("late.der", late, inter, key().Public(), interKey)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	cert("rsa_leaf.der", leaf("localhost", "localhost"), inter, rsaKey.Public(), interKey)
	otherRoot := key()
	cert("other_inter.der", ca("Wasmbed Test Intermediate"), ca("Another Root"), interKey.Public(), otherRoot)
	devKey := key()
	dev := leaf("dev-1", "localhost")
	dev.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	device := cert("device.der", dev, inter, devKey.Public(), interKey)
	cert("forged.der", leaf("wasmbed-gateway", "localhost"), device, key().Public(), devKey)
	crit := leaf("wasmbed-gateway", "localhost")
	crit.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{0x05, 0x00}}}
	cert("crit.der", crit, inter, key().Public(), interKey)

	inter2Key := key()
	inter2 := cert("inter2.der", ca("Wasmbed Test Intermediate 2"), inter, inter2Key.Public(), interKey)
	cert("leaf2.der", leaf("wasmbed-gateway", "localhost"), inter2, key().Public(), inter2Key)
	pl0 := ca("Wasmbed Test Intermediate")
	pl0.MaxPathLenZero = true
	cert("inter_pathlen0.der", pl0, root, interKey.Public(), rootKey)
	pl1 := ca("Wasmbed Test Intermediate")
	pl1.MaxPathLen = 1
	cert("inter_pathlen1.der", pl1, root, interKey.Public(), rootKey)
	root0 := ca("Wasmbed Test Root")
	root0.MaxPathLenZero = true
	cert("root_pathlen0.der", root0, nil, rootKey.Public(), rootKey)
	client := ca("Wasmbed Test Intermediate")
	client.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	cert("inter_client.der", client, root, interKey.Public(), rootKey)
	server := ca("Wasmbed Test Intermediate")
	server.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	cert("inter_server.der", server, root, interKey.Public(), rootKey)
}
