package filter

import "strings"

// Matching primitives with libsinsp's semantics. None of them allocates.

// lowerASCII is C's tolower for one byte, which is what libsinsp uses
// (strcasestr, fnmatch with FNM_CASEFOLD, the tolower transformer).
func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upperASCII(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// containsFold reports whether s contains needle ignoring ASCII case;
// needle is already lower case.
func containsFold(s, needle string) bool {
	n := len(needle)
	if n == 0 {
		return true
	}
	first := needle[0]
	for i := 0; i+n <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// globMatch is fnmatch(3) with flags 0 (or FNM_CASEFOLD when fold), as
// libsinsp's glob and iglob use it: '*' matches any run of bytes including
// '/', '?' one byte, [...] a set (! or ^ negates, ranges with -), and a
// backslash quotes the next byte.
func globMatch(pattern, s string, fold bool) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				starP, starI = p, i
				continue
			case '?':
				if i < len(s) {
					p++
					i++
					continue
				}
			case '[':
				if i < len(s) {
					if ok, next, valid := matchClass(pattern, p, s[i], fold); valid {
						if next < 0 {
							return false
						}
						if ok {
							p = next
							i++
							continue
						}
						break
					}
				}
				// An unterminated '[' is an ordinary character.
				if i < len(s) && eqByte('[', s[i], fold) {
					p++
					i++
					continue
				}
			default:
				lit := c
				np := p + 1
				if c == '\\' {
					if p+1 == len(pattern) {
						return false // glibc: a trailing backslash never matches
					}
					lit = pattern[p+1]
					np = p + 2
				}
				if i < len(s) && eqByte(lit, s[i], fold) {
					p = np
					i++
					continue
				}
			}
		} else if i == len(s) {
			return true
		}
		// Mismatch: let the last star swallow one more byte.
		if starP < 0 || starI >= len(s) {
			return false
		}
		starI++
		p, i = starP, starI
	}
}

func eqByte(a, b byte, fold bool) bool {
	if fold {
		return lowerASCII(a) == lowerASCII(b)
	}
	return a == b
}

// matchClass matches c against the bracket expression at pattern[p]
// ('['). It returns whether c matched, the index after the expression
// (-1 when the pattern can never match), and false for valid when the
// expression is not terminated.
func matchClass(pattern string, p int, c byte, fold bool) (matched bool, next int, valid bool) {
	i := p + 1
	neg := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return matched != neg, i + 1, true
		}
		first = false
		if pattern[i] == '[' && i+1 < len(pattern) && pattern[i+1] == ':' {
			// A character class: [:alpha:] and the others of POSIX.
			if end := strings.Index(pattern[i+2:], ":]"); end >= 0 {
				in, ok := inClass(pattern[i+2:i+2+end], c)
				if !ok {
					return false, 0, false // glibc: an unknown class never matches
				}
				if in { // glibc does not fold case for classes
					matched = true
				}
				i += end + 4
				continue
			}
		}
		lo := pattern[i]
		if lo == '\\' && i+1 < len(pattern) {
			i++
			lo = pattern[i]
		}
		i++
		hi := lo
		if i+2 < len(pattern) && pattern[i] == '-' && pattern[i+1] == '[' && pattern[i+2] == ':' {
			return false, -1, true // glibc: a class cannot end a range; the pattern never matches
		}
		if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
			hi = pattern[i+1]
			if hi == '\\' && i+2 < len(pattern) {
				i++
				hi = pattern[i+1]
			}
			i += 2
		}
		if inRange(c, lo, hi) || fold && (inRange(lowerASCII(c), lo, hi) || inRange(upperASCII(c), lo, hi)) {
			matched = true
		}
	}
	return false, 0, false
}

func inRange(c, lo, hi byte) bool { return lo <= c && c <= hi }

// inClass reports whether c is in the named POSIX class (C locale); ok is
// false for an unknown class name.
func inClass(name string, c byte) (in, ok bool) {
	switch name {
	case "alnum":
		return isAlpha(c) || isDigit(c), true
	case "alpha":
		return isAlpha(c), true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < 0x20 || c == 0x7f, true
	case "digit":
		return isDigit(c), true
	case "graph":
		return c > 0x20 && c < 0x7f, true
	case "lower":
		return c >= 'a' && c <= 'z', true
	case "print":
		return c >= 0x20 && c < 0x7f, true
	case "punct":
		return c > 0x20 && c < 0x7f && !isAlpha(c) && !isDigit(c), true
	case "space":
		return c == ' ' || c >= '\t' && c <= '\r', true
	case "upper":
		return c >= 'A' && c <= 'Z', true
	case "xdigit":
		return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F', true
	}
	return false, false
}

// pathTrie is pmatch's prefix structure, libsinsp's path_prefix_search:
// path components from the root. A path matches when one of the inserted
// paths is a component-wise prefix of it (/etc matches /etc and
// /etc/passwd, not /etcd). A component with glob characters (*, ?, [)
// matches components as fnmatch does (/home/*/.ssh).
type pathTrie struct {
	end      bool
	children map[string]*pathTrie
	globs    []globChild
}

type globChild struct {
	pattern string
	node    *pathTrie
}

func (t *pathTrie) insert(path string) {
	n := t
	for comp, rest, ok := nextComponent(path); ok; comp, rest, ok = nextComponent(rest) {
		n = n.child(comp)
	}
	n.end = true
}

func (t *pathTrie) child(comp string) *pathTrie {
	if strings.ContainsAny(comp, "*?[") {
		for _, g := range t.globs {
			if g.pattern == comp {
				return g.node
			}
		}
		c := &pathTrie{}
		t.globs = append(t.globs, globChild{comp, c})
		return c
	}
	if t.children == nil {
		t.children = map[string]*pathTrie{}
	}
	c := t.children[comp]
	if c == nil {
		c = &pathTrie{}
		t.children[comp] = c
	}
	return c
}

func (t *pathTrie) match(path string) bool {
	return t.end || t.matchRest(path)
}

// matchRest matches the remaining components of a path below t.
func (t *pathTrie) matchRest(rest string) bool {
	comp, rest, ok := nextComponent(rest)
	if !ok {
		return false // the path ended above every inserted path
	}
	if c := t.children[comp]; c != nil && (c.end || c.matchRest(rest)) {
		return true
	}
	for _, g := range t.globs {
		if globMatch(g.pattern, comp, false) && (g.node.end || g.node.matchRest(rest)) {
			return true
		}
	}
	return false
}

// nextComponent splits off the first non-empty '/'-separated component of
// path; ok is false when there is none left.
func nextComponent(path string) (comp, rest string, ok bool) {
	for path != "" {
		i := strings.IndexByte(path, '/')
		if i < 0 {
			return path, "", true
		}
		if i > 0 {
			return path[:i], path[i+1:], true
		}
		path = path[1:]
	}
	return "", "", false
}
