package filter

import "sort"

// evset is a set of event type ids: ids itself, or when compl is set every
// id except ids.
type evset struct {
	ids   map[int]struct{}
	compl bool
}

func allTypes() evset { return evset{compl: true} }

func (s evset) complement() evset { return evset{ids: s.ids, compl: !s.compl} }

func (s evset) sorted() []int {
	out := make([]int, 0, len(s.ids))
	for id := range s.ids {
		out = append(out, id)
	}
	sort.Ints(out)
	return out
}

// filterIDs returns the ids of a for which keep is true.
func filterIDs(a map[int]struct{}, keep func(int) bool) map[int]struct{} {
	out := map[int]struct{}{}
	for id := range a {
		if keep(id) {
			out[id] = struct{}{}
		}
	}
	return out
}

func (s evset) union(t evset) evset {
	switch {
	case !s.compl && !t.compl:
		out := filterIDs(s.ids, func(int) bool { return true })
		for id := range t.ids {
			out[id] = struct{}{}
		}
		return evset{ids: out}
	case s.compl && t.compl: // excluded from both
		return evset{ids: filterIDs(s.ids, func(id int) bool { _, in := t.ids[id]; return in }), compl: true}
	case s.compl: // all but s.ids, plus t.ids
		return evset{ids: filterIDs(s.ids, func(id int) bool { _, in := t.ids[id]; return !in }), compl: true}
	default:
		return t.union(s)
	}
}

func (s evset) intersect(t evset) evset {
	return s.complement().union(t.complement()).complement()
}
