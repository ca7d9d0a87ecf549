package sysevent

import (
	"testing"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/state"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// benchSetup returns a processor whose table has a bash -> cat chain and
// the open/close pair the loop replays.
func benchSetup(b *testing.B) (*field.Source, *Processor, *bpf.Event, *bpf.Event) {
	src := NewSource()
	p := NewProcessor(src, state.New(state.Options{ProcRoot: b.TempDir()}))
	p.Handle(&bpf.Event{Kind: bpf.KindExec, Syscall: bpf.SysExecve, PID: 100, TID: 100, PPID: 1,
		Comm: "bash", Args: []string{"bash"}, Exe: "/usr/bin/bash", Cwd: "/root"})
	p.Handle(&bpf.Event{Kind: bpf.KindFork, PID: 100, TID: 100, ChildPID: 101, ChildTID: 101})
	p.Handle(&bpf.Event{Kind: bpf.KindExec, Syscall: bpf.SysExecve, PID: 101, TID: 101, PPID: 100,
		Comm: "cat", Args: []string{"cat", "/etc/shadow"}, Exe: "/usr/bin/cat", Cwd: "/root"})
	open := sys(101, bpf.SysOpenat, 3)
	open.Dirfd, open.Path, open.Flags = -100, "/etc/shadow", 0o2000000
	cl := sys(101, bpf.SysClose, 0)
	cl.Fd = 3
	return src, p, open, cl
}

// BenchmarkHandleOpenClose is the open/close-heavy path: state updates plus
// the fields a typical rule set reads per event.
func BenchmarkHandleOpenClose(b *testing.B) {
	src, p, open, cl := benchSetup(b)
	refs := []string{"evt.type", "fd.name", "proc.name", "proc.pname", "evt.is_open_read", "user.name",
		"container.id", "fd.directory", "proc.aname[2]", "evt.arg.flags"}
	type fa struct {
		f *field.Field
		a field.Arg
	}
	var fs []fa
	for _, r := range refs {
		f, a, err := src.Ref(r)
		if err != nil {
			b.Fatal(err)
		}
		fs = append(fs, fa{f, a})
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range []*bpf.Event{open, cl} {
			ev := p.Handle(raw)
			for _, x := range fs {
				buf, _ = x.f.AppendValue(buf[:0], ev, x.a)
			}
		}
	}
}

// BenchmarkExtractAll reads every bound field of one open event: what an
// alert's output costs at most.
func BenchmarkExtractAll(b *testing.B) {
	src, p, open, _ := benchSetup(b)
	ev := p.Handle(open)
	var fs []*field.Field
	for _, f := range src.Fields() {
		if f.Bound() && !f.ArgReq {
			fs = append(fs, f)
		}
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range fs {
			buf, _ = f.AppendValue(buf[:0], ev, field.Arg{})
		}
	}
}

// BenchmarkForkExecExit is the exec-heavy path: a shell forks a child that
// execs a program with arguments and exits, with a few fields read on the
// exec as a spawned_process rule would.
func BenchmarkForkExecExit(b *testing.B) {
	src, p, _, _ := benchSetup(b)
	refs := []string{"evt.type", "proc.name", "proc.cmdline", "proc.pname", "proc.aname[2]", "user.name", "container.id"}
	type fa struct {
		f *field.Field
		a field.Arg
	}
	var fs []fa
	for _, r := range refs {
		f, a, err := src.Ref(r)
		if err != nil {
			b.Fatal(err)
		}
		fs = append(fs, fa{f, a})
	}
	fork := &bpf.Event{Kind: bpf.KindFork, PID: 100, TID: 100, ChildPID: 200, ChildTID: 200, StartTime: 1}
	exec := &bpf.Event{Kind: bpf.KindExec, Syscall: bpf.SysExecve, PID: 200, TID: 200, PPID: 100, StartTime: 1,
		Comm: "grep", Args: []string{"grep", "-r", "pattern", "/etc"}, Exe: "/usr/bin/grep", Cwd: "/root"}
	exit := &bpf.Event{Kind: bpf.KindExit, PID: 200, TID: 200, PPID: 100, GroupDead: true}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		p.Handle(fork)
		ev := p.Handle(exec)
		for _, x := range fs {
			buf, _ = x.f.AppendValue(buf[:0], ev, x.a)
		}
		p.Handle(exit)
	}
}
