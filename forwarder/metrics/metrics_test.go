package metrics

import (
	"fmt"
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

// The source label comes from senders: only the first MaxSources distinct
// sources get their own series.
func TestAlertSourcesBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	count := func(src string) float64 {
		return testutil.ToFloat64(m.Alerts.WithLabelValues(alert.PriorityWarning.String(), src))
	}
	m.Alert(&alert.Alert{Priority: alert.PriorityWarning}) // syscall, Falco's default
	for i := 1; i < MaxSources; i++ {
		m.Alert(&alert.Alert{Priority: alert.PriorityWarning, Source: fmt.Sprintf("plugin%d", i)})
	}
	// Source number MaxSources+1, and any after it, count as "other".
	m.Alert(&alert.Alert{Priority: alert.PriorityWarning, Source: "k8s_audit"})
	m.Alert(&alert.Alert{Priority: alert.PriorityWarning, Source: "okta"})
	if n := testutil.CollectAndCount(m.Alerts); n != MaxSources+1 {
		t.Errorf("alerts series = %d, want %d (MaxSources and other)", n, MaxSources+1)
	}
	if got := count(OtherSource); got != 2 {
		t.Errorf("other = %v, want 2", got)
	}
	if got := count("k8s_audit"); got != 0 {
		t.Errorf("k8s_audit got a series of its own (%v) past MaxSources", got)
	}
	// Sources seen before the bound keep their label.
	m.Alert(&alert.Alert{Priority: alert.PriorityWarning, Source: "syscall"})
	m.Alert(&alert.Alert{Priority: alert.PriorityWarning, Source: fmt.Sprintf("plugin%d", MaxSources-1)})
	if got := count("syscall"); got != 2 {
		t.Errorf("syscall = %v, want 2", got)
	}
	if got := count(fmt.Sprintf("plugin%d", MaxSources-1)); got != 2 {
		t.Errorf("plugin%d = %v, want 2", MaxSources-1, got)
	}

	// A source too long for a label value counts as "other" too, even
	// while there is room.
	m = New(nil)
	m.Alert(&alert.Alert{Priority: alert.PriorityWarning, Source: strings.Repeat("x", 1000)})
	if got := testutil.ToFloat64(m.Alerts.WithLabelValues(alert.PriorityWarning.String(), OtherSource)); got != 1 {
		t.Errorf("long source: other = %v, want 1", got)
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
