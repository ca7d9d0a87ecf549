package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/forwarder/queue"
	"github.com/nightjar-sec/nightjar/forwarder/queue/queuetest"
)

// An alert within bodylimit that enrichment takes past the queue's NATS
// max_payload is refused with a 413 naming the limit, and stored for no
// output (not a 500).
func TestEnrichedPastMaxPayloadAnswers413(t *testing.T) {
	const maxPayload = 8 << 10
	ns := queuetest.Server(t, maxPayload)
	cfg := queue.DefaultConfig()
	cfg.Dir, cfg.URL = "", ns.ClientURL()
	q, err := queue.Open(context.Background(), cfg, outs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	f := newFixture(t, q, func(o *Options) {
		o.BodyLimit = 4096
		o.Enricher.CustomFields["note"] = strings.Repeat("n", maxPayload)
	})
	resp, b := f.do(t, "POST", "/", validAlert)
	if msg := errorOf(t, b); resp.StatusCode != 413 || !strings.Contains(msg, "larger than the queue accepts") ||
		!strings.Contains(msg, fmt.Sprintf("max_payload of %d bytes", maxPayload)) {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if d := q.Health().Depth; d["hook"] != 0 || d["pager"] != 0 {
		t.Fatalf("depth %v: stored although refused", d)
	}
	_, m := f.do(t, "GET", "/metrics", "")
	if !strings.Contains(string(m), `nightjar_sidekick_inputs_total{status="rejected"} 1`) {
		t.Fatalf("metrics:\n%s", m)
	}
}

// busyQueue is the real queue whose Enqueue fails as queue.Enqueue does
// when the NATS server does not acknowledge in time
// (forwarder/queue TestEnqueueBusy provokes that for real).
type busyQueue struct{ *queue.Queue }

func (q busyQueue) Enqueue(_ context.Context, a *alert.Alert, _ []string) error {
	a.UUID = "00000000-0000-4000-8000-000000000001"
	return fmt.Errorf("queue: publishing to hook: %w", queue.ErrBusy)
}

func TestQueueBusyAnswers503(t *testing.T) {
	f := newFixture(t, nil, func(o *Options) {
		o.Queue = busyQueue{openQueue(t, 0)}
		o.RetryAfter = 3 * time.Second
	})
	resp, b := f.do(t, "POST", "/", validAlert)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" || !strings.Contains(errorOf(t, b), "queue busy") {
		t.Fatalf("status %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	_, m := f.do(t, "GET", "/metrics", "")
	if !strings.Contains(string(m), `nightjar_sidekick_inputs_total{status="busy"} 1`) {
		t.Fatalf("metrics:\n%s", m)
	}
}
