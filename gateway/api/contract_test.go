package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/boltstore"
	"github.com/wasmbed/wasmbed/gateway/apischema"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// What `make contract-test` (schemathesis) found, one case each: the server
// refuses what the document refuses (400), answers 422 for a rule the schema
// cannot state, and 405 with the path's own methods.

// contractServer is a Server over an embedded store, without a gateway:
// enough for the routes that only read and write the store.
func contractServer(t *testing.T) *Server {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, nil, nil, board.Names, []Token{{Name: "admin", Role: RoleAdmin, Secret: "s3cret"}}, slog.New(slog.DiscardHandler))
}

// do sends a request with the admin token and returns the status, the
// headers and the problem, if the answer is one.
func do(s *Server, method, path, body string, hdr ...string) (int, http.Header, apiv1.ErrorResponse) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Authorization", "Bearer s3cret")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var p apiv1.ErrorResponse
	if w.Header().Get("Content-Type") == "application/problem+json" {
		json.Unmarshal(w.Body.Bytes(), &p)
	}
	return w.Code, w.Header(), p
}

func TestRequestsCheckedAgainstTheDocument(t *testing.T) {
	s := contractServer(t)
	cases := []struct {
		name, method, path, body string
		status                   int
		code, detail             string
	}{
		// Go's decoder reads null as the zero value: the schema says a string,
		// an integer, an object.
		{"null label value", "PUT", "/v1/gateways/g1", `{"addresses":[],"labels":{"x":null}}`, 400, apiv1.CodeInvalid, "labels.x"},
		{"null capacity", "PUT", "/v1/gateways/g1", `{"capacity":null}`, 400, apiv1.CodeInvalid, "capacity"},
		{"null body", "PUT", "/v1/gateways/g1", `null`, 400, apiv1.CodeInvalid, "null"},
		{"module as a list", "POST", "/v1/modules/check", `{"module":[null,null]}`, 400, apiv1.CodeInvalid, "module"},
		{"unknown board", "PUT", "/v1/devices/d1", `{"board":"z80"}`, 400, apiv1.CodeInvalid, `"z80": unknown`},
		{"unknown field", "PUT", "/v1/devices/d1", `{"board":"linux","bord":1}`, 400, apiv1.CodeInvalid, `unknown field "bord"`},
		{"trailing data", "PUT", "/v1/devices/d1", `{"board":"linux"} {}`, 400, apiv1.CodeInvalid, "data after"},
		{"address without a port", "PUT", "/v1/gateways/g1", `{"addresses":["gw.example.com"]}`, 400, apiv1.CodeInvalid, "addresses.0"},
		{"port above 65535", "PUT", "/v1/gateways/g1", `{"addresses":["h:99999"]}`, 400, apiv1.CodeInvalid, "addresses.0"},
		{"port 0", "PUT", "/v1/gateways/g1", `{"addresses":["h:8081","h:0"]}`, 400, apiv1.CodeInvalid, "addresses.1"},
		{"address twice", "PUT", "/v1/gateways/g1", `{"addresses":["h:8081","h:8081"]}`, 400, apiv1.CodeInvalid, "addresses"},
		{"ttl over 30 days", "POST", "/v1/devices/d1/tokens", `{"ttl_seconds":2592001}`, 400, apiv1.CodeInvalid, "30 days"},
		{"integer past 2^53", "PUT", "/v1/applications/a1", `{"version":"1","sha256":"` + strings.Repeat("0", 64) + `","limits":{"fuel":9007199254740993}}`, 400, apiv1.CodeInvalid, "limits.fuel"},
		{"bad name in the path", "GET", "/v1/devices/bad%20name", "", 400, apiv1.CodeInvalid, "path name"},
		{"unknown rollout action", "POST", "/v1/applications/a1/rollout/undo", "", 404, apiv1.CodeNotFound, "want pause, resume, abort or promote"},
		// What the schema cannot state: 422.
		{"label key", "PUT", "/v1/devices/d1", `{"board":"linux","labels":{"bad key":"v"}}`, 422, apiv1.CodeUnprocessable, "label key"},
		{"rollout across fields", "PUT", "/v1/applications/a1", `{"version":"1","sha256":"` + strings.Repeat("0", 64) + `","rollout":{"strategy":"batched"}}`, 422, apiv1.CodeUnprocessable, "max_unavailable"},
		{"module not stored", "PUT", "/v1/applications/a1", `{"version":"1","sha256":"` + strings.Repeat("0", 64) + `"}`, 422, apiv1.CodeUnprocessable, "no such module"},
		{"neither sha256 nor module", "POST", "/v1/modules/check", `{}`, 422, apiv1.CodeUnprocessable, "give sha256 or module"},
		{"inline module not wasm", "POST", "/v1/modules/check", `{"module":"AAECAw=="}`, 422, apiv1.CodeModuleRejected, "asm"},
		// Query parameters.
		{"empty limit", "GET", "/v1/devices?limit=", "", 400, apiv1.CodeInvalid, "limit"},
		{"unknown phase", "GET", "/v1/devices?phase=lost", "", 400, apiv1.CodeInvalid, "phase"},
		{"object over 256 characters", "GET", "/v1/events?object=" + strings.Repeat("é", 257), "", 400, apiv1.CodeInvalid, "object"},
		{"object of 256 characters", "GET", "/v1/events?object=" + strings.Repeat("é", 256), "", 200, "", ""},
		{"empty phase", "GET", "/v1/devices?phase=", "", 400, apiv1.CodeInvalid, "phase"},
		{"label filter without =", "GET", "/v1/devices?label=x", "", 400, apiv1.CodeInvalid, "key=value"},
		{"continue of a length base64 cannot have", "GET", "/v1/gateways?continue=0", "", 400, apiv1.CodeInvalid, "continue"},
		{"huge limit is cut", "GET", "/v1/gateways?limit=17504838998863353737117696", "", 200, "", ""},
		{"huge after", "GET", "/v1/events?after=9223372036854775808", "", 200, "", ""},
		// JSON Schema 2020-12 (OpenAPI 3.1): 813.0 and 8.13e2 are integers.
		{"integer with a fraction", "PUT", "/v1/gateways/g2", `{"capacity":813.0}`, 201, "", ""},
		{"integer with an exponent", "PUT", "/v1/gateways/g2", `{"capacity":8.13e2}`, 200, "", ""},
		{"integer with a nonzero fraction", "PUT", "/v1/gateways/g1", `{"capacity":813.5}`, 400, apiv1.CodeInvalid, "capacity"},
	}
	for _, c := range cases {
		status, _, p := do(s, c.method, c.path, c.body)
		if status != c.status || p.Code != c.code || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: %d %s %q, want %d %s with %q", c.name, status, p.Code, p.Detail, c.status, c.code, c.detail)
		}
	}
	// Nothing refused was stored.
	if status, _, _ := do(s, "GET", "/v1/gateways/g1", ""); status != 404 {
		t.Errorf("a refused gateway was stored: %d", status)
	}
}

// A path a literal route has is that route's only: DELETE /v1/modules/check
// is not the deletion of module "check" (the DELETE /v1/modules/{sha256}
// route), and the Allow of the path is the check's.
func TestLiteralPathsAreTheirRoutesOnly(t *testing.T) {
	s := contractServer(t)
	for _, m := range []string{"DELETE", "OPTIONS", "GET"} {
		status, hdr, p := do(s, m, "/v1/modules/check", "")
		if status != 405 || hdr.Get("Allow") != "POST" || p.Code != apiv1.CodeMethodNotAllowed {
			t.Errorf("%s /v1/modules/check: %d Allow %q %+v", m, status, hdr.Get("Allow"), p)
		}
	}
	if status, hdr, _ := do(s, "PATCH", "/v1/devices/d1", ""); status != 405 || hdr.Get("Allow") != "GET, PUT, DELETE" {
		t.Errorf("PATCH /v1/devices/d1: %d Allow %q", status, hdr.Get("Allow"))
	}
}

// If-Match is a list of entity tags (RFC 9110), compared strongly.
func TestIfMatchList(t *testing.T) {
	s := contractServer(t)
	if status, _, p := do(s, "PUT", "/v1/gateways/g1", `{"capacity":1}`); status != 201 {
		t.Fatalf("create: %d %+v", status, p)
	}
	_, hdr, _ := do(s, "GET", "/v1/gateways/g1", "")
	etag := hdr.Get("ETag")
	for _, c := range []struct {
		ifMatch string
		status  int
	}{
		{`"0", ` + etag, 200},
		{"*", 200},
		{"W/" + etag, 412},
		{`"0", W/""`, 412},
	} {
		if status, _, p := do(s, "PUT", "/v1/gateways/g1", `{"capacity":1}`, "If-Match", c.ifMatch); status != c.status {
			t.Errorf("If-Match %s: %d %+v, want %d", c.ifMatch, status, p, c.status)
		}
		_, hdr, _ = do(s, "GET", "/v1/gateways/g1", "")
		etag = hdr.Get("ETag")
	}
}

func TestIntegralNumbers(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":813.0,"b":[8.13e2,-0.0,1e0]}`:     `{"a":813,"b":[813,0,1]}`,
		`{"a":1.5,"b":1e300,"c":"1.0"}`:         `{"a":1.5,"b":1e300,"c":"1.0"}`, // kept as written
		`{"a":9007199254740991.0}`:              `{"a":9007199254740991}`,
		`{"a":9007199254740993.0,"s":"x.y"}`:    `{"a":9007199254740993.0,"s":"x.y"}`,
		`{"s":"e"}`:                             `{"s":"e"}`,
		`{"a":`:                                 `{"a":`,
		`{"a":2.50E1,"n":null,"t":true,"o":{}}`: `{"a":25,"n":null,"o":{},"t":true}`,
	} {
		if got := string(integralNumbers([]byte(in))); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	// A body that needs no rewriting is the same bytes.
	raw := []byte(`{"b":1.5, "a":1}`)
	if got := integralNumbers(raw); &got[0] != &raw[0] {
		t.Error("a body without integral fractions was copied")
	}
}

func TestParseCount(t *testing.T) {
	for v, want := range map[string]int{"0": 0, "7": 7, "99999999999999999999999": math.MaxInt} {
		if n, err := parseCount("q", v); err != nil || n != want {
			t.Errorf("%q: %d %v", v, n, err)
		}
	}
	for _, v := range []string{"", "-1", "1.5", "0x10", "+3", " 1"} {
		if _, err := parseCount("q", v); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

// The document's bounds are the server's constants, and every integer of a
// request body is one a JSON client reads exactly.
func TestDocumentBounds(t *testing.T) {
	s := New(nil, nil, nil, board.Names, nil, slog.Default())
	body := func(pattern string) *openapi3.Schema { return s.inputs[pattern].body }
	if max := *body("POST /v1/devices/{name}/tokens").Properties["ttl_seconds"].Value.Max; max != apiv1.MaxTokenTTLSeconds {
		t.Errorf("token ttl_seconds maximum %v, want %d", max, apiv1.MaxTokenTTLSeconds)
	}
	if max := *body("POST /v1/certificates").Properties["ttl_seconds"].Value.Max; max != apiv1.MaxCertTTLSeconds {
		t.Errorf("certificate ttl_seconds maximum %v, want %d", max, apiv1.MaxCertTTLSeconds)
	}
	rollout := body("PUT /v1/applications/{name}").Properties["rollout"].Value
	if max := *rollout.Properties["steps"].Value.MaxItems; max != fleet.MaxRolloutSteps {
		t.Errorf("rollout steps maxItems %d, want %d", max, fleet.MaxRolloutSteps)
	}
	var walk func(at string, s *openapi3.Schema)
	walk = func(at string, sc *openapi3.Schema) {
		if sc == nil {
			return
		}
		if sc.Type.Includes("integer") && (sc.Max == nil || *sc.Max > apischema.MaxJSONInteger || sc.Min == nil || *sc.Min < -apischema.MaxJSONInteger) {
			t.Errorf("%s: integer without bounds within 2^53", at)
		}
		for name, p := range sc.Properties {
			walk(at+"."+name, p.Value)
		}
		if sc.Items != nil {
			walk(at+"[]", sc.Items.Value)
		}
	}
	for pattern, in := range s.inputs {
		walk(pattern, in.body)
	}
}

// ?gateway= lists the devices assigned to a gateway, paged like the rest.
func TestDevicesByGateway(t *testing.T) {
	s := contractServer(t)
	for _, d := range []struct{ name, gw string }{{"d1", "north"}, {"d2", "south"}, {"d3", "north"}, {"d4", ""}} {
		if st, _, p := do(s, "PUT", "/v1/devices/"+d.name, `{"board":"linux","gateway":"`+d.gw+`"}`); st != 201 {
			t.Fatalf("put %s: %d %+v", d.name, st, p)
		}
	}
	names := func(path string) []string {
		w := call(s, "s3cret", "GET", path, "")
		var l apiv1.DeviceList
		if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		var out []string
		for _, d := range l.Devices {
			out = append(out, d.Name)
		}
		if l.Continue != "" {
			out = append(out, "...")
		}
		return out
	}
	if got := strings.Join(names("/v1/devices?gateway=north"), " "); got != "d1 d3" {
		t.Errorf("?gateway=north: %s", got)
	}
	if got := strings.Join(names("/v1/devices?gateway=north&limit=1"), " "); got != "d1 ..." {
		t.Errorf("?gateway=north&limit=1: %s", got)
	}
	if got := names("/v1/devices?gateway=east"); len(got) != 0 {
		t.Errorf("?gateway=east: %v", got)
	}
	if got := strings.Join(names("/v1/devices?prefix=d"), " "); got != "d1 d2 d3 d4" {
		t.Errorf("?prefix=d: %s", got)
	}
	if got := strings.Join(names("/v1/devices?prefix=d3"), " "); got != "d3" {
		t.Errorf("?prefix=d3: %s", got)
	}
	if got := strings.Join(names("/v1/devices?prefix=north"), " "); got != "" { // a gateway's name, not a device's
		t.Errorf("?prefix=north: %s", got)
	}
	if st, _, p := do(s, "GET", "/v1/devices?gateway=no%20such", ""); st != 400 {
		t.Errorf("?gateway with a space: %d %+v", st, p)
	}
}

func TestWhoAmIAndSummary(t *testing.T) {
	s := contractServer(t)
	w := call(s, "s3cret", "GET", "/v1/whoami", "")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"name":"admin","role":"admin"}` {
		t.Fatalf("whoami: %d %s", w.Code, w.Body)
	}
	for _, d := range []struct{ name, board, gw string }{{"a", "linux", "g1"}, {"b", "linux", ""}, {"c", "mps2-an386", "g1"}} {
		do(s, "PUT", "/v1/devices/"+d.name, `{"board":"`+d.board+`","gateway":"`+d.gw+`"}`)
	}
	w = call(s, "s3cret", "GET", "/v1/summary", "")
	var sum apiv1.Summary
	if err := json.Unmarshal(w.Body.Bytes(), &sum); err != nil || w.Code != 200 {
		t.Fatalf("summary: %d %s", w.Code, w.Body)
	}
	if sum.Devices != 3 || sum.ByPhase["registered"] != 3 || sum.ByBoard["linux"] != 2 || sum.ByGateway["g1"] != 2 || sum.ByGateway[""] != 1 {
		t.Errorf("summary: %+v", sum)
	}
}
