package sysevent

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/state"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// These tests run real syscalls against the real kernel (root, as CI runs
// them): one capture feeds one Processor, exactly as the daemon does, and
// the field values of the events of this test process and its descendants
// are recorded as the rules would read them. Other activity on the machine
// is processed (the state must follow it) but not recorded.

const helperEnv = "NIGHTJAR_SYSEVENT_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "sysevent tests need root: eBPF programs cannot be loaded otherwise")
		os.Exit(1)
	}
	// A process that exists before the table is seeded: its exit event
	// must show the state read from /proc.
	pre := exec.Command("sleep", "300", "1")
	pre.Dir = "/tmp"
	if err := pre.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start sleep:", err)
		os.Exit(1)
	}
	preSeed = pre
	code := m.Run()
	pre.Process.Kill()
	pre.Wait()
	if h != nil {
		h.capture.Close()
	}
	os.Exit(code)
}

var preSeed *exec.Cmd

// snap is one recorded event: field reference -> value as printed ("<NA>"
// when missing).
type snap map[string]string

type harness struct {
	capture *bpf.Capture
	src     *field.Source
	proc    *Processor
	refs    []ref

	mu      sync.Mutex
	snaps   []snap
	tracked map[uint32]bool
	err     error
	unknown []string
}

type ref struct {
	name string
	f    *field.Field
	a    field.Arg
}

var (
	hOnce sync.Once
	h     *harness
	hErr  error
)

// Arguments recorded besides every bound field without a required argument.
var argRefs = []string{"proc.aenv[NJ_MARK]", "proc.env[NJ_MARK]", "proc.aname[2]", "proc.aname[3]", "proc.apid[1]", "proc.apid[2]", "proc.aexepath[2]"}

var argNames = []string{"fd", "name", "flags", "mode", "dirfd", "request", "pid", "uid", "target",
	"linkpath", "oldpath", "newpath", "args", "filename", "res", "addr", "tuple", "oldfd", "newfd",
	"sig", "domain", "type", "newdirfd", "olddir", "newdir", "exe", "ptid", "path", "nstype"}

func shared(t *testing.T) *harness {
	t.Helper()
	hOnce.Do(func() {
		src := NewSource()
		c, err := bpf.Load(bpf.Config{Syscalls: testSyscalls, NoStateSyscalls: true, RingSize: 64 << 20})
		if err != nil {
			hErr = err
			return
		}
		// Seed after the capture is attached: nothing falls in between.
		tbl := state.New(state.Options{})
		if err := tbl.Seed(); err != nil {
			c.Close()
			hErr = err
			return
		}
		h = &harness{capture: c, src: src, proc: NewProcessor(src, tbl),
			tracked: map[uint32]bool{uint32(os.Getpid()): true, uint32(preSeed.Process.Pid): true}}
		for _, f := range src.Fields() {
			if f.Bound() && !f.ArgReq {
				h.refs = append(h.refs, ref{name: f.Name, f: f})
			}
		}
		for _, n := range argNames {
			argRefs = append(argRefs, "evt.arg."+n, "evt.rawarg."+n)
		}
		for _, r := range argRefs {
			f, a, err := src.Ref(r)
			if err != nil {
				hErr = err
				return
			}
			h.refs = append(h.refs, ref{name: r, f: f, a: a})
		}
		go h.loop()
	})
	if hErr != nil {
		t.Fatalf("capture: %v", hErr)
	}
	return h
}

// testSyscalls are what the tests need: the state syscalls except fcntl
// (the busiest, which other work on a shared machine floods the ring with).
var testSyscalls = []string{"open", "openat", "creat", "execve", "execveat", "connect", "accept",
	"accept4", "bind", "listen", "socket", "dup", "dup2", "dup3", "close", "ptrace", "memfd_create",
	"setuid", "setresuid", "finit_module", "symlink", "symlinkat", "link", "linkat", "unshare",
	"chdir", "fchdir", "unlinkat", "mkdirat"}

// loop is the daemon's loop: read, handle, and (here) record.
func (h *harness) loop() {
	var raw bpf.Event
	for {
		if err := h.capture.Read(&raw); err != nil {
			if !errors.Is(err, bpf.ErrClosed) {
				h.mu.Lock()
				h.err = err
				h.mu.Unlock()
			}
			return
		}
		h.mu.Lock()
		tracked := h.tracked[raw.PID]
		if raw.Kind == bpf.KindFork && tracked {
			h.tracked[raw.ChildPID] = true
		}
		h.mu.Unlock()
		// Diagnostics for a failure: events of pids the table did not know.
		if h.proc.Table().Get(raw.PID) == nil && raw.Kind != bpf.KindExit && len(h.unknown) < 20 {
			h.mu.Lock()
			h.unknown = append(h.unknown, fmt.Sprintf("%d/%d/%v/%v/%s", raw.PID, raw.TID, raw.Kind, raw.Syscall, raw.Comm))
			h.mu.Unlock()
		}
		ev := h.proc.Handle(&raw)
		if ev == nil || !tracked {
			continue
		}
		// The processor's own reads of /proc (seeding, lazy state) happen in
		// this test process: they are not what the tests do, and recording
		// them would feed the loop its own work.
		if raw.PID == selfPID && (strings.HasPrefix(raw.Path, "/proc/") || ev.FD != nil && strings.HasPrefix(ev.FD.Name, "/proc/")) {
			continue
		}
		s := make(snap, len(h.refs))
		var buf []byte
		for _, r := range h.refs {
			var ok bool
			buf, ok = r.f.AppendValue(buf[:0], ev, r.a)
			if ok {
				s[r.name] = string(buf)
			} else {
				s[r.name] = "<NA>"
			}
		}
		// Whether the table still has the process after the event (the
		// table belongs to this goroutine: tests read it only here).
		s["_in_table"] = strconv.FormatBool(h.proc.Table().Get(raw.PID) != nil)
		h.mu.Lock()
		h.snaps = append(h.snaps, s)
		h.mu.Unlock()
	}
}

// wait returns the first recorded event for which match is true, waiting
// up to 30 s for it (a loaded CI machine delays the loop).
func (h *harness) wait(t *testing.T, what string, match func(snap) bool) snap {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.mu.Lock()
		for _, s := range h.snaps {
			if match(s) {
				h.mu.Unlock()
				return s
			}
		}
		err, n := h.err, len(h.snaps)
		h.mu.Unlock()
		if err != nil {
			t.Fatalf("capture read: %v", err)
		}
		if time.Now().After(deadline) {
			st, _ := h.capture.Stats()
			var types []string
			h.mu.Lock()
			for _, s := range h.snaps[max(0, n-40):] {
				types = append(types, s["evt.type"]+"/"+s["proc.pid"]+"/"+s["fd.name"])
			}
			h.mu.Unlock()
			t.Fatalf("no event %s in %d recorded (drops %d, loaded from /proc %d, unknown %v); last: %v", what, n, st.DroppedRingFull, h.proc.Stats().Loaded, h.unknown, types)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func expect(t *testing.T, s snap, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got, ok := s[k]; !ok {
			t.Errorf("%s: field %s not recorded", s["evt.type"], k)
		} else if got != w {
			t.Errorf("%s: %s = %q, want %q", s["evt.type"], k, got, w)
		}
	}
}

func is(pairs ...string) func(snap) bool {
	return func(s snap) bool {
		for i := 0; i+1 < len(pairs); i += 2 {
			if s[pairs[i]] != pairs[i+1] {
				return false
			}
		}
		return true
	}
}

var (
	self    = strconv.Itoa(os.Getpid())
	selfPID = uint32(os.Getpid())
)

func selfComm(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestKernelExecWithAncestors(t *testing.T) {
	h := shared(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "input.txt"), []byte("x\n"), 0o644)
	// sh stays alive, reading its stdin, until cat's exec is recorded: the
	// parent's environment is read from /proc while it exists.
	cmd := exec.Command("sh", "-c", "cat -n input.txt >/dev/null; read x; exit 0")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "NJ_MARK=kernel-test"}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("sh: %v", err)
		}
	}()
	catPath, _ := exec.LookPath("cat")
	catPath, _ = filepath.EvalSymlinks(catPath)
	s := h.wait(t, "execve of cat", is("evt.type", "execve", "proc.name", "cat", "proc.args", "-n input.txt"))
	expect(t, s, map[string]string{
		"proc.cmdline": "cat -n input.txt", "proc.exe": "cat", "proc.exepath": catPath,
		"proc.cwd": dir + "/", "proc.pname": "sh", "proc.pcmdline": "sh -c cat -n input.txt >/dev/null; read x; exit 0", "proc.aenv[NJ_MARK]": "kernel-test",
		"proc.aname[2]": selfComm(t), "proc.apid[2]": self, "evt.res": "SUCCESS", "evt.dir": "<",
		"user.name": "root", "user.uid": "0", "container.id": "host", "proc.cmdnargs": "2",
		"evt.arg.args": "-n input.txt", "proc.is_exe_from_memfd": "false", "thread.ismain": "true",
	})
	if s["proc.ppid"] == self || s["proc.ppid"] == "<NA>" {
		t.Errorf("cat's ppid %s: want the sh between", s["proc.ppid"])
	}
	// cat opening its argument relative to its cwd
	o := h.wait(t, "cat's open of input.txt", is("proc.name", "cat", "fs.path.nameraw", "input.txt"))
	expect(t, o, map[string]string{
		"fd.name": filepath.Join(dir, "input.txt"), "fd.directory": dir, "fd.filename": "input.txt",
		"fd.type": "file", "fd.typechar": "f", "evt.is_open_read": "true", "evt.is_open_write": "false",
		"proc.pname": "sh", "evt.arg.name": "input.txt", "evt.arg.dirfd": "-100",
	})
	if !strings.Contains(o["evt.arg.flags"], "O_RDONLY") {
		t.Errorf("evt.arg.flags = %q", o["evt.arg.flags"])
	}
}

func TestKernelOpenShadowAndDirfd(t *testing.T) {
	h := shared(t)
	f, err := os.Open("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	fd := strconv.Itoa(int(f.Fd()))
	f.Close()
	s := h.wait(t, "open of /etc/shadow", is("proc.pid", self, "fd.name", "/etc/shadow", "evt.type", "openat"))
	expect(t, s, map[string]string{"fd.num": fd, "evt.rawres": fd, "evt.is_open_read": "true",
		"evt.arg.flags": "O_RDONLY|O_CLOEXEC", "user.name": "root", "fd.directory": "/etc",
		"fd.filename": "shadow", "proc.name": selfComm(t)})
	c := h.wait(t, "close of /etc/shadow", is("proc.pid", self, "evt.type", "close", "fd.name", "/etc/shadow"))
	expect(t, c, map[string]string{"evt.arg.fd": fd, "fd.num": fd, "evt.res": "SUCCESS"})

	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	dfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	nfd, err := unix.Openat(dfd, "sub/../sub/new.sh", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(nfd)
	d := h.wait(t, "openat relative to a dirfd", is("proc.pid", self, "evt.arg.name", "sub/../sub/new.sh"))
	expect(t, d, map[string]string{
		"fd.name": filepath.Join(dir, "sub", "new.sh"), "evt.arg.dirfd": strconv.Itoa(dfd),
		"evt.arg.flags": "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC", "evt.arg.mode": "0755",
		"evt.is_open_write": "true", "evt.is_open_exec": "true", "fd.num": strconv.Itoa(nfd),
	})
	// A failed open names its errno.
	if _, err := os.Open(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("opened a missing file")
	}
	m := h.wait(t, "failed open", is("proc.pid", self, "fd.name", filepath.Join(dir, "missing")))
	expect(t, m, map[string]string{"evt.res": "ENOENT", "evt.failed": "true", "evt.rawres": "-2", "fd.num": "-1", "fd.typechar": "f"})
}

func TestKernelConnectAccept(t *testing.T) {
	h := shared(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cport := strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port)
	tuple := "127.0.0.1:" + cport + "->127.0.0.1:" + port

	s := h.wait(t, "connect", is("proc.pid", self, "evt.type", "connect", "fd.sport", port))
	expect(t, s, map[string]string{"fd.name": tuple, "fd.sip": "127.0.0.1", "fd.cip": "127.0.0.1",
		"fd.cport": cport, "fd.lport": cport, "fd.rport": port, "fd.type": "ipv4", "fd.typechar": "4",
		"fd.l4proto": "tcp", "fd.is_server": "false", "evt.arg.addr": "127.0.0.1:" + port,
		"evt.arg.tuple": tuple, "fd.sockfamily": "ip"})
	if r := s["evt.res"]; r != "SUCCESS" && r != "EINPROGRESS" {
		t.Errorf("connect evt.res = %q", r)
	}
	acc := h.wait(t, "accept", is("proc.pid", self, "fd.sport", port, "fd.is_server", "true", "fd.cport", cport))
	expect(t, acc, map[string]string{"fd.name": tuple, "fd.lport": port, "fd.rport": cport, "fd.connected": "true"})
	if tp := acc["evt.type"]; tp != "accept4" && tp != "accept" {
		t.Errorf("accept event type %q", tp)
	}
	l := h.wait(t, "bind", is("proc.pid", self, "evt.type", "bind", "fd.lport", port))
	expect(t, l, map[string]string{"fd.name": "127.0.0.1:" + port, "fd.is_server": "true"})
}

func TestKernelPtraceAttach(t *testing.T) {
	h := shared(t)
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	pid := child.Process.Pid
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceAttach(pid); err != nil {
		t.Fatalf("ptrace attach: %v", err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	unix.PtraceDetach(pid)
	s := h.wait(t, "ptrace attach", is("proc.pid", self, "evt.type", "ptrace", "evt.arg.request", "PTRACE_ATTACH"))
	expect(t, s, map[string]string{"evt.arg.pid": strconv.Itoa(pid), "evt.res": "SUCCESS", "evt.rawarg.request": "16"})
}

func TestKernelMemfdExecveat(t *testing.T) {
	h := shared(t)
	cmd := helperCmd("memfd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	m := h.wait(t, "memfd_create", is("proc.pid", pid, "evt.type", "memfd_create"))
	expect(t, m, map[string]string{"fd.type": "memfd", "fd.typechar": "m", "evt.arg.name": "nj-payload",
		"fd.name": "memfd:nj-payload", "evt.arg.flags": "MFD_CLOEXEC"})
	x := h.wait(t, "execveat from the memfd", is("proc.pid", pid, "evt.type", "execveat"))
	expect(t, x, map[string]string{"proc.is_exe_from_memfd": "true", "proc.exe": "payload-from-memfd",
		"proc.pname": selfComm(t), "evt.res": "SUCCESS"})
}

func TestKernelLinks(t *testing.T) {
	h := shared(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "file")
	os.WriteFile(src, nil, 0o600)
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "sym")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(src, filepath.Join(dir, "hard")); err != nil {
		t.Fatal(err)
	}
	s := h.wait(t, "symlink", is("proc.pid", self, "evt.type", "symlinkat", "fs.path.target", filepath.Join(dir, "sym")))
	expect(t, s, map[string]string{"fs.path.source": "/etc/passwd", "evt.arg.target": "/etc/passwd",
		"evt.arg.linkpath": filepath.Join(dir, "sym"), "evt.res": "SUCCESS", "fs.path.name": "<NA>"})
	l := h.wait(t, "hard link", is("proc.pid", self, "evt.type", "linkat", "fs.path.target", filepath.Join(dir, "hard")))
	expect(t, l, map[string]string{"fs.path.source": src, "evt.arg.oldpath": src, "evt.arg.newpath": filepath.Join(dir, "hard")})
}

func TestKernelFailingFinitModule(t *testing.T) {
	h := shared(t)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if err == nil {
		t.Fatal("finit_module of /dev/null succeeded")
	}
	errno := err.(unix.Errno)
	if slices.Contains(h.capture.Unavailable(), "finit_module") {
		// A kernel built without modules has neither the syscall nor its
		// tracepoint: the capture must say so, and the call must fail.
		if errno != unix.ENOSYS {
			t.Errorf("finit_module has no tracepoint but failed with %v, not ENOSYS", errno)
		}
		t.Skip("this kernel has no finit_module tracepoint (CONFIG_MODULES=n); the hand-built event test covers the fields")
	}
	s := h.wait(t, "finit_module", is("proc.pid", self, "evt.type", "finit_module"))
	expect(t, s, map[string]string{"evt.failed": "true", "evt.res": unix.ErrnoName(errno),
		"evt.rawres": strconv.Itoa(-int(errno)), "fd.name": "/dev/null", "evt.arg.fd": strconv.Itoa(int(f.Fd()))})
}

func TestKernelSetuid(t *testing.T) {
	h := shared(t)
	cmd := helperCmd("setuid")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	s := h.wait(t, "setuid", is("proc.pid", pid, "evt.type", "setuid"))
	expect(t, s, map[string]string{"evt.rawarg.uid": "65534", "evt.res": "SUCCESS", "user.uid": "65534"})
	// The next event of the process runs as the new user.
	o := h.wait(t, "open after setuid", is("proc.pid", pid, "fd.name", "/etc/hostname"))
	expect(t, o, map[string]string{"user.uid": "65534"})
	if u, ok := state.NewUsers().User(65534); ok {
		expect(t, o, map[string]string{"user.name": u.Name})
		expect(t, s, map[string]string{"evt.arg.uid": u.Name})
	} else {
		expect(t, s, map[string]string{"evt.arg.uid": "65534"})
	}
}

func TestKernelDup2SocketOntoStdout(t *testing.T) {
	h := shared(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- line
	}()
	cmd := helperCmd("reverse", "NJ_ADDR="+ln.Addr().String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	if line := <-got; line != "hi\n" {
		t.Fatalf("shell wrote %q to the socket", line)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	d := h.wait(t, "dup2 onto stdout", is("proc.pid", pid, "evt.type", "dup2", "fd.num", "1"))
	expect(t, d, map[string]string{"fd.type": "ipv4", "fd.sip": "127.0.0.1", "fd.sport": port,
		"evt.arg.newfd": "1", "fd.l4proto": "tcp", "proc.stdout.type": "ipv4"})
	x := h.wait(t, "the shell's exec", is("proc.pid", pid, "evt.type", "execve", "proc.name", "sh"))
	expect(t, x, map[string]string{"proc.stdout.type": "ipv4", "proc.stdout.name": d["fd.name"],
		"proc.pname": selfComm(t), "proc.cmdline": "sh -c echo hi"})
}

func TestKernelUnshare(t *testing.T) {
	h := shared(t)
	cmd := exec.Command("unshare", "--mount", "true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unshare: %v %s", err, out)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	s := h.wait(t, "unshare", is("proc.pid", pid, "evt.type", "unshare"))
	expect(t, s, map[string]string{"proc.name": "unshare", "proc.pname": selfComm(t), "evt.res": "SUCCESS"})
	if !strings.Contains(s["evt.arg.flags"], "CLONE_NEWNS") {
		t.Errorf("evt.arg.flags = %q", s["evt.arg.flags"])
	}
}

func TestKernelProcessOlderThanTheTable(t *testing.T) {
	h := shared(t)
	if err := preSeed.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal the pre-seed sleep: %v", err)
	}
	pid := strconv.Itoa(preSeed.Process.Pid)
	s := h.wait(t, "exit of the pre-seed sleep", is("proc.pid", pid, "evt.type", "procexit"))
	expect(t, s, map[string]string{"proc.cmdline": "sleep 300 1", "proc.args": "300 1",
		"proc.cwd": "/tmp/", "proc.pname": selfComm(t), "proc.apid[1]": self, "proc.name": "sleep"})
	expect(t, s, map[string]string{"_in_table": "false"})
	st := h.proc.Stats()
	if st.Events == 0 || st.Processes == 0 || st.ByType["execve"] == 0 {
		t.Errorf("stats %+v", st)
	}
}

// Without close traced (bpf.Config.StateWithoutClose, what the detector
// runs with when its open filter is on), a closed file's entry stays in the
// table. Here its number is reused by eventfd, which is not traced, and
// then dup'ed: the kernel's file keys must show the entry stale, so the dup
// is not reported as a dup of the old file.
func TestKernelUntracedCloseReuse(t *testing.T) {
	// A file open before the table is seeded: its entry's key, read from
	// /proc, must be the one the kernel gives the file.
	path := filepath.Join(t.TempDir(), "stale")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pre, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close()

	c, err := bpf.Load(bpf.Config{Syscalls: []string{"dup"}, StateWithoutClose: true, RingSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl := state.New(state.Options{})
	if err := tbl.Seed(); err != nil {
		t.Fatal(err)
	}
	p := NewProcessor(NewSource(), tbl)
	seeded := tbl.Get(selfPID).FD(int64(pre.Fd()))
	if seeded == nil || seeded.Key == 0 {
		t.Fatalf("seeded entry of fd %d: %+v, want one with a key", pre.Fd(), seeded)
	}
	preDup, err := unix.Dup(int(pre.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(preDup)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var fd, dup int
	for try := 0; ; try++ {
		if fd, err = unix.Open(path, unix.O_RDONLY, 0); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		efd, err := unix.Eventfd(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if efd == fd {
			if dup, err = unix.Dup(efd); err != nil {
				t.Fatal(err)
			}
			unix.Close(dup)
			unix.Close(efd)
			break
		}
		unix.Close(efd) // another goroutine took the number: again
		if try == 100 {
			t.Fatal("eventfd never reused the file's fd number")
		}
	}

	var raw bpf.Event
	var openKey uint64
	sawPre := false
	stop := time.AfterFunc(30*time.Second, func() { c.Close() }) // ends a Read that waits for nothing
	defer stop.Stop()
	for {
		if err := c.Read(&raw); err != nil {
			t.Fatalf("no dup event: %v", err)
		}
		ev := p.Handle(&raw)
		if raw.PID != selfPID || raw.Kind != bpf.KindSyscall {
			continue
		}
		switch {
		case raw.Syscall == bpf.SysClose:
			t.Fatalf("a close was reported: %+v", raw)
		case raw.Syscall == bpf.SysDup && raw.Fd == int64(pre.Fd()):
			sawPre = true
			if k := raw.FileKeys[bpf.FileKeyFd]; k != seeded.Key {
				t.Errorf("kernel key %#x of the seeded fd, table's %#x", k, seeded.Key)
			}
			if ev == nil || ev.FD == nil || ev.FD.Name != path {
				t.Errorf("dup of the seeded fd: %+v, want it named %s", ev, path)
			}
		case raw.Syscall == bpf.SysOpenat && raw.Path == path && raw.Ret == int64(fd):
			openKey = raw.FileKeys[bpf.FileKeyRet]
			if want := bpf.FileKey(raw.Dev, raw.Ino); openKey != want || openKey == 0 {
				t.Errorf("open's key %#x, want %#x from its dev and ino", openKey, want)
			}
		case raw.Syscall == bpf.SysDup && raw.Fd == int64(fd) && raw.Ret == int64(dup):
			if openKey == 0 || !sawPre {
				t.Fatalf("the dup came before the open (%#x) or the seeded fd's dup (%v)", openKey, sawPre)
			}
			if k := raw.FileKeys[bpf.FileKeyFd]; k == openKey || k == 0 || raw.FileKeys[bpf.FileKeyRet] != k {
				t.Errorf("dup keys %#x, open's %#x: want the eventfd's, the same for both fds", raw.FileKeys, openKey)
			}
			if ev != nil && ev.FD != nil && ev.FD.Name == path {
				t.Errorf("the dup of the eventfd is reported as a dup of %s", path)
			}
			if f := tbl.Get(selfPID).FD(int64(fd)); f != nil && f.Name == path {
				t.Errorf("stale entry kept: %+v", f)
			}
			return
		}
	}
}

func helperCmd(mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	return cmd
}

// helper runs in a child process for the syscalls that must not happen in
// the test process (exec, setuid, dup2 onto stdout).
func helper(mode string) int {
	runtime.LockOSThread()
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "helper %s: %s: %v\n", mode, what, err)
		return 2
	}
	switch mode {
	case "memfd":
		fd, err := unix.MemfdCreate("nj-payload", unix.MFD_CLOEXEC)
		if err != nil {
			return fail("memfd_create", err)
		}
		img, err := os.ReadFile("/bin/true")
		if err != nil {
			return fail("read /bin/true", err)
		}
		if _, err := unix.Write(fd, img); err != nil {
			return fail("write", err)
		}
		empty, _ := unix.BytePtrFromString("")
		arg0, _ := unix.BytePtrFromString("payload-from-memfd")
		argv := []*byte{arg0, nil}
		envp := []*byte{nil}
		_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
			uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
		return fail("execveat", e)
	case "setuid":
		if _, _, e := unix.RawSyscall(unix.SYS_SETUID, 65534, 0, 0); e != 0 {
			return fail("setuid", e)
		}
		fd, err := unix.Open("/etc/hostname", unix.O_RDONLY, 0)
		if err != nil {
			return fail("open", err)
		}
		unix.Close(fd)
		return 0
	case "reverse":
		addr, err := net.ResolveTCPAddr("tcp4", os.Getenv("NJ_ADDR"))
		if err != nil {
			return fail("address", err)
		}
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			return fail("socket", err)
		}
		sa := &unix.SockaddrInet4{Port: addr.Port}
		copy(sa.Addr[:], addr.IP.To4())
		if err := unix.Connect(s, sa); err != nil {
			return fail("connect", err)
		}
		if err := syscall.Dup2(s, 1); err != nil {
			return fail("dup2", err)
		}
		err = unix.Exec("/bin/sh", []string{"sh", "-c", "echo hi"}, os.Environ())
		return fail("exec", err)
	}
	return fail("mode", errors.New("unknown"))
}
