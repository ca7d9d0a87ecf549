package detector

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/sysevent"
	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/builtin"
)

// compileRules compiles rule files (name, content pairs in order) for the
// syscall source.
func compileRules(t *testing.T, files ...string) *rules.Ruleset {
	t.Helper()
	l := rules.NewLoader(sysevent.NewSource())
	for i := 0; i+1 < len(files); i += 2 {
		l.Load(files[i], []byte(files[i+1]))
	}
	rs, err := l.Compile(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func oneRule(cond string) string {
	return "- list: keys\n  items: [/etc/shadow, /etc/sudoers]\n" +
		"- macro: open_read\n  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0)\n" +
		"- macro: open_write\n  condition: (evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0)\n" +
		"- rule: r\n  desc: d\n  condition: " + cond + "\n  output: o\n  priority: WARNING\n"
}

func TestOpenFilterFromConditions(t *testing.T) {
	reads := bpf.OpenReadOnly | bpf.OpenReadWrite
	writes := bpf.OpenWriteOnly | bpf.OpenReadWrite
	exact := func(p string, c bpf.OpenClass) bpf.OpenPath {
		return bpf.OpenPath{Path: p, Match: bpf.PathExact, Classes: c}
	}
	prefix := func(p string, c bpf.OpenClass) bpf.OpenPath {
		return bpf.OpenPath{Path: p, Match: bpf.PathPrefix, Classes: c}
	}
	dir := func(p string, c bpf.OpenClass) bpf.OpenPath {
		return bpf.OpenPath{Path: p, Match: bpf.PathDir, Classes: c}
	}
	for _, tc := range []struct {
		cond string
		want *bpf.OpenFilter // nil: every open is sent
	}{
		{"open_read and fd.name in (keys)", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/etc/shadow", reads), exact("/etc/sudoers", reads)}}},
		{"open_write and fd.name startswith /etc/", &bpf.OpenFilter{Paths: []bpf.OpenPath{prefix("/etc/", writes)}}},
		{"open_write and fd.directory in (/bin, /usr/bin)", &bpf.OpenFilter{Paths: []bpf.OpenPath{dir("/bin", writes), dir("/usr/bin", writes)}}},
		{"evt.type=openat and fd.name pmatch (/root/.ssh)", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/root/.ssh", bpf.OpenAll), prefix("/root/.ssh/", bpf.OpenAll)}}},
		{"evt.type=openat and fd.name glob '/var/log/*.log'", &bpf.OpenFilter{Paths: []bpf.OpenPath{prefix("/var/log/", bpf.OpenAll)}}},
		{"evt.type=openat and fd.name glob /etc/passwd", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/etc/passwd", bpf.OpenAll)}}},
		// A rule on close events sees fds of sent opens only: it asks for
		// the opens of the files it tests.
		{"evt.type=close and fd.name=/var/run/app.sock", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/var/run/app.sock", bpf.OpenAll)}}},
		{"open_write and fd.directory pmatch (/etc)", &bpf.OpenFilter{Paths: []bpf.OpenPath{prefix("/etc/", writes)}}},
		{"open_write and fd.directory startswith /var", &bpf.OpenFilter{Paths: []bpf.OpenPath{prefix("/var", writes)}}},
		{"open_write and fd.directory glob '/etc/*'", &bpf.OpenFilter{Any: writes}},
		{"evt.type=openat and fd.nameraw startswith /proc/", &bpf.OpenFilter{Paths: []bpf.OpenPath{prefix("/proc/", bpf.OpenAll)}}},
		// Failed opens only.
		{"evt.type=openat and fd.num=-1 and fd.name=/etc/shadow", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/etc/shadow", bpf.OpenFailed)}}},
		{"evt.type=openat and evt.res startswith E and fd.name=/x", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/x", bpf.OpenFailed)}}},
		// A negated class test is its complement; a negated path test says nothing.
		{"evt.type=openat and not evt.is_open_write=true", &bpf.OpenFilter{Any: bpf.OpenReadOnly | bpf.OpenReadOnlyFailed}},
		{"open_read and not fd.name in (keys)", &bpf.OpenFilter{Any: reads}},
		// The narrower of two path tests; an "or" keeps both sides.
		{"open_read and fd.name startswith /etc and fd.name in (keys)", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/etc/shadow", reads), exact("/etc/sudoers", reads)}}},
		{"(open_read and fd.name=/a) or (open_write and fd.directory=/b)", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/a", bpf.OpenSucceeded), dir("/b", bpf.OpenSucceeded)}}},
		// Writes anywhere: every write class is sent, reads are not.
		{"open_write and fd.name endswith release_agent", &bpf.OpenFilter{Any: writes}},
		// Unclean paths are always sent: a test only they can pass needs nothing.
		{"open_read and fd.nameraw contains '../'", &bpf.OpenFilter{}},
		// Relative names are always sent.
		{"evt.type=openat and fd.name=relative/x", &bpf.OpenFilter{}},
		// Not about opens at all.
		{"evt.type=execve and proc.name=sh", &bpf.OpenFilter{}},
		{"(evt.type=execve and proc.name=sh) or (open_read and fd.name=/a)", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/a", reads)}}},
		// By the process name (comm) instead of the path.
		{"evt.type=openat and proc.name=cat", &bpf.OpenFilter{Comms: []bpf.OpenComm{{Comm: "cat", Classes: bpf.OpenAll}}}},
		{"proc.name in (tar, averyveryverylongname)", &bpf.OpenFilter{Comms: []bpf.OpenComm{{Comm: "tar", Classes: bpf.OpenAll}}}},
		{"open_read and (fd.name=/a or proc.name=cp)", &bpf.OpenFilter{Paths: []bpf.OpenPath{exact("/a", reads)}, Comms: []bpf.OpenComm{{Comm: "cp", Classes: reads}}}},
		{"open_read and proc.name=tar and fd.name startswith /etc", &bpf.OpenFilter{Comms: []bpf.OpenComm{{Comm: "tar", Classes: reads}}}},
		// Any open at all.
		{"evt.type=openat and proc.pname=cat", nil},
		{"evt.type=openat and proc.name!=cat", nil},
		{"open_read and fd.name contains shadow", &bpf.OpenFilter{Any: reads}},
		{"open_read and proc.fdopencount > 100", nil},
	} {
		rs := compileRules(t, "r.yaml", oneRule(tc.cond))
		got, why := openFilter(rs)
		if tc.want == nil {
			if got != nil {
				t.Errorf("%s: got %+v, want no filter", tc.cond, got)
			}
			continue
		}
		if got == nil {
			t.Errorf("%s: no filter (%s), want %+v", tc.cond, why, tc.want)
			continue
		}
		if got.Any != tc.want.Any || !slices.Equal(got.Paths, tc.want.Paths) || !slices.Equal(got.Comms, tc.want.Comms) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.cond, got, tc.want)
		}
	}
}

// Every open event of the default rules' cases that raises an alert is one
// the filter sends: the filter never hides an event a rule matches.
func TestOpenFilterKeepsDefaultRulesCases(t *testing.T) {
	rs := compileRules(t, builtin.RulesName, string(builtin.Rules), builtin.LocalName, string(builtin.Local))
	f, why := openFilter(rs)
	if f == nil {
		t.Fatalf("no open filter for the default rules: %s", why)
	}
	src := CaseSource()
	cf, err := ParseCases(builtin.TestsName, builtin.Tests, src)
	if err != nil {
		t.Fatal(err)
	}
	_, match := caseMatcher(t, src, map[string][]byte{builtin.RulesName: builtin.Rules, builtin.LocalName: builtin.Local},
		builtin.RulesName, builtin.LocalName)
	rep := RunCases(src, cf, match)
	alerting, dropped := 0, 0
	for _, res := range rep.Results {
		ev := res.Event
		if !openTypes[ev.Type] {
			continue
		}
		p, _ := ev.Values["fd.nameraw"].(string)
		if p == "" {
			p, _ = ev.Values["fd.name"].(string)
		}
		failed := false
		if n, ok := ev.Values["fd.num"].(int64); ok && n < 0 {
			failed = true
		}
		if r, ok := ev.Values["evt.res"].(string); ok && r != "SUCCESS" {
			failed = true
		}
		comm, _ := ev.Values["proc.name"].(string) // "" when the case's process says it
		for _, fl := range caseOpenFlags(ev.Type, ev.Values) {
			sent := f.WantsFrom(comm, p, fl, failed)
			if len(res.Got) > 0 && !sent {
				t.Errorf("%s:%d: %s of %s (flags %#o, failed %v) raises %v but the filter drops it",
					builtin.TestsName, ev.Line, ev.Type, p, fl, failed, res.Got)
			}
			if !sent {
				dropped++
			}
		}
		if len(res.Got) > 0 {
			alerting++
		}
	}
	if alerting < 5 || dropped == 0 {
		t.Errorf("the cases do not exercise the filter: %d alerting opens, %d dropped", alerting, dropped)
	}
	t.Logf("%d alerting open cases all sent; %d case opens dropped; filter: any %v, %d paths, %d commands", alerting, dropped, f.Any, len(f.Paths), len(f.Comms))
}

// caseOpenFlags returns the open flags a case event stands for: from
// evt.arg.flags, else from evt.is_open_read/write, else every access mode
// (the rules that matched did not look).
func caseOpenFlags(typ string, v map[string]any) []uint64 {
	const rdonly, wronly, rdwr = 0, 1, 2
	if typ == "creat" {
		return []uint64{wronly}
	}
	if s, ok := v["evt.arg.flags"].(string); ok {
		switch {
		case strings.Contains(s, "O_RDWR"):
			return []uint64{rdwr}
		case strings.Contains(s, "O_WRONLY"):
			return []uint64{wronly}
		}
		return []uint64{rdonly}
	}
	r, rok := v["evt.is_open_read"].(bool)
	w, wok := v["evt.is_open_write"].(bool)
	switch {
	case r && w:
		return []uint64{rdwr}
	case w:
		return []uint64{wronly}
	case r:
		return []uint64{rdonly}
	case rok || wok: // false given, the other unknown
		return []uint64{rdonly, wronly}
	}
	return []uint64{rdonly, wronly, rdwr}
}

// Falco's stable rules with the project's: the benchmark's ruleset. The
// filter must exist (no rule there matches any open), send reads of the
// sensitive files and writes below /etc, and drop a read of /etc/hostname.
func TestOpenFilterFalcoStableRules(t *testing.T) {
	falco, err := os.ReadFile(filepath.Join("..", "..", "shared", "compat", "falco", "falco_rules.yaml"))
	if err != nil {
		t.Fatalf("Falco's stable rules (the compatibility corpus beside the repository): %v", err)
	}
	rs := compileRules(t, "falco_rules.yaml", string(falco), builtin.RulesName, string(builtin.Rules))
	f, why := openFilter(rs)
	if f == nil {
		t.Fatalf("no open filter: %s", why)
	}
	const rdonly, wronly = 0, 1
	for _, c := range []struct {
		path  string
		flags uint64
		sent  bool
	}{
		{"/etc/shadow", rdonly, true},
		{"/etc/sudoers.d/90-cloud", rdonly, true},
		{"/etc/pam.d/sshd", rdonly, true},
		{"/root/.ssh/id_rsa", rdonly, true},
		{"/etc/cron.d/job", wronly, true},
		{"/dev/mem", wronly, true},
		{"/etc/hostname", rdonly, false},
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", rdonly, false},
		{"/proc/self/stat", rdonly, false},
	} {
		if got := f.Wants(c.path, c.flags, false); got != c.sent {
			t.Errorf("open of %s flags %d: sent %v, want %v", c.path, c.flags, got, c.sent)
		}
	}
	t.Logf("filter: any %v, %d paths, %d commands", f.Any, len(f.Paths), len(f.Comms))
}
