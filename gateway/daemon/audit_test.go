package daemon

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// The writes the gateway makes for an API action are audited with the one
// that is the action (a token's creation, a certificate's entry in the
// ledger, its revocation, each token deleted), naming the object and what
// changed, never a secret: neither the token's secret nor its hash, nor
// the CSR. Every entry reaches the audit file in the data directory.
func TestAuditOfGatewayActions(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	h.must(http.StatusCreated, "PUT", "/v1/devices/d1", map[string]any{"board": "stm32f4-discovery"}, nil)
	var tok apiv1.TokenResponse
	h.must(http.StatusCreated, "POST", "/v1/devices/d1/tokens", nil, &tok)
	secret := tok.Token[strings.LastIndexByte(tok.Token, '_')+1:]
	sum := sha256.Sum256([]byte(secret))
	d := newTestDevice(t, h, "d1")
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: d.csr()}))
	var cert apiv1.CertificateResponse
	h.must(http.StatusCreated, "POST", "/v1/certificates", map[string]any{"csr_pem": csrPEM, "device": "d1"}, &cert)
	h.must(http.StatusOK, "POST", "/v1/certificates/"+cert.Serial+"/revoke", map[string]any{"reason": "lost"}, nil)
	h.must(http.StatusNoContent, "DELETE", "/v1/devices/d1/tokens", nil, nil)

	var raw json.RawMessage
	h.must(http.StatusOK, "GET", "/v1/audit?after=0", nil, &raw)
	for _, secretText := range []string{secret, hex.EncodeToString(sum[:]), "CERTIFICATE REQUEST"} {
		if secretText != "" && bytes.Contains(raw, []byte(secretText)) {
			t.Fatalf("the audit log holds %q: %s", secretText, raw)
		}
	}
	var l apiv1.AuditList
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range l.Audit {
		got = append(got, r.Action+" "+r.Object)
	}
	want := []string{"create device/d1", "create token/" + tok.ID, "sign certificate/" + cert.Serial,
		"revoke certificate/" + cert.Serial, "delete token/" + tok.ID}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("audit log:\n got %q\nwant %q", got, want)
	}
	changes := func(r fleet.AuditRecord) map[string]fleet.FieldChange {
		m := map[string]fleet.FieldChange{}
		for _, c := range r.Changes {
			m[c.Field] = c
		}
		return m
	}
	if c := changes(l.Audit[1]); !c["hash"].Redacted || c["hash"].New != nil || string(c["device"].New) != `"d1"` {
		t.Errorf("token creation's changes: %+v", l.Audit[1].Changes)
	}
	if c := changes(l.Audit[2]); string(c["state"].New) != `"current"` || string(c["device"].New) != `"d1"` {
		t.Errorf("signature's changes: %+v", l.Audit[2].Changes)
	}
	if c := changes(l.Audit[3]); string(c["state"].Old) != `"current"` || string(c["state"].New) != `"revoked"` || string(c["reason"].New) != `"lost"` {
		t.Errorf("revocation's changes: %+v", l.Audit[3].Changes)
	}
	for _, r := range l.Audit {
		if r.Actor != "admin" || r.Source != "127.0.0.1" || r.RequestID == "" {
			t.Errorf("entry %d: actor %q source %q request id %q", r.Seq, r.Actor, r.Source, r.RequestID)
		}
	}
	eventually(t, "the audit file holds every entry", func() bool {
		b, _ := os.ReadFile(filepath.Join(h.dir, AuditFile))
		n := 0
		for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); n++ {
			var r fleet.AuditRecord
			if json.Unmarshal(sc.Bytes(), &r) != nil || r.Seq != uint64(n+1) || r.Object != l.Audit[min(n, len(l.Audit)-1)].Object {
				return false
			}
		}
		return n == len(l.Audit)
	})
}
