package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/wasmbed/wasmbed/tracing"
)

// Every request is logged once, when it ends (slog, "request": id, token
// name, source, method, path, route, status, duration, and the trace id
// when it has one), traced (a server span), counted and timed
// by route in the gateway's metrics, and carries an X-Request-ID: the
// client's (up to 64 printable characters), else a new one, echoed in the
// answer.

type requestInfo struct {
	id     string // X-Request-ID
	token  string // the authenticated token's name, once known
	audits []auditAttempt
}

type requestInfoKey struct{}

// httpMetrics are the API's request metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_http_requests_total",
			Help: "Management API requests by route (the pattern, or unrouted), method and status."}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wasmbed_http_request_duration_seconds",
			Help: "Management API request durations by route (a watch stream counts until it ends).", Buckets: prometheus.DefBuckets},
			[]string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// statusWriter remembers the status written; Unwrap lets
// http.ResponseController reach the connection (deadlines, flushing).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-ID"); len(id) <= 64 && visibleASCII(id) {
		return id
	}
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// serveLogged serves r through serve, then logs, counts and times it. The
// request is a server span, a child of the W3C trace context it carries
// (traceparent, tracestate), if any: "METHOD route", with the route, the
// status, the token's name (never its secret) and the request id; its
// handler's context carries it (a write to an application is remembered
// for the deploys that follow, gateway.NoteApplicationWrite).
func (s *Server) serveLogged(w http.ResponseWriter, r *http.Request, route string, serve func(http.ResponseWriter, *http.Request)) {
	start := time.Now()
	id := requestID(r)
	w.Header().Set("X-Request-ID", id)
	info := &requestInfo{id: id}
	sw := &statusWriter{ResponseWriter: w}
	ctx := tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	tmpl := route // the pattern's path ("unrouted" as it is)
	if _, path, ok := strings.Cut(route, " "); ok {
		tmpl = path
	}
	ctx, span := s.tracer.Start(ctx, r.Method+" "+tmpl, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start), trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(r.Method), semconv.HTTPRoute(tmpl), semconv.URLPath(r.URL.Path),
			semconv.ClientAddress(sourceHost(r.RemoteAddr)), attribute.String("wasmbed.request_id", id)))
	serve(sw, r.WithContext(context.WithValue(ctx, requestInfoKey{}, info)))
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	took := time.Since(start)
	span.SetAttributes(semconv.HTTPResponseStatusCode(sw.status), attribute.String("wasmbed.token", info.token))
	if sw.status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(sw.status))
	}
	span.End()
	if s.http != nil {
		s.http.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
		s.http.duration.WithLabelValues(route).Observe(took.Seconds())
	}
	attrs := []any{"id", id, "token", info.token, "source", r.RemoteAddr, "method", r.Method,
		"path", r.URL.Path, "route", route, "status", sw.status, "ms", float64(took.Microseconds()) / 1000}
	if sc := span.SpanContext(); sc.IsValid() {
		attrs = append(attrs, "trace_id", sc.TraceID().String())
	}
	s.log.Info("request", attrs...)
}

// noteToken records who made the request, for its log line.
func noteToken(r *http.Request, name string) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.token = name
	}
}
