package detector

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

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

// RuleOptions turns the configuration and the -t/-T flags into the rules
// engine's options.
func RuleOptions(cfg *Config, tags, skipTags []string) (rules.Options, error) {
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
