package rules

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// compatDir finds shared/compat/falco by walking up from the package
// directory, so the tests do not depend on where the checkout sits.
func compatDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		for _, c := range []string{filepath.Join(dir, "shared", "compat", "falco"), filepath.Join(dir, "..", "shared", "compat", "falco")} {
			if st, err := os.Stat(filepath.Join(c, "falco_rules.yaml")); err == nil && !st.IsDir() {
				return c
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shared/compat/falco (Falco's rule files) not found above " + dir)
		}
		dir = parent
	}
}

func TestFalcoRuleFilesLoad(t *testing.T) {
	dir := compatDir(t)
	cases := []struct {
		name  string
		files []string
		rules int
	}{
		{"stable", []string{"falco_rules.yaml"}, 25},
		{"stable+incubating", []string{"falco_rules.yaml", "falco-incubating_rules.yaml"}, 25 + 31},
		{"stable+sandbox", []string{"falco_rules.yaml", "falco-sandbox_rules.yaml"}, 25 + 37},
		{"k8s_audit", []string{"k8s_audit_rules.yaml"}, 48},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewLoader(field.Syscall(), field.K8sAudit())
			for _, f := range c.files {
				l.LoadPath(filepath.Join(dir, f))
			}
			rs, err := l.Compile(Options{})
			if err != nil {
				t.Fatalf("Falco's rules do not load:\n%v", err)
			}
			if n := len(rs.Rules()); n != c.rules {
				t.Fatalf("loaded %d rules, want %d", n, c.rules)
			}
			for _, w := range l.Warnings() {
				t.Logf("warning: %s", w)
			}
		})
	}
}

// Falco's syscall and k8s_audit rules loaded together, each rule compiled
// against its own source's catalog.
func TestFalcoRuleFilesTwoSources(t *testing.T) {
	dir := compatDir(t)
	l := NewLoader(field.Syscall(), field.K8sAudit())
	l.LoadPath(filepath.Join(dir, "falco_rules.yaml"))
	l.LoadPath(filepath.Join(dir, "k8s_audit_rules.yaml"))
	rs, err := l.Compile(Options{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range rs.Rules() {
		count[r.Source]++
	}
	if count["syscall"] != 25 || count["k8s_audit"] != 48 {
		t.Fatalf("rules per source %v", count)
	}
	names, all := rs.EventTypes("syscall")
	if all || len(names) == 0 {
		t.Fatalf("syscall event types %v (all=%v)", names, all)
	}
	t.Logf("stable rules need %d syscall event types: %v", len(names), names)
}

// Every Falco rule runs over the synthetic stream (rule_matching: all)
// and every alert it raises is a valid alert.
func TestFalcoRulesRunAndFormat(t *testing.T) {
	dir := compatDir(t)
	for _, extra := range []string{"falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"} {
		src := synthSource()
		l := NewLoader(src)
		l.LoadPath(filepath.Join(dir, "falco_rules.yaml"))
		l.LoadPath(filepath.Join(dir, extra))
		rs, err := l.Compile(Options{RuleMatching: MatchAll, Select: []Selection{{Enable: &Matcher{Rule: "*"}}}})
		if err != nil {
			t.Fatal(err)
		}
		fx := &synthFixture{open: src.EventType("openat"), exec: src.EventType("execve"),
			connect: src.EventType("connect"), close: src.EventType("close"), mmap: src.EventType("mmap")}
		s := rs.Source("syscall")
		alerts := 0
		for _, ev := range realisticStream(fx, 2000) {
			s.Process(ev, func(r *Rule) {
				a := r.Alert(ev)
				if err := a.Validate(); err != nil {
					t.Fatalf("rule %q: invalid alert: %v", r.Name, err)
				}
				if _, err := a.Encode(); err != nil {
					t.Fatalf("rule %q: %v", r.Name, err)
				}
				alerts++
			})
		}
		if alerts == 0 {
			t.Fatalf("stable + %s: no rule matched the synthetic stream", extra)
		}
	}
}
