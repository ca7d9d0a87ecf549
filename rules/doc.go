// Package rules loads Falco rule files and runs them: the YAML items (lists,
// macros, rules, required_engine_version, required_plugin_versions), their
// override and append semantics, exceptions, a rule index by event type,
// rule selection, and output formatting into alert.Alert. Conditions are
// parsed and compiled by rules/filter against the fields a source declares
// in rules/field.
//
// # Loading
//
//	l := rules.NewLoader(syscallSource, k8sAuditSource) // *field.Source each
//	l.LoadPath("/etc/nightjar/rules.d")   // a file, or a directory: *.yaml and *.yml, sorted
//	l.Load("inline.yaml", data)            // or bytes
//	rs, err := l.Compile(rules.Options{MinPriority: alert.PriorityNotice})
//	for _, w := range l.Warnings() { log(w.String()) }
//
// Files load in order and later items act on earlier ones, as in Falco:
//
//   - A list, macro or rule defined again replaces the earlier definition
//     where it stood (the load order of rules does not change).
//   - override: {key: append|replace} changes keys of an earlier item. Lists:
//     items. Macros: condition. Rules: append condition, output, desc, tags,
//     exceptions; replace those and priority, enabled, warn_evttypes,
//     skip-if-unknown-filter, capture, capture_duration. Every overridable
//     key the item sets must be listed under override.
//   - append: true (legacy) appends items to a list, condition to a macro,
//     condition and exceptions to a rule.
//   - A rule item with only rule and enabled switches an earlier rule.
//   - Overriding, appending to or enabling an item that is not defined
//     earlier is an error, except that replacing an undefined macro's
//     condition or list's items defines it (as Falco does), with a warning.
//   - Appended conditions, outputs and descriptions are joined with a space.
//     Outputs are trimmed; tags are a set, sorted; a rule keeps its source.
//   - append: true and a standalone enabled key are accepted with a
//     deprecation warning, as in Falco 0.37+; empty entries are skipped; a
//     file may hold several YAML documents.
//   - Macro names are identifiers, list names bare words (Falco's checks);
//     required_engine_version above EngineVersion (0.57.0) is an error;
//     required_plugin_versions is recorded in PluginVersions.
//   - Lists naming lists are expanded; macros may use macros and lists.
//   - Exceptions (name, fields, comps, values) become
//     "(condition) and not (...)" exactly as Falco writes them: comps
//     default to = per field for a list of fields and to in for a single
//     field; appended exceptions with a known name add values.
//   - A rule whose source is not loaded is skipped with a warning;
//     skip-if-unknown-filter: true turns unknown-field errors into a skip.
//
// Errors never stop at the first one. Compile returns Errors, a list of
// *Error{File, Line, Col, Item, Msg}, with filter errors placed at the
// line and column of the rules file (through folded and literal block
// scalars and appended conditions); errors inside a macro point into the
// macro and name the rule that uses it. Warnings (unknown items and keys,
// rules that match every event type) never fail the load.
//
// # Running
//
// Ruleset.Rules lists every compiled rule (Rule.Enabled says whether it
// runs after Options: MinPriority, the falco.yaml rules: Select list of
// enable/disable by rule name with * wildcards or by tag, -t Tags, -T
// SkipTags, in that order). Ruleset.EventTypes(source) returns the event
// type names the enabled rules can match (and whether some rule matches
// them all), for attaching only the hooks needed.
//
// Per event, keep rs.Source("syscall") (a *SourceRules) and call
//
//	srcRules.Process(ev, func(r *rules.Rule) { out <- r.Alert(ev) })
//
// Process looks only at the rules indexed under ev.EventType() (plus those
// matching every type), in load order, stopping at the first match under
// MatchFirst (Falco's rule_matching: first, the default) or reporting all
// under MatchAll. An event that matches no rule costs no allocation; the
// emit function does not escape, so a closure built per event stays on the
// stack. A Ruleset is read-only after Compile and safe for concurrent use;
// a nil *SourceRules (a source without enabled rules) matches nothing.
//
// # Output
//
// Rule.Alert(ev) builds the alert: Output is Falco's line
// "<HH:MM:SS.nnnnnnnnn local time>: <Priority> <output>" (or the UTC ISO
// 8601 time with Options.TimeFormatISO8601), with %field,
// %field[arg], %field.key and %(field) substituted (compiled at load time;
// unknown fields are load errors) and <NA> for missing values;
// OutputFields holds each field of the output typed (nil when missing) and
// evt.time in nanoseconds; Priority, Rule, Source, Tags and Time are set,
// Hostname is left to the caller. The event time comes from the source's
// evt.rawtime (or jevt.rawtime) field when bound, else the current time.
package rules
