package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nightjar-sec/nightjar/alert"
)

func TestMetricsExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Input(InputAccepted)
	m.Input(InputAccepted)
	m.Input(InputFull)
	m.Alert(&alert.Alert{Priority: alert.PriorityWarning})
	m.Alert(&alert.Alert{Priority: alert.PriorityCritical, Source: "k8s_audit"})
	m.Delivery("slack", DeliveryOK, 20*time.Millisecond)
	m.Delivery("slack", DeliveryRetry, time.Second)
	m.Retry("slack", "http_5xx")
	m.DeadLetter("webhook", DeadMaxAge)
	m.SetDepthSource(func() map[string]uint64 { return map[string]uint64{"slack": 7, "webhook": 0} })

	if got := testutil.ToFloat64(m.Inputs.WithLabelValues(InputAccepted)); got != 2 {
		t.Errorf("inputs accepted = %v, want 2", got)
	}
	want := `
# HELP nightjar_sidekick_queue_depth Deliveries waiting in the queue (pending plus unacknowledged), by output.
# TYPE nightjar_sidekick_queue_depth gauge
nightjar_sidekick_queue_depth{output="slack"} 7
nightjar_sidekick_queue_depth{output="webhook"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nightjar_sidekick_queue_depth"); err != nil {
		t.Error(err)
	}
	want = `
# HELP nightjar_sidekick_alerts_total Accepted alerts by priority and source.
# TYPE nightjar_sidekick_alerts_total counter
nightjar_sidekick_alerts_total{priority="Critical",source="k8s_audit"} 1
nightjar_sidekick_alerts_total{priority="Warning",source="syscall"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nightjar_sidekick_alerts_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.DeliveryLatency); n != 1 {
		t.Errorf("latency series = %d, want 1", n)
	}
	if got := testutil.ToFloat64(m.DeadLetters.WithLabelValues("webhook", DeadMaxAge)); got != 1 {
		t.Errorf("dead letters = %v, want 1", got)
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	var m *Metrics
	m.Input(InputAccepted)
	m.Alert(&alert.Alert{})
	m.Delivery("x", DeliveryOK, 0)
	m.Retry("x", "timeout")
	m.DeadLetter("x", DeadPermanent)
	m.SetDepthSource(nil)
}
