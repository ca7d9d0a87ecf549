package state

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestForkExecExitFDs(t *testing.T) {
	tbl := New(Options{ProcRoot: t.TempDir()}) // an empty /proc: events only
	tbl.Exec(&ExecInfo{PID: 100, PPID: 1, Comm: "bash", Argv: []string{"-bash"}, ExePath: "/bin/bash", Cwd: "/root", LoginUID: 1000})
	sh := tbl.Get(100)
	if sh == nil || sh.Cwd != "/root/" || sh.Cmdline != "bash" || sh.Exe != "-bash" {
		t.Fatalf("exec'd bash = %+v", sh)
	}
	tbl.SetFD(sh, NewFileFD(3, "/etc/passwd", 0, false))
	tbl.SetFD(sh, NewFileFD(4, "/tmp/secret", oCloexec, false))

	child := tbl.Fork(100, 101, 42)
	if child == nil || child.PPID != 100 || child.Comm != "bash" || len(child.FDs) != 2 {
		t.Fatalf("forked child = %+v", child)
	}
	if tbl.Fork(100, 100, 0) != sh || tbl.Len() != 2 {
		t.Errorf("a new thread changed the table: %d processes", tbl.Len())
	}
	c := tbl.Exec(&ExecInfo{PID: 101, PPID: 100, Comm: "cat", Argv: []string{"cat", "/etc/shadow", "-n"}, ExePath: "/usr/bin/cat", StartTime: 42, EUID: 0})
	if c.Cmdline != "cat /etc/shadow -n" || c.ArgsLine != "/etc/shadow -n" || c.ExeLine != "cat /etc/shadow -n" || c.Cwd != "/root/" {
		t.Errorf("after exec: %+v", c)
	}
	if c.FD(3) == nil || c.FD(4) != nil {
		t.Errorf("exec kept fds %v; want 3 kept and close-on-exec 4 closed", c.FDs)
	}
	if sh.FD(4) == nil {
		t.Error("the child's exec closed the parent's fd")
	}
	if a := tbl.Ancestor(c, 1); a != sh {
		t.Errorf("ancestor 1 = %+v", a)
	}
	if tbl.Ancestor(c, 2) != nil {
		t.Error("ancestor 2 should be missing (pid 1 not in this table)")
	}

	tbl.DupFD(c, 3, 1, false)
	if f := c.FD(1); f == nil || f.Name != "/etc/passwd" || f.Num != 1 {
		t.Errorf("dup2 3->1: %+v", f)
	}
	if tbl.FDCount() != 2+2 {
		t.Errorf("FDCount = %d, want 4", tbl.FDCount())
	}
	if f := tbl.CloseFD(c, 3); f == nil || c.FD(3) != nil {
		t.Errorf("close 3: %+v", f)
	}
	if Dir(c, -100) != "/root/" || Dir(c, 1) != "/etc/passwd" || Dir(c, 9) != "" {
		t.Errorf("Dir: %q %q %q", Dir(c, -100), Dir(c, 1), Dir(c, 9))
	}

	sock := &FD{Num: 7, Type: FDIPv6, L4: L4TCP, Connected: true}
	sock.SetTuple(Endpoint{IP: netip.MustParseAddr("::1"), Port: 40000}, Endpoint{IP: netip.MustParseAddr("::1"), Port: 443}, false)
	tbl.SetFD(c, sock)

	// Snapshot and restore.
	var buf bytes.Buffer
	if err := tbl.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	re := New(Options{ProcRoot: t.TempDir()})
	if err := re.FromSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	rc := re.Get(101)
	if rc == nil || rc.Cmdline != c.Cmdline || rc.FD(1) == nil || rc.FD(1).Name != "/etc/passwd" || re.Parent(rc).Comm != "bash" {
		t.Errorf("restored = %+v", rc)
	}
	if s := rc.FD(7); s == nil || *s != *sock || s.Name != "::1:40000->::1:443" {
		t.Errorf("restored socket = %+v, want %+v", s, sock)
	}
	if re.Len() != tbl.Len() || re.FDCount() != tbl.FDCount() {
		t.Errorf("restored sizes %d/%d, want %d/%d", re.Len(), re.FDCount(), tbl.Len(), tbl.FDCount())
	}

	// Exits free everything: memory stays bounded.
	tbl.Exit(101, false) // a thread: nothing
	if tbl.Get(101) == nil {
		t.Error("thread exit removed the process")
	}
	tbl.Exit(101, true)
	tbl.Exit(100, true)
	if tbl.Len() != 0 || tbl.FDCount() != 0 {
		t.Errorf("after exits: %d processes, %d fds", tbl.Len(), tbl.FDCount())
	}

	// A reused pid (start time differs) is a new process.
	tbl.Exec(&ExecInfo{PID: 200, Comm: "a", StartTime: 1e12})
	tbl.SetFD(tbl.Get(200), NewFileFD(5, "/x", 0, false))
	p := tbl.Exec(&ExecInfo{PID: 200, Comm: "b", StartTime: 2e12})
	if p.FD(5) != nil {
		t.Error("a reused pid inherited the old process's fds")
	}
}

func TestJoinPath(t *testing.T) {
	for _, c := range [][3]string{
		{"/root/", "a/../b.txt", "/root/b.txt"},
		{"/root/", "/etc//passwd", "/etc/passwd"},
		{"/tmp", "./x", "/tmp/x"},
		{"", "rel", "rel"},
	} {
		if got := JoinPath(c[0], c[1]); got != c[2] {
			t.Errorf("JoinPath(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// BenchmarkSeed reads this machine's /proc into a new table.
func BenchmarkSeed(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		t := New(Options{})
		if err := t.Seed(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(t.Len()), "procs")
		b.ReportMetric(float64(t.FDCount()), "fds")
	}
}
