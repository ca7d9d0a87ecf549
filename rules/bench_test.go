package rules

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// benchRuleset loads Falco's stable rules and, when present, the project's
// default rules (rules/builtin/*.yaml) over the synthetic source.
func benchRuleset(b *testing.B, withBuiltin bool) (*SourceRules, *synthFixture) {
	b.Helper()
	src := synthSource()
	l := NewLoader(src)
	l.LoadPath(filepath.Join(compatDir(b), "falco_rules.yaml"))
	what := "Falco stable rules"
	// The project's default ruleset and its local overrides file (the
	// directory also holds test cases, which are not rules).
	if _, err := os.Stat("builtin/nightjar_rules.yaml"); err == nil && withBuiltin {
		l.LoadPath("builtin/nightjar_rules.yaml")
		l.LoadPath("builtin/nightjar_rules.local.yaml")
		what += " + rules/builtin"
	}
	rs, err := l.Compile(Options{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, r := range rs.Rules() {
		if r.Enabled {
			n++
		}
	}
	b.Logf("%s: %d rules, %d enabled", what, len(rs.Rules()), n)
	fx := &synthFixture{open: src.EventType("openat"), exec: src.EventType("execve"),
		connect: src.EventType("connect"), close: src.EventType("close"), mmap: src.EventType("mmap")}
	return rs.Source("syscall"), fx
}

// realisticStream is a mix like a busy host's: mostly file opens (reads of
// libraries, /proc and config, some writes to logs and /tmp), then execs
// (shells and tools, some in containers), connects, and other syscalls.
func realisticStream(fx *synthFixture, n int) []*synthEvent {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	files := []string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/proc/self/stat",
		"/proc/1234/cmdline", "/etc/nsswitch.conf", "/usr/share/zoneinfo/UTC", "/etc/hosts",
		"/home/app/config.yaml", "/etc/passwd", "/etc/shadow"}
	writes := []string{"/var/log/app.log", "/tmp/cache.tmp", "/var/lib/app/data.db", "/home/app/.bash_history"}
	procs := []string{"nginx", "python3", "java", "node", "cat", "postgres", "sshd", "bash"}
	execs := []string{"ls", "grep", "sh", "bash", "python3", "curl", "ps", "sed", "awk", "date"}
	parents := []string{"bash", "containerd-shim", "sshd", "cron", "systemd", "runc"}
	images := []string{"", "", "docker.io/library/nginx", "quay.io/app/api"}
	evs := make([]*synthEvent, n)
	for i := range evs {
		e := &synthEvent{ts: 1764433916746609046 + int64(i)*1000, dir: "<", pid: int64(1000 + i%50),
			ppid: 1, procName: pick(procs), pname: pick(parents), anames: []string{"bash", "systemd"},
			exe: "/usr/bin/x", exepath: "/usr/bin/x", userName: "app", uid: 1000, loginuid: -1}
		if img := pick(images); img != "" {
			e.container, e.image = "3ad7b26ded6d", img
		} else {
			e.container = "host"
		}
		e.pcmdline = e.pname
		switch r := rng.IntN(100); {
		case r < 60:
			e.typ, e.fdTypechar, e.fdType, e.fdNum = fx.open, "f", "file", 3
			if rng.IntN(10) < 8 {
				e.openRead, e.fdName = true, pick(files)
			} else {
				e.openWrite, e.fdName = true, pick(writes)
			}
			e.fdDir, e.fdFile = filepath.Dir(e.fdName), filepath.Base(e.fdName)
		case r < 75:
			e.typ, e.procName, e.args = fx.exec, pick(execs), "-la /tmp"
			e.exe, e.exepath = "/usr/bin/"+e.procName, "/usr/bin/"+e.procName
		case r < 85:
			e.typ, e.fdTypechar, e.fdType, e.l4proto = fx.connect, "4", "ipv4", "tcp"
			e.sip, e.cip = netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), 7}), netip.MustParseAddr("10.1.0.2")
			e.sport = []uint64{443, 80, 5432, 6379}[rng.IntN(4)]
		case r < 93:
			e.typ = fx.close
		default:
			e.typ = fx.mmap
		}
		evs[i] = e
	}
	return evs
}

func benchStream(b *testing.B, s *SourceRules, evs []*synthEvent) {
	matched := 0
	emit := func(*Rule) { matched++ }
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		s.Process(evs[i%len(evs)], emit)
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// On a shared, overloaded machine wall time says little; CPU time
	// says what one core can do.
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
	b.ReportMetric(float64(matched)/float64(b.N), "alerts/event")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEngineRealistic: events/s through the engine on a mixed stream
// (target: >= 1,000,000/s on one core, go test -bench Engine -cpu 1).
func BenchmarkEngineRealistic(b *testing.B) {
	s, fx := benchRuleset(b, true)
	benchStream(b, s, realisticStream(fx, 4096))
}

// BenchmarkEngineRealisticStable: the same with Falco's stable rules only.
func BenchmarkEngineRealisticStable(b *testing.B) {
	s, fx := benchRuleset(b, false)
	benchStream(b, s, realisticStream(fx, 4096))
}

// BenchmarkEngineNoMatch: the same mix with nothing suspicious in it (no
// sensitive files, no shells): it must not allocate.
func BenchmarkEngineNoMatch(b *testing.B) {
	s, fx := benchRuleset(b, true)
	evs := realisticStream(fx, 4096)
	var quiet []*synthEvent
	for _, e := range evs {
		n := 0
		s.Process(e, func(*Rule) { n++ })
		if n == 0 {
			quiet = append(quiet, e)
		}
	}
	if len(quiet) < len(evs)/2 {
		b.Fatalf("only %d of %d events match nothing", len(quiet), len(evs))
	}
	benchStream(b, s, quiet)
}

// BenchmarkAlert: formatting one alert (output line and output_fields).
func BenchmarkAlert(b *testing.B) {
	_, s, fx := newEngine(b, Options{})
	ev := fx.shadowRead("cat")
	var r *Rule
	s.Process(ev, func(m *Rule) { r = m })
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = r.Alert(ev)
	}
}
