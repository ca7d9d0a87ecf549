package rules

import (
	"fmt"
	"strings"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// Error is one problem in a rules file, placed where a rule writer can find
// it: file, line and column (1-based; 0 when unknown), the item it belongs to
// (`rule "Foo"`, `macro "bar"`, `list "baz"`), and what is wrong.
type Error struct {
	File string
	Line int
	Col  int
	Item string
	Msg  string
}

func (e *Error) Error() string { return place(e.File, e.Line, e.Col, e.Item, e.Msg) }

// Warning is a problem that does not stop loading (an unknown key, a rule
// that matches every event type). It is printed like an Error.
type Warning struct {
	File string
	Line int
	Col  int
	Item string
	Msg  string
}

func (w Warning) String() string { return place(w.File, w.Line, w.Col, w.Item, w.Msg) }

func place(file string, line, col int, item, msg string) string {
	var b strings.Builder
	b.WriteString(file)
	if line > 0 {
		fmt.Fprintf(&b, ":%d", line)
		if col > 0 {
			fmt.Fprintf(&b, ":%d", col)
		}
	}
	b.WriteString(": ")
	if item != "" {
		b.WriteString(item)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	return b.String()
}

// Errors is every error found, in file order. Loading does not stop at the
// first error, so that one run shows a rule writer everything to fix.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// suggest returns the candidate closest to s by edit distance, if it is close
// enough to be a plausible typo; "" otherwise.
func suggest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	for _, c := range candidates {
		if d := field.EditDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean formats a suggestion, or nothing.
func didYouMean(s string, candidates []string) string {
	if m := suggest(s, candidates); m != "" {
		return fmt.Sprintf(" (did you mean %s?)", m)
	}
	return ""
}
