package detector

import (
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/state"
	"github.com/nightjar-sec/nightjar/detector/sysevent"
	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/builtin"
)

// The detector's user-space pipeline per event: state processor, then the
// default rules, on a mix of the common syscalls of a busy host (opens of
// ordinary files, closes, connects, execs) that raise no alert.
func BenchmarkPipelineDefaultRules(b *testing.B) {
	src := sysevent.NewSource()
	l := rules.NewLoader(src)
	l.Load(builtin.RulesName, builtin.Rules)
	rs, err := l.Compile(rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	sys := rs.Source("syscall")
	tbl := state.New(state.Options{ProcRoot: b.TempDir()}) // no /proc reads
	proc := sysevent.NewProcessor(src, tbl)
	base := bpf.Event{PID: 4242, TID: 4242, PPID: 1, UID: 1000, EUID: 1000, GID: 1000, EGID: 1000, LoginUID: 1000,
		Comm: "worker", Fd: -1, Fd2: -1, Dirfd: -1, Dirfd2: -1}
	exec := base
	exec.Kind, exec.Syscall, exec.Args, exec.Exe, exec.Cwd, exec.Cgroup = bpf.KindExec, bpf.SysExecve,
		[]string{"/usr/bin/worker", "--serve"}, "/usr/bin/worker", "/srv", "/system.slice/worker.service"
	open := base
	open.Kind, open.Syscall, open.Dirfd, open.Path, open.Ret = bpf.KindSyscall, bpf.SysOpenat, -100, "/usr/lib/x86_64-linux-gnu/libc.so.6", 3
	closeEv := base
	closeEv.Kind, closeEv.Syscall, closeEv.Fd = bpf.KindSyscall, bpf.SysClose, 3
	conn := base
	conn.Kind, conn.Syscall, conn.Fd, conn.Ret = bpf.KindSyscall, bpf.SysConnect, 3, 0
	conn.Addr = bpf.SockAddr{Family: bpf.AFInet, Port: 5432}
	mix := []bpf.Event{exec, open, closeEv, open, closeEv, open, closeEv, conn, closeEv}
	alerts := 0
	emit := func(*rules.Rule) { alerts++ }
	var raw bpf.Event
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		raw = mix[i%len(mix)]
		raw.Time = uint64(i)
		if ev := proc.Handle(&raw); ev != nil {
			sys.Process(ev, emit)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	if alerts != 0 {
		b.Fatalf("%d alerts on ordinary events", alerts)
	}
}
