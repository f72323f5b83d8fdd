// Package tracing sets up OpenTelemetry traces for Wasmbed's programs (the
// gateway, the controller and the Terraform provider): the official Go SDK,
// exporting over OTLP/HTTP (protobuf), off unless configured.
//
// Tracing is on when an endpoint is given (the programs' --otlp-endpoint
// flag) or the standard environment names one
// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT), and
// neither OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none turns it off.
// The other standard variables apply as the SDK reads them
// (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, _CERTIFICATE,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, ...).
// docs/observability.md lists the spans.
//
// Trace context travels as W3C traceparent/tracestate headers
// (Propagator), whether tracing is on or not: a gateway with tracing off
// still logs the trace id of a request that carried one.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Propagator carries W3C trace context (traceparent, tracestate) in HTTP
// headers, in and out.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Standard environment variables that turn tracing on (an endpoint) or off.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
	EnvTracesExporter = "OTEL_TRACES_EXPORTER"
)

// Enabled reports whether tracing is on for a program given endpoint (its
// --otlp-endpoint flag, "" when not given) and the environment (getenv).
func Enabled(endpoint string, getenv func(string) string) bool {
	if strings.EqualFold(getenv(EnvSDKDisabled), "true") {
		return false
	}
	if endpoint != "" {
		return true
	}
	if e := getenv(EnvTracesExporter); e != "" && e != "otlp" {
		return false // "none" (or an exporter this program does not have)
	}
	return getenv(EnvEndpoint) != "" || getenv(EnvTracesEndpoint) != ""
}

// New returns a tracer provider that exports the spans of service (its
// version) over OTLP/HTTP to endpoint, or, when endpoint is "", to where
// the OTEL_EXPORTER_OTLP_* variables say; nil (and no error) when tracing
// is off (Enabled). endpoint is a base URL like OTEL_EXPORTER_OTLP_ENDPOINT
// (http://collector:4318; /v1/traces is appended) or host:port (plain
// HTTP). The caller shuts it down (flushing what is buffered) when it
// stops.
func New(ctx context.Context, service, version, endpoint string) (*sdktrace.TracerProvider, error) {
	if !Enabled(endpoint, os.Getenv) {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if endpoint != "" {
		u, err := EndpointURL(endpoint)
		if err != nil {
			return nil, err
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	// The service's name and version first: OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override them.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithProcessPID(), resource.WithFromEnv())
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// EndpointURL turns an --otlp-endpoint value into the URL spans are posted
// to: a base URL gets /v1/traces (as OTEL_EXPORTER_OTLP_ENDPOINT does), a
// URL with another path is taken as it is, host:port is plain HTTP.
func EndpointURL(endpoint string) (string, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("tracing: OTLP endpoint %q: want http(s)://host:port[/path] or host:port", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// LogErrors sends the SDK's own errors (an export that failed) to log, at
// most one line a minute: a collector that is down must not flood the
// program's log.
func LogErrors(log *slog.Logger) {
	var mu sync.Mutex
	var last time.Time
	var dropped int
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Minute {
			dropped++
			return
		}
		log.Warn("tracing: export failed", "err", err, "suppressed_since_last", dropped)
		last, dropped = time.Now(), 0
	}))
}

// Provider returns tp, or the global tracer provider (a no-op one unless a
// program installed another) when tp is nil.
func Provider(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return otel.GetTracerProvider()
	}
	return tp
}

// global is the tracer provider InstallGlobal installed.
var global struct {
	mu sync.Mutex
	tp *sdktrace.TracerProvider
}

// InstallGlobal makes the process's global tracer provider export as New
// says, unless tracing is off or it did so already (then it does nothing).
// The Terraform provider uses it: Terraform starts it as a plugin, and its
// configuration comes from the environment only.
func InstallGlobal(ctx context.Context, service, version string) error {
	global.mu.Lock()
	defer global.mu.Unlock()
	if global.tp != nil {
		return nil
	}
	tp, err := New(ctx, service, version, "")
	if err != nil || tp == nil {
		return err
	}
	global.tp = tp
	otel.SetTracerProvider(tp)
	return nil
}

// ForceFlush exports the spans the global tracer provider holds now, if
// InstallGlobal installed one. A Terraform provider flushes after each
// operation: the CLI may end the plugin process without waiting.
func ForceFlush(ctx context.Context) error {
	global.mu.Lock()
	tp := global.tp
	global.mu.Unlock()
	if tp == nil {
		return nil
	}
	return tp.ForceFlush(ctx)
}

// ShutdownGlobal flushes and stops the tracer provider InstallGlobal
// installed, and puts a no-op one in its place (a later InstallGlobal
// installs anew).
func ShutdownGlobal(ctx context.Context) error {
	global.mu.Lock()
	defer global.mu.Unlock()
	if global.tp == nil {
		return nil
	}
	err := global.tp.Shutdown(ctx)
	global.tp = nil
	otel.SetTracerProvider(noop.NewTracerProvider())
	if err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// Fail marks span as failed with err (nil: nothing).
func Fail(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}
