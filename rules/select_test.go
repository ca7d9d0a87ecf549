package rules

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// The rules: list of falco.yaml decodes straight into []Selection.
func TestSelectionYAML(t *testing.T) {
	var sel []Selection
	err := yaml.Unmarshal([]byte(`
- disable:
    rule: "*"
- enable:
    tag: network
- enable:
    rule: Directory traversal monitored file read
`), &sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel) != 3 || sel[0].Disable.Rule != "*" || sel[1].Enable.Tag != "network" || sel[2].Enable.Rule != "Directory traversal monitored file read" {
		t.Fatalf("decoded %+v", sel)
	}
	for i, s := range sel {
		if err := s.validate(i); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWildcard(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "anything", true}, {"Read*", "Read sensitive file", true}, {"*file", "Read sensitive file", true},
		{"*sensitive*", "Read sensitive file", true}, {"Read*untrusted", "Read sensitive file", false},
		{"a*b*c", "abc", true}, {"a*b*c", "acb", false}, {"ab*ba", "aba", false}, {"exact", "exact", true}, {"exact", "exactly", false},
	} {
		if got := wildcard(c.p, c.s); got != c.want {
			t.Errorf("wildcard(%q, %q) = %v", c.p, c.s, got)
		}
	}
}
