package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// The comparison operators an exception's comps may name: Falco's.
var exceptionOps = []string{"=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains",
	"bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex", "in",
	"intersects", "pmatch", "exists"}

func isListOp(op string) bool { return op == "in" || op == "intersects" || op == "pmatch" }

// checkException fills in Falco's defaults for an exception's comps (= for
// every field of a list of fields; in for a single field) and checks that
// fields, comps and values fit together and name real fields and operators.
func checkException(ex *exceptionDef, src *field.Source, item string) []*Error {
	var errs []*Error
	bad := func(format string, args ...any) {
		errs = append(errs, &Error{File: ex.file, Line: ex.line, Col: ex.col, Item: item,
			Msg: fmt.Sprintf("exception %q: ", ex.name) + fmt.Sprintf(format, args...)})
	}
	checkField := func(name string) {
		if _, _, err := src.Ref(name); err != nil {
			bad("%v", err)
		}
	}
	checkOp := func(op string) {
		if !slices.Contains(exceptionOps, op) {
			bad("%q is not a comparison operator%s", op, didYouMean(op, exceptionOps))
		}
	}
	if ex.fields.isList {
		if !ex.comps.set {
			ex.comps = strOrList{set: true, isList: true}
			for range ex.fields.items {
				ex.comps.items = append(ex.comps.items, "=")
			}
		}
		if !ex.comps.isList {
			bad("fields is a list, so comps must be a list of the same length too")
			return errs
		}
		if len(ex.fields.items) != len(ex.comps.items) {
			bad("fields and comps must have the same length (%d fields, %d comps)", len(ex.fields.items), len(ex.comps.items))
			return errs
		}
		for _, op := range ex.comps.items {
			checkOp(op)
		}
		for _, fl := range ex.fields.items {
			checkField(fl)
		}
		for i, v := range ex.values {
			if !v.isList {
				bad("values entry %d must be a list with one value per field (%s), got %q", i+1, strings.Join(ex.fields.items, ", "), v.item)
				continue
			}
			if len(v.items) != len(ex.fields.items) {
				bad("values entry %d has %d values but there are %d fields (%s)", i+1, len(v.items), len(ex.fields.items), strings.Join(ex.fields.items, ", "))
			}
		}
		return errs
	}
	if !ex.comps.set {
		ex.comps = strOrList{set: true, item: "in"}
	}
	if ex.comps.isList {
		bad("fields is a single field, so comps must be a single operator too")
		return errs
	}
	if !isListOp(ex.comps.item) {
		bad("when fields is a single field, comps must be one of in, pmatch, intersects; got %q", ex.comps.item)
	}
	checkField(ex.fields.item)
	for i, v := range ex.values {
		if v.isList {
			bad("values entry %d must be a single value, as fields is a single field", i+1)
		}
	}
	return errs
}

// quoteItem quotes a value that holds a space, unless it is already quoted,
// as Falco does when it writes exception values into a condition.
func quoteItem(s string) string {
	if strings.Contains(s, " ") && s != "" && s[0] != '"' && s[0] != '\'' {
		return `"` + s + `"`
	}
	return s
}

// parenItem wraps a value in parentheses for a list operator, so that a
// list name expands to its items.
func parenItem(s string) string {
	if s == "" || s[0] != '(' {
		return "(" + s + ")"
	}
	return s
}

// exceptionCondition returns what Falco appends to a rule's condition for
// one exception: " and not (...)", or "" when it has no values. Each value
// keeps the place it was written, so that an error in it (a word where a
// number is needed) points at it; the rest points at the exception.
func exceptionCondition(ex *exceptionDef) text {
	var t text
	at := fixedOrigin(ex.file, ex.line, ex.col)
	val := func(s string, v exValue) { t.add(s, fixedOrigin(ex.file, v.line, v.col)) }
	if !ex.fields.isList {
		for i, v := range ex.values {
			if i == 0 {
				t.add(" and not ("+ex.fields.item+" "+ex.comps.item+" (", at)
			} else {
				t.add(", ", at)
			}
			val(quoteItem(v.item), v)
		}
		if len(t.s) > 0 {
			t.add("))", at)
		}
		return t
	}
	if len(ex.values) == 0 {
		return t
	}
	t.add(" and not (", at)
	for i, tuple := range ex.values {
		if i > 0 {
			t.add(" or ", at)
		}
		t.add("(", at)
		for k, fl := range ex.fields.items {
			if k >= len(tuple.items) || k >= len(ex.comps.items) {
				break
			}
			if k > 0 {
				t.add(" and ", at)
			}
			t.add(fl+" "+ex.comps.items[k]+" ", at)
			v := tuple.items[k]
			switch {
			case v.isList:
				t.add("(", at)
				for j, e := range v.items {
					if j > 0 {
						t.add(", ", at)
					}
					val(quoteItem(e.item), e)
				}
				t.add(")", at)
			case isListOp(ex.comps.items[k]):
				val(parenItem(v.item), v)
			default:
				val(quoteItem(v.item), v)
			}
		}
		t.add(")", at)
	}
	t.add(")", at)
	return t
}
