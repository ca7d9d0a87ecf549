package dispatch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/forwarder/queue"
	"github.com/nightjar-sec/nightjar/outputs"
	"github.com/nightjar-sec/nightjar/outputs/webhook"
)

// BenchmarkDeliver measures the delivery rate from the durable queue to a
// fast local sink: the real webhook output posting over loopback to an HTTP
// server that answers 200 at once. b.N alerts are queued first (not timed),
// then the clock runs from starting the dispatcher until the sink has them
// all. Reported: alerts/s, at the default 4 workers and at 16.
func BenchmarkDeliver(b *testing.B) {
	for _, workers := range []int{outputs.DefaultMaxConcurrentRequests, 16} {
		b.Run(fmt.Sprintf("webhook/w%d", workers), func(b *testing.B) {
			var got atomic.Int64
			sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Add(1)
			}))
			defer sink.Close()
			cfg := webhook.NewConfig()
			cfg.Address = outputs.SecretURL(sink.URL + "/falco")
			cfg.MaxConcurrentRequests = workers
			if err := cfg.Validate(); err != nil {
				b.Fatal(err)
			}
			out, err := cfg.New()
			if err != nil {
				b.Fatal(err)
			}

			qc := queue.DefaultConfig()
			qc.Dir = b.TempDir()
			q, err := queue.Open(context.Background(), qc, []string{"hook"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			for i := range b.N {
				if err := q.Enqueue(context.Background(), testAlert(i), []string{"hook"}); err != nil {
					b.Fatal(err)
				}
			}

			b.ResetTimer()
			start := time.Now()
			d, err := Start(context.Background(), q, []Target{{Name: "hook", Type: "webhook", Output: out, Common: *cfg.Shared()}}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			deadline := start.Add(5*time.Minute + time.Duration(b.N)*time.Millisecond)
			for got.Load() < int64(b.N) {
				if time.Now().After(deadline) {
					b.Fatalf("delivered %d of %d", got.Load(), b.N)
				}
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			d.Stop()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "alerts/s")
		})
	}
}
