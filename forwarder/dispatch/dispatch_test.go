package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/forwarder/metrics"
	"github.com/nightjar-sec/nightjar/forwarder/queue"
	"github.com/nightjar-sec/nightjar/outputs"
)

// sink is an Output whose behaviour a test scripts per attempt.
type sink struct {
	mu       sync.Mutex
	attempts map[string][]time.Time // uuid -> attempt times
	got      map[string]bool        // uuid -> delivered
	answer   func(a *alert.Alert, attempt int) error
	onSend   func(ctx context.Context)
}

func newSink(answer func(a *alert.Alert, attempt int) error) *sink {
	return &sink{attempts: map[string][]time.Time{}, got: map[string]bool{}, answer: answer}
}

func (s *sink) Send(ctx context.Context, a *alert.Alert) error {
	if s.onSend != nil {
		s.onSend(ctx)
	}
	s.mu.Lock()
	s.attempts[a.UUID] = append(s.attempts[a.UUID], time.Now())
	n := len(s.attempts[a.UUID])
	s.mu.Unlock()
	var err error
	if s.answer != nil {
		err = s.answer(a, n)
	}
	if err == nil {
		s.mu.Lock()
		s.got[a.UUID] = true
		s.mu.Unlock()
	}
	return err
}

func (s *sink) delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func (s *sink) times(uuid string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.attempts[uuid]...)
}

func testAlert(i int) *alert.Alert {
	return &alert.Alert{
		UUID:     fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		Output:   "test",
		Priority: alert.PriorityWarning,
		Rule:     "Test rule",
		Time:     time.Now().UTC(),
	}
}

func target(name string, o outputs.Output, mod func(*outputs.Common)) Target {
	c := outputs.DefaultCommon()
	c.Timeout = 2 * time.Second
	if mod != nil {
		mod(&c)
	}
	return Target{Name: name, Type: "test", Output: o, Common: c,
		Backoff: Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}}
}

func openQueue(t *testing.T, outs ...string) *queue.Queue {
	t.Helper()
	cfg := queue.DefaultConfig()
	cfg.Dir = t.TempDir()
	q, err := queue.Open(context.Background(), cfg, outs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// openServingQueue is openQueue with the embedded server listening on a
// loopback port, and a JetStream client of its own on it: for tests that
// act on the server as an operator or another publisher would.
func openServingQueue(t *testing.T, outs ...string) (*queue.Queue, jetstream.JetStream) {
	t.Helper()
	cfg := queue.DefaultConfig()
	cfg.Dir = t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	q, err := queue.Open(context.Background(), cfg, outs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", cfg.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return q, js
}

func start(t *testing.T, q *queue.Queue, m *metrics.Metrics, targets ...Target) *Dispatcher {
	t.Helper()
	d, err := Start(context.Background(), q, targets, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

func enqueue(t *testing.T, q *queue.Queue, n int, outs ...string) {
	t.Helper()
	for i := range n {
		if err := q.Enqueue(context.Background(), testAlert(i), outs); err != nil {
			t.Fatal(err)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deadLetters(t *testing.T, q *queue.Queue) []queue.DeadLetter {
	t.Helper()
	dl, err := q.DeadLetters(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return dl
}

func TestDeliversAndAcks(t *testing.T) {
	q := openQueue(t, "a", "b")
	m := metrics.New(prometheus.NewRegistry())
	a, b := newSink(nil), newSink(nil)
	start(t, q, m, target("a", a, nil), target("b", b, nil))
	enqueue(t, q, 50, "a", "b")
	eventually(t, "all deliveries", func() bool { return a.delivered() == 50 && b.delivered() == 50 })
	eventually(t, "empty queue", func() bool { d := q.Depth(); return d["a"] == 0 && d["b"] == 0 })
	if got := testutil.ToFloat64(m.Deliveries.WithLabelValues("a", metrics.DeliveryOK)); got != 50 {
		t.Errorf("deliveries ok = %v, want 50", got)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	q := openQueue(t, "a")
	m := metrics.New(prometheus.NewRegistry())
	s := newSink(func(_ *alert.Alert, attempt int) error {
		if attempt == 1 {
			return outputs.StatusError(429, "1", "slow down")
		}
		if attempt == 2 {
			return errors.New("connection reset") // unclassified: retried on the short backoff
		}
		return nil
	})
	start(t, q, m, target("a", s, nil))
	enqueue(t, q, 1, "a")
	eventually(t, "delivery", func() bool { return s.delivered() == 1 })
	at := s.times(testAlert(0).UUID)
	if len(at) != 3 {
		t.Fatalf("attempts = %d, want 3", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < 950*time.Millisecond {
		t.Errorf("retried %s after a 429 with Retry-After: 1, want at least 1s", gap)
	}
	if got := testutil.ToFloat64(m.Retries.WithLabelValues("a", "http_429")); got != 1 {
		t.Errorf("retries http_429 = %v", got)
	}
	if got := testutil.ToFloat64(m.Retries.WithLabelValues("a", "transport")); got != 1 {
		t.Errorf("retries transport = %v", got)
	}
}

func TestPermanentErrorDeadLetters(t *testing.T) {
	q := openQueue(t, "a")
	m := metrics.New(prometheus.NewRegistry())
	s := newSink(func(*alert.Alert, int) error { return outputs.StatusError(400, "", "invalid payload") })
	start(t, q, m, target("a", s, nil))
	enqueue(t, q, 3, "a")
	eventually(t, "dead letters", func() bool { return len(deadLetters(t, q)) == 3 })
	for _, dl := range deadLetters(t, q) {
		if dl.Output != "a" || dl.Reason != metrics.DeadPermanent || dl.Attempts != 1 || dl.Error != "HTTP 400 Bad Request: invalid payload" {
			t.Errorf("dead letter %+v", dl)
		}
	}
	eventually(t, "empty queue", func() bool { return q.Depth()["a"] == 0 })
	eventually(t, "dead letters metric", func() bool {
		return testutil.ToFloat64(m.DeadLetters.WithLabelValues("a", metrics.DeadPermanent)) == 3
	})
	if n := len(s.times(testAlert(0).UUID)); n != 1 {
		t.Errorf("a permanent error was retried: %d attempts", n)
	}
}

func TestMaxAgeDeadLetters(t *testing.T) {
	q := openQueue(t, "a")
	m := metrics.New(prometheus.NewRegistry())
	s := newSink(func(*alert.Alert, int) error { return outputs.StatusError(503, "", "down") })
	start(t, q, m, target("a", s, func(c *outputs.Common) { c.MaxAge = time.Second }))
	enqueue(t, q, 2, "a")
	eventually(t, "dead letters", func() bool { return len(deadLetters(t, q)) == 2 })
	for _, dl := range deadLetters(t, q) {
		if dl.Reason != metrics.DeadMaxAge || dl.Attempts < 1 || dl.Died.Sub(dl.Enqueued) < time.Second ||
			!strings.HasPrefix(dl.Error, "maxage 1s exceeded after ") || !strings.Contains(dl.Error, "last error: retryable: HTTP 503") {
			t.Errorf("dead letter %+v", dl)
		}
		a, err := alert.Decode(dl.Alert)
		if err != nil {
			t.Fatal(err)
		}
		if n := uint64(len(s.times(a.UUID))); dl.Attempts != n {
			t.Errorf("dead letter says %d attempts, the destination saw %d", dl.Attempts, n)
		}
	}
	// The metric follows the dead letter's store by a moment.
	eventually(t, "dead letters metric", func() bool {
		return testutil.ToFloat64(m.DeadLetters.WithLabelValues("a", metrics.DeadMaxAge)) == 2
	})
	eventually(t, "empty queue", func() bool { return q.Depth()["a"] == 0 })
}

// TestSlowOutputDoesNotDelayFast: an output whose every attempt hangs until
// its timeout holds only its own workers.
func TestSlowOutputDoesNotDelayFast(t *testing.T) {
	q := openQueue(t, "slow", "fast")
	slow := newSink(nil)
	slow.onSend = func(ctx context.Context) { <-ctx.Done() }
	slow.answer = func(*alert.Alert, int) error { return outputs.Retryable("timeout: hung", 0) }
	fast := newSink(nil)
	reg := prometheus.NewRegistry()
	start(t, q, metrics.New(reg),
		target("slow", slow, func(c *outputs.Common) { c.MaxConcurrentRequests = 1; c.Timeout = 3 * time.Second }),
		target("fast", fast, nil))
	began := time.Now()
	enqueue(t, q, 300, "slow", "fast")
	eventually(t, "fast deliveries", func() bool { return fast.delivered() == 300 })
	took := time.Since(began)
	slow.mu.Lock()
	slowAttempts := len(slow.attempts)
	slow.mu.Unlock()
	// The slow output can have started at most a handful of 3-second
	// attempts in the time the fast one took for all 300.
	if max := int(took/(3*time.Second)) + 2; slowAttempts > max {
		t.Errorf("slow output made %d attempts in %s", slowAttempts, took)
	}
	if d := q.Depth()["slow"]; d != 300 {
		t.Errorf("slow backlog = %d, want 300", d)
	}
	// The queue depth gauge reads the same at scrape time.
	eventually(t, "fast backlog drained", func() bool { return q.Depth()["fast"] == 0 })
	want := `
# HELP nightjar_sidekick_queue_depth Deliveries waiting in the queue (pending plus unacknowledged), by output.
# TYPE nightjar_sidekick_queue_depth gauge
nightjar_sidekick_queue_depth{output="fast"} 0
nightjar_sidekick_queue_depth{output="slow"} 300
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nightjar_sidekick_queue_depth"); err != nil {
		t.Error(err)
	}
}

// TestStopHandsBackAndRestartDelivers: Stop lets attempts in flight finish,
// and deliveries pulled but not started are delivered at once by the next
// dispatcher.
func TestStopHandsBackAndRestartDelivers(t *testing.T) {
	q := openQueue(t, "a")
	block := make(chan struct{})
	s := newSink(nil)
	var inFlight atomic.Int32
	s.onSend = func(ctx context.Context) {
		inFlight.Add(1)
		select {
		case <-block:
		case <-ctx.Done():
		}
	}
	s.answer = func(*alert.Alert, int) error {
		select {
		case <-block:
			return nil
		default:
			return outputs.Retryable("timeout: cut short", 0)
		}
	}
	d, err := Start(context.Background(), q, []Target{target("a", s, func(c *outputs.Common) { c.Timeout = time.Minute })}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, q, 20, "a")
	eventually(t, "attempts in flight", func() bool {
		return inFlight.Load() == outputs.DefaultMaxConcurrentRequests
	})
	// Stop waits for the attempts in flight, which the destination
	// completes a moment later; the rest go back to the queue.
	go func() {
		time.Sleep(200 * time.Millisecond)
		close(block)
	}()
	d.Stop()
	if n := s.delivered(); n != outputs.DefaultMaxConcurrentRequests {
		t.Errorf("delivered %d by the time Stop returned, want the %d in flight", n, outputs.DefaultMaxConcurrentRequests)
	}
	restarted := time.Now()
	start(t, q, nil, target("a", s, func(c *outputs.Common) { c.Timeout = time.Minute }))
	eventually(t, "all deliveries", func() bool { return s.delivered() == 20 })
	// Handed back, not left to the 2-minute AckWait.
	if took := time.Since(restarted); took > 15*time.Second {
		t.Errorf("redelivery after Stop took %s", took)
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	for attempt := uint64(1); attempt < 100; attempt++ {
		ceil := min(time.Second<<min(attempt-1, 30), time.Minute)
		for range 20 {
			if d := b.Delay(attempt, 0); d <= 0 || d > ceil {
				t.Fatalf("Delay(%d) = %s, want (0, %s]", attempt, d, ceil)
			}
		}
	}
	if d := b.Delay(1, 90*time.Second); d != 90*time.Second {
		t.Errorf("Retry-After 90s gave %s", d)
	}
}

// TestConsumerDeletedOnServer: an operator (or another sidekick) deleting
// an output's consumer does not stop its deliveries.
func TestConsumerDeletedOnServer(t *testing.T) {
	q, js := openServingQueue(t, "a")
	s := newSink(nil)
	start(t, q, nil, target("a", s, nil))
	enqueue(t, q, 5, "a")
	eventually(t, "first deliveries", func() bool { return s.delivered() == 5 })

	if err := js.DeleteConsumer(context.Background(), "nightjar_deliver", "deliver_a"); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 10; i++ {
		if err := q.Enqueue(context.Background(), testAlert(i), []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "deliveries after the consumer was deleted", func() bool { return s.delivered() == 10 })
}

// ratelimit paces attempts (it never drops): 12 deliveries at 20/s take at
// least 11 intervals of 50 ms, over all 4 workers, and all arrive once.
func TestRateLimitPaces(t *testing.T) {
	q := openQueue(t, "slow")
	s := newSink(nil)
	start(t, q, nil, target("slow", s, func(c *outputs.Common) { c.RateLimit = 20 }))
	begin := time.Now()
	enqueue(t, q, 12, "slow")
	eventually(t, "all deliveries", func() bool { return s.delivered() == 12 })
	if took := time.Since(begin); took < 11*50*time.Millisecond {
		t.Fatalf("12 deliveries at 20/s took %v", took)
	}
	var all []time.Time
	for i := range 12 {
		ts := s.times(testAlert(i).UUID)
		if len(ts) != 1 {
			t.Fatalf("alert %d attempted %d times", i, len(ts))
		}
		all = append(all, ts[0])
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	// The limiter hands out a turn every 50 ms: 12 attempts span 11 turns
	// (one turn of slack for when the first attempt was recorded late).
	if span := all[len(all)-1].Sub(all[0]); span < 10*50*time.Millisecond {
		t.Fatalf("12 attempts spread over only %v", span)
	}
}

// rawSink is a sink that takes the stored JSON (outputs.RawSender): the
// dispatcher must call SendRaw, never Send.
type rawSink struct {
	*sink
	mu     sync.Mutex
	bodies map[string][]byte // uuid -> last body
	sends  atomic.Int64      // calls of Send
}

func newRawSink(answer func(a *alert.Alert, attempt int) error) *rawSink {
	return &rawSink{sink: newSink(answer), bodies: map[string][]byte{}}
}

func (s *rawSink) Send(ctx context.Context, a *alert.Alert) error {
	s.sends.Add(1)
	return s.sink.Send(ctx, a)
}

func (s *rawSink) SendRaw(ctx context.Context, data []byte) error {
	a, err := alert.Decode(data)
	if err != nil {
		return outputs.Permanent("not an alert: " + err.Error())
	}
	s.mu.Lock()
	s.bodies[a.UUID] = slices.Clone(data)
	s.mu.Unlock()
	return s.sink.Send(ctx, a)
}

// An output that implements outputs.RawSender gets the stored bytes (the
// alert as Encode wrote it), with retries and dead letters as for any
// output; an output beside it that does not still gets decoded alerts.
func TestRawSenderGetsStoredBytes(t *testing.T) {
	q := openQueue(t, "raw", "plain")
	m := metrics.New(prometheus.NewRegistry())
	raw := newRawSink(func(a *alert.Alert, attempt int) error {
		switch {
		case a.UUID == testAlert(1).UUID:
			return outputs.StatusError(400, "", "invalid payload")
		case attempt == 1:
			return outputs.StatusError(429, "1", "slow down")
		}
		return nil
	})
	plain := newSink(nil)
	start(t, q, m, target("raw", raw, nil), target("plain", plain, nil))
	var sent []*alert.Alert
	for i := range 3 {
		a := testAlert(i)
		a.OutputFields = alert.Fields{"n": json.Number("12345678901234567890"), "s": "<&>"}
		if err := q.Enqueue(context.Background(), a, []string{"raw", "plain"}); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, a)
	}
	eventually(t, "deliveries", func() bool { return raw.delivered() == 2 && plain.delivered() == 3 })
	eventually(t, "dead letter", func() bool { return len(deadLetters(t, q)) == 1 })
	if n := raw.sends.Load(); n != 0 {
		t.Errorf("Send called %d times on a RawSender", n)
	}
	for _, i := range []int{0, 2} {
		want, err := sent[i].Encode()
		if err != nil {
			t.Fatal(err)
		}
		raw.mu.Lock()
		got := raw.bodies[testAlert(i).UUID]
		raw.mu.Unlock()
		if string(got) != string(want) {
			t.Errorf("alert %d: SendRaw got\n%s\nwant the stored\n%s", i, got, want)
		}
		if at := raw.times(testAlert(i).UUID); len(at) != 2 || at[1].Sub(at[0]) < 950*time.Millisecond {
			t.Errorf("alert %d: attempts at %v, want 2, the second after Retry-After: 1", i, at)
		}
	}
	dl := deadLetters(t, q)[0]
	if dl.Output != "raw" || dl.Reason != metrics.DeadPermanent || !strings.Contains(string(dl.Alert), testAlert(1).UUID) {
		t.Errorf("dead letter %+v", dl)
	}
	if got := testutil.ToFloat64(m.Deliveries.WithLabelValues("raw", metrics.DeliveryOK)); got != 2 {
		t.Errorf("deliveries ok = %v, want 2", got)
	}
}

// A stored message that is not an alert goes to the dead letters, whether
// the output decodes (Send) or takes the stored JSON (SendRaw).
func TestUndecodableDeadLetters(t *testing.T) {
	q, js := openServingQueue(t, "raw", "plain")
	raw, plain := newRawSink(nil), newSink(nil)
	start(t, q, nil, target("raw", raw, nil), target("plain", plain, nil))

	for _, out := range []string{"raw", "plain"} {
		if _, err := js.Publish(context.Background(), "nightjar.deliver."+out, []byte("not json")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "dead letters", func() bool { return len(deadLetters(t, q)) == 2 })
	for _, dl := range deadLetters(t, q) {
		if dl.Reason != queue.ReasonUndecodable || dl.Attempts != 0 {
			t.Errorf("dead letter %+v", dl)
		}
	}
	if raw.delivered()+plain.delivered() != 0 || raw.sends.Load() != 0 {
		t.Errorf("an undecodable message was sent")
	}
}
