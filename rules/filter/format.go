package filter

import "strings"

// Format prints a condition back as text that parses to the same tree.
// Nested and/or are parenthesized, values are quoted when a bare word
// could not hold them.
func Format(e Expr) string {
	var b strings.Builder
	format(&b, e)
	return b.String()
}

func format(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case *And:
		for i, c := range e.Children {
			if i > 0 {
				b.WriteString(" and ")
			}
			formatGrouped(b, c, func(x Expr) bool { _, isOr := x.(*Or); _, isAnd := x.(*And); return isOr || isAnd })
		}
	case *Or:
		for i, c := range e.Children {
			if i > 0 {
				b.WriteString(" or ")
			}
			formatGrouped(b, c, func(x Expr) bool { _, isOr := x.(*Or); return isOr })
		}
	case *Not:
		b.WriteString("not (")
		format(b, e.X)
		b.WriteString(")")
	case *Ident:
		b.WriteString(e.Name)
	case *Check:
		format(b, e.Left)
		b.WriteString(" ")
		b.WriteString(e.Op)
		if e.Right != nil {
			b.WriteString(" ")
			format(b, e.Right)
		}
	case *FieldRef:
		b.WriteString(e.Name)
		if e.HasArg {
			b.WriteString("[")
			if e.Arg == "" || strings.ContainsAny(e.Arg, "[]\"' \t\n\v\f\r") {
				quote(b, e.Arg)
			} else {
				b.WriteString(e.Arg)
			}
			b.WriteString("]")
		}
	case *Transform:
		b.WriteString(e.Name)
		b.WriteString("(")
		format(b, e.X)
		b.WriteString(")")
	case *Value:
		if e.Quoted || e.Text == "" || strings.ContainsAny(e.Text, "()\"' \t\b\r\n\v\f=,") {
			quote(b, e.Text)
		} else {
			b.WriteString(e.Text)
		}
	case *List:
		b.WriteString("(")
		for i, v := range e.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			format(b, v)
		}
		b.WriteString(")")
	}
}

func formatGrouped(b *strings.Builder, e Expr, group func(Expr) bool) {
	if group(e) {
		b.WriteString("(")
		format(b, e)
		b.WriteString(")")
		return
	}
	format(b, e)
}

// quote writes s double-quoted with the escapes the parser understands.
func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
