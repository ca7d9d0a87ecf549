// Package filter is Falco's condition language: a parser for conditions
// and macros, and a compiler that type-checks them against a field.Source
// and turns them into typed evaluators.
//
// The grammar follows libsinsp's filter parser (and/or/not with that
// precedence, parentheses, field checks with unary and binary operators,
// list literals, quoted and bare strings, field arguments, transformers
// and val()). A bare identifier that is not a field is a macro reference.
//
// Evaluation semantics follow libsinsp: a check whose field is missing is
// false (so is "!=" and "exists"), list fields support only exists, in
// (every element in the set) and intersects (some element in the set);
// glob and iglob are fnmatch(3) without FNM_PATHNAME ('*' crosses '/');
// regex must match the whole value; pmatch matches path prefixes by
// component; icontains, iglob, tolower and toupper fold ASCII only.
//
// Use:
//
//	e, err := filter.Parse(cond)                // err is *filter.Error
//	f, err := filter.Compile(e, &filter.Env{Source: src, Macros: m, Lists: l})
//	                                            // err is filter.Errors
//	f.Match(ev)                                 // no allocation, concurrent-safe
//	ids, all := f.EventTypes()                  // which evt.type ids can match
//	f.Fields()                                  // fields referenced
//	filter.Format(e)                            // the condition as text again
package filter

import (
	"fmt"
	"strings"
)

// Pos is a position within a condition's text: a byte offset and a 1-based
// line and column (columns count bytes).
type Pos struct{ Offset, Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Expr is a node of a parsed condition.
type Expr interface {
	Pos() Pos
	node()
}

// And is a conjunction of two or more conditions.
type And struct {
	At       Pos
	Children []Expr
}

// Or is a disjunction of two or more conditions.
type Or struct {
	At       Pos
	Children []Expr
}

// Not negates a condition.
type Not struct {
	At Pos
	X  Expr
}

// Ident is a bare identifier in condition position: a macro reference.
// As the right side of in, intersects or pmatch, it names a list.
type Ident struct {
	At   Pos
	Name string
}

// Check is a field check: Left Op Right, or Left Op for unary operators
// (exists), where Right is nil.
type Check struct {
	At    Pos
	Left  Expr // *FieldRef or *Transform
	Op    string
	OpAt  Pos
	Right Expr // nil, *Value, *List, *Ident (a list name), *FieldRef or *Transform
}

// FieldRef names a field, with an optional argument: proc.aname[2],
// evt.arg.flags (Name holds the whole dotted text; the compiler splits the
// key off), jevt.value[/user/username].
type FieldRef struct {
	At     Pos
	Name   string
	Arg    string
	HasArg bool
}

// Text is the field reference as written (with the argument in brackets).
func (f *FieldRef) Text() string {
	if f.HasArg {
		return f.Name + "[" + f.Arg + "]"
	}
	return f.Name
}

// Transform applies a transformer (tolower, toupper, b64, basename, len)
// or val (a field on the right side of a comparison) to X.
type Transform struct {
	At   Pos
	Name string
	X    Expr // *FieldRef or *Transform
}

// Value is a literal: a bare word, number or quoted string (unescaped).
type Value struct {
	At     Pos
	Text   string
	Quoted bool
}

// List is a list literal: (a, "b c", 'd').
type List struct {
	At    Pos
	Items []*Value
}

func (e *And) Pos() Pos       { return e.At }
func (e *Or) Pos() Pos        { return e.At }
func (e *Not) Pos() Pos       { return e.At }
func (e *Ident) Pos() Pos     { return e.At }
func (e *Check) Pos() Pos     { return e.At }
func (e *FieldRef) Pos() Pos  { return e.At }
func (e *Transform) Pos() Pos { return e.At }
func (e *Value) Pos() Pos     { return e.At }
func (e *List) Pos() Pos      { return e.At }

func (*And) node()       {}
func (*Or) node()        {}
func (*Not) node()       {}
func (*Ident) node()     {}
func (*Check) node()     {}
func (*FieldRef) node()  {}
func (*Transform) node() {}
func (*Value) node()     {}
func (*List) node()      {}

// Error is a parse or compile error at a position of a condition. Macro is
// the macro whose condition holds the error, if it is not the condition
// being compiled itself.
type Error struct {
	Pos   Pos
	Msg   string
	Macro string
}

func (e *Error) Error() string {
	if e.Macro != "" {
		return fmt.Sprintf("macro %s: %s: %s", e.Macro, e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
}

// Errors is every error found compiling one condition.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
