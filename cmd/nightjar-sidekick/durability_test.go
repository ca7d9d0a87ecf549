package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestDurabilityAcrossKillAndOutage is the sidekick's delivery guarantee,
// end to end on the real binary: alerts are posted while the webhook
// destination refuses connections, the sidekick is killed with SIGKILL in
// the middle of the stream of posts, restarted on the same queue directory,
// and the destination is brought up. Every alert that got a 200 must
// arrive (at least once).
func TestDurabilityAcrossKillAndOutage(t *testing.T) {
	// Linked as the Makefile links it (no symbol tables): faster, too.
	bin := sidekickBinary(t)

	apiPort, hookPort := freePort(t), freePort(t)
	env := append(os.Environ(),
		"LISTENADDRESS=127.0.0.1",
		"LISTENPORT="+strconv.Itoa(apiPort),
		"QUEUE_DIR="+filepath.Join(t.TempDir(), "queue"),
		// Nothing listens here until the destination is "brought up".
		"WEBHOOK_ADDRESS=http://127.0.0.1:"+strconv.Itoa(hookPort)+"/falco",
		// Deliveries in flight at the SIGKILL come back after the
		// consumer's AckWait (2 x timeout + 5s); keep it short.
		"WEBHOOK_TIMEOUT=1s",
		// Short retry backoff so that the test does not wait for it; the
		// guarantee does not depend on it.
		"QUEUE_RETRYMIN=50ms",
		"QUEUE_RETRYMAX=1s",
	)
	base := "http://127.0.0.1:" + strconv.Itoa(apiPort)

	first := durStart(t, bin, env, base)

	// Post from several clients; kill the sidekick once half have been
	// accepted, while the others are still posting.
	const total, clients = 400, 8
	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		other    = map[int]int{} // non-200 statuses (must not happen before the kill)
		killed   = make(chan struct{})
		killOnce sync.Once
	)
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < total; i += clients {
				id := fmt.Sprintf("d0000000-0000-4000-8000-%012d", i)
				resp, err := client.Post(base+"/", "application/json", bytes.NewReader(durAlertJSON(id, i)))
				if err != nil {
					select {
					case <-killed:
						return // the sidekick is gone: expected
					default:
						t.Errorf("POST %d before the kill: %v", i, err)
						return
					}
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusOK {
					accepted[id] = true
				} else {
					other[resp.StatusCode]++
				}
				n := len(accepted)
				mu.Unlock()
				if n >= total/2 {
					killOnce.Do(func() {
						close(killed)
						first.kill()
					})
				}
			}
		}()
	}
	wg.Wait()
	killOnce.Do(func() { close(killed); first.kill() })
	mu.Lock()
	t.Logf("%d alerts accepted before SIGKILL; other statuses: %v", len(accepted), other)
	if len(accepted) < total/2 {
		t.Fatalf("only %d alerts accepted", len(accepted))
	}
	if len(other) > 0 {
		t.Errorf("statuses other than 200 while the queue had room: %v", other)
	}
	mu.Unlock()

	// Restart on the same queue directory, then bring the destination up.
	second := durStart(t, bin, env, base)
	up := time.Now()
	received := map[string]int{}
	var rmu sync.Mutex
	hook := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct {
			UUID string `json:"uuid"`
		}
		if r.URL.Path != "/falco" || json.NewDecoder(r.Body).Decode(&a) != nil || a.UUID == "" {
			t.Errorf("webhook got a bad request: %s %s", r.Method, r.URL)
		}
		rmu.Lock()
		received[a.UUID]++
		rmu.Unlock()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(hookPort))
	if err != nil {
		t.Fatalf("bringing the destination up: %v", err)
	}
	go hook.Serve(ln)
	defer hook.Close()

	// Allow a generous time: a slow machine, AckWait, retry backoff.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		rmu.Lock()
		var missing []string
		for id := range accepted {
			if received[id] == 0 {
				missing = append(missing, id)
			}
		}
		rmu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted alerts never arrived, e.g. %v\nfirst run log:\n%s\nsecond run log:\n%s",
				len(missing), len(accepted), missing[:min(5, len(missing))], first.log(), second.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	rmu.Lock()
	dups := 0
	for _, n := range received {
		dups += n - 1
	}
	t.Logf("all %d accepted alerts arrived within %s of the restart (%d distinct received, %d duplicates)",
		len(accepted), time.Since(up).Round(time.Millisecond), len(received), dups)
	rmu.Unlock()

	// A graceful stop of the second run exits cleanly.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.done:
		if code := second.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit status after SIGTERM = %d\n%s", code, second.log())
		}
	case <-time.After(45 * time.Second):
		t.Errorf("no exit 45s after SIGTERM")
	}
}

type durProcess struct {
	cmd    *exec.Cmd
	stderr *durLog
	done   chan struct{}
}

func (s *durProcess) log() string { return s.stderr.String() }

func (s *durProcess) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// durStart runs the binary and waits until it answers /ping.
func durStart(t *testing.T, bin string, env []string, base string) *durProcess {
	t.Helper()
	s := &durProcess{cmd: exec.Command(bin), stderr: &durLog{}, done: make(chan struct{})}
	s.cmd.Env = env
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.kill()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("sidekick exited at start-up:\n%s", s.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sidekick not answering /ping after 30s:\n%s", s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func durAlertJSON(id string, i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"uuid":     id,
		"output":   fmt.Sprintf("12:00:00.000000000: Warning durability test alert %d", i),
		"priority": "Warning",
		"rule":     "Durability test",
		"time":     time.Now().UTC().Format(time.RFC3339Nano),
		"source":   "syscall",
		"hostname": "node-1",
		"tags":     []string{"test"},
		"output_fields": map[string]any{
			"evt.time": time.Now().UnixNano(), "proc.cmdline": "cat /etc/shadow", "seq": i,
		},
	})
	return b
}

// durLog is a bytes.Buffer safe for the process's writes and the
// test's reads.
type durLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *durLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *durLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkBacklogRSS measures the sidekick's resident memory with a large
// backlog for a down destination: the real binary, its webhook pointing at
// a closed port, NIGHTJAR_BACKLOG alerts posted over loopback by 64
// clients. It runs the scenario once, whatever b.N, and takes minutes, so
// it is opt-in (it skips unless NIGHTJAR_BACKLOG is set):
//
//	NIGHTJAR_BACKLOG=1000000 go test -run '^$' -bench BacklogRSS -benchtime 1x -timeout 60m ./cmd/nightjar-sidekick/
//
// Reported: rss-MB (VmRSS with the backlog in place, once the ingest burst
// is over), peak-rss-MB (VmHWM, during the ingest), the backlog depth the
// sidekick reports, its size on disk, and the ingest rate.
func BenchmarkBacklogRSS(b *testing.B) {
	v := os.Getenv("NIGHTJAR_BACKLOG")
	if v == "" {
		b.Skip("opt-in, takes minutes: set NIGHTJAR_BACKLOG=1000000")
	}
	total, err := strconv.Atoi(v)
	if err != nil || total < 1 {
		b.Fatalf("NIGHTJAR_BACKLOG=%q: want a positive count", v)
	}
	dir := b.TempDir()
	bin := sidekickBinary(b)
	apiPort, hookPort := freePort(b), freePort(b)
	env := append(os.Environ(),
		"LISTENADDRESS=127.0.0.1",
		"LISTENPORT="+strconv.Itoa(apiPort),
		"QUEUE_DIR="+filepath.Join(dir, "queue"),
		"QUEUE_MAXBYTES="+strconv.Itoa(8<<30),
		"WEBHOOK_ADDRESS=http://127.0.0.1:"+strconv.Itoa(hookPort)+"/falco",
	)
	base := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	p := &durProcess{cmd: exec.Command(bin), stderr: &durLog{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	defer p.kill()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/ping"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 30*time.Second {
			b.Fatalf("sidekick not up:\n%s", p.log())
		}
	}

	const clients = 64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	began := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				body := durAlertJSON(fmt.Sprintf("b0000000-0000-4000-8000-%012d", i), i)
				resp, err := client.Post(base+"/", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Errorf("POST %d: %v", i, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("POST %d: status %d", i, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	ingest := time.Since(began)
	b.StopTimer()
	if b.Failed() {
		return
	}
	// Let the retry machinery run with the backlog in place, past the
	// queue's dedup window (whose memory is the ingest burst's, not the
	// backlog's).
	time.Sleep(30 * time.Second)
	var h struct {
		Queue struct {
			Depth map[string]uint64 `json:"depth"`
			Bytes uint64            `json:"bytes"`
		} `json:"queue"`
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		b.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	rss, hwm := durProcMem(b, p.cmd.Process.Pid)
	b.ReportMetric(float64(total)/ingest.Seconds(), "alerts/s")
	b.ReportMetric(float64(h.Queue.Depth["webhook"]), "backlog")
	b.ReportMetric(float64(h.Queue.Bytes)/(1<<20), "disk-MB")
	b.ReportMetric(rss/1024, "rss-MB")
	b.ReportMetric(hwm/1024, "peak-rss-MB")
	if h.Queue.Depth["webhook"] != uint64(total) {
		b.Errorf("backlog = %d, want %d", h.Queue.Depth["webhook"], total)
	}
}

// durProcMem reads VmRSS and VmHWM (kB) of a process.
func durProcMem(b *testing.B, pid int) (rss, hwm float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}
