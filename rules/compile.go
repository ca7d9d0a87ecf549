package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/rules/field"
	"github.com/nightjar-sec/nightjar/rules/filter"
)

// Compile turns everything loaded so far into a Ruleset: lists expanded,
// macros parsed, every rule's condition (with its exceptions) and output
// compiled against its source, then the options applied. Its error is the
// full list of problems (as Errors), those found while loading included;
// when there is any, the Ruleset is nil. Warnings() then holds the
// warnings of loading and compiling.
func (l *Loader) Compile(opts Options) (*Ruleset, error) {
	for i, s := range opts.Select {
		if err := s.validate(i); err != nil {
			l.addError(&Error{File: "rules selection", Msg: err.Error()})
		}
	}
	lists := l.expandLists()
	macros := map[string]filter.Expr{}
	brokenMacros := map[string]bool{}
	for _, m := range l.macros {
		e, err := filter.Parse(m.cond.s)
		if err != nil {
			brokenMacros[m.name] = true
			l.filterErrors(err, &m.cond, fmt.Sprintf("macro %q", m.name), nil)
			continue
		}
		macros[m.name] = e
	}
	rs := &Ruleset{sources: map[string]*SourceRules{}, matching: opts.RuleMatching}
	for _, d := range l.rules {
		if r := l.compileRule(d, lists, macros, brokenMacros); r != nil {
			r.Enabled = opts.selected(r, d.enabled)
			r.isoTime = opts.TimeFormatISO8601
			rs.rules = append(rs.rules, r)
		}
	}
	l.sortMessages()
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	rs.index()
	return rs, nil
}

// sortMessages orders errors and warnings by file (in load order), line
// and column, so that load and compile problems read top to bottom.
func (l *Loader) sortMessages() {
	order := map[string]int{}
	for i, f := range l.files {
		if _, ok := order[f]; !ok {
			order[f] = i
		}
	}
	idx := func(f string) int {
		if i, ok := order[f]; ok {
			return i
		}
		return len(l.files)
	}
	cmp := func(fa string, la, ca int, fb string, lb, cb int) int {
		if d := idx(fa) - idx(fb); d != 0 {
			return d
		}
		if la != lb {
			return la - lb
		}
		return ca - cb
	}
	slices.SortStableFunc(l.errs, func(a, b *Error) int { return cmp(a.File, a.Line, a.Col, b.File, b.Line, b.Col) })
	slices.SortStableFunc(l.warns, func(a, b Warning) int { return cmp(a.File, a.Line, a.Col, b.File, b.Line, b.Col) })
}

// expandLists returns every list with the lists it names replaced by
// their items, as Falco does.
func (l *Loader) expandLists() map[string][]string {
	out := map[string][]string{}
	var expand func(d *listDef, depth int) []string
	expand = func(d *listDef, depth int) []string {
		if v, ok := out[d.name]; ok {
			return v
		}
		var items []string
		for _, it := range d.items {
			if sub := l.listBy[it]; sub != nil && sub != d && depth < 64 {
				items = append(items, expand(sub, depth+1)...)
				continue
			}
			items = append(items, it)
		}
		out[d.name] = items
		return items
	}
	for _, d := range l.lists {
		expand(d, 0)
	}
	return out
}

func (l *Loader) compileRule(d *ruleDef, lists map[string][]string, macros map[string]filter.Expr, brokenMacros map[string]bool) *Rule {
	item := fmt.Sprintf("rule %q", d.name)
	src := l.sources[d.source]
	if src == nil {
		l.addWarning(Warning{File: d.file, Line: d.line, Col: d.col, Item: item,
			Msg: fmt.Sprintf("source %s is not loaded; rule skipped%s", d.source, didYouMean(d.source, l.sourceNames()))})
		return nil
	}
	r := &Rule{Name: d.name, Desc: d.desc, Output: d.output.s, Priority: d.priority,
		Source: d.source, Tags: sortedTags(d.tags), File: d.file, Line: d.line, source: src}
	for _, f := range []string{"evt.rawtime", "jevt.rawtime"} {
		if tf := src.Lookup(f); tf != nil && (tf.Type == field.AbsTime) {
			r.timeField = tf
			break
		}
	}
	// Exceptions, checked and compiled into the condition as Falco does.
	cond := d.cond
	okEx := true
	var exText []text
	for _, ex := range d.exceptions {
		cp := *ex
		if errs := checkException(&cp, src, item); len(errs) > 0 {
			for _, e := range errs {
				l.addError(e)
			}
			okEx = false
			continue
		}
		r.Exceptions = append(r.Exceptions, ex.name)
		exText = append(exText, exceptionCondition(&cp))
	}
	if d.cond.s == "" {
		return nil // its missing or bad condition is reported already
	}
	var full text
	if len(cond.pieces) > 0 {
		full.add("(", cond.pieces[0].origin)
	}
	appendPieces(&full, cond)
	full.s += ")"
	for _, et := range exText {
		appendPieces(&full, et)
	}
	r.Condition = full.s

	ok := true
	expr, err := filter.Parse(full.s)
	if err != nil {
		l.filterErrors(err, &full, item, nil)
		ok = false
	} else {
		env := &filter.Env{Source: src, Macros: macros, Lists: lists}
		flt, err := filter.Compile(expr, env)
		if err != nil {
			if d.skipUnknown && onlyUnknownFields(err) {
				l.addWarning(Warning{File: d.file, Line: d.line, Col: d.col, Item: item,
					Msg: "uses a field this source does not have; skipped (skip-if-unknown-filter: true)"})
				return nil
			}
			l.filterErrors(err, &full, item, brokenMacros)
			ok = false
		} else {
			r.filter = flt
			r.eventTypes, r.allTypes = flt.EventTypes()
			if r.allTypes && d.warnEvttypes && d.source == "syscall" {
				l.addWarning(Warning{File: d.file, Line: d.line, Col: d.col, Item: item,
					Msg: "condition does not restrict evt.type, so the rule is checked against every event, which is slow; add an evt.type condition (or warn_evttypes: false)"})
			}
		}
	}
	fm, ferrs := compileFormat(d.output.s, src)
	if fm.containerInfo {
		l.addWarning(Warning{File: d.file, Line: d.line, Col: d.col, Item: item,
			Msg: "%container.info is deprecated; it is replaced by %container.name (id=%container.id)"})
	}
	if len(ferrs) > 0 && d.skipUnknown && !slices.ContainsFunc(ferrs, func(fe fmtError) bool { return !strings.Contains(fe.msg, "unknown field") }) {
		l.addWarning(Warning{File: d.file, Line: d.line, Col: d.col, Item: item,
			Msg: "output uses a field this source does not have; skipped (skip-if-unknown-filter: true)"})
		return nil
	}
	for _, fe := range ferrs {
		file, line, col := d.output.at(fe.off)
		l.addError(&Error{File: file, Line: line, Col: col, Item: item, Msg: "output: " + fe.msg})
		ok = false
	}
	r.format = fm
	if !ok || !okEx || d.broken {
		return nil
	}
	return r
}

// sortedTags returns the tags sorted and without duplicates: Falco keeps a
// rule's tags as a set, and its alerts list them in this order.
func sortedTags(tags []string) []string {
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
}

func appendPieces(dst *text, src text) {
	for _, p := range src.pieces {
		dst.pieces = append(dst.pieces, piece{start: p.start + len(dst.s), origin: p.origin})
	}
	dst.s += src.s
}

func (l *Loader) sourceNames() []string {
	var out []string
	for n := range l.sources {
		out = append(out, n)
	}
	return out
}

// filterErrors places the filter's errors (positions within the condition
// text t, or within a macro's condition) in the rules files. Errors that
// only say a broken macro is undefined are dropped: the macro's own error
// has been reported already.
func (l *Loader) filterErrors(err error, t *text, item string, brokenMacros map[string]bool) {
	for _, fe := range flattenFilterErrors(err) {
		if fe == nil {
			l.addError(&Error{File: t.pieceFile(), Item: item, Msg: err.Error()})
			continue
		}
		where, at := t, item
		if fe.Macro != "" {
			if m := l.macroBy[fe.Macro]; m != nil {
				// Reported once, naming the first rule that uses the macro.
				key := fmt.Sprintf("M%s\x00%d\x00%s", m.name, fe.Pos.Offset, fe.Msg)
				if l.seen[key] {
					continue
				}
				l.seen[key] = true
				where, at = &m.cond, fmt.Sprintf("macro %q (used by %s)", m.name, item)
			}
		}
		if brokenMacros != nil && mentionsBroken(fe.Msg, brokenMacros) {
			continue
		}
		file, line, col := where.at(fe.Pos.Offset)
		l.addError(&Error{File: file, Line: line, Col: col, Item: at, Msg: fe.Msg})
	}
}

func (t *text) pieceFile() string {
	if len(t.pieces) == 0 {
		return ""
	}
	return t.pieces[0].origin.file
}

func mentionsBroken(msg string, broken map[string]bool) bool {
	if !strings.Contains(msg, "undefined") {
		return false
	}
	for name := range broken {
		if strings.Contains(msg, " "+name) || strings.Contains(msg, `"`+name+`"`) {
			return true
		}
	}
	return false
}

// flattenFilterErrors returns every *filter.Error in err; a nil entry
// stands for an error of another kind.
func flattenFilterErrors(err error) []*filter.Error {
	var out []*filter.Error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		var fe *filter.Error
		if x, ok := e.(*filter.Error); ok {
			out = append(out, x)
			return
		}
		if xs, ok := e.(filter.Errors); ok {
			out = append(out, xs...)
			return
		}
		if m, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range m.Unwrap() {
				walk(c)
			}
			return
		}
		if errors.As(e, &fe) {
			out = append(out, fe)
			return
		}
		out = append(out, nil)
	}
	walk(err)
	return out
}

func onlyUnknownFields(err error) bool {
	fes := flattenFilterErrors(err)
	for _, fe := range fes {
		if fe == nil || !strings.Contains(fe.Msg, "unknown field") {
			return false
		}
	}
	return len(fes) > 0
}

// Priority of a rule is kept as alert.Priority; this keeps the import used
// even when the compile fails early.
var _ alert.Priority
