package output

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nightjar-sec/nightjar/alert"
)

func testAlert(i int) *alert.Alert {
	t := time.Date(2026, 11, 29, 16, 31, 56, 746609046+i, time.UTC)
	return &alert.Alert{
		Output:   "16:31:56.746609046: Warning Sensitive file opened (file=/etc/shadow n=" + string(rune('0'+i%10)) + ")",
		Priority: alert.PriorityWarning, Rule: "Read sensitive file untrusted", Time: t, Source: "syscall",
		Hostname: "node-1", Tags: []string{"filesystem", "mitre_credential_access"},
		OutputFields: alert.Fields{"evt.time": t.UnixNano(), "fd.name": "/etc/shadow", "n": i},
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func closeD(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFormat(t *testing.T) {
	a := testAlert(1)
	want, _ := a.Encode()
	got, err := Format{JSON: true, IncludeOutput: true, IncludeTags: true}.Line(a)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("JSON differs from alert.Encode:\n%s\n%s", got, want)
	}
	got, _ = Format{JSON: true}.Line(a)
	var m map[string]any
	json.Unmarshal(got, &m)
	if _, ok := m["output"]; ok {
		t.Errorf("json_include_output_property=false still has output: %s", got)
	}
	if _, ok := m["tags"]; ok {
		t.Errorf("json_include_tags_property=false still has tags: %s", got)
	}
	if m["rule"] != a.Rule || m["priority"] != "Warning" || m["output_fields"] == nil {
		t.Errorf("fields missing: %s", got)
	}
	if _, err := alert.Decode(got); err != nil {
		t.Errorf("the sidekick would refuse it: %v", err)
	}
	got, _ = Format{}.Line(a)
	if string(got) != a.Output {
		t.Errorf("text line %q", got)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStdoutAndFile(t *testing.T) {
	for _, keep := range []bool{true, false} {
		dir := t.TempDir()
		path := filepath.Join(dir, "events.txt")
		var out lockedBuffer
		d, err := New(Options{Format: Format{JSON: true, IncludeOutput: true, IncludeTags: true}, QueueCapacity: 10,
			Stdout: &out, File: path, FileKeepAlive: keep, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		d.Send(testAlert(1))
		// Wait for the first alert, then rotate the file by rename: without
		// keep_alive the next alert goes to a new file at the path.
		waitFor(t, func() bool { b, _ := os.ReadFile(path); return bytes.Count(b, []byte("\n")) == 1 })
		os.Rename(path, path+".1")
		d.Send(testAlert(2))
		closeD(t, d)
		lines := strings.Split(strings.TrimSpace(out.b.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("stdout: %q", out.b.String())
		}
		for i, l := range lines {
			a, err := alert.Decode([]byte(l))
			if err != nil || a.OutputFields["n"].(json.Number).String() != string(rune('1'+i)) {
				t.Fatalf("stdout line %d: %q %v", i, l, err)
			}
		}
		old, _ := os.ReadFile(path + ".1")
		cur, _ := os.ReadFile(path)
		if keep {
			if bytes.Count(old, []byte("\n")) != 2 || len(cur) != 0 {
				t.Errorf("keep_alive: the open file must get both: old=%q new=%q", old, cur)
			}
		} else if bytes.Count(old, []byte("\n")) != 1 || bytes.Count(cur, []byte("\n")) != 1 {
			t.Errorf("reopen per alert: old=%q new=%q", old, cur)
		}
	}
	if _, err := New(Options{File: "/nonexistent-dir/x", Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "file_output.filename") {
		t.Fatalf("bad file path: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A syslog receiver on a unix datagram socket, as /dev/log is.
func TestSyslog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d, err := New(Options{Format: Format{}, QueueCapacity: 10, Syslog: true, SyslogNetwork: "unixgram", SyslogAddr: sock, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert(3)
	a.Priority = alert.PriorityCritical
	d.Send(a)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	// Facility user (1) * 8 + severity crit (2) = 10.
	if !strings.HasPrefix(msg, "<10>") || !strings.Contains(msg, "nightjar") || !strings.Contains(msg, a.Output) {
		t.Fatalf("syslog message %q", msg)
	}
	closeD(t, d)
}

// The sidekick is down, then answers 503 with Retry-After, then accepts:
// every alert arrives, in order, and the engine never waited.
func TestHTTPDownThen503ThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := NewMetrics()
	d, err := New(Options{Format: Format{JSON: true, IncludeOutput: true, IncludeTags: true}, QueueCapacity: 100, Metrics: m, Logger: quiet(),
		HTTP: &HTTPOptions{URL: "http://" + addr + "/", UserAgent: "nightjar-test", MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 5 {
		d.Send(testAlert(i))
	}
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Fatalf("Send blocked for %s", el)
	}
	waitFor(t, func() bool { return testutil.ToFloat64(m.HTTPRetries) >= 3 })

	var mu sync.Mutex
	var got []*alert.Alert
	var times []time.Time
	calls := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		times = append(times, time.Now())
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "nightjar-test" || r.Method != http.MethodPost {
			t.Errorf("request %s %v", r.Method, r.Header)
		}
		if calls <= 2 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "queue full", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		a, err := alert.Decode(b)
		if err != nil {
			t.Errorf("bad alert %s: %v", b, err)
		}
		got = append(got, a)
	})}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 5 })
	mu.Lock()
	for i, a := range got {
		if a.OutputFields["n"].(json.Number).String() != string(rune('0'+i)) {
			t.Errorf("alert %d out of order: %v", i, a.OutputFields)
		}
	}
	if gap := times[1].Sub(times[0]); gap < 900*time.Millisecond {
		t.Errorf("Retry-After: 1 not honoured: retried after %s", gap)
	}
	mu.Unlock()
	closeD(t, d)
	if d.Dropped() != 0 || testutil.ToFloat64(m.OutputWrites.WithLabelValues("http")) != 5 {
		t.Fatalf("dropped %d, writes %v", d.Dropped(), testutil.ToFloat64(m.OutputWrites.WithLabelValues("http")))
	}
}

// A stuck sidekick fills the queue: the overflow is dropped and counted,
// Send never blocks, and the drop reporter raises the internal alert.
func TestHTTPOverflow(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	received := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		mu.Lock()
		received++
		mu.Unlock()
	}))
	defer srv.Close()
	m := NewMetrics()
	var out lockedBuffer
	d, err := New(Options{Format: Format{JSON: true, IncludeOutput: true, IncludeTags: true}, QueueCapacity: 2, Metrics: m, Logger: quiet(),
		Stdout: &out, HTTP: &HTTPOptions{URL: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(testAlert(0))
	waitFor(t, func() bool { return testutil.ToFloat64(m.QueueDepth.WithLabelValues("http")) == 0 }) // the worker holds it
	start := time.Now()
	for i := 1; i < 10; i++ {
		d.Send(testAlert(i))
		time.Sleep(time.Millisecond) // let the local writer keep up: this test is about HTTP
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Send blocked: %s", el)
	}
	if got := testutil.ToFloat64(m.OutputDropped.WithLabelValues("http", "queue_full")); got != 7 {
		t.Fatalf("queue_full drops %v, want 7 (10 sent, 1 in flight, 2 queued)", got)
	}
	r := &DropReporter{Outputs: d.Dropped, Emit: d.Send, Hostname: "h"}
	if !r.Check(time.Now()) {
		t.Fatal("no drop alert")
	}
	close(release)
	closeD(t, d)
	if !strings.Contains(out.b.String(), `"rule":"Nightjar dropped events"`) || !strings.Contains(out.b.String(), `"source":"internal"`) {
		t.Fatalf("internal alert missing on stdout: %s", out.b.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if received != 3 {
		t.Fatalf("received %d, want 3", received)
	}
	// The metrics endpoint shows the loss: the 7, and the internal alert
	// itself, which found the HTTP queue still full (stdout had it).
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `nightjar_output_dropped_total{output="http",reason="queue_full"} 8`; !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("metrics lack %s", want)
	}
}

func TestHTTPPermanentAndShutdown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad alert", http.StatusBadRequest)
	}))
	defer srv.Close()
	m := NewMetrics()
	d, _ := New(Options{Format: Format{JSON: true}, QueueCapacity: 10, Metrics: m, Logger: quiet(), HTTP: &HTTPOptions{URL: srv.URL}})
	d.Send(testAlert(1))
	closeD(t, d)
	if testutil.ToFloat64(m.OutputDropped.WithLabelValues("http", "rejected")) != 1 {
		t.Fatal("a 400 must drop the alert, not retry it forever")
	}

	// Down for good: Close gives up at its deadline and counts the rest.
	m = NewMetrics()
	d, _ = New(Options{Format: Format{JSON: true}, QueueCapacity: 10, Metrics: m, Logger: quiet(),
		HTTP: &HTTPOptions{URL: "http://127.0.0.1:1/", MinBackoff: 5 * time.Millisecond}})
	for i := range 3 {
		d.Send(testAlert(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	d.Close(ctx)
	if d.Dropped() != 3 || testutil.ToFloat64(m.OutputDropped.WithLabelValues("http", "shutdown")) != 3 {
		t.Fatalf("dropped %d", d.Dropped())
	}
}

func TestHTTPTLS(t *testing.T) {
	got := make(chan string, 2)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	for _, o := range []HTTPOptions{{URL: srv.URL, CACert: ca}, {URL: srv.URL, Insecure: true}} {
		d, err := New(Options{Format: Format{JSON: true}, QueueCapacity: 10, Logger: quiet(), HTTP: &o})
		if err != nil {
			t.Fatal(err)
		}
		d.Send(testAlert(1))
		select {
		case b := <-got:
			if !strings.Contains(b, `"rule":"Read sensitive file untrusted"`) {
				t.Fatalf("body %s", b)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%+v: no delivery over TLS", o)
		}
		closeD(t, d)
	}
	// Without the CA the certificate is refused (retryable, so it waits).
	if _, err := New(Options{HTTP: &HTTPOptions{URL: srv.URL, CACert: "/nonexistent.pem"}}); err == nil || !strings.Contains(err.Error(), "http_output.ca_cert") {
		t.Fatalf("missing CA file: %v", err)
	}
	if _, err := New(Options{HTTP: &HTTPOptions{URL: srv.URL, MTLS: true, ClientCert: "/nonexistent", ClientKey: "/nonexistent"}}); err == nil || !strings.Contains(err.Error(), "client_cert") {
		t.Fatalf("missing client cert: %v", err)
	}
}

func TestDropReporterRateLimit(t *testing.T) {
	var kernel, outputs uint64
	var alerts []*alert.Alert
	r := &DropReporter{Kernel: func() uint64 { return kernel }, Outputs: func() uint64 { return outputs },
		Emit: func(a *alert.Alert) { alerts = append(alerts, a) }, Interval: 10 * time.Second}
	t0 := time.Now()
	if r.Check(t0) {
		t.Fatal("alert without drops")
	}
	kernel = 5
	if !r.Check(t0) {
		t.Fatal("no alert for kernel drops")
	}
	kernel, outputs = 9, 2
	if r.Check(t0.Add(5 * time.Second)) {
		t.Fatal("second alert within the interval")
	}
	if !r.Check(t0.Add(11 * time.Second)) {
		t.Fatal("no alert after the interval")
	}
	a := alerts[1]
	if a.Rule != DropRule || a.Source != "internal" || a.OutputFields["n_drops_kernel_ring"] != uint64(4) ||
		a.OutputFields["n_drops_output"] != uint64(2) || a.OutputFields["n_drops_kernel_ring_total"] != uint64(9) {
		t.Fatalf("alert %+v", a)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Close's outcome depends on what was delivered, not on which of two ready
// channels a select picks: with the HTTP receiver down it reports the loss
// every time, naming the output; with everything written it reports none,
// even when the deadline has passed too.
func TestCloseOutcomeIsDeterministic(t *testing.T) {
	for i := range 20 {
		var out lockedBuffer
		d, err := New(Options{Format: Format{JSON: true}, QueueCapacity: 10, Logger: quiet(), Stdout: &out,
			HTTP: &HTTPOptions{URL: "http://u:pw@127.0.0.1:1/", MinBackoff: 5 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		d.Send(testAlert(i))
		waitFor(t, func() bool { return strings.Contains(out.String(), "\n") }) // local output done
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err = d.Close(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "http_output: 1 alert(s) not delivered to http://u:xxxxx@127.0.0.1:1/") {
			t.Fatalf("run %d: Close with the receiver down: %v", i, err)
		}
		if strings.Contains(err.Error(), "pw") {
			t.Fatalf("the password is in the error: %v", err)
		}
		if l := d.Losses(); len(l) != 2 || l[0] != (Loss{Output: "stdout_output"}) ||
			l[1] != (Loss{Output: "http_output", Shutdown: 1}) || d.Dropped() != 1 {
			t.Fatalf("run %d: losses %+v, dropped %d", i, l, d.Dropped())
		}

		d, _ = New(Options{Format: Format{JSON: true}, QueueCapacity: 10, Logger: quiet(), Stdout: &out})
		d.Send(testAlert(i))
		ctx, cancel = context.WithCancel(context.Background())
		cancel() // the deadline passed; the local output still writes its queue
		if err := d.Close(ctx); err != nil || d.Dropped() != 0 {
			t.Fatalf("run %d: everything written, yet %v (dropped %d)", i, err, d.Dropped())
		}
	}
}

// The final report goes to the local outputs after the HTTP output has
// given up, so the internal alert for its loss is written.
func TestCloseWithFinalReportsHTTPLoss(t *testing.T) {
	var out lockedBuffer
	m := NewMetrics()
	d, _ := New(Options{Format: Format{JSON: true, IncludeOutput: true}, QueueCapacity: 10, Logger: quiet(), Metrics: m, Stdout: &out,
		HTTP: &HTTPOptions{URL: "http://127.0.0.1:1/", MinBackoff: 5 * time.Millisecond}})
	r := &DropReporter{Outputs: d.Dropped, Emit: d.Send, Hostname: "h"}
	d.Send(testAlert(1))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := d.CloseWith(ctx, func(send func(*alert.Alert)) { r.Final(time.Now(), send) })
	if err == nil {
		t.Fatal("no error for the undelivered alert")
	}
	lines := strings.Split(strings.TrimSpace(out.b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"rule":"Nightjar dropped events"`) ||
		!strings.Contains(lines[1], "output_drops=1 ") {
		t.Fatalf("stdout: want the alert and the internal alert for the HTTP loss:\n%s", out.b.String())
	}
	if got := testutil.ToFloat64(m.OutputDropped.WithLabelValues("http", "shutdown")); got != 1 {
		t.Fatalf("shutdown drops %v", got)
	}
}

// A local output that never finishes writing: Close gives up at the
// deadline and counts what the local queue still held, naming the outputs.
func TestCloseCountsUnwrittenLocalAlerts(t *testing.T) {
	stuck := &blockingWriter{release: make(chan struct{})}
	defer close(stuck.release)
	d, _ := New(Options{Format: Format{}, QueueCapacity: 10, Logger: quiet(), Stdout: stuck})
	for i := range 3 {
		d.Send(testAlert(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := d.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "stdout_output: 3 alert(s) not written") {
		t.Fatalf("Close: %v", err)
	}
	if l := d.Losses(); len(l) != 1 || l[0].Shutdown != 3 || d.Dropped() != 3 {
		t.Fatalf("losses %+v", l)
	}
}

// When the HTTP drain returns just before the deadline, the local outputs
// still get localGrace, not the milliseconds left: a slow but working
// writer loses nothing.
func TestCloseGivesLocalOutputsTheGrace(t *testing.T) {
	slow := &slowWriter{delay: 200 * time.Millisecond}
	d, _ := New(Options{Format: Format{}, QueueCapacity: 10, Logger: quiet(), Stdout: slow})
	d.Send(testAlert(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); err != nil || d.Dropped() != 0 || slow.writes.Load() != 1 {
		t.Fatalf("Close: %v, dropped %d, written %d", err, d.Dropped(), slow.writes.Load())
	}
}

type slowWriter struct {
	delay  time.Duration
	writes atomic.Int64
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	w.writes.Add(1)
	return len(p), nil
}

type blockingWriter struct{ release chan struct{} }

func (w *blockingWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

func TestDropReporterFinalIgnoresInterval(t *testing.T) {
	var outputs uint64 = 1
	var alerts, finals []*alert.Alert
	r := &DropReporter{Outputs: func() uint64 { return outputs }, Emit: func(a *alert.Alert) { alerts = append(alerts, a) }}
	t0 := time.Now()
	if !r.Check(t0) {
		t.Fatal("no alert")
	}
	outputs = 3
	if r.Check(t0.Add(time.Second)) {
		t.Fatal("Check within the interval")
	}
	if !r.Final(t0.Add(time.Second), func(a *alert.Alert) { finals = append(finals, a) }) {
		t.Fatal("Final must report what grew, whatever the interval")
	}
	if len(alerts) != 1 || len(finals) != 1 || finals[0].OutputFields["n_drops_output"] != uint64(2) {
		t.Fatalf("alerts %d, finals %+v", len(alerts), finals)
	}
	if r.Final(t0.Add(2*time.Second), nil) {
		t.Fatal("Final without new drops")
	}
}

// A password in http_output.url never reaches the log, however short
// (outputs.Scrub leaves values under 4 bytes alone).
func TestHTTPLogsHideShortPassword(t *testing.T) {
	var log lockedBuffer
	d, err := New(Options{Format: Format{JSON: true}, QueueCapacity: 10, Logger: slog.New(slog.NewTextHandler(&log, nil)),
		HTTP: &HTTPOptions{URL: "http://u:pw@127.0.0.1:1/", MinBackoff: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(testAlert(1))
	waitFor(t, func() bool { return strings.Contains(log.String(), "retrying") })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	d.Close(ctx)
	if s := log.String(); strings.Contains(s, "pw@") || !strings.Contains(s, "url=http://u:xxxxx@127.0.0.1:1/") {
		t.Fatalf("log:\n%s", s)
	}
}

// Without a local syslog, start-up stops with the sockets tried, why each
// failed, and the fix.
func TestSyslogUnavailableSaysWhereAndWhatToDo(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "log")
	stale := filepath.Join(dir, "stale")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: stale, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // a datagram socket file stays: nobody listens on it
	err = localSyslogError([]string{missing, stale})
	for _, want := range []string{
		"syslog_output: no local syslog to write to",
		missing + " (no such file or directory)",
		stale + " (connection refused)",
		"-o syslog_output.enabled=false",
		"make " + missing + " available",
		"mount the host's /dev/log",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	// The real thing, where this machine has no local syslog.
	for _, p := range localSyslogPaths {
		if c, err := net.Dial("unixgram", p); err == nil {
			c.Close()
			t.Skipf("%s is a syslog socket here", p)
		}
		if c, err := net.Dial("unix", p); err == nil {
			c.Close()
			t.Skipf("%s is a syslog socket here", p)
		}
	}
	_, err = New(Options{Syslog: true, Logger: quiet()})
	if err == nil || !strings.Contains(err.Error(), "tried /dev/log (") || !strings.Contains(err.Error(), "syslog_output.enabled=false") {
		t.Fatalf("New with no local syslog: %v", err)
	}
}
