package state

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTree starts `sh -c 'sleep 60 & echo $!; wait'` in dir and returns the
// sh process and the sleep's pid: a grandchild of the test.
func startTree(t *testing.T, dir string) (*exec.Cmd, uint32) {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 60 & echo $!; wait")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NJ_STATE_TEST=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the sleep's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("sleep pid %q: %v", line, err)
	}
	t.Cleanup(func() {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	})
	// $! is known once sh forked; wait for the child's exec of sleep.
	for i := 0; i < 500; i++ {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, uint32(pid)
}

func TestSeedProcessStartedBefore(t *testing.T) {
	dir := t.TempDir()
	sh, pid := startTree(t, dir)
	tbl := New(Options{})
	if err := tbl.Seed(); err != nil {
		t.Fatal(err)
	}
	p := tbl.Get(pid)
	if p == nil {
		t.Fatalf("pid %d (sleep) not in the seeded table (%d processes)", pid, tbl.Len())
	}
	sleepPath, _ := exec.LookPath("sleep")
	sleepPath, _ = filepath.EvalSymlinks(sleepPath)
	checks := []struct{ name, got, want string }{
		{"comm", p.Comm, "sleep"},
		{"exe", p.Exe, "sleep"},
		{"exepath", p.ExePath, sleepPath},
		{"args", p.ArgsLine, "60"},
		{"cmdline", p.Cmdline, "sleep 60"},
		{"cwd", p.Cwd, dir + "/"},
		{"container", p.ContainerID, "host"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if p.PPID != uint32(sh.Process.Pid) {
		t.Errorf("ppid = %d, want %d (sh)", p.PPID, sh.Process.Pid)
	}
	if par := tbl.Parent(p); par == nil || par.Comm != "sh" || par.Cmdline != "sh -c sleep 60 & echo $!; wait" {
		t.Errorf("parent = %+v, want sh -c ...", par)
	}
	if a := tbl.Ancestor(p, 2); a == nil || a.PID != uint32(os.Getpid()) {
		t.Errorf("ancestor 2 = %+v, want the test process %d", a, os.Getpid())
	}
	if p.StartTime == 0 || p.UID != uint32(os.Getuid()) || p.EUID != uint32(os.Geteuid()) {
		t.Errorf("start %d uid %d euid %d", p.StartTime, p.UID, p.EUID)
	}
	if os.Geteuid() == 0 && p.CapEffective == 0 {
		t.Errorf("root process with no effective capabilities")
	}
	if p.ExeIno == 0 {
		t.Errorf("exe inode not read")
	}
	if env, ok := tbl.Env(p); !ok || !slices.Contains(env, "NJ_STATE_TEST=1") {
		t.Errorf("Env = %v, %v; want NJ_STATE_TEST=1 in it", env, ok)
	}
	if c, m, ok := tbl.ExeTimes(p); !ok || c == 0 || m == 0 {
		t.Errorf("ExeTimes = %d, %d, %v", c, m, ok)
	}
	if tbl.Len() < 3 || tbl.Stats().Processes != tbl.Len() {
		t.Errorf("table size %d, stats %+v", tbl.Len(), tbl.Stats())
	}

	// Exit frees the entry; Prune drops what died without an exit event.
	tbl.Exit(pid, true)
	if tbl.Get(pid) != nil {
		t.Error("process still in the table after its group exit")
	}
	shPID := uint32(sh.Process.Pid)
	sh.Process.Kill()
	sh.Wait()
	if n := tbl.Prune(); n < 1 || tbl.Get(shPID) != nil {
		t.Errorf("Prune removed %d, sh still there: %v", n, tbl.Get(shPID) != nil)
	}
}

func TestSeedFDs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	uln, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer uln.Close()

	tbl := New(Options{})
	p := tbl.Lookup(uint32(os.Getpid()))
	if p == nil {
		t.Fatal("own process not found in /proc")
	}
	file := p.FD(int64(f.Fd()))
	if file == nil || file.Type != FDFile || file.Name != path || file.Directory != dir || file.Filename != "data.txt" || file.Type.Char() != "f" {
		t.Errorf("file fd = %+v", file)
	}
	if file != nil && file.Flags&uint64(os.O_WRONLY|os.O_RDWR) == 0 {
		t.Errorf("file fd flags %o: not writable", file.Flags)
	}
	dfd := p.FD(int64(d.Fd()))
	if dfd == nil || dfd.Type != FDDirectory || dfd.Name != dir || dfd.Type.Char() != "d" {
		t.Errorf("directory fd = %+v", dfd)
	}

	lport := uint16(ln.Addr().(*net.TCPAddr).Port)
	cport := uint16(client.LocalAddr().(*net.TCPAddr).Port)
	var sawListen, sawClient, sawServer, sawUnix bool
	for _, x := range p.FDs {
		switch {
		case x.Type == FDIPv4 && x.Server && !x.Remote.IP.IsValid() && x.Local.Port == lport:
			sawListen = x.Name == "127.0.0.1:"+strconv.Itoa(int(lport)) && x.L4 == L4TCP
		case x.Type == FDIPv4 && !x.Server && x.Local.Port == cport:
			want := "127.0.0.1:" + strconv.Itoa(int(cport)) + "->127.0.0.1:" + strconv.Itoa(int(lport))
			sawClient = x.Name == want && x.ServerEnd().Port == lport && x.Client().Port == cport
			if !sawClient {
				t.Errorf("client socket %+v, want name %s", x, want)
			}
		case x.Type == FDIPv4 && x.Server && x.Remote.Port == cport:
			want := "127.0.0.1:" + strconv.Itoa(int(cport)) + "->127.0.0.1:" + strconv.Itoa(int(lport))
			sawServer = x.Name == want && x.Local.Port == lport
			if !sawServer {
				t.Errorf("accepted socket %+v, want name %s", x, want)
			}
		case x.Type == FDUnix && x.Name == filepath.Join(dir, "sock"):
			sawUnix = x.Type.Char() == "u"
		}
	}
	if !sawListen || !sawClient || !sawServer || !sawUnix {
		var b bytes.Buffer
		for _, x := range p.FDs {
			b.WriteString(x.Type.String() + " " + x.Name + "\n")
		}
		t.Errorf("sockets: listen %v client %v server %v unix %v; fds:\n%s", sawListen, sawClient, sawServer, sawUnix, b.String())
	}
	if tbl.FDCount() != len(p.FDs) {
		t.Errorf("FDCount %d, process has %d", tbl.FDCount(), len(p.FDs))
	}
}
