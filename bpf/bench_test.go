package bpf

import (
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/nightjar-sec/nightjar/bpf/workload"
)

// These benchmarks run each loop without and with the capture attached in
// the same run (sub-benchmarks off and on). Wall time (ns/op) is noisy on a
// shared machine, so they also report CPU time, which waiting for a CPU
// does not inflate: cpu-ns/op of the looping thread (open/close) or of the
// exec'd children (exec). The "on" runs have the kernel's BPF run-time
// statistics off, as in production: turning them on adds two clock reads
// to every program run (about 100 ns per syscall on this VM). A separate
// "kernel-time" run turns them on to report bpf-ns/op, the programs' own
// run time per loop iteration.

// drained is a capture with a goroutine that reads and decodes every record,
// as the detector would (without rules).
type drained struct {
	c     *Capture
	stats interface{ Close() error } // nil when BPF stats are off
	done  chan struct{}
}

func startDrained(b *testing.B, syscalls []string) *drained {
	return startDrainedConfig(b, Config{Syscalls: syscalls}, false)
}

func startDrainedConfig(b *testing.B, cfg Config, withStats bool) *drained {
	b.Helper()
	d := &drained{done: make(chan struct{})}
	if withStats {
		st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			b.Fatalf("enable BPF stats: %v", err)
		}
		d.stats = st
	}
	c, err := Load(cfg)
	if err != nil {
		if d.stats != nil {
			d.stats.Close()
		}
		b.Fatal(err)
	}
	d.c = c
	go func() {
		defer close(d.done)
		var ev Event
		for {
			if err := c.Read(&ev); err != nil {
				if !errors.Is(err, ErrClosed) {
					b.Error(err)
				}
				return
			}
		}
	}()
	return d
}

// stop waits for the ring to drain, closes the capture and returns its
// counters.
func (d *drained) stop(b *testing.B) Stats {
	b.Helper()
	for i := 0; i < 200 && d.c.Pending() > 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	st, err := d.c.Stats()
	if err != nil {
		b.Fatal(err)
	}
	d.c.Close()
	if d.stats != nil {
		d.stats.Close()
	}
	<-d.done
	// Let the kernel tear the programs down (RCU grace periods, deferred
	// frees) before the next loop is timed.
	time.Sleep(time.Second)
	return st
}

// bpfTime is the programs' accumulated run time, for bpf-ns/op.
func (d *drained) bpfTime(b *testing.B) time.Duration {
	rt, _, err := d.c.ProgramRuntime()
	if err != nil {
		b.Fatal(err)
	}
	return rt
}

func rusage(who int) time.Duration {
	var ru unix.Rusage
	unix.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSyscalls is a rule set's worth of syscalls: everything supported.
var benchSyscalls = SupportedSyscalls()

func execLoop(d *drained) func(b *testing.B) {
	return func(b *testing.B) {
		cpu0 := rusage(unix.RUSAGE_CHILDREN)
		var bpf0 time.Duration
		if d != nil && d.stats != nil {
			bpf0 = d.bpfTime(b)
		}
		b.ResetTimer()
		if err := workload.Exec(b.N, 2, "/bin/true"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(rusage(unix.RUSAGE_CHILDREN)-cpu0)/float64(b.N), "child-cpu-ns/op")
		if d != nil && d.stats != nil {
			b.ReportMetric(float64(d.bpfTime(b)-bpf0)/float64(b.N), "bpf-ns/op")
		}
	}
}

// BenchmarkExec times an exec-heavy loop (/bin/true, 2 spawners).
func BenchmarkExec(b *testing.B) {
	b.Run("off", execLoop(nil))
	d := startDrained(b, benchSyscalls)
	b.Run("on", execLoop(d))
	st := d.stop(b)
	if st.DroppedRingFull > 0 {
		b.Errorf("%d records dropped", st.DroppedRingFull)
	}
	d = startDrainedConfig(b, Config{Syscalls: benchSyscalls}, true)
	b.Run("kernel-time", execLoop(d))
	d.stop(b)
}

func openLoop(d *drained) func(b *testing.B) {
	return func(b *testing.B) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu0 := rusage(unix.RUSAGE_THREAD)
		var bpf0 time.Duration
		if d != nil && d.stats != nil {
			bpf0 = d.bpfTime(b)
		}
		b.ResetTimer()
		if err := workload.OpenClose(b.N, "/etc/hostname"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(rusage(unix.RUSAGE_THREAD)-cpu0)/float64(b.N), "cpu-ns/op")
		if d != nil && d.stats != nil {
			b.ReportMetric(float64(d.bpfTime(b)-bpf0)/float64(b.N), "bpf-ns/op")
		}
	}
}

// benchOpenFilter is a filter in the shape the detector derives from rules
// on sensitive files: the loop's /etc/hostname is not among them, so its
// opens stay in the kernel ("on-filtered", with close untraced as the
// detector runs it with the filter on).
var benchOpenFilter = &OpenFilter{
	Any: OpenWrites &^ OpenReadWrite,
	Paths: []OpenPath{
		{Path: "/etc/shadow", Match: PathExact, Classes: OpenReads},
		{Path: "/etc/sudoers", Match: PathExact, Classes: OpenReads},
		{Path: "/etc/sudoers.d", Match: PathDir, Classes: OpenReads},
		{Path: "/etc/pam.d", Match: PathDir, Classes: OpenReads},
		{Path: "/root/.ssh", Match: PathPrefix, Classes: OpenAll},
		{Path: "/dev", Match: PathDir, Classes: OpenWrites},
		{Path: "/etc/", Match: PathPrefix, Classes: OpenWrites},
	},
}

// withoutClose is names less close.
func withoutClose(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "close" })
}

// BenchmarkOpenClose times an open/close loop on one thread.
func BenchmarkOpenClose(b *testing.B) {
	b.Run("off", openLoop(nil))
	d := startDrained(b, benchSyscalls)
	b.Run("on", openLoop(d))
	d.stop(b)
	d = startDrainedConfig(b, Config{Syscalls: withoutClose(benchSyscalls), OpenFilter: benchOpenFilter, StateWithoutClose: true}, false)
	b.Run("on-filtered", openLoop(d))
	d.stop(b)
	d = startDrainedConfig(b, Config{Syscalls: benchSyscalls, EnterPrograms: true}, false)
	b.Run("on-paired", openLoop(d))
	d.stop(b)
	d = startDrainedConfig(b, Config{Syscalls: benchSyscalls}, true)
	b.Run("kernel-time", openLoop(d))
	d.stop(b)
}

// toggleExecs and toggleOpens are the loops' lengths per window of the
// toggle benchmarks: about a third of a second of exec'ing and a tenth of
// opening here, short enough that the machine's drift (other tenants, host
// frequency) barely moves between two windows.
const (
	toggleExecs = 100
	toggleOpens = 25000
)

// toggle measures the capture's cost to a loop more precisely than the
// off/on sub-benchmarks: the programs are loaded once and detached ("off")
// and re-attached ("on") between short windows, in ABBA order, b.N rounds
// (use -benchtime 30x). Loading a capture per window would disturb the
// machine (the verifier, the kernel freeing it all) more than the capture
// itself costs. It reports the median and the total of the rounds' on/off
// CPU ratios, and the off side's CPU per iteration. The configuration is
// the detector's with the open filter (close untraced), with every
// supported syscall attached: a superset of what rules ask.
func toggle(b *testing.B, n int, unit string, window func() time.Duration) {
	d := startDrainedConfig(b, Config{Syscalls: withoutClose(benchSyscalls), OpenFilter: benchOpenFilter,
		StateWithoutClose: true}, false)
	attached := true
	run := func(on bool) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			var err error
			switch {
			case on && !attached:
				err = d.c.attach()
			case !on && attached:
				err = d.c.Detach()
			}
			if err != nil {
				return 0, err
			}
			attached = on
			time.Sleep(200 * time.Millisecond) // let the detach/attach work settle
			return window(), nil
		}
	}
	c, err := workload.ABBA(b.N, run(false), run(true))
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if st := d.stop(b); st.DroppedRingFull > 0 {
		b.Errorf("%d records dropped", st.DroppedRingFull)
	}
	b.ReportMetric(c.Median, "median-on/off")
	b.ReportMetric(c.Total, "total-on/off")
	b.ReportMetric(float64(c.SumA)/float64(b.N*n), unit)
}

// BenchmarkExecToggle is toggle for the exec loop (the children's CPU).
func BenchmarkExecToggle(b *testing.B) {
	toggle(b, toggleExecs, "off-child-cpu-ns/exec", func() time.Duration {
		c0 := rusage(unix.RUSAGE_CHILDREN)
		if err := workload.Exec(toggleExecs, 2, "/bin/true"); err != nil {
			b.Fatal(err)
		}
		return rusage(unix.RUSAGE_CHILDREN) - c0
	})
}

// BenchmarkOpenCloseToggle is toggle for the open/close loop (the looping
// thread's CPU), whose /etc/hostname the open filter keeps in the kernel.
func BenchmarkOpenCloseToggle(b *testing.B) {
	toggle(b, toggleOpens, "off-cpu-ns/op", func() time.Duration {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		c0 := rusage(unix.RUSAGE_THREAD)
		if err := workload.OpenClose(toggleOpens, "/etc/hostname"); err != nil {
			b.Fatal(err)
		}
		return rusage(unix.RUSAGE_THREAD) - c0
	})
}

// BenchmarkExecRate execs as fast as this machine can (4 spawners) with the
// capture attached and reports the rate and the drops (the target is 0).
func BenchmarkExecRate(b *testing.B) {
	d := startDrained(b, benchSyscalls)
	start := time.Now()
	if err := workload.Exec(b.N, 4, "/bin/true"); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	st := d.stop(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "execs/s")
	b.ReportMetric(float64(st.DroppedRingFull), "drops")
}

// BenchmarkDecode decodes one openat record (header and a 20-byte path)
// into a reused Event: the user-space cost per event before any rule.
func BenchmarkDecode(b *testing.B) {
	var h captureRecord
	h.Kind = uint16(KindSyscall)
	h.Sys = uint16(SysOpenat)
	copy(h.Comm[:], []int8{'c', 'a', 't'})
	path := "/etc/nightjar/x.yaml\x00"
	h.StrLen[slotPath] = uint16(len(path) - 1)
	h.DataLen = uint32(len(path))
	raw := append(append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&h)), hdrSize)...), path...)
	c := &Capture{}
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		if err := c.decode(raw, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
