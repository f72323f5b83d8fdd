package api

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// call sends a request with bearer token and returns the recorded answer.
func call(s *Server, token, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func mint(t *testing.T, s *Server, body string) apiv1.APITokenSecret {
	t.Helper()
	w := call(s, "s3cret", "POST", "/v1/api-tokens", body)
	if w.Code != http.StatusCreated {
		t.Fatalf("mint %s: %d %s", body, w.Code, w.Body)
	}
	var out apiv1.APITokenSecret
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// expect checks each request's status: what each role may do.
func expect(t *testing.T, s *Server, token string, cases ...any) {
	t.Helper()
	for i := 0; i+3 < len(cases)+1; i += 4 {
		method, path, body, want := cases[i].(string), cases[i+1].(string), cases[i+2].(string), cases[i+3].(int)
		if w := call(s, token, method, path, body); w.Code != want {
			t.Errorf("%s %s with %.12s...: %d %s, want %d", method, path, token, w.Code, strings.TrimSpace(w.Body.String()), want)
		}
	}
}

func TestAPITokenRoles(t *testing.T) {
	s := contractServer(t)
	op := mint(t, s, `{"name":"ci","role":"operator","description":"pipeline"}`)
	rd := mint(t, s, `{"name":"dash","role":"reader"}`)
	if !strings.HasPrefix(op.Token, "wba_ci.") || op.APIToken.Role != "operator" || op.APIToken.Description != "pipeline" {
		t.Fatalf("minted %+v", op)
	}
	// reader: reads; operator: also the fleet; admin: also gateways, API
	// tokens and the audit log.
	expect(t, s, rd.Token,
		"GET", "/v1/devices", "", 200,
		"DELETE", "/v1/applications/a1", "", 403,
		"GET", "/v1/audit", "", 403,
		"GET", "/v1/api-tokens", "", 403)
	expect(t, s, op.Token,
		"GET", "/v1/devices", "", 200,
		"DELETE", "/v1/applications/a1", "", 404, // allowed: there is none
		"PUT", "/v1/gateways/g1", `{"capacity":1}`, 403,
		"POST", "/v1/api-tokens", `{"name":"more","role":"admin"}`, 403,
		"GET", "/v1/audit", "", 403)
	expect(t, s, "wba_ci.0000", "GET", "/v1/devices", "", 401)
	expect(t, s, "wba_nobody."+strings.Repeat("0", 64), "GET", "/v1/devices", "", 401)

	// A role change takes effect at the next request.
	if w := call(s, "s3cret", "PATCH", "/v1/api-tokens/dash", `{"role":"operator"}`); w.Code != 200 || !strings.Contains(w.Body.String(), `"role":"operator"`) {
		t.Fatalf("patch: %d %s", w.Code, w.Body)
	}
	expect(t, s, rd.Token, "DELETE", "/v1/applications/a1", "", 404)

	// Who did what: the audit log names the token.
	expect(t, s, op.Token, "PUT", "/v1/devices/d1", `{"board":"linux"}`, 201)
	w := call(s, "s3cret", "GET", "/v1/audit", "")
	var audit apiv1.AuditList
	json.Unmarshal(w.Body.Bytes(), &audit)
	var actors []string
	for _, a := range audit.Audit {
		actors = append(actors, a.Actor+" "+a.Action+" "+a.Object)
	}
	for _, want := range []string{"admin create apitoken/ci", "admin update apitoken/dash", "ci create device/d1"} {
		if !strings.Contains(strings.Join(actors, "\n"), want) {
			t.Errorf("audit %q lacks %q", actors, want)
		}
	}

	// Listing never shows a secret or its hash.
	w = call(s, "s3cret", "GET", "/v1/api-tokens", "")
	if w.Code != 200 || strings.Contains(w.Body.String(), "hash") || strings.Contains(w.Body.String(), op.Token[len("wba_ci."):]) {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	var list apiv1.APITokenList
	json.Unmarshal(w.Body.Bytes(), &list)
	if len(list.APITokens) != 2 || list.APITokens[0].Name != "ci" || list.APITokens[1].Name != "dash" {
		t.Errorf("list: %+v", list)
	}

	// The gateway's own tokens' names are taken; names are unique; bad
	// input is refused.
	expect(t, s, "s3cret",
		"POST", "/v1/api-tokens", `{"name":"admin","role":"reader"}`, 409,
		"POST", "/v1/api-tokens", `{"name":"ci","role":"reader"}`, 409,
		"POST", "/v1/api-tokens", `{"name":"x","role":"root"}`, 400,
		"POST", "/v1/api-tokens", `{"name":"x y","role":"reader"}`, 400,
		"POST", "/v1/api-tokens", `{"name":"x","role":"reader","ttl_seconds":63072001}`, 400,
		"PATCH", "/v1/api-tokens/nobody", `{"role":"reader"}`, 404,
		"POST", "/v1/api-tokens/nobody/rotate", "", 404)
}

func TestAPITokenRotationAndRevocation(t *testing.T) {
	s := contractServer(t)
	first := mint(t, s, `{"name":"ci","role":"operator"}`)

	// Without grace the old secret is refused at once.
	w := call(s, "s3cret", "POST", "/v1/api-tokens/ci/rotate", "")
	var second apiv1.APITokenSecret
	if json.Unmarshal(w.Body.Bytes(), &second); w.Code != 200 || second.Token == first.Token || second.APIToken.RotatedAt.IsZero() {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}
	expect(t, s, first.Token, "GET", "/v1/devices", "", 401)
	expect(t, s, second.Token, "GET", "/v1/devices", "", 200)

	// With grace both are accepted until the grace ends.
	w = call(s, "s3cret", "POST", "/v1/api-tokens/ci/rotate", `{"grace_seconds":3600}`)
	var third apiv1.APITokenSecret
	json.Unmarshal(w.Body.Bytes(), &third)
	if w.Code != 200 || third.APIToken.PreviousValidUntil.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("rotate with grace: %d %s", w.Code, w.Body)
	}
	expect(t, s, second.Token, "GET", "/v1/devices", "", 200)
	expect(t, s, third.Token, "GET", "/v1/devices", "", 200)

	// Revoked: refused from the next request on, and an open watch ends.
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/watch", nil)
	req.Header.Set("Authorization", "Bearer "+third.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("watch: %v %v", err, resp)
	}
	defer resp.Body.Close()
	expect(t, s, "s3cret", "DELETE", "/v1/api-tokens/ci", "", 204)
	expect(t, s, third.Token, "GET", "/v1/devices", "", 401)
	expect(t, s, second.Token, "GET", "/v1/devices", "", 401)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
	}
	if ctx.Err() != nil {
		t.Fatal("the watch of a revoked token did not end")
	}
}

func TestAPITokenAccepts(t *testing.T) {
	now := time.Now()
	secret, hash := fleet.NewAPITokenSecret("a.b")
	if fleet.APITokenName(secret) != "a.b" || fleet.APITokenName("wba_") != "" || fleet.APITokenName("bearer") != "" {
		t.Fatalf("APITokenName(%q) = %q", secret, fleet.APITokenName(secret))
	}
	tok := fleet.APIToken{Name: "a.b", Role: fleet.RoleReader, Hash: hash, ExpiresAt: now.Add(time.Hour)}
	if !tok.Accepts(secret, now) || tok.Accepts(secret, now.Add(time.Hour)) || tok.Accepts(secret+"0", now) {
		t.Fatal("Accepts: current secret, expiry, wrong secret")
	}
	other := fleet.APIToken{Name: "a", Hash: hash}
	if other.Accepts(secret, now) {
		t.Fatal("a secret of token a.b accepted for token a")
	}
	newSecret, newHash := fleet.NewAPITokenSecret("a.b")
	rotated := fleet.APIToken{Name: "a.b", Hash: newHash, PreviousHash: hash, PreviousUntil: now.Add(time.Minute)}
	if !rotated.Accepts(newSecret, now) || !rotated.Accepts(secret, now) || rotated.Accepts(secret, now.Add(time.Minute)) {
		t.Fatal("Accepts after a rotation with grace")
	}
}

func TestIdempotencyKeys(t *testing.T) {
	s := contractServer(t)
	body := `{"name":"ci","role":"operator"}`
	a := call(s, "s3cret", "POST", "/v1/api-tokens", body, "Idempotency-Key", "k1")
	b := call(s, "s3cret", "POST", "/v1/api-tokens", body, "Idempotency-Key", "k1")
	if a.Code != 201 || b.Code != 201 || a.Body.String() != b.Body.String() || b.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s / %d %s %v", a.Code, a.Body, b.Code, b.Body, b.Header())
	}
	// The key for another body, a key that is not visible ASCII.
	expectWith := func(body, key string, want int) {
		t.Helper()
		hdr := []string{"Idempotency-Key", key}
		if key == "-" { // none
			hdr = nil
		}
		if w := call(s, "s3cret", "POST", "/v1/api-tokens", body, hdr...); w.Code != want {
			t.Errorf("key %q body %s: %d %s, want %d", key, body, w.Code, w.Body, want)
		}
	}
	expectWith(`{"name":"ci2","role":"operator"}`, "k1", 422)
	expectWith(`{"name":"ci2","role":"operator"}`, "k 2", 400)
	expectWith(`{"name":"ci2","role":"operator"}`, "", 400)
	// Without the key, the same request mints again (here: the name is taken).
	expectWith(body, "-", 409)
	// Keys are per token: the same key from another token is another request.
	op := mint(t, s, `{"name":"admin2","role":"admin"}`)
	if w := call(s, op.Token, "POST", "/v1/api-tokens", body, "Idempotency-Key", "k1"); w.Code != 409 {
		t.Errorf("another token's key: %d %s", w.Code, w.Body)
	}
	// A failed request does not hold its key.
	expectWith(`{"name":"bad","role":"root"}`, "k3", 400)
	expectWith(`{"name":"bad","role":"root"}`, "k3", 400)

	// A rotation replayed rotates once: the secret answered works.
	r1 := call(s, "s3cret", "POST", "/v1/api-tokens/ci/rotate", "", "Idempotency-Key", "r1")
	r2 := call(s, "s3cret", "POST", "/v1/api-tokens/ci/rotate", "", "Idempotency-Key", "r1")
	var sec apiv1.APITokenSecret
	json.Unmarshal(r2.Body.Bytes(), &sec)
	if r1.Body.String() != r2.Body.String() {
		t.Fatalf("rotation replay: %s / %s", r1.Body, r2.Body)
	}
	expect(t, s, sec.Token, "GET", "/v1/devices", "", 200)
}

// The Go client retries a minting request whose answer was lost with the
// same Idempotency-Key: one token minted, its secret received.
func TestClientRetriesMintWithItsKey(t *testing.T) {
	s := contractServer(t)
	var requests, keys []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.Method+" "+r.URL.Path)
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if len(requests) == 1 { // served, then the answer is lost
			s.ServeHTTP(httptest.NewRecorder(), r)
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		s.ServeHTTP(w, r)
	}))
	defer srv.Close()
	srv.Config.SetKeepAlivesEnabled(false)
	u, _ := url.Parse(srv.URL)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := apiv1.NewClient(u, "s3cret", pool)
	got, err := c.CreateAPIToken(context.Background(), apiv1.APITokenRequest{Name: "ci", Role: fleet.RoleOperator})
	if err != nil {
		t.Fatalf("CreateAPIToken: %v (requests %v)", err, requests)
	}
	if len(requests) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("requests %v keys %v: want one retry with the same key", requests, keys)
	}
	expect(t, s, got.Token, "GET", "/v1/devices", "", 200)
	if list, err := c.ListAPITokens(context.Background()); err != nil || len(list) != 1 {
		t.Fatalf("tokens after the retry: %v %v", list, err)
	}
}

// A deleted token's mint is not replayed: the key mints again.
func TestIdempotencyForgetsDeleted(t *testing.T) {
	s := contractServer(t)
	body := `{"name":"ci","role":"operator"}`
	a := call(s, "s3cret", "POST", "/v1/api-tokens", body, "Idempotency-Key", "k1")
	expect(t, s, "s3cret", "DELETE", "/v1/api-tokens/ci", "", 204)
	b := call(s, "s3cret", "POST", "/v1/api-tokens", body, "Idempotency-Key", "k1")
	if a.Code != 201 || b.Code != 201 || b.Header().Get("Idempotent-Replayed") != "" || a.Body.String() == b.Body.String() {
		t.Fatalf("after the delete: %d %s / %d %s", a.Code, a.Body, b.Code, b.Body)
	}
	expect(t, s, "s3cret", "GET", "/v1/api-tokens/ci", "", 200)
}
