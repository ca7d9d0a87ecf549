package detector

import (
	"log/slog"
	"runtime"
	"time"
)

// procScaler keeps the Go runtime on one P (GOMAXPROCS=1) while the event
// loop keeps up with the ring, and gives it every CPU while records back
// up.
//
// Why: the event loop is one goroutine, as Falco's is one thread. A second
// P adds little to it but the scheduler's spinning threads and wakeups on
// another CPU: with two on a 2-vCPU host the detector spent 1,050-1,850
// CPU-ns per event against 1,000-1,150 with one, and slowed an exec-heavy
// workload beside it by ~3 % more (docs/detector.md, "CPU"). Under a
// flood that leaves no CPU idle, though, two threads get the detector
// twice the share of the machine (and the GC a CPU of its own), and with
// one the ring overflowed where with two it did not. So: one P, and all of them while the ring
// holds more than a backlog's worth.
type procScaler struct {
	max     int           // GOMAXPROCS when scaled up: the runtime's default
	high    int           // pending ring bytes that scale up
	low     int           // pending ring bytes under which the backlog is gone
	calm    time.Duration // how long under low before scaling back down
	set     func(int) int // runtime.GOMAXPROCS; replaced in tests
	cur     int
	lowFrom time.Time // since when pending has been under low; zero if not
}

// newProcScaler sets GOMAXPROCS to 1 and returns the scaler, or nil when
// the machine has one CPU anyway.
func newProcScaler(ringBytes int) *procScaler {
	s := &procScaler{max: runtime.GOMAXPROCS(0), high: ringBytes / 8, low: ringBytes / 64,
		calm: 5 * time.Second, set: runtime.GOMAXPROCS}
	if s.max <= 1 {
		return nil
	}
	s.set(1)
	s.cur = 1
	return s
}

// observe takes the ring's pending bytes, now and then (the event loop
// calls it every few thousand events and on its idle wakeups).
func (s *procScaler) observe(pending int, now time.Time) {
	switch {
	case s.cur == 1 && pending > s.high:
		s.set(s.max)
		s.cur, s.lowFrom = s.max, time.Time{}
		slog.Debug("ring backing up: using every CPU", "pending_bytes", pending, "gomaxprocs", s.max)
	case s.cur > 1 && pending >= s.low:
		s.lowFrom = time.Time{}
	case s.cur > 1 && s.lowFrom.IsZero():
		s.lowFrom = now
	case s.cur > 1 && now.Sub(s.lowFrom) >= s.calm:
		s.set(1)
		s.cur, s.lowFrom = 1, time.Time{}
		slog.Debug("ring caught up: back to one CPU")
	}
}

// stop restores the runtime's default.
func (s *procScaler) stop() {
	if s.cur != s.max {
		s.set(s.max)
		s.cur = s.max
	}
}
