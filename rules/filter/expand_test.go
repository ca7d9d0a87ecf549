package filter

import "testing"

func TestExpanded(t *testing.T) {
	s := testSource(t)
	macros := map[string]string{
		"named":  "t.name in (shells, zsh)",
		"nested": "named and not t.path pmatch (dirs)",
	}
	lists := map[string][]string{"shells": {"bash", `"sh"`}, "dirs": {"/etc", "/usr/bin"}}
	f, err := compileTest(t, s, "evt.type = open and (nested or t.name intersects shells)", macros, lists)
	if err != nil {
		t.Fatal(err)
	}
	got := Format(f.Expanded())
	want := "evt.type = open and (t.name in (bash, sh, zsh) and not (t.path pmatch (/etc, /usr/bin)) or t.name intersects (bash, sh))"
	if got != want {
		t.Errorf("Expanded:\n got %s\nwant %s", got, want)
	}
	// The filter still evaluates the original; expanding twice gives the same.
	if again := Format(f.Expanded()); again != got {
		t.Errorf("second Expanded differs: %s", again)
	}
}
