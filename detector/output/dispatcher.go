package output

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
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

	localDropped atomic.Uint64
	mu           sync.RWMutex // Send holds it shared; Close exclusive
	closed       bool
	done         chan struct{}
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
	if len(d.sinks) > 0 {
		select {
		case d.local <- a:
		default:
			d.localDropped.Add(1)
			d.m.OutputDropped.WithLabelValues("local", "queue_full").Inc()
		}
	}
	if d.http != nil {
		d.http.enqueue(a)
	}
}

// Dropped returns how many alerts were lost so far, all outputs together.
func (d *Dispatcher) Dropped() uint64 {
	n := d.localDropped.Load()
	if d.http != nil {
		n += d.http.dropped.Load()
	}
	return n
}

func (d *Dispatcher) runLocal() {
	defer close(d.done)
	for a := range d.local {
		d.m.QueueDepth.WithLabelValues("local").Set(float64(len(d.local)))
		line, err := d.format.Line(a)
		if err != nil {
			d.log.Error("cannot encode alert", "rule", a.Rule, "error", err)
			continue
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
	for _, s := range d.sinks {
		if err := s.close(); err != nil {
			d.log.Error("output close failed", "output", s.name(), "error", err)
		}
	}
}

// Close stops taking alerts, writes what the local queue holds, and waits
// for the HTTP queue to drain until ctx ends (then the rest is counted as
// dropped).
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("output: closed twice")
	}
	d.closed = true
	close(d.local)
	d.mu.Unlock()
	if d.http != nil {
		d.http.close(ctx)
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DefaultStdout is where the stdout output writes.
var DefaultStdout io.Writer = os.Stdout

// dropInterval is the least time between two internal drop alerts.
const dropInterval = 10 * time.Second
