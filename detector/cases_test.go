package detector

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/builtin"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// caseMatcher compiles rule files for the case source with every rule
// reported (rule_matching: all).
func caseMatcher(t *testing.T, src *field.Source, files map[string][]byte, order ...string) (*rules.Ruleset, CaseMatcher) {
	t.Helper()
	l := rules.NewLoader(src)
	for _, n := range order {
		l.Load(n, files[n])
	}
	rs, err := l.Compile(rules.Options{RuleMatching: rules.MatchAll})
	if err != nil {
		t.Fatal(err)
	}
	return rs, RulesetMatcher(rs)
}

// The default ruleset's cases: every one passes, and every rule is raised
// by some event and deliberately not raised by another.
func TestDefaultRulesCases(t *testing.T) {
	src := CaseSource()
	rs, match := caseMatcher(t, src, map[string][]byte{builtin.RulesName: builtin.Rules, builtin.LocalName: builtin.Local},
		builtin.RulesName, builtin.LocalName)
	cf, err := ParseCases(builtin.TestsName, builtin.Tests, src)
	if err != nil {
		t.Fatal(err)
	}
	rep := RunCases(src, cf, match)
	var out bytes.Buffer
	rep.Write(&out, builtin.TestsName, false)
	if rep.Failed > 0 {
		t.Fatalf("cases failed:\n%s", out.String())
	}
	t.Log(strings.TrimSpace(out.String()))
	positive := map[string]bool{}
	negative := map[string]bool{}
	for _, res := range rep.Results {
		for _, r := range res.Event.Expect {
			positive[r] = true
		}
		if res.Case.Rule != "" && !slices.Contains(res.Got, res.Case.Rule) {
			negative[res.Case.Rule] = true
		}
	}
	if len(rs.Rules()) < 30 {
		t.Errorf("only %d default rules", len(rs.Rules()))
	}
	for _, r := range rs.Rules() {
		if !positive[r.Name] {
			t.Errorf("rule %q: no case raises it", r.Name)
		}
		if !negative[r.Name] {
			t.Errorf("rule %q: no case (rule: %s) checks an event that must not raise it", r.Name, r.Name)
		}
	}
}
