package filter

import (
	"strings"
)

// maxDepth bounds the parser's recursion (libsinsp has the same kind of
// guard) so a hostile condition cannot exhaust the stack.
const maxDepth = 1000

// Operators, as libsinsp's parser knows them.
var (
	numOps  = []string{"<=", "<", ">=", ">"}
	symOps  = []string{"==", "=", "!="}
	wordOps = map[string]bool{"glob": true, "iglob": true, "contains": true, "icontains": true,
		"bcontains": true, "startswith": true, "bstartswith": true, "endswith": true, "regex": true}
	listOps      = map[string]bool{"in": true, "intersects": true, "pmatch": true}
	transformers = map[string]bool{"tolower": true, "toupper": true, "b64": true, "basename": true, "len": true}
)

// Parse parses a condition (or a macro's condition). The error is an
// *Error with the position of the problem.
func Parse(cond string) (Expr, error) {
	p := &parser{in: cond, pos: Pos{Line: 1, Col: 1}}
	e, err := p.parse()
	if err != nil {
		return nil, err
	}
	return e, nil
}

type parser struct {
	in    string
	pos   Pos
	depth int
}

// parseError unwinds the parser; parse turns it into the returned error.
type parseError struct{ err *Error }

func (p *parser) fail(at Pos, format string) {
	panic(parseError{&Error{Pos: at, Msg: format}})
}

func (p *parser) parse() (e Expr, err error) {
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			e, err = nil, pe.err
		}
	}()
	p.blank()
	if p.eof() {
		p.fail(p.pos, "condition is empty")
	}
	e = p.parseOr()
	p.blank()
	if !p.eof() {
		p.fail(p.pos, "unexpected "+quoteToken(p.rest())+", expecting 'and', 'or' or the end of the condition")
	}
	return e, nil
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail(p.pos, "condition is nested too deeply")
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) eof() bool         { return p.pos.Offset >= len(p.in) }
func (p *parser) rest() string      { return p.in[p.pos.Offset:] }
func (p *parser) peek() byte        { return p.in[p.pos.Offset] }
func (p *parser) has(s string) bool { return strings.HasPrefix(p.rest(), s) }

// advance moves over n bytes, tracking lines and columns.
func (p *parser) advance(n int) {
	for i := 0; i < n; i++ {
		if p.in[p.pos.Offset] == '\n' {
			p.pos.Line++
			p.pos.Col = 1
		} else {
			p.pos.Col++
		}
		p.pos.Offset++
	}
}

func (p *parser) accept(s string) bool {
	if p.has(s) {
		p.advance(len(s))
		return true
	}
	return false
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\b' || c == '\r' || c == '\n' }

// blank skips blanks and reports whether there were any.
func (p *parser) blank() bool {
	start := p.pos.Offset
	for !p.eof() && isBlank(p.peek()) {
		p.advance(1)
	}
	return p.pos.Offset > start
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdent(c byte) bool { return isAlpha(c) || isDigit(c) || c == '_' }

// keyword accepts word when it is not the start of a longer identifier.
func (p *parser) keyword(word string) bool {
	r := p.rest()
	if !strings.HasPrefix(r, word) || (len(r) > len(word) && isIdent(r[len(word)])) {
		return false
	}
	p.advance(len(word))
	return true
}

func (p *parser) parseOr() Expr {
	p.enter()
	defer p.leave()
	at := p.pos
	p.blank()
	children := []Expr{p.parseAnd()}
	p.blank()
	for p.keyword("or") {
		children = append(children, p.afterKeyword("or", p.parseAnd))
		p.blank()
	}
	if len(children) == 1 {
		return children[0]
	}
	return &Or{At: at, Children: children}
}

func (p *parser) parseAnd() Expr {
	p.enter()
	defer p.leave()
	p.blank()
	at := p.pos
	children := []Expr{p.parseNot()}
	p.blank()
	for p.keyword("and") {
		children = append(children, p.afterKeyword("and", p.parseNot))
		p.blank()
	}
	if len(children) == 1 {
		return children[0]
	}
	return &And{At: at, Children: children}
}

// afterKeyword parses what follows 'and'/'or': a blank then an operand, or
// directly a parenthesized condition.
func (p *parser) afterKeyword(kw string, next func() Expr) Expr {
	if p.blank() {
		return next()
	}
	if p.accept("(") {
		return p.parseEmbedded()
	}
	p.fail(p.pos, "expected a blank or '(' after '"+kw+"'")
	return nil
}

func (p *parser) parseNot() Expr {
	p.enter()
	defer p.leave()
	p.blank()
	at := p.pos
	neg := false
	for {
		if p.keyword("not") {
			neg = !neg
			if p.accept("(") {
				return wrapNot(neg, at, p.parseEmbedded())
			}
			if !p.blank() {
				p.fail(p.pos, "expected a blank or '(' after 'not'")
			}
			continue
		}
		break
	}
	return wrapNot(neg, at, p.parseCheck())
}

func wrapNot(neg bool, at Pos, e Expr) Expr {
	if neg {
		return &Not{At: at, X: e}
	}
	return e
}

// parseEmbedded parses the rest of a parenthesized condition after '('.
func (p *parser) parseEmbedded() Expr {
	p.enter()
	defer p.leave()
	p.blank()
	e := p.parseOr()
	p.blank()
	if !p.accept(")") {
		p.fail(p.pos, "expected ')', got "+quoteToken(p.rest()))
	}
	return e
}

func (p *parser) parseCheck() Expr {
	p.enter()
	defer p.leave()
	p.blank()
	at := p.pos
	if p.accept("(") {
		return p.parseEmbedded()
	}
	if name, ok := p.fieldName(); ok {
		left := p.fieldRemainder(name, at)
		return p.parseCondition(left, at)
	}
	if tr, ok := p.transformerName(false); ok {
		left := p.transformerRemainder(tr, at)
		return p.parseCondition(left, at)
	}
	if id, ok := p.identifier(); ok {
		return &Ident{At: at, Name: id}
	}
	p.fail(at, "expected '(', a field check or a macro name, got "+quoteToken(p.rest()))
	return nil
}

// identifier lexes [a-zA-Z]+[a-zA-Z0-9_]*.
func (p *parser) identifier() (string, bool) {
	r := p.rest()
	n := 0
	for n < len(r) && isAlpha(r[n]) {
		n++
	}
	if n == 0 {
		return "", false
	}
	for n < len(r) && isIdent(r[n]) {
		n++
	}
	p.advance(n)
	return r[:n], true
}

// fieldName lexes identifiers joined by dots, with at least one dot:
// [a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+.
func (p *parser) fieldName() (string, bool) {
	r := p.rest()
	seg := func(i int) int { // end of an identifier segment at i, or -1
		j := i
		for j < len(r) && isAlpha(r[j]) {
			j++
		}
		if j == i {
			return -1
		}
		for j < len(r) && isIdent(r[j]) {
			j++
		}
		return j
	}
	n := seg(0)
	if n < 0 {
		return "", false
	}
	dots := 0
	for n < len(r) && r[n] == '.' {
		m := seg(n + 1)
		if m < 0 {
			break
		}
		n, dots = m, dots+1
	}
	if dots == 0 {
		return "", false
	}
	p.advance(n)
	return r[:n], true
}

func (p *parser) fieldRemainder(name string, at Pos) *FieldRef {
	f := &FieldRef{At: at, Name: name}
	if p.accept("[") {
		argAt := p.pos
		if s, ok := p.quoted(); ok {
			f.Arg = s
		} else {
			r := p.rest()
			n := strings.IndexAny(r, "[]\"' \t\n\v\f\r") // [^][\"'[:space:]]+
			if n < 0 {
				n = len(r)
			}
			if n == 0 {
				p.fail(argAt, "expected a field argument (a quoted or bare string) after '['")
			}
			f.Arg = r[:n]
			p.advance(n)
		}
		f.HasArg = true
		if !p.accept("]") {
			p.fail(p.pos, "expected ']' closing the argument of "+name)
		}
	}
	return f
}

// transformerName lexes "name(" for a transformer (and val, if allowed).
func (p *parser) transformerName(allowVal bool) (string, bool) {
	r := p.rest()
	i := 0
	for i < len(r) && isIdent(r[i]) {
		i++
	}
	if i == 0 || i >= len(r) || r[i] != '(' {
		return "", false
	}
	name := r[:i]
	if !transformers[name] && !(allowVal && name == "val") {
		return "", false
	}
	p.advance(i + 1)
	return name, true
}

// transformerRemainder parses a transformer's operand (a field or a nested
// transformer) and the closing ')'.
func (p *parser) transformerRemainder(name string, at Pos) *Transform {
	p.enter()
	defer p.leave()
	p.blank()
	argAt := p.pos
	var x Expr
	if name != "val" {
		if tr, ok := p.transformerName(false); ok {
			x = p.transformerRemainder(tr, argAt)
		}
	}
	if x == nil {
		fname, ok := p.fieldName()
		if !ok {
			if name == "val" {
				p.fail(argAt, "expected a field inside val(...)")
			}
			p.fail(argAt, "expected a field or a transformer inside "+name+"(...)")
		}
		x = p.fieldRemainder(fname, argAt)
	}
	p.blank()
	if !p.accept(")") {
		p.fail(p.pos, "expected ')' closing "+name+"(...)")
	}
	return &Transform{At: at, Name: name, X: x}
}

func (p *parser) parseCondition(left Expr, at Pos) Expr {
	p.enter()
	defer p.leave()
	p.blank()
	opAt := p.pos
	if p.keyword("exists") {
		return &Check{At: at, Left: left, Op: "exists", OpAt: opAt}
	}
	for _, op := range numOps {
		if p.accept(op) {
			return &Check{At: at, Left: left, Op: op, OpAt: opAt, Right: p.numValue()}
		}
	}
	for _, op := range symOps {
		if p.accept(op) {
			return &Check{At: at, Left: left, Op: op, OpAt: opAt, Right: p.strValue()}
		}
	}
	r := p.rest()
	n := 0
	for n < len(r) && isAlpha(r[n]) {
		n++
	}
	word := r[:n]
	switch {
	case wordOps[word]:
		p.advance(n)
		if !p.blank() {
			p.fail(p.pos, "expected a blank after '"+word+"'")
		}
		return &Check{At: at, Left: left, Op: word, OpAt: opAt, Right: p.strValue()}
	case listOps[word]:
		p.advance(n)
		return &Check{At: at, Left: left, Op: word, OpAt: opAt, Right: p.listValue()}
	}
	p.fail(opAt, "expected an operator (exists, =, ==, !=, <, <=, >, >=, contains, icontains, bcontains, "+
		"startswith, bstartswith, endswith, glob, iglob, regex, in, intersects, pmatch), got "+quoteToken(r))
	return nil
}

// rightField parses val(field) or a transformer on the right side.
func (p *parser) rightField() Expr {
	at := p.pos
	if tr, ok := p.transformerName(true); ok {
		return p.transformerRemainder(tr, at)
	}
	return nil
}

func (p *parser) numValue() Expr {
	p.blank()
	if e := p.rightField(); e != nil {
		return e
	}
	at := p.pos
	r := p.rest()
	n := numberLen(r)
	if n == 0 {
		p.fail(at, "expected a number, val(field) or a transformer, got "+quoteToken(r))
	}
	p.advance(n)
	return &Value{At: at, Text: r[:n]}
}

// numberLen is the length of the number at the start of r: hex 0x..., or
// [+-]?[0-9]+\.?[0-9]*([eE][+-][0-9]+)? as libsinsp lexes numbers.
func numberLen(r string) int {
	if len(r) > 2 && r[0] == '0' && (r[1] == 'x' || r[1] == 'X') && (isAlpha(r[2]) || isDigit(r[2])) {
		n := 2
		for n < len(r) && (isAlpha(r[n]) || isDigit(r[n])) {
			n++
		}
		return n
	}
	n := 0
	if n < len(r) && (r[n] == '+' || r[n] == '-') {
		n++
	}
	d := n
	for n < len(r) && isDigit(r[n]) {
		n++
	}
	if n == d {
		return 0
	}
	if n < len(r) && r[n] == '.' {
		n++
		for n < len(r) && isDigit(r[n]) {
			n++
		}
	}
	if n+2 < len(r) && (r[n] == 'e' || r[n] == 'E') && (r[n+1] == '+' || r[n+1] == '-') && isDigit(r[n+2]) {
		n += 2
		for n < len(r) && isDigit(r[n]) {
			n++
		}
	}
	return n
}

func (p *parser) strValue() Expr {
	p.blank()
	if e := p.rightField(); e != nil {
		return e
	}
	if v, ok := p.plainValue(); ok {
		return v
	}
	p.fail(p.pos, "expected a value, val(field) or a transformer, got "+quoteToken(p.rest()))
	return nil
}

// plainValue lexes a quoted string or a bare string ([^()"'[:space:]=,]+).
func (p *parser) plainValue() (*Value, bool) {
	at := p.pos
	if s, ok := p.quoted(); ok {
		return &Value{At: at, Text: s, Quoted: true}, true
	}
	r := p.rest()
	n := strings.IndexAny(r, "()\"' \t\b\r\n\v\f=,")
	if n < 0 {
		n = len(r)
	}
	if n == 0 {
		return nil, false
	}
	p.advance(n)
	return &Value{At: at, Text: r[:n]}, true
}

func (p *parser) listValue() Expr {
	p.blank()
	at := p.pos
	if p.accept("(") {
		l := &List{At: at}
		p.blank()
		if v, ok := p.plainValue(); ok {
			l.Items = append(l.Items, v)
			p.blank()
			for p.accept(",") {
				p.blank()
				v, ok := p.plainValue()
				if !ok {
					p.fail(p.pos, "expected a list item after ',', got "+quoteToken(p.rest()))
				}
				l.Items = append(l.Items, v)
				p.blank()
			}
		}
		if !p.accept(")") {
			p.fail(p.pos, "expected ',' or ')' in list, got "+quoteToken(p.rest()))
		}
		return l
	}
	if e := p.rightField(); e != nil {
		return e
	}
	if id, ok := p.identifier(); ok {
		return &Ident{At: at, Name: id}
	}
	p.fail(at, "expected a list, a list name, val(field) or a transformer, got "+quoteToken(p.rest()))
	return nil
}

// quoted lexes a '- or "-quoted string and unescapes it as libsinsp does.
func (p *parser) quoted() (string, bool) {
	if p.eof() {
		return "", false
	}
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", false
	}
	at := p.pos
	r := p.rest()
	var b strings.Builder
	for i := 1; i < len(r); i++ {
		c := r[i]
		if c == q {
			p.advance(i + 1)
			return b.String(), true
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(r) {
			break
		}
		switch e := r[i]; e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case ' ', '\\':
			// libsinsp turns "\ " into a backslash too (kept for rules
			// that were written with that escape).
			b.WriteByte('\\')
		case '/':
			b.WriteByte('/')
		case '"', '\'':
			if e != q {
				esc := *p
				esc.advance(i - 1)
				p.fail(esc.pos, "invalid escape \\"+string(e)+" in a "+string(q)+"-quoted string")
			}
			b.WriteByte(e)
		default:
			esc := *p
			esc.advance(i - 1)
			p.fail(esc.pos, "unsupported escape sequence \\"+string(e)+" in quoted string")
		}
	}
	p.fail(at, "unterminated quoted string")
	return "", false
}

// tryQuoted is quoted without the positioned error: false when the input
// is not one well-formed quoted string.
func (p *parser) tryQuoted() (s string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, isParse := r.(parseError); !isParse {
				panic(r)
			}
			s, ok = "", false
		}
	}()
	return p.quoted()
}

// quoteToken shows the start of the remaining input in an error message.
func quoteToken(r string) string {
	if r == "" {
		return "the end of the condition"
	}
	if i := strings.IndexAny(r, " \t\r\n"); i > 0 {
		r = r[:i]
	}
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return "'" + r + "'"
}
