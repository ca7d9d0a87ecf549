package detector

import (
	"os"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/detector/sysevent"
	"github.com/nightjar-sec/nightjar/rules"
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
		return enabledRules(compileDefaults(t, cfg, tags, skip))
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
	on = enabled([]string{"T1611"}, nil)
	if on["Reverse shell"] || !on["Namespace change in container"] {
		t.Errorf("-t T1611: %v", on)
	}
	on = enabled(nil, []string{"network"})
	if on["Reverse shell"] || !on["Namespace change in container"] {
		t.Errorf("-T network: %v", on)
	}
}

// -t and -T together are refused, as Falco refuses them: -t already
// disables every rule without its tags.
func TestRuleOptionsTagsAndSkipTags(t *testing.T) {
	cfg, _, err := LoadConfig("", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RuleOptions(cfg, []string{"container"}, []string{"network"}); err == nil ||
		!strings.Contains(err.Error(), "-t and -T can not be given together") {
		t.Fatalf("-t container -T network: %v", err)
	}
}

// Falco's -o forms for the rules: list select what -t and -T do.
func TestRuleOptionsFromOverrides(t *testing.T) {
	if fileExists(DefaultRulesFile) {
		t.Skip("an installed default ruleset may differ from the embedded one")
	}
	enabled := func(overrides ...string) map[string]bool {
		cfg, _, err := LoadConfig("", false, overrides)
		if err != nil {
			t.Fatal(err)
		}
		return enabledRules(compileDefaults(t, cfg, nil, nil))
	}
	on := enabled("rules[].disable.rule=*", "rules[].enable.tag=T1611", "rules[].disable.tag=process")
	if len(on) == 0 {
		t.Fatal("no rule enabled")
	}
	if on["Reverse shell"] || on["Namespace change in container"] || !on["Container escape via release_agent"] {
		t.Errorf("rules[] -o forms: %v", on)
	}
}

// A -t or -T tag that no loaded rule has is an error naming it, with the
// closest tag or the list of tags.
func TestCheckTags(t *testing.T) {
	if fileExists(DefaultRulesFile) {
		t.Skip("an installed default ruleset may differ from the embedded one")
	}
	cfg, _, _ := LoadConfig("", false, nil)
	rs := compileDefaults(t, cfg, nil, nil)
	if err := CheckTags(rs, []string{"network", "T1611"}, nil); err != nil {
		t.Errorf("existing tags: %v", err)
	}
	err := CheckTags(rs, []string{"nosuchtag", "netwrok"}, []string{"Container"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"-t nosuchtag: no loaded rule has this tag; the loaded rules' tags: ", "container, ",
		"-t netwrok: no loaded rule has this tag (did you mean network?)",
		"-T Container: no loaded rule has this tag (did you mean container?)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// compileDefaults compiles the default rules file with cfg and -t/-T.
func compileDefaults(t *testing.T, cfg *Config, tags, skip []string) *rules.Ruleset {
	t.Helper()
	l, err := LoadRules(sysevent.NewSource(), []string{DefaultRulesFile})
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
	return rs
}

// enabledRules is the set of names of rs's enabled rules.
func enabledRules(rs *rules.Ruleset) map[string]bool {
	on := map[string]bool{}
	for _, r := range rs.Rules() {
		if r.Enabled {
			on[r.Name] = true
		}
	}
	return on
}
