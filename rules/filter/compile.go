package filter

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// Env is what a condition is compiled against.
type Env struct {
	Source *field.Source
	Macros map[string]Expr // parsed macro conditions, by name
	// Lists holds list items by name, with lists inside lists already
	// expanded. Items are as written in the rule file: an item that is a
	// quoted string ('"10.0.0.0/8"') is unquoted here, as Falco does when
	// it splices list items into a condition.
	Lists map[string][]string
}

// listLiteral returns the items of a list literal, with bare items that
// name a list replaced by that list's items.
func (env *Env) listLiteral(l *List) []*Value {
	var out []*Value
	for _, v := range l.Items {
		if items, ok := env.Lists[v.Text]; ok && !v.Quoted {
			for _, it := range items {
				out = append(out, &Value{At: v.At, Text: listItem(it)})
			}
			continue
		}
		out = append(out, v)
	}
	return out
}

// namedList returns the items of the list id names, if there is one.
func (env *Env) namedList(id *Ident) ([]*Value, bool) {
	items, ok := env.Lists[id.Name]
	if !ok {
		return nil, false
	}
	out := make([]*Value, len(items))
	for i, it := range items {
		out[i] = &Value{At: id.At, Text: listItem(it)}
	}
	return out, true
}

// listItem returns a list item's value: the unquoted string if the item is
// one quoted string, else the item itself.
func listItem(item string) string {
	if len(item) < 2 || (item[0] != '"' && item[0] != '\'') {
		return item
	}
	p := &parser{in: item, pos: Pos{Line: 1, Col: 1}}
	v, ok := p.tryQuoted()
	if !ok || !p.eof() {
		return item
	}
	return v
}

// FieldUse is one field reference of a compiled condition.
type FieldUse struct {
	Text  string // as written: proc.aname[2], evt.arg.flags
	Field *field.Field
	Arg   field.Arg
}

// Filter is a compiled condition. Match is safe for concurrent use.
type Filter struct {
	match  pred
	types  evset
	fields []FieldUse
	src    *field.Source
	root   Expr // as parsed, for Expanded
	env    *Env
}

// Match evaluates the condition on an event. It does not allocate (as long
// as the bound extractors do not).
func (f *Filter) Match(ev field.Event) bool { return f.match(ev) }

// Fields returns the fields the condition references, macros included,
// each once, in order of first use.
func (f *Filter) Fields() []FieldUse { return append([]FieldUse(nil), f.fields...) }

// EventTypes returns the event type ids (Source.EventType) that can match,
// derived from the condition's evt.type checks as libsinsp's evttype
// resolver does: and intersects, or unites, not complements (through De
// Morgan), any other check allows every type. all is true when the
// condition does not constrain the event type. A set that excludes types
// ("evt.type != open") is returned as every id the source knows now minus
// those.
func (f *Filter) EventTypes() (ids []int, all bool) {
	t := f.types
	if !t.compl {
		return t.sorted(), false
	}
	if len(t.ids) == 0 {
		return nil, true
	}
	for id := 0; id < f.src.NumEventTypes(); id++ {
		if _, out := t.ids[id]; !out {
			ids = append(ids, id)
		}
	}
	return ids, false
}

type pred func(field.Event) bool

func predFalse(field.Event) bool { return false }

// Compile type-checks a parsed condition against env and compiles it.
// Every error is collected; the returned error is then an Errors.
func Compile(e Expr, env *Env) (*Filter, error) {
	if e == nil || env == nil || env.Source == nil {
		return nil, Errors{{Pos: Pos{Line: 1, Col: 1}, Msg: "filter.Compile needs a parsed condition and an Env with a Source"}}
	}
	c := &compiler{env: env, src: env.Source, macros: map[string]*compiled{}, seen: map[string]bool{}}
	r := c.expr(e)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return &Filter{match: r.fn, types: r.pos, fields: c.fields, src: env.Source, root: e, env: env}, nil
}

type compiled struct {
	fn       pred
	pos, neg evset // event types that can match the node, and its negation
}

type compiler struct {
	env    *Env
	src    *field.Source
	errs   Errors
	macro  string   // the macro being compiled ("" for the condition itself)
	stack  []string // macros being expanded, for cycle detection
	macros map[string]*compiled
	fields []FieldUse
	seen   map[string]bool
}

func (c *compiler) errorf(at Pos, format string, args ...any) {
	c.errs = append(c.errs, &Error{Pos: at, Msg: fmt.Sprintf(format, args...), Macro: c.macro})
}

func failed() *compiled { return &compiled{fn: predFalse, pos: allTypes(), neg: allTypes()} }

func (c *compiler) expr(e Expr) *compiled {
	switch e := e.(type) {
	case *And:
		fns := make([]pred, len(e.Children))
		r := &compiled{}
		for i, ch := range e.Children {
			x := c.expr(ch)
			fns[i] = x.fn
			if i == 0 {
				r.pos, r.neg = x.pos, x.neg
			} else {
				r.pos, r.neg = r.pos.intersect(x.pos), r.neg.union(x.neg)
			}
		}
		r.fn = andOf(fns)
		return r
	case *Or:
		fns := make([]pred, len(e.Children))
		r := &compiled{}
		for i, ch := range e.Children {
			x := c.expr(ch)
			fns[i] = x.fn
			if i == 0 {
				r.pos, r.neg = x.pos, x.neg
			} else {
				r.pos, r.neg = r.pos.union(x.pos), r.neg.intersect(x.neg)
			}
		}
		r.fn = orOf(fns)
		return r
	case *Not:
		x := c.expr(e.X)
		fn := x.fn
		return &compiled{fn: func(ev field.Event) bool { return !fn(ev) }, pos: x.neg, neg: x.pos}
	case *Ident:
		return c.macroRef(e)
	case *Check:
		return c.check(e)
	}
	c.errorf(e.Pos(), "expected a condition, got %s", describe(e))
	return failed()
}

func andOf(fns []pred) pred {
	switch len(fns) {
	case 1:
		return fns[0]
	case 2:
		a, b := fns[0], fns[1]
		return func(ev field.Event) bool { return a(ev) && b(ev) }
	case 3:
		a, b, d := fns[0], fns[1], fns[2]
		return func(ev field.Event) bool { return a(ev) && b(ev) && d(ev) }
	}
	return func(ev field.Event) bool {
		for _, f := range fns {
			if !f(ev) {
				return false
			}
		}
		return true
	}
}

func orOf(fns []pred) pred {
	switch len(fns) {
	case 1:
		return fns[0]
	case 2:
		a, b := fns[0], fns[1]
		return func(ev field.Event) bool { return a(ev) || b(ev) }
	case 3:
		a, b, d := fns[0], fns[1], fns[2]
		return func(ev field.Event) bool { return a(ev) || b(ev) || d(ev) }
	}
	return func(ev field.Event) bool {
		for _, f := range fns {
			if f(ev) {
				return true
			}
		}
		return false
	}
}

func describe(e Expr) string {
	switch e := e.(type) {
	case *Value:
		return strconv.Quote(e.Text)
	case *List:
		return "a list"
	case *FieldRef:
		return "field " + e.Text()
	case *Transform:
		return e.Name + "(...)"
	}
	return fmt.Sprintf("%T", e)
}

func (c *compiler) macroRef(e *Ident) *compiled {
	if r, ok := c.macros[e.Name]; ok {
		return r
	}
	for i, m := range c.stack {
		if m == e.Name {
			cycle := append(append([]string(nil), c.stack[i:]...), e.Name)
			c.errorf(e.At, "macro cycle: %s", strings.Join(cycle, " -> "))
			return failed()
		}
	}
	body, ok := c.env.Macros[e.Name]
	if !ok || body == nil {
		if _, isList := c.env.Lists[e.Name]; isList {
			c.errorf(e.At, "%s is a list, not a macro: a list can only follow in, intersects or pmatch", e.Name)
		} else {
			c.errorf(e.At, "undefined macro %s%s", e.Name, didYouMean(e.Name, mapKeys(c.env.Macros)))
		}
		return failed()
	}
	saved := c.macro
	c.stack = append(c.stack, e.Name)
	c.macro = e.Name
	r := c.expr(body)
	c.macro = saved
	c.stack = c.stack[:len(c.stack)-1]
	c.macros[e.Name] = r
	return r
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// didYouMean returns " (did you mean X?)" for the closest name, or "".
func didYouMean(name string, names []string) string {
	best, bestD := "", len(name)/3+2
	for _, n := range names {
		if d := field.EditDistance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// kind is how a value is held during evaluation.
type kind uint8

const (
	kString kind = iota + 1
	kInt
	kUint
	kBool
	kIP
	kBytes
	kList // of strings
)

var kindNames = [...]string{kString: "strings", kInt: "numbers", kUint: "numbers", kBool: "booleans (true or false)",
	kIP: "IP addresses", kBytes: "byte buffers", kList: "lists"}

// scratch is per-evaluation working memory for transformers and list
// fields, pooled so evaluation does not allocate.
type scratch struct {
	bufs  [][]byte
	lists [][]string
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func (sc *scratch) grow(nb, nl int) {
	for len(sc.bufs) < nb {
		sc.bufs = append(sc.bufs, nil)
	}
	for len(sc.lists) < nl {
		sc.lists = append(sc.lists, nil)
	}
}

// slots numbers the scratch buffers and lists one check needs.
type slots struct{ bufs, lists int }

// operand is a compiled left or right side of a check: a field, maybe
// transformed, with exactly the getter of its kind set.
type operand struct {
	kind    kind
	typ     field.Type
	text    string
	evtType bool // plain evt.type: compared by event type id
	// anyStr lists every value of a field whose argument was left out
	// when the source provides that form (proc.aname: every ancestor);
	// a check on it matches when it matches one of them, as in libsinsp.
	// avail is false when the source did not bind Strings.
	anyStr func(field.Event, *scratch) (l []string, ok, avail bool)
	str    func(field.Event, *scratch) (string, bool)
	i64    func(field.Event, *scratch) (int64, bool)
	u64    func(field.Event, *scratch) (uint64, bool)
	bl     func(field.Event, *scratch) (bool, bool)
	ip     func(field.Event, *scratch) (netip.Addr, bool)
	byt    func(field.Event, *scratch) ([]byte, bool)
	lst    func(field.Event, *scratch) ([]string, bool)
}

func (o *operand) typeName() string {
	if o.kind == kList {
		return o.typ.String() + " list"
	}
	return o.typ.String()
}

func (c *compiler) operand(e Expr, sl *slots, rhs bool) *operand {
	switch e := e.(type) {
	case *FieldRef:
		return c.fieldOperand(e, sl)
	case *Transform:
		if e.Name == "val" {
			if !rhs {
				c.errorf(e.At, "val(...) can only be used on the right side of a comparison")
				return nil
			}
			return c.operand(e.X, sl, false)
		}
		in := c.operand(e.X, sl, false)
		if in == nil {
			return nil
		}
		return c.transform(e, in, sl)
	}
	c.errorf(e.Pos(), "expected a field, got %s", describe(e))
	return nil
}

func (c *compiler) fieldOperand(e *FieldRef, sl *slots) *operand {
	text := e.Text()
	if c.src == nil {
		c.errorf(e.At, "field %s: no event source to resolve fields against", text)
		return nil
	}
	f, a, err := c.src.Ref(text)
	if err != nil {
		c.errorf(e.At, "%s", err.Error())
		return nil
	}
	if !c.seen[text] {
		c.seen[text] = true
		c.fields = append(c.fields, FieldUse{Text: text, Field: f, Arg: a})
	}
	o := &operand{typ: f.Type, text: text}
	// Extractors are read through f at evaluation time, so a source may
	// bind them after conditions are compiled.
	x := &f.Extract
	switch {
	case f.List:
		o.kind = kList
		slot := sl.lists
		sl.lists++
		o.lst = func(ev field.Event, sc *scratch) ([]string, bool) {
			fn := x.Strings
			if fn == nil {
				return nil, false
			}
			l, ok := fn(ev, a, sc.lists[slot][:0])
			sc.lists[slot] = l[:0]
			return l, ok
		}
	case f.Type == field.String:
		o.kind = kString
		o.evtType = f.Name == "evt.type" && !a.Set
		if f.Arg != field.NoArg && !f.ArgReq && !a.Set {
			slot := sl.lists
			sl.lists++
			o.anyStr = func(ev field.Event, sc *scratch) ([]string, bool, bool) {
				fn := x.Strings
				if fn == nil {
					return nil, false, false
				}
				l, ok := fn(ev, a, sc.lists[slot][:0])
				sc.lists[slot] = l[:0]
				return l, ok, true
			}
		}
		o.str = func(ev field.Event, _ *scratch) (string, bool) {
			fn := x.String
			if fn == nil {
				return "", false
			}
			return fn(ev, a)
		}
	case f.Type == field.Int64 || f.Type == field.AbsTime || f.Type == field.RelTime:
		o.kind = kInt
		o.i64 = func(ev field.Event, _ *scratch) (int64, bool) {
			fn := x.Int
			if fn == nil {
				return 0, false
			}
			return fn(ev, a)
		}
	case f.Type == field.Uint64 || f.Type == field.Port || f.Type == field.Mode:
		o.kind = kUint
		o.u64 = func(ev field.Event, _ *scratch) (uint64, bool) {
			fn := x.Uint
			if fn == nil {
				return 0, false
			}
			return fn(ev, a)
		}
	case f.Type == field.Bool:
		o.kind = kBool
		o.bl = func(ev field.Event, _ *scratch) (bool, bool) {
			fn := x.Bool
			if fn == nil {
				return false, false
			}
			return fn(ev, a)
		}
	case f.Type == field.IPAddr || f.Type == field.IPNet:
		o.kind = kIP
		o.ip = func(ev field.Event, _ *scratch) (netip.Addr, bool) {
			fn := x.IP
			if fn == nil {
				return netip.Addr{}, false
			}
			ip, _, ok := fn(ev, a)
			return ip.Unmap(), ok
		}
	case f.Type == field.Bytes:
		o.kind = kBytes
		o.byt = func(ev field.Event, _ *scratch) ([]byte, bool) {
			fn := x.Bytes
			if fn == nil {
				return nil, false
			}
			return fn(ev, a)
		}
	default:
		c.errorf(e.At, "field %s has type %s, which conditions cannot use", text, f.Type)
		return nil
	}
	return o
}

// bufString views a scratch buffer as a string without copying; the
// string is valid until the buffer is reused, which is after the check.
func bufString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (c *compiler) transform(e *Transform, in *operand, sl *slots) *operand {
	o := &operand{kind: kString, typ: field.String, text: e.Name + "(" + in.text + ")"}
	bad := func() *operand {
		c.errorf(e.At, "transformer %s does not support field %s of type %s", e.Name, in.text, in.typeName())
		return nil
	}
	if in.kind == kList && e.Name != "len" {
		return c.listTransform(e, in, sl, bad)
	}
	switch e.Name {
	case "tolower", "toupper":
		if in.kind != kString {
			return bad()
		}
		conv, needs := caseConv(e.Name)
		g, slot := in.str, sl.bufs
		sl.bufs++
		o.str = func(ev field.Event, sc *scratch) (string, bool) {
			s, ok := g(ev, sc)
			if !ok {
				return "", false
			}
			i := 0
			for i < len(s) && !needs(s[i]) {
				i++
			}
			if i == len(s) {
				return s, true
			}
			b := append(sc.bufs[slot][:0], s...)
			for j := i; j < len(b); j++ {
				b[j] = conv(b[j])
			}
			sc.bufs[slot] = b
			return bufString(b), true
		}
	case "b64":
		slot := sl.bufs
		sl.bufs++
		switch in.kind {
		case kString:
			g := in.str
			o.str = func(ev field.Event, sc *scratch) (string, bool) {
				s, ok := g(ev, sc)
				if !ok {
					return "", false
				}
				b, err := base64.StdEncoding.AppendDecode(sc.bufs[slot][:0], unsafe.Slice(unsafe.StringData(s), len(s)))
				sc.bufs[slot] = b
				return bufString(b), err == nil
			}
		case kBytes:
			g := in.byt
			o.kind, o.typ = kBytes, field.Bytes
			o.byt = func(ev field.Event, sc *scratch) ([]byte, bool) {
				s, ok := g(ev, sc)
				if !ok {
					return nil, false
				}
				b, err := base64.StdEncoding.AppendDecode(sc.bufs[slot][:0], s)
				sc.bufs[slot] = b
				return b, err == nil
			}
		default:
			return bad()
		}
	case "basename":
		if in.kind != kString {
			return bad()
		}
		g := in.str
		o.str = func(ev field.Event, sc *scratch) (string, bool) {
			s, ok := g(ev, sc)
			if !ok {
				return "", false
			}
			return s[strings.LastIndexByte(s, '/')+1:], true
		}
	case "len":
		o.kind, o.typ = kUint, field.Uint64
		switch in.kind {
		case kString:
			g := in.str
			o.u64 = func(ev field.Event, sc *scratch) (uint64, bool) {
				s, ok := g(ev, sc)
				return uint64(len(s)), ok
			}
		case kBytes:
			g := in.byt
			o.u64 = func(ev field.Event, sc *scratch) (uint64, bool) {
				s, ok := g(ev, sc)
				return uint64(len(s)), ok
			}
		case kList:
			g := in.lst
			o.u64 = func(ev field.Event, sc *scratch) (uint64, bool) {
				s, ok := g(ev, sc)
				return uint64(len(s)), ok
			}
		default:
			return bad()
		}
	default:
		c.errorf(e.At, "unknown transformer %s", e.Name)
		return nil
	}
	return o
}

// caseConv returns the byte conversion of tolower or toupper, and which
// bytes it changes.
func caseConv(name string) (conv func(byte) byte, changes func(byte) bool) {
	if name == "toupper" {
		return upperASCII, func(c byte) bool { return c >= 'a' && c <= 'z' }
	}
	return lowerASCII, func(c byte) bool { return c >= 'A' && c <= 'Z' }
}

// listTransform applies tolower, toupper or basename to every element of
// a list field, as libsinsp does for list fields.
func (c *compiler) listTransform(e *Transform, in *operand, sl *slots, bad func() *operand) *operand {
	o := &operand{kind: kList, typ: field.String, text: e.Name + "(" + in.text + ")"}
	g, lslot := in.lst, sl.lists
	sl.lists++
	switch e.Name {
	case "basename":
		o.lst = func(ev field.Event, sc *scratch) ([]string, bool) {
			l, ok := g(ev, sc)
			if !ok {
				return nil, false
			}
			out := sc.lists[lslot][:0]
			for _, s := range l {
				out = append(out, s[strings.LastIndexByte(s, '/')+1:])
			}
			sc.lists[lslot] = out[:0]
			return out, true
		}
	case "tolower", "toupper":
		conv, _ := caseConv(e.Name)
		bslot := sl.bufs
		sl.bufs++
		o.lst = func(ev field.Event, sc *scratch) ([]string, bool) {
			l, ok := g(ev, sc)
			if !ok {
				return nil, false
			}
			// Convert everything into one buffer first, then slice it:
			// the buffer may move while it grows.
			b := sc.bufs[bslot][:0]
			for _, s := range l {
				for i := 0; i < len(s); i++ {
					b = append(b, conv(s[i]))
				}
			}
			sc.bufs[bslot] = b
			out := sc.lists[lslot][:0]
			off := 0
			for _, s := range l {
				out = append(out, bufString(b[off:off+len(s)]))
				off += len(s)
			}
			sc.lists[lslot] = out[:0]
			return out, true
		}
	default:
		return bad()
	}
	return o
}

// Operators each kind supports, as libsinsp's flt_is_comparable has them.
var kindOps = map[kind]map[string]bool{
	kString: set("=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "startswith", "endswith",
		"glob", "iglob", "regex", "in", "intersects", "pmatch"),
	kInt:   set("=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects"),
	kUint:  set("=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects"),
	kBool:  set("=", "==", "!=", "in", "intersects"),
	kIP:    set("=", "==", "!=", "in", "intersects"),
	kBytes: set("=", "==", "!=", "contains", "startswith", "endswith", "bcontains", "bstartswith", "in", "intersects"),
	kList:  set("in", "intersects"),
}

func set(ops ...string) map[string]bool {
	m := map[string]bool{}
	for _, o := range ops {
		m[o] = true
	}
	return m
}

func (c *compiler) check(e *Check) *compiled {
	sl := &slots{}
	left := c.operand(e.Left, sl, false)
	if left == nil {
		c.operandErrorsOnly(e, sl)
		return failed()
	}
	var fn func(field.Event, *scratch) bool
	r := &compiled{pos: allTypes(), neg: allTypes()}
	switch {
	case e.Op == "exists":
		fn = existsOf(left)
	case !kindOps[left.kind][e.Op]:
		if left.kind == kList {
			c.errorf(e.OpAt, "operator %s is not supported by list field %s: use exists, in or intersects", e.Op, left.text)
		} else {
			c.errorf(e.OpAt, "operator %s is not supported by field %s of type %s", e.Op, left.text, left.typeName())
		}
		c.operandErrorsOnly(e, sl)
		return failed()
	default:
		switch rt := e.Right.(type) {
		case *FieldRef, *Transform:
			if e.Op == "pmatch" {
				c.errorf(e.Right.Pos(), "operator pmatch needs a list, got %s", describe(e.Right))
				return failed()
			}
			right := c.operand(rt, sl, true)
			if right == nil {
				return failed()
			}
			fn = c.fieldCompare(e, left, right)
		default:
			vals, ok := c.values(e)
			if !ok {
				return failed()
			}
			if left.evtType && c.src != nil {
				if p, pos, ok := c.evtTypeCheck(e.Op, vals); ok {
					r.fn, r.pos, r.neg = p, pos, pos.complement()
					return r
				}
			}
			fn = c.valueCompare(e, left, vals)
		}
	}
	if fn == nil {
		return failed()
	}
	r.fn = withScratch(fn, *sl)
	return r
}

// operandErrorsOnly compiles the right side of a failed check only to
// report its errors too (an unknown val() field, ...).
func (c *compiler) operandErrorsOnly(e *Check, sl *slots) {
	switch rt := e.Right.(type) {
	case *FieldRef, *Transform:
		c.operand(rt, sl, true)
	case *Ident:
		if _, ok := c.env.Lists[rt.Name]; !ok {
			c.undefinedList(rt)
		}
	}
}

func (c *compiler) undefinedList(id *Ident) {
	if _, isMacro := c.env.Macros[id.Name]; isMacro {
		c.errorf(id.At, "%s is a macro, not a list: a list operator needs a list name or (items)", id.Name)
		return
	}
	c.errorf(id.At, "undefined list %s%s", id.Name, didYouMean(id.Name, mapKeys(c.env.Lists)))
}

func withScratch(fn func(field.Event, *scratch) bool, sl slots) pred {
	if sl.bufs == 0 && sl.lists == 0 {
		return func(ev field.Event) bool { return fn(ev, nil) }
	}
	return func(ev field.Event) bool {
		sc := scratchPool.Get().(*scratch)
		sc.grow(sl.bufs, sl.lists)
		r := fn(ev, sc)
		scratchPool.Put(sc)
		return r
	}
}

func existsOf(o *operand) func(field.Event, *scratch) bool {
	switch o.kind {
	case kString:
		if o.anyStr != nil {
			return anyOf(o, func(string) bool { return true })
		}
		g := o.str
		return func(ev field.Event, sc *scratch) bool { _, ok := g(ev, sc); return ok }
	case kInt:
		g := o.i64
		return func(ev field.Event, sc *scratch) bool { _, ok := g(ev, sc); return ok }
	case kUint:
		g := o.u64
		return func(ev field.Event, sc *scratch) bool { _, ok := g(ev, sc); return ok }
	case kBool:
		g := o.bl
		return func(ev field.Event, sc *scratch) bool { _, ok := g(ev, sc); return ok }
	case kIP:
		g := o.ip
		return func(ev field.Event, sc *scratch) bool { _, ok := g(ev, sc); return ok }
	case kBytes:
		g := o.byt
		return func(ev field.Event, sc *scratch) bool { _, ok := g(ev, sc); return ok }
	default:
		g := o.lst
		return func(ev field.Event, sc *scratch) bool { _, ok := g(ev, sc); return ok }
	}
}

// values returns the literal right side of a check, with list names
// expanded (as the right side of a list operator, and as bare items of a
// list literal).
func (c *compiler) values(e *Check) ([]*Value, bool) {
	isListOp := listOps[e.Op]
	switch rt := e.Right.(type) {
	case *Value:
		return []*Value{rt}, true
	case *List:
		if !isListOp {
			c.errorf(rt.At, "operator %s needs a single value, got a list", e.Op)
			return nil, false
		}
		return c.env.listLiteral(rt), true
	case *Ident:
		out, ok := c.env.namedList(rt)
		if !ok {
			c.undefinedList(rt)
		}
		return out, ok
	case nil:
		c.errorf(e.OpAt, "operator %s needs a value", e.Op)
		return nil, false
	}
	c.errorf(e.Right.Pos(), "unexpected %s after operator %s", describe(e.Right), e.Op)
	return nil, false
}

// evtTypeCheck compiles evt.type =, !=, in and intersects to comparisons
// of the event type id, and returns the event types that can match.
func (c *compiler) evtTypeCheck(op string, vals []*Value) (pred, evset, bool) {
	var ids []int
	for _, v := range vals {
		ids = append(ids, c.src.EventType(v.Text))
	}
	s := evset{ids: map[int]struct{}{}}
	for _, id := range ids {
		s.ids[id] = struct{}{}
	}
	switch op {
	case "=", "==":
		if len(ids) != 1 {
			return nil, evset{}, false
		}
		id := ids[0]
		return func(ev field.Event) bool { return ev.EventType() == id }, s, true
	case "!=":
		if len(ids) != 1 {
			return nil, evset{}, false
		}
		id := ids[0]
		return func(ev field.Event) bool { return ev.EventType() != id }, s.complement(), true
	case "in", "intersects":
		maxID := 0
		for _, id := range ids {
			maxID = max(maxID, id)
		}
		member := make([]bool, maxID+1)
		for _, id := range ids {
			member[id] = true
		}
		return func(ev field.Event) bool {
			t := ev.EventType()
			return t >= 0 && t < len(member) && member[t]
		}, s, true
	}
	return nil, evset{}, false
}

func (c *compiler) badValue(v *Value, o *operand) {
	c.errorf(v.At, "field %s compares %s, got %s", o.text, kindNames[o.kind], strconv.Quote(v.Text))
}

// parseInt parses a decimal or 0x-prefixed hexadecimal integer.
func parseInt(s string) (int64, error) {
	if t := strings.TrimPrefix(s, "+"); len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		return strconv.ParseInt(t[2:], 16, 64)
	}
	return strconv.ParseInt(s, 10, 64)
}

func parseUint(s string) (uint64, error) {
	t := strings.TrimPrefix(s, "+")
	if len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		return strconv.ParseUint(t[2:], 16, 64)
	}
	return strconv.ParseUint(t, 10, 64)
}

// ipMatcher is a compiled set of addresses and networks.
type ipMatcher struct {
	addrs map[netip.Addr]struct{}
	nets  []netip.Prefix
}

func (m *ipMatcher) match(ip netip.Addr) bool {
	if _, ok := m.addrs[ip]; ok {
		return true
	}
	for _, n := range m.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func (c *compiler) valueCompare(e *Check, o *operand, vals []*Value) func(field.Event, *scratch) bool {
	op := e.Op
	isSet := op == "in" || op == "intersects"
	nerr := len(c.errs)
	switch o.kind {
	case kString:
		test := c.stringTest(e, vals)
		if test == nil {
			return nil
		}
		if o.anyStr != nil {
			return anyOf(o, test)
		}
		return scalarString(o.str, e.Op, vals, test)
	case kInt:
		nums := make([]int64, 0, len(vals))
		for _, v := range vals {
			n, err := parseInt(v.Text)
			if err != nil {
				c.badValue(v, o)
				continue
			}
			nums = append(nums, n)
		}
		if len(c.errs) > nerr {
			return nil
		}
		g := o.i64
		if isSet {
			return inSet(g, nums)
		}
		return orderedOp(op, g, nums[0])
	case kUint:
		nums := make([]uint64, 0, len(vals))
		for _, v := range vals {
			n, err := parseUint(v.Text)
			if err == nil && o.typ == field.Port && n > 65535 {
				err = strconv.ErrRange
			}
			if err != nil {
				c.badValue(v, o)
				continue
			}
			nums = append(nums, n)
		}
		if len(c.errs) > nerr {
			return nil
		}
		g := o.u64
		if isSet {
			return inSet(g, nums)
		}
		return orderedOp(op, g, nums[0])
	case kBool:
		var want [2]bool // which values match
		for _, v := range vals {
			switch v.Text {
			case "true":
				want[1] = true
			case "false":
				want[0] = true
			default:
				c.badValue(v, o)
			}
		}
		if len(c.errs) > nerr {
			return nil
		}
		g := o.bl
		ne := op == "!="
		return func(ev field.Event, sc *scratch) bool {
			b, ok := g(ev, sc)
			if !ok {
				return false
			}
			i := 0
			if b {
				i = 1
			}
			return want[i] != ne
		}
	case kIP:
		m := &ipMatcher{addrs: map[netip.Addr]struct{}{}}
		for _, v := range vals {
			if strings.Contains(v.Text, "/") {
				p, err := netip.ParsePrefix(v.Text)
				if err != nil {
					c.badValue(v, o)
					continue
				}
				m.nets = append(m.nets, netip.PrefixFrom(p.Addr().Unmap(), bitsUnmapped(p)).Masked())
				continue
			}
			ip, err := netip.ParseAddr(v.Text)
			if err != nil {
				c.badValue(v, o)
				continue
			}
			m.addrs[ip.Unmap()] = struct{}{}
		}
		if len(c.errs) > nerr {
			return nil
		}
		g := o.ip
		ne := op == "!="
		return func(ev field.Event, sc *scratch) bool {
			ip, ok := g(ev, sc)
			return ok && m.match(ip) != ne
		}
	case kBytes:
		g := o.byt
		if isSet {
			m := make(map[string]struct{}, len(vals))
			for _, v := range vals {
				m[v.Text] = struct{}{}
			}
			return func(ev field.Event, sc *scratch) bool {
				b, ok := g(ev, sc)
				if !ok {
					return false
				}
				_, in := m[string(b)]
				return in
			}
		}
		want := []byte(vals[0].Text)
		if op == "bcontains" || op == "bstartswith" {
			h, err := hex.DecodeString(vals[0].Text)
			if err != nil {
				c.errorf(vals[0].At, "operator %s needs hexadecimal bytes (like 7f454c46), got %s", op, strconv.Quote(vals[0].Text))
				return nil
			}
			want = h
		}
		return bytesOp(op, g, want)
	case kList:
		m := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			m[v.Text] = struct{}{}
		}
		g := o.lst
		if op == "in" {
			// libsinsp: every element of the field is in the set.
			return func(ev field.Event, sc *scratch) bool {
				l, ok := g(ev, sc)
				if !ok {
					return false
				}
				for _, s := range l {
					if _, in := m[s]; !in {
						return false
					}
				}
				return true
			}
		}
		return func(ev field.Event, sc *scratch) bool {
			l, ok := g(ev, sc)
			if !ok {
				return false
			}
			for _, s := range l {
				if _, in := m[s]; in {
					return true
				}
			}
			return false
		}
	}
	return nil
}

func bitsUnmapped(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// scalarString builds the check of a single string value. The most
// common operators get their own closure (saving an indirect call per
// check); the others go through test.
func scalarString(g func(field.Event, *scratch) (string, bool), op string, vals []*Value, test func(string) bool) func(field.Event, *scratch) bool {
	switch op {
	case "=", "==":
		v := vals[0].Text
		return func(ev field.Event, sc *scratch) bool { s, ok := g(ev, sc); return ok && s == v }
	case "!=":
		v := vals[0].Text
		return func(ev field.Event, sc *scratch) bool { s, ok := g(ev, sc); return ok && s != v }
	case "startswith":
		v := vals[0].Text
		return func(ev field.Event, sc *scratch) bool { s, ok := g(ev, sc); return ok && strings.HasPrefix(s, v) }
	case "endswith":
		v := vals[0].Text
		return func(ev field.Event, sc *scratch) bool { s, ok := g(ev, sc); return ok && strings.HasSuffix(s, v) }
	case "contains":
		v := vals[0].Text
		return func(ev field.Event, sc *scratch) bool { s, ok := g(ev, sc); return ok && strings.Contains(s, v) }
	case "in", "intersects":
		m := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			m[v.Text] = struct{}{}
		}
		return func(ev field.Event, sc *scratch) bool {
			s, ok := g(ev, sc)
			if !ok {
				return false
			}
			_, in := m[s]
			return in
		}
	}
	return func(ev field.Event, sc *scratch) bool {
		s, ok := g(ev, sc)
		return ok && test(s)
	}
}

// anyOf evaluates test on every value of an anyStr operand (falling back
// to the single value when the source lists none).
func anyOf(o *operand, test func(string) bool) func(field.Event, *scratch) bool {
	g, all := o.str, o.anyStr
	return func(ev field.Event, sc *scratch) bool {
		if l, ok, avail := all(ev, sc); avail {
			if !ok {
				return false
			}
			for _, s := range l {
				if test(s) {
					return true
				}
			}
			return false
		}
		s, ok := g(ev, sc)
		return ok && test(s)
	}
}

// stringTest compiles a string comparison with literal values to a test
// of one value.
func (c *compiler) stringTest(e *Check, vals []*Value) func(string) bool {
	switch e.Op {
	case "in", "intersects":
		m := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			m[v.Text] = struct{}{}
		}
		return func(s string) bool { _, in := m[s]; return in }
	case "pmatch":
		t := &pathTrie{}
		for _, v := range vals {
			t.insert(v.Text)
		}
		return t.match
	}
	return stringCmp(c, e, vals[0])
}

// stringCmp compiles a comparison of a string with one literal value.
func stringCmp(c *compiler, e *Check, val *Value) func(string) bool {
	v := val.Text
	switch e.Op {
	case "=", "==":
		return func(s string) bool { return s == v }
	case "!=":
		return func(s string) bool { return s != v }
	case "<":
		return func(s string) bool { return s < v }
	case "<=":
		return func(s string) bool { return s <= v }
	case ">":
		return func(s string) bool { return s > v }
	case ">=":
		return func(s string) bool { return s >= v }
	case "contains":
		return func(s string) bool { return strings.Contains(s, v) }
	case "icontains":
		lv := strings.Map(func(r rune) rune {
			if r < 0x80 {
				return rune(lowerASCII(byte(r)))
			}
			return r
		}, v)
		return func(s string) bool { return containsFold(s, lv) }
	case "startswith":
		return func(s string) bool { return strings.HasPrefix(s, v) }
	case "endswith":
		return func(s string) bool { return strings.HasSuffix(s, v) }
	case "glob":
		return func(s string) bool { return globMatch(v, s, false) }
	case "iglob":
		return func(s string) bool { return globMatch(v, s, true) }
	case "regex":
		// libsinsp matches RE2 regexes against the whole value.
		re, err := regexp.Compile(`^(?:` + v + `)$`)
		if err != nil {
			c.errorf(val.At, "invalid regex %s: %v", strconv.Quote(v), err)
			return nil
		}
		return re.MatchString
	}
	c.errorf(e.OpAt, "operator %s is not supported by strings", e.Op)
	return nil
}

// inSet is `in` for numbers: a hash set built once at compile time.
func inSet[T int64 | uint64](g func(field.Event, *scratch) (T, bool), nums []T) func(field.Event, *scratch) bool {
	m := make(map[T]struct{}, len(nums))
	for _, n := range nums {
		m[n] = struct{}{}
	}
	return func(ev field.Event, sc *scratch) bool {
		x, ok := g(ev, sc)
		if !ok {
			return false
		}
		_, in := m[x]
		return in
	}
}

func orderedOp[T int64 | uint64](op string, g func(field.Event, *scratch) (T, bool), v T) func(field.Event, *scratch) bool {
	switch op {
	case "=", "==":
		return func(ev field.Event, sc *scratch) bool { x, ok := g(ev, sc); return ok && x == v }
	case "!=":
		return func(ev field.Event, sc *scratch) bool { x, ok := g(ev, sc); return ok && x != v }
	case "<":
		return func(ev field.Event, sc *scratch) bool { x, ok := g(ev, sc); return ok && x < v }
	case "<=":
		return func(ev field.Event, sc *scratch) bool { x, ok := g(ev, sc); return ok && x <= v }
	case ">":
		return func(ev field.Event, sc *scratch) bool { x, ok := g(ev, sc); return ok && x > v }
	default: // ">="
		return func(ev field.Event, sc *scratch) bool { x, ok := g(ev, sc); return ok && x >= v }
	}
}

func bytesOp(op string, g func(field.Event, *scratch) ([]byte, bool), v []byte) func(field.Event, *scratch) bool {
	switch op {
	case "=", "==":
		return func(ev field.Event, sc *scratch) bool { b, ok := g(ev, sc); return ok && string(b) == string(v) }
	case "!=":
		return func(ev field.Event, sc *scratch) bool { b, ok := g(ev, sc); return ok && string(b) != string(v) }
	case "contains", "bcontains":
		return func(ev field.Event, sc *scratch) bool {
			b, ok := g(ev, sc)
			return ok && strings.Contains(unsafe.String(unsafe.SliceData(b), len(b)), string(v))
		}
	case "startswith", "bstartswith":
		return func(ev field.Event, sc *scratch) bool {
			b, ok := g(ev, sc)
			return ok && len(b) >= len(v) && string(b[:len(v)]) == string(v)
		}
	default: // "endswith"
		return func(ev field.Event, sc *scratch) bool {
			b, ok := g(ev, sc)
			return ok && len(b) >= len(v) && string(b[len(b)-len(v):]) == string(v)
		}
	}
}

// fieldCompare compiles a comparison of two fields (val(...) or a
// transformer on the right). libsinsp requires both sides to have the same
// type; in and intersects then mean equality.
func (c *compiler) fieldCompare(e *Check, l, r *operand) func(field.Event, *scratch) bool {
	if l.kind != r.kind || l.kind == kList {
		c.errorf(e.Right.Pos(), "field %s (%s) cannot be compared with %s (%s)", l.text, l.typeName(), r.text, r.typeName())
		return nil
	}
	op := e.Op
	if op == "in" || op == "intersects" {
		op = "="
	}
	unsupported := func() func(field.Event, *scratch) bool {
		c.errorf(e.OpAt, "operator %s does not support a field on the right side", e.Op)
		return nil
	}
	switch l.kind {
	case kString:
		lg, rg := l.str, r.str
		var cmp func(a, b string) bool
		switch op {
		case "=", "==":
			cmp = func(a, b string) bool { return a == b }
		case "!=":
			cmp = func(a, b string) bool { return a != b }
		case "<":
			cmp = func(a, b string) bool { return a < b }
		case "<=":
			cmp = func(a, b string) bool { return a <= b }
		case ">":
			cmp = func(a, b string) bool { return a > b }
		case ">=":
			cmp = func(a, b string) bool { return a >= b }
		case "contains":
			cmp = strings.Contains
		case "startswith":
			cmp = strings.HasPrefix
		case "endswith":
			cmp = strings.HasSuffix
		case "glob":
			cmp = func(a, b string) bool { return globMatch(b, a, false) }
		case "iglob":
			cmp = func(a, b string) bool { return globMatch(b, a, true) }
		default:
			return unsupported()
		}
		return func(ev field.Event, sc *scratch) bool {
			a, ok := lg(ev, sc)
			if !ok {
				return false
			}
			b, ok := rg(ev, sc)
			return ok && cmp(a, b)
		}
	case kInt:
		return fieldOrdered(op, l.i64, r.i64, unsupported)
	case kUint:
		return fieldOrdered(op, l.u64, r.u64, unsupported)
	case kBool:
		return fieldEqual(op, l.bl, r.bl, unsupported)
	case kIP:
		return fieldEqual(op, l.ip, r.ip, unsupported)
	case kBytes:
		lg, rg := l.byt, r.byt
		ne := op == "!="
		if op != "=" && op != "==" && !ne {
			return unsupported()
		}
		return func(ev field.Event, sc *scratch) bool {
			a, ok := lg(ev, sc)
			if !ok {
				return false
			}
			b, ok := rg(ev, sc)
			return ok && (string(a) == string(b)) != ne
		}
	}
	return unsupported()
}

// fieldEqual compares two fields of a comparable type with = or !=.
func fieldEqual[T comparable](op string, lg, rg func(field.Event, *scratch) (T, bool), unsupported func() func(field.Event, *scratch) bool) func(field.Event, *scratch) bool {
	ne := op == "!="
	if op != "=" && op != "==" && !ne {
		return unsupported()
	}
	return func(ev field.Event, sc *scratch) bool {
		a, ok := lg(ev, sc)
		if !ok {
			return false
		}
		b, ok := rg(ev, sc)
		return ok && (a == b) != ne
	}
}

func fieldOrdered[T int64 | uint64](op string, lg, rg func(field.Event, *scratch) (T, bool), unsupported func() func(field.Event, *scratch) bool) func(field.Event, *scratch) bool {
	var cmp func(a, b T) bool
	switch op {
	case "=", "==":
		cmp = func(a, b T) bool { return a == b }
	case "!=":
		cmp = func(a, b T) bool { return a != b }
	case "<":
		cmp = func(a, b T) bool { return a < b }
	case "<=":
		cmp = func(a, b T) bool { return a <= b }
	case ">":
		cmp = func(a, b T) bool { return a > b }
	case ">=":
		cmp = func(a, b T) bool { return a >= b }
	default:
		return unsupported()
	}
	return func(ev field.Event, sc *scratch) bool {
		a, ok := lg(ev, sc)
		if !ok {
			return false
		}
		b, ok := rg(ev, sc)
		return ok && cmp(a, b)
	}
}
