package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
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
	}
	m.Registry.MustRegister(m.Sessions, m.Handshakes, m.Heartbeats, m.Enrollments, m.Deploys, m.AppFailures,
		m.DeviceResets, m.OutputRecords, m.Errors, m.Refused,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) refused(reason string) { m.Refused.WithLabelValues(reason).Inc() }
