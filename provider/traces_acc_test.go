package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/wasmbed/wasmbed/agent/sim"
	"github.com/wasmbed/wasmbed/gateway/daemon"
	"github.com/wasmbed/wasmbed/module/wasmtest"
	"github.com/wasmbed/wasmbed/tracing"
)

// TestAccTraces follows one `terraform apply` in a real OpenTelemetry
// Collector (bin/otelcol, built by make setup from tools/otelcol: the OTLP
// receiver and the file exporter): a real gateway exports to it
// (daemon.Options.OTLPEndpoint, the --otlp-endpoint flag), and so does the
// provider (OTEL_EXPORTER_OTLP_ENDPOINT, as Terraform's environment would
// give it). The apply creates an application on two emulated devices
// (agents); its trace must go from the provider's operation span through
// the API's server span to each device's deploy span and the device's ack.
func TestAccTraces(t *testing.T) {
	if os.Getenv(resource.EnvTfAcc) == "" {
		// Never skipped: make testacc sets TF_ACC, make test-go leaves the
		// acceptance tests out (-skip '^TestAcc'); run by hand without it,
		// it says what it needs.
		t.Fatal("TestAccTraces is an acceptance test: run it with TF_ACC=1 and TF_ACC_TERRAFORM_PATH (make testacc)")
	}
	col := startCollector(t)

	// Export at once (the batcher's default waits 5 s), sample every trace,
	// and let nothing in the environment rename the services.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	t.Setenv(tracing.EnvTracesEndpoint, "")
	t.Setenv(tracing.EnvEndpoint, "")
	// The gateway: tracing from its option (the flag), not the environment.
	g := startTestGatewayWith(t, func(o *daemon.Options) { o.OTLPEndpoint = col.endpoint })
	const devices = 2
	g.startAgents(t, devices, "linux", map[string]string{"role": "traced"})
	wasm := wasmtest.App(t, "sensor")
	module := writeModule(t, "sensor", wasm)

	// The provider (in this process: its tracer provider is the global
	// one) from the environment, as a plugin process would be.
	t.Setenv(tracing.EnvEndpoint, col.endpoint)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ShutdownTracing(ctx); err != nil {
			t.Errorf("provider tracing shutdown: %v", err)
		}
	})

	check := func(*terraform.State) error {
		// Each operation exported its spans when it ended; this flushes
		// whatever a later one (a refresh) left.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tracing.ForceFlush(ctx); err != nil {
			return fmt.Errorf("provider flush: %w", err)
		}
		// The gateway exports every 100 ms: wait for the spans, not a time.
		var last error
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			spans, err := col.spans()
			if err != nil {
				return err
			}
			if last = checkApplyTrace(spans, devices, len(wasm)); last == nil {
				t.Logf("%d spans received:\n%s", len(spans), describeSpans(spans))
				return checkNoSecret(spans, g.token)
			}
			time.Sleep(200 * time.Millisecond)
		}
		spans, _ := col.spans()
		return fmt.Errorf("%w\nspans received:\n%s", last, describeSpans(spans))
	}

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{{
			Config: g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_application" "traced" {
  name        = "traced"
  version     = "1.0.0"
  module_path = %q
  config      = { offset = "10" }
  limits      = { tick_ms = 100 }
  selector    = { labels = { role = "traced" } }
  timeouts    = { create = "2m" }
}
`, module),
			Check: check,
		}},
	})
}

// checkApplyTrace finds, in the spans received, the trace of the apply that
// created application "traced" on n devices with a module of size bytes.
func checkApplyTrace(spans []otlpSpan, n, size int) error {
	op := findSpan(spans, func(s otlpSpan) bool {
		return s.Service == "terraform-provider-wasmbed" && s.Name == "wasmbed_application create"
	})
	if op == nil {
		return errors.New("no provider span \"wasmbed_application create\"")
	}
	put := findSpan(spans, func(s otlpSpan) bool {
		return s.Service == "wasmbed-gateway" && s.Name == "PUT /v1/applications/{name}" && s.TraceID == op.TraceID
	})
	if put == nil {
		return fmt.Errorf("no gateway server span \"PUT /v1/applications/{name}\" in the provider's trace %s", op.TraceID)
	}
	if put.ParentSpanID != op.SpanID {
		return fmt.Errorf("server span's parent is %s, want the provider's operation span %s", put.ParentSpanID, op.SpanID)
	}
	if put.Kind != 2 { // SPAN_KIND_SERVER
		return fmt.Errorf("server span kind %d, want 2 (server)", put.Kind)
	}
	for k, want := range map[string]string{"http.route": "/v1/applications/{name}", "http.request.method": "PUT",
		"http.response.status_code": "201", "wasmbed.token": "admin"} {
		if got := put.Attrs[k]; got != want {
			return fmt.Errorf("server span attribute %s = %q, want %q", k, got, want)
		}
	}
	upload := findSpan(spans, func(s otlpSpan) bool {
		return s.Name == "POST /v1/modules" && s.TraceID == op.TraceID && s.ParentSpanID == op.SpanID
	})
	if upload == nil {
		return errors.New("no server span \"POST /v1/modules\" (the module upload) under the provider's operation")
	}
	pass := findSpan(spans, func(s otlpSpan) bool {
		return s.Name == "wasmbed.reconcile" && slices.ContainsFunc(s.Links, func(l otlpLink) bool { return l.SpanID == put.SpanID })
	})
	if pass == nil {
		return errors.New("no reconcile pass span (wasmbed.reconcile) linked to the write's server span")
	}
	for i := range n {
		device := sim.DefaultName(i)
		deploy := findSpan(spans, func(s otlpSpan) bool {
			return s.Name == "wasmbed.deploy" && s.Attrs["wasmbed.device"] == device && s.TraceID == op.TraceID
		})
		if deploy == nil {
			return fmt.Errorf("no deploy span (wasmbed.deploy) for device %s in the apply's trace", device)
		}
		if deploy.ParentSpanID != put.SpanID {
			return fmt.Errorf("device %s: deploy span's parent is %s, want the write's server span %s", device, deploy.ParentSpanID, put.SpanID)
		}
		if !slices.ContainsFunc(deploy.Links, func(l otlpLink) bool { return l.SpanID == pass.SpanID }) {
			return fmt.Errorf("device %s: deploy span not linked to its reconcile pass %s", device, pass.SpanID)
		}
		for k, want := range map[string]string{"wasmbed.app": "traced", "wasmbed.command": "deploy", "wasmbed.app.generation": "1",
			"wasmbed.bytes_sent": strconv.Itoa(size), "wasmbed.module.size": strconv.Itoa(size)} {
			if got := deploy.Attrs[k]; got != want {
				return fmt.Errorf("device %s: deploy span attribute %s = %q, want %q", device, k, got, want)
			}
		}
		if o := deploy.Attrs["wasmbed.outcome"]; o != "installed" && o != "running" {
			return fmt.Errorf("device %s: deploy outcome %q, want installed or running", device, o)
		}
		if deploy.Attrs["wasmbed.generation"] == "" {
			return fmt.Errorf("device %s: deploy span without wasmbed.generation", device)
		}
		ack := findSpan(spans, func(s otlpSpan) bool {
			return s.Name == "wasmbed.device.ack" && s.ParentSpanID == deploy.SpanID && s.TraceID == op.TraceID
		})
		if ack == nil {
			return fmt.Errorf("device %s: no ack span (wasmbed.device.ack) under its deploy span", device)
		}
		if ack.Attrs["wasmbed.generation"] != deploy.Attrs["wasmbed.generation"] {
			return fmt.Errorf("device %s: ack of generation %s, deploy of %s", device, ack.Attrs["wasmbed.generation"], deploy.Attrs["wasmbed.generation"])
		}
		if ack.End > deploy.End {
			return fmt.Errorf("device %s: the deploy span ended before the ack", device)
		}
	}
	return nil
}

// checkNoSecret fails if any span or resource attribute holds secret.
func checkNoSecret(spans []otlpSpan, secret string) error {
	for _, s := range spans {
		for k, v := range s.Attrs {
			if strings.Contains(v, secret) {
				return fmt.Errorf("span %q attribute %s holds the API token's secret", s.Name, k)
			}
		}
	}
	return nil
}

func findSpan(spans []otlpSpan, match func(otlpSpan) bool) *otlpSpan {
	for i := range spans {
		if match(spans[i]) {
			return &spans[i]
		}
	}
	return nil
}

func describeSpans(spans []otlpSpan) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s trace=%s span=%s parent=%s links=%d attrs=%v\n", s.Service+": "+s.Name, s.TraceID, s.SpanID, s.ParentSpanID, len(s.Links), s.Attrs)
	}
	return b.String()
}

// otlpSpan is a span as the collector's file exporter writes it (OTLP
// JSON), flattened: its service and its attributes as strings.
type otlpSpan struct {
	Service      string            `json:"-"`
	TraceID      string            `json:"traceId"`
	SpanID       string            `json:"spanId"`
	ParentSpanID string            `json:"parentSpanId"`
	Name         string            `json:"name"`
	Kind         int               `json:"kind"`
	Start        uint64            `json:"startTimeUnixNano,string"`
	End          uint64            `json:"endTimeUnixNano,string"`
	Links        []otlpLink        `json:"-"`
	Attrs        map[string]string `json:"-"`
	RawAttrs     []otlpAttr        `json:"attributes"`
	RawLinks     []otlpLink        `json:"links"`
}

type otlpLink struct {
	TraceID string `json:"traceId"`
	SpanID  string `json:"spanId"`
}

type otlpAttr struct {
	Key   string `json:"key"`
	Value struct {
		String *string `json:"stringValue"`
		Int    *string `json:"intValue"` // int64 as a string in OTLP JSON
		Bool   *bool   `json:"boolValue"`
	} `json:"value"`
}

func (a otlpAttr) text() string {
	switch v := a.Value; {
	case v.String != nil:
		return *v.String
	case v.Int != nil:
		return *v.Int
	case v.Bool != nil:
		return strconv.FormatBool(*v.Bool)
	}
	return ""
}

// collector is an OpenTelemetry Collector process.
type collector struct {
	endpoint string // http://127.0.0.1:port, its OTLP/HTTP receiver
	file     string // where its file exporter writes
}

// startCollector runs bin/otelcol (make setup builds it) with an OTLP/HTTP
// receiver on a free loopback port and a file exporter, until the test
// ends.
func startCollector(t *testing.T) *collector {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(here), "..", "bin", "otelcol")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the OpenTelemetry Collector is missing (%v): run `make setup` (tools/setup.sh builds tools/otelcol into bin/otelcol)", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	c := &collector{endpoint: "http://" + addr, file: filepath.Join(dir, "spans.jsonl")}
	cfg := filepath.Join(dir, "otelcol.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
exporters:
  file:
    path: %s
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
`, addr, c.file), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", out.String())
		}
	})
	// Ready when its receiver accepts connections.
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return c
		}
		select {
		case err := <-exited:
			t.Fatalf("the collector exited (%v):\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector's receiver did not accept connections on %s within 60 s:\n%s", addr, out.String())
		}
	}
}

// spans reads every span the collector wrote so far (each line of the file
// is one export, OTLP JSON; a last line not yet ended is left for later).
func (c *collector) spans() ([]otlpSpan, error) {
	b, err := os.ReadFile(c.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var spans []otlpSpan
	lines := bytes.Split(b, []byte("\n"))
	for _, line := range lines[:len(lines)-1] {
		var export struct {
			ResourceSpans []struct {
				Resource struct {
					Attributes []otlpAttr `json:"attributes"`
				} `json:"resource"`
				ScopeSpans []struct {
					Spans []otlpSpan `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(line, &export); err != nil {
			return nil, fmt.Errorf("collector output %s: %w", c.file, err)
		}
		for _, rs := range export.ResourceSpans {
			service := ""
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					service = a.text()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					s.Service, s.Links, s.Attrs = service, s.RawLinks, map[string]string{}
					for _, a := range s.RawAttrs {
						s.Attrs[a.Key] = a.text()
					}
					spans = append(spans, s)
				}
			}
		}
	}
	return spans, nil
}
