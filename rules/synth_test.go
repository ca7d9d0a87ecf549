package rules

import (
	"net/netip"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// synthEvent is a syscall event for tests and benchmarks: the fields
// Falco's rules look at most, as plain struct fields.
type synthEvent struct {
	typ        int
	ts         int64
	dir        string
	res        int64
	openWrite  bool
	openRead   bool
	fdName     string
	fdDir      string
	fdFile     string
	fdTypechar string
	fdType     string
	fdNum      int64
	sip, cip   netip.Addr
	sport      uint64
	l4proto    string
	procName   string
	exe        string
	exepath    string
	args       string
	pname      string
	pexe       string
	pcmdline   string
	anames     []string // proc.aname[1] is anames[0]
	pid, ppid  int64
	tty        uint64
	container  string
	image      string
	userName   string
	uid        uint64
	loginuid   int64
	upperLayer bool
}

func (e *synthEvent) EventType() int { return e.typ }

// synthSource is Falco's syscall catalog with the synthEvent fields bound.
func synthSource() *field.Source {
	src := field.Syscall()
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	s := func(name string, fn func(e *synthEvent) string) {
		must(src.Bind(name, field.Extractor{String: func(ev field.Event, _ field.Arg) (string, bool) {
			return fn(ev.(*synthEvent)), true
		}}))
	}
	opt := func(name string, fn func(e *synthEvent) string) { // "" is missing
		must(src.Bind(name, field.Extractor{String: func(ev field.Event, _ field.Arg) (string, bool) {
			v := fn(ev.(*synthEvent))
			return v, v != ""
		}}))
	}
	i := func(name string, fn func(e *synthEvent) int64) {
		must(src.Bind(name, field.Extractor{Int: func(ev field.Event, _ field.Arg) (int64, bool) {
			return fn(ev.(*synthEvent)), true
		}}))
	}
	u := func(name string, fn func(e *synthEvent) uint64) {
		must(src.Bind(name, field.Extractor{Uint: func(ev field.Event, _ field.Arg) (uint64, bool) {
			return fn(ev.(*synthEvent)), true
		}}))
	}
	b := func(name string, fn func(e *synthEvent) bool) {
		must(src.Bind(name, field.Extractor{Bool: func(ev field.Event, _ field.Arg) (bool, bool) {
			return fn(ev.(*synthEvent)), true
		}}))
	}
	ipf := func(name string, fn func(e *synthEvent) netip.Addr) {
		must(src.Bind(name, field.Extractor{IP: func(ev field.Event, _ field.Arg) (netip.Addr, int, bool) {
			a := fn(ev.(*synthEvent))
			return a, -1, a.IsValid()
		}}))
	}
	s("evt.type", func(e *synthEvent) string { return src.EventTypeName(e.typ) })
	s("evt.dir", func(e *synthEvent) string { return e.dir })
	i("evt.rawtime", func(e *synthEvent) int64 { return e.ts })
	i("evt.rawres", func(e *synthEvent) int64 { return e.res })
	s("evt.res", func(e *synthEvent) string {
		if e.res < 0 {
			return "ENOENT"
		}
		return "SUCCESS"
	})
	b("evt.is_open_write", func(e *synthEvent) bool { return e.openWrite })
	b("evt.is_open_read", func(e *synthEvent) bool { return e.openRead })
	opt("fd.name", func(e *synthEvent) string { return e.fdName })
	opt("fd.directory", func(e *synthEvent) string { return e.fdDir })
	opt("fd.filename", func(e *synthEvent) string { return e.fdFile })
	opt("fd.typechar", func(e *synthEvent) string { return e.fdTypechar })
	opt("fd.type", func(e *synthEvent) string { return e.fdType })
	i("fd.num", func(e *synthEvent) int64 { return e.fdNum })
	ipf("fd.sip", func(e *synthEvent) netip.Addr { return e.sip })
	ipf("fd.cip", func(e *synthEvent) netip.Addr { return e.cip })
	u("fd.sport", func(e *synthEvent) uint64 { return e.sport })
	opt("fd.l4proto", func(e *synthEvent) string { return e.l4proto })
	s("proc.name", func(e *synthEvent) string { return e.procName })
	s("proc.exe", func(e *synthEvent) string { return e.exe })
	s("proc.exepath", func(e *synthEvent) string { return e.exepath })
	s("proc.args", func(e *synthEvent) string { return e.args })
	s("proc.cmdline", func(e *synthEvent) string {
		if e.args == "" {
			return e.procName
		}
		return e.procName + " " + e.args
	})
	s("proc.pname", func(e *synthEvent) string { return e.pname })
	s("proc.pexe", func(e *synthEvent) string { return e.pexe })
	s("proc.pcmdline", func(e *synthEvent) string { return e.pcmdline })
	must(src.Bind("proc.aname", field.Extractor{String: func(ev field.Event, a field.Arg) (string, bool) {
		e := ev.(*synthEvent)
		if !a.Set {
			return e.procName, true
		}
		if a.Index == 0 {
			return e.procName, true
		}
		if a.Index-1 < len(e.anames) {
			return e.anames[a.Index-1], true
		}
		return "", false
	}}))
	i("proc.pid", func(e *synthEvent) int64 { return e.pid })
	i("proc.ppid", func(e *synthEvent) int64 { return e.ppid })
	u("proc.tty", func(e *synthEvent) uint64 { return e.tty })
	b("proc.is_exe_upper_layer", func(e *synthEvent) bool { return e.upperLayer })
	s("container.id", func(e *synthEvent) string { return e.container })
	opt("container.image.repository", func(e *synthEvent) string { return e.image })
	s("user.name", func(e *synthEvent) string { return e.userName })
	u("user.uid", func(e *synthEvent) uint64 { return e.uid })
	i("user.loginuid", func(e *synthEvent) int64 { return e.loginuid })
	return src
}
