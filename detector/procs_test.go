package detector

import (
	"slices"
	"testing"
	"time"
)

func TestProcScaler(t *testing.T) {
	var calls []int
	s := &procScaler{max: 4, high: 1000, low: 100, calm: 5 * time.Second, cur: 1,
		set: func(n int) int { calls = append(calls, n); return 0 }}
	t0 := time.Unix(1000, 0)
	step := func(pending int, at time.Duration, wantCur int) {
		t.Helper()
		s.observe(pending, t0.Add(at))
		if s.cur != wantCur {
			t.Fatalf("pending %d at %v: GOMAXPROCS %d, want %d (calls %v)", pending, at, s.cur, wantCur, calls)
		}
	}
	step(500, 0, 1)               // a backlog under high: stays on one P
	step(1001, time.Second, 4)    // backing up: every CPU
	step(50, 2*time.Second, 4)    // caught up: the calm period starts
	step(500, 4*time.Second, 4)   // above low again: it restarts
	step(50, 5*time.Second, 4)    // under low from 5 s
	step(50, 9*time.Second, 4)    // 4 s calm: not yet
	step(50, 10*time.Second, 1)   // 5 s calm: back to one
	step(2000, 11*time.Second, 4) // and up again
	if want := []int{4, 1, 4}; !slices.Equal(calls, want) {
		t.Fatalf("GOMAXPROCS calls %v, want %v", calls, want)
	}
	s.stop()
	if len(calls) != 3 {
		t.Fatalf("stop at max changed GOMAXPROCS: %v", calls)
	}
	s.cur = 1
	s.stop()
	if calls[len(calls)-1] != 4 {
		t.Fatalf("stop did not restore the default: %v", calls)
	}
}
