package api

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The API accepts W3C trace context: a request with traceparent (and
// tracestate) is a server span, child of the caller's, named by its route,
// with the status and the token's name, never its secret; the access log
// line has the trace id. A request without one starts a trace.
func TestRequestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	var logs bytes.Buffer
	s := New(nil, nil, nil, func() []string { return nil }, []Token{{Name: "ci-bot", Role: RoleReader, Secret: "s3cret-value"}},
		slog.New(slog.NewTextHandler(&logs, nil)))
	// Without a gateway the server's spans come from the global provider:
	// this one records them instead.
	s.tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	r := httptest.NewRequest("GET", "/v1/whoami", nil)
	r.Header.Set("Authorization", "Bearer s3cret-value")
	r.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	r.Header.Set("tracestate", "vendor=opaque")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("whoami: %d %s", w.Code, w.Body)
	}
	r = httptest.NewRequest("GET", "/v1/nothing-here", nil)
	s.ServeHTTP(httptest.NewRecorder(), r)

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("want 2 spans, got %d", len(spans))
	}
	sp := spans[0]
	if sp.Name() != "GET /v1/whoami" || sp.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want GET /v1/whoami, server", sp.Name(), sp.SpanKind())
	}
	if got := sp.Parent(); !got.IsRemote() || got.TraceID().String() != traceID || got.SpanID().String() != parentID {
		t.Errorf("parent %v, want the caller's %s/%s", got, traceID, parentID)
	}
	if got := sp.SpanContext().TraceState().Get("vendor"); got != "opaque" {
		t.Errorf("tracestate vendor=%q, want opaque", got)
	}
	attrs := map[attribute.Key]string{}
	for _, kv := range sp.Attributes() {
		attrs[kv.Key] = kv.Value.Emit()
		if strings.Contains(kv.Value.Emit(), "s3cret") {
			t.Errorf("attribute %s holds the token's secret", kv.Key)
		}
	}
	for k, want := range map[attribute.Key]string{"http.route": "/v1/whoami", "http.request.method": "GET",
		"http.response.status_code": "200", "wasmbed.token": "ci-bot"} {
		if attrs[k] != want {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], want)
		}
	}
	if !strings.Contains(logs.String(), "trace_id="+traceID) {
		t.Errorf("access log lacks the trace id:\n%s", logs.String())
	}
	un := spans[1]
	if un.Parent().IsValid() || un.Name() != "GET unrouted" || un.SpanContext().TraceID().String() == traceID {
		t.Errorf("a request without trace context: span %q parent %v trace %s, want a new trace", un.Name(), un.Parent(), un.SpanContext().TraceID())
	}
}

// With tracing off (the global tracer provider, none installed) the access
// log still names the trace a request carried.
func TestRequestTraceIDLoggedWhenOff(t *testing.T) {
	var logs bytes.Buffer
	s := New(nil, nil, nil, func() []string { return nil }, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	r := httptest.NewRequest("GET", "/v1/nothing-here", nil)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	s.ServeHTTP(httptest.NewRecorder(), r)
	if !strings.Contains(logs.String(), "trace_id=4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Errorf("access log lacks the trace id:\n%s", logs.String())
	}
}
