//go:build unix

package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir for the life of the process (or
// until unlock): two embedded servers writing the same JetStream files would
// corrupt them, and NATS itself does not guard against it. The lock is
// released by the kernel when the process dies, kill -9 included.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "nightjar.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue.dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue.dir: %s is in use by another nightjar-sidekick (%v)", dir, err)
	}
	return func() { f.Close() }, nil
}
