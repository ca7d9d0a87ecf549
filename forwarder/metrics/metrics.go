// Package metrics holds the sidekick's Prometheus metrics, all prefixed
// nightjar_sidekick_. Labels stay low-cardinality: output names, statuses,
// priorities, sources (the first MaxSources seen; later ones count as
// "other") and short reasons; never rule names or hostnames.
package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nightjar-sec/nightjar/alert"
)

const namespace = "nightjar_sidekick"

// Input statuses for Inputs (the answer POST / gave).
const (
	InputAccepted = "accepted" // 200: queued
	InputRejected = "rejected" // 400/413: bad alert, or too large for the queue
	InputFull     = "full"     // 503: queue full
	InputBusy     = "busy"     // 503: the queue's server not keeping up
	InputError    = "error"    // 500: queue unreachable or other failure
)

// Delivery statuses for Deliveries.
const (
	DeliveryOK    = "ok"    // the destination accepted the alert
	DeliveryRetry = "retry" // a failed attempt that will be retried
	DeliveryDead  = "dead"  // given up: sent to the dead-letter stream
)

// Dead-letter reasons for DeadLetters.
const (
	DeadPermanent = "permanent" // the destination refused it for good
	DeadMaxAge    = "maxage"    // retried until the output's maxage
)

// MaxSources is how many distinct alert sources get a source label value of
// their own in nightjar_sidekick_alerts_total; alerts from sources first
// seen after that count under OtherSource. The source comes from the
// sender, so without a bound any client could create series without end
// (each one costs memory here and in Prometheus for good). Falco has about
// a dozen sources (syscall, k8s_audit, k8saudit, aws_cloudtrail, okta,
// github, gcp_auditlog, ...) and one deployment sees a few, so 32 leaves
// room for plugins.
const MaxSources = 32

// maxSourceLen is the longest source given a label value of its own;
// longer ones count under OtherSource. Falco's are a few bytes long.
const maxSourceLen = 64

// OtherSource is the source label of alerts whose source did not get its
// own (MaxSources).
const OtherSource = "other"

// Metrics is the sidekick's set of collectors. A nil *Metrics is valid and
// records nothing, so tests and tools can pass nil.
type Metrics struct {
	// Inputs counts POST / requests by status (InputAccepted, ...).
	Inputs *prometheus.CounterVec
	// Alerts counts accepted alerts by priority and source.
	Alerts *prometheus.CounterVec
	// Deliveries counts delivery attempts by output and status.
	Deliveries *prometheus.CounterVec
	// DeliveryLatency is the duration of one delivery attempt, by output.
	DeliveryLatency *prometheus.HistogramVec
	// Retries counts retried attempts by output and reason (timeout,
	// transport, http_429, http_5xx, ...).
	Retries *prometheus.CounterVec
	// DeadLetters counts deliveries given up, by output and reason.
	DeadLetters *prometheus.CounterVec
	// Repeats counts alerts not queued for an output because the same
	// alert was accepted for it within its dedup window.
	Repeats *prometheus.CounterVec

	depth *depthCollector

	// sources holds the sources that have a label value of their own;
	// sourcesMu serialises additions.
	sourcesMu sync.Mutex
	sources   atomic.Pointer[map[string]struct{}]
}

// New creates the metrics and registers them with reg (nil: not registered,
// for tests).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Inputs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "inputs_total",
			Help: "POST / requests by status (accepted, rejected, full, busy, error).",
		}, []string{"status"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "alerts_total",
			Help: "Accepted alerts by priority and source.",
		}, []string{"priority", "source"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "deliveries_total",
			Help: "Delivery attempts by output and status (ok, retry, dead).",
		}, []string{"output", "status"}),
		DeliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "delivery_duration_seconds",
			Help:    "Duration of one delivery attempt, by output.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"output"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "retries_total",
			Help: "Retried delivery attempts by output and reason.",
		}, []string{"output", "reason"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dead_letters_total",
			Help: "Deliveries sent to the dead-letter stream, by output and reason (permanent, maxage).",
		}, []string{"output", "reason"}),
		Repeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dedup_repeats_total",
			Help: "Alerts not queued for an output because the same alert was accepted for it within its dedup window, by output.",
		}, []string{"output"}),
		depth: &depthCollector{desc: prometheus.NewDesc(namespace+"_queue_depth",
			"Deliveries waiting in the queue (pending plus unacknowledged), by output.",
			[]string{"output"}, nil)},
	}
	m.sources.Store(&map[string]struct{}{})
	if reg != nil {
		reg.MustRegister(m.Inputs, m.Alerts, m.Deliveries, m.DeliveryLatency, m.Retries, m.DeadLetters, m.Repeats, m.depth)
	}
	return m
}

// Input counts one POST / answer.
func (m *Metrics) Input(status string) {
	if m == nil {
		return
	}
	m.Inputs.WithLabelValues(status).Inc()
}

// Alert counts one accepted alert.
func (m *Metrics) Alert(a *alert.Alert) {
	if m == nil {
		return
	}
	src := a.Source
	if src == "" {
		src = "syscall" // Falco's default source
	}
	m.Alerts.WithLabelValues(a.Priority.String(), m.sourceLabel(src)).Inc()
}

// sourceLabel returns src while it is one of the first MaxSources distinct
// sources seen, OtherSource otherwise. It runs for every alert, so a known
// source is looked up without a lock, in a map that is copied when a source
// is added (at most MaxSources times).
func (m *Metrics) sourceLabel(src string) string {
	known := *m.sources.Load()
	if _, ok := known[src]; ok {
		return src
	}
	if len(known) >= MaxSources || len(src) > maxSourceLen {
		return OtherSource
	}
	m.sourcesMu.Lock()
	defer m.sourcesMu.Unlock()
	known = *m.sources.Load()
	if _, ok := known[src]; ok {
		return src
	}
	if len(known) >= MaxSources {
		return OtherSource
	}
	next := make(map[string]struct{}, len(known)+1)
	for k := range known {
		next[k] = struct{}{}
	}
	next[src] = struct{}{}
	m.sources.Store(&next)
	return src
}

// Delivery records one delivery attempt's outcome and duration.
func (m *Metrics) Delivery(output, status string, d time.Duration) {
	if m == nil {
		return
	}
	m.Deliveries.WithLabelValues(output, status).Inc()
	m.DeliveryLatency.WithLabelValues(output).Observe(d.Seconds())
}

// Retry counts one retried attempt.
func (m *Metrics) Retry(output, reason string) {
	if m == nil {
		return
	}
	m.Retries.WithLabelValues(output, reason).Inc()
}

// DeadLetter counts one delivery given up.
func (m *Metrics) DeadLetter(output, reason string) {
	if m == nil {
		return
	}
	m.DeadLetters.WithLabelValues(output, reason).Inc()
}

// Repeat counts one alert not queued for output as a repeat.
func (m *Metrics) Repeat(output string) {
	if m == nil {
		return
	}
	m.Repeats.WithLabelValues(output).Inc()
}

// SetDepthSource sets the function read at each scrape for the queue depth
// gauge (output name -> waiting deliveries). Reading the queue at scrape
// time keeps the gauge exact without a polling loop.
func (m *Metrics) SetDepthSource(f func() map[string]uint64) {
	if m == nil {
		return
	}
	m.depth.mu.Lock()
	m.depth.source = f
	m.depth.mu.Unlock()
}

// depthCollector reports nightjar_sidekick_queue_depth from a source function.
type depthCollector struct {
	desc   *prometheus.Desc
	mu     sync.Mutex
	source func() map[string]uint64
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	f := c.source
	c.mu.Unlock()
	if f == nil {
		return
	}
	for out, n := range f() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), out)
	}
}
