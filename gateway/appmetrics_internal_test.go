package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/wasmbed/wasmbed/protocol"
)

// The counters add what each heartbeat adds to the device's previous one,
// whatever order devices report in; a new generation, a device restart (its
// uptime or a counter going down) and a first report count whole; memory
// gauges count connected devices only; a device gone a day is forgotten.
func TestAppMetricsCountIncrements(t *testing.T) {
	reg := prometheus.NewRegistry()
	online := map[string]bool{"a": true, "b": true}
	m := newAppMetrics(reg, func(d string) bool { return online[d] })
	hb := func(uptime uint64, apps ...protocol.AppMetrics) *protocol.Heartbeat {
		return &protocol.Heartbeat{UptimeMS: uptime, Apps: apps}
	}
	sensor := func(gen, calls, published uint64, starts uint64) protocol.AppMetrics {
		return protocol.AppMetrics{App: "sensor", Generation: gen, Calls: calls, Fuel: calls * 100, CallUS: calls * 10,
			Published: published, Memory: 65536, MemoryPeak: 65536, Starts: starts, InstantiateUS: 1500}
	}
	now := time.Now()
	calls := func() float64 { return testutil.ToFloat64(m.calls.WithLabelValues("sensor", "nano33ble")) }
	steps := []struct {
		device string
		hb     *protocol.Heartbeat
		want   float64
	}{
		{"a", hb(1000, sensor(1, 10, 10, 1)), 10}, // first report: whole
		{"b", hb(500, sensor(1, 4, 4, 1)), 14},    // another device
		{"a", hb(2000, sensor(1, 25, 25, 1)), 29}, // +15
		{"a", hb(2000, sensor(1, 25, 25, 1)), 29}, // the same again: nothing
		{"a", hb(3000, sensor(2, 3, 3, 1)), 32},   // a new generation counts from zero
		{"a", hb(100, sensor(2, 2, 2, 1)), 34},    // the device restarted
		{"b", hb(900, sensor(1, 1, 1, 1)), 35},    // a counter went down: restarted too
		{"b", hb(1900, sensor(1, 11, 11, 2)), 45}, // +10, and a second start
		{"a", hb(200, sensor(2, 2, 2, 1), protocol.AppMetrics{App: "x", Generation: 1}), 45},
	}
	for i, s := range steps {
		m.observe(s.device, "nano33ble", s.hb, now)
		if got := calls(); got != s.want {
			t.Fatalf("step %d (%s): wasmbed_app_calls_total %v, want %v", i, s.device, got, s.want)
		}
	}
	if got := testutil.ToFloat64(m.fuel.WithLabelValues("sensor", "nano33ble")); got != 4500 {
		t.Errorf("fuel %v, want 4500", got)
	}
	if got := testutil.ToFloat64(m.callSeconds.WithLabelValues("sensor", "nano33ble")); got < 0.00044 || got > 0.00046 {
		t.Errorf("call seconds %v, want 0.00045", got)
	}
	// Starts seen: a's first, a's generation 2, a's restart, b's first, b's restart, b's second start.
	var h dto.Metric
	if err := m.instantiate.WithLabelValues("sensor", "nano33ble").(prometheus.Histogram).Write(&h); err != nil {
		t.Fatal(err)
	}
	if n := h.GetHistogram().GetSampleCount(); n != 6 {
		t.Errorf("%d instantiations observed, want 6", n)
	}
	expo := `
# HELP wasmbed_app_memory_bytes Linear memory the app's running instances hold now, summed over this gateway's connected devices.
# TYPE wasmbed_app_memory_bytes gauge
wasmbed_app_memory_bytes{app="sensor",board="nano33ble"} 131072
wasmbed_app_memory_bytes{app="x",board="nano33ble"} 0
# HELP wasmbed_app_memory_peak_bytes The most linear memory one instance of the app had, over this gateway's connected devices.
# TYPE wasmbed_app_memory_peak_bytes gauge
wasmbed_app_memory_peak_bytes{app="sensor",board="nano33ble"} 65536
wasmbed_app_memory_peak_bytes{app="x",board="nano33ble"} 0
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(expo)); err != nil {
		t.Error(err)
	}
	// b goes away: its memory no longer counts; a day later it is forgotten.
	online["b"] = false
	if err := testutil.CollectAndCompare(m, strings.NewReader(strings.ReplaceAll(expo, "131072", "65536"))); err != nil {
		t.Error(err)
	}
	m.mu.Lock()
	m.latest["b"].ReportedAt = now.Add(-appMetricsForget - time.Minute)
	m.mu.Unlock()
	testutil.CollectAndCount(m)
	if _, ok := m.device("b"); ok {
		t.Error("a device gone for a day is still kept")
	}
	if d, ok := m.device("a"); !ok || len(d.Apps) != 2 || d.Apps[0].App != "sensor" {
		t.Errorf("device a: %+v", d)
	}
	m.forget("a")
	if _, ok := m.device("a"); ok {
		t.Error("a forgotten device is still kept")
	}
}
