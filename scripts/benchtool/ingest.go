package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

// ingestAlert is the alert every ingest request carries: a typical Falco
// alert, without uuid (the sidekick assigns one, so none is deduplicated).
const ingestAlert = `{"output":"16:31:56.746609046: Warning Sensitive file opened for reading by non-trusted program (file=/etc/shadow)","priority":"Warning","rule":"Read sensitive file untrusted","time":"2026-11-29T16:31:56.746609046Z","source":"syscall","hostname":"node-1","tags":["filesystem","mitre_credential_access"],"output_fields":{"evt.time":1764433916746609046,"proc.cmdline":"cat /etc/shadow","fd.name":"/etc/shadow","user.name":"root","container.id":"host"}}`

// runIngest measures POST / of separate server processes at a fixed rate
// (open loop: each request's latency counts from when it was due, so a
// stall is not hidden by the sender waiting). Against -url it measures
// that server only; with -sidekick it runs, in the same run, the bare
// server (this program's "bare" subcommand: decode the same JSON, answer
// 200) and then the real sidekick binary delivering to a webhook sink in
// this process, -rounds times, and checks that every accepted alert was
// delivered.
// It prints Go benchmark lines for `benchtool summary`.
func runIngest(args []string) error {
	fs := flag.NewFlagSet("benchtool ingest", flag.ContinueOnError)
	url := fs.String("url", "", "measure this server only (http://host:port/)")
	sidekick := fs.String("sidekick", "", "nightjar-sidekick `binary` to measure beside the bare server")
	skFlags := fs.String("sidekick-flags", "", "extra `flags` for the sidekick, space-separated (e.g. \"-pprof 127.0.0.1:6060\")")
	noBare := fs.Bool("no-bare", false, "with -sidekick, skip the bare server's run")
	skLog := fs.String("sidekick-log", "", "write the sidekick's log (stderr) to this `file`")
	rate := fs.Int("rate", 5000, "requests per second")
	dur := fs.Duration("d", 20*time.Second, "measured duration (after a 2 s warm-up)")
	conns := fs.Int("conns", 64, "keep-alive connections")
	timeline := fs.String("timeline", "", "write the worst latency per 10 ms of each timed run to this `file` (the last round's sidekick run last)")
	rounds := fs.Int("rounds", 1, "with -sidekick, measure the bare server and the sidekick this many times, alternating")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*url == "") == (*sidekick == "") {
		return errors.New("want exactly one of -url and -sidekick")
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", *rounds)
	}
	p := pacer{rate: *rate, n: int(dur.Seconds() * float64(*rate)), conns: *conns, timeline: *timeline}
	if *url != "" {
		r, err := p.run(*url)
		if err != nil {
			return err
		}
		r.print("BenchmarkIngestE2E/url", p.n)
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var logFile *os.File
	if *skLog != "" {
		if logFile, err = os.Create(*skLog); err != nil {
			return err
		}
		defer logFile.Close()
	}
	// Rounds alternate the two servers, so that a busy minute on this shared
	// machine lands on both rather than on one; summary takes the medians.
	for range *rounds {
		if !*noBare {
			if err := bareRound(p, self); err != nil {
				return err
			}
		}
		if err := sidekickRound(p, *sidekick, strings.Fields(*skFlags), logFile); err != nil {
			return err
		}
	}
	return nil
}

// bareRound measures the bare server (this program's "bare" subcommand).
func bareRound(p pacer, self string) error {
	bare, err := startServer(exec.Command(self, "bare", "-addr", "127.0.0.1:0"), "")
	if err != nil {
		return fmt.Errorf("bare server: %w", err)
	}
	r, err := p.measure(bare, nil)
	bare.stop()
	if err != nil {
		return fmt.Errorf("bare server: %w", err)
	}
	r.print("BenchmarkIngestE2E/bare", p.n)
	return nil
}

// sidekickRound measures a fresh sidekick process (empty queue) delivering
// to a webhook sink in this process; its stderr goes to logFile when set.
func sidekickRound(p pacer, binary string, flags []string, logFile *os.File) error {
	var got atomic.Int64
	sink := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
	})}
	sinkLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go sink.Serve(sinkLn)
	defer sink.Close()
	dir, err := os.MkdirTemp("", "benchtool-sidekick-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, flags...)
	cmd.Env = append(os.Environ(), "LISTENADDRESS=127.0.0.1", "LISTENPORT="+strconv.Itoa(port),
		"QUEUE_DIR="+filepath.Join(dir, "queue"), "WEBHOOK_ADDRESS=http://"+sinkLn.Addr().String()+"/falco")
	if logFile != nil {
		cmd.Stderr = logFile
	}
	sk, err := startServer(cmd, "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("sidekick: %w", err)
	}
	defer sk.stop()
	r, err := p.measure(sk, &got)
	if err != nil {
		return fmt.Errorf("sidekick: %w", err)
	}
	r.print("BenchmarkIngestE2E/sidekick", p.n)
	return nil
}

// server is a server process under test.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *strings.Builder
}

// startServer starts cmd and waits until it answers. With addr empty the
// process prints "listening ADDR" as its first stdout line.
func startServer(cmd *exec.Cmd, addr string) (*server, error) {
	s := &server{cmd: cmd, logs: &strings.Builder{}}
	var mu sync.Mutex
	if cmd.Stderr == nil {
		cmd.Stderr = writerFunc(func(b []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if s.logs.Len() < 64<<10 {
				s.logs.Write(b)
			}
			return len(b), nil
		})
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if addr == "" {
		line, err := bufio.NewReader(out).ReadString('\n')
		a, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
		if err != nil || !ok {
			s.stop()
			return nil, fmt.Errorf("no address printed (%q, %v)", line, err)
		}
		addr = a
	}
	go io.Copy(io.Discard, out)
	s.url = "http://" + addr + "/"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("not answering on %s after 30 s: %v; log: %s", addr, err, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// pacer sends n requests at rate over conns keep-alive connections.
type pacer struct {
	rate, n, conns int
	// timeline, when set, is a file that run writes the worst latency of
	// every 10 ms of due times to ("ms-since-start max-µs requests
	// over-5-ms"), to see whether the tail is spread out or a few stalls.
	timeline string
}

// ingestResult is one measured run.
type ingestResult struct {
	lat      []time.Duration // sorted
	elapsed  time.Duration   // first due time to last answer
	failed   int
	extra    []string // further "value unit" pairs
	firstErr error
}

func (r *ingestResult) print(name string, n int) {
	pct := func(p float64) float64 {
		i := min(int(float64(len(r.lat))*p), len(r.lat)-1)
		return float64(r.lat[i].Microseconds())
	}
	fmt.Printf("%s %d %.0f p50-µs %.0f p99-µs %.0f p99.9-µs %.0f max-µs %.0f alerts/s %d failed %s\n",
		name, n, pct(0.5), pct(0.99), pct(0.999), pct(1), float64(n)/r.elapsed.Seconds(), r.failed, strings.Join(r.extra, " "))
}

// measure warms s up for 2 s, then runs the timed sends while sampling the
// process's CPU time and resident memory. With delivered set it waits until
// the sink has every accepted alert (warm-up included) and reports the
// delivery rate; the CPU per alert then covers delivery too.
func (p pacer) measure(s *server, delivered *atomic.Int64) (*ingestResult, error) {
	warm := pacer{rate: p.rate, n: 2 * p.rate, conns: p.conns}
	if w, err := warm.run(s.url); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	} else if w.failed > 0 {
		return nil, fmt.Errorf("warm-up: %d of %d requests failed: %v", w.failed, warm.n, w.firstErr)
	}
	if delivered != nil {
		// Start the clock on an empty queue.
		if err := waitFor(delivered, int64(warm.n), 30*time.Second); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	pid := s.cmd.Process.Pid
	cpu0, err := procCPU(pid)
	if err != nil {
		return nil, err
	}
	all0, all0At := machineCPU(), time.Now()
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := procRSS(pid); err == nil && kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()
	var self0, self1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
	start := time.Now()
	r, err := p.run(s.url)
	close(stopSampling)
	sampler.Wait()
	if err != nil {
		return nil, err
	}
	if r.failed > 0 {
		return nil, fmt.Errorf("%d of %d requests failed: %v", r.failed, p.n, r.firstErr)
	}
	if delivered != nil {
		if err := waitFor(delivered, int64(warm.n+p.n), 2*time.Minute); err != nil {
			return nil, err
		}
		r.extra = append(r.extra, fmt.Sprintf("%.0f delivered/s", float64(p.n)/time.Since(start).Seconds()))
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return nil, err
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
	self := time.Duration(syscall.TimevalToNsec(self1.Utime) - syscall.TimevalToNsec(self0.Utime) +
		syscall.TimevalToNsec(self1.Stime) - syscall.TimevalToNsec(self0.Stime))
	rss, _ := procRSS(pid)
	// Everything else the machine ran meanwhile (other people's builds and
	// tests): a run with others > 0.2 core measured a shared machine.
	others := (machineCPU() - all0 - (cpu1 - cpu0) - self).Seconds() / time.Since(all0At).Seconds()
	r.extra = append(r.extra,
		// This process: the sender, and the sink when there is one.
		fmt.Sprintf("%.1f benchtool-cpu-µs/alert", float64(self.Microseconds())/float64(p.n)),
		fmt.Sprintf("%.2f others-cores", max(others, 0)),
		fmt.Sprintf("%.1f cpu-µs/alert", float64((cpu1-cpu0).Microseconds())/float64(p.n)),
		fmt.Sprintf("%.1f rss-MB", float64(rss)/1024),
		fmt.Sprintf("%.1f peak-rss-MB", float64(peak.Load())/1024))
	return r, nil
}

// waitFor waits until the sink has received want alerts.
func waitFor(delivered *atomic.Int64, want int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for delivered.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("delivered %d of %d accepted alerts within %s", delivered.Load(), want, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// run sends p.n requests, request i due at i/rate after the start; a
// connection takes the next due request as soon as it has its previous
// answer. Requests are prebuilt bytes written on raw keep-alive
// connections, so that the sender costs little beside the server.
func (p pacer) run(url string) (*ingestResult, error) {
	host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	if strings.Contains(host, "/") || strings.HasPrefix(url, "https:") {
		return nil, fmt.Errorf("-url: want http://host:port/, got %q", url)
	}
	req := []byte("POST / HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(ingestAlert)) + "\r\n\r\n" + ingestAlert)
	r := &ingestResult{lat: make([]time.Duration, p.n)}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		r.failed++
		if r.firstErr == nil {
			r.firstErr = err
		}
		mu.Unlock()
	}
	next := make(chan int, p.conns)
	var wg sync.WaitGroup
	var start time.Time
	ready := make(chan struct{})
	for range p.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			var c net.Conn
			var br *bufio.Reader
			for i := range next {
				due := start.Add(time.Duration(i) * time.Second / time.Duration(p.rate))
				if c == nil {
					var err error
					if c, err = net.Dial("tcp", host); err != nil {
						fail(err)
						continue
					}
					br = bufio.NewReaderSize(c, 4096)
				}
				status, err := roundTrip(c, br, req)
				if err != nil {
					c.Close()
					c = nil
					fail(err)
					continue
				}
				r.lat[i] = time.Since(due)
				if status != 200 {
					fail(fmt.Errorf("status %d", status))
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	start = time.Now()
	close(ready)
	for i := range p.n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(p.rate))); d > 0 {
			time.Sleep(d)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	r.elapsed = time.Since(start)
	if p.timeline != "" {
		if err := writeTimeline(p.timeline, r.lat, p.rate); err != nil {
			return nil, err
		}
	}
	slices.Sort(r.lat)
	return r, nil
}

// writeTimeline writes, per 10 ms of due times, the worst latency, the
// number of requests and how many of them took over 5 ms (the p99 target);
// lat is indexed by request (request i was due at i/rate).
func writeTimeline(path string, lat []time.Duration, rate int) error {
	var b strings.Builder
	per := max(rate/100, 1)
	for i := 0; i < len(lat); i += per {
		bucket := lat[i:min(i+per, len(lat))]
		over := 0
		for _, l := range bucket {
			if l > 5*time.Millisecond {
				over++
			}
		}
		fmt.Fprintf(&b, "%d %d %d %d\n", i*1000/rate, slices.Max(bucket).Microseconds(), len(bucket), over)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// roundTrip writes one request and reads the status and body of its answer.
func roundTrip(c net.Conn, br *bufio.Reader, req []byte) (int, error) {
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// procCPU is a process's user+system CPU time so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	// USER_HZ is 100 on Linux.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// machineCPU is the CPU time all processes have used so far (the busy
// fields of /proc/stat's cpu line), or 0 when it cannot be read.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var ticks int64
	for i, v := range f {
		if i == 0 || i == 4 || i == 5 || i > 8 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// procRSS is a process's resident set size in KiB.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// runBare is the baseline server: it decodes each POST / as the sidekick
// does (alert.Decode) and answers 200, nothing else. It prints
// "listening ADDR" and serves until interrupted.
func runBare(args []string) error {
	fs := flag.NewFlagSet("benchtool bare", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println("listening", ln.Addr())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			io.WriteString(w, "pong\n")
			return
		}
		body, err := io.ReadAll(r.Body)
		if err == nil {
			_, err = alert.Decode(body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
