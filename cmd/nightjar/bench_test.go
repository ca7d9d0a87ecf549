package main

import (
	"testing"
	"time"
)

// Latency from a syscall to the alert's arrival: the alert carries the
// kernel's event time, and the receiver notes when the POST came in. Each
// iteration is one open of /etc/shadow by a fresh process (so the numbers
// include nothing of the helper's own start-up). Needs root.
func benchLatency(b *testing.B, throughSidekick bool) {
	requireRoot(b)
	r := newReceiver(b)
	var args []string
	if throughSidekick {
		sk := startSidekick(b, r.srv.URL+"/hook")
		args = []string{"-o", "http_output.url=" + sk + "/"}
	}
	startNightjar(b, newReceiverOr(b, r, throughSidekick), args...)
	dir := b.TempDir()
	b.ResetTimer()
	d := latencies(b, r, dir, b.N)
	b.StopTimer()
	b.ReportMetric(float64(quantile(d, 0.5))/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(quantile(d, 0.99))/float64(time.Millisecond), "p99-ms")
}

// newReceiverOr gives nightjar the receiver directly, or a receiver it does
// not use when the sidekick sits in between (the -o that follows wins).
func newReceiverOr(b *testing.B, r *receiver, other bool) *receiver {
	if other {
		return newReceiver(b)
	}
	return r
}

func BenchmarkSyscallToHTTPOutput(b *testing.B) { benchLatency(b, false) }

func BenchmarkSyscallToWebhookThroughSidekick(b *testing.B) { benchLatency(b, true) }
