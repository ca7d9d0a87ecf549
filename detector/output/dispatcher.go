package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

// Options configure a Dispatcher: which outputs, and how alerts look.
type Options struct {
	Format Format
	// Buffered is buffered_outputs: local outputs flush when their queue
	// goes idle instead of after every alert.
	Buffered bool
	// QueueCapacity bounds each queue (local outputs, HTTP); at least 1.
	QueueCapacity int

	Stdout io.Writer // nil: no stdout output (use os.Stdout to enable)

	File          string // "" = no file output
	FileKeepAlive bool

	Syslog bool
	// SyslogNetwork and SyslogAddr dial a syslog other than the local one
	// (tests); empty means the local syslog.
	SyslogNetwork, SyslogAddr string

	HTTP *HTTPOptions // nil = no HTTP output

	Metrics *Metrics // nil: a private set
	Logger  *slog.Logger
}

// Dispatcher fans alerts out to the outputs without ever blocking the
// caller. Local outputs (stdout, file, syslog) are written by one goroutine
// from a bounded queue; the HTTP output has its own queue and worker, so a
// sidekick outage never delays the local outputs.
type Dispatcher struct {
	format   Format
	buffered bool
	sinks    []sink
	local    chan *alert.Alert
	http     *httpSender
	m        *Metrics
	log      *slog.Logger

	localDrops drops
	// localPending counts the alerts in the local queue or being written;
	// abandoned tells the local writer that Close gave up waiting (what
	// was pending then is counted as lost).
	localPending atomic.Int64
	abandoned    atomic.Bool
	mu           sync.RWMutex // Send holds it shared; Close exclusive
	closed       bool
	done         chan struct{}
}

// Loss is what one output lost since start, by reason.
type Loss struct {
	// Output names the output by its configuration key: "http_output", or
	// the local outputs, which share one queue ("stdout_output,file_output").
	Output string
	// QueueFull alerts found the output's queue full.
	QueueFull uint64
	// Rejected alerts were refused for good by the receiver (an HTTP 4xx
	// other than 408/429) or could not be encoded.
	Rejected uint64
	// Shutdown alerts were still undelivered when the outputs were closed
	// and the shutdown deadline passed.
	Shutdown uint64
}

// Total is every alert the output lost.
func (l Loss) Total() uint64 { return l.QueueFull + l.Rejected + l.Shutdown }

// drops counts one output's lost alerts by reason (the metrics' reason
// label), and into the metrics.
type drops struct {
	queueFull, rejected, shutdown atomic.Uint64
}

func (c *drops) add(m *Metrics, output, reason string, n uint64) {
	switch reason {
	case "queue_full":
		c.queueFull.Add(n)
	case "rejected":
		c.rejected.Add(n)
	case "shutdown":
		c.shutdown.Add(n)
	}
	m.OutputDropped.WithLabelValues(output, reason).Add(float64(n))
}

func (c *drops) total() uint64 { return c.queueFull.Load() + c.rejected.Load() + c.shutdown.Load() }

func (c *drops) loss(output string) Loss {
	return Loss{Output: output, QueueFull: c.queueFull.Load(), Rejected: c.rejected.Load(), Shutdown: c.shutdown.Load()}
}

// New opens the outputs; an output that cannot be opened is an error that
// names its key.
func New(o Options) (*Dispatcher, error) {
	if o.QueueCapacity < 1 {
		o.QueueCapacity = 1
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Dispatcher{format: o.Format, buffered: o.Buffered, m: o.Metrics, log: o.Logger,
		local: make(chan *alert.Alert, o.QueueCapacity), done: make(chan struct{})}
	fail := func(err error) (*Dispatcher, error) {
		for _, s := range d.sinks {
			s.close()
		}
		return nil, err
	}
	if o.Stdout != nil {
		d.sinks = append(d.sinks, newStdout(o.Stdout))
	}
	if o.File != "" {
		s, err := newFile(o.File, o.FileKeepAlive)
		if err != nil {
			return fail(err)
		}
		d.sinks = append(d.sinks, s)
	}
	if o.Syslog {
		s, err := newSyslog(o.SyslogNetwork, o.SyslogAddr)
		if err != nil {
			return fail(err)
		}
		d.sinks = append(d.sinks, s)
	}
	if o.HTTP != nil {
		h, err := newHTTP(*o.HTTP, o.Format, o.QueueCapacity, o.Metrics, o.Logger)
		if err != nil {
			return fail(err)
		}
		d.http = h
	}
	go d.runLocal()
	return d, nil
}

// Metrics returns the metrics the dispatcher counts into.
func (d *Dispatcher) Metrics() *Metrics { return d.m }

// Send hands an alert to every output and returns at once. The alert must
// not be changed afterwards.
func (d *Dispatcher) Send(a *alert.Alert) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return
	}
	d.m.Alerts.WithLabelValues(a.Priority.String(), a.Rule, a.Source).Inc()
	d.sendLocal(a)
	if d.http != nil {
		d.http.enqueue(a)
	}
}

// sendLocal queues an alert for the local outputs; a full queue drops it.
func (d *Dispatcher) sendLocal(a *alert.Alert) {
	if len(d.sinks) == 0 {
		return
	}
	d.localPending.Add(1)
	select {
	case d.local <- a:
	default:
		d.localPending.Add(-1)
		d.localDrops.add(d.m, "local", "queue_full", 1)
	}
}

// Dropped returns how many alerts were lost so far, all outputs together.
func (d *Dispatcher) Dropped() uint64 {
	n := d.localDrops.total()
	if d.http != nil {
		n += d.http.drops.total()
	}
	return n
}

// Losses returns what each output lost so far (every output, lost or not):
// the local outputs (stdout, file, syslog: one queue) first, then HTTP.
func (d *Dispatcher) Losses() []Loss {
	var out []Loss
	if len(d.sinks) > 0 {
		var keys []string
		for _, s := range d.sinks {
			keys = append(keys, s.name()+"_output")
		}
		out = append(out, d.localDrops.loss(strings.Join(keys, ",")))
	}
	if d.http != nil {
		out = append(out, d.http.drops.loss("http_output"))
	}
	return out
}

func (d *Dispatcher) runLocal() {
	defer close(d.done)
	for a := range d.local {
		if d.abandoned.Load() {
			continue // Close gave up and counted it as lost
		}
		d.m.QueueDepth.WithLabelValues("local").Set(float64(len(d.local)))
		d.writeLocal(a)
		d.localPending.Add(-1)
	}
	for _, s := range d.sinks {
		if err := s.close(); err != nil {
			d.log.Error("output close failed", "output", s.name(), "error", err)
		}
	}
}

// writeLocal writes one alert to every local sink.
func (d *Dispatcher) writeLocal(a *alert.Alert) {
	line, err := d.format.Line(a)
	if err != nil {
		d.log.Error("cannot encode alert, dropped", "rule", a.Rule, "error", err)
		d.localDrops.add(d.m, "local", "rejected", 1)
		return
	}
	idle := !d.buffered || len(d.local) == 0
	for _, s := range d.sinks {
		err := s.write(a, line)
		if err == nil && idle {
			err = s.flush()
		}
		if err != nil {
			d.m.OutputErrors.WithLabelValues(s.name()).Inc()
			d.log.Error("output failed", "output", s.name(), "error", err)
			continue
		}
		d.m.OutputWrites.WithLabelValues(s.name()).Inc()
	}
}

// localGrace is the least time the local outputs get to write their queue
// at shutdown, even when the deadline has passed or nearly: the HTTP
// output may have used all of it, and the alerts that report its losses
// come after.
const localGrace = time.Second

// Close is CloseWith without a final report.
func (d *Dispatcher) Close(ctx context.Context) error { return d.CloseWith(ctx, nil) }

// CloseWith stops taking alerts and drains the outputs: first the HTTP
// queue, until it is delivered or ctx ends (then what is left is counted as
// lost, reason shutdown); then, when final is not nil, it calls final with
// a send function whose alerts go to the local outputs only (a report of
// what HTTP lost can still reach them); then it waits for the local
// outputs to write their queue, for the longer of what is left of ctx and
// localGrace (then what is left is counted as lost).
//
// The outcome does not depend on timing once the outputs are done: the
// error is nil exactly when nothing was left undelivered at shutdown;
// otherwise it names each output and how many alerts it lost then. Losses
// has the counts.
func (d *Dispatcher) CloseWith(ctx context.Context, final func(send func(*alert.Alert))) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("output: closed twice")
	}
	d.closed = true
	d.mu.Unlock()
	var errs []error
	if d.http != nil {
		if n := d.http.close(ctx); n > 0 {
			errs = append(errs, fmt.Errorf("http_output: %d alert(s) not delivered to %s before the shutdown deadline", n, d.http.safeURL()))
		}
	}
	if final != nil {
		final(d.sendLocal)
	}
	close(d.local)
	if !d.waitLocal(ctx) {
		d.abandoned.Store(true)
		if n := d.localPending.Load(); n > 0 {
			d.localDrops.add(d.m, "local", "shutdown", uint64(n))
			errs = append(errs, fmt.Errorf("%s: %d alert(s) not written before the shutdown deadline", d.Losses()[0].Output, n))
		}
	}
	return errors.Join(errs...)
}

// waitLocal waits for the local outputs to write their queue, for the
// longer of what is left of ctx and localGrace: the HTTP drain may return
// just before the deadline, and the milliseconds left would count alerts
// the local outputs can still write as lost. It reports whether they are
// done.
func (d *Dispatcher) waitLocal(ctx context.Context) bool {
	grace := time.NewTimer(localGrace)
	defer grace.Stop()
	ctxDone, graceDone := ctx.Done(), grace.C
	for ctxDone != nil || graceDone != nil {
		select {
		case <-d.done:
			return true
		case <-ctxDone:
			ctxDone = nil
		case <-graceDone:
			graceDone = nil
		}
	}
	select {
	case <-d.done: // done as well: the outputs' state decides, not the select
		return true
	default:
		return false
	}
}

// DefaultStdout is where the stdout output writes.
var DefaultStdout io.Writer = os.Stdout

// dropInterval is the least time between two internal drop alerts.
const dropInterval = 10 * time.Second
