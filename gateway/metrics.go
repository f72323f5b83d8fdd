package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmbed/wasmbed/fleet"
)

// Metrics are the gateway's Prometheus metrics, served on the API port's
// /metrics.
type Metrics struct {
	Registry      *prometheus.Registry
	Sessions      prometheus.Gauge
	Handshakes    *prometheus.CounterVec
	Heartbeats    prometheus.Counter
	Enrollments   *prometheus.CounterVec
	Deploys       prometheus.Counter
	AppFailures   *prometheus.CounterVec
	DeviceResets  *prometheus.CounterVec
	OutputRecords prometheus.Counter
	Errors        *prometheus.CounterVec
	Refused       *prometheus.CounterVec
	// RolloutEvents counts what progressive rollouts did (rollout.go).
	RolloutEvents *prometheus.CounterVec

	// Unauthenticated work (admission.go) and the API's authentication.
	PreAuth         prometheus.Gauge
	PreAuthRefused  *prometheus.CounterVec
	PreAuthEvicted  prometheus.Counter
	EnrollRefused   *prometheus.CounterVec
	APIAuthFailures *prometheus.CounterVec
	// ModulesCollected counts modules deleted because nothing needed them
	// (modulegc.go).
	ModulesCollected prometheus.Counter
	// ModulesMissing is the number of modules deploys wait for
	// (modulewait.go).
	ModulesMissing prometheus.Gauge
	// LeaseRenewals counts the renewals of the gateway's Lease
	// (Kubernetes mode), by result (renewed, failed).
	LeaseRenewals *prometheus.CounterVec

	// Per application and board (never per device: the series stay
	// applications x boards x states, whatever the fleet's size).
	AppStates *prometheus.CounterVec
	AppOutput *prometheus.CounterVec
}

func newMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wasmbed_gateway_sessions",
			Help: "Device sessions held (mutual TLS, after hello)."}),
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_tls_handshakes_total",
			Help: "TLS handshakes on the device listener, by result."}, []string{"result"}),
		Heartbeats: prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmbed_gateway_heartbeats_total",
			Help: "Heartbeats received from devices."}),
		Enrollments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_enrollments_total",
			Help: "Enrollment attempts, by result."}, []string{"result"}),
		Deploys: prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmbed_gateway_deploys_total",
			Help: "Deploy commands sent to devices."}),
		AppFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_app_failures_total",
			Help: "Apps stopped or refused on devices, by state."}, []string{"state"}),
		DeviceResets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_device_resets_total",
			Help: "Device boots first reported in a hello, by reset cause (watchdog, panic, hard_fault and brown_out are unexpected)."},
			[]string{"cause"}),
		OutputRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmbed_gateway_app_output_records_total",
			Help: "Log lines and published values received from apps."}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_errors_total",
			Help: "Protocol errors, by kind."}, []string{"kind"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_refused_total",
			Help: "Sessions refused, by reason."}, []string{"reason"}),
		RolloutEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_rollout_events_total",
			Help: "Progressive rollout events, by kind (started, step, failure: a device failed a health gate, paused, resumed, rolled_back, completed)."},
			[]string{"kind"}),
		PreAuth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wasmbed_gateway_preauth_connections",
			Help: "Device listener connections held before authentication (waiting for a ClientHello, in the TLS handshake, before hello, enrolling)."}),
		PreAuthRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_preauth_refused_total",
			Help: "Unauthenticated device listener connections refused or dropped, by reason: source_failures (the source's failure budget is spent), source_limit, capacity, fd_reserve, fd_exhausted (accepted on the spare descriptor and closed), garbage (not TLS), stalled (no whole ClientHello before the deadline), handshakes_busy, enrollments_busy."},
			[]string{"reason"}),
		PreAuthEvicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmbed_gateway_preauth_evicted_total",
			Help: "Connections still waiting for their ClientHello closed to make room for a new one (pre-auth or descriptor limit reached)."}),
		EnrollRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_enrollments_refused_total",
			Help: "Enrollments refused, by reason (token_unknown, token_used, token_expired, token_wrong_device, bad_csr, undeliverable: the certificate would not fit the device's max_frame, other)."}, []string{"reason"}),
		APIAuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_api_auth_failures_total",
			Help: "Management API requests refused for their credentials, by reason (missing, invalid, forbidden)."}, []string{"reason"}),
		ModulesCollected: prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmbed_gateway_modules_collected_total",
			Help: "Stored modules deleted because no application, stable release or deployment needed them for a module GC interval."}),
		ModulesMissing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wasmbed_gateway_modules_missing",
			Help: "Modules that deploys wait for because the store does not hold them (an application applied before its module)."}),
		LeaseRenewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_gateway_lease_renewals_total",
			Help: "Renewals of the gateway's Lease (Kubernetes mode), by result (renewed, failed): its devices move to other gateways when it stays unrenewed for the lease duration."}, []string{"result"}),
		AppStates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_app_states_total",
			Help: "App states devices reported (running, trapped, fuel_exhausted, out_of_memory, failed, ...), by application and board."},
			[]string{"app", "board", "state"}),
		AppOutput: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmbed_app_output_total",
			Help: "Log lines (kind log) and published values (kind value) received from apps, by application and board."},
			[]string{"app", "board", "kind"}),
	}
	m.Registry.MustRegister(m.Sessions, m.Handshakes, m.Heartbeats, m.Enrollments, m.Deploys, m.AppFailures,
		m.DeviceResets, m.OutputRecords, m.Errors, m.Refused, m.PreAuth, m.PreAuthRefused, m.PreAuthEvicted, m.EnrollRefused,
		m.APIAuthFailures, m.RolloutEvents, m.ModulesCollected, m.ModulesMissing, m.LeaseRenewals, m.AppStates, m.AppOutput,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) refused(reason string) { m.Refused.WithLabelValues(reason).Inc() }

// appDevices is wasmbed_app_devices, counted from the store when scraped:
// this gateway's devices by application, board and the app's last reported
// state (pending: nothing reported yet). A scrape reads the devices and
// deployments once (about as much as a reconcile pass).
type appDevices struct {
	g    *Gateway
	desc *prometheus.Desc
}

func newAppDevices(g *Gateway) *appDevices {
	return &appDevices{g: g, desc: prometheus.NewDesc("wasmbed_app_devices",
		"This gateway's devices by application, board and the app's last reported state (pending: nothing reported yet), read from the store when scraped.",
		[]string{"app", "board", "state"}, nil)}
}

func (c *appDevices) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *appDevices) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	devs, err := c.g.store.Devices().List(ctx)
	if err == nil {
		var deps []fleet.Deployment
		if deps, err = c.g.store.Deployments().List(ctx); err == nil {
			board := make(map[string]string, len(devs))
			for i := range devs {
				if c.g.cfg.Serves == nil || c.g.cfg.Serves(&devs[i]) == nil { // another gateway's counts there
					board[devs[i].Name] = devs[i].Board
				}
			}
			type key struct{ app, board, state string }
			n := map[key]int{}
			for i := range deps {
				d := &deps[i]
				b, ok := board[d.Device]
				if !ok || d.Removing {
					continue
				}
				state := d.State
				if state == "" {
					state = "pending"
				}
				n[key{d.App, b, state}]++
			}
			for k, v := range n {
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), k.app, k.board, k.state)
			}
			return
		}
	}
	ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("read the store: %w", err))
}
