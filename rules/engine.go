package rules

import (
	"slices"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/rules/field"
	"github.com/nightjar-sec/nightjar/rules/filter"
)

// Rule is one compiled rule.
type Rule struct {
	Name       string
	Desc       string
	Condition  string // as compiled: the rule's condition with its exceptions
	Output     string
	Priority   alert.Priority
	Source     string
	Tags       []string
	Exceptions []string // names
	// Enabled says whether the rule runs: its enabled key, then the
	// Options (priority, selection, tags).
	Enabled bool
	File    string // where the rule was (last) defined
	Line    int

	source     *field.Source
	filter     *filter.Filter
	format     *format
	timeField  *field.Field
	eventTypes []int
	allTypes   bool
	isoTime    bool
}

// Match reports whether the rule's condition matches the event, whether or
// not the rule is enabled.
func (r *Rule) Match(ev field.Event) bool { return r.filter.Match(ev) }

// Expr returns the rule's condition (with its exceptions) with macros and
// lists expanded: see filter.Filter.Expanded.
func (r *Rule) Expr() filter.Expr { return r.filter.Expanded() }

// EventTypes returns the event type names the rule can match, or all=true
// when its condition does not restrict evt.type.
func (r *Rule) EventTypes() (names []string, all bool) {
	if r.allTypes {
		return nil, true
	}
	for _, id := range r.eventTypes {
		names = append(names, r.source.EventTypeName(id))
	}
	return names, false
}

// Ruleset is the compiled, selected rules, indexed for matching.
type Ruleset struct {
	rules    []*Rule
	sources  map[string]*SourceRules
	matching RuleMatching
}

// SourceRules are the enabled rules of one source, indexed by event type
// id: an event is checked only against the rules that can match its type.
type SourceRules struct {
	src    *field.Source
	byType [][]*Rule // rules for each id, catch-all rules merged in load order
	all    []*Rule   // rules matching every type: for ids handed out after Compile
	first  bool
}

func (rs *Ruleset) index() {
	for _, r := range rs.rules {
		if !r.Enabled {
			continue
		}
		s := rs.sources[r.Source]
		if s == nil {
			s = &SourceRules{src: r.source, first: rs.matching == MatchFirst}
			rs.sources[r.Source] = s
		}
		if r.allTypes {
			s.all = append(s.all, r)
		}
	}
	for name, s := range rs.sources {
		n := s.src.NumEventTypes()
		s.byType = make([][]*Rule, n)
		for _, r := range rs.rules {
			if !r.Enabled || r.Source != name {
				continue
			}
			if r.allTypes {
				for id := range s.byType {
					s.byType[id] = append(s.byType[id], r)
				}
				continue
			}
			for _, id := range r.eventTypes {
				if id >= 0 && id < n && !slices.Contains(s.byType[id], r) {
					s.byType[id] = append(s.byType[id], r)
				}
			}
		}
	}
}

// Rules returns every compiled rule in load order, enabled or not.
func (rs *Ruleset) Rules() []*Rule { return rs.rules }

// Rule returns the rule of that name, or nil.
func (rs *Ruleset) Rule(name string) *Rule {
	for _, r := range rs.rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Source returns the enabled rules of a source, or nil when it has none.
// Keep the result: it saves a map lookup per event.
func (rs *Ruleset) Source(name string) *SourceRules { return rs.sources[name] }

// Sources returns the names of the sources that have enabled rules.
func (rs *Ruleset) Sources() []string {
	var out []string
	for n := range rs.sources {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// EventTypes returns the event type names that the enabled rules of a
// source can match, sorted, so that a detector attaches only those hooks;
// all is true when some enabled rule matches every event type.
func (rs *Ruleset) EventTypes(source string) (names []string, all bool) {
	s := rs.sources[source]
	if s == nil {
		return nil, false
	}
	for id, rl := range s.byType {
		for _, r := range rl {
			if !r.allTypes {
				names = append(names, s.src.EventTypeName(id))
				break
			}
		}
	}
	slices.Sort(names)
	return names, len(s.all) > 0
}

// Process checks an event of a source against the rules that can match it,
// calling emit for each matching rule (only the first, under MatchFirst).
// It reports whether any rule matched.
func (rs *Ruleset) Process(source string, ev field.Event, emit func(*Rule)) bool {
	return rs.sources[source].Process(ev, emit)
}

// rulesFor returns the rules an event of type id is checked against.
func (s *SourceRules) rulesFor(id int) []*Rule {
	if id >= 0 && id < len(s.byType) {
		return s.byType[id]
	}
	return s.all
}

// Process checks an event against the rules that can match its type. It
// does not allocate when no rule matches. A nil *SourceRules (a source
// with no enabled rules) matches nothing. Safe for concurrent use.
func (s *SourceRules) Process(ev field.Event, emit func(*Rule)) bool {
	if s == nil {
		return false // a source without enabled rules
	}
	matched := false
	for _, r := range s.rulesFor(ev.EventType()) {
		if r.filter.Match(ev) {
			matched = true
			emit(r)
			if s.first {
				return true
			}
		}
	}
	return matched
}

// Alert formats the rule's alert for an event that matched it: Falco's
// output line ("<time>: <Priority> <output>"), the rule's priority, tags
// and source, and output_fields holding, typed, every field the output
// names plus evt.time in nanoseconds. Hostname is left for the caller.
func (r *Rule) Alert(ev field.Event) *alert.Alert {
	t := eventTime(r.timeField, ev)
	buf := make([]byte, 0, 256)
	if r.isoTime {
		buf = t.UTC().AppendFormat(buf, "2006-01-02T15:04:05.000000000Z")
	} else {
		buf = appendFalcoTime(buf, t)
	}
	buf = append(buf, ": "...)
	buf = append(buf, r.Priority.String()...)
	buf = append(buf, ' ')
	buf = r.format.appendText(buf, ev, t)
	fields := make(alert.Fields, len(r.format.fields)+1)
	fields["evt.time"] = t.UnixNano()
	for _, p := range r.format.fields {
		if p.f == nil || p.name == "evt.time" {
			continue // evt.time is always the number of nanoseconds, as Falco sends it
		}
		if v, ok := p.f.Value(ev, p.arg); ok {
			fields[p.name] = v
		} else {
			fields[p.name] = nil
		}
	}
	return &alert.Alert{
		Output:       string(buf),
		Priority:     r.Priority,
		Rule:         r.Name,
		Time:         t,
		Source:       r.Source,
		Tags:         append([]string(nil), r.Tags...),
		OutputFields: fields,
	}
}
