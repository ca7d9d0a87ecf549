package bpf

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("bpf: capture closed")

// Config says what to capture.
type Config struct {
	// RingSize is the ring buffer's size in bytes: a power of two and a
	// multiple of the page size; 0 means DefaultRingSize.
	RingSize int
	// Syscalls are the Falco event type names to attach (see
	// SupportedSyscalls); unknown names are an error.
	Syscalls []string
	// NoStateSyscalls leaves out StateSyscalls (attach exactly Syscalls).
	NoStateSyscalls bool
	// ExcludePID is a thread group id whose events the kernel drops (the
	// detector's own process); 0 excludes nothing.
	ExcludePID int
	// FlushInterval bounds how long a record can wait in the ring: the
	// kernel wakes the reader only once WakeupBytes are waiting (a wakeup
	// per record would cost a context switch per event), and the reader
	// also looks at this interval. 0 means 20ms.
	FlushInterval time.Duration
	// WakeupBytes is how many bytes must wait in the ring before the kernel
	// wakes the reader; 0 means RingSize/16 capped at 256 KiB.
	WakeupBytes int
	// EnterPrograms pairs each syscall's exit program with an enter program
	// that stores the arguments per thread. By default (false) the exit
	// program reads them from the task's saved user registers instead: one
	// tracepoint hit per syscall instead of two and no per-thread hash map,
	// which halves the kernel time per syscall here. What that changes: a
	// tracer that rewrites a tracee's argument registers during the syscall
	// (PTRACE_SETREGS at the entry stop) is reported with the arguments the
	// kernel used, not the ones first passed.
	EnterPrograms bool
	// Env copies the environment into exec events (Event.Env). Off by
	// default: it is most of an exec's kernel time (about 24 of 31 us per
	// exec on the test VM), and the detector reads proc.env from /proc on
	// demand instead.
	Env bool
	// OpenFilter, when set, has the kernel send only the opens that some
	// rule could match; see OpenFilter. nil sends every open.
	OpenFilter *OpenFilter
	// StateWithoutClose leaves close out of StateSyscalls (it is still
	// attached when Syscalls names it). An open+close loop then hits one
	// syscall tracepoint instead of two, which is most of what the capture
	// costs it (0.08-0.09x here). Fd tables then keep the entries of closed
	// fds until their number is reused; the kernel's Event.FileKeys tell a
	// stale entry from a live one (see detector/sysevent). Close events
	// are then not reported, so set it only when no consumer needs them.
	StateWithoutClose bool
}

// DefaultRingSize is the ring buffer size when Config.RingSize is 0.
const DefaultRingSize = 8 << 20

// Stats are the capture's counters since Load. Seen counts every record the
// kernel programs tried to send; Seen = Delivered + DroppedRingFull, where
// Delivered counts what entered the ring (read or still waiting to be read).
type Stats struct {
	Seen            uint64
	Delivered       uint64
	DroppedRingFull uint64
	// Truncated counts strings (paths, argv, names) cut to fit their buffer:
	// the event was still sent, with Event.Truncated set.
	Truncated uint64
	// Filtered counts opens that Config.OpenFilter kept in the kernel: not
	// sent, and not in Seen.
	Filtered uint64
	// Decoded counts records read and decoded in user space, by kind and,
	// for KindSyscall, by syscall name; DecodeErrors counts records that
	// could not be decoded (a bug, never expected).
	Decoded          uint64
	DecodedByKind    map[string]uint64
	DecodedBySyscall map[string]uint64
	DecodeErrors     uint64
}

// Per-CPU counter indexes: enum counter in capture.h.
const (
	cntSeen = iota
	cntDropRingFull
	cntTruncated
	cntFiltered
	cntMax
)

// Capture is a loaded and attached set of programs and the reader of their
// ring buffer. Read (and SetDeadline) from one goroutine; Stats, Detach and
// Close from any: Close ends a waiting Read with ErrClosed.
type Capture struct {
	coll        *ebpf.Collection
	linksMu     sync.Mutex
	links       []link.Link
	rd          *ringbuf.Reader
	rec         ringbuf.Record
	hdr         captureRecord
	comm        string // the last Comm decoded, reused while it repeats
	bootToEpoch int64
	attached    []string
	unavailable []string
	// attaches and enterPrograms say what attach attaches.
	attaches      []attach
	enterPrograms bool

	// Records sent without a wakeup are found by waking up on a deadline
	// every flush interval (an eventfd flush was seen to leave a reader
	// asleep when two captures share a process); userDeadline is the one
	// SetDeadline asked for.
	flush        time.Duration
	userDeadline time.Time

	decoded      [KindExit + 1]atomic.Uint64
	decodedSys   [sysCount]atomic.Uint64
	decodeErrors atomic.Uint64
}

// tracepointName maps a Falco event type to the kernel's syscall
// tracepoint name where the two differ.
func tracepointName(s Syscall) string {
	if s == SysUmount2 {
		return "umount" // umount2(2) is defined as sys_umount
	}
	return s.String()
}

const tracefs = "/sys/kernel/tracing"

// ensureTracefs mounts tracefs when it is not mounted: attaching a
// tracepoint needs its id, which only tracefs gives.
func ensureTracefs() error {
	if _, err := os.Stat(tracefs + "/events"); err == nil {
		return nil
	}
	if err := unix.Mount("nodev", tracefs, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("bpf: mount tracefs on %s: %w", tracefs, err)
	}
	return nil
}

// removeMemlock is rlimit.RemoveMemlock (a variable for tests).
//
// Importing rlimit has a side effect in every nightjar process, not only
// those that load the programs (healthcheck, -V, -L, --version, test): its
// init probes for memory-cgroup accounting of BPF memory (kernels 5.11+) by
// setting the soft RLIMIT_MEMLOCK to 0, creating a one-entry BPF array map
// (one bpf(2) call) and restoring the limit. It must run at init, while the
// process is single-threaded in Go terms, because changing the rlimit is not
// safe later; so it cannot be deferred to Load, and moving the import to
// another package would not help, as every package linked into the binary
// runs its init. It is acceptable: it takes well under a millisecond, the
// limit is restored whatever happens, and a failure (no privilege, a seccomp
// profile that refuses bpf(2), as in an unprivileged healthcheck container)
// is only remembered for RemoveMemlock, which only Load calls; it never
// stops or changes the process otherwise.
var removeMemlock = rlimit.RemoveMemlock

// Load loads the programs, attaches the sched tracepoints and the syscall
// tracepoints for cfg.Syscalls (plus StateSyscalls), and opens the ring
// buffer reader. Syscalls whose tracepoints this kernel lacks (for example
// the module syscalls on a kernel without module support) are skipped and
// listed by Unavailable.
func Load(cfg Config) (*Capture, error) {
	want := make(map[Syscall]bool)
	names := cfg.Syscalls
	if !cfg.NoStateSyscalls {
		names = append([]string(nil), names...)
		for _, n := range StateSyscalls() {
			if n != "close" || !cfg.StateWithoutClose {
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		s, ok := SyscallByName(n)
		if !ok {
			return nil, fmt.Errorf("bpf: unknown syscall %q (see SupportedSyscalls)", n)
		}
		want[s] = true
	}
	ringSize := cfg.RingSize
	if ringSize == 0 {
		ringSize = DefaultRingSize
	}
	page := os.Getpagesize()
	if ringSize < page || ringSize&(ringSize-1) != 0 {
		return nil, fmt.Errorf("bpf: ring size %d is not a power of two of at least the page size %d", ringSize, page)
	}
	if cfg.ExcludePID < 0 {
		return nil, fmt.Errorf("bpf: exclude pid %d is negative", cfg.ExcludePID)
	}
	if err := ensureTracefs(); err != nil {
		return nil, err
	}

	spec, err := loadCapture()
	if err != nil {
		return nil, fmt.Errorf("bpf: read embedded object: %w", err)
	}
	spec.Maps["events"].MaxEntries = uint32(ringSize)
	if err := spec.Variables["exclude_tgid"].Set(uint32(cfg.ExcludePID)); err != nil {
		return nil, fmt.Errorf("bpf: set exclude_tgid: %w", err)
	}
	wakeup := cfg.WakeupBytes
	if wakeup <= 0 {
		wakeup = min(ringSize/16, 256<<10)
	}
	if err := spec.Variables["wakeup_bytes"].Set(uint64(wakeup)); err != nil {
		return nil, fmt.Errorf("bpf: set wakeup_bytes: %w", err)
	}
	if cfg.Env {
		if err := spec.Variables["capture_env"].Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("bpf: set capture_env: %w", err)
		}
	}
	if !cfg.EnterPrograms {
		if err := spec.Variables["args_from_regs"].Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("bpf: set args_from_regs: %w", err)
		}
	}
	var openKeys []captureOpenKey
	var openVals []captureOpenVal
	var commKeys [][16]byte
	var commVals []uint8
	var commClasses OpenClass
	if f := cfg.OpenFilter; f != nil {
		if err := f.Validate(); err != nil {
			return nil, err
		}
		openKeys, openVals = f.entries()
		if err := spec.Variables["open_filter"].Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("bpf: set open_filter: %w", err)
		}
		if err := spec.Variables["open_any"].Set(uint8(f.Any)); err != nil {
			return nil, fmt.Errorf("bpf: set open_any: %w", err)
		}
		if err := spec.Variables["open_path_classes"].Set(uint8(f.pathClasses())); err != nil {
			return nil, fmt.Errorf("bpf: set open_path_classes: %w", err)
		}
		spec.Maps["open_paths"].MaxEntries = uint32(max(1, len(openKeys)))
		commKeys, commVals, commClasses = f.comms()
		spec.Maps["open_comms"].MaxEntries = uint32(max(1, len(commKeys)))
		if err := spec.Variables["open_comm_classes"].Set(uint8(commClasses)); err != nil {
			return nil, fmt.Errorf("bpf: set open_comm_classes: %w", err)
		}
		lens, table := bloom(openKeys, openVals)
		if err := spec.Variables["open_bloom_lens"].Set(lens); err != nil {
			return nil, fmt.Errorf("bpf: set open_bloom_lens: %w", err)
		}
		if err := spec.Variables["open_bloom"].Set(table); err != nil {
			return nil, fmt.Errorf("bpf: set open_bloom: %w", err)
		}
	}
	flush := cfg.FlushInterval
	if flush <= 0 {
		flush = 20 * time.Millisecond
	}

	c := &Capture{}
	var attaches []attach
	keep := map[string]bool{"sched_exec": true, "sched_fork": true, "sched_exit": true}
	for s := Syscall(1); s < sysCount; s++ {
		if !want[s] {
			continue
		}
		tp := tracepointName(s)
		if _, err := os.Stat(tracefs + "/events/syscalls/sys_enter_" + tp); err != nil {
			c.unavailable = append(c.unavailable, s.String())
			continue
		}
		// Without EnterPrograms only execveat keeps its enter program: it
		// tells an execveat exec from an execve one.
		if cfg.EnterPrograms || s == SysExecveat {
			keep["enter_"+tp] = true
		}
		keep["exit_"+tp] = true
		attaches = append(attaches, attach{s, tp})
		c.attached = append(c.attached, s.String())
	}
	// Load only the programs that will be attached: verifying the others
	// would cost start-up time for nothing.
	for name := range spec.Programs {
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
	// Kernels before 5.11 charge BPF maps (the ring buffer: 8 MiB by
	// default) to RLIMIT_MEMLOCK, often 64 KiB or 8 MiB: lift it before
	// the maps are made (this needs CAP_SYS_RESOURCE there, which the
	// DaemonSet and the systemd unit grant; newer kernels account BPF
	// memory to the memory cgroup, and this does nothing). If it fails, the
	// load goes on, and its own error, if any, says what went wrong.
	if err := removeMemlock(); err != nil {
		slog.Debug("bpf: cannot remove the memlock limit; loading anyway", "error", err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("bpf: load programs: %+v", ve)
		}
		return nil, fmt.Errorf("bpf: load programs: %w", err)
	}
	c.coll = coll
	for i := range commKeys {
		if err := coll.Maps["open_comms"].Put(&commKeys[i], &commVals[i]); err != nil {
			c.Close()
			return nil, fmt.Errorf("bpf: fill the open filter's commands: %w", err)
		}
	}
	for i := range openKeys { // tens of keys, once: no need for batches
		if err := coll.Maps["open_paths"].Put(&openKeys[i], &openVals[i]); err != nil {
			c.Close()
			return nil, fmt.Errorf("bpf: fill the open filter: %w", err)
		}
	}

	c.attaches, c.enterPrograms = attaches, cfg.EnterPrograms
	if err := c.attach(); err != nil {
		c.Close()
		return nil, err
	}

	c.rd, err = ringbuf.NewReader(coll.Maps["events"])
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bpf: open ring buffer: %w", err)
	}
	c.bootToEpoch = bootToEpoch()
	c.flush = flush
	c.rd.SetDeadline(c.nextDeadline())
	if len(c.unavailable) > 0 {
		slog.Warn("bpf: syscalls without a tracepoint on this kernel are not captured", "syscalls", c.unavailable)
	}
	return c, nil
}

// bootToEpoch returns wall-clock minus CLOCK_BOOTTIME in ns, taking the
// boot clock on both sides of the wall clock to halve the error.
func bootToEpoch() int64 {
	var b1, w, b2 unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &b1)
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &w)
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &b2)
	boot := (b1.Nano() + b2.Nano()) / 2
	return w.Nano() - boot
}

// BootToEpoch converts a CLOCK_BOOTTIME timestamp (Event.BootTime) to
// wall-clock ns since the epoch, as Event.Time is.
func (c *Capture) BootToEpoch(boot uint64) uint64 { return uint64(int64(boot) + c.bootToEpoch) }

// Attached returns the syscalls whose tracepoints are attached.
func (c *Capture) Attached() []string { return append([]string(nil), c.attached...) }

// Unavailable returns requested syscalls that this kernel has no
// tracepoint for, and that are therefore not captured.
func (c *Capture) Unavailable() []string { return append([]string(nil), c.unavailable...) }

// Read blocks until a record arrives and decodes it into ev. It returns
// ErrClosed after Close, and os.ErrDeadlineExceeded after a deadline set
// with SetDeadline passes.
func (c *Capture) Read(ev *Event) error {
	for {
		if err := c.rd.ReadInto(&c.rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if !c.userDeadline.IsZero() && !time.Now().Before(c.userDeadline) {
					return err
				}
				// The periodic wakeup: the ring was looked at and is empty.
				c.rd.SetDeadline(c.nextDeadline())
				continue
			}
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return ErrClosed
			}
			return err
		}
		if err := c.decode(c.rec.RawSample, ev); err != nil {
			c.decodeErrors.Add(1)
			slog.Error("bpf: bad record", "err", err)
			continue
		}
		c.decoded[ev.Kind].Add(1)
		if ev.Kind == KindSyscall {
			c.decodedSys[ev.Syscall].Add(1)
		}
		return nil
	}
}

// SetDeadline makes Read return os.ErrDeadlineExceeded once t passes with
// no record waiting; the zero time removes the deadline.
func (c *Capture) SetDeadline(t time.Time) {
	c.userDeadline = t
	c.rd.SetDeadline(c.nextDeadline())
}

// nextDeadline is when the reader next wakes up on its own: a flush
// interval from now, or the caller's deadline if that is sooner.
func (c *Capture) nextDeadline() time.Time {
	d := time.Now().Add(c.flush)
	if !c.userDeadline.IsZero() && c.userDeadline.Before(d) {
		d = c.userDeadline
	}
	return d
}

// Pending returns how many bytes of records wait in the ring.
func (c *Capture) Pending() int { return c.rd.AvailableBytes() }

// Stats reads the kernel's per-CPU counters and the decode counts.
func (c *Capture) Stats() (Stats, error) {
	var s Stats
	m := c.coll.Maps["counters"]
	var sums [cntMax]uint64
	for i := range uint32(cntMax) {
		var perCPU []uint64
		if err := m.Lookup(i, &perCPU); err != nil {
			return s, fmt.Errorf("bpf: read counter %d: %w", i, err)
		}
		for _, v := range perCPU {
			sums[i] += v
		}
	}
	s.Seen = sums[cntSeen]
	s.DroppedRingFull = sums[cntDropRingFull]
	s.Delivered = s.Seen - s.DroppedRingFull
	s.Truncated = sums[cntTruncated]
	s.Filtered = sums[cntFiltered]
	s.DecodedByKind = make(map[string]uint64)
	s.DecodedBySyscall = make(map[string]uint64)
	for k := KindSyscall; k <= KindExit; k++ {
		if n := c.decoded[k].Load(); n > 0 {
			s.DecodedByKind[k.String()] = n
			s.Decoded += n
		}
	}
	for i := range c.decodedSys {
		if n := c.decodedSys[i].Load(); n > 0 {
			s.DecodedBySyscall[Syscall(i).String()] = n
		}
	}
	s.DecodeErrors = c.decodeErrors.Load()
	return s, nil
}

// ProgramRuntime sums the kernel's run time and run count over the loaded
// programs: the capture's CPU cost in the kernel. The kernel counts only
// while BPF stats are on (sysctl kernel.bpf_stats_enabled=1, or
// ebpf.EnableStats); otherwise both are zero.
func (c *Capture) ProgramRuntime() (time.Duration, uint64, error) {
	var total time.Duration
	var runs uint64
	for name, p := range c.coll.Programs {
		st, err := p.Stats()
		if err != nil {
			return 0, 0, fmt.Errorf("bpf: stats of program %s: %w", name, err)
		}
		total += st.Runtime
		runs += st.RunCount
	}
	return total, runs, nil
}

// attach is one syscall's tracepoints: sys_enter_<tp> and sys_exit_<tp>.
type attach struct {
	sys Syscall
	tp  string
}

// attach attaches the loaded programs: Load calls it once; the benchmarks
// call it again after Detach, to time a loop with and without the same
// programs seconds apart.
func (c *Capture) attach() error {
	c.linksMu.Lock()
	defer c.linksMu.Unlock()
	add := func(l link.Link, err error, what string) error {
		if err != nil {
			return fmt.Errorf("bpf: attach %s: %w", what, err)
		}
		c.links = append(c.links, l)
		return nil
	}
	progs := c.coll.Programs
	// Exit programs before enter programs: an exit without its enter is
	// ignored, while the reverse would leave stale entries.
	for _, a := range c.attaches {
		l, err := link.Tracepoint("syscalls", "sys_exit_"+a.tp, progs["exit_"+a.tp], nil)
		if err = add(l, err, "sys_exit_"+a.tp); err != nil {
			return err
		}
	}
	for _, a := range c.attaches {
		if !c.enterPrograms && a.sys != SysExecveat {
			continue
		}
		l, err := link.Tracepoint("syscalls", "sys_enter_"+a.tp, progs["enter_"+a.tp], nil)
		if err = add(l, err, "sys_enter_"+a.tp); err != nil {
			return err
		}
	}
	l, err := link.Tracepoint("sched", "sched_process_exec", progs["sched_exec"], nil)
	if err = add(l, err, "sched_process_exec"); err != nil {
		return err
	}
	l, err = link.AttachTracing(link.TracingOptions{Program: progs["sched_fork"]})
	if err = add(l, err, "sched_process_fork"); err != nil {
		return err
	}
	l, err = link.Tracepoint("sched", "sched_process_exit", progs["sched_exit"], nil)
	return add(l, err, "sched_process_exit")
}

// Detach detaches every program, so that no new records arrive, while
// Read can still drain what is in the ring (for a clean shutdown).
func (c *Capture) Detach() error {
	c.linksMu.Lock()
	defer c.linksMu.Unlock()
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	c.links = nil
	return errors.Join(errs...)
}

// Close detaches every program and closes the reader; a blocked Read
// returns ErrClosed.
func (c *Capture) Close() error {
	var errs []error
	if c.rd != nil {
		errs = append(errs, c.rd.Close())
	}
	errs = append(errs, c.Detach())
	if c.coll != nil {
		c.coll.Close()
	}
	return errors.Join(errs...)
}
