package filter

// Expanded returns the condition as the evaluator sees it: every macro
// reference replaced by the macro's condition (expanded in turn), and every
// list name, on the right of a list operator or inside a list literal,
// replaced by its items. It is for analyses of what a condition can match
// (the detector derives its kernel-side open filter from it). The tree is
// built anew on each call; the Filter itself does not use it.
func (f *Filter) Expanded() Expr { return expand(f.root, f.env, 0) }

// maxExpandDepth stops a runaway expansion; Compile has already refused
// macro cycles, so it is never reached by a compiled condition.
const maxExpandDepth = 1000

func expand(e Expr, env *Env, depth int) Expr {
	if depth > maxExpandDepth {
		return e
	}
	switch e := e.(type) {
	case *And:
		out := &And{At: e.At, Children: make([]Expr, len(e.Children))}
		for i, c := range e.Children {
			out.Children[i] = expand(c, env, depth+1)
		}
		return out
	case *Or:
		out := &Or{At: e.At, Children: make([]Expr, len(e.Children))}
		for i, c := range e.Children {
			out.Children[i] = expand(c, env, depth+1)
		}
		return out
	case *Not:
		return &Not{At: e.At, X: expand(e.X, env, depth+1)}
	case *Ident:
		if body, ok := env.Macros[e.Name]; ok && body != nil {
			return expand(body, env, depth+1)
		}
		return e
	case *Check:
		out := *e
		switch rt := e.Right.(type) {
		case *Ident:
			if items, ok := env.namedList(rt); ok {
				out.Right = &List{At: rt.At, Items: items}
			}
		case *List:
			out.Right = &List{At: rt.At, Items: env.listLiteral(rt)}
		}
		return &out
	}
	return e
}
