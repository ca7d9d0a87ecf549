package rules

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/rules/field"
)

const engineRules = `
- list: shells
  items: [bash, sh]
- list: all_shells
  items: [shells, zsh]
- macro: spawned_process
  condition: evt.type in (execve, execveat) and evt.dir = <
- macro: open_read
  condition: evt.type in (open, openat) and evt.is_open_read = true
- rule: Shell spawned
  desc: a shell started
  condition: spawned_process and proc.name in (all_shells)
  output: "Shell spawned (user=%user.name shell=%proc.name parent=%proc.pname cmdline=%proc.cmdline image=%container.image.repository)"
  priority: NOTICE
  tags: [process, shell]
- rule: Sensitive file read
  desc: shadow read
  condition: open_read and fd.name startswith /etc/shadow
  output: "Sensitive file opened (file=%fd.name proc=%proc.name uid=%user.uid)"
  priority: WARNING
  tags: [filesystem]
  exceptions:
    - name: trusted_readers
      fields: [proc.name, fd.name]
      values:
        - [sshd, /etc/shadow]
- rule: Any shadow access
  desc: matches the same events as the rule above
  condition: open_read and fd.name = /etc/shadow
  output: "shadow %fd.name"
  priority: CRITICAL
  tags: [filesystem, mitre_credential_access]
- rule: Outbound to 4444
  desc: connect to a suspicious port
  condition: evt.type = connect and fd.sport = 4444
  output: "connect to %fd.sip:%fd.sport"
  priority: ERROR
  tags: [network]
- rule: Disabled by default
  desc: off unless selected
  condition: evt.type = close
  output: "close"
  priority: DEBUG
  enabled: false
`

func newEngine(t testing.TB, opts Options, extra ...string) (*Ruleset, *SourceRules, *synthFixture) {
	t.Helper()
	src := synthSource()
	l := NewLoader(src)
	l.Load("engine.yaml", []byte(engineRules))
	for i, e := range extra {
		l.Load("extra"+string(rune('0'+i))+".yaml", []byte(e))
	}
	rs, err := l.Compile(opts)
	if err != nil {
		t.Fatal(err)
	}
	fx := &synthFixture{
		open: src.EventType("openat"), exec: src.EventType("execve"),
		connect: src.EventType("connect"), close: src.EventType("close"), mmap: src.EventType("mmap"),
	}
	return rs, rs.Source("syscall"), fx
}

type synthFixture struct{ open, exec, connect, close, mmap int }

func (fx *synthFixture) shadowRead(proc string) *synthEvent {
	return &synthEvent{typ: fx.open, dir: "<", openRead: true, fdName: "/etc/shadow", fdTypechar: "f",
		procName: proc, userName: "root", ts: time.Date(2026, 11, 29, 16, 31, 56, 746609046, time.UTC).UnixNano()}
}

func matches(s *SourceRules, ev *synthEvent) []string {
	var got []string
	if s != nil {
		s.Process(ev, func(r *Rule) { got = append(got, r.Name) })
	}
	return got
}

func TestEngineMatching(t *testing.T) {
	_, s, fx := newEngine(t, Options{})
	if got := matches(s, fx.shadowRead("cat")); !slices.Equal(got, []string{"Sensitive file read"}) {
		t.Fatalf("first match: %v", got)
	}
	// The exception: sshd reading /etc/shadow is not reported by the rule
	// that has it, but the next rule matches.
	if got := matches(s, fx.shadowRead("sshd")); !slices.Equal(got, []string{"Any shadow access"}) {
		t.Fatalf("exception: %v", got)
	}
	exec := &synthEvent{typ: fx.exec, dir: "<", procName: "zsh", pname: "sshd"}
	if got := matches(s, exec); !slices.Equal(got, []string{"Shell spawned"}) {
		t.Fatalf("nested list: %v", got)
	}
	exec.dir = ">"
	if got := matches(s, exec); len(got) != 0 {
		t.Fatalf("enter event matched: %v", got)
	}
	conn := &synthEvent{typ: fx.connect, sport: 4444, sip: netip.MustParseAddr("10.0.0.1")}
	if got := matches(s, conn); !slices.Equal(got, []string{"Outbound to 4444"}) {
		t.Fatalf("connect: %v", got)
	}
	if got := matches(s, &synthEvent{typ: fx.close}); len(got) != 0 {
		t.Fatalf("disabled rule ran: %v", got)
	}
	// An id handed out after Compile has only the catch-all rules (none).
	late := &synthEvent{typ: 1 << 20}
	if got := matches(s, late); len(got) != 0 {
		t.Fatalf("unknown type: %v", got)
	}
}

func TestEngineRuleMatchingAll(t *testing.T) {
	_, s, fx := newEngine(t, Options{RuleMatching: MatchAll})
	if got := matches(s, fx.shadowRead("cat")); !slices.Equal(got, []string{"Sensitive file read", "Any shadow access"}) {
		t.Fatalf("all: %v", got)
	}
}

func enabledNames(rs *Ruleset) []string {
	var out []string
	for _, r := range rs.Rules() {
		if r.Enabled {
			out = append(out, r.Name)
		}
	}
	return out
}

func TestEngineSelection(t *testing.T) {
	all := []string{"Shell spawned", "Sensitive file read", "Any shadow access", "Outbound to 4444"}
	cases := []struct {
		name string
		opts Options
		want []string
	}{
		{"defaults", Options{}, all},
		{"min priority warning", Options{MinPriority: alert.PriorityWarning}, []string{"Sensitive file read", "Any shadow access", "Outbound to 4444"}},
		{"-t filesystem", Options{Tags: []string{"filesystem"}}, []string{"Sensitive file read", "Any shadow access"}},
		{"-t two tags", Options{Tags: []string{"shell", "network"}}, []string{"Shell spawned", "Outbound to 4444"}},
		{"-T filesystem", Options{SkipTags: []string{"filesystem"}}, []string{"Shell spawned", "Outbound to 4444"}},
		{"disable by name", Options{Select: []Selection{{Disable: &Matcher{Rule: "Shell spawned"}}}}, all[1:]},
		{"disable all, enable tag", Options{Select: []Selection{{Disable: &Matcher{Rule: "*"}}, {Enable: &Matcher{Tag: "network"}}}}, []string{"Outbound to 4444"}},
		{"wildcard", Options{Select: []Selection{{Disable: &Matcher{Rule: "*shadow*"}}, {Disable: &Matcher{Rule: "Sensitive*"}}}}, []string{"Shell spawned", "Outbound to 4444"}},
		{"enable a disabled rule", Options{Select: []Selection{{Enable: &Matcher{Rule: "Disabled by default"}}}}, append(slices.Clone(all), "Disabled by default")},
		{"disable by tag", Options{Select: []Selection{{Disable: &Matcher{Tag: "mitre_credential_access"}}}}, []string{"Shell spawned", "Sensitive file read", "Outbound to 4444"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, _, _ := newEngine(t, c.opts)
			if got := enabledNames(rs); !slices.Equal(got, c.want) {
				t.Fatalf("enabled %v, want %v", got, c.want)
			}
		})
	}
	l := NewLoader(synthSource())
	l.Load("x.yaml", []byte(engineRules))
	if _, err := l.Compile(Options{Select: []Selection{{Enable: &Matcher{}}}}); err == nil || !strings.Contains(err.Error(), "name exactly one of rule or tag") {
		t.Fatalf("bad selection accepted: %v", err)
	}
}

func TestEngineEventTypes(t *testing.T) {
	rs, _, _ := newEngine(t, Options{})
	names, all := rs.EventTypes("syscall")
	if want := []string{"connect", "execve", "execveat", "open", "openat"}; !slices.Equal(names, want) || all {
		t.Fatalf("EventTypes = %v, %v; want %v", names, all, want)
	}
	rs, _, _ = newEngine(t, Options{Tags: []string{"network"}})
	if names, _ := rs.EventTypes("syscall"); !slices.Equal(names, []string{"connect"}) {
		t.Fatalf("EventTypes with -t network = %v", names)
	}
	rs, _, _ = newEngine(t, Options{}, "- rule: Catch all\n  desc: d\n  condition: proc.name = nc\n  output: o\n  priority: info\n  warn_evttypes: false\n")
	if _, all := rs.EventTypes("syscall"); !all {
		t.Fatal("a rule without evt.type does not make all true")
	}
}

func TestEngineIndexSkipsOtherTypes(t *testing.T) {
	_, s, fx := newEngine(t, Options{})
	// An mmap event can match no rule: no rule's condition may even run.
	if n := len(s.rulesFor(fx.mmap)); n != 0 {
		t.Fatalf("%d rules indexed under mmap", n)
	}
	if n := len(s.rulesFor(fx.connect)); n != 1 {
		t.Fatalf("%d rules indexed under connect, want 1", n)
	}
}

func TestNoMatchDoesNotAllocate(t *testing.T) {
	_, s, fx := newEngine(t, Options{})
	evs := []*synthEvent{
		{typ: fx.open, dir: "<", openRead: true, fdName: "/usr/lib/libc.so.6", procName: "cat"},
		{typ: fx.exec, dir: "<", procName: "ls", pname: "bash"},
		{typ: fx.connect, sport: 443, sip: netip.MustParseAddr("10.0.0.1")},
		{typ: fx.mmap},
	}
	emit := func(*Rule) { t.Fatal("matched") }
	for _, ev := range evs {
		if n := testing.AllocsPerRun(100, func() { s.Process(ev, emit) }); n != 0 {
			t.Errorf("event %+v: %v allocations", ev, n)
		}
	}
}

func TestAlertFormat(t *testing.T) {
	rs, s, fx := newEngine(t, Options{})
	ev := fx.shadowRead("cat")
	ev.uid = 0
	var a *alert.Alert
	s.Process(ev, func(r *Rule) { a = r.Alert(ev) })
	if a == nil {
		t.Fatal("no match")
	}
	ts := time.Unix(0, ev.ts).Local().Format("15:04:05")
	want := ts + ".746609046: Warning Sensitive file opened (file=/etc/shadow proc=cat uid=0)"
	if a.Output != want {
		t.Fatalf("output\n got %q\nwant %q", a.Output, want)
	}
	if a.Rule != "Sensitive file read" || a.Priority != alert.PriorityWarning || a.Source != "syscall" ||
		!slices.Equal(a.Tags, []string{"filesystem"}) || a.Time.UnixNano() != ev.ts {
		t.Fatalf("alert %+v", a)
	}
	wantFields := alert.Fields{"evt.time": ev.ts, "fd.name": "/etc/shadow", "proc.name": "cat", "user.uid": uint64(0)}
	if len(a.OutputFields) != len(wantFields) {
		t.Fatalf("output_fields %v, want %v", a.OutputFields, wantFields)
	}
	for k, v := range wantFields {
		if a.OutputFields[k] != v {
			t.Errorf("output_fields[%s] = %#v, want %#v", k, a.OutputFields[k], v)
		}
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	// Missing values print <NA> and are null in output_fields.
	exec := &synthEvent{typ: fx.exec, dir: "<", procName: "bash", pname: "sshd", userName: "root", args: "-c id"}
	r := rs.Rule("Shell spawned")
	a = r.Alert(exec)
	if !strings.HasSuffix(a.Output, "Notice Shell spawned (user=root shell=bash parent=sshd cmdline=bash -c id image=<NA>)") {
		t.Fatalf("output %q", a.Output)
	}
	if v, ok := a.OutputFields["container.image.repository"]; !ok || v != nil {
		t.Fatalf("missing field in output_fields: %#v, %v", v, ok)
	}
}

func TestOutputSyntax(t *testing.T) {
	src := synthSource()
	ev := &synthEvent{procName: "bash", anames: []string{"sshd", "systemd"}, fdName: "/etc/x"}
	cases := []struct{ in, want string }{
		{"%proc.name", "bash"},
		{"%proc.aname[1] and %proc.aname[2] and %proc.aname[5]", "sshd and systemd and <NA>"},
		{"file=%fd.name.", "file=/etc/x."},
		{"%(proc.name)x", "bashx"},
		{"100% sure %proc.name", "100% sure bash"},
		{"(%proc.name)", "(bash)"},
		{"%", "%"},
	}
	for _, c := range cases {
		f, errs := compileFormat(c.in, src)
		if len(errs) > 0 {
			t.Fatalf("%q: %v", c.in, errs)
		}
		if got := string(f.appendText(nil, ev, time.Now())); got != c.want {
			t.Errorf("%q -> %q, want %q", c.in, got, c.want)
		}
	}
	_, errs := compileFormat("a %proc.nme b %fd.name %proc.aname[x]", src)
	if len(errs) != 2 || errs[0].off != 2 || !strings.Contains(errs[0].msg, "did you mean proc.name") {
		t.Fatalf("errors %v", errs)
	}
}

func TestFalcoTime(t *testing.T) {
	tm := time.Date(2026, 11, 29, 16, 31, 56, 4609046, time.Local)
	if got := string(appendFalcoTime(nil, tm)); got != "16:31:56.004609046" {
		t.Fatalf("got %q", got)
	}
}

// End to end: exceptions whose values name lists, appended exception
// values, and macros overridden in a later file, as Falco documents them.
func TestEngineExceptionsAndOverrides(t *testing.T) {
	base := `
- list: trusted_readers
  items: [sshd, login]
- macro: user_known_shadow_readers
  condition: (never_true)
- macro: never_true
  condition: (evt.num = 0 and evt.num = 1)
- rule: Shadow read
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow and not user_known_shadow_readers
  output: "%proc.name"
  priority: WARNING
  exceptions:
    - name: by_list
      fields: proc.name
      values: [trusted_readers]
    - name: by_pair
      fields: [proc.name, fd.name]
      comps: [in, =]
      values:
        - [trusted_tools, /etc/shadow]
- list: trusted_tools
  items: [passwd]
`
	local := `
- list: trusted_readers
  items: [unix_chkpwd]
  override: {items: append}
- macro: user_known_shadow_readers
  condition: proc.pname = cron
  override: {condition: replace}
- rule: Shadow read
  exceptions:
    - name: by_pair
      values:
        - [[chage, vipw], /etc/shadow]
  append: true
`
	src := synthSource()
	l := NewLoader(src)
	l.Load("base.yaml", []byte(base))
	l.Load("local.yaml", []byte(local))
	rs, err := l.Compile(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := rs.Source("syscall")
	open := src.EventType("openat")
	for _, c := range []struct {
		proc, parent string
		want         bool
	}{
		{"cat", "bash", true},
		{"sshd", "systemd", false},     // list value
		{"unix_chkpwd", "bash", false}, // appended list item
		{"passwd", "bash", false},      // tuple with a list name
		{"chage", "bash", false},       // appended tuple with a list value
		{"vipw", "bash", false},        // same
		{"cat", "cron", false},         // replaced macro
	} {
		ev := &synthEvent{typ: open, fdName: "/etc/shadow", procName: c.proc, pname: c.parent}
		if got := len(matches(s, ev)) == 1; got != c.want {
			t.Errorf("%s (parent %s): matched %v, want %v\ncondition: %s", c.proc, c.parent, got, c.want, rs.Rule("Shadow read").Condition)
		}
	}
}

func TestEngineK8sAuditSource(t *testing.T) {
	l := NewLoader(synthSource(), field.K8sAudit())
	l.Load("k8s.yaml", []byte(`
- rule: Create privileged pod
  desc: d
  condition: ka.verb = create and ka.target.resource = pods and ka.req.pod.containers.privileged intersects (true)
  output: "Pod started (user=%ka.user.name pod=%ka.resp.name)"
  priority: WARNING
  source: k8s_audit
`))
	rs, err := l.Compile(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rs.Source("k8s_audit") == nil || rs.Source("syscall") != nil {
		t.Fatalf("sources %v", rs.Sources())
	}
	if _, all := rs.EventTypes("k8s_audit"); !all {
		t.Fatal("k8s_audit rules have no event types: they must be checked for every event")
	}
	if rs.Process("syscall", &synthEvent{}, func(*Rule) {}) {
		t.Fatal("matched on a source without rules")
	}
}

func TestRuleTagsAreASortedSet(t *testing.T) {
	rs, _, _ := newEngine(t, Options{}, "- rule: Tagged\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: info\n  tags: [zeta, alpha, zeta]\n")
	if got := rs.Rule("Tagged").Tags; !slices.Equal(got, []string{"alpha", "zeta"}) {
		t.Fatalf("tags %v", got)
	}
}

func TestAlertISO8601Time(t *testing.T) {
	_, s, fx := newEngine(t, Options{TimeFormatISO8601: true})
	ev := fx.shadowRead("cat")
	var out string
	s.Process(ev, func(r *Rule) { out = r.Alert(ev).Output })
	if !strings.HasPrefix(out, "2026-11-29T16:31:56.746609046Z: Warning Sensitive file opened") {
		t.Fatalf("output %q", out)
	}
}

func TestDeprecatedContainerInfo(t *testing.T) {
	src := synthSource()
	l := NewLoader(src)
	l.Load("x.yaml", []byte("- rule: r\n  desc: d\n  condition: evt.type = open\n  output: opened %fd.name %container.info\n  priority: info\n"))
	rs, err := l.Compile(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Warnings()) != 1 || !strings.Contains(l.Warnings()[0].String(), "%container.info is deprecated") {
		t.Fatalf("warnings %v", l.Warnings())
	}
	a := rs.Rule("r").Alert(&synthEvent{fdName: "/x", container: "3ad7b26ded6d"})
	if !strings.HasSuffix(a.Output, "opened /x <NA> (id=3ad7b26ded6d)") {
		t.Fatalf("output %q", a.Output)
	}
}

func TestSkipIfUnknownFilterInOutput(t *testing.T) {
	l := NewLoader(synthSource())
	l.Load("x.yaml", []byte("- rule: r\n  desc: d\n  condition: evt.type = open\n  output: \"%proc.future_field\"\n  priority: info\n  skip-if-unknown-filter: true\n"))
	rs, err := l.Compile(Options{})
	if err != nil || len(rs.Rules()) != 0 || len(l.Warnings()) != 1 {
		t.Fatalf("err %v rules %d warnings %v", err, len(rs.Rules()), l.Warnings())
	}
}

func TestOutputErrorAfterContainerInfo(t *testing.T) {
	out := "a %container.info b %proc.nme"
	_, errs := compileFormat(out, synthSource())
	if len(errs) != 1 || errs[0].off != strings.Index(out, "%proc.nme") {
		t.Fatalf("errors %v, want one at %d", errs, strings.Index(out, "%proc.nme"))
	}
}
