package rules

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/rules/field"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/errors")

// TestErrorGolden loads each broken rules file of testdata/errors and
// compares every error and warning with its .golden file. Run with
// -update to rewrite them after a deliberate change, and read the diff.
func TestErrorGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no error corpus: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			l := NewLoader(field.Syscall(), field.K8sAudit())
			l.LoadFile(f)
			_, err := l.Compile(Options{})
			var b strings.Builder
			var es Errors
			if errors.As(err, &es) {
				for _, e := range es {
					b.WriteString(e.Error() + "\n")
				}
			} else if err != nil {
				t.Fatalf("Compile returned %T, want Errors: %v", err, err)
			}
			for _, w := range l.Warnings() {
				b.WriteString("warning: " + w.String() + "\n")
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestErrorGolden -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("messages differ from %s\n--- got\n%s--- want\n%s", golden, b.String(), want)
			}
			if !strings.HasPrefix(filepath.Base(f), "warnings") && len(es) == 0 {
				t.Errorf("%s loads without errors; a file of this corpus must be broken", f)
			}
		})
	}
}
