// Package sysevent turns kernel events (bpf.Event) into the events of
// Falco's syscall source: it keeps the process and fd state (package state)
// in step with the events, in Falco's order, and binds the extractors of the
// syscall field catalog (field.Syscall) to that state.
//
// The daemon's loop:
//
//	src := sysevent.NewSource()                 // the catalog, bound
//	tbl := state.New(state.Options{})
//	capture, _ := bpf.Load(bpf.Config{Syscalls: ruleset.EventTypes("syscall"), ExcludePID: os.Getpid()})
//	tbl.Seed()                                  // after Load: no gap
//	proc := sysevent.NewProcessor(src, tbl)
//	for capture.Read(&raw) == nil {
//		if ev := proc.Handle(&raw); ev != nil {
//			ruleset.Process(ev, ...)            // ev is valid until the next Handle
//		}
//		// every ~10 s, on this goroutine: proc.Prune()
//	}
//
// bpf.Load adds bpf.StateSyscalls unless told not to; without them fd and
// cwd state is not kept. proc.Stats() may be called from any goroutine.
// Unpopulated(src) lists the catalog fields nothing binds (<NA> always).
//
// Recordings: write tbl.Snapshot(w) before the first recorded event (on the
// loop goroutine, or before the loop starts), then the bpf.Events. To
// replay: tbl := state.New(state.Options{ProcRoot: "/nonexistent"}) (so the
// live /proc is never consulted), tbl.FromSnapshot(r), NewProcessor(src,
// tbl), then Handle each recorded event in order.
//
// Semantics to know:
//   - Every event is a completed syscall, captured at its exit with its
//     arguments: evt.dir is "<", and the enter parameters are available too.
//   - An exec updates the process before its event is returned; close and
//     exit remove their fd/process, but the returned Event still points to it.
//   - proc.aname, proc.aexe, proc.aexepath, proc.acmdline without an index
//     give the parent through the String extractor; their Strings extractor
//     lists every ancestor, for Falco's "matches any ancestor" form.
//   - fd.ip and fd.net give the remote end, fd.port the server port (Falco
//     matches either end; one value can only be one).
//   - proc.env, proc.aenv and proc.exe_ino.* are read from /proc when first
//     asked for: a process that has already exited has none.
package sysevent

import (
	"sync/atomic"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/state"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// Event is one syscall-source event as the rules see it: the kernel record
// and the state it refers to at that moment. Extractors read it; it is
// reused by the Processor, so it is valid until the next Handle.
type Event struct {
	Raw  *bpf.Event
	Proc *state.Process // the process; never nil after Handle
	// FD is the fd the syscall acts on or returns (open, socket, accept,
	// connect, dup's new fd, close's closed fd); nil if none or unknown.
	FD *state.FD

	// Resolved absolute paths: Path is fs.path.name / evt.abspath (for a
	// two-path syscall, the source); Path2 the target. RawPath/RawPath2 are
	// as the process gave them.
	Path, Path2       string
	RawPath, RawPath2 string

	Num         uint64 // evt.num: 1 for the first event handled
	nameChanged bool   // the event changed its fd's name (fd.name_changed)
	typ         int
	name        string // Falco's event type name
	kind        eventKind
	p           *Processor
}

// EventType implements field.Event.
func (e *Event) EventType() int { return e.typ }

// TypeName is Falco's event type name (evt.type).
func (e *Event) TypeName() string { return e.name }

// eventKind is the Falco event an Event stands for, for argument names.
type eventKind uint8

const (
	kindSyscall eventKind = iota
	kindExecve            // successful exec
	kindClone             // fork (parent side)
	kindProcexit
)

// Processor keeps the state in step with the events and produces the
// Events to evaluate. Not safe for concurrent use; Stats is.
type Processor struct {
	src   *field.Source
	table *state.Table
	ev    Event
	num   uint64
	start uint64 // time of the first event, for evt.reltime
	prev  uint64 // time of the previous event, for evt.deltatime

	typeIDs  [256]int // by bpf.Syscall
	procexit int
	counts   [256 + 3]atomic.Uint64 // by bpf.Syscall; then clone, procexit, execve
	names    [256]string
}

// NewProcessor returns a processor for events of src (from NewSource) over
// table (seeded with Seed or FromSnapshot).
func NewProcessor(src *field.Source, table *state.Table) *Processor {
	p := &Processor{src: src, table: table}
	for i := range p.typeIDs {
		n := bpf.Syscall(i).String()
		p.names[i] = n
		if n != "" {
			p.typeIDs[i] = src.EventType(n)
		} else {
			p.typeIDs[i] = -1
		}
	}
	p.procexit = src.EventType("procexit")
	p.ev.p = p
	return p
}

// Prune drops processes whose exit event never came (dropped by a full
// ring), so the table stays bounded; see state.Table.Prune. Call it every
// few seconds from the goroutine that calls Handle (the table is not safe
// for concurrent use).
func (p *Processor) Prune() int { return p.table.Prune() }

// Table returns the processor's state.
func (p *Processor) Table() *state.Table { return p.table }

// Stats are the processor's counters for the daemon.
type Stats struct {
	Events    uint64            // events handled
	ByType    map[string]uint64 // by Falco event type name
	Processes int               // process table entries now
	FDs       int               // fd entries now, all processes
	Loaded    uint64            // processes read from /proc on demand
}

// Stats returns the counters; safe from any goroutine.
func (p *Processor) Stats() Stats {
	s := Stats{ByType: map[string]uint64{}}
	for i := range p.names {
		if n := p.counts[i].Load(); n > 0 {
			name := p.names[i]
			if name == "" {
				name = "unknown"
			}
			s.ByType[name] += n
			s.Events += n
		}
	}
	for i, name := range []string{"clone", "procexit"} {
		if n := p.counts[256+i].Load(); n > 0 {
			s.ByType[name] += n
			s.Events += n
		}
	}
	ts := p.table.Stats()
	s.Processes, s.FDs, s.Loaded = ts.Processes, ts.FDs, ts.Loaded
	return s
}

// Handle applies raw to the state and returns the event to evaluate, or
// nil for a record the rules never see. State changes that the event
// causes are applied before it is returned (an exec's new program, an
// open's new fd), except that what an event removes (close's fd, an exit's
// process) is still what the returned Event points to.
func (p *Processor) Handle(raw *bpf.Event) *Event {
	p.num++
	e := &p.ev
	*e = Event{Raw: raw, Num: p.num, p: p}
	if p.start == 0 {
		p.start = raw.Time
	}
	sc := int(raw.Syscall) & 0xff
	switch raw.Kind {
	case bpf.KindExec:
		p.exec(e, raw)
		e.kind = kindExecve
		if raw.Syscall != bpf.SysExecveat {
			sc = int(bpf.SysExecve)
		}
		p.counts[sc].Add(1)
		e.typ, e.name = p.typeIDs[sc], p.names[sc]
	case bpf.KindFork:
		parent := p.process(raw)
		p.table.Fork(raw.PID, raw.ChildPID, raw.StartTime)
		e.Proc = parent
		e.kind = kindClone
		if raw.Syscall == bpf.SysUnknown {
			sc = int(bpf.SysClone)
		}
		p.counts[256].Add(1)
		e.typ, e.name = p.typeIDs[sc], p.names[sc]
		if raw.ChildPID == raw.PID {
			return nil // a new thread: nothing changes that rules see
		}
	case bpf.KindExit:
		e.Proc = p.process(raw)
		e.kind = kindProcexit
		p.counts[257].Add(1)
		e.typ, e.name = p.procexit, "procexit"
		p.table.Exit(raw.PID, raw.GroupDead)
	default:
		e.Proc = p.process(raw)
		p.counts[sc].Add(1)
		e.typ, e.name = p.typeIDs[sc], p.names[sc]
		if e.typ < 0 {
			return nil
		}
		p.syscall(e, raw)
	}
	p.prev = raw.Time
	return e
}

// process finds the event's process, reading /proc for one the table does
// not know, or building it from the event if /proc has it no more. The
// credentials and parent are refreshed from the event: the kernel's view
// at the time of the event (after setuid, after reparenting).
func (p *Processor) process(raw *bpf.Event) *state.Process {
	pr := p.table.Lookup(raw.PID)
	if pr == nil {
		pr = &state.Process{PID: raw.PID, PPID: raw.PPID, VPID: raw.VPID, Comm: raw.Comm,
			Exe: raw.Comm, LoginUID: raw.LoginUID, ContainerID: state.HostContainerID}
		pr.Cmdline, pr.ExeLine = raw.Comm, raw.Comm
		p.table.Put(pr)
	}
	if raw.PPID != 0 {
		pr.PPID = raw.PPID
	}
	if raw.VPID != 0 {
		pr.VPID = raw.VPID
	}
	pr.UID, pr.GID, pr.EUID, pr.EGID, pr.LoginUID = raw.UID, raw.GID, raw.EUID, raw.EGID, raw.LoginUID
	return pr
}

func (p *Processor) exec(e *Event, raw *bpf.Event) {
	info := state.ExecInfo{
		PID: raw.PID, PPID: raw.PPID, VPID: raw.VPID, Comm: raw.Comm, Argv: raw.Args,
		ExePath: raw.Exe, Cwd: raw.Cwd,
		UID: raw.UID, GID: raw.GID, EUID: raw.EUID, EGID: raw.EGID, LoginUID: raw.LoginUID,
		TTY: encodeDev(raw.TTY), SID: raw.SID, PGID: raw.PGID, StartTime: raw.StartTime,
		CapInheritable: raw.CapInheritable, CapPermitted: raw.CapPermitted, CapEffective: raw.CapEffective,
		ExeFromMemfd: raw.ExeFromMemfd, ExeUpperLayer: raw.ExeUpperLayer, ExeIno: raw.ExeIno,
		Cgroup: raw.Cgroup,
	}
	// The decoder reuses the Args slice's array for the next event: the
	// state keeps its own copy.
	info.Argv = append([]string(nil), raw.Args...)
	e.Proc = p.table.Exec(&info)
	e.RawPath = raw.Path
	if raw.Path != "" {
		e.Path = state.JoinPath(state.Dir(e.Proc, dirfdOr(raw.Dirfd)), raw.Path)
	}
}

// encodeDev converts the kernel's internal dev_t (major<<20 | minor) to
// the userspace encoding /proc/<pid>/stat and Falco use (new_encode_dev).
func encodeDev(dev uint32) uint32 {
	major, minor := dev>>20, dev&0xfffff
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}

// dirfdOr maps an unused dirfd slot (-1) to AT_FDCWD.
func dirfdOr(fd int64) int64 {
	if fd == -1 {
		return atFDCWD
	}
	return fd
}

const atFDCWD = -100
