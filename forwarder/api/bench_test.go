package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/forwarder/paced"
	"github.com/nightjar-sec/nightjar/forwarder/queue"
	"github.com/nightjar-sec/nightjar/forwarder/route"
)

// BenchmarkIngest measures POST / over loopback at concurrency 16 and 64:
// "durable" is the real API on the real embedded JetStream queue (200 only
// after the queue stored the alert), "bare" a plain net/http handler that
// decodes the same JSON and answers 200. Reported: alerts/s, p50 and p99
// latency.
func BenchmarkIngest(b *testing.B) {
	bare := bareHandler
	for _, conc := range []int{16, 64} {
		b.Run(fmt.Sprintf("bare/c%d", conc), func(b *testing.B) { benchPost(b, bare, conc) })
		b.Run(fmt.Sprintf("durable/c%d", conc), func(b *testing.B) {
			cfg := queue.DefaultConfig()
			cfg.Dir = b.TempDir()
			q, err := queue.Open(context.Background(), cfg, []string{"hook"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			r, _ := route.New(nil, []route.Output{{Name: "hook"}})
			benchPost(b, New(Options{Queue: q, Router: r, BodyLimit: 1 << 20}), conc)
		})
	}
}

// bareHandler decodes the same JSON as POST / and answers 200: the
// baseline both ingest benchmarks compare against.
var bareHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		_, err = alert.Decode(body)
	}
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	w.WriteHeader(200)
})

func benchPost(b *testing.B, h http.Handler, conc int) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
	body := []byte(validAlert)
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < conc; g++ {
		n := b.N / conc
		if g < b.N%conc {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, n)
			for i := 0; i < n; i++ {
				t0 := time.Now()
				resp, err := client.Post(srv.URL+"/", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat[g] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkIngestPaced sends at a fixed 5,000 alerts/s (open loop: each
// request's latency counts from when it was due, so a stall is not hidden)
// and reports p50/p99, for the durable path and, as the same-run baseline,
// the bare handler paced the same way: the sender, the server and (for
// "durable") the embedded JetStream share the machine's cores, and the
// bare run shows what that sharing alone costs the tail.
func BenchmarkIngestPaced(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchPaced(b, bareHandler) })
	b.Run("durable", func(b *testing.B) {
		cfg := queue.DefaultConfig()
		cfg.Dir = b.TempDir()
		q, err := queue.Open(context.Background(), cfg, []string{"hook"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer q.Close()
		r, _ := route.New(nil, []route.Output{{Name: "hook"}})
		benchPaced(b, New(Options{Queue: q, Router: r, BodyLimit: 1 << 20}))
	})
}

func benchPaced(b *testing.B, h http.Handler) {
	const rate = 5000
	srv := httptest.NewServer(h)
	defer srv.Close()
	b.ResetTimer()
	res := paced.Post(srv.URL+"/", []byte(validAlert), b.N, rate, 64)
	b.StopTimer()
	if res.Failed > 0 {
		b.Errorf("%d of %d requests failed", res.Failed, b.N)
	}
	b.ReportMetric(float64(res.Percentile(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.Percentile(0.99).Microseconds()), "p99-µs")
}
