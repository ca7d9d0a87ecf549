// Package workload holds the loops that the capture benchmarks time (and
// that the detector's end-to-end benchmark can reuse): many short execs,
// and many opens and closes, each a real syscall load on the kernel.
package workload

import (
	"fmt"
	"os/exec"
	"sync"

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
