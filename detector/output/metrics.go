package output

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the detector's Prometheus metrics, on their own registry so
// that tests and several detectors in one process do not collide.
type Metrics struct {
	Registry *prometheus.Registry

	Alerts        *prometheus.CounterVec // by priority, rule and source
	OutputWrites  *prometheus.CounterVec // delivered, by output
	OutputErrors  *prometheus.CounterVec // failed writes/deliveries, by output
	OutputDropped *prometheus.CounterVec // lost alerts (queue full, permanent failure, shutdown), by output and reason
	HTTPRetries   prometheus.Counter
	QueueDepth    *prometheus.GaugeVec // alerts waiting, by queue (local, http)
	DropAlerts    prometheus.Counter   // internal "Nightjar dropped events" alerts raised
}

// NewMetrics creates and registers the metrics, with Go and process
// collectors.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_alerts_total", Help: "Alerts raised, by priority, rule and source.",
		}, []string{"priority", "rule", "source"}),
		OutputWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_output_writes_total", Help: "Alerts written or delivered, by output.",
		}, []string{"output"}),
		OutputErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_output_errors_total", Help: "Failed writes or delivery attempts, by output.",
		}, []string{"output"}),
		OutputDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nightjar_output_dropped_total", Help: "Alerts lost, by output and reason (queue_full, rejected, shutdown).",
		}, []string{"output", "reason"}),
		HTTPRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nightjar_http_output_retries_total", Help: "HTTP output delivery retries.",
		}),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nightjar_output_queue_depth", Help: "Alerts waiting in an output queue.",
		}, []string{"queue"}),
		DropAlerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nightjar_drop_alerts_total", Help: "Internal \"Nightjar dropped events\" alerts raised.",
		}),
	}
	r.MustRegister(m.Alerts, m.OutputWrites, m.OutputErrors, m.OutputDropped, m.HTTPRetries, m.QueueDepth, m.DropAlerts,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Handler serves GET /metrics.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	return mux
}
