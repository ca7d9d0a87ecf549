package main

// End-to-end tests: the real nightjar binary on the real kernel, alerts
// POSTed to an HTTP receiver standing in for the sidekick, and every
// behaviour performed for real by a helper process (this test binary,
// re-executed under a chosen program name with NJ_HELPER set).

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/alert"
)

func TestMain(m *testing.M) {
	if action := os.Getenv("NJ_HELPER"); action != "" {
		os.Exit(helper(action, os.Args[1:]))
	}
	flag.Parse()
	sidekickDir, err := os.MkdirTemp("", "nightjar-sidekick-e2e-")
	if err == nil && os.Geteuid() == 0 && wantsSidekick() {
		buildSidekick(sidekickDir)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if sidekickStarted {
		<-sidekickBuilt
	}
	os.RemoveAll(sidekickDir)
	os.Exit(code)
}

// wantsSidekick says whether this run includes a test or benchmark that
// needs nightjar-sidekick, so that its build can start early.
func wantsSidekick() bool {
	run := flag.Lookup("test.run").Value.String()
	bench := flag.Lookup("test.bench").Value.String()
	match := func(pattern, name string) bool {
		ok, err := regexp.MatchString(strings.Split(pattern, "/")[0], name)
		return err != nil || ok
	}
	return (run == "" || match(run, "TestThroughSidekickToWebhook")) ||
		(bench != "" && match(bench, "BenchmarkSyscallToWebhookThroughSidekick"))
}

// helper performs one behaviour and exits; the exit status says whether the
// behaviour itself worked (so that a missing alert is never an unnoticed
// failure to act).
func helper(action string, args []string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", action, err)
		return 3
	}
	switch action {
	case "open":
		f, err := os.Open(args[0])
		if err != nil {
			return fail(err)
		}
		f.Close()
	case "open-many":
		n, _ := strconv.Atoi(args[1])
		for i := 0; i < n; i++ {
			f, err := os.Open(args[0])
			if err != nil {
				return fail(err)
			}
			f.Close()
		}
	case "create":
		f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fail(err)
		}
		f.Close()
	case "mkdir":
		if err := os.Mkdir(args[0], 0o755); err != nil {
			return fail(err)
		}
	case "unlink":
		if err := os.Remove(args[0]); err != nil {
			return fail(err)
		}
	case "open-trunc":
		f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fail(err)
		}
		f.Close()
	case "symlink":
		if err := os.Symlink(args[0], args[1]); err != nil {
			return fail(err)
		}
	case "link":
		if err := os.Link(args[0], args[1]); err != nil {
			return fail(err)
		}
	case "ptrace-attach":
		child := exec.Command("sleep", "10")
		if err := child.Start(); err != nil {
			return fail(err)
		}
		defer child.Process.Kill()
		runtime.LockOSThread()
		if err := syscall.PtraceAttach(child.Process.Pid); err != nil {
			return fail(err)
		}
		var ws syscall.WaitStatus
		syscall.Wait4(child.Process.Pid, &ws, syscall.WALL, nil)
		if err := syscall.PtraceDetach(child.Process.Pid); err != nil {
			return fail(err)
		}
	case "traceme":
		if _, _, e := syscall.RawSyscall(syscall.SYS_PTRACE, syscall.PTRACE_TRACEME, 0, 0); e != 0 {
			return fail(e)
		}
	case "memfd-exec":
		fd, err := unix.MemfdCreate("njpayload", 0)
		if err != nil {
			return fail(err)
		}
		bin, err := os.ReadFile("/bin/true")
		if err != nil {
			return fail(err)
		}
		if _, err := unix.Write(fd, bin); err != nil {
			return fail(err)
		}
		return fail(syscall.Exec(fmt.Sprintf("/proc/self/fd/%d", fd), []string{"njpayload"}, os.Environ()))
	case "connect":
		c, err := net.DialTimeout("tcp", args[0], 5*time.Second)
		if err != nil {
			return fail(err)
		}
		c.Close()
	case "revshell":
		c, err := net.DialTimeout("tcp", args[0], 5*time.Second)
		if err != nil {
			return fail(err)
		}
		f, err := c.(*net.TCPConn).File()
		if err != nil {
			return fail(err)
		}
		for _, n := range []int{0, 1} {
			if err := syscall.Dup2(int(f.Fd()), n); err != nil {
				return fail(err)
			}
		}
		return fail(syscall.Exec("/bin/sh", []string{"sh", "-c", "exit 0"}, os.Environ()))
	case "bpf-prog":
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
		if err != nil {
			return fail(err)
		}
		prog.Close()
	case "packet-socket":
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fail(err)
		}
		unix.Close(fd)
	case "unshare-mount":
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fail(err)
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fail(err)
		}
		if err := unix.Mount("njtmp", args[0], "tmpfs", 0, ""); err != nil {
			return fail(err)
		}
	case "setuid-root":
		// Drop to uid 1000 keeping root as the saved uid, then take it back:
		// a non-root process becoming root.
		// Enter the login session of uid 1000, as pam_loginuid does.
		if err := os.WriteFile("/proc/self/loginuid", []byte("1000"), 0); err != nil {
			return fail(err)
		}
		runtime.LockOSThread()
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, 1000, 1000, 0); e != 0 {
			return fail(e)
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETUID, 0, 0, 0); e != 0 {
			return fail(e)
		}
	case "sleep-open":
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
		f, err := os.Open(args[1])
		if err != nil {
			return fail(err)
		}
		f.Close()
	case "spawn":
		// A child, so that this program is its parent.
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("%v: %s", err, out))
		}
	case "spawn-as-nobody":
		c := exec.Command(args[0], args[1:]...)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if out, err := c.CombinedOutput(); err != nil {
			return fail(fmt.Errorf("%v: %s", err, out))
		}
	case "listen-connect":
		ln, err := net.Listen("tcp", args[0])
		if err != nil {
			return fail(err)
		}
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		c, err := net.DialTimeout("tcp", args[0], 5*time.Second)
		if err != nil {
			return fail(err)
		}
		c.Close()
	case "pty-shell":
		// A shell with a terminal, as kubectl exec -it gives one.
		ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
		if err != nil {
			return fail(err)
		}
		defer ptmx.Close()
		if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
			return fail(err)
		}
		n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
		if err != nil {
			return fail(err)
		}
		pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			return fail(err)
		}
		defer pts.Close()
		go io.Copy(io.Discard, ptmx)
		c := exec.Command("/bin/sh", "-c", "true")
		c.Stdin, c.Stdout, c.Stderr = pts, pts, pts
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if len(args) > 0 { // run the shell as this uid (a system account)
			uid, _ := strconv.Atoi(args[0])
			c.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}
		}
		if err := c.Run(); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("unknown action"))
	}
	return 0
}

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// nightjarBinary builds the real binary once per test run.
func nightjarBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "nightjar-e2e-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "nightjar")
		out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// receiver stands in for the sidekick.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	alerts []*alert.Alert
	times  []time.Time
	notify chan struct{}
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{notify: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		a, err := alert.Decode(b)
		if err != nil {
			t.Errorf("receiver: nightjar sent an invalid alert: %v\n%s", err, b)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.alerts = append(r.alerts, a)
		r.times = append(r.times, time.Now())
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the first alert that matches, waiting up to timeout.
func (r *receiver) wait(timeout time.Duration, match func(*alert.Alert) bool) (*alert.Alert, time.Time) {
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		for i, a := range r.alerts {
			if match(a) {
				t := r.times[i]
				r.mu.Unlock()
				return a, t
			}
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-deadline:
			return nil, time.Time{}
		}
	}
}

func (r *receiver) all() []*alert.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*alert.Alert(nil), r.alerts...)
}

// nightjarProc is a running detector.
type nightjarProc struct {
	cmd      *exec.Cmd
	stderr   *bytes.Buffer
	mu       *sync.Mutex
	stop     func() // SIGTERM and wait; also run at cleanup
	stopOnce sync.Once
}

// startNightjar runs the binary with the receiver as http_output and waits
// until it captures.
func startNightjar(t testing.TB, r *receiver, args ...string) *nightjarProc {
	t.Helper()
	requireRoot(t)
	bin := nightjarBinary(t)
	args = append([]string{"-o", "http_output.enabled=true", "-o", "http_output.url=" + r.srv.URL + "/",
		"-o", "stdout_output.enabled=false", "-o", "json_output=true",
		// 32 MiB ring: other tests (and CI's other packages) may be busy.
		"-o", "syscall_buf_size_preset=6"}, args...)
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	p := &nightjarProc{cmd: cmd, stderr: &bytes.Buffer{}, mu: &sync.Mutex{}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), "msg=capturing") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	p.stop = func() {
		p.stopOnce.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("nightjar exited with %v after SIGTERM\n%s", err, p.log())
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Errorf("nightjar did not stop on SIGTERM within 10 s")
			}
		})
	}
	t.Cleanup(p.stop)
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("nightjar exited: %v\n%s", err, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("nightjar not capturing after 60 s:\n%s", p.log())
	}
	return p
}

func (p *nightjarProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("end-to-end tests load eBPF programs: run as root (CI does)")
	}
}

// helperAs links this test binary under a program name in dir (so that the
// kernel's comm and proc.name are that name) and returns its path.
func helperAs(t testing.TB, dir, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.Link(self, p); err != nil {
		data, rerr := os.ReadFile(self)
		if rerr != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// runHelper runs a helper action and returns its pid; the action must work.
func runHelper(t testing.TB, path, action string, args ...string) int {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "NJ_HELPER="+action)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper %s %v: %v\n%s", action, args, err, out.String())
	}
	return cmd.Process.Pid
}

// container is a cgroup named as Docker names its containers' scopes
// (docker-<64 hex>.scope) on the cgroup v2 hierarchy: processes moved into
// it belong to "container" <first 12 hex>, as nightjar reads cgroups.
type container struct {
	ID, Dir string
}

func newContainer(t *testing.T) *container {
	t.Helper()
	root := "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		root = "/sys/fs/cgroup/unified" // hybrid layout: v2 beside the v1 controllers
	}
	full := randHex(32)
	c := &container{ID: full[:12], Dir: filepath.Join(root, "docker-"+full+".scope")}
	if err := os.Mkdir(c.Dir, 0o755); err != nil {
		t.Fatalf("creating the test container's cgroup: %v", err)
	}
	t.Cleanup(func() {
		// The cgroup can go once its processes have exited.
		for i := 0; i < 50 && os.Remove(c.Dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	return c
}

// run runs a helper action inside the container's cgroup (entered before
// the exec, as a runtime does) and returns its pid.
func (c *container) run(t *testing.T, path, action string, args ...string) int {
	t.Helper()
	script := `echo $$ > "$0"/cgroup.procs && exec "$@"`
	cmd := exec.Command("sh", append([]string{"-c", script, c.Dir, path}, args...)...)
	cmd.Env = append(os.Environ(), "NJ_HELPER="+action)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper %s in container: %v\n%s", action, err, out.String())
	}
	return cmd.Process.Pid
}

// runCmd runs a real program (grep, shred, nc ...) and returns its pid; its
// exit status does not matter.
func runCmd(t *testing.T, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cmd.Wait()
	return cmd.Process.Pid
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func num(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// byPID matches an alert of rule raised for process pid.
func byPID(rule string, pid int) func(*alert.Alert) bool {
	return func(a *alert.Alert) bool {
		p, ok := num(a.OutputFields["proc.pid"])
		return a.Rule == rule && ok && p == int64(pid)
	}
}

// byField matches an alert of rule whose output field has a value.
func byField(rule, field, value string) func(*alert.Alert) bool {
	return func(a *alert.Alert) bool {
		if a.Rule != rule {
			return false
		}
		switch v := a.OutputFields[field].(type) {
		case string:
			return v == value
		case json.Number:
			return v.String() == value
		}
		return false
	}
}

const alertTimeout = 15 * time.Second

func expectAlert(t *testing.T, r *receiver, p *nightjarProc, what string, prio alert.Priority, match func(*alert.Alert) bool, fields map[string]string) *alert.Alert {
	t.Helper()
	a, _ := r.wait(alertTimeout, match)
	if a == nil {
		var got []string
		for _, x := range r.all() {
			got = append(got, x.Rule+": "+x.Output)
		}
		t.Errorf("%s: no alert within %s; alerts so far:\n%s\nnightjar log:\n%s", what, alertTimeout, strings.Join(got, "\n"), p.log())
		return nil
	}
	if a.Priority != prio {
		t.Errorf("%s: priority %s, want %s", what, a.Priority, prio)
	}
	if a.Source != "syscall" || a.Hostname == "" || a.Time.IsZero() {
		t.Errorf("%s: source %q hostname %q time %v", what, a.Source, a.Hostname, a.Time)
	}
	for k, want := range fields {
		got := fmt.Sprint(a.OutputFields[k])
		if got != want {
			t.Errorf("%s: output field %s = %q, want %q (output: %s)", what, k, got, want, a.Output)
		}
	}
	return a
}
