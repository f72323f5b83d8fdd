package daemon

// The gateway does what docs/protocol.md says: certificates reach a device
// at the protocol's minimum max_frame, an answer that cannot be delivered
// leaves nothing behind, the CSR rule and its error code, request ids in
// error answers, truncated input, and a hello naming another board.

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/ca/stepcatest"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/protocol"
)

// helloWith is the harness's usual hello with another max_frame and board.
func helloWith(maxFrame uint32, board string) *protocol.Hello {
	return &protocol.Hello{ABIVersion: 1, Board: board, Firmware: "test", RAMFree: 65536, FlashFree: 262144,
		MaxFrame: maxFrame, Features: []string{"log", "time", "gpio", "publish", "config"}}
}

// csrFor is a CSR for d's key asking for the common name cn and DNS names.
func (d *testDevice) csrFor(cn string, dns ...string) []byte {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, d.key)
	if err != nil {
		d.t.Fatal(err)
	}
	return der
}

// answer reads the next message: its request id and the error it is, if one.
func (d *testDevice) answer() (uint64, *protocol.Error) {
	d.t.Helper()
	env, err := d.recv()
	if err != nil {
		d.t.Fatalf("%s: no answer: %v", d.name, err)
	}
	e, _ := env.Msg.(*protocol.Error)
	return env.RequestID, e
}

func (h *harness) deviceStatus(name string) fleet.Device {
	h.t.Helper()
	var dev fleet.Device
	h.must(http.StatusOK, "GET", "/v1/devices/"+name, nil, &dev)
	return dev
}

func (h *harness) countEvents(kind, object string) int {
	h.t.Helper()
	var events struct{ Events []fleet.Event }
	h.must(http.StatusOK, "GET", "/v1/events?limit=1000", nil, &events)
	n := 0
	for _, e := range events.Events {
		if e.Kind == kind && e.Object == object {
			n++
		}
	}
	return n
}

// A device announcing the protocol's minimum max_frame, with the longest
// name a device may have, receives its certificate whole: its stream
// refuses any larger frame.
func TestCertificateFitsTheMinimumFrame(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	name := "d" + strings.Repeat("x", protocol.MaxNameLen-1)
	token := h.registerDevice(name, "stm32f4-discovery", nil)
	d := newTestDevice(t, h, name)
	d.hello = helloWith(protocol.MinFrameSize, "stm32f4-discovery")
	if err := d.enroll(token); err != nil {
		t.Fatalf("enrollment at max_frame %d: %v", protocol.MinFrameSize, err)
	}
	size, err := protocol.Marshal(protocol.Envelope{RequestID: 1 << 40, Msg: &protocol.Certificate{Chain: d.cert.Certificate,
		NotAfter: d.cert.Leaf.NotAfter.UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("certificate answer for a %d-byte name: %d bytes (minimum max_frame %d)", len(name), len(size), protocol.MinFrameSize)
	if w, err := d.dial(nil); err != nil || w.Device != name {
		t.Fatalf("session with the certificate: %+v %v", w, err)
	}
	// A max_frame below the minimum is refused as invalid, with the hello's id.
	low := rawSession(t, h)
	low.conn.Write(frameOf(t, []byte{0x83, 0x01, 0x03, 0xa1, 0x06, 0x19, 0x07, 0xff})) // [1, 3, {6: 2047}]
	if id, e := low.answer(); e == nil || e.Code != protocol.CodeInvalid || id != 3 {
		t.Fatalf("hello with max_frame 2047: id %d error %+v, want invalid with id 3", id, e)
	}
}

// rawSession is a TLS connection to the device listener that has said nothing.
func rawSession(t *testing.T, h *harness) *testDevice {
	raw, err := tls.Dial("tcp", h.device, &tls.Config{RootCAs: h.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return &testDevice{t: t, h: h, name: "raw", conn: raw, stream: protocol.NewStream(raw, protocol.MaxFrameSize)}
}

// bigLeafTemplate has step-ca put a 2 KB extension in every certificate:
// a chain whose certificate answer exceeds the protocol's minimum max_frame.
var bigLeafTemplate = fmt.Sprintf(`{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
	"keyUsage": ["digitalSignature"],
	"extKeyUsage": ["serverAuth", "clientAuth"],
	"extensions": [{"id": "1.3.6.1.4.1.99999.7", "value": %q}]
}`, base64.StdEncoding.EncodeToString(append([]byte{0x04, 0x82, 0x07, 0xd0}, make([]byte, 2000)...)))

// An answer the device cannot receive (an external CA's chain larger than
// its max_frame) is refused with no_room before anything is recorded: the
// token stays usable (by another key, so not as a retry), the device has no
// certificate, no enrollment event; a renewal leaves the current
// certificate as it was and the session goes on.
func TestUndeliverableCertificateLeavesNothing(t *testing.T) {
	srv := stepcatest.Start(t, func(cfg map[string]any) {
		for _, p := range cfg["authority"].(map[string]any)["provisioners"].([]any) {
			if p := p.(map[string]any); p["name"] == "admin" {
				p["options"] = map[string]any{"x509": map[string]any{"template": bigLeafTemplate}}
			}
		}
	})
	h := startGatewayWith(t, Options{DataDir: t.TempDir(), Gateway: gateway.Config{CertTTL: time.Hour}, ExternalCA: externalCA(srv)})
	token := h.registerDevice("big", "stm32f4-discovery", nil)

	small := newTestDevice(t, h, "big")
	small.hello = helloWith(protocol.MinFrameSize, "stm32f4-discovery")
	if err := small.enroll(token); !isCode(err, protocol.CodeNoRoom) {
		t.Fatalf("enrollment whose answer exceeds max_frame: %v, want no_room", err)
	}
	if dev := h.deviceStatus("big"); dev.Status.CertSerial != "" || dev.Status.Phase != fleet.PhaseRegistered {
		t.Fatalf("after an undeliverable enrollment: status %+v", dev.Status)
	}
	if n := h.countEvents("device.enrolled", "big"); n != 0 {
		t.Fatalf("%d device.enrolled events for an undeliverable enrollment", n)
	}

	// Another key, with room for the chain: the token was given back.
	roomy := newTestDevice(t, h, "big")
	if err := roomy.enroll(token); err != nil {
		t.Fatalf("enrollment with room for the chain, same token: %v", err)
	}
	serial := roomy.cert.Leaf.SerialNumber.Text(16)
	if dev := h.deviceStatus("big"); dev.Status.CertSerial != serial {
		t.Fatalf("status names certificate %q, want %q", dev.Status.CertSerial, serial)
	}

	// A session announcing the minimum: its renewal cannot be delivered.
	roomy.hello = helloWith(protocol.MinFrameSize, "stm32f4-discovery")
	if _, err := roomy.dial(nil); err != nil {
		t.Fatal(err)
	}
	id := roomy.send(&protocol.Renew{CSR: roomy.csr()})
	if got, e := roomy.answer(); e == nil || e.Code != protocol.CodeNoRoom || got != id {
		t.Fatalf("undeliverable renewal: id %d error %+v, want no_room for %d", got, e, id)
	}
	if dev := h.deviceStatus("big"); dev.Status.CertSerial != serial {
		t.Fatalf("after an undeliverable renewal the status names %q, want %q", dev.Status.CertSerial, serial)
	}
	roomy.send(&protocol.Heartbeat{Seq: 1})
	expect[*protocol.HeartbeatAck](roomy)
	// The ledger still holds every certificate the CA signed: the two that
	// could not be delivered revoked (and on the CA's CRL), the device's.
	states := map[string]int{}
	for _, c := range h.ledger("big") {
		states[c.State+" "+c.Reason]++
	}
	if states["revoked undeliverable"] != 2 || states["current "] != 1 || len(states) != 2 {
		t.Fatalf("ledger after two undeliverable certificates: %v", states)
	}
}

// A CSR naming something else than the device is invalid, on enrollment
// (before the token is spent) and on renewal (not internal); the CA sets
// the certificate's names.
func TestCSRRuleIsInvalid(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	token := h.registerDevice("csr-dev", "stm32f4-discovery", nil)
	d := newTestDevice(t, h, "csr-dev")
	for _, bad := range [][]byte{d.csrFor("someone-else"), d.csrFor("csr-dev", "evil.example"), {0x30, 0x00}} {
		if _, err := d.dial(nil); err != nil {
			t.Fatal(err)
		}
		id := d.send(&protocol.Enroll{Device: "csr-dev", Token: token, CSR: bad})
		if got, e := d.answer(); e == nil || e.Code != protocol.CodeInvalid || got != id {
			t.Fatalf("enroll with a bad CSR: id %d error %+v, want invalid for %d", got, e, id)
		}
		d.conn.Close()
	}
	// An empty subject is the CA's to set; the token was not spent above.
	d.cert = nil
	if _, err := d.dial(nil); err != nil {
		t.Fatal(err)
	}
	d.send(&protocol.Enroll{Device: "csr-dev", Token: token, CSR: d.csrFor("")})
	cert := expect[*protocol.Certificate](d)
	leaf, err := x509.ParseCertificate(cert.Chain[0])
	if err != nil || leaf.Subject.CommonName != "csr-dev" {
		t.Fatalf("certificate for an empty subject names %q (%v)", leaf.Subject.CommonName, err)
	}
	d.cert = &tls.Certificate{Certificate: cert.Chain, PrivateKey: d.key, Leaf: leaf}

	d.connect()
	id := d.send(&protocol.Renew{CSR: d.csrFor("someone-else")})
	if got, e := d.answer(); e == nil || e.Code != protocol.CodeInvalid || got != id {
		t.Fatalf("renew with another name: id %d error %+v, want invalid for %d", got, e, id)
	}
	d.send(&protocol.Renew{CSR: d.csr()})
	expect[*protocol.Certificate](d)
}

// frameOf frames a raw payload.
func frameOf(t *testing.T, payload []byte) []byte {
	b, err := protocol.AppendFrame(nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An error answering a message that does not decode carries its request id
// when it could be read; a CBOR item short of its whole frame is malformed
// and the session goes on; a frame cut in two records is waited for.
func TestErrorsEchoTheRequestID(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	d := newTestDevice(t, h, "ids")
	d.connect()
	heartbeat, err := protocol.Marshal(protocol.Envelope{RequestID: 77, Msg: &protocol.Heartbeat{Seq: 77}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what    string
		payload []byte
		code    protocol.ErrorCode
		id      uint64
	}{
		{"body not CBOR", []byte{0x83, 0x06, 0x19, 0x01, 0x2c, 0xff}, protocol.CodeMalformed, 300},
		{"unknown type", []byte{0x83, 0x18, 0x63, 0x07, 0xa0}, protocol.CodeUnsupported, 7},
		{"invalid hello", []byte{0x83, 0x01, 0x09, 0xa1, 0x06, 0x10}, protocol.CodeInvalid, 9},
		{"item short of its frame", heartbeat[:len(heartbeat)-2], protocol.CodeMalformed, 77},
		{"not an envelope", []byte{0xa1, 0x01, 0x02}, protocol.CodeMalformed, 0},
	} {
		d.conn.Write(frameOf(t, c.payload))
		if id, e := d.answer(); e == nil || e.Code != c.code || id != c.id {
			t.Fatalf("%s: id %d error %+v, want %s with id %d", c.what, id, e, c.code, c.id)
		}
	}
	// The session went on; a frame cut across two records is put together.
	whole := frameOf(t, heartbeat)
	d.conn.Write(whole[:5])
	d.conn.Write(whole[5:])
	if id, e := d.answer(); e != nil || id != 77 {
		t.Fatalf("heartbeat in two records: id %d error %+v", id, e)
	}

	// Before hello, and in an enrollment session, the same.
	first := rawSession(t, h)
	first.conn.Write(frameOf(t, []byte{0x83, 0x01, 0x19, 0x01, 0x2c, 0xff}))
	if id, e := first.answer(); e == nil || e.Code != protocol.CodeMalformed || id != 300 {
		t.Fatalf("undecodable first message: id %d error %+v, want malformed with id 300", id, e)
	}
	// A stream that ends inside a frame is over: nothing is answered.
	cut := rawSession(t, h)
	cut.conn.Write(frameOf(t, heartbeat)[:5])
	cut.conn.CloseWrite()
	if env, err := cut.recv(); err == nil {
		t.Fatalf("a frame cut by the end of the stream was answered: %#v", env.Msg)
	}
	e := newTestDevice(t, h, "enrolling")
	if _, err := e.dial(nil); err != nil {
		t.Fatal(err)
	}
	e.conn.Write(frameOf(t, []byte{0x83, 0x03, 0x05, 0xff}))
	if id, err := e.answer(); err == nil || err.Code != protocol.CodeMalformed || id != 5 {
		t.Fatalf("undecodable enroll: id %d error %+v, want malformed with id 5", id, err)
	}
	if _, err := e.recv(); err == nil {
		t.Fatal("enrollment session open after an undecodable enroll")
	}
}

// A hello naming another board than the registered one is refused, shown in
// the device's status and, once, as an event; the right board is admitted
// and clears the message.
func TestBoardMismatchRefused(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	d := newTestDevice(t, h, "boardy")
	d.connect()
	eventually(t, "device online", func() bool { return h.deviceStatus("boardy").Status.Phase == fleet.PhaseOnline })
	d.conn.Close()
	// The first session's end is handled on its own goroutine: wait for it,
	// so that "online" below can only come from a refused session.
	eventually(t, "device offline after its session closed", func() bool { return h.deviceStatus("boardy").Status.Phase != fleet.PhaseOnline })
	d.hello = helloWith(4096, "nano33ble")
	for range 2 {
		if _, err := d.dial(nil); !isCode(err, protocol.CodeForbidden) {
			t.Fatalf("hello from another board: %v, want forbidden", err)
		}
	}
	dev := h.deviceStatus("boardy")
	if want := "the device reports board nano33ble, registered as stm32f4-discovery"; !strings.Contains(dev.Status.Message, want) {
		t.Fatalf("status message %q, want it to say %q", dev.Status.Message, want)
	}
	if dev.Status.Phase == fleet.PhaseOnline {
		t.Fatal("a refused session made the device online")
	}
	if n := h.countEvents("device.board_mismatch", "boardy"); n != 1 {
		t.Fatalf("%d device.board_mismatch events for two refusals, want 1", n)
	}
	d.hello = nil
	if _, err := d.dial(nil); err != nil {
		t.Fatalf("hello with the registered board: %v", err)
	}
	eventually(t, "device online with its message cleared", func() bool {
		dev := h.deviceStatus("boardy")
		return dev.Status.Phase == fleet.PhaseOnline && dev.Status.Message == ""
	})
}
