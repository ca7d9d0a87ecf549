package sysevent

import (
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/state"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// NewSource returns Falco's syscall field catalog (field.Syscall) with an
// extractor bound to every field this package can populate from the events
// and the state. The others stay unbound and evaluate as missing (<NA>);
// Unpopulated lists them.
func NewSource() *field.Source {
	src, errs := newSource()
	for _, err := range errs {
		// The catalog and this binder out of step: the field stays
		// unbound (TestBindings fails on it), the detector still runs.
		slog.Warn("sysevent: field not bound", "err", err)
	}
	return src
}

func newSource() (*field.Source, []error) {
	src := field.Syscall()
	b := &binder{src: src}
	bindEvt(b)
	bindProc(b)
	bindUserFD(b)
	// Event types this source produces (the rules' evt.type names).
	for _, n := range bpf.SupportedSyscalls() {
		src.EventType(n)
	}
	src.EventType("procexit")
	return src, b.errs
}

// Unpopulated returns the declared fields of src that nothing binds.
func Unpopulated(src *field.Source) []string {
	var out []string
	for _, f := range src.Fields() {
		if !f.Bound() {
			out = append(out, f.Name)
		}
	}
	return out
}

type binder struct {
	src  *field.Source
	errs []error
}

func (b *binder) bind(name string, x field.Extractor) {
	if err := b.src.Bind(name, x); err != nil {
		b.errs = append(b.errs, err)
	}
}

func (b *binder) str(name string, fn func(e *Event, a field.Arg) (string, bool)) {
	b.bind(name, field.Extractor{String: func(x field.Event, a field.Arg) (string, bool) {
		e, ok := x.(*Event)
		if !ok {
			return "", false
		}
		return fn(e, a)
	}})
}

func (b *binder) i64(name string, fn func(e *Event, a field.Arg) (int64, bool)) {
	b.bind(name, field.Extractor{Int: func(x field.Event, a field.Arg) (int64, bool) {
		e, ok := x.(*Event)
		if !ok {
			return 0, false
		}
		return fn(e, a)
	}})
}

func (b *binder) u64(name string, fn func(e *Event, a field.Arg) (uint64, bool)) {
	b.bind(name, field.Extractor{Uint: func(x field.Event, a field.Arg) (uint64, bool) {
		e, ok := x.(*Event)
		if !ok {
			return 0, false
		}
		return fn(e, a)
	}})
}

func (b *binder) boolean(name string, fn func(e *Event, a field.Arg) (bool, bool)) {
	b.bind(name, field.Extractor{Bool: func(x field.Event, a field.Arg) (bool, bool) {
		e, ok := x.(*Event)
		if !ok {
			return false, false
		}
		return fn(e, a)
	}})
}

func (b *binder) ip(name string, fn func(e *Event) (netip.Addr, bool)) {
	b.bind(name, field.Extractor{IP: func(x field.Event, a field.Arg) (netip.Addr, int, bool) {
		e, ok := x.(*Event)
		if !ok {
			return netip.Addr{}, -1, false
		}
		ip, ok := fn(e)
		return ip, -1, ok
	}})
}

func bindEvt(b *binder) {
	b.u64("evt.num", func(e *Event, _ field.Arg) (uint64, bool) { return e.Num, true })
	timeStr := func(layout string) func(*Event, field.Arg) (string, bool) {
		return func(e *Event, _ field.Arg) (string, bool) {
			return time.Unix(0, int64(e.Raw.Time)).Format(layout), true
		}
	}
	b.str("evt.time", timeStr("15:04:05.000000000"))
	b.str("evt.time.s", timeStr("15:04:05"))
	b.str("evt.time.iso8601", func(e *Event, _ field.Arg) (string, bool) {
		return time.Unix(0, int64(e.Raw.Time)).UTC().Format("2006-01-02T15:04:05.000000000Z"), true
	})
	b.str("evt.datetime", timeStr("2006-01-02 15:04:05.000000000"))
	b.str("evt.datetime.s", timeStr("2006-01-02 15:04:05"))
	b.i64("evt.rawtime", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Raw.Time), true })
	b.i64("evt.rawtime.s", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Raw.Time / 1e9), true })
	b.i64("evt.rawtime.ns", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Raw.Time % 1e9), true })
	rel := func(e *Event) int64 { return int64(e.Raw.Time - e.p.start) }
	b.i64("evt.reltime", func(e *Event, _ field.Arg) (int64, bool) { return rel(e), true })
	b.i64("evt.reltime.s", func(e *Event, _ field.Arg) (int64, bool) { return rel(e) / 1e9, true })
	b.i64("evt.reltime.ns", func(e *Event, _ field.Arg) (int64, bool) { return rel(e) % 1e9, true })
	delta := func(e *Event) (int64, bool) {
		if e.p.prev == 0 {
			return 0, true
		}
		return int64(e.Raw.Time - e.p.prev), true
	}
	b.i64("evt.deltatime", func(e *Event, _ field.Arg) (int64, bool) { return delta(e) })
	b.i64("evt.deltatime.s", func(e *Event, _ field.Arg) (int64, bool) { d, _ := delta(e); return d / 1e9, true })
	b.i64("evt.deltatime.ns", func(e *Event, _ field.Arg) (int64, bool) { d, _ := delta(e); return d % 1e9, true })
	b.str("evt.source", func(*Event, field.Arg) (string, bool) { return "syscall", true })
	b.boolean("evt.is_async", func(*Event, field.Arg) (bool, bool) { return false, true })
	host, _ := os.Hostname()
	b.str("evt.hostname", func(*Event, field.Arg) (string, bool) { return host, host != "" })
	// Every event here is a completed call: Falco's exit direction.
	b.str("evt.dir", func(*Event, field.Arg) (string, bool) { return "<", true })
	b.str("evt.type", func(e *Event, _ field.Arg) (string, bool) { return e.name, true })
	b.u64("evt.type.is", func(e *Event, a field.Arg) (uint64, bool) {
		if e.name == a.Key {
			return 1, true
		}
		return 0, true
	})
	b.str("syscall.type", func(e *Event, _ field.Arg) (string, bool) {
		return e.name, e.kind != kindProcexit
	})
	b.str("evt.category", func(e *Event, _ field.Arg) (string, bool) { return category(e), true })
	b.str("evt.args", func(e *Event, _ field.Arg) (string, bool) { return e.args(), true })
	b.str("evt.info", func(e *Event, _ field.Arg) (string, bool) { return e.args(), true })
	b.str("evt.arg", func(e *Event, a field.Arg) (string, bool) {
		k, tab := e.argKindOf(&argRef{key: a.Key, index: argIndex(a)})
		return e.argString(k, tab)
	})
	b.i64("evt.rawarg", func(e *Event, a field.Arg) (int64, bool) {
		k, _ := e.argKindOf(&argRef{key: a.Key, index: argIndex(a)})
		return e.argInt(k)
	})
	b.str("evt.res", func(e *Event, _ field.Arg) (string, bool) {
		if e.kind == kindProcexit {
			return "", false
		}
		if e.Raw.Ret < 0 {
			return errnoName(e.Raw.Ret), true
		}
		return "SUCCESS", true
	})
	b.i64("evt.rawres", func(e *Event, _ field.Arg) (int64, bool) {
		if e.kind == kindClone {
			return int64(e.Raw.ChildTID), true
		}
		return e.Raw.Ret, e.kind != kindProcexit
	})
	b.boolean("evt.failed", func(e *Event, _ field.Arg) (bool, bool) { return e.Raw.Ret < 0, true })
	isRead := func(e *Event) bool { return e.kind == kindSyscall && e.Raw.Syscall == bpf.SysRecvfrom }
	isWrite := func(e *Event) bool { return e.kind == kindSyscall && e.Raw.Syscall == bpf.SysSendto }
	b.boolean("evt.is_io", func(e *Event, _ field.Arg) (bool, bool) { return isRead(e) || isWrite(e), true })
	b.boolean("evt.is_io_read", func(e *Event, _ field.Arg) (bool, bool) { return isRead(e), true })
	b.boolean("evt.is_io_write", func(e *Event, _ field.Arg) (bool, bool) { return isWrite(e), true })
	b.str("evt.io_dir", func(e *Event, _ field.Arg) (string, bool) {
		switch {
		case isRead(e):
			return "read", true
		case isWrite(e):
			return "write", true
		}
		return "", false
	})
	// None of the captured syscalls waits or writes to /dev/log.
	b.boolean("evt.is_wait", func(*Event, field.Arg) (bool, bool) { return false, true })
	b.boolean("evt.is_syslog", func(*Event, field.Arg) (bool, bool) { return false, true })
	one := func(c bool) (uint64, bool) {
		if c {
			return 1, true
		}
		return 0, true
	}
	b.u64("evt.count", func(*Event, field.Arg) (uint64, bool) { return 1, true })
	b.u64("evt.count.exit", func(*Event, field.Arg) (uint64, bool) { return 1, true })
	b.u64("evt.count.error", func(e *Event, _ field.Arg) (uint64, bool) { return one(e.Raw.Ret < 0) })
	for _, c := range []string{"file", "net", "memory", "other"} {
		b.u64("evt.count.error."+c, func(e *Event, _ field.Arg) (uint64, bool) {
			cat := category(e)
			if cat != "file" && cat != "net" && cat != "memory" {
				cat = "other"
			}
			return one(e.Raw.Ret < 0 && cat == c)
		})
	}
	b.str("evt.abspath", func(e *Event, _ field.Arg) (string, bool) { return e.Path, e.Path != "" })
	b.str("evt.abspath.src", func(e *Event, _ field.Arg) (string, bool) { return e.Path, e.Path != "" && e.Path2 != "" })
	b.str("evt.abspath.dst", func(e *Event, _ field.Arg) (string, bool) { return e.Path2, e.Path2 != "" })
	b.boolean("evt.is_open_read", func(e *Event, _ field.Arg) (bool, bool) {
		f, ok := openFlagsOf(e)
		return ok && (f&oAccmode == 0 || f&oAccmode == oRdwr), true
	})
	b.boolean("evt.is_open_write", func(e *Event, _ field.Arg) (bool, bool) {
		f, ok := openFlagsOf(e)
		return ok && (f&oAccmode == oWronly || f&oAccmode == oRdwr), true
	})
	b.boolean("evt.is_open_exec", func(e *Event, _ field.Arg) (bool, bool) {
		f, ok := openFlagsOf(e)
		return ok && f&(oCreat|oTmpfile) != 0 && e.Raw.Mode&0o111 != 0, true
	})
	b.boolean("evt.is_open_create", func(e *Event, _ field.Arg) (bool, bool) {
		f, ok := openFlagsOf(e)
		return ok && f&(oCreat|oTmpfile) != 0 && e.Raw.Ret >= 0, true
	})
}

// argIndex is evt.arg[N]'s index, or -1 for a name.
func argIndex(a field.Arg) int {
	if a.Key != "" {
		return -1
	}
	return a.Index
}

// openFlagsOf returns an open-family event's flags.
func openFlagsOf(e *Event) (uint64, bool) {
	if e.kind != kindSyscall {
		return 0, false
	}
	switch e.Raw.Syscall {
	case bpf.SysOpen, bpf.SysOpenat, bpf.SysOpenat2:
		return e.Raw.Flags, true
	case bpf.SysCreat:
		return oCreat | oWronly | oTrunc, true
	}
	return 0, false
}

func category(e *Event) string {
	switch e.kind {
	case kindExecve, kindClone, kindProcexit:
		return "process"
	}
	switch e.Raw.Syscall {
	case bpf.SysSocket, bpf.SysConnect, bpf.SysAccept, bpf.SysAccept4, bpf.SysBind, bpf.SysListen,
		bpf.SysSendto, bpf.SysRecvfrom:
		return "net"
	case bpf.SysExecve, bpf.SysExecveat, bpf.SysClone, bpf.SysClone3, bpf.SysFork, bpf.SysVfork,
		bpf.SysPtrace, bpf.SysPrctl, bpf.SysUnshare, bpf.SysSetns:
		return "process"
	case bpf.SysSetuid, bpf.SysSetgid, bpf.SysSetresuid, bpf.SysSetresgid:
		return "user"
	case bpf.SysKill:
		return "signal"
	case bpf.SysMount, bpf.SysUmount2, bpf.SysInitModule, bpf.SysFinitModule, bpf.SysDeleteModule, bpf.SysBpf:
		return "system"
	case bpf.SysUserfaultfd:
		return "memory"
	case bpf.SysClose, bpf.SysDup, bpf.SysDup2, bpf.SysDup3, bpf.SysFcntl:
		if e.FD != nil && (e.FD.Type == state.FDIPv4 || e.FD.Type == state.FDIPv6 || e.FD.Type == state.FDUnix) {
			return "net"
		}
	}
	return "file"
}

// Ancestor helpers: level 0 is the process itself.

func (e *Event) ancestor(n int) *state.Process { return e.p.table.Ancestor(e.Proc, n) }

// level is an ancestor field's argument: [N], or the parent without one.
func level(a field.Arg) int {
	if a.Set {
		return a.Index
	}
	return 1
}

// shells are the names proc.loginshellid looks for.
var shells = map[string]bool{"sh": true, "bash": true, "zsh": true, "ksh": true, "csh": true,
	"tcsh": true, "dash": true, "ash": true, "fish": true, "mksh": true, "busybox": true}

func bindProc(b *binder) {
	type procStr func(*state.Process) string
	// proc.X, proc.pX and proc.aX[N] for a string of the process.
	family := func(self, parent, anc string, get procStr) {
		if self != "" {
			b.str(self, func(e *Event, _ field.Arg) (string, bool) { return get(e.Proc), true })
		}
		if parent != "" {
			b.str(parent, func(e *Event, _ field.Arg) (string, bool) {
				if p := e.ancestor(1); p != nil {
					return get(p), true
				}
				return "", false
			})
		}
		if anc != "" {
			x := field.Extractor{
				String: func(x field.Event, a field.Arg) (string, bool) {
					e, ok := x.(*Event)
					if !ok {
						return "", false
					}
					if p := e.ancestor(level(a)); p != nil {
						return get(p), true
					}
					return "", false
				},
				// Without an index Falco matches any ancestor: Strings
				// lists them all, parent first, for a filter that wants
				// that form.
				Strings: func(x field.Event, a field.Arg, dst []string) ([]string, bool) {
					e, ok := x.(*Event)
					if !ok {
						return dst, false
					}
					if a.Set {
						if p := e.ancestor(a.Index); p != nil {
							return append(dst, get(p)), true
						}
						return dst, false
					}
					e.p.table.Ancestors(e.Proc, func(p *state.Process) bool {
						dst = append(dst, get(p))
						return true
					})
					return dst, len(dst) > 0
				},
			}
			b.bind(anc, x)
		}
	}
	family("proc.exe", "proc.pexe", "proc.aexe", func(p *state.Process) string { return p.Exe })
	family("proc.exepath", "proc.pexepath", "proc.aexepath", func(p *state.Process) string { return p.ExePath })
	family("proc.name", "proc.pname", "proc.aname", func(p *state.Process) string { return p.Comm })
	family("proc.cmdline", "proc.pcmdline", "proc.acmdline", func(p *state.Process) string { return p.Cmdline })
	b.str("proc.args", func(e *Event, _ field.Arg) (string, bool) { return e.Proc.ArgsLine, true })
	b.u64("proc.cmdnargs", func(e *Event, _ field.Arg) (uint64, bool) { return uint64(len(e.Proc.Args)), true })
	b.u64("proc.cmdlenargs", func(e *Event, _ field.Arg) (uint64, bool) {
		n := 0
		for _, a := range e.Proc.Args {
			n += len(a)
		}
		return uint64(n), true
	})
	b.str("proc.exeline", func(e *Event, _ field.Arg) (string, bool) { return e.Proc.ExeLine, true })
	b.str("proc.cwd", func(e *Event, _ field.Arg) (string, bool) { return e.Proc.Cwd, e.Proc.Cwd != "" })
	b.i64("proc.loginshellid", func(e *Event, _ field.Arg) (int64, bool) {
		var id int64
		found := false
		if shells[e.Proc.Comm] {
			id, found = int64(e.Proc.PID), true
		}
		e.p.table.Ancestors(e.Proc, func(p *state.Process) bool {
			if shells[p.Comm] {
				id, found = int64(p.PID), true
			}
			return true
		})
		return id, found
	})
	b.u64("proc.tty", func(e *Event, _ field.Arg) (uint64, bool) { return uint64(e.Proc.TTY), true })
	b.i64("proc.pid", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Raw.PID), true })
	b.i64("proc.ppid", func(e *Event, _ field.Arg) (int64, bool) {
		return int64(e.Proc.PPID), e.Proc.PPID != 0 || e.Proc.PID == 1
	})
	b.i64("proc.apid", func(e *Event, a field.Arg) (int64, bool) {
		if p := e.ancestor(level(a)); p != nil {
			return int64(p.PID), true
		}
		return 0, false
	})
	b.i64("proc.vpid", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Raw.VPID), e.Raw.VPID != 0 })
	b.i64("proc.pvpid", func(e *Event, _ field.Arg) (int64, bool) {
		if p := e.ancestor(1); p != nil && p.VPID != 0 {
			return int64(p.VPID), true
		}
		return 0, false
	})
	b.i64("proc.sid", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Proc.SID), true })
	leader := func(id func(*state.Process) uint32, get procStr) func(*Event, field.Arg) (string, bool) {
		return func(e *Event, _ field.Arg) (string, bool) {
			if l := e.p.table.Get(id(e.Proc)); l != nil {
				return get(l), true
			}
			return "", false
		}
	}
	sid := func(p *state.Process) uint32 { return p.SID }
	pgid := func(p *state.Process) uint32 { return p.PGID }
	comm := func(p *state.Process) string { return p.Comm }
	exe := func(p *state.Process) string { return p.Exe }
	exepath := func(p *state.Process) string { return p.ExePath }
	b.str("proc.sname", leader(sid, comm))
	b.str("proc.sid.exe", leader(sid, exe))
	b.str("proc.sid.exepath", leader(sid, exepath))
	b.i64("proc.pgid", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Proc.PGID), true })
	b.str("proc.pgid.name", leader(pgid, comm))
	b.str("proc.pgid.exe", leader(pgid, exe))
	b.str("proc.pgid.exepath", leader(pgid, exepath))
	// vpgid is the pgid seen from the process's pid namespace: known only
	// for processes in the host's namespace, where it is the pgid.
	hostNS := func(p *state.Process) bool { return p.VPID == 0 || p.VPID == p.PID }
	b.i64("proc.vpgid", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Proc.PGID), hostNS(e.Proc) })
	vleader := func(get procStr) func(*Event, field.Arg) (string, bool) {
		l := leader(pgid, get)
		return func(e *Event, a field.Arg) (string, bool) {
			if !hostNS(e.Proc) {
				return "", false
			}
			return l(e, a)
		}
	}
	b.str("proc.vpgid.name", vleader(comm))
	b.str("proc.vpgid.exe", vleader(exe))
	b.str("proc.vpgid.exepath", vleader(exepath))
	b.boolean("proc.is_vpgid_leader", func(e *Event, _ field.Arg) (bool, bool) {
		return e.Proc.PGID == e.Proc.PID, hostNS(e.Proc)
	})
	// Falco compares the session id with the pid in the process's own
	// namespace (vpid); the session id here is the host's, so the host pid.
	b.boolean("proc.is_sid_leader", func(e *Event, _ field.Arg) (bool, bool) { return e.Proc.SID == e.Proc.PID, true })
	b.boolean("proc.is_pgid_leader", func(e *Event, _ field.Arg) (bool, bool) { return e.Proc.PGID == e.Proc.PID, true })
	b.i64("proc.duration", func(e *Event, _ field.Arg) (int64, bool) {
		return int64(e.Raw.Time - e.Proc.StartTime), e.Proc.StartTime != 0
	})
	b.i64("proc.pid.ts", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Proc.StartTime), e.Proc.StartTime != 0 })
	b.i64("proc.ppid.ts", func(e *Event, _ field.Arg) (int64, bool) {
		if p := e.ancestor(1); p != nil && p.StartTime != 0 {
			return int64(p.StartTime), true
		}
		return 0, false
	})
	b.i64("proc.ppid.duration", func(e *Event, _ field.Arg) (int64, bool) {
		if p := e.ancestor(1); p != nil && p.StartTime != 0 {
			return int64(e.Raw.Time - p.StartTime), true
		}
		return 0, false
	})
	b.u64("proc.fdopencount", func(e *Event, _ field.Arg) (uint64, bool) { return uint64(len(e.Proc.FDs)), true })
	b.boolean("proc.is_exe_upper_layer", func(e *Event, _ field.Arg) (bool, bool) { return e.Proc.ExeUpperLayer, true })
	b.boolean("proc.is_exe_from_memfd", func(e *Event, _ field.Arg) (bool, bool) { return e.Proc.ExeFromMemfd, true })
	// Read from /proc when first asked for (the event does not carry them).
	envOf := func(e *Event, p *state.Process, key string) (string, bool) {
		env, ok := e.p.table.Env(p)
		if !ok {
			return "", false
		}
		if key == "" {
			return strings.Join(env, " "), true
		}
		for _, kv := range env {
			if len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key {
				return kv[len(key)+1:], true
			}
		}
		return "", false
	}
	b.str("proc.env", func(e *Event, a field.Arg) (string, bool) { return envOf(e, e.Proc, a.Key) })
	// proc.aenv[NAME]: the first ancestor, parent first, that has NAME;
	// without an argument the process's own environment, as Falco does.
	b.str("proc.aenv", func(e *Event, a field.Arg) (string, bool) {
		if a.Key == "" {
			return envOf(e, e.Proc, "")
		}
		var v string
		var found bool
		e.p.table.Ancestors(e.Proc, func(p *state.Process) bool {
			v, found = envOf(e, p, a.Key)
			return !found
		})
		return v, found
	})
	b.i64("proc.exe_ino.ctime", func(e *Event, _ field.Arg) (int64, bool) {
		c, _, ok := e.p.table.ExeTimes(e.Proc)
		return c, ok
	})
	b.i64("proc.exe_ino.mtime", func(e *Event, _ field.Arg) (int64, bool) {
		_, m, ok := e.p.table.ExeTimes(e.Proc)
		return m, ok
	})
	b.i64("proc.exe_ino.ctime_duration_proc_start", func(e *Event, _ field.Arg) (int64, bool) {
		c, _, ok := e.p.table.ExeTimes(e.Proc)
		return int64(e.Proc.StartTime) - c, ok && e.Proc.StartTime != 0
	})
	b.i64("proc.exe_ino", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Proc.ExeIno), e.Proc.ExeIno != 0 })
	for i, n := range []string{"stdin", "stdout", "stderr"} {
		num := int64(i)
		b.str("proc."+n+".type", func(e *Event, _ field.Arg) (string, bool) {
			if f := e.Proc.FD(num); f != nil {
				return f.Type.String(), true
			}
			return "", false
		})
		b.str("proc."+n+".name", func(e *Event, _ field.Arg) (string, bool) {
			if f := e.Proc.FD(num); f != nil {
				return f.Name, true
			}
			return "", false
		})
	}

	b.i64("thread.tid", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Raw.TID), true })
	b.boolean("thread.ismain", func(e *Event, _ field.Arg) (bool, bool) { return e.Raw.TID == e.Raw.PID, true })
	b.i64("thread.vtid", func(e *Event, _ field.Arg) (int64, bool) { return int64(e.Raw.VTID), e.Raw.VTID != 0 })
	b.str("thread.nametid", func(e *Event, _ field.Arg) (string, bool) {
		return e.Proc.Comm + strconv.FormatUint(uint64(e.Raw.TID), 10), true
	})
	b.str("thread.cap_permitted", func(e *Event, _ field.Arg) (string, bool) { return capNames(e.Proc.CapPermitted), true })
	b.str("thread.cap_inheritable", func(e *Event, _ field.Arg) (string, bool) { return capNames(e.Proc.CapInheritable), true })
	b.str("thread.cap_effective", func(e *Event, _ field.Arg) (string, bool) { return capNames(e.Proc.CapEffective), true })
}

func bindUserFD(b *binder) {
	users := func(e *Event) *state.Users { return e.p.table.Users() }
	// user.* is the effective uid, as Falco's user fields are.
	b.u64("user.uid", func(e *Event, _ field.Arg) (uint64, bool) { return uint64(e.Raw.EUID), true })
	b.str("user.name", func(e *Event, _ field.Arg) (string, bool) {
		u, ok := users(e).User(e.Raw.EUID)
		return u.Name, ok
	})
	b.str("user.homedir", func(e *Event, _ field.Arg) (string, bool) {
		u, ok := users(e).User(e.Raw.EUID)
		return u.Home, ok
	})
	b.str("user.shell", func(e *Event, _ field.Arg) (string, bool) {
		u, ok := users(e).User(e.Raw.EUID)
		return u.Shell, ok
	})
	b.i64("user.loginuid", func(e *Event, _ field.Arg) (int64, bool) { return int64(int32(e.Raw.LoginUID)), true })
	b.str("user.loginname", func(e *Event, _ field.Arg) (string, bool) {
		if e.Raw.LoginUID == ^uint32(0) {
			return "", false
		}
		u, ok := users(e).User(e.Raw.LoginUID)
		return u.Name, ok
	})
	b.u64("group.gid", func(e *Event, _ field.Arg) (uint64, bool) { return uint64(e.Raw.EGID), true })
	b.str("group.name", func(e *Event, _ field.Arg) (string, bool) { return users(e).Group(e.Raw.EGID) })

	fdStr := func(name string, get func(*state.FD) (string, bool)) {
		b.str(name, func(e *Event, _ field.Arg) (string, bool) {
			if e.FD == nil {
				return "", false
			}
			return get(e.FD)
		})
	}
	b.i64("fd.num", func(e *Event, _ field.Arg) (int64, bool) {
		if e.FD == nil {
			return 0, false
		}
		return e.FD.Num, true
	})
	fdStr("fd.type", func(f *state.FD) (string, bool) { return f.Type.String(), true })
	fdStr("fd.typechar", func(f *state.FD) (string, bool) { return f.Type.Char(), true })
	fdStr("fd.name", func(f *state.FD) (string, bool) { return f.Name, f.Name != "" })
	fdStr("fd.directory", func(f *state.FD) (string, bool) { return f.Directory, f.Directory != "" })
	fdStr("fd.filename", func(f *state.FD) (string, bool) { return f.Filename, f.Filename != "" })
	b.str("fd.nameraw", func(e *Event, _ field.Arg) (string, bool) {
		if e.FD == nil {
			return "", false
		}
		if e.RawPath != "" && (e.FD.Type == state.FDFile || e.FD.Type == state.FDDirectory) {
			return e.RawPath, true
		}
		return e.FD.Name, e.FD.Name != ""
	})
	isIP := func(f *state.FD) bool { return f.Type == state.FDIPv4 || f.Type == state.FDIPv6 }
	ipOf := func(get func(*state.FD) state.Endpoint) func(*Event) (netip.Addr, bool) {
		return func(e *Event) (netip.Addr, bool) {
			if e.FD == nil || !isIP(e.FD) {
				return netip.Addr{}, false
			}
			ip := get(e.FD).IP
			return ip, ip.IsValid()
		}
	}
	portOf := func(get func(*state.FD) state.Endpoint) func(*Event, field.Arg) (uint64, bool) {
		return func(e *Event, _ field.Arg) (uint64, bool) {
			if e.FD == nil || !isIP(e.FD) {
				return 0, false
			}
			ep := get(e.FD)
			return uint64(ep.Port), ep.IP.IsValid() || ep.Port != 0
		}
	}
	client := func(f *state.FD) state.Endpoint { return f.Client() }
	server := func(f *state.FD) state.Endpoint { return f.ServerEnd() }
	local := func(f *state.FD) state.Endpoint { return f.Local }
	remote := func(f *state.FD) state.Endpoint { return f.Remote }
	for _, x := range []struct {
		p   string
		get func(*state.FD) state.Endpoint
	}{{"c", client}, {"s", server}, {"l", local}, {"r", remote}} {
		b.ip("fd."+x.p+"ip", ipOf(x.get))
		b.u64("fd."+x.p+"port", portOf(x.get))
		get := ipOf(x.get)
		b.bind("fd."+x.p+"net", field.Extractor{IP: func(ev field.Event, _ field.Arg) (netip.Addr, int, bool) {
			e, ok := ev.(*Event)
			if !ok {
				return netip.Addr{}, -1, false
			}
			ip, ok := get(e)
			return ip, -1, ok
		}})
	}
	// fd.ip and fd.net match either end in Falco; one value can only be
	// one end, so they give the remote one: the peer of a connect or an
	// accept, which is what the outbound/inbound macros compare.
	b.ip("fd.ip", ipOf(remote))
	// fd.port likewise: the server port, which port lists name (53, 443).
	b.u64("fd.port", portOf(server))
	b.bind("fd.net", field.Extractor{IP: func(ev field.Event, _ field.Arg) (netip.Addr, int, bool) {
		e, ok := ev.(*Event)
		if !ok {
			return netip.Addr{}, -1, false
		}
		ip, ok := ipOf(remote)(e)
		return ip, -1, ok
	}})
	fdStr("fd.l4proto", func(f *state.FD) (string, bool) {
		if !isIP(f) {
			return "", false
		}
		return f.L4.String(), true
	})
	fdStr("fd.sockfamily", func(f *state.FD) (string, bool) {
		switch {
		case isIP(f):
			return "ip", true
		case f.Type == state.FDUnix:
			return "unix", true
		}
		return "", false
	})
	b.boolean("fd.is_server", func(e *Event, _ field.Arg) (bool, bool) {
		if e.FD == nil || !e.FD.Type.IsSocket() {
			return false, false
		}
		return e.FD.Server, true
	})
	b.boolean("fd.connected", func(e *Event, _ field.Arg) (bool, bool) {
		if e.FD == nil || !e.FD.Type.IsSocket() {
			return false, false
		}
		return e.FD.Connected, true
	})
	b.boolean("fd.name_changed", func(e *Event, _ field.Arg) (bool, bool) { return e.nameChanged, true })
	b.str("fd.containername", func(e *Event, _ field.Arg) (string, bool) {
		if e.FD == nil {
			return "", false
		}
		return e.Proc.ContainerID + ":" + e.FD.Name, true
	})
	b.str("fd.containerdirectory", func(e *Event, _ field.Arg) (string, bool) {
		if e.FD == nil || e.FD.Directory == "" {
			return "", false
		}
		return e.Proc.ContainerID + ":" + e.FD.Directory, true
	})
	fdU := func(name string, get func(*state.FD) (uint64, bool)) {
		b.u64(name, func(e *Event, _ field.Arg) (uint64, bool) {
			if e.FD == nil {
				return 0, false
			}
			return get(e.FD)
		})
	}
	fdU("fd.dev", func(f *state.FD) (uint64, bool) { return uint64(f.Dev), f.Dev != 0 })
	fdU("fd.dev.major", func(f *state.FD) (uint64, bool) { return uint64(f.Dev&0xfff00) >> 8, f.Dev != 0 })
	fdU("fd.dev.minor", func(f *state.FD) (uint64, bool) {
		return uint64(f.Dev&0xff | (f.Dev>>12)&0xfff00), f.Dev != 0
	})
	b.i64("fd.ino", func(e *Event, _ field.Arg) (int64, bool) {
		if e.FD == nil || e.FD.Ino == 0 {
			return 0, false
		}
		return int64(e.FD.Ino), true
	})
	// fd.types: the types of the process's fds, each once; fd.types[N]
	// the type of fd N.
	b.bind("fd.types", field.Extractor{Strings: func(x field.Event, a field.Arg, dst []string) ([]string, bool) {
		e, ok := x.(*Event)
		if !ok {
			return dst, false
		}
		if a.Set {
			if f := e.Proc.FD(int64(a.Index)); f != nil {
				return append(dst, f.Type.String()), true
			}
			return dst, false
		}
		var seen [32]bool
		for _, f := range e.Proc.FDs {
			if int(f.Type) < len(seen) && !seen[f.Type] {
				seen[f.Type] = true
				dst = append(dst, f.Type.String())
			}
		}
		sort.Strings(dst)
		return dst, len(dst) > 0
	}})

	// fs.path.*: the path a filesystem syscall acts on; source and target
	// for the two-path ones (rename, link, symlink, mount).
	twoPaths := func(e *Event) bool { return e.Path2 != "" }
	b.str("fs.path.name", func(e *Event, _ field.Arg) (string, bool) {
		if twoPaths(e) || e.Path == "" || e.kind == kindExecve {
			return "", false
		}
		return e.Path, true
	})
	b.str("fs.path.nameraw", func(e *Event, _ field.Arg) (string, bool) {
		if twoPaths(e) || e.RawPath == "" || e.kind == kindExecve {
			return "", false
		}
		return e.RawPath, true
	})
	b.str("fs.path.source", func(e *Event, _ field.Arg) (string, bool) { return e.Path, twoPaths(e) && e.Path != "" })
	b.str("fs.path.sourceraw", func(e *Event, _ field.Arg) (string, bool) { return e.RawPath, twoPaths(e) && e.RawPath != "" })
	b.str("fs.path.target", func(e *Event, _ field.Arg) (string, bool) { return e.Path2, twoPaths(e) })
	b.str("fs.path.targetraw", func(e *Event, _ field.Arg) (string, bool) { return e.RawPath2, twoPaths(e) && e.RawPath2 != "" })

	b.str("container.id", func(e *Event, _ field.Arg) (string, bool) { return e.Proc.ContainerID, true })
	b.str("container.full_id", func(e *Event, _ field.Arg) (string, bool) {
		if e.Proc.ContainerFullID == "" {
			return state.HostContainerID, true
		}
		return e.Proc.ContainerFullID, true
	})
	b.str("container.name", func(e *Event, _ field.Arg) (string, bool) {
		if e.Proc.ContainerFullID == "" {
			return state.HostContainerID, true
		}
		return e.Proc.ContainerName, e.Proc.ContainerName != ""
	})
	b.str("container.type", func(e *Event, _ field.Arg) (string, bool) {
		return e.Proc.ContainerRuntime, e.Proc.ContainerRuntime != ""
	})
}
