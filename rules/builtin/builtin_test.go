package builtin

import (
	"slices"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// The default rules and the local file load with no error and no warning.
func TestDefaultRulesLoad(t *testing.T) {
	l := rules.NewLoader(field.Syscall())
	if err := l.Load(RulesName, Rules); err != nil {
		t.Fatal(err)
	}
	if err := l.Load(LocalName, Local); err != nil {
		t.Fatal(err)
	}
	rs, err := l.Compile(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range l.Warnings() {
		t.Errorf("warning: %s", w)
	}
	if n := len(rs.Rules()); n < 30 {
		t.Fatalf("%d rules, want at least 30", n)
	}
	for _, r := range rs.Rules() {
		if !r.Enabled || r.Desc == "" || r.Output == "" {
			t.Errorf("rule %q: enabled=%v, desc and output must be set", r.Name, r.Enabled)
		}
		if _, all := r.EventTypes(); all {
			t.Errorf("rule %q matches every event type", r.Name)
		}
		mitre := false
		for _, tag := range r.Tags {
			if strings.HasPrefix(tag, "mitre_") {
				mitre = true
			}
		}
		if !mitre || !slices.ContainsFunc(r.Tags, func(t string) bool { return strings.HasPrefix(t, "T1") }) {
			t.Errorf("rule %q: tags %v lack a MITRE tactic and technique", r.Name, r.Tags)
		}
	}
}
