package bpf

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// filtered loads a capture with an open filter for paths below dir.
func filtered(t *testing.T, dir string) *recorder {
	t.Helper()
	f := &OpenFilter{
		Any: OpenReadWrite, // every O_RDWR open that succeeds
		Paths: []OpenPath{
			{Path: "/nonexistent/nightjar-mark-", Match: PathPrefix, Classes: OpenAll}, // recorder.mark
			{Path: filepath.Join(dir, "wanted"), Match: PathExact, Classes: OpenAll},
			{Path: filepath.Join(dir, "pre"), Match: PathPrefix, Classes: OpenAll},
			{Path: filepath.Join(dir, "d"), Match: PathDir, Classes: OpenAll},
			{Path: filepath.Join(dir, "w"), Match: PathExact, Classes: OpenWrites},
			{Path: filepath.Join(dir, "failed"), Match: PathExact, Classes: OpenFailed},
		},
	}
	// As the detector runs with its filter on: close not traced.
	c, err := Load(Config{Syscalls: withoutClose(SupportedSyscalls()), StateWithoutClose: true, OpenFilter: f})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	r := &recorder{c: c, pids: map[uint32]bool{uint32(os.Getpid()): true}}
	go r.loop()
	return r
}

func TestOpenFilter(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"d/sub", "pre-x"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"skip.txt", "wanted", "pre-x/y", "d/f", "d/sub/f", "w", ".hidden"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := filtered(t, dir)
	before, err := r.c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	since := r.mark(t)

	open := func(name string, flags int) int {
		t.Helper()
		fd, err := unix.Open(name, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		return fd
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	openEvent := func(path string) func(*Event) bool {
		return sysEvent(SysOpenat, func(ev *Event) bool { return ev.Path == path })
	}

	// Dropped: an open no entry wants.
	unix.Close(open(p("skip.txt"), unix.O_RDONLY))
	unix.Close(open(p("w"), unix.O_RDONLY))        // wanted for writing only
	unix.Close(open(p("d/sub/f"), unix.O_RDONLY))  // not directly in d
	unix.Open(p("missing"), unix.O_RDONLY, 0)      // a failure nobody wants
	unix.Close(open(p("skip.txt"), unix.O_WRONLY)) // wanted by nothing
	unix.Close(open(p(".hidden"), unix.O_RDONLY))  // "/." is unclean only as "/./" or at the end
	// Sent.
	unix.Close(open(p("wanted"), unix.O_RDONLY))
	sent := []string{p("wanted"), p("pre-x/y"), p("d/f"), p("w"), p("skip.txt"), p("failed"),
		dir + "/./skip.txt", dir + "//skip.txt", dir + "/d/../skip.txt", dir}
	unix.Close(open(p("pre-x/y"), unix.O_RDONLY))
	unix.Close(open(p("d/f"), unix.O_RDONLY))
	unix.Close(open(p("w"), unix.O_WRONLY))
	unix.Close(open(p("skip.txt"), unix.O_RDWR)) // Any
	unix.Open(p("failed"), unix.O_RDONLY, 0)
	for _, s := range sent[6:] { // paths that user space cleans, a directory
		unix.Close(open(s, unix.O_RDONLY))
	}
	// The kernel looks for "/./" 8 bytes at a time, in windows 6 bytes
	// apart: at every offset modulo 6 (failed opens, sent all the same).
	for k := range 7 {
		s := dir + "/" + strings.Repeat("x", k) + "/./missing"
		unix.Open(s, unix.O_RDONLY, 0)
		sent = append(sent, s)
	}
	dfd := open(dir, unix.O_RDONLY|unix.O_DIRECTORY)
	defer unix.Close(dfd)
	rel, err := unix.Openat(dfd, "skip.txt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(rel)

	for _, s := range sent {
		r.wait(t, since, "open of "+s, openEvent(s))
	}
	r.wait(t, since, "relative open", openEvent("skip.txt"))

	// A dropped open's fd, dup'ed: the dup carries its path (a dup of any
	// file fd does). A dup of a pipe carries none.
	fd := open(p("skip.txt"), unix.O_RDONLY)
	nfd, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	dup := r.wait(t, since, "dup", sysEvent(SysDup, func(ev *Event) bool { return ev.Fd == int64(fd) }))
	check(t, "dup FdPath", dup.FdPath, p("skip.txt"))
	check(t, "dup Ret", dup.Ret, int64(nfd))
	check(t, "dup FileKeys", [2]uint64{dup.FileKeys[FileKeyFd], dup.FileKeys[FileKeyRet]}, [2]uint64{fdKey(t, fd), fdKey(t, fd)})
	unix.Close(fd)
	unix.Close(nfd)
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	pdup, err := unix.Dup(pipe[0])
	if err != nil {
		t.Fatal(err)
	}
	pd := r.wait(t, since, "dup of a pipe", sysEvent(SysDup, func(ev *Event) bool { return ev.Fd == int64(pipe[0]) && ev.Ret == int64(pdup) }))
	check(t, "pipe dup FdPath", pd.FdPath, "")
	unix.Close(pdup)
	unix.Close(pipe[0])
	unix.Close(pipe[1])

	// A child's dup of an fd it inherited (ExtraFiles, dup'ed in the child
	// after the fork) comes with its path.
	f, err := os.Open(p("skip.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := helperCmd("exit")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	child := uint32(cmd.Process.Pid)
	r.wait(t, since, "the child's dup of the inherited fd", func(ev *Event) bool {
		return ev.Kind == KindSyscall && ev.PID == child && ev.FdPath == p("skip.txt") &&
			(ev.Syscall == SysDup2 || ev.Syscall == SysDup3 || ev.Syscall == SysFcntl)
	})

	// Nothing of what was dropped arrived.
	time.Sleep(50 * time.Millisecond)
	r.mu.Lock()
	events := append([]*Event(nil), r.events[since:]...)
	r.mu.Unlock()
	for _, ev := range events {
		if ev.PID != uint32(os.Getpid()) || ev.Kind != KindSyscall {
			continue
		}
		switch {
		case ev.Syscall == SysOpenat && ev.Path == p("skip.txt") && ev.Flags&unix.O_ACCMODE != unix.O_RDWR:
			t.Errorf("dropped open sent: %s flags %#x", ev.Path, ev.Flags)
		case ev.Syscall == SysOpenat && (ev.Path == p("d/sub/f") || ev.Path == p("missing") || ev.Path == p(".hidden")):
			t.Errorf("dropped open sent: %s", ev.Path)
		case ev.Syscall == SysOpenat && ev.Path == p("w") && ev.Flags&unix.O_ACCMODE == unix.O_RDONLY:
			t.Errorf("read-only open of a write-only entry sent")
		case ev.Syscall == SysClose:
			t.Errorf("close sent with close not traced: fd %d", ev.Fd)
		}
	}
	after, err := r.c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// At least the six dropped opens (the Go runtime and other tests may
	// add their own).
	if n := after.Filtered - before.Filtered; n < 6 {
		t.Errorf("Stats.Filtered grew by %d, want >= 6", n)
	}
}

// The kernel's decisions are those of OpenFilter.WantsFrom, on random paths
// made of the characters that matter ('/', '.') and a few letters, against
// entries of each kind nested in each other, and a command entry.
func TestOpenFilterMatchesModel(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	comm := strings.TrimSpace(string(b))
	f := &OpenFilter{
		Any: OpenWriteOnlyFailed,
		Paths: []OpenPath{
			{Path: "/nonexistent/nightjar-mark-", Match: PathPrefix, Classes: OpenAll},
			{Path: dir + "/a", Match: PathExact, Classes: OpenAll},
			{Path: dir + "/ab", Match: PathPrefix, Classes: OpenReadOnlyFailed},
			{Path: dir + "/b", Match: PathDir, Classes: OpenAll},
			{Path: dir + "/b/a", Match: PathPrefix, Classes: OpenReadWriteFailed},
			{Path: dir + "/b/ab", Match: PathDir, Classes: OpenReadOnlyFailed},
			{Path: dir + "/a.b", Match: PathExact, Classes: OpenReadWriteFailed},
			// Keys shorter than the 8 bytes the kernel's first test hashes.
			{Path: "/nj", Match: PathPrefix, Classes: OpenReadOnlyFailed},
			{Path: "/a", Match: PathDir, Classes: OpenAll},
			{Path: "/b", Match: PathExact, Classes: OpenAll},
			{Path: "/ab.n", Match: PathExact, Classes: OpenReadWriteFailed},
		},
		Comms: []OpenComm{
			{Comm: comm, Classes: OpenReadWriteFailed}, // this process: every failed O_RDWR open
			{Comm: "not-this-one", Classes: OpenReadOnlyFailed},
		},
	}
	c, err := Load(Config{Syscalls: []string{"openat", "close"}, OpenFilter: f})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := &recorder{c: c, pids: map[uint32]bool{uint32(os.Getpid()): true}}
	go r.loop()
	since := r.mark(t)

	rnd := rand.New(rand.NewPCG(5, 7))
	const alphabet = "aabbnj./"
	flags := []int{unix.O_RDONLY, unix.O_WRONLY, unix.O_RDWR}
	want := map[string]bool{}
	var tried []string
	for i := range 600 {
		b := []byte(dir + "/")
		if i%3 == 0 { // below the root, where the short keys are
			b = []byte("/")
		}
		for range 1 + rnd.IntN(8) {
			b = append(b, alphabet[rnd.IntN(len(alphabet))])
		}
		p := string(b)
		fl := flags[rnd.IntN(len(flags))]
		key := fmt.Sprintf("%s %d", p, fl)
		if _, seen := want[key]; seen {
			continue
		}
		fd, err := unix.Open(p, fl|unix.O_CLOEXEC, 0)
		if err == nil { // the directory itself ("/tmp/.../." or "x/.."): always sent
			unix.Close(fd)
			continue
		}
		want[key] = f.WantsFrom(comm, p, uint64(fl|unix.O_CLOEXEC), true)
		tried = append(tried, key)
	}
	end := r.mark(t) // everything before it has arrived
	got := map[string]bool{}
	r.mu.Lock()
	for _, ev := range r.events[since:end] {
		if ev.Kind == KindSyscall && ev.Syscall == SysOpenat && ev.PID == uint32(os.Getpid()) && !strings.HasPrefix(ev.Path, "/nonexistent/") {
			got[fmt.Sprintf("%s %d", ev.Path, ev.Flags&^unix.O_CLOEXEC)] = true
		}
	}
	r.mu.Unlock()
	sent := 0
	for _, k := range tried {
		if got[k] != want[k] {
			t.Errorf("open %s: kernel sent %v, Wants says %v", k, got[k], want[k])
		}
		if want[k] {
			sent++
		}
	}
	t.Logf("%d distinct failed opens, %d sent", len(tried), sent)
	if sent == 0 || sent == len(tried) {
		t.Errorf("the sample does not exercise the filter: %d of %d sent", sent, len(tried))
	}
}
