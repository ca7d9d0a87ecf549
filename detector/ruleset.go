package detector

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/builtin"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// The installed locations of the default ruleset. When the default rules
// file is absent, the copy embedded in the binary is used; the local file
// and rules.d are optional.
const (
	DefaultRulesFile = "/etc/nightjar/nightjar_rules.yaml"
	DefaultLocalFile = "/etc/nightjar/nightjar_rules.local.yaml"
	DefaultRulesDir  = "/etc/nightjar/rules.d"
)

// LoadRules loads rule files and directories in order into a loader for
// src. A path that does not exist is an error, except the default
// installation paths (see above). It returns the loader (for Compile,
// Errors and Warnings); the error is the loader's full list of problems.
func LoadRules(src *field.Source, paths []string) (*rules.Loader, error) {
	l := rules.NewLoader(src)
	var errs []error
	for _, p := range paths {
		_, statErr := os.Stat(p)
		missing := errors.Is(statErr, fs.ErrNotExist)
		switch {
		case missing && p == DefaultRulesFile:
			slog.Debug("default rules not installed, using the embedded copy", "path", p)
			l.Load("nightjar_rules.yaml (embedded)", builtin.Rules)
		case missing && (p == DefaultLocalFile || p == DefaultRulesDir):
			// Optional.
		case missing:
			errs = append(errs, fmt.Errorf("rules file %s: does not exist", p))
		default:
			l.LoadPath(p)
		}
	}
	if le := l.Errors(); len(le) > 0 {
		errs = append(errs, le)
	}
	return l, errors.Join(errs...)
}

// ErrTagsAndSkipTags is -t given with -T. Falco refuses the pair ("You can
// not specify both disabled (-D/-T) and enabled (-t) rules"): -t already
// disables every rule without its tags.
var ErrTagsAndSkipTags = errors.New("-t and -T can not be given together: -t runs only the rules with its tags, " +
	"-T disables the rules with its tags; use one, or the configuration's rules: list for both " +
	"(-o 'rules[].disable.rule=*' -o 'rules[].enable.tag=A' -o 'rules[].disable.tag=B')")

// RuleOptions turns the configuration and the -t/-T flags into the rules
// engine's options.
func RuleOptions(cfg *Config, tags, skipTags []string) (rules.Options, error) {
	if len(tags) > 0 && len(skipTags) > 0 {
		return rules.Options{}, ErrTagsAndSkipTags
	}
	m, err := rules.ParseRuleMatching(cfg.RuleMatching)
	if err != nil {
		return rules.Options{}, err
	}
	o := rules.Options{MinPriority: cfg.MinPriority(), Tags: tags, SkipTags: skipTags, RuleMatching: m,
		TimeFormatISO8601: cfg.TimeFormatISO8601}
	for _, s := range cfg.Rules {
		rm, on := s.Enable, true
		if rm == nil {
			rm, on = s.Disable, false
		}
		add := func(m *rules.Matcher) {
			if on {
				o.Select = append(o.Select, rules.Selection{Enable: m})
			} else {
				o.Select = append(o.Select, rules.Selection{Disable: m})
			}
		}
		for _, r := range rm.Rule {
			add(&rules.Matcher{Rule: r})
		}
		for _, t := range rm.Tag {
			add(&rules.Matcher{Tag: t})
		}
	}
	return o, nil
}

// CheckTags returns an error for each -t or -T tag that no loaded rule
// has, naming the closest tag or listing those there are: a misspelt -t
// would otherwise disable every rule, and a misspelt -T none, with only an
// info line to tell.
func CheckTags(rs *rules.Ruleset, tags, skipTags []string) error {
	have := map[string]bool{}
	for _, r := range rs.Rules() {
		for _, t := range r.Tags {
			have[t] = true
		}
	}
	all := make([]string, 0, len(have))
	for t := range have {
		all = append(all, t)
	}
	sort.Strings(all)
	var errs []error
	check := func(flag string, list []string) {
		for _, t := range list {
			if have[t] {
				continue
			}
			msg := fmt.Sprintf("%s %s: no loaded rule has this tag", flag, t)
			switch best := closestTag(t, all); {
			case len(all) == 0:
				msg += " (the loaded rules have no tags)"
			case best != "":
				msg += fmt.Sprintf(" (did you mean %s?)", best)
			default:
				msg += "; the loaded rules' tags: " + strings.Join(all, ", ")
			}
			errs = append(errs, errors.New(msg))
		}
	}
	check("-t", tags)
	check("-T", skipTags)
	return errors.Join(errs...)
}

// closestTag returns the tag of all nearest to t, if one is close (a
// different case, or a few letters off).
func closestTag(t string, all []string) string {
	best, bestD := "", len(t)/3+1
	for _, a := range all {
		if strings.EqualFold(a, t) {
			return a
		}
		if d := field.EditDistance(t, a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}
