package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/protocol"
)

// The certificate ledger, path by path: whichever way a certificate was
// signed (enrollment, renewal, the API), the old or revoked one cannot open
// a session, a live session on it closes, and the current one works. Every
// device here is the test's own TLS 1.3 client against the real gateway
// (embedded step-ca, embedded store).

// ledger is the device's certificates by serial, as the API lists them.
func (h *harness) ledger(device string) map[string]fleet.Certificate {
	h.t.Helper()
	var out struct{ Certificates []fleet.Certificate }
	h.must(http.StatusOK, "GET", "/v1/certificates?device="+device, nil, &out)
	m := map[string]fleet.Certificate{}
	for _, c := range out.Certificates {
		if c.Device != device {
			h.t.Fatalf("?device=%s listed %+v", device, c)
		}
		m[c.Serial] = c
	}
	return m
}

// wantState checks the ledger state (and source) of cert.
func (h *harness) wantState(device string, cert *tls.Certificate, state, source string) {
	h.t.Helper()
	sn := serialOf(h.t, cert)
	c, ok := h.ledger(device)[sn]
	if !ok {
		h.t.Fatalf("certificate %s of %s not in the ledger", sn, device)
	}
	if c.State != state || c.Source != source || c.NotAfter.IsZero() || c.NotBefore.IsZero() {
		h.t.Fatalf("certificate %s of %s: %+v, want state %s from %s with its validity", sn, device, c, state, source)
	}
}

// crlLists fetches GET /v1/crl, checks it is signed by the issuer of cert,
// and reports whether it lists cert.
func (h *harness) crlLists(cert *tls.Certificate) bool {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.api+"/v1/crl", nil)
	req.Header.Set("Authorization", "Bearer "+h.reader)
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	der, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		h.t.Fatalf("GET /v1/crl: %s %s %q", resp.Status, resp.Header.Get("Content-Type"), der)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		h.t.Fatalf("parse the CRL: %v", err)
	}
	issuer, err := x509.ParseCertificate(cert.Certificate[1])
	if err != nil {
		h.t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		h.t.Fatalf("the CRL is not signed by the device certificates' issuer: %v", err)
	}
	sn := leafOf(h.t, cert).SerialNumber
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(sn) == 0 {
			return true
		}
	}
	return false
}

func leafOf(t testing.TB, c *tls.Certificate) *x509.Certificate {
	t.Helper()
	if c.Leaf != nil {
		return c.Leaf
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	c.Leaf = leaf
	return leaf
}

func serialOf(t testing.TB, c *tls.Certificate) string { return leafOf(t, c).SerialNumber.Text(16) }

// heartbeat checks that the session answers a heartbeat.
func (d *testDevice) heartbeat() {
	d.t.Helper()
	id := d.send(&protocol.Heartbeat{Seq: d.nextID})
	if ack := expect[*protocol.HeartbeatAck](d); ack.Seq != id-1 {
		d.t.Fatalf("%s: ack for seq %d, want %d", d.name, ack.Seq, id-1)
	}
}

// closedWith checks that the gateway tells the device code and closes the
// session (at once: the read deadline is the harness's, not a wait for
// missed heartbeats, which the test gateways set far longer).
func (d *testDevice) closedWith(code protocol.ErrorCode) {
	d.t.Helper()
	if e := expect[*protocol.Error](d); e.Code != code {
		d.t.Fatalf("%s: the gateway said %v %q, want %v", d.name, e.Code, e.Message, code)
	}
	if _, err := d.recv(); err == nil {
		d.t.Fatalf("%s: session still open", d.name)
	}
}

// refused checks that cert cannot open a session of d's device.
func (d *testDevice) refused(cert *tls.Certificate, what string) {
	d.t.Helper()
	other := newTestDevice(d.t, d.h, d.name)
	other.cert = cert
	if w, err := other.dial(nil); err == nil {
		d.t.Fatalf("%s: %s got a session: %+v", d.name, what, w)
	} else {
		d.t.Logf("%s: %s refused: %v", d.name, what, err)
	}
}

// renew asks, over d's session, for a certificate for a new key; d keeps
// its session and certificate.
func (d *testDevice) renew() *tls.Certificate {
	d.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		d.t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: d.name}}, key)
	if err != nil {
		d.t.Fatal(err)
	}
	d.send(&protocol.Renew{CSR: csr})
	m := expect[*protocol.Certificate](d)
	leaf, err := x509.ParseCertificate(m.Chain[0])
	if err != nil {
		d.t.Fatal(err)
	}
	return &tls.Certificate{Certificate: m.Chain, PrivateKey: key, Leaf: leaf}
}

// withCert is a device of the same name holding cert.
func (d *testDevice) withCert(cert *tls.Certificate) *testDevice {
	n := newTestDevice(d.t, d.h, d.name)
	n.cert = cert
	if k, ok := cert.PrivateKey.(*ecdsa.PrivateKey); ok {
		n.key = k
	}
	return n
}

// Enrollment: enrolling again (a new token, a new key) supersedes the
// certificate before; its live session closes and it is refused, and the
// CRL lists it.
func TestLedgerEnrollmentSupersedes(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	first := newTestDevice(t, h, "dev-e")
	first.connect()
	first.heartbeat()
	h.wantState("dev-e", first.cert, fleet.CertCurrent, fleet.SourceEnrollment)

	var tok struct{ Token string }
	h.must(http.StatusCreated, "POST", "/v1/devices/dev-e/tokens", nil, &tok)
	second := newTestDevice(t, h, "dev-e")
	if err := second.enroll(tok.Token); err != nil {
		t.Fatal(err)
	}
	first.closedWith(protocol.CodeForbidden)
	first.refused(first.cert, "the certificate an enrollment superseded")
	second.connect()
	second.heartbeat()
	h.wantState("dev-e", first.cert, fleet.CertSuperseded, fleet.SourceEnrollment)
	h.wantState("dev-e", second.cert, fleet.CertCurrent, fleet.SourceEnrollment)
	if !h.crlLists(first.cert) || h.crlLists(second.cert) {
		t.Fatal("the CRL must list the superseded certificate and not the current one")
	}
	var dev fleet.Device
	h.must(http.StatusOK, "GET", "/v1/devices/dev-e", nil, &dev)
	if dev.Status.CertSerial != serialOf(t, second.cert) {
		t.Fatalf("device status names %s, want %s", dev.Status.CertSerial, serialOf(t, second.cert))
	}
}

// Renewal: the new certificate is pending while the old one's session goes
// on; a session with it makes it current and supersedes the old one, which
// is refused from then on. After two renewals either can be used (the
// device may have lost the second answer and hold the first); the one used
// supersedes the other.
func TestLedgerRenewalHandover(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	d := newTestDevice(t, h, "dev-r")
	d.connect()
	old := d.cert
	held := d.renew()
	lost := d.renew() // as if its answer never arrived
	h.wantState("dev-r", old, fleet.CertCurrent, fleet.SourceEnrollment)
	h.wantState("dev-r", held, fleet.CertPending, fleet.SourceRenewal)
	h.wantState("dev-r", lost, fleet.CertPending, fleet.SourceRenewal)
	d.heartbeat() // the session on the old certificate goes on

	next := d.withCert(held)
	next.connect() // the handover: replaces the old session
	next.heartbeat()
	h.wantState("dev-r", held, fleet.CertCurrent, fleet.SourceRenewal)
	h.wantState("dev-r", old, fleet.CertSuperseded, fleet.SourceEnrollment)
	h.wantState("dev-r", lost, fleet.CertSuperseded, fleet.SourceRenewal)
	d.refused(old, "the certificate a renewal superseded")
	d.refused(lost, "the other renewal's certificate, after the handover")
	if !h.crlLists(old) || !h.crlLists(lost) || h.crlLists(held) {
		t.Fatal("the CRL must list the superseded certificates and not the current one")
	}

	// The next renewal, from the renewed certificate's session, hands over
	// the same way; reconnecting keeps it.
	renewed := next.renew()
	again := d.withCert(renewed)
	again.connect()
	again.heartbeat()
	d.refused(held, "the certificate the second renewal superseded")
	again = d.withCert(renewed)
	again.connect()
	again.heartbeat()
	var dev fleet.Device
	h.must(http.StatusOK, "GET", "/v1/devices/dev-r", nil, &dev)
	if dev.Status.CertSerial != serialOf(t, renewed) || dev.Status.CertPending != "" {
		t.Fatalf("device status names %s (pending %q), want %s", dev.Status.CertSerial, dev.Status.CertPending, serialOf(t, renewed))
	}
}

// The API path (wasmbed_certificate, factory identities): a certificate
// signed through POST /v1/certificates is in the ledger, a new one
// supersedes it (its session closes), one certificate can be revoked alone
// (Terraform destroy), and revoking the device refuses them all and closes
// the session at once.
func TestLedgerAPISignedCertificates(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	h.registerDevice("dev-a", "stm32f4-discovery", nil)
	d := newTestDevice(t, h, "dev-a")
	first := apiCert(t, h, d, 3600)
	a := d.withCert(first)
	a.connect()
	a.heartbeat()
	h.wantState("dev-a", first, fleet.CertCurrent, fleet.SourceAPI)

	// Terraform replace (create before destroy): the new certificate
	// supersedes the old, whose session closes; destroying the old one
	// revokes it alone.
	d2 := newTestDevice(t, h, "dev-a")
	second := apiCert(t, h, d2, 3600)
	a.closedWith(protocol.CodeForbidden)
	d.refused(first, "an API certificate superseded by the next")
	var rc fleet.Certificate
	h.must(http.StatusOK, "POST", "/v1/certificates/"+serialOf(t, first)+"/revoke", map[string]any{"reason": "replaced"}, &rc)
	if rc.State != fleet.CertRevoked || rc.Reason != "replaced" {
		t.Fatalf("revoked certificate: %+v", rc)
	}
	b := d2.withCert(second)
	b.connect()
	b.heartbeat()

	// Destroy alone: the session holding it closes at once, the device is
	// left without a certificate and is marked revoked.
	h.must(http.StatusOK, "POST", "/v1/certificates/"+serialOf(t, second)+"/revoke", nil, &rc)
	b.closedWith(protocol.CodeRevoked)
	d.refused(second, "a revoked API certificate")
	var dev fleet.Device
	h.must(http.StatusOK, "GET", "/v1/devices/dev-a", nil, &dev)
	if dev.Status.Phase != fleet.PhaseRevoked {
		t.Fatalf("phase %q with every certificate revoked", dev.Status.Phase)
	}
	if !h.crlLists(first) || !h.crlLists(second) {
		t.Fatal("the CRL must list the revoked API certificates")
	}

	// Revoking the device covers the API path: 200, not 400, and the live
	// session closes.
	d3 := newTestDevice(t, h, "dev-a")
	third := apiCert(t, h, d3, 3600)
	c := d3.withCert(third)
	c.connect()
	c.heartbeat()
	h.must(http.StatusOK, "POST", "/v1/devices/dev-a/revoke", map[string]any{"reason": "stolen"}, nil)
	c.closedWith(protocol.CodeRevoked)
	d.refused(third, "an API certificate of a revoked device")
	for sn, cert := range h.ledger("dev-a") {
		if cert.State != fleet.CertRevoked {
			t.Errorf("certificate %s is %s after the device was revoked", sn, cert.State)
		}
	}
	if !h.crlLists(third) {
		t.Fatal("the CRL must list the certificate revoked with the device")
	}
	// A certificate the ledger does not know is answered 404.
	if got := h.call(h.admin, "POST", "/v1/certificates/"+new(big.Int).SetInt64(12345).Text(16)+"/revoke", nil, nil); got != http.StatusNotFound {
		t.Fatalf("revoking an unknown serial: %d, want 404", got)
	}
}

// Device delete and re-create: deleting revokes every certificate and
// closes the session; a device registered again under the name starts with
// none, so the old certificates stay refused while its new one works.
func TestLedgerDeleteAndRecreate(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	d := newTestDevice(t, h, "dev-d")
	d.connect()
	old := d.cert
	pending := d.renew()
	d.heartbeat()
	h.must(http.StatusNoContent, "DELETE", "/v1/devices/dev-d", nil, nil)
	d.closedWith(protocol.CodeRevoked)
	d.refused(old, "the certificate of a deleted device")

	token := h.registerDevice("dev-d", "stm32f4-discovery", nil)
	d.refused(old, "the certificate of the device deleted before re-creation")
	d.refused(pending, "the pending renewal of the device deleted before re-creation")
	fresh := newTestDevice(t, h, "dev-d")
	if err := fresh.enroll(token); err != nil {
		t.Fatal(err)
	}
	fresh.connect()
	fresh.heartbeat()
	d.refused(old, "the certificate of the device deleted, with the new one enrolled")
	h.wantState("dev-d", old, fleet.CertRevoked, fleet.SourceEnrollment)
	h.wantState("dev-d", pending, fleet.CertRevoked, fleet.SourceRenewal)
	h.wantState("dev-d", fresh.cert, fleet.CertCurrent, fleet.SourceEnrollment)
}

// Revocation of an enrolled device with a pending renewal: both are
// refused, the live session closes at once, and enrolling again works.
func TestLedgerRevokeCoversEveryCertificate(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	d := newTestDevice(t, h, "dev-v")
	d.connect()
	pending := d.renew()
	start := time.Now()
	answered := make(chan int, 1)
	go func() {
		answered <- h.call(h.admin, "POST", "/v1/devices/dev-v/revoke", map[string]any{"reason": "stolen"}, nil)
	}()
	d.closedWith(protocol.CodeRevoked)
	closed := time.Since(start)
	if code := <-answered; code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	t.Logf("revoke request: session closed after %v, answered after %v (two certificates revoked with the CA)", closed, time.Since(start))
	d.refused(d.cert, "the revoked current certificate")
	d.refused(pending, "the revoked pending certificate")
	if !h.crlLists(d.cert) || !h.crlLists(pending) {
		t.Fatal("the CRL must list both certificates")
	}
	var tok struct{ Token string }
	h.must(http.StatusCreated, "POST", "/v1/devices/dev-v/tokens", nil, &tok)
	back := newTestDevice(t, h, "dev-v")
	if err := back.enroll(tok.Token); err != nil {
		t.Fatal(err)
	}
	back.connect()
	back.heartbeat()
	// The case: after a revocation and a new enrollment, the first
	// certificate opens no session, so it cannot knock the device off.
	d.refused(d.cert, "the revoked certificate, after enrolling again")
	d.refused(pending, "the revoked pending certificate, after enrolling again")
	back.heartbeat()
}

// Kubernetes mode: the ledger is DeviceCertificate resources, written by
// the gateway (with exactly the permissions of its role); a renewal hands
// over there too; a Device deleted and created again with kubectl (no
// revocation) refuses the certificates of the one before; and a ledger
// entry revoked in Kubernetes closes the session holding it at once.
func TestKubernetesLedger(t *testing.T) {
	env := kubetest.Start(t)
	f := newKubeFleet(t, env)
	ctx := context.Background()
	h := f.startKubeGateway("gw-1", t.TempDir(), "")
	state := func(cert *tls.Certificate) string {
		t.Helper()
		var o v1alpha1.DeviceCertificate
		must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: serialOf(t, cert)}, &o))
		if o.Spec.Device != "dev-k" || o.Spec.NotAfter.IsZero() {
			t.Fatalf("DeviceCertificate %s: %+v", o.Name, o.Spec)
		}
		return o.Spec.State
	}

	d := newTestDevice(t, h, "dev-k")
	must(t, d.enroll(f.device("dev-k", "stm32f4-discovery", "gw-1", nil)))
	d.connect()
	d.heartbeat()
	old := d.cert
	renewed := d.renew()
	if s, p := state(old), state(renewed); s != fleet.CertCurrent || p != fleet.CertPending {
		t.Fatalf("after renewal: %s %s, want current and pending", s, p)
	}
	next := d.withCert(renewed)
	next.connect()
	next.heartbeat()
	if s, p := state(old), state(renewed); s != fleet.CertSuperseded || p != fleet.CertCurrent {
		t.Fatalf("after the handover: %s %s, want superseded and current", s, p)
	}
	d.refused(old, "the superseded certificate (Kubernetes)")

	// kubectl delete and create: the new Device has no certificate yet.
	must(t, env.Client.Delete(ctx, &v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: "dev-k", Namespace: f.ns}}))
	for { // the gateway drops the session of a deleted device
		if _, err := next.recv(); err != nil {
			break
		}
	}
	token := f.device("dev-k", "stm32f4-discovery", "gw-1", nil)
	d.refused(renewed, "the certificate of the Device deleted with kubectl and created again")
	fresh := newTestDevice(t, h, "dev-k")
	must(t, fresh.enroll(token))
	fresh.connect()
	fresh.heartbeat()
	// Its entry may still say current (the hourly sweep marks it), but the
	// Device's status names the new certificate only.
	d.refused(renewed, "the certificate of the Device before, after a new enrollment")

	// Revoked in the ledger by someone else: the session closes at once.
	_, err := f.admin.Certificates().Update(ctx, serialOf(t, fresh.cert), func(c *fleet.Certificate) error {
		c.State, c.Reason = fleet.CertRevoked, "revoked in Kubernetes"
		return nil
	})
	must(t, err)
	fresh.closedWith(protocol.CodeRevoked)
	d.refused(fresh.cert, "a certificate revoked in the ledger")

	// A CertificateRevocation made in Kubernetes: the session closes, the
	// ledger says revoked, and the gateway's CRL lists it.
	other := newTestDevice(t, h, "dev-k2")
	must(t, other.enroll(f.device("dev-k2", "stm32f4-discovery", "gw-1", nil)))
	other.connect()
	other.heartbeat()
	sn := serialOf(t, other.cert)
	must(t, env.Client.Create(ctx, &v1alpha1.CertificateRevocation{ObjectMeta: metav1.ObjectMeta{Name: sn, Namespace: f.ns},
		Spec: v1alpha1.CertificateRevocationSpec{Device: "dev-k2", Reason: "stolen", RevokedAt: metav1.Now()}}))
	other.closedWith(protocol.CodeRevoked)
	eventually(t, "the ledger records the revocation made in Kubernetes", func() bool {
		c, err := f.admin.Certificates().Get(ctx, sn)
		return err == nil && c.State == fleet.CertRevoked && c.Reason == "stolen"
	})
	if !h.crlLists(other.cert) {
		t.Fatal("the gateway's CRL does not list a certificate revoked in Kubernetes")
	}
}
