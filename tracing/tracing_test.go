package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		name     string
		endpoint string
		env      map[string]string
		want     bool
	}{
		{"nothing configured", "", nil, false},
		{"flag", "collector:4318", nil, true},
		{"endpoint variable", "", map[string]string{EnvEndpoint: "http://c:4318"}, true},
		{"traces endpoint variable", "", map[string]string{EnvTracesEndpoint: "http://c:4318/v1/traces"}, true},
		{"SDK disabled", "collector:4318", map[string]string{EnvSDKDisabled: "true"}, false},
		{"exporter none", "", map[string]string{EnvEndpoint: "http://c:4318", EnvTracesExporter: "none"}, false},
		{"exporter otlp", "", map[string]string{EnvEndpoint: "http://c:4318", EnvTracesExporter: "otlp"}, true},
	} {
		if got := Enabled(c.endpoint, func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("%s: Enabled = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestEndpointURL(t *testing.T) {
	for in, want := range map[string]string{
		"collector:4318":                   "http://collector:4318/v1/traces",
		"http://collector:4318":            "http://collector:4318/v1/traces",
		"https://collector:4318/":          "https://collector:4318/v1/traces",
		"http://collector:4318/otlp/spans": "http://collector:4318/otlp/spans",
	} {
		if got, err := EndpointURL(in); err != nil || got != want {
			t.Errorf("EndpointURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://collector", "http://", "://x"} {
		if _, err := EndpointURL(bad); err == nil {
			t.Errorf("EndpointURL(%q): no error", bad)
		}
	}
}

// New with an endpoint exports OTLP/HTTP protobuf to its /v1/traces;
// off (nil) without one.
func TestNewExports(t *testing.T) {
	t.Setenv(EnvEndpoint, "")
	t.Setenv(EnvTracesEndpoint, "")
	t.Setenv(EnvSDKDisabled, "")
	if tp, err := New(context.Background(), "svc", "v1", ""); tp != nil || err != nil {
		t.Fatalf("not configured: %v, %v; want nil, nil", tp, err)
	}
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	tp, err := New(context.Background(), "svc", "v1", srv.URL)
	if err != nil || tp == nil {
		t.Fatalf("New: %v, %v", tp, err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "op")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "POST /v1/traces application/x-protobuf" {
		t.Fatalf("requests %q, want one POST /v1/traces application/x-protobuf", got)
	}
}
