package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nightjar-sec/nightjar/alert"
)

// RuleMatching says what happens when several rules match one event.
type RuleMatching int

const (
	// MatchFirst stops at the first matching rule, in load order (Falco's
	// default, rule_matching: first).
	MatchFirst RuleMatching = iota
	// MatchAll reports every matching rule (rule_matching: all).
	MatchAll
)

// ParseRuleMatching reads falco.yaml's rule_matching value.
func ParseRuleMatching(s string) (RuleMatching, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "first":
		return MatchFirst, nil
	case "all":
		return MatchAll, nil
	}
	return MatchFirst, fmt.Errorf("rule_matching: unknown value %q (first or all)", s)
}

// Selection is one entry of falco.yaml's rules: list, applied in order:
//
//	rules:
//	  - disable: {rule: "*"}
//	  - enable: {tag: network}
//	  - enable: {rule: "Read sensitive file untrusted"}
//
// Rule names may hold * wildcards (Falco 0.38+); tags match exactly, or
// with * wildcards too.
type Selection struct {
	Enable  *Matcher `yaml:"enable,omitempty" json:"enable,omitempty"`
	Disable *Matcher `yaml:"disable,omitempty" json:"disable,omitempty"`
}

// Matcher names the rules a Selection applies to: by rule name or by tag.
type Matcher struct {
	Rule string `yaml:"rule,omitempty" json:"rule,omitempty"`
	Tag  string `yaml:"tag,omitempty" json:"tag,omitempty"`
}

// Options choose which loaded rules run and how.
type Options struct {
	// MinPriority drops rules less severe than it (falco.yaml priority).
	MinPriority alert.Priority
	// Select is falco.yaml's rules: list. It starts from each rule's
	// enabled key.
	Select []Selection
	// Tags, if set, keeps only rules with at least one of these tags (-t).
	Tags []string
	// SkipTags drops rules with any of these tags (-T).
	SkipTags []string
	// RuleMatching is first (default) or all.
	RuleMatching RuleMatching
	// TimeFormatISO8601 starts output lines with the UTC time in ISO 8601
	// (2026-11-29T16:31:56.746609046Z) instead of the local time of day,
	// as falco.yaml's time_format_iso_8601 does.
	TimeFormatISO8601 bool
}

func (s Selection) validate(i int) error {
	var m *Matcher
	switch {
	case s.Enable != nil && s.Disable != nil:
		return fmt.Errorf("rules[%d]: has both enable and disable; use one entry for each", i)
	case s.Enable != nil:
		m = s.Enable
	case s.Disable != nil:
		m = s.Disable
	default:
		return fmt.Errorf("rules[%d]: needs enable or disable, e.g. - disable: {rule: \"Name\"}", i)
	}
	if (m.Rule == "") == (m.Tag == "") {
		return fmt.Errorf("rules[%d]: name exactly one of rule or tag, e.g. {rule: \"Name\"} or {tag: network}", i)
	}
	return nil
}

// selected applies the options to a rule whose own enabled key is
// enabled.
func (o *Options) selected(r *Rule, enabled bool) bool {
	if !r.Priority.AtLeast(o.MinPriority) {
		return false
	}
	for _, s := range o.Select {
		m, on := s.Enable, true
		if m == nil {
			m, on = s.Disable, false
		}
		if m == nil {
			continue
		}
		if m.Rule != "" && wildcard(m.Rule, r.Name) ||
			m.Tag != "" && slices.ContainsFunc(r.Tags, func(t string) bool { return wildcard(m.Tag, t) }) {
			enabled = on
		}
	}
	if len(o.Tags) > 0 && !slices.ContainsFunc(r.Tags, func(t string) bool { return slices.Contains(o.Tags, t) }) {
		return false
	}
	if slices.ContainsFunc(r.Tags, func(t string) bool { return slices.Contains(o.SkipTags, t) }) {
		return false
	}
	return enabled
}

// wildcard matches s against a pattern where * stands for any run of
// characters and everything else is literal.
func wildcard(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last) && len(s) >= len(last)
}
