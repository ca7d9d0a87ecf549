// Package dispatch delivers queued alerts to their outputs. Each output has
// its own durable consumer and its own pool of workers, so a slow or down
// destination holds only its own workers; its backlog waits on disk in the
// queue, and only a bounded batch is ever in memory.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/nightjar-sec/nightjar/forwarder/metrics"
	"github.com/nightjar-sec/nightjar/forwarder/queue"
	"github.com/nightjar-sec/nightjar/outputs"
)

// Target is one configured output instance.
type Target struct {
	Name   string // instance name, the queue subject ("slack", "slack-ops")
	Type   string // destination type ("slack")
	Output outputs.Output
	Common outputs.Common
	// Backoff tunes retries; the zero value means the queue's
	// queue.retrymin and queue.retrymax.
	Backoff Backoff
}

// Backoff is the retry schedule: the n-th retry waits a random time in
// [0, min(Max, Min*2^(n-1))] ("full jitter"), or the destination's
// Retry-After when that is longer.
type Backoff struct {
	Min time.Duration
	Max time.Duration
}

// Delay returns the wait before retry number attempt (1 for the first
// retry), honouring retryAfter.
func (b Backoff) Delay(attempt uint64, retryAfter time.Duration) time.Duration {
	ceil := b.Max
	if attempt < 40 {
		if d := b.Min << (attempt - 1); d > 0 && d < b.Max {
			ceil = d
		}
	}
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	if d < time.Millisecond {
		d = time.Millisecond
	}
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

// bufferPerWorker is how many deliveries the client pulls ahead per worker.
const bufferPerWorker = 4

// Dispatcher runs the workers of every target.
type Dispatcher struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	workers []*worker
}

// OutputState is an output's recent delivery attempts in this process, for
// /healthz. It starts empty at each start-up.
type OutputState struct {
	// LastSuccess is when an attempt last succeeded (zero: none yet).
	LastSuccess time.Time
	// LastFailure is when an attempt last failed (zero: none yet), and
	// LastError what went wrong, as outputs.DeliveryError.Error() prints
	// it (its kind, retryable or permanent, and the reason the dead letters
	// record), which the output has scrubbed of its secrets.
	LastFailure time.Time
	LastError   string
	// ConsecutiveFailures counts the failed attempts since the last
	// success (0 after a success).
	ConsecutiveFailures uint64
}

// States returns each target's OutputState, by output name.
func (d *Dispatcher) States() map[string]OutputState {
	s := make(map[string]OutputState, len(d.workers))
	for _, w := range d.workers {
		w.mu.Lock()
		s[w.t.Name] = w.state
		w.mu.Unlock()
	}
	return s
}

// Start creates each target's consumer and starts its workers.
func Start(ctx context.Context, q *queue.Queue, targets []Target, m *metrics.Metrics, log *slog.Logger) (*Dispatcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{cancel: cancel}
	var workers []*worker
	for _, t := range targets {
		if t.Backoff.Min <= 0 || t.Backoff.Max < t.Backoff.Min {
			t.Backoff = Backoff{Min: q.Config().RetryMin, Max: q.Config().RetryMax}
		}
		n := max(t.Common.MaxConcurrentRequests, 1)
		if t.Common.Timeout <= 0 {
			t.Common.Timeout = outputs.DefaultTimeout
		}
		if t.Common.MaxAge <= 0 {
			t.Common.MaxAge = outputs.DefaultMaxAge
		}
		// The client buffers a few deliveries per worker: pulling in
		// batches of one or two (a buffer of one per worker) cost a pull
		// request per two deliveries, and with the default 4 workers the
		// sidekick delivered only ~1,300-3,700 alerts/s while taking 5,000/s
		// (~310 CPU-us per alert; ~240 with this buffer).
		buffer := bufferPerWorker * n
		opts := queue.ConsumerOptions{
			// A buffered delivery waits at most buffer/n attempts for a
			// free worker, then takes at most one attempt itself. It is also
			// how long deliveries in flight in a crashed process wait before
			// they are handed out again.
			AckWait:       time.Duration(bufferPerWorker+1)*t.Common.Timeout + 5*time.Second,
			MaxAckPending: max(1000, 16*n),
		}
		var limiter *rate.Limiter
		if r := t.Common.RateLimit; r > 0 {
			limiter = rate.NewLimiter(rate.Limit(r), 1)
			// A delivery may also wait its turn behind everything buffered
			// and in flight: without this, a slow rate would outlast the
			// ack wait and JetStream would hand the delivery out twice.
			opts.AckWait += time.Duration(float64(buffer+n) / r * float64(time.Second))
		}
		c, err := q.Consumer(ctx, t.Name, opts)
		if err != nil {
			cancel()
			return nil, err
		}
		raw, _ := t.Output.(outputs.RawSender)
		workers = append(workers, &worker{t: t, q: q, c: c, opts: opts, n: n, buffer: buffer, m: m, limiter: limiter,
			raw: raw, log: log.With("component", "dispatch", "output", t.Name)})
	}
	d.workers = workers
	for _, w := range workers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			w.run(runCtx)
		}()
	}
	m.SetDepthSource(q.Depth)
	return d, nil
}

// Stop stops pulling, lets attempts in flight finish (each within its
// output's timeout), and hands deliveries buffered but not started back to
// the queue for immediate redelivery.
func (d *Dispatcher) Stop() {
	d.cancel()
	d.wg.Wait()
}

// worker runs one output's pool.
type worker struct {
	t      Target
	q      *queue.Queue
	c      *queue.Consumer
	opts   queue.ConsumerOptions
	n      int
	buffer int // deliveries the client holds, pulled ahead of the workers
	m      *metrics.Metrics
	// limiter paces attempts (outputs' ratelimit); nil: no limit.
	limiter *rate.Limiter
	// raw is the output when it takes the stored JSON as it is: its
	// deliveries are not decoded (that and the output's encode were ~4-5 %
	// of the sidekick's CPU at 5,000 alerts/s).
	raw outputs.RawSender
	log *slog.Logger

	mu      sync.Mutex
	lastErr string // the output's last retryable failure, for maxage dead letters
	state   OutputState
}

func (w *worker) run(ctx context.Context) {
	jobs := make(chan *queue.Delivery)
	var pool sync.WaitGroup
	for range w.n {
		pool.Add(1)
		go func() {
			defer pool.Done()
			for d := range jobs {
				w.handle(ctx, d)
			}
		}()
	}
	for first := true; ctx.Err() == nil; first = false {
		it := w.subscribe(ctx, first)
		if it == nil {
			break
		}
		w.feed(ctx, it, jobs)
	}
	close(jobs)
	pool.Wait()
}

// subscribe starts pulling, retrying until it works or ctx ends (nil).
// Except the first time (Start has just created the consumer), it creates
// the consumer again first: the subscription may have ended because the
// consumer was deleted on the server.
func (w *worker) subscribe(ctx context.Context, first bool) *queue.Iterator {
	for {
		var err error
		if !first {
			var c *queue.Consumer
			if c, err = w.q.Consumer(ctx, w.t.Name, w.opts); err == nil {
				w.c = c
			}
		}
		first = false
		if err == nil {
			var it *queue.Iterator
			if w.raw != nil {
				it, err = w.c.MessagesRaw(w.buffer)
			} else {
				it, err = w.c.Messages(w.buffer)
			}
			if err == nil {
				return it
			}
		}
		w.log.Error("cannot pull deliveries; retrying in 5s", "err", err)
		if !sleep(ctx, 5*time.Second) {
			return nil
		}
	}
}

// feed hands deliveries to the pool until ctx ends or the subscription
// closes, then hands what the client had buffered back to the queue (so
// that it is delivered at once, here or after a restart, not after
// AckWait).
func (w *worker) feed(ctx context.Context, it *queue.Iterator, jobs chan<- *queue.Delivery) {
	var held *queue.Delivery
	defer func() {
		it.ReleaseBuffered()
		if held != nil {
			_ = held.Release()
		}
	}()
	for {
		d, err := it.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, queue.ErrClosed) {
				w.log.Warn("pull subscription closed; subscribing again")
				sleep(ctx, time.Second)
				return
			}
			w.log.Warn("pulling deliveries", "err", err)
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		select {
		case jobs <- d:
		case <-ctx.Done():
			held = d
			return
		}
	}
}

// sleep waits d, or less if ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// handle makes one delivery attempt and settles the delivery: ack,
// retry later, or dead letter.
func (w *worker) handle(ctx context.Context, d *queue.Delivery) {
	// Settling (ack, nak, dead letter) must outlive Stop's cancellation.
	settle := context.WithoutCancel(ctx)
	if d.DecodeErr != nil {
		w.dead(settle, d, queue.ReasonUndecodable, d.DecodeErr.Error(), d.Attempt-1)
		return
	}
	age := time.Since(d.Enqueued)
	if age > w.t.Common.MaxAge {
		w.mu.Lock()
		last := w.lastErr
		w.mu.Unlock()
		cause := fmt.Sprintf("maxage %s exceeded after %d attempts", w.t.Common.MaxAge, d.Attempt-1)
		if last != "" {
			cause += "; last error: " + last
		}
		w.dead(settle, d, metrics.DeadMaxAge, cause, d.Attempt-1)
		return
	}
	if w.limiter != nil {
		if err := w.limiter.Wait(ctx); err != nil {
			// Stopping while waiting for a turn: hand it back untried.
			if err := d.Release(); err != nil {
				w.log.Warn("handing a delivery back", "err", err)
			}
			return
		}
	}
	// An attempt in flight finishes even when Stop is called: cutting it
	// short could deliver the alert and still count it undelivered.
	actx, cancel := context.WithTimeout(settle, w.t.Common.Timeout)
	start := time.Now()
	var err error
	if w.raw != nil {
		err = w.raw.SendRaw(actx, d.Data)
	} else {
		err = w.t.Output.Send(actx, d.Alert)
	}
	cancel()
	end := time.Now()
	took := end.Sub(start)
	if err == nil {
		w.mu.Lock()
		w.state.LastSuccess = end
		w.state.ConsecutiveFailures = 0
		w.mu.Unlock()
		w.m.Delivery(w.t.Name, metrics.DeliveryOK, took)
		if err := d.Ack(); err != nil {
			w.log.Warn("acknowledging a delivery", "err", err)
		}
		return
	}
	de := outputs.Classify(err)
	w.mu.Lock()
	w.state.LastFailure = end
	w.state.LastError = de.Error()
	w.state.ConsecutiveFailures++
	if de.Retryable {
		w.lastErr = w.state.LastError
	}
	w.mu.Unlock()
	if !de.Retryable {
		w.m.Delivery(w.t.Name, metrics.DeliveryDead, took)
		w.dead(settle, d, metrics.DeadPermanent, de.Reason, d.Attempt)
		return
	}
	w.m.Delivery(w.t.Name, metrics.DeliveryRetry, took)
	w.m.Retry(w.t.Name, retryReason(de, err))
	delay := w.t.Backoff.Delay(d.Attempt, de.RetryAfter)
	// Come back no later than maxage, to dead-letter on time.
	if left := w.t.Common.MaxAge - age; delay > left {
		delay = max(left, time.Millisecond)
	}
	w.log.Debug("delivery failed; will retry", "err", de.Error(), "attempt", d.Attempt, "in", delay)
	if err := d.Retry(delay); err != nil {
		w.log.Warn("handing a delivery back for retry", "err", err)
	}
}

// dead sends a delivery to the dead letters; attempts counts the attempts
// made to deliver it (the delivery in hand is one only if it was tried).
func (w *worker) dead(ctx context.Context, d *queue.Delivery, reason, cause string, attempts uint64) {
	if err := d.DeadLetter(ctx, reason, cause, attempts); err != nil {
		// Not stored as a dead letter: leave it in the queue for a later
		// attempt rather than lose it.
		w.log.Error("storing a dead letter; the delivery stays queued", "err", err)
		_ = d.Retry(w.t.Backoff.Max)
		return
	}
	w.m.DeadLetter(w.t.Name, reason)
}

// retryReason is a low-cardinality label for a retryable failure.
func retryReason(de *outputs.DeliveryError, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case de.StatusCode == 429:
		return "http_429"
	case de.StatusCode >= 500:
		return "http_5xx"
	case de.StatusCode > 0:
		return "http_other"
	case len(de.Reason) >= 7 && de.Reason[:7] == "timeout":
		return "timeout"
	default:
		return "transport"
	}
}
