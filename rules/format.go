package rules

import (
	"strconv"
	"strings"
	"time"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// format is a rule's output, compiled at load time: literal text and field
// references resolved against the rule's source.
type format struct {
	parts         []fmtPart
	fields        []fmtPart // the distinct fields, in order of first use
	containerInfo bool      // the deprecated %container.info was expanded
}

type fmtPart struct {
	lit  string
	name string // the reference as written ("proc.aname[2]"), the output_fields key
	f    *field.Field
	arg  field.Arg
}

// fmtError is a problem in an output string, at an offset in it.
type fmtError struct {
	off int
	msg string
}

func isFieldChar(c byte) bool {
	return c == '.' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// compileFormat parses Falco's output syntax: %field, %field[arg],
// %field.key and %(field) (parenthesised, so text may follow without a
// space). A % not followed by a field name is literal text.
func compileFormat(s string, src *field.Source) (*format, []fmtError) {
	f := &format{}
	var errs []fmtError
	seen := map[string]bool{}
	type shift struct{ at, end, by int }
	var shifts []shift
	original := func(off int) int {
		for k := len(shifts) - 1; k >= 0; k-- {
			switch sh := shifts[k]; {
			case off >= sh.end:
				off -= sh.by
			case off >= sh.at:
				off = sh.at
			}
		}
		return off
	}
	lit := strings.Builder{}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' || i+1 >= len(s) {
			lit.WriteByte(c)
			i++
			continue
		}
		start := i
		j := i + 1
		var ref string
		if s[j] == '(' {
			end := strings.IndexByte(s[j:], ')')
			if end < 0 {
				errs = append(errs, fmtError{start, "%( has no closing )"})
				lit.WriteString(s[i:])
				break
			}
			ref = strings.TrimSpace(s[j+1 : j+end])
			j += end + 1
		} else {
			k := j
			for k < len(s) && isFieldChar(s[k]) {
				k++
			}
			// A sentence may end right after a field: "file=%fd.name."
			for k > j && s[k-1] == '.' {
				k--
			}
			if k < len(s) && s[k] == '[' {
				if end := strings.IndexByte(s[k:], ']'); end >= 0 {
					k += end + 1
				}
			}
			ref = s[j:k]
			j = k
		}
		if ref == "" {
			lit.WriteByte(c)
			i++
			continue
		}
		if ref == "container.info" && src.Lookup(ref) == nil && src.Lookup("container.name") != nil && src.Lookup("container.id") != nil {
			// Deprecated: Falco replaces it with the container's name and id.
			const repl = "%container.name (id=%container.id)"
			f.containerInfo = true
			s = s[:start] + repl + s[j:]
			// Offsets after it move; keep errors pointing into the original.
			shifts = append(shifts, shift{start, start + len(repl), len(repl) - (j - start)})
			continue
		}
		fl, arg, err := src.Ref(ref)
		if err != nil {
			errs = append(errs, fmtError{original(start), err.Error()})
		}
		if lit.Len() > 0 {
			f.parts = append(f.parts, fmtPart{lit: lit.String()})
			lit.Reset()
		}
		p := fmtPart{name: ref, f: fl, arg: arg}
		f.parts = append(f.parts, p)
		if !seen[ref] {
			seen[ref] = true
			f.fields = append(f.fields, p)
		}
		i = j
	}
	if lit.Len() > 0 {
		f.parts = append(f.parts, fmtPart{lit: lit.String()})
	}
	return f, errs
}

// appendText writes the output with every field substituted, <NA> for
// missing values.
func (f *format) appendText(dst []byte, ev field.Event, t time.Time) []byte {
	for _, p := range f.parts {
		switch {
		case p.f == nil:
			dst = append(dst, p.lit...)
		case p.f.Name == "evt.time" && !p.f.Bound():
			dst = appendFalcoTime(dst, t)
		default:
			var ok bool
			if dst, ok = p.f.AppendValue(dst, ev, p.arg); !ok {
				dst = append(dst, "<NA>"...)
			}
		}
	}
	return dst
}

// appendFalcoTime writes a time as Falco's %evt.time does: local time of
// day with nanoseconds, 16:31:56.746609046.
func appendFalcoTime(dst []byte, t time.Time) []byte {
	t = t.Local()
	dst = t.AppendFormat(dst, "15:04:05.")
	ns := strconv.AppendInt(nil, int64(t.Nanosecond()), 10)
	for i := len(ns); i < 9; i++ {
		dst = append(dst, '0')
	}
	return append(dst, ns...)
}

// eventTime is when an event happened, from the source's raw time field,
// or now when the source has none bound.
func eventTime(timeField *field.Field, ev field.Event) time.Time {
	if timeField != nil && timeField.Extract.Int != nil {
		if ns, ok := timeField.Extract.Int(ev, field.Arg{}); ok {
			return time.Unix(0, ns)
		}
	}
	return time.Now()
}
