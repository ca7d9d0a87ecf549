package rules

import (
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A condition as the filter sees it is assembled from several places: the
// rule's condition, conditions appended by later items (maybe in other
// files), and the exceptions. text keeps, for every piece, where it came
// from, so that an error at an offset in the assembled string can be
// reported at the file, line and column the rule writer typed.
type text struct {
	s      string
	pieces []piece
}

type piece struct {
	start  int // offset in text.s
	origin origin
}

// origin maps offsets within one YAML scalar back to the source.
type origin struct {
	file  string
	segs  []seg // sorted by off; at least one
	fixed bool  // every offset maps to segs[0]: text written by the loader
}

// seg says that the scalar's value from offset off on starts at line/col.
type seg struct{ off, line, col int }

func (t *text) add(s string, o origin) {
	t.pieces = append(t.pieces, piece{start: len(t.s), origin: o})
	t.s += s
}

// at returns the source position of an offset in the assembled text.
func (t *text) at(off int) (file string, line, col int) {
	if len(t.pieces) == 0 {
		return "", 0, 0
	}
	i := sort.Search(len(t.pieces), func(i int) bool { return t.pieces[i].start > off }) - 1
	if i < 0 {
		i = 0
	}
	p := t.pieces[i]
	line, col = p.origin.at(off - p.start)
	return p.origin.file, line, col
}

func (o origin) at(off int) (line, col int) {
	if len(o.segs) == 0 {
		return 0, 0
	}
	if o.fixed {
		return o.segs[0].line, o.segs[0].col
	}
	i := sort.Search(len(o.segs), func(i int) bool { return o.segs[i].off > off }) - 1
	if i < 0 {
		i = 0
	}
	s := o.segs[i]
	return s.line, s.col + max(off-s.off, 0)
}

// fixedOrigin is an origin that maps every offset to one place.
func fixedOrigin(file string, line, col int) origin {
	return origin{file: file, segs: []seg{{0, line, col}}, fixed: true}
}

// scalarOrigin works out where each source line of a scalar lands in its
// value. yaml.v3 gives only the position of the scalar's start; the value
// of a block (| or >) or multi-line plain or quoted scalar spans several
// lines, joined by newlines or spaces. Each source line's text is found in
// the value in order; a line that cannot be found (escapes, odd folding)
// ends the mapping and later offsets are counted from the last found line,
// which is still the right line in nearly every case.
func scalarOrigin(file string, lines []string, n *yaml.Node) origin {
	o := origin{file: file}
	value := n.Value
	first := n.Line - 1 // 0-based index of the scalar's first line
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		indent := -1
		cursor := 0
		for i := first + 1; i < len(lines); i++ {
			ln := strings.TrimRight(lines[i], " \t\r")
			if strings.TrimSpace(ln) == "" {
				continue
			}
			ind := len(ln) - len(strings.TrimLeft(ln, " "))
			if indent < 0 {
				indent = ind
			}
			if ind < indent {
				break
			}
			body := ln[indent:]
			k := strings.Index(value[cursor:], body)
			if k < 0 {
				break
			}
			o.segs = append(o.segs, seg{cursor + k, i + 1, indent + 1})
			cursor += k + len(body)
		}
	default:
		col := n.Column
		if n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle {
			col++
		}
		o.segs = append(o.segs, seg{0, n.Line, col})
		if !strings.Contains(value, "\n") && first >= 0 && first < len(lines) &&
			len(lines[first]) >= col-1+len(value) && lines[first][col-1:col-1+len(value)] == value {
			break // one line, typed as is
		}
		// Multi-line plain or quoted: lines after the first are folded
		// into single spaces.
		if first < 0 || first >= len(lines) || col-1 > len(lines[first]) {
			break
		}
		head := strings.TrimRight(lines[first][col-1:], " \t\r\"'")
		cursor := len(head)
		if !strings.HasPrefix(value, head) {
			break
		}
		for i := first + 1; i < len(lines) && cursor < len(value); i++ {
			ln := strings.TrimRight(lines[i], " \t\r")
			body := strings.TrimLeft(ln, " \t")
			body = strings.TrimRight(body, "\"'")
			if body == "" {
				continue
			}
			k := strings.Index(value[cursor:], body)
			if k < 0 {
				break
			}
			o.segs = append(o.segs, seg{cursor + k, i + 1, len(ln) - len(strings.TrimLeft(ln, " \t")) + 1})
			cursor += k + len(body)
		}
	}
	if len(o.segs) == 0 {
		o.segs = []seg{{0, n.Line, n.Column}}
	}
	return o
}

// shiftOrigin returns o for the value with its first n bytes cut off.
func shiftOrigin(o origin, n int) origin {
	out := origin{file: o.file}
	for i, sg := range o.segs {
		end := int(^uint(0) >> 1)
		if i+1 < len(o.segs) {
			end = o.segs[i+1].off
		}
		switch {
		case end <= n:
			continue
		case sg.off >= n:
			out.segs = append(out.segs, seg{sg.off - n, sg.line, sg.col})
		default:
			out.segs = append(out.segs, seg{0, sg.line, sg.col + n - sg.off})
		}
	}
	if len(out.segs) == 0 {
		out.segs = o.segs
	}
	return out
}
