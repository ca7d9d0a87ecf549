package detector

import (
	"os"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/detector/sysevent"
)

func TestLoadRulesPaths(t *testing.T) {
	src := sysevent.NewSource()
	// The optional default paths may be missing; any other path may not.
	if _, err := LoadRules(src, []string{DefaultLocalFile, DefaultRulesDir}); err != nil && !fileExists(DefaultLocalFile) {
		t.Fatalf("optional defaults: %v", err)
	}
	_, err := LoadRules(src, []string{"/nonexistent/rules.yaml"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/rules.yaml: does not exist") {
		t.Fatalf("missing rules file: %v", err)
	}
	if fileExists(DefaultRulesFile) {
		return // installed: the embedded fallback is not used
	}
	l, err := LoadRules(src, []string{DefaultRulesFile})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, _ := LoadConfig("", false, nil)
	opts, _ := RuleOptions(cfg, nil, nil)
	rs, err := l.Compile(opts)
	if err != nil || len(rs.Rules()) < 30 {
		t.Fatalf("embedded fallback: %v", err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// rules: selection, priority and -t/-T reach the engine.
func TestRuleOptionsSelection(t *testing.T) {
	cfg, _, err := LoadConfig("", false, []string{
		`rules=[{disable: {rule: "*"}}, {enable: {tag: [network, T1611]}}, {disable: {rule: "Mount in*"}}]`,
		"priority=notice",
	})
	if err != nil {
		t.Fatal(err)
	}
	enabled := func(tags, skip []string) map[string]bool {
		src := sysevent.NewSource()
		l, err := LoadRules(src, []string{DefaultRulesFile})
		if err != nil {
			t.Fatal(err)
		}
		opts, err := RuleOptions(cfg, tags, skip)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := l.Compile(opts)
		if err != nil {
			t.Fatal(err)
		}
		on := map[string]bool{}
		for _, r := range rs.Rules() {
			if r.Enabled {
				on[r.Name] = true
			}
		}
		return on
	}
	if fileExists(DefaultRulesFile) {
		t.Skip("an installed default ruleset may differ from the embedded one")
	}
	on := enabled(nil, nil)
	for _, want := range []string{"Reverse shell", "Namespace change in container", "Container escape via release_agent", "SSH connection to non-standard port"} {
		if !on[want] {
			t.Errorf("%q should be enabled (tag network or T1611): %v", want, on)
		}
	}
	for _, not := range []string{"Mount in container", "Sensitive file read by untrusted program"} {
		if on[not] {
			t.Errorf("%q should be disabled", not)
		}
	}
	on = enabled([]string{"container"}, []string{"network"})
	if on["Reverse shell"] || !on["Namespace change in container"] {
		t.Errorf("-t container -T network: %v", on)
	}
}
