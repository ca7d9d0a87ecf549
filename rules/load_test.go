package rules

import (
	"os"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// load runs the loader over several files given as strings.
func load(t *testing.T, files ...string) *Loader {
	t.Helper()
	l := NewLoader(field.Syscall(), field.K8sAudit())
	for i, f := range files {
		l.Load("f"+string(rune('1'+i))+".yaml", []byte(f))
	}
	return l
}

func mustLoad(t *testing.T, files ...string) *Loader {
	t.Helper()
	l := load(t, files...)
	if len(l.errs) > 0 {
		t.Fatalf("unexpected errors:\n%v", l.errs)
	}
	return l
}

func wantError(t *testing.T, l *Loader, want string) {
	t.Helper()
	for _, e := range l.errs {
		if strings.Contains(e.Error(), want) {
			return
		}
	}
	t.Fatalf("no error containing %q; got:\n%v", want, l.errs)
}

const baseRule = `
- list: my_programs
  items: [ls, cat, pwd]
- macro: access_file
  condition: evt.type=open
- rule: program_accesses_file
  desc: track whenever a set of programs opens a file
  condition: proc.name in (my_programs) and (access_file)
  output: a tracked program opened a file (user=%user.name command=%proc.cmdline file=%fd.name)
  priority: INFO
  tags: [filesystem]
`

func TestListOverrides(t *testing.T) {
	cases := []struct {
		name, local string
		want        []string
	}{
		{"override append", "- list: my_programs\n  items: [cp]\n  override:\n    items: append\n", []string{"ls", "cat", "pwd", "cp"}},
		{"override replace", "- list: my_programs\n  items: [vi, vim, nano]\n  override:\n    items: replace\n", []string{"vi", "vim", "nano"}},
		{"legacy append", "- list: my_programs\n  append: true\n  items: [cp]\n", []string{"ls", "cat", "pwd", "cp"}},
		{"redefinition", "- list: my_programs\n  items: []\n", []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := mustLoad(t, baseRule, c.local)
			got := l.listBy["my_programs"].items
			if strings.Join(got, ",") != strings.Join(c.want, ",") || len(l.lists) != 1 {
				t.Fatalf("items = %v, want %v", got, c.want)
			}
		})
	}
}

func TestListsExpandListsInOrder(t *testing.T) {
	l := mustLoad(t, `
- list: a
  items: [x, y]
- list: b
  items: [a, z]
- list: a
  items: [w]
`)
	if l.lists[0].name != "a" || l.lists[1].name != "b" {
		t.Fatalf("redefinition moved the list: %v, %v", l.lists[0].name, l.lists[1].name)
	}
}

func TestMacroOverrides(t *testing.T) {
	cases := []struct {
		name, local, want string
	}{
		{"override append", "- macro: access_file\n  condition: or evt.type=openat\n  override:\n    condition: append\n", "evt.type=open or evt.type=openat"},
		{"override replace", "- macro: access_file\n  condition: evt.type=openat\n  override:\n    condition: replace\n", "evt.type=openat"},
		{"legacy append", "- macro: access_file\n  append: true\n  condition: or evt.type=openat\n", "evt.type=open or evt.type=openat"},
		{"redefinition", "- macro: access_file\n  condition: (never_true)\n", "(never_true)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := mustLoad(t, baseRule, c.local)
			if got := l.macroBy["access_file"].cond.s; got != c.want || len(l.macros) != 1 {
				t.Fatalf("condition = %q, want %q", got, c.want)
			}
		})
	}
}

func TestRuleOverrides(t *testing.T) {
	cases := []struct {
		name, local string
		check       func(t *testing.T, d *ruleDef)
	}{
		{"append condition, replace output", `
- rule: program_accesses_file
  condition: and not user.name=root
  output: A file (user=%user.name command=%proc.cmdline file=%fd.name) was opened by a monitored program
  override:
    condition: append
    output: replace
`, func(t *testing.T, d *ruleDef) {
			if d.cond.s != "proc.name in (my_programs) and (access_file) and not user.name=root" {
				t.Errorf("condition %q", d.cond.s)
			}
			if d.output.s != "A file (user=%user.name command=%proc.cmdline file=%fd.name) was opened by a monitored program" {
				t.Errorf("output %q", d.output.s)
			}
			if d.priority != alert.PriorityInformational {
				t.Errorf("priority changed: %v", d.priority)
			}
		}},
		{"append output, desc and tags", `
- rule: program_accesses_file
  output: (pid=%proc.pid)
  desc: and more
  tags: [mitre_discovery, filesystem]
  override:
    output: append
    desc: append
    tags: append
`, func(t *testing.T, d *ruleDef) {
			if !strings.HasSuffix(d.output.s, "file=%fd.name) (pid=%proc.pid)") || d.desc != "track whenever a set of programs opens a file and more" {
				t.Errorf("output %q desc %q", d.output.s, d.desc)
			}
			if strings.Join(d.tags, ",") != "filesystem,mitre_discovery" {
				t.Errorf("tags %v", d.tags)
			}
		}},
		{"replace priority, tags, enabled, warn_evttypes, skip-if-unknown-filter", `
- rule: program_accesses_file
  priority: CRITICAL
  tags: [t1]
  enabled: false
  warn_evttypes: false
  skip-if-unknown-filter: true
  override:
    priority: replace
    tags: replace
    enabled: replace
    warn_evttypes: replace
    skip-if-unknown-filter: replace
`, func(t *testing.T, d *ruleDef) {
			if d.priority != alert.PriorityCritical || strings.Join(d.tags, ",") != "t1" || d.enabled || d.warnEvttypes || !d.skipUnknown {
				t.Errorf("got %+v", d)
			}
		}},
		{"enable through override", `
- rule: program_accesses_file
  enabled: false
  override: {enabled: replace}
- rule: program_accesses_file
  enabled: true
  override: {enabled: replace}
`, func(t *testing.T, d *ruleDef) {
			if !d.enabled {
				t.Error("not enabled")
			}
		}},
		{"legacy append condition", `
- rule: program_accesses_file
  append: true
  condition: and not user.name=root
`, func(t *testing.T, d *ruleDef) {
			if d.cond.s != "proc.name in (my_programs) and (access_file) and not user.name=root" {
				t.Errorf("condition %q", d.cond.s)
			}
		}},
		{"legacy enabled toggle", `
- rule: program_accesses_file
  enabled: false
`, func(t *testing.T, d *ruleDef) {
			if d.enabled || d.cond.s == "" {
				t.Errorf("got %+v", d)
			}
		}},
		{"redefinition replaces in place", `
- rule: other
  desc: d
  condition: evt.type=close
  output: o
  priority: debug
- rule: program_accesses_file
  desc: new
  condition: evt.type=openat
  output: new output
  priority: warning
`, func(t *testing.T, d *ruleDef) {
			if d.desc != "new" || d.cond.s != "evt.type=openat" || d.priority != alert.PriorityWarning || len(d.tags) != 0 {
				t.Errorf("got %+v", d)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := mustLoad(t, baseRule, c.local)
			if l.rules[0].name != "program_accesses_file" {
				t.Fatalf("rule order changed: first is %s", l.rules[0].name)
			}
			c.check(t, l.rules[0])
		})
	}
}

func TestOverrideErrors(t *testing.T) {
	cases := []struct{ name, local, want string }{
		{"undefined rule", "- rule: nope\n  condition: and x\n  override: {condition: append}\n", `cannot append to rule "nope": it is not defined earlier`},
		{"undefined rule legacy", "- rule: nope\n  append: true\n  condition: and x\n", `cannot append to rule "nope"`},
		{"undefined macro", "- macro: nope\n  condition: x\n  override: {condition: append}\n", "cannot append to macro nope"},
		{"undefined list", "- list: nope\n  items: [x]\n  append: true\n", "cannot append to list nope"},
		{"enable undefined", "- rule: nope\n  enabled: false\n", `cannot set enabled on rule "nope"`},
		{"priority append", "- rule: program_accesses_file\n  priority: debug\n  override: {priority: append}\n", "key priority cannot be appended to; use priority: replace"},
		{"unknown override key", "- rule: program_accesses_file\n  source: k8s_audit\n  override: {source: replace}\n", "key source cannot be replaced"},
		{"bad action", "- rule: program_accesses_file\n  desc: x\n  override: {desc: prepend}\n", `override of desc must be append or replace, got the value "prepend"`},
		{"key missing", "- rule: program_accesses_file\n  override: {desc: replace}\n", "override says desc: replace, but the item has no desc key"},
		{"key not listed", "- rule: program_accesses_file\n  desc: x\n  output: y\n  override: {desc: replace}\n", "key output is set but not listed under override"},
		{"override and append", "- rule: program_accesses_file\n  desc: x\n  append: true\n  override: {desc: append}\n", "override and append: true cannot be used together"},
		{"legacy append without condition", "- rule: program_accesses_file\n  append: true\n  output: x\n", "append: true needs a condition or exceptions to append"},
		{"list override condition", "- list: my_programs\n  items: [a]\n  override: {condition: append}\n", "key condition cannot be overridden"},
		{"missing keys", "- rule: new\n  condition: evt.type=open\n  desc: x\n", "missing key output, priority"},
		{"bad priority", "- rule: new\n  condition: evt.type=open\n  desc: x\n  output: y\n  priority: severe\n", `unknown priority "severe"`},
		{"different source", "- rule: program_accesses_file\n  source: k8s_audit\n  condition: and x\n  override: {condition: append}\n", "source k8s_audit differs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, load(t, baseRule, c.local), c.want)
		})
	}
}

func TestErrorsAreCollected(t *testing.T) {
	l := load(t, "- rule: a\n  desc: x\n- rule: b\n  desc: y\n- list: c\n")
	if len(l.errs) != 3 {
		t.Fatalf("want 3 errors, got %v", l.errs)
	}
	if l.errs[1].Line != 3 || l.errs[1].Col != 3 || l.errs[1].File != "f1.yaml" || l.errs[1].Item != `rule "b"` {
		t.Fatalf("misplaced: %+v", l.errs[1])
	}
}

func TestWarnings(t *testing.T) {
	l := mustLoad(t, "- rule: a\n  desc: x\n  contition: evt.type=open\n  condition: evt.type=open\n  output: o\n  priority: debug\n- foo: bar\n")
	var ws []string
	for _, w := range l.warns {
		ws = append(ws, w.String())
	}
	got := strings.Join(ws, "\n")
	for _, want := range []string{`f1.yaml:3:3: rule "a": unknown key "contition" ignored (did you mean condition?)`, `f1.yaml:7:3: unknown item "foo" ignored`} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
}

func TestRequirementsRecorded(t *testing.T) {
	l := mustLoad(t, `
- required_engine_version: 0.50.0
- required_plugin_versions:
  - name: k8saudit
    version: 0.18.0
    alternatives:
      - name: k8saudit-eks
        version: 0.12.0
`)
	if len(l.EngineVersions) != 1 || l.EngineVersions[0] != "0.50.0" {
		t.Fatalf("engine versions %v", l.EngineVersions)
	}
	if len(l.PluginVersions) != 1 || l.PluginVersions[0].Name != "k8saudit" || l.PluginVersions[0].Alternatives[0].Name != "k8saudit-eks" {
		t.Fatalf("plugin versions %+v", l.PluginVersions)
	}
}

func TestRequiredEngineVersion(t *testing.T) {
	mustLoad(t, "- required_engine_version: 15\n- required_engine_version: 0.57.0\n")
	wantError(t, load(t, "- required_engine_version: 0.99.1\n"), "the rules need engine version 0.99.1, this engine is 0.57.0")
	wantError(t, load(t, "- required_engine_version: latest\n"), `"latest" is not a version`)
}

func TestLegacyAppendIgnoresOtherKeys(t *testing.T) {
	l := mustLoad(t, baseRule, "- rule: program_accesses_file\n  append: true\n  condition: and proc.pid > 1\n  output: ignored\n")
	if d := l.rules[0]; !strings.HasSuffix(d.cond.s, "and proc.pid > 1") || strings.Contains(d.output.s, "ignored") {
		t.Fatalf("got %+v", d)
	}
	if len(l.warns) != 2 || !strings.Contains(l.warns[1].String(), "output ignored") || !strings.Contains(l.warns[0].String(), "deprecated") {
		t.Fatalf("warnings %v", l.warns)
	}
}

func TestMultipleDocuments(t *testing.T) {
	l := mustLoad(t, "- list: a\n  items: [x]\n---\n- list: b\n  items: [a]\n---\n")
	if len(l.lists) != 2 {
		t.Fatalf("lists %d", len(l.lists))
	}
	l = load(t, "- list: a\n  items: [x]\n---\n- list: [b\n")
	if len(l.lists) != 0 || len(l.errs) != 1 || !strings.Contains(l.errs[0].Error(), "invalid YAML") {
		t.Fatalf("a file with a syntax error loaded something: %v %v", l.lists, l.errs)
	}
	mustLoad(t, "")
	mustLoad(t, "# only a comment\n")
}

func TestFalcoReaderDetails(t *testing.T) {
	// Null entries are skipped; outputs are trimmed.
	l := mustLoad(t, "-\n- rule: r\n  desc: d\n  condition: evt.type=open\n  output: >\n    file=%fd.name\n  priority: debug\n")
	if got := l.rules[0].output.s; got != "file=%fd.name" {
		t.Fatalf("output %q", got)
	}
	if _, line, col := l.rules[0].output.at(5); line != 6 || col != 10 {
		t.Fatalf("trimmed output maps to %d:%d", line, col)
	}
	wantError(t, load(t, "- macro: 1bad\n  condition: x\n"), "invalid macro name")
	wantError(t, load(t, "- list: \"a b\"\n  items: []\n"), "invalid list name")
	wantError(t, load(t, "- macro: m\n  condition: \"\"\n"), "condition must not be empty")
	wantError(t, load(t, "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: \"\"\n  priority: debug\n"), "output must not be empty")
	wantError(t, load(t, baseRule, "- rule: program_accesses_file\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: debug\n  source: k8s_audit\n"),
		"defined again with a different source (syscall before)")
	l = mustLoad(t, baseRule, "- rule: program_accesses_file\n  enabled: false\n")
	if len(l.warns) != 1 || !strings.Contains(l.warns[0].String(), "standalone enabled key is deprecated") {
		t.Fatalf("warnings %v", l.warns)
	}
}

// An error in a condition appended by a later file is reported in that
// file, at the line of the appended text.
func TestErrorInAppendedConditionNamesItsFile(t *testing.T) {
	l := load(t, baseRule, "# local overrides\n- rule: program_accesses_file\n  condition: >\n    and not\n    proc.nmae = x\n  override:\n    condition: append\n")
	_, err := l.Compile(Options{})
	if err == nil || !strings.Contains(err.Error(), "f2.yaml:5:5: rule \"program_accesses_file\": unknown field proc.nmae") {
		t.Fatalf("got %v", err)
	}
}

func TestOverrideWithAppendFalse(t *testing.T) {
	l := mustLoad(t, baseRule, "- rule: program_accesses_file\n  append: false\n  desc: new\n  override: {desc: replace}\n")
	if l.rules[0].desc != "new" {
		t.Fatalf("desc %q", l.rules[0].desc)
	}
}

// Falco defines a macro or list that an override replaces when there is
// none yet; nightjar does too, with a warning.
func TestReplaceUndefinedMacroOrListDefinesIt(t *testing.T) {
	l := mustLoad(t, "- macro: m\n  condition: evt.type = open\n  override: {condition: replace}\n- list: l\n  items: [a]\n  override: {items: replace}\n")
	if l.macroBy["m"] == nil || l.listBy["l"] == nil || len(l.warns) != 2 {
		t.Fatalf("macro %v list %v warnings %v", l.macroBy["m"], l.listBy["l"], l.warns)
	}
}

// Windows line endings place errors on the same lines and columns.
func TestCRLFPositions(t *testing.T) {
	src, err := os.ReadFile("testdata/errors/unknown_field.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoader(field.Syscall())
	l.Load("crlf.yaml", []byte(strings.ReplaceAll(string(src), "\n", "\r\n")))
	_, err = l.Compile(Options{})
	if err == nil || !strings.Contains(err.Error(), "crlf.yaml:5:9: ") {
		t.Fatalf("got %v", err)
	}
}
