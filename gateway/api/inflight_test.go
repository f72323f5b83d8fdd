package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// A request that finds every slot taken waits, then is answered 429 with
// Retry-After and the too_many_requests code; one freed meanwhile is taken.
func TestInFlightLimit(t *testing.T) {
	s := New(nil, nil, nil, func() []string { return nil }, []Token{{Name: "r", Role: RoleReader, Secret: "s3cret"}}, slog.New(slog.DiscardHandler))
	s.LimitInFlight(2, 50*time.Millisecond)
	for range 2 {
		if !s.inflight.acquire(context.Background()) {
			t.Fatal("a free slot was refused")
		}
	}
	r := httptest.NewRequest("GET", "/v1/gateways", nil)
	r.Header.Set("Authorization", "Bearer s3cret")
	w := httptest.NewRecorder()
	t0 := time.Now()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("with every slot taken: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if waited := time.Since(t0); waited < 50*time.Millisecond {
		t.Errorf("answered 429 after %v, before its wait of 50ms", waited)
	}
	var p apiv1.ErrorResponse
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code != apiv1.CodeTooManyRequests || p.Status != 429 {
		t.Fatalf("problem %+v (%v)", p, err)
	}
	// A slot freed while a request waits goes to it.
	s.LimitInFlight(1, time.Minute)
	s.inflight.acquire(context.Background())
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.inflight.release()
	}()
	if !s.inflight.acquire(context.Background()) {
		t.Fatal("a slot freed during the wait was not taken")
	}
}
