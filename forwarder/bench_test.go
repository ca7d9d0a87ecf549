package forwarder

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/forwarder/config"
)

const benchAlert = `{"output":"16:31:56.746609046: Warning Sensitive file opened for reading by non-trusted program (file=/etc/shadow)","priority":"Warning","rule":"Read sensitive file untrusted","time":"2026-11-29T16:31:56.746609046Z","source":"syscall","hostname":"node-1","tags":["filesystem","mitre_credential_access"],"output_fields":{"evt.time":1764433916746609046,"proc.cmdline":"cat /etc/shadow","fd.name":"/etc/shadow","user.name":"root","container.id":"host"}}`

// BenchmarkPipelinePaced runs the whole sidekick in the process (API,
// embedded JetStream, dispatch, webhook output) delivering to a local sink,
// and sends b.N alerts at 5,000/s open loop (latency from each request's
// due time). Reported: ingest p50/p99 and the delivery rate, which must
// keep up with the ingest rate; it fails unless every alert arrives.
func BenchmarkPipelinePaced(b *testing.B) {
	const rate = 5000
	var got atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	defer sink.Close()
	cfg, err := config.Parse(nil, []string{"WEBHOOK_ADDRESS=" + sink.URL + "/falco", "QUEUE_DIR=" + b.TempDir()}, OutputTypes)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sk, err := New(context.Background(), Options{Config: cfg, Listener: ln})
	if err != nil {
		b.Fatal(err)
	}
	go sk.Serve()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sk.Shutdown(ctx)
	}()
	url := "http://" + sk.Addr().String() + "/"

	const workers = 64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	body := []byte(benchAlert)
	lat := make([]time.Duration, b.N)
	var failed atomic.Int64
	next := make(chan int, workers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				due := start.Add(time.Duration(i) * time.Second / rate)
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				lat[i] = time.Since(due)
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	sent := time.Since(start)
	deadline := time.Now().Add(2 * time.Minute)
	for got.Load() < int64(b.N)-failed.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	all := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	if n := got.Load(); n < int64(b.N) {
		b.Fatalf("delivered %d of %d", n, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/sent.Seconds(), "sent/s")
	b.ReportMetric(float64(b.N)/all.Seconds(), "delivered/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
