package detector

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// Rule test cases (`nightjar test CASES.yaml`): events given as field
// values, run through a ruleset without a kernel.
//
//	cases:
//	  - name: cat reads /etc/shadow
//	    rule: Sensitive file read by untrusted program   # what the case is about (coverage)
//	    process:                                         # state shared by every event
//	      proc.name: cat
//	      user.name: alice
//	    events:
//	      - evt.type: openat
//	        fd.name: /etc/shadow
//	        expect: Sensitive file read by untrusted program
//	      - evt.type: openat
//	        fd.name: /etc/hostname                        # no expect: no alert
//
// Each event is the case's process fields overlaid with its own; a field
// not given is missing (<NA>), except the defaults in caseDefaults. The
// rules run with rule_matching: all, and an event passes when the rules it
// raises are exactly those in expect (none when expect is absent or []).

// CaseFile is a parsed cases file.
type CaseFile struct {
	Path  string
	Cases []*Case
}

// Case is one named sequence of events.
type Case struct {
	Name   string
	Rule   string // the rule the case is about, if it says
	Line   int
	Events []*CaseEvent
}

// CaseEvent is one event and the rules it must raise.
type CaseEvent struct {
	Line   int
	Type   string
	Values map[string]any // canonical field ref -> typed value
	Expect []string
}

// caseDefaults are the values an event has unless the case says otherwise:
// a successful syscall on the host.
var caseDefaults = map[string]any{
	"evt.res":        "SUCCESS",
	"evt.rawres":     int64(0),
	"evt.failed":     false,
	"evt.dir":        "<",
	"container.id":   "host",
	"container.name": "host",
}

// ParseCases reads a cases file, checking every field name and value
// against src; errors name file:line.
func ParseCases(path string, data []byte, src *field.Source) (*CaseFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	cf := &CaseFile{Path: path}
	var errs []error
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d:%d: %s", path, n.Line, n.Column, fmt.Sprintf(format, args...)))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file (want cases: [...])", path)
	}
	root := doc.Content[0]
	casesNode := mapValue(root, "cases")
	if root.Kind != yaml.MappingNode || casesNode == nil || casesNode.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: want a mapping with a cases: list", path, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Value != "cases" {
			bad(k, "unknown key %q (want cases)", k.Value)
		}
	}
	for _, cn := range casesNode.Content {
		if cn.Kind != yaml.MappingNode {
			bad(cn, "a case is a mapping (name, rule, process, events)")
			continue
		}
		c := &Case{Line: cn.Line}
		var process map[string]any
		var events *yaml.Node
		for i := 0; i+1 < len(cn.Content); i += 2 {
			k, v := cn.Content[i], cn.Content[i+1]
			switch k.Value {
			case "name":
				c.Name = v.Value
			case "rule":
				c.Rule = v.Value
			case "process":
				process = map[string]any{}
				if v.Kind != yaml.MappingNode {
					bad(v, "process: want a mapping of field: value")
					continue
				}
				for j := 0; j+1 < len(v.Content); j += 2 {
					key, val, err := caseValue(src, v.Content[j].Value, v.Content[j+1])
					if err != nil {
						bad(v.Content[j], "%v", err)
						continue
					}
					process[key] = val
				}
			case "events":
				events = v
			default:
				bad(k, "unknown key %q in a case (want name, rule, process, events)", k.Value)
			}
		}
		if c.Name == "" {
			bad(cn, "case without a name")
		}
		if events == nil || events.Kind != yaml.SequenceNode || len(events.Content) == 0 {
			bad(cn, "case %q has no events", c.Name)
			continue
		}
		for _, en := range events.Content {
			if en.Kind != yaml.MappingNode {
				bad(en, "an event is a mapping of field: value (and expect)")
				continue
			}
			ev := &CaseEvent{Line: en.Line, Values: map[string]any{}}
			for k, v := range caseDefaults {
				ev.Values[k] = v
			}
			for k, v := range process {
				ev.Values[k] = v
			}
			for j := 0; j+1 < len(en.Content); j += 2 {
				k, v := en.Content[j], en.Content[j+1]
				if k.Value == "expect" {
					var l StringList
					if err := v.Decode(&l); err != nil {
						bad(v, "expect: want a rule name or a list of them")
					}
					ev.Expect = l
					continue
				}
				key, val, err := caseValue(src, k.Value, v)
				if err != nil {
					bad(k, "%v", err)
					continue
				}
				ev.Values[key] = val
			}
			t, _ := ev.Values["evt.type"].(string)
			if t == "" {
				bad(en, "event without evt.type")
				continue
			}
			ev.Type = t
			c.Events = append(c.Events, ev)
		}
		cf.Cases = append(cf.Cases, c)
	}
	return cf, errors.Join(errs...)
}

// LoadCases reads and parses a cases file.
func LoadCases(path string, src *field.Source) (*CaseFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseCases(path, data, src)
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// caseValue resolves a field reference and converts a YAML value to the
// field's type; the key it returns is the canonical reference
// (evt.arg.flags and evt.arg[flags] are the same key).
func caseValue(src *field.Source, ref string, v *yaml.Node) (string, any, error) {
	f, a, err := src.Ref(ref)
	if err != nil {
		return "", nil, err
	}
	key := argKey(f.Name, a)
	if f.List {
		var l StringList
		if err := v.Decode(&l); err != nil {
			return "", nil, fmt.Errorf("%s: want a list of strings", ref)
		}
		return key, []string(l), nil
	}
	if v.Kind != yaml.ScalarNode {
		return "", nil, fmt.Errorf("%s: want a single value, got a %s", ref, kindWord(v))
	}
	s := v.Value
	bad := func(want string) (string, any, error) {
		return "", nil, fmt.Errorf("%s is %s: %q is not %s", ref, f.Type, s, want)
	}
	switch f.Type {
	case field.String:
		return key, s, nil
	case field.Bytes:
		return key, []byte(s), nil
	case field.Int64, field.RelTime:
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return bad("an integer")
		}
		return key, n, nil
	case field.AbsTime:
		if n, err := strconv.ParseInt(s, 0, 64); err == nil {
			return key, n, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return bad("nanoseconds since the epoch or an RFC 3339 time")
		}
		return key, t.UnixNano(), nil
	case field.Uint64, field.Port, field.Mode:
		n, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			return bad("an unsigned integer")
		}
		return key, n, nil
	case field.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad("true or false")
		}
		return key, b, nil
	case field.IPAddr:
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return bad("an IP address")
		}
		return key, ip, nil
	case field.IPNet:
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return bad("a network (addr/bits)")
		}
		return key, p, nil
	}
	return "", nil, fmt.Errorf("%s: type %s is not supported in cases", ref, f.Type)
}

func kindWord(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

func argKey(name string, a field.Arg) string {
	switch {
	case !a.Set:
		return name
	case a.Key != "":
		return name + "[" + a.Key + "]"
	default:
		return name + "[" + strconv.Itoa(a.Index) + "]"
	}
}

// caseEvent is the test path's field.Event: values by canonical reference.
type caseEvent struct {
	typ  int
	vals map[string]any
}

func (e *caseEvent) EventType() int { return e.typ }

func (e *caseEvent) get(name string, a field.Arg) (any, bool) {
	v, ok := e.vals[argKey(name, a)]
	return v, ok
}

// CaseSource returns the syscall catalog with every field bound to the
// values of a case event, for running rules without a kernel.
func CaseSource() *field.Source {
	src := field.Syscall()
	for _, f := range src.Fields() {
		name := f.Name
		get := func(ev field.Event, a field.Arg) (any, bool) {
			ce, ok := ev.(*caseEvent)
			if !ok {
				return nil, false
			}
			return ce.get(name, a)
		}
		var x field.Extractor
		switch {
		case f.List:
			x.Strings = func(ev field.Event, a field.Arg, dst []string) ([]string, bool) {
				v, ok := get(ev, a)
				if !ok {
					return dst, false
				}
				return append(dst, v.([]string)...), true
			}
		case f.Type == field.String:
			x.String = func(ev field.Event, a field.Arg) (string, bool) {
				v, ok := get(ev, a)
				if !ok {
					return "", false
				}
				return v.(string), true
			}
		case f.Type == field.Bytes:
			x.Bytes = func(ev field.Event, a field.Arg) ([]byte, bool) {
				v, ok := get(ev, a)
				if !ok {
					return nil, false
				}
				return v.([]byte), true
			}
		case f.Type == field.Int64 || f.Type == field.AbsTime || f.Type == field.RelTime:
			x.Int = func(ev field.Event, a field.Arg) (int64, bool) {
				v, ok := get(ev, a)
				if !ok {
					return 0, false
				}
				return v.(int64), true
			}
		case f.Type == field.Uint64 || f.Type == field.Port || f.Type == field.Mode:
			x.Uint = func(ev field.Event, a field.Arg) (uint64, bool) {
				v, ok := get(ev, a)
				if !ok {
					return 0, false
				}
				return v.(uint64), true
			}
		case f.Type == field.Bool:
			x.Bool = func(ev field.Event, a field.Arg) (bool, bool) {
				v, ok := get(ev, a)
				if !ok {
					return false, false
				}
				return v.(bool), true
			}
		case f.Type == field.IPAddr || f.Type == field.IPNet:
			x.IP = func(ev field.Event, a field.Arg) (netip.Addr, int, bool) {
				v, ok := get(ev, a)
				if !ok {
					return netip.Addr{}, 0, false
				}
				switch ip := v.(type) {
				case netip.Addr:
					return ip, -1, true
				case netip.Prefix:
					return ip.Addr(), ip.Bits(), true
				}
				return netip.Addr{}, 0, false
			}
		default:
			continue
		}
		if err := src.Bind(name, x); err != nil {
			panic(err) // the switch above mirrors Bind's type rules
		}
	}
	return src
}

// caseEvents turns a parsed case into events for src.
func caseEvents(src *field.Source, c *Case) []*caseEvent {
	out := make([]*caseEvent, len(c.Events))
	base := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).UnixNano()
	for i, e := range c.Events {
		vals := make(map[string]any, len(e.Values)+2)
		// Set first so that a case can override them.
		vals["evt.num"] = uint64(i + 1)
		vals["evt.rawtime"] = base + int64(i)*1000
		for k, v := range e.Values {
			vals[k] = v
		}
		out[i] = &caseEvent{typ: src.EventType(e.Type), vals: vals}
	}
	return out
}

// CaseResult is the outcome of one event.
type CaseResult struct {
	Case  *Case
	Event *CaseEvent
	Index int // 1-based within the case
	Got   []string
	Pass  bool
}

// CaseReport is the outcome of a cases file.
type CaseReport struct {
	Results            []CaseResult
	Cases, FailedCases int
	Events, Failed     int
}

// CaseMatcher runs one event through a ruleset and returns the names of
// the rules it raises, in rule order.
type CaseMatcher func(ev field.Event) []string

// RulesetMatcher matches with a compiled ruleset's syscall rules; compile
// it with rule_matching: all so that every rule an event raises shows.
func RulesetMatcher(rs *rules.Ruleset) CaseMatcher {
	return func(ev field.Event) []string {
		var names []string
		rs.Process("syscall", ev, func(r *rules.Rule) { names = append(names, r.Name) })
		return names
	}
}

// RunCases runs every case through match.
func RunCases(src *field.Source, cf *CaseFile, match CaseMatcher) *CaseReport {
	r := &CaseReport{}
	for _, c := range cf.Cases {
		r.Cases++
		caseFailed := false
		for i, ev := range caseEvents(src, c) {
			got := match(ev)
			res := CaseResult{Case: c, Event: c.Events[i], Index: i + 1, Got: got, Pass: sameSet(got, c.Events[i].Expect)}
			r.Events++
			if !res.Pass {
				r.Failed++
				caseFailed = true
			}
			r.Results = append(r.Results, res)
		}
		if caseFailed {
			r.FailedCases++
		}
	}
	return r
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		if m[x] == 0 {
			return false
		}
		m[x]--
	}
	return true
}

// Write prints the report: one line per case, the failing events with
// what was expected and what happened, and a summary.
func (r *CaseReport) Write(w interface{ Write([]byte) (int, error) }, path string, verbose bool) {
	var cur *Case
	var failed []CaseResult
	flush := func() {
		if cur == nil {
			return
		}
		if len(failed) == 0 {
			if verbose {
				fmt.Fprintf(w, "PASS  %s\n", cur.Name)
			}
		} else {
			fmt.Fprintf(w, "FAIL  %s (%s:%d)\n", cur.Name, path, cur.Line)
			for _, f := range failed {
				fmt.Fprintf(w, "      event %d (%s:%d, %s): expected %s, got %s\n", f.Index, path, f.Event.Line,
					f.Event.Type, ruleSet(f.Event.Expect), ruleSet(f.Got))
			}
		}
		failed = nil
	}
	for _, res := range r.Results {
		if res.Case != cur {
			flush()
			cur = res.Case
		}
		if !res.Pass {
			failed = append(failed, res)
		}
	}
	flush()
	status := "ok"
	if r.Failed > 0 {
		status = "FAILED"
	}
	fmt.Fprintf(w, "%s: %d cases, %d events: %d cases passed, %d failed (%d events failed)\n",
		status, r.Cases, r.Events, r.Cases-r.FailedCases, r.FailedCases, r.Failed)
}

func ruleSet(rules []string) string {
	if len(rules) == 0 {
		return "no alert"
	}
	return "[" + strings.Join(rules, ", ") + "]"
}

// CheckRules reports expectations and case rules that name no enabled rule
// of rs (a typo would otherwise read as "no alert").
func (cf *CaseFile) CheckRules(rs *rules.Ruleset) error {
	var errs []error
	check := func(name string, line int) {
		r := rs.Rule(name)
		switch {
		case r == nil:
			errs = append(errs, fmt.Errorf("%s:%d: no rule named %q in the ruleset", cf.Path, line, name))
		case !r.Enabled:
			errs = append(errs, fmt.Errorf("%s:%d: rule %q is disabled (priority, tags or rules: selection)", cf.Path, line, name))
		}
	}
	for _, c := range cf.Cases {
		if c.Rule != "" {
			check(c.Rule, c.Line)
		}
		for _, e := range c.Events {
			for _, r := range e.Expect {
				check(r, e.Line)
			}
		}
	}
	return errors.Join(errs...)
}
