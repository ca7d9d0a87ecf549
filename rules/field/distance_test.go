package field

import "testing"

// The distance every "did you mean" of the project uses: Levenshtein's,
// with two neighbouring characters swapped counting as one edit.
func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"proc.name", "proc.name", 0},
		{"proc.nmae", "proc.name", 1}, // swapped neighbours
		{"debgu", "debug", 1},
		{"proc.nam", "proc.name", 1},
		{"proc.nxme", "proc.name", 1},
		{"chekcert", "checkcert", 1},
		{"abc", "cba", 2},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
	} {
		if got := EditDistance(c.a, c.b); got != c.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := EditDistance(c.b, c.a); got != c.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", c.b, c.a, got, c.want)
		}
	}
	if got := editDistance("kitten", "sitting", 2); got < 2 {
		t.Errorf("editDistance with max 2 = %d, want >= 2", got)
	}
}
