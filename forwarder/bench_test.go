package forwarder

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/forwarder/config"
	"github.com/nightjar-sec/nightjar/forwarder/paced"
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

	b.ResetTimer()
	start := time.Now()
	res := paced.Post(url, []byte(benchAlert), b.N, rate, 64)
	sent := res.Sent
	failed := int64(res.Failed)
	deadline := time.Now().Add(2 * time.Minute)
	for got.Load() < int64(b.N)-failed && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	all := time.Since(start)
	b.StopTimer()
	if n := failed; n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	if n := got.Load(); n < int64(b.N) {
		b.Fatalf("delivered %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/sent.Seconds(), "sent/s")
	b.ReportMetric(float64(b.N)/all.Seconds(), "delivered/s")
	b.ReportMetric(float64(res.Percentile(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.Percentile(0.99).Microseconds()), "p99-µs")
}
