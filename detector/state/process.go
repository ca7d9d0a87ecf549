// Package state keeps what the detector knows about the processes on the
// host: a process table seeded from /proc and kept by fork, exec and exit
// events, with each process's credentials, command line, ancestry,
// container and open file descriptors. The syscall field source reads it to
// give rules the proc.*, user.*, fd.* and container.* fields Falco gives.
//
// A Table is not safe for concurrent use: one goroutine feeds it events and
// reads it while evaluating rules. Len, FDCount and Stats may be called from
// any goroutine.
package state

import (
	"os"
	"strings"
	"sync/atomic"
)

// Process is one thread group (Falco's process). Its strings are computed
// when it is created or execs, so reading them per event costs nothing.
// Callers must not modify a Process or its FD map; the Table does.
type Process struct {
	PID  uint32 `json:"pid"`
	PPID uint32 `json:"ppid"`
	VPID uint32 `json:"vpid,omitempty"` // pid in the process's own pid namespace
	SID  uint32 `json:"sid,omitempty"`
	PGID uint32 `json:"pgid,omitempty"`

	Comm     string   `json:"comm"`           // proc.name
	Exe      string   `json:"exe"`            // argv[0] (proc.exe)
	ExePath  string   `json:"exepath"`        // the executable's full path (proc.exepath)
	Args     []string `json:"args,omitempty"` // argv[1:]
	ArgsLine string   `json:"-"`              // proc.args: Args joined by spaces
	Cmdline  string   `json:"-"`              // proc.cmdline: Comm and ArgsLine
	ExeLine  string   `json:"-"`              // proc.exeline: Exe and ArgsLine
	Cwd      string   `json:"cwd"`            // with a trailing '/', as Falco keeps it

	UID, GID, EUID, EGID uint32
	LoginUID             uint32 `json:"loginuid"` // 4294967295 when unset
	TTY                  uint32 `json:"tty,omitempty"`
	StartTime            uint64 `json:"start_time,omitempty"` // epoch ns

	ExeFromMemfd  bool   `json:"exe_memfd,omitempty"`
	ExeUpperLayer bool   `json:"exe_upper,omitempty"`
	ExeIno        uint64 `json:"exe_ino,omitempty"`

	CapInheritable uint64 `json:"cap_inh,omitempty"`
	CapPermitted   uint64 `json:"cap_prm,omitempty"`
	CapEffective   uint64 `json:"cap_eff,omitempty"`

	Cgroup           string `json:"cgroup,omitempty"`
	ContainerID      string `json:"container_id"` // 12 characters, or "host"
	ContainerFullID  string `json:"container_full_id,omitempty"`
	ContainerName    string `json:"container_name,omitempty"`
	ContainerRuntime string `json:"container_runtime,omitempty"`

	// FromProc says the entry was read from /proc (at start or when an event
	// named a process the table did not know) rather than built from events.
	FromProc bool `json:"from_proc,omitempty"`

	FDs map[int64]*FD `json:"fds,omitempty"`

	lazy lazy // read from /proc on demand (Env, ExeTimes)
}

// setArgs sets argv and the derived strings.
func (p *Process) setArgs(argv []string) {
	p.Exe, p.Args = "", nil
	if len(argv) > 0 {
		p.Exe = argv[0]
		p.Args = argv[1:]
	}
	p.derive()
}

// derive computes the joined strings from Comm, Exe and Args.
func (p *Process) derive() {
	p.ArgsLine = strings.Join(p.Args, " ")
	p.Cmdline, p.ExeLine = p.Comm, p.Exe
	if p.ArgsLine != "" {
		p.Cmdline += " " + p.ArgsLine
		p.ExeLine += " " + p.ArgsLine
	}
}

// SetCwd sets the working directory, keeping Falco's trailing slash.
func (p *Process) SetCwd(dir string) {
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	p.Cwd = dir
}

// FD returns the open fd num, or nil.
func (p *Process) FD(num int64) *FD { return p.FDs[num] }

// Table is the process table, keyed by thread group id.
type Table struct {
	procRoot string
	procs    map[uint32]*Process
	users    *Users
	names    containerNames
	boot     int64 // epoch ns at CLOCK_BOOTTIME 0, for /proc start times
	mounts   mountCache

	cgroupV1 bool // the host has cgroup v1 hierarchies (containers not in the v2 path)

	nprocs, nfds atomic.Int64
	loaded       atomic.Uint64 // processes read from /proc after the seed
}

// Options configure a Table; the zero value reads the host's /proc.
type Options struct {
	ProcRoot  string // default /proc
	Users     *Users // default NewUsers()
	DockerDir string // default /var/lib/docker, for container names
}

// New returns an empty table; call Seed to fill it from /proc.
func New(o Options) *Table {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Users == nil {
		o.Users = NewUsers()
	}
	if o.DockerDir == "" {
		o.DockerDir = "/var/lib/docker"
	}
	t := &Table{procRoot: o.ProcRoot, procs: map[uint32]*Process{}, users: o.Users, boot: bootEpoch()}
	// v1 hierarchies show as "N:controller:/path" lines besides v2's "0::".
	if b, err := os.ReadFile(o.ProcRoot + "/self/cgroup"); err == nil {
		t.cgroupV1 = strings.Count(string(b), "\n") > 1 || !strings.HasPrefix(string(b), "0::")
	}
	t.names.dockerDir = o.DockerDir
	return t
}

// Users returns the table's uid/gid resolver.
func (t *Table) Users() *Users { return t.users }

// Get returns the process pid if the table knows it.
func (t *Table) Get(pid uint32) *Process { return t.procs[pid] }

// Len is the number of processes in the table.
func (t *Table) Len() int { return int(t.nprocs.Load()) }

// FDCount is the number of fds in all fd tables.
func (t *Table) FDCount() int { return int(t.nfds.Load()) }

// Stats are the table's sizes, for the daemon's counters.
type Stats struct {
	Processes int    // entries now
	FDs       int    // fd entries now, all processes
	Loaded    uint64 // processes read from /proc on demand after the seed
}

// Stats returns the table's counters; safe from any goroutine.
func (t *Table) Stats() Stats {
	return Stats{Processes: t.Len(), FDs: t.FDCount(), Loaded: t.loaded.Load()}
}

// Put adds or replaces a process (the old entry's fds are dropped).
func (t *Table) Put(p *Process) {
	if old, ok := t.procs[p.PID]; ok {
		t.nfds.Add(-int64(len(old.FDs)))
		t.nprocs.Add(-1)
	}
	if p.FDs == nil {
		p.FDs = map[int64]*FD{}
	}
	t.procs[p.PID] = p
	t.nprocs.Add(1)
	t.nfds.Add(int64(len(p.FDs)))
}

// Remove frees a process and its fd table.
func (t *Table) Remove(pid uint32) {
	if old, ok := t.procs[pid]; ok {
		t.nfds.Add(-int64(len(old.FDs)))
		t.nprocs.Add(-1)
		delete(t.procs, pid)
	}
}

// Lookup returns process pid, reading it from /proc when the table does not
// know it (a process that started before the detector saw it, or whose
// events were dropped). It returns nil if /proc has no such process.
func (t *Table) Lookup(pid uint32) *Process {
	if p := t.procs[pid]; p != nil {
		return p
	}
	if pid == 0 {
		return nil
	}
	p, err := t.readProc(pid, nil)
	if err != nil {
		return nil
	}
	t.loaded.Add(1)
	t.Put(p)
	return p
}

// Parent returns p's parent if the table knows it.
func (t *Table) Parent(p *Process) *Process {
	if p == nil || p.PPID == p.PID {
		return nil
	}
	return t.procs[p.PPID]
}

// maxAncestry bounds ancestor walks (and stops a corrupted ppid cycle).
const maxAncestry = 128

// Ancestor returns p's n-th ancestor: 0 is p, 1 its parent (Falco's
// proc.aname[N]). nil when the chain ends before n.
func (t *Table) Ancestor(p *Process, n int) *Process {
	for i := 0; i < n && p != nil; i++ {
		if i >= maxAncestry {
			return nil
		}
		p = t.Parent(p)
	}
	return p
}

// Ancestors calls fn for each ancestor of p, parent first, until fn
// returns false or the chain ends.
func (t *Table) Ancestors(p *Process, fn func(*Process) bool) {
	for i := 0; i < maxAncestry; i++ {
		p = t.Parent(p)
		if p == nil || !fn(p) {
			return
		}
	}
}

// Range calls fn for every process, in no order, until fn returns false.
func (t *Table) Range(fn func(*Process) bool) {
	for _, p := range t.procs {
		if !fn(p) {
			return
		}
	}
}

// SetPPID records a new parent (the kernel reparents orphans to a
// subreaper or init: every event carries the current parent).
func (t *Table) SetPPID(p *Process, ppid uint32) {
	if p != nil && ppid != 0 {
		p.PPID = ppid
	}
}

// sameStart reports whether two start times name the same process: /proc
// gives them in clock ticks (10 ms), events in ns; 0 is unknown.
func sameStart(a, b uint64) bool {
	if a == 0 || b == 0 {
		return true
	}
	d := int64(a - b)
	if d < 0 {
		d = -d
	}
	return d < 50e6
}

// Fork records a new task created by process parentPID. A new thread
// (childPID == parentPID) changes nothing. A new process gets a copy of the
// parent's state and fd table (Falco copies the table; a CLONE_FILES child
// that shares it is rare outside threads). It returns the child's process.
func (t *Table) Fork(parentPID, childPID uint32, startTime uint64) *Process {
	parent := t.Lookup(parentPID)
	if childPID == parentPID {
		return parent
	}
	var c *Process
	if parent == nil {
		// The parent is gone already: read the child itself.
		if p, err := t.readProc(childPID, nil); err == nil {
			t.Put(p)
			return p
		}
		c = &Process{PID: childPID, PPID: parentPID, ContainerID: HostContainerID, LoginUID: ^uint32(0)}
	} else {
		cp := *parent
		c = &cp
		c.FDs = make(map[int64]*FD, len(parent.FDs))
		for k, v := range parent.FDs {
			c.FDs[k] = v // FDs are immutable: sharing is a copy
		}
		c.PID, c.PPID, c.FromProc = childPID, parentPID, false
		if c.VPID != 0 {
			c.VPID = 0 // unknown until the child's own events say
		}
	}
	c.StartTime = startTime
	t.Put(c) // replaces a stale entry of a reused pid
	return c
}

// ExecInfo is what an exec event tells about the new program.
type ExecInfo struct {
	PID, PPID, VPID      uint32
	Comm                 string
	Argv                 []string
	ExePath              string
	Cwd                  string // "" keeps the old one
	UID, GID, EUID, EGID uint32
	LoginUID             uint32
	TTY                  uint32 // Falco's encoding (new_encode_dev)
	SID, PGID            uint32
	StartTime            uint64
	CapInheritable       uint64
	CapPermitted         uint64
	CapEffective         uint64
	ExeFromMemfd         bool
	ExeUpperLayer        bool
	ExeIno               uint64
	Cgroup               string // "" keeps the old container
}

// oCloexec is O_CLOEXEC as the kernel numbers it (x86 and arm64 alike).
const oCloexec = 0o2000000

// Exec replaces a process's program, keeping its pid, parent and open fds
// (except close-on-exec ones), and returns it. A process the table did not
// know is read from /proc for its fds (the rest comes from the event).
func (t *Table) Exec(e *ExecInfo) *Process {
	old := t.procs[e.PID]
	if old != nil && !sameStart(old.StartTime, e.StartTime) {
		old = nil // a reused pid whose exit we missed
	}
	var p *Process
	if old != nil {
		cp := *old
		p = &cp
		p.FDs = make(map[int64]*FD, len(old.FDs))
		for k, v := range old.FDs {
			if v.Flags&oCloexec == 0 {
				p.FDs[k] = v
			}
		}
	} else {
		p = &Process{PID: e.PID, ContainerID: HostContainerID}
		if rp, err := t.readProc(e.PID, nil); err == nil {
			p = rp
		}
	}
	p.PID = e.PID
	p.lazy = lazy{} // a new program: its environment and executable are new
	if e.PPID != 0 {
		p.PPID = e.PPID
	}
	if e.VPID != 0 {
		p.VPID = e.VPID
	}
	p.Comm = e.Comm
	p.setArgs(e.Argv)
	if e.ExePath != "" {
		p.ExePath = e.ExePath
	}
	if e.Cwd != "" {
		p.SetCwd(e.Cwd)
	}
	p.UID, p.GID, p.EUID, p.EGID, p.LoginUID = e.UID, e.GID, e.EUID, e.EGID, e.LoginUID
	p.TTY, p.SID, p.PGID = e.TTY, e.SID, e.PGID
	if e.StartTime != 0 {
		p.StartTime = e.StartTime
	}
	p.CapInheritable, p.CapPermitted, p.CapEffective = e.CapInheritable, e.CapPermitted, e.CapEffective
	p.ExeFromMemfd = e.ExeFromMemfd || strings.HasPrefix(p.ExePath, "/memfd:") || strings.HasPrefix(p.ExePath, "memfd:")
	p.ExeUpperLayer, p.ExeIno = e.ExeUpperLayer, e.ExeIno
	prev := [4]string{p.ContainerID, p.ContainerFullID, p.ContainerName, p.ContainerRuntime}
	if e.Cgroup != "" && e.Cgroup != p.Cgroup {
		t.setContainer(p, e.Cgroup)
	}
	if p.ContainerFullID == "" && t.cgroupV1 {
		// The event's cgroup is the v2 path; on a host with v1 hierarchies
		// the container shows only in /proc/<pid>/cgroup's v1 lines. If the
		// process is gone already, keep what it had: exec changes no cgroup.
		found := false
		if b, err := os.ReadFile(t.pidDir(p.PID) + "/cgroup"); err == nil {
			if id, full, rt := ContainerFromCgroupFile(string(b)); full != "" {
				p.ContainerID, p.ContainerFullID, p.ContainerRuntime = id, full, rt
				p.ContainerName = t.names.name(full, rt)
				found = true
			}
		}
		if !found && prev[1] != "" {
			p.ContainerID, p.ContainerFullID, p.ContainerName, p.ContainerRuntime = prev[0], prev[1], prev[2], prev[3]
		}
	}
	p.FromProc = false
	t.Put(p)
	return p
}

func (t *Table) setContainer(p *Process, cgroup string) {
	p.Cgroup = cgroup
	p.ContainerID, p.ContainerFullID, p.ContainerRuntime = ContainerFromCgroup(cgroup)
	p.ContainerName = t.names.name(p.ContainerFullID, p.ContainerRuntime)
}

// Exit records the end of a task; groupDead says the whole process ended
// (its last thread exited), which frees its entry and fd table.
func (t *Table) Exit(pid uint32, groupDead bool) {
	if groupDead {
		t.Remove(pid)
	}
}

// Prune drops processes that no longer exist in /proc (their exit events
// were lost), so memory stays bounded whatever the capture drops. It returns
// how many it removed. Call it now and then (every few seconds), not per
// event.
func (t *Table) Prune() int {
	n := 0
	for pid, p := range t.procs {
		if !t.alive(pid, p.StartTime) {
			t.Remove(pid)
			n++
		}
	}
	return n
}

// SetFD adds or replaces fd f.Num of p.
func (t *Table) SetFD(p *Process, f *FD) {
	if p.FDs == nil {
		p.FDs = map[int64]*FD{}
	}
	if _, ok := p.FDs[f.Num]; !ok {
		t.nfds.Add(1)
	}
	p.FDs[f.Num] = f
}

// CloseFD removes fd num of p, returning what it was.
func (t *Table) CloseFD(p *Process, num int64) *FD {
	f, ok := p.FDs[num]
	if ok {
		delete(p.FDs, num)
		t.nfds.Add(-1)
	}
	return f
}

// DupFD makes newfd of p refer to what oldfd does (dup, dup2, dup3, fcntl
// F_DUPFD), with the new fd's own close-on-exec flag.
func (t *Table) DupFD(p *Process, oldfd, newfd int64, cloexec bool) *FD {
	f := p.FDs[oldfd]
	if f == nil {
		t.CloseFD(p, newfd) // dup2 onto newfd closed it, whatever it was
		return nil
	}
	cp := *f
	cp.Num = newfd
	cp.Flags &^= oCloexec
	if cloexec {
		cp.Flags |= oCloexec
	}
	t.SetFD(p, &cp)
	return &cp
}

// Dir returns the directory a *at syscall's dirfd names for p: the cwd for
// AT_FDCWD (-100), the fd's path for a directory fd, "" if unknown.
func Dir(p *Process, dirfd int64) string {
	if p == nil {
		return ""
	}
	if dirfd == atFDCWD {
		return p.Cwd
	}
	if f := p.FDs[dirfd]; f != nil && (f.Type == FDDirectory || f.Type == FDFile) {
		return f.Name
	}
	return ""
}

const atFDCWD = -100
