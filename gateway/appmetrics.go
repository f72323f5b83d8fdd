package gateway

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmbed/wasmbed/protocol"
)

// What devices measure of their apps (protocol.AppMetrics, in every
// heartbeat) becomes two things here: Prometheus series per application and
// board (counters of the increments seen, gauges of the memory in use now),
// and the latest report of each device, which the API serves per device.
// Nothing of it is written to the store: a heartbeat every few seconds per
// device would be a write each, for figures that are stale by the next one.
//
// A device's counters count from the install of a generation on its boot;
// the gateway adds what each report adds to the one before. A report it has
// nothing to compare with (the first of an app's generation, the first after
// the gateway started, a device that restarted: a counter went down) counts
// whole.

// appMetricsForget is how long the latest report of a device with no
// session is kept (so that a device reconnecting without a reset is not
// counted twice).
const appMetricsForget = 24 * time.Hour

// DeviceAppMetrics is the latest heartbeat of a device that carried app
// measurements.
type DeviceAppMetrics struct {
	Board      string
	ReportedAt time.Time
	UptimeMS   uint64
	RAMFree    uint32
	Apps       []protocol.AppMetrics // by app name
}

type appMetrics struct {
	mu     sync.Mutex
	latest map[string]*DeviceAppMetrics // by device

	calls, fuel, callSeconds, traps, published *prometheus.CounterVec
	instantiate                                *prometheus.HistogramVec
	memory, memoryPeak                         *prometheus.Desc
	// live says whether a device holds a session here (its memory counts
	// in the gauges only then).
	live func(device string) bool
}

func newAppMetrics(reg prometheus.Registerer, live func(string) bool) *appMetrics {
	labels := []string{"app", "board"}
	counter := func(o prometheus.CounterOpts) *prometheus.CounterVec { return prometheus.NewCounterVec(o, labels) }
	m := &appMetrics{latest: map[string]*DeviceAppMetrics{}, live: live,
		calls: counter(prometheus.CounterOpts{Name: "wasmbed_app_calls_total", Help: "init and tick calls devices ran, by application and board (device heartbeats)."}),
		fuel: counter(prometheus.CounterOpts{Name: "wasmbed_app_fuel_total",
			Help: "Fuel (instructions, with bulk operations by size) those calls used; devices that do not meter fuel (the Go agent) add none."}),
		callSeconds: counter(prometheus.CounterOpts{Name: "wasmbed_app_call_seconds_total", Help: "Time devices spent in init and tick calls."}),
		traps: counter(prometheus.CounterOpts{Name: "wasmbed_app_traps_total",
			Help: "Times a device's runtime stopped an app: a trap, its fuel used up, its memory limit reached."}),
		published: counter(prometheus.CounterOpts{Name: "wasmbed_app_published_total", Help: "Values apps published (accepted by publish), as devices count them."}),
		instantiate: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wasmbed_app_instantiate_seconds",
			Help:    "How long devices took to instantiate an app (each start).",
			Buckets: prometheus.ExponentialBuckets(100e-6, 4, 8)}, labels),
		memory: prometheus.NewDesc("wasmbed_app_memory_bytes",
			"Linear memory the app's running instances hold now, summed over this gateway's connected devices.", labels, nil),
		memoryPeak: prometheus.NewDesc("wasmbed_app_memory_peak_bytes",
			"The most linear memory one instance of the app had, over this gateway's connected devices.", labels, nil),
	}
	reg.MustRegister(m.calls, m.fuel, m.callSeconds, m.traps, m.published, m.instantiate, m)
	return m
}

// observe takes a heartbeat's app measurements from a device of board.
func (m *appMetrics) observe(device, board string, hb *protocol.Heartbeat, at time.Time) {
	if len(hb.Apps) == 0 {
		return
	}
	apps := slices.Clone(hb.Apps)
	slices.SortFunc(apps, func(a, b protocol.AppMetrics) int { return cmp.Compare(a.App, b.App) })
	m.mu.Lock()
	prev := m.latest[device]
	m.latest[device] = &DeviceAppMetrics{Board: board, ReportedAt: at, UptimeMS: hb.UptimeMS, RAMFree: hb.RAMFree, Apps: apps}
	m.mu.Unlock()
	for i := range apps {
		r := &apps[i]
		var before protocol.AppMetrics
		if prev != nil && prev.Board == board {
			if j, ok := slices.BinarySearchFunc(prev.Apps, r.App, func(a protocol.AppMetrics, app string) int {
				return cmp.Compare(a.App, app)
			}); ok && prev.Apps[j].Generation == r.Generation && prev.UptimeMS <= hb.UptimeMS && !below(r, &prev.Apps[j]) {
				before = prev.Apps[j]
			}
		}
		m.add(r, &before, board)
	}
}

// below says whether a counter of r is below b's: the counting started
// again (the device restarted).
func below(r, b *protocol.AppMetrics) bool {
	return r.Calls < b.Calls || r.Fuel < b.Fuel || r.CallUS < b.CallUS || r.Traps < b.Traps ||
		r.Starts < b.Starts || r.Published < b.Published
}

// add counts what report r adds to before (zero when there is nothing to
// compare with; no counter of r is below it).
func (m *appMetrics) add(r, before *protocol.AppMetrics, board string) {
	l := prometheus.Labels{"app": r.App, "board": board}
	for _, c := range []struct {
		vec      *prometheus.CounterVec
		now, was uint64
		div      float64 // to the metric's unit (µs to s)
	}{
		{m.calls, r.Calls, before.Calls, 1},
		{m.fuel, r.Fuel, before.Fuel, 1},
		{m.callSeconds, r.CallUS, before.CallUS, 1e6},
		{m.traps, r.Traps, before.Traps, 1},
		{m.published, r.Published, before.Published, 1},
	} {
		if c.now > c.was {
			c.vec.With(l).Add(float64(c.now-c.was) / c.div)
		}
	}
	if r.Starts > before.Starts {
		// One observation per report that saw a start: the last one's time.
		m.instantiate.With(l).Observe(float64(r.InstantiateUS) / 1e6)
	}
}

// Device is the latest report of a device, if it sent one.
func (m *appMetrics) device(name string) (DeviceAppMetrics, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.latest[name]
	if !ok {
		return DeviceAppMetrics{}, false
	}
	return *d, true
}

// forget drops what a device reported (it was deleted).
func (m *appMetrics) forget(device string) {
	m.mu.Lock()
	delete(m.latest, device)
	m.mu.Unlock()
}

func (m *appMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.memory
	ch <- m.memoryPeak
}

// Collect sums the memory gauges over connected devices, and forgets the
// reports of devices gone for appMetricsForget.
func (m *appMetrics) Collect(ch chan<- prometheus.Metric) {
	type key struct{ app, board string }
	sum, peak := map[key]float64{}, map[key]float64{}
	m.mu.Lock()
	now := time.Now()
	devices := make([]string, 0, len(m.latest))
	for name := range m.latest {
		devices = append(devices, name)
	}
	m.mu.Unlock()
	for _, name := range devices {
		live := m.live(name)
		m.mu.Lock()
		d := m.latest[name]
		if d != nil && !live && now.Sub(d.ReportedAt) > appMetricsForget {
			delete(m.latest, name)
			d = nil
		}
		if d != nil && live {
			for _, a := range d.Apps {
				k := key{a.App, d.Board}
				sum[k] += float64(a.Memory)
				peak[k] = max(peak[k], float64(a.MemoryPeak))
			}
		}
		m.mu.Unlock()
	}
	for k, v := range sum {
		ch <- prometheus.MustNewConstMetric(m.memory, prometheus.GaugeValue, v, k.app, k.board)
		ch <- prometheus.MustNewConstMetric(m.memoryPeak, prometheus.GaugeValue, peak[k], k.app, k.board)
	}
}
