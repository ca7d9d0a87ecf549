// Package workload holds the loops that the capture benchmarks time (and
// that the detector's end-to-end benchmark can reuse): many short execs,
// and many opens and closes, each a real syscall load on the kernel.
package workload

import (
	"fmt"
	"os/exec"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Exec runs path with args n times, spread over workers concurrent
// spawners, and returns the first failure.
func Exec(n, workers int, path string, args ...string) error {
	if workers < 1 {
		workers = 1
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if err := exec.Command(path, args...).Run(); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("workload: run %s: %w", path, err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// OpenClose opens path read-only and closes it n times, from the calling
// goroutine.
func OpenClose(n int, path string) error {
	for range n {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("workload: open %s: %w", path, err)
		}
		unix.Close(fd)
	}
	return nil
}

// Comparison is what ABBA measured: the median of the rounds' b/a ratios,
// the ratio of the totals, and the totals.
type Comparison struct {
	Median, Total float64
	SumA, SumB    time.Duration
}

// ABBA times a and b in rounds of adjacent windows, a first in even
// rounds and b first in odd ones, so that a drift of the machine over a
// round does not always land on the same side. Each call switches to its
// side (whatever is being compared) and returns its window's measure, a
// CPU time.
func ABBA(rounds int, a, b func() (time.Duration, error)) (Comparison, error) {
	var c Comparison
	if rounds < 1 {
		return c, fmt.Errorf("workload: ABBA needs at least one round")
	}
	ratios := make([]float64, 0, rounds)
	for r := range rounds {
		first, second := a, b
		if r%2 == 1 {
			first, second = b, a
		}
		x, err := first()
		if err != nil {
			return c, err
		}
		y, err := second()
		if err != nil {
			return c, err
		}
		if r%2 == 1 {
			x, y = y, x
		}
		c.SumA += x
		c.SumB += y
		ratios = append(ratios, float64(y)/float64(x))
	}
	slices.Sort(ratios)
	c.Median = ratios[len(ratios)/2]
	c.Total = float64(c.SumB) / float64(c.SumA)
	return c, nil
}
