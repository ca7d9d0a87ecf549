package field

import (
	"fmt"
	"strconv"
	"strings"
)

// Ref resolves a field reference as a condition or output names it:
// "fd.name", "proc.aname[2]", "evt.arg[0]", "evt.arg.flags",
// "jevt.value[/user/username]", "ka.uri.param[foo]". It checks the argument
// against the field's ArgMode and returns it parsed.
//
// The ".key" form is accepted for fields that take a key argument when the
// full dotted name is not itself a field (evt.arg.flags is evt.arg with key
// "flags", while ka.req.pod.containers.image is a field of its own).
func (s *Source) Ref(text string) (*Field, Arg, error) {
	name, argText, bracket := text, "", false
	if i := strings.IndexByte(text, '['); i >= 0 {
		if !strings.HasSuffix(text, "]") {
			return nil, Arg{}, fmt.Errorf("field %s: argument is missing its closing ]", text)
		}
		name, argText, bracket = text[:i], text[i+1:len(text)-1], true
	}
	f := s.fields[name]
	if f == nil && !bracket {
		// evt.arg.flags: the longest declared prefix that takes a key.
		for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
			if p := s.fields[name[:i]]; p != nil && (p.Arg == KeyArg || p.Arg == AnyArg) {
				if i+1 < len(name) {
					f, argText, bracket = p, name[i+1:], true
				}
				break
			}
		}
	}
	if f == nil {
		msg := "unknown field " + name
		if sug := s.Suggest(name); sug != "" {
			msg += " (did you mean " + sug + "?)"
		}
		return nil, Arg{}, fmt.Errorf("%s", msg)
	}
	if !bracket {
		if f.ArgReq {
			return nil, Arg{}, fmt.Errorf("field %s requires an argument (%s[...])", f.Name, f.Name)
		}
		return f, Arg{}, nil
	}
	a, err := parseArg(f, argText)
	if err != nil {
		return nil, Arg{}, err
	}
	return f, a, nil
}

func parseArg(f *Field, text string) (Arg, error) {
	switch f.Arg {
	case NoArg:
		return Arg{}, fmt.Errorf("field %s takes no argument, got [%s]", f.Name, text)
	case IndexArg:
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 {
			return Arg{}, fmt.Errorf("field %s needs a numeric index argument, got [%s]", f.Name, text)
		}
		return Arg{Set: true, Index: n}, nil
	case KeyArg:
		if text == "" {
			return Arg{}, fmt.Errorf("field %s needs a non-empty argument", f.Name)
		}
		return Arg{Set: true, Index: -1, Key: text}, nil
	default: // AnyArg
		if text == "" {
			return Arg{}, fmt.Errorf("field %s needs a non-empty argument", f.Name)
		}
		if n, err := strconv.Atoi(text); err == nil && n >= 0 {
			return Arg{Set: true, Index: n}, nil
		}
		return Arg{Set: true, Index: -1, Key: text}, nil
	}
}

// Suggest returns the declared field name closest to name by edit distance,
// or "" when nothing is close enough to be a plausible typo.
func (s *Source) Suggest(name string) string {
	best, bestD := "", len(name)/3+2
	for _, n := range s.Names() { // sorted, so ties go to the first name
		if d := editDistance(name, n, bestD); d < bestD {
			best, bestD = n, d
		}
	}
	if bestD > len(name)/3+1 {
		return ""
	}
	return best
}

// EditDistance is the optimal string alignment distance of a and b:
// Levenshtein's, with two neighbouring characters swapped counting as one
// edit (proc.nmae, proc.name), the commonest typo. The packages that
// suggest a name for a typo (fields, macros, rule tags, configuration keys
// of the detector and the sidekick) share it.
func EditDistance(a, b string) int { return editDistance(a, b, len(a)+len(b)+1) }

// editDistance is EditDistance, or a value >= max once it is known to
// reach max.
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	pprev := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		low := cur[0]
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				c = min(c, pprev[j-2]+1)
			}
			cur[j] = c
			low = min(low, c)
		}
		if low >= max {
			return max
		}
		pprev, prev, cur = prev, cur, pprev
	}
	return prev[len(b)]
}
