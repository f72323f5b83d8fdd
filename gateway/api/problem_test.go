package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// A 500 names a ref the log has, never the error's own words (they may name
// paths, addresses, internals).
func TestInternalErrorsKeepTheirWordsInTheLog(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	rec := httptest.NewRecorder()
	s.fail(rec, httptest.NewRequest("GET", "/v1/devices", nil), errors.New("open /var/lib/wasmbed/store.db: permission denied"))
	var p apiv1.ErrorResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusInternalServerError || p.Code != apiv1.CodeInternal || strings.Contains(rec.Body.String(), "store.db") {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	ref := p.Detail[strings.LastIndex(p.Detail, " ")+1:]
	if len(ref) != 12 || !strings.Contains(logs.String(), "ref="+ref) || !strings.Contains(logs.String(), "store.db") {
		t.Fatalf("ref %q not in the log with the error: %s", ref, logs.String())
	}
}
