package sysevent

import (
	"net/netip"
	"testing"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/state"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// value returns a field's value as Falco prints it, or "<NA>".
func value(t *testing.T, src *field.Source, ev *Event, ref string) string {
	t.Helper()
	f, a, err := src.Ref(ref)
	if err != nil {
		t.Fatalf("field %s: %v", ref, err)
	}
	b, ok := f.AppendValue(nil, ev, a)
	if !ok {
		return "<NA>"
	}
	return string(b)
}

type fieldWant map[string]string

func check(t *testing.T, src *field.Source, ev *Event, want fieldWant) {
	t.Helper()
	if ev == nil {
		t.Fatal("no event")
	}
	for ref, w := range want {
		if got := value(t, src, ev, ref); got != w {
			t.Errorf("%s %s = %q, want %q", ev.TypeName(), ref, got, w)
		}
	}
}

// newTestProcessor has a table over an empty /proc: state comes from the
// events alone.
func newTestProcessor(t *testing.T) (*field.Source, *Processor) {
	src := NewSource()
	return src, NewProcessor(src, state.New(state.Options{ProcRoot: t.TempDir()}))
}

func sys(pid uint32, s bpf.Syscall, ret int64) *bpf.Event {
	return &bpf.Event{Kind: bpf.KindSyscall, Syscall: s, Time: 1764433916746609046, PID: pid, TID: pid,
		Ret: ret, Fd: -1, Fd2: -1, Dirfd: -1, Dirfd2: -1, LoginUID: 1000}
}

func TestProcessorHandBuilt(t *testing.T) {
	src, p := newTestProcessor(t)
	h := p.Handle
	// bash (100) forks 101, which execs cat.
	check(t, src, h(&bpf.Event{Kind: bpf.KindExec, Syscall: bpf.SysExecve, PID: 100, TID: 100, PPID: 1,
		Comm: "bash", Args: []string{"-bash"}, Exe: "/usr/bin/bash", Cwd: "/root", LoginUID: 1000,
		Path: "/bin/bash", StartTime: 5e18, Time: 5e18 + 1}), fieldWant{
		"evt.type": "execve", "proc.name": "bash", "proc.exe": "-bash", "proc.cmdline": "bash",
		"proc.cwd": "/root/", "evt.arg.filename": "/bin/bash", "proc.exepath": "/usr/bin/bash",
		"evt.res": "SUCCESS", "evt.dir": "<", "container.id": "host", "user.uid": "0",
	})
	if ev := h(&bpf.Event{Kind: bpf.KindFork, PID: 100, TID: 100, PPID: 1, ChildPID: 101, ChildTID: 101, StartTime: 6e18}); ev == nil || ev.TypeName() != "clone" {
		t.Fatalf("fork event: %+v", ev)
	} else {
		check(t, src, ev, fieldWant{"evt.rawres": "101", "proc.name": "bash"})
	}
	check(t, src, h(&bpf.Event{Kind: bpf.KindExec, Syscall: bpf.SysExecve, PID: 101, TID: 101, PPID: 100,
		Comm: "cat", Args: []string{"cat", "shadow", "-n"}, Exe: "/usr/bin/cat", Cwd: "/etc", StartTime: 6e18,
		Path: "/usr/bin/cat", Dirfd: -1, LoginUID: 1000}), fieldWant{
		"proc.cmdline": "cat shadow -n", "proc.args": "shadow -n", "proc.pname": "bash",
		"proc.pcmdline": "bash", "proc.aname[1]": "bash", "proc.aname[2]": "<NA>", "proc.apid[1]": "100",
		"proc.ppid": "100", "proc.cmdnargs": "2", "proc.exeline": "cat shadow -n", "user.loginuid": "1000",
		"evt.arg.args": "shadow -n", "evt.arg.ptid": "100",
	})

	// openat(AT_FDCWD, "shadow", O_RDONLY) relative to the cwd
	ev := sys(101, bpf.SysOpenat, 3)
	ev.Dirfd, ev.Path, ev.Flags = -100, "shadow", 0
	check(t, src, h(ev), fieldWant{
		"evt.type": "openat", "fd.name": "/etc/shadow", "fd.directory": "/etc", "fd.filename": "shadow",
		"fd.type": "file", "fd.typechar": "f", "fd.num": "3", "evt.arg.flags": "O_RDONLY",
		"evt.arg.name": "shadow", "evt.arg[2]": "shadow", "evt.arg.dirfd": "-100", "evt.rawarg.dirfd": "-100",
		"evt.is_open_read": "true", "evt.is_open_write": "false", "fs.path.name": "/etc/shadow",
		"fs.path.nameraw": "shadow", "fd.nameraw": "shadow", "evt.res": "SUCCESS", "evt.rawres": "3",
		"evt.failed": "false", "evt.arg.fd": "3", "proc.fdopencount": "1", "evt.category": "file",
	})
	// A directory fd, then a file relative to it.
	ev = sys(101, bpf.SysOpen, 4)
	ev.Path, ev.Flags = "/tmp/d/", 0o200000
	check(t, src, h(ev), fieldWant{"fd.type": "directory", "fd.typechar": "d", "fd.name": "/tmp/d", "evt.arg.flags": "O_DIRECTORY|O_RDONLY"})
	ev = sys(101, bpf.SysOpenat, 5)
	ev.Dirfd, ev.Path, ev.Flags, ev.Mode = 4, "sub/../x.sh", 0o1101|0o2000000, 0o755
	check(t, src, h(ev), fieldWant{"fd.name": "/tmp/d/x.sh", "evt.arg.flags": "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC",
		"evt.arg.mode": "0755", "evt.is_open_write": "true", "evt.is_open_exec": "true", "evt.is_open_create": "true",
		"evt.abspath": "/tmp/d/x.sh",
		"evt.args":    "fd=5 dirfd=4 name=sub/../x.sh flags=524865(O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC) mode=0755 dev=0 ino=0 "})
	// fcntl(F_SETFD, FD_CLOEXEC) on fd 3: the exec below must close it.
	ev = sys(101, bpf.SysFcntl, 0)
	ev.Fd, ev.Request, ev.Arg = 3, 2, 1
	check(t, src, h(ev), fieldWant{"fd.name": "/etc/shadow", "evt.arg.cmd": "F_SETFD"})
	// A failed open: no fd in the table, but the file is named.
	ev = sys(101, bpf.SysOpen, -2)
	ev.Path, ev.Flags = "/nonexistent", 0o2
	check(t, src, h(ev), fieldWant{"evt.res": "ENOENT", "evt.rawres": "-2", "evt.failed": "true",
		"evt.arg.fd": "ENOENT", "fd.name": "/nonexistent", "fd.num": "-1",
		"evt.args": "fd=-2(ENOENT) name=/nonexistent flags=2(O_RDWR) mode=0 dev=0 ino=0 ", "evt.arg.flags": "O_RDWR", "evt.count.error.file": "1"})
	if p.Table().Get(101).FD(-2) != nil {
		t.Error("a failed open added an fd")
	}

	// socket + connect + dup2 onto stdout + close: the reverse-shell shape.
	ev = sys(101, bpf.SysSocket, 6)
	ev.Domain, ev.Type, ev.Protocol = 2, 1, 0
	check(t, src, h(ev), fieldWant{"fd.type": "ipv4", "fd.l4proto": "tcp", "evt.arg.domain": "AF_INET", "evt.arg.type": "1", "fd.name": "<NA>"})
	lo := netip.MustParseAddr("127.0.0.1")
	ev = sys(101, bpf.SysConnect, 0)
	ev.Fd = 6
	ev.Addr = bpf.SockAddr{Family: 2, IP: lo, Port: 8080}
	ev.Local = bpf.SockAddr{Family: 2, IP: lo, Port: 40000}
	ev.Remote = ev.Addr
	check(t, src, h(ev), fieldWant{"fd.name": "127.0.0.1:40000->127.0.0.1:8080", "fd.sip": "127.0.0.1",
		"fd.sport": "8080", "fd.cport": "40000", "fd.lport": "40000", "fd.rport": "8080", "fd.rip": "127.0.0.1",
		"fd.is_server": "false", "fd.connected": "true", "evt.arg.addr": "127.0.0.1:8080",
		"evt.arg.tuple": "127.0.0.1:40000->127.0.0.1:8080", "evt.arg.fd": "6", "fd.sockfamily": "ip",
		"evt.category": "net", "fd.name_changed": "true", "fd.ip": "127.0.0.1", "fd.net": "127.0.0.1"})
	ev = sys(101, bpf.SysDup2, 1)
	ev.Fd, ev.Fd2 = 6, 1
	check(t, src, h(ev), fieldWant{"fd.num": "1", "fd.type": "ipv4", "fd.name": "127.0.0.1:40000->127.0.0.1:8080",
		"evt.arg.oldfd": "6", "evt.arg.newfd": "1", "proc.stdout.type": "ipv4",
		"fd.types[1]": "(ipv4)", "fd.types": "(directory,file,ipv4)", "fd.port": "8080", "fd.name_changed": "false"})
	ev = sys(101, bpf.SysClose, 0)
	ev.Fd = 6
	check(t, src, h(ev), fieldWant{"fd.num": "6", "fd.name": "127.0.0.1:40000->127.0.0.1:8080", "evt.arg.fd": "6"})
	if p.Table().Get(101).FD(6) != nil {
		t.Error("close left the fd in the table")
	}

	// accept on a listener
	ev = sys(101, bpf.SysSocket, 7)
	ev.Domain, ev.Type = 10, 1
	h(ev)
	ev = sys(101, bpf.SysBind, 0)
	ev.Fd, ev.Addr = 7, bpf.SockAddr{Family: 10, IP: netip.IPv6Loopback(), Port: 2222}
	check(t, src, h(ev), fieldWant{"fd.name": "::1:2222", "fd.is_server": "true", "evt.arg.addr": "::1:2222"})
	ev = sys(101, bpf.SysAccept4, 8)
	ev.Fd, ev.Flags = 7, 0o2000000
	ev.Local = bpf.SockAddr{Family: 10, IP: netip.IPv6Loopback(), Port: 2222}
	ev.Remote = bpf.SockAddr{Family: 10, IP: netip.IPv6Loopback(), Port: 50000}
	check(t, src, h(ev), fieldWant{"fd.num": "8", "fd.type": "ipv6", "fd.typechar": "6", "fd.name": "::1:50000->::1:2222",
		"fd.is_server": "true", "fd.sport": "2222", "fd.cport": "50000", "fd.lport": "2222", "evt.arg.flags": "SOCK_CLOEXEC"})

	// ptrace, setuid, unshare, kill, symlink, link, finit_module, memfd
	ev = sys(101, bpf.SysPtrace, 0)
	ev.Request, ev.TargetPID = 16, 4242
	check(t, src, h(ev), fieldWant{"evt.arg.request": "PTRACE_ATTACH", "evt.rawarg.request": "16", "evt.arg.pid": "4242"})
	ev = sys(101, bpf.SysSetuid, 0)
	ev.IDs[0] = 0
	check(t, src, h(ev), fieldWant{"evt.arg.uid": "root", "evt.rawarg.uid": "0", "evt.category": "user"})
	ev = sys(101, bpf.SysUnshare, 0)
	ev.Flags = 0x20000 | 0x10000000
	check(t, src, h(ev), fieldWant{"evt.arg.flags": "CLONE_NEWNS|CLONE_NEWUSER"})
	ev = sys(101, bpf.SysKill, 0)
	ev.TargetPID, ev.Signal = 1, 9
	check(t, src, h(ev), fieldWant{"evt.arg.sig": "SIGKILL", "evt.arg.pid": "1"})
	ev = sys(101, bpf.SysSymlinkat, 0)
	ev.Path, ev.Dirfd2, ev.Path2 = "/etc/shadow", 4, "link"
	check(t, src, h(ev), fieldWant{"fs.path.source": "/etc/shadow", "fs.path.target": "/tmp/d/link",
		"fs.path.targetraw": "link", "fs.path.name": "<NA>", "evt.arg.target": "/etc/shadow", "evt.arg.linkpath": "link"})
	ev = sys(101, bpf.SysLink, 0)
	ev.Path, ev.Path2 = "/etc/passwd", "pw"
	check(t, src, h(ev), fieldWant{"fs.path.source": "/etc/passwd", "fs.path.target": "/etc/pw", "evt.arg.newpath": "pw"})
	ev = sys(101, bpf.SysFinitModule, -1)
	ev.Fd, ev.Flags = 5, 2
	check(t, src, h(ev), fieldWant{"evt.res": "EPERM", "evt.arg.flags": "MODULE_INIT_IGNORE_VERMAGIC", "fd.name": "/tmp/d/x.sh"})
	ev = sys(101, bpf.SysMemfdCreate, 9)
	ev.Name, ev.Flags = "payload", 1
	check(t, src, h(ev), fieldWant{"fd.type": "memfd", "fd.name": "memfd:payload", "evt.arg.name": "payload", "evt.arg.flags": "MFD_CLOEXEC"})
	check(t, src, h(&bpf.Event{Kind: bpf.KindExec, Syscall: bpf.SysExecveat, PID: 101, TID: 101, PPID: 100,
		Comm: "9", Args: []string{"payload"}, Exe: "/memfd:payload (deleted)", ExeFromMemfd: true,
		StartTime: 6e18, Dirfd: 9, Flags: 0x1000, LoginUID: 1000}), fieldWant{
		"evt.type": "execveat", "proc.is_exe_from_memfd": "true", "evt.arg.flags": "EXE_FROM_MEMFD",
		"proc.exepath": "/memfd:payload (deleted)", "proc.pname": "bash"})
	if p.Table().Get(101).FD(9) != nil || p.Table().Get(101).FD(3) != nil {
		t.Error("exec kept a close-on-exec fd (the memfd, or fd 3 marked by F_SETFD)")
	}

	// chdir then a relative mkdir
	ev = sys(101, bpf.SysChdir, 0)
	ev.Path, ev.Cwd = "/var/tmp", "/var/tmp"
	check(t, src, h(ev), fieldWant{"proc.cwd": "/var/tmp/", "evt.arg.path": "/var/tmp"})
	ev = sys(101, bpf.SysMkdir, 0)
	ev.Path, ev.Mode = "new", 0o700
	check(t, src, h(ev), fieldWant{"fs.path.name": "/var/tmp/new", "evt.arg.mode": "0700"})

	// exit frees the process; the event still shows it
	ex := &bpf.Event{Kind: bpf.KindExit, PID: 101, TID: 101, PPID: 100, GroupDead: true, ExitCode: 9}
	check(t, src, h(ex), fieldWant{"evt.type": "procexit", "proc.name": "9", "proc.pname": "bash", "evt.arg.status": "9"})
	if p.Table().Get(101) != nil {
		t.Error("process still in the table after its exit")
	}
	st := p.Stats()
	if st.ByType["openat"] != 2 || st.ByType["procexit"] != 1 || st.ByType["execve"] != 2 || st.Processes != 1 || st.Events < 20 {
		t.Errorf("stats %+v", st)
	}
}

// An event for a pid nobody told the table about still has a process.
func TestUnknownProcess(t *testing.T) {
	src, p := newTestProcessor(t)
	ev := sys(555, bpf.SysKill, 0)
	ev.Comm, ev.EUID = "mystery", 0
	check(t, src, p.Handle(ev), fieldWant{"proc.name": "mystery", "proc.pid": "555", "proc.pname": "<NA>", "fd.name": "<NA>"})
}

func TestFormatOpenFlags(t *testing.T) {
	for v, want := range map[uint64]string{
		0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 0o2000000: "O_RDONLY|O_CLOEXEC",
		0o4010001: "O_SYNC|O_WRONLY", 0o20200002: "O_RDWR|O_TMPFILE", 0o100000 | 0o4000: "O_LARGEFILE|O_NONBLOCK|O_RDONLY",
	} {
		if got := formatOpenFlags(v); got != want {
			t.Errorf("formatOpenFlags(%#o) = %q, want %q", v, got, want)
		}
	}
}

func TestUnpopulated(t *testing.T) {
	src, errs := newSource()
	for _, err := range errs {
		t.Errorf("binding: %v", err)
	}
	un := Unpopulated(src)
	if len(un) == 0 || len(un) >= len(src.Fields()) {
		t.Fatalf("%d of %d fields unbound", len(un), len(src.Fields()))
	}
	for _, must := range []string{"proc.aname", "fd.name", "evt.arg", "user.name", "container.id", "fs.path.target"} {
		if !src.Lookup(must).Bound() {
			t.Errorf("%s is not bound", must)
		}
	}
}

// The kernel's open filter dropped the open of fd 7; the first event that
// uses it carries its path (bpf.Event.FdPath), from which the fd is known.
func TestFdPathOfFilteredOpen(t *testing.T) {
	src, p := newTestProcessor(t)
	p.Handle(&bpf.Event{Kind: bpf.KindExec, Syscall: bpf.SysExecve, PID: 300, TID: 300, PPID: 1,
		Comm: "sh", Args: []string{"sh"}, Exe: "/bin/sh", Cwd: "/", Path: "/bin/sh", Dirfd: -1})
	ev := sys(300, bpf.SysDup2, 1)
	ev.Fd, ev.Fd2, ev.FdPath = 7, 1, "/var/log/app.log"
	check(t, src, p.Handle(ev), fieldWant{"fd.name": "/var/log/app.log", "fd.num": "1", "fd.type": "file",
		"fd.directory": "/var/log", "proc.stdout.name": "/var/log/app.log"})
	if f := p.Table().Get(300).FD(7); f == nil || f.Name != "/var/log/app.log" {
		t.Errorf("fd 7 = %+v, want the file from FdPath", f)
	}
	// A known fd keeps what the table has (the path as opened).
	ev = sys(300, bpf.SysFchmod, 0)
	ev.Fd, ev.FdPath = 7, "/elsewhere"
	check(t, src, p.Handle(ev), fieldWant{"fd.name": "/var/log/app.log"})
	// Unless the kernel's key shows the entry stale: then the path fills
	// the fd anew.
	ev = sys(300, bpf.SysFchmod, 0)
	ev.Fd, ev.FdPath = 7, "/var/log/other.log"
	ev.FileKeys[bpf.FileKeyFd] = 5
	p.Table().Get(300).FD(7).Key = 4
	check(t, src, p.Handle(ev), fieldWant{"fd.name": "/var/log/other.log"})
}

// Without close traced (bpf.Config.StateWithoutClose), entries outlive
// their fds; the file keys the kernel sends with each event tell a stale
// entry (the number now holds another file) from a live one.
func TestStaleEntriesByFileKey(t *testing.T) {
	src, p := newTestProcessor(t)
	p.Handle(&bpf.Event{Kind: bpf.KindExec, Syscall: bpf.SysExecve, PID: 300, TID: 300, PPID: 1,
		Comm: "sh", Args: []string{"sh"}, Exe: "/bin/sh", Cwd: "/", Path: "/bin/sh", Dirfd: -1})
	open := func(fd int64, path string, key uint64, flags uint64) {
		ev := sys(300, bpf.SysOpenat, fd)
		ev.Dirfd, ev.Path, ev.Flags = -100, path, flags
		ev.FileKeys[bpf.FileKeyRet] = key
		check(t, src, p.Handle(ev), fieldWant{"fd.name": path})
	}
	open(5, "/srv/data", 11, 0o200000) // O_DIRECTORY
	open(6, "/etc/app.conf", 12, 0)
	open(8, "/etc/other.conf", 0, 0) // no key: cannot be checked, kept

	// fd 6 still holds its file (same key): the entry is used.
	ev := sys(300, bpf.SysFchmod, 0)
	ev.Fd = 6
	ev.FileKeys[bpf.FileKeyFd] = 12
	check(t, src, p.Handle(ev), fieldWant{"fd.name": "/etc/app.conf"})

	// fd 6 was closed untraced and its number reused (an eventfd): the
	// dup of it must not be named after the old file, nor keep it.
	ev = sys(300, bpf.SysDup, 9)
	ev.Fd = 6
	ev.FileKeys[bpf.FileKeyFd], ev.FileKeys[bpf.FileKeyRet] = 99, 99
	check(t, src, p.Handle(ev), fieldWant{"fd.name": "<NA>"})
	if f := p.Table().Get(300).FD(6); f != nil {
		t.Errorf("stale fd 6 kept: %+v", f)
	}
	if f := p.Table().Get(300).FD(9); f != nil {
		t.Errorf("dup of an unknown fd made %+v", f)
	}

	// A relative openat against a stale dirfd is not resolved against the
	// old directory.
	ev = sys(300, bpf.SysOpenat, 10)
	ev.Dirfd, ev.Path = 5, "x"
	ev.FileKeys[bpf.FileKeyDirfd] = 0 // fd 5 is no longer open
	ev.FileKeys[bpf.FileKeyRet] = 13
	got := p.Handle(ev)
	if name := value(t, src, got, "fd.name"); name == "/srv/data/x" {
		t.Errorf("openat against a closed dirfd resolved to %q", name)
	}

	// An entry without a key is kept whatever the kernel says.
	ev = sys(300, bpf.SysFchmod, 0)
	ev.Fd = 8
	ev.FileKeys[bpf.FileKeyFd] = 77
	check(t, src, p.Handle(ev), fieldWant{"fd.name": "/etc/other.conf"})
}
