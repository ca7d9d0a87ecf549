package output

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

// DropRule is the rule name of the internal alert raised when events or
// alerts are lost.
const DropRule = "Nightjar dropped events"

// DropSource is the source of internal alerts.
const DropSource = "internal"

// DropReporter watches drop counters and raises the internal alert
// DropRule when they grow, at most once per Interval, so that a sustained
// overload gives one alert every Interval rather than a flood.
type DropReporter struct {
	// Kernel returns the kernel ring's drop count so far (nil: none).
	Kernel func() uint64
	// Outputs returns the alerts lost by the outputs so far (nil: none).
	Outputs func() uint64
	// Emit sends the internal alert.
	Emit     func(*alert.Alert)
	Hostname string
	// Interval is the least time between two alerts; 0 means 10 s.
	Interval time.Duration

	mu                      sync.Mutex
	lastKernel, lastOutputs uint64
	lastAlert               time.Time
}

// Check compares the counters with what was last reported and raises the
// alert when they grew and Interval has passed; it reports whether it did.
func (r *DropReporter) Check(now time.Time) bool { return r.check(now, false, r.Emit) }

// Final reports the drops not reported yet, whatever Interval says, through
// emit (nil: Emit): the last report, at shutdown, once the outputs have
// drained and counted what they could not deliver.
func (r *DropReporter) Final(now time.Time, emit func(*alert.Alert)) bool {
	if emit == nil {
		emit = r.Emit
	}
	return r.check(now, true, emit)
}

func (r *DropReporter) check(now time.Time, force bool, emit func(*alert.Alert)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	var k, o uint64
	if r.Kernel != nil {
		k = r.Kernel()
	}
	if r.Outputs != nil {
		o = r.Outputs()
	}
	dk, do := k-r.lastKernel, o-r.lastOutputs
	if dk == 0 && do == 0 {
		return false
	}
	iv := r.Interval
	if iv == 0 {
		iv = dropInterval
	}
	if !force && !r.lastAlert.IsZero() && now.Sub(r.lastAlert) < iv {
		return false
	}
	r.lastKernel, r.lastOutputs, r.lastAlert = k, o, now
	emit(DropAlert(now, r.Hostname, dk, do, k, o))
	return true
}

// Run checks every second until ctx ends, and once more at the end.
func (r *DropReporter) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Check(time.Now())
			return
		case now := <-t.C:
			r.Check(now)
		}
	}
}

// DropAlert builds the internal alert for new drops (since the last alert)
// and the totals since start.
func DropAlert(now time.Time, hostname string, kernel, outputs, kernelTotal, outputsTotal uint64) *alert.Alert {
	msg := fmt.Sprintf("Nightjar dropped events: the analysis is incomplete (kernel_ring_drops=%d output_drops=%d total_kernel_ring_drops=%d total_output_drops=%d)",
		kernel, outputs, kernelTotal, outputsTotal)
	return &alert.Alert{
		Output:   now.Format("15:04:05.000000000") + ": " + alert.PriorityError.String() + " " + msg,
		Priority: alert.PriorityError,
		Rule:     DropRule,
		Time:     now.UTC(),
		Source:   DropSource,
		Hostname: hostname,
		Tags:     []string{"nightjar", "internal"},
		OutputFields: alert.Fields{
			"evt.time":                  now.UnixNano(),
			"n_drops_kernel_ring":       kernel,
			"n_drops_output":            outputs,
			"n_drops_kernel_ring_total": kernelTotal,
			"n_drops_output_total":      outputsTotal,
		},
	}
}
