package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

var (
	sidekickBuilt = make(chan struct{})
	sidekickBin   string
	sidekickErr   error
	sidekickOnce  sync.Once
	// sidekickStarted is set when the build has been started (TestMain
	// then waits for it before removing its directory).
	sidekickStarted bool
)

// buildSidekick builds the real nightjar-sidekick in the background (TestMain
// starts it early: linking it takes a while), into dir.
func buildSidekick(dir string) {
	sidekickOnce.Do(func() {
		sidekickStarted = true
		go func() {
			defer close(sidekickBuilt)
			sidekickBin = filepath.Join(dir, "nightjar-sidekick")
			if out, err := exec.Command("go", "build", "-o", sidekickBin, "../nightjar-sidekick").CombinedOutput(); err != nil {
				sidekickErr = fmt.Errorf("go build nightjar-sidekick: %v\n%s", err, out)
			}
		}()
	})
}

// startSidekick builds and runs the real nightjar-sidekick with a webhook
// output to url, and returns its base URL.
func startSidekick(tb testing.TB, webhook string) string {
	tb.Helper()
	buildSidekick(tb.TempDir()) // unless TestMain started it already
	<-sidekickBuilt
	if sidekickErr != nil {
		tb.Fatal(sidekickErr)
	}
	bin := sidekickBin
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "LISTENADDRESS=127.0.0.1", "LISTENPORT="+strconv.Itoa(port),
		"QUEUE_DIR="+tb.TempDir(), "WEBHOOK_ADDRESS="+webhook)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill() // its own tests cover a clean stop
			<-done
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(base + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("nightjar-sidekick never served /ping:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// latencies opens /etc/shadow n times (one alert each) and returns, sorted,
// the time from each syscall (the alert's event time, from the kernel's
// clock) to its arrival at r.
func latencies(tb testing.TB, r *receiver, dir string, n int) []time.Duration {
	tb.Helper()
	h := helperAs(tb, dir, "njlat")
	var out []time.Duration
	for i := 0; i < n; i++ {
		pid := runHelper(tb, h, "open", "/etc/shadow")
		a, at := r.wait(alertTimeout, byPID("Sensitive file read by untrusted program", pid))
		if a == nil {
			tb.Fatalf("alert %d of %d never arrived", i+1, n)
		}
		out = append(out, at.Sub(a.Time))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func quantile(d []time.Duration, q float64) time.Duration { return d[int(q*float64(len(d)-1))] }

// The whole path: the kernel, nightjar, the real sidekick (its queue and
// webhook output), a local webhook receiving the alert.
func TestThroughSidekickToWebhook(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	webhook := newReceiver(t)
	sk := startSidekick(t, webhook.srv.URL+"/hook")
	direct := newReceiver(t) // unused: startNightjar's own receiver
	p := startNightjar(t, direct, "-o", "http_output.url="+sk+"/")
	dir := t.TempDir()
	pid := runHelper(t, helperAs(t, dir, "njsk"), "open", "/etc/shadow")
	a := expectAlert(t, webhook, p, "through the sidekick", alert.PriorityWarning,
		byPID("Sensitive file read by untrusted program", pid), map[string]string{"fd.name": "/etc/shadow", "proc.name": "njsk"})
	if a != nil && a.Hostname == "" {
		t.Errorf("hostname lost on the way: %+v", a)
	}
	d := latencies(t, webhook, dir, 10)
	t.Logf("syscall -> webhook through the sidekick, 10 alerts: p50 %s, p99 %s, max %s",
		quantile(d, 0.5), quantile(d, 0.99), d[len(d)-1])
}
