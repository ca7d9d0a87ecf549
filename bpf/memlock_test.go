package bpf

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// openBPFMaps counts this process's BPF map descriptors.
func openBPFMaps(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && l == "anon_inode:bpf-map" {
			n++
		}
	}
	return n
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Load lifts RLIMIT_MEMLOCK (rlimit.RemoveMemlock) before it makes any map:
// kernels before 5.11 charge BPF maps, the ring buffer first, to it. This
// kernel accounts BPF memory to the memory cgroup, so the test checks the
// order of calls, not a load that fails without it. A failure to lift the
// limit is logged at debug level and the load goes on.
func TestLoadRemovesMemlockBeforeMakingMaps(t *testing.T) {
	before := openBPFMaps(t)
	calls, mapsAtCall := 0, -1
	defer func(f func() error) { removeMemlock = f }(removeMemlock)
	removeMemlock = func() error {
		calls++
		mapsAtCall = openBPFMaps(t)
		return errors.New("test: operation not permitted")
	}
	var log syncLog
	defer func(l *slog.Logger) { slog.SetDefault(l) }(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))

	c, err := Load(Config{Syscalls: []string{"openat"}, NoStateSyscalls: true, RingSize: 1 << 20})
	if err != nil {
		t.Fatalf("Load, with the memlock limit left as it is: %v", err)
	}
	defer c.Close()
	if calls != 1 {
		t.Fatalf("RemoveMemlock called %d times, want once", calls)
	}
	if mapsAtCall != before {
		t.Fatalf("RemoveMemlock called with %d BPF maps open, %d before Load: it must come before the maps are made", mapsAtCall, before)
	}
	if after := openBPFMaps(t); after <= before {
		t.Fatalf("Load made no map (%d before, %d after): the check above proves nothing", before, after)
	}
	if s := log.b.String(); !strings.Contains(s, "level=DEBUG") || !strings.Contains(s, "memlock") ||
		!strings.Contains(s, "test: operation not permitted") {
		t.Fatalf("the failure is not logged at debug level:\n%s", s)
	}
}
