package api

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// One log line per request: its id, from where, what, the answer and how long
// (the token's name too once authenticated; a Server without a gateway here
// cannot authenticate).
func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	s := New(nil, nil, nil, func() []string { return nil }, []Token{{Name: "ci-bot", Role: RoleReader, Secret: "s3cret"}},
		slog.New(slog.NewTextHandler(&logs, nil)))
	r := httptest.NewRequest("GET", "/v1/gateways/x/nothing", nil)
	r.Header.Set("X-Request-ID", "req-7")
	s.ServeHTTP(httptest.NewRecorder(), r)
	r = httptest.NewRequest("PATCH", "/v1/gateways/x", nil)
	s.ServeHTTP(httptest.NewRecorder(), r)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var access []string
	for _, l := range lines {
		if strings.Contains(l, "msg=request ") {
			access = append(access, l)
		}
	}
	if len(access) != 2 {
		t.Fatalf("want 2 access lines, got %q", lines)
	}
	for _, want := range []string{"id=req-7", "route=unrouted", "status=404", "method=GET", "source=192.0.2.1:1234", "ms="} {
		if !strings.Contains(access[0], want) {
			t.Errorf("first line lacks %s: %s", want, access[0])
		}
	}
	for _, want := range []string{"method=PATCH", "status=405", "id="} {
		if !strings.Contains(access[1], want) {
			t.Errorf("second line lacks %s: %s", want, access[1])
		}
	}
}
