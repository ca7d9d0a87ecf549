package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStuckDestinationDoesNotDelayOthers is the isolation guarantee end to
// end, on the real binary with two webhook instances declared in the
// environment: one destination accepts connections and never answers, the
// other answers at once. Every alert posted gets its 200, the live
// destination receives all of them while the stuck one holds its two
// workers, and the stuck destination's backlog waits in the queue.
func TestStuckDestinationDoesNotDelayOthers(t *testing.T) {
	bin := sidekickBinary(t)

	release := make(chan struct{})
	var stuckSeen atomic.Int64
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stuckSeen.Add(1)
		<-release
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets stuck.Close finish

	var fastGot atomic.Int64
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fastGot.Add(1)
	}))
	t.Cleanup(fast.Close)

	apiPort := freePort(t)
	// Only what the test sets (and PATH): a variable of falcosidekick's that
	// the machine running the test happens to export would change the
	// sidekick's start-up.
	env := append([]string{"PATH=" + os.Getenv("PATH")},
		"LISTENADDRESS=127.0.0.1",
		"LISTENPORT="+strconv.Itoa(apiPort),
		"QUEUE_DIR="+filepath.Join(t.TempDir(), "queue"),
		"OUTPUTS_STUCK_TYPE=webhook",
		"OUTPUTS_STUCK_ADDRESS="+stuck.URL+"/falco",
		"OUTPUTS_STUCK_TIMEOUT=60s",
		"OUTPUTS_STUCK_MAXCONCURRENTREQUESTS=2",
		"OUTPUTS_FAST_TYPE=webhook",
		"OUTPUTS_FAST_ADDRESS="+fast.URL+"/falco",
	)
	base := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	sk := durStart(t, bin, env, base)

	const total = 300
	client := &http.Client{Timeout: 10 * time.Second}
	began := time.Now()
	for i := range total {
		id := fmt.Sprintf("5a000000-0000-4000-8000-%012d", i)
		resp, err := client.Post(base+"/", "application/json", bytes.NewReader(durAlertJSON(id, i)))
		if err != nil {
			t.Fatalf("POST %d: %v\n%s", i, err, sk.log())
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %d: status %d", i, resp.StatusCode)
		}
	}
	// The live destination gets everything while the stuck one's attempts
	// (60 s each) have not even timed out once.
	for fastGot.Load() < total {
		if time.Since(began) > 30*time.Second {
			t.Fatalf("live destination got %d of %d alerts in 30 s with the other one stuck\n%s", fastGot.Load(), total, sk.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := stuckSeen.Load(); n < 1 || n > 2 {
		t.Errorf("stuck destination saw %d requests; want 1 or 2 (its two workers, each waiting on its first attempt)", n)
	}
	// Its backlog waits in the queue: every alert, pending or in flight.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stuckDepth, fastDepth := queueDepth(t, base, "stuck"), queueDepth(t, base, "fast")
		if stuckDepth == total && fastDepth == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue depth stuck=%v fast=%v, want %d and 0", stuckDepth, fastDepth, total)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// queueDepth reads nightjar_sidekick_queue_depth{output=...} from /metrics.
func queueDepth(t *testing.T, base, output string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	prefix := `nightjar_sidekick_queue_depth{output="` + output + `"} `
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s%s: %v", prefix, v, err)
			}
			return f
		}
	}
	return -1
}
