package field

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestCompatOutputFields resolves every %field that Falco's own rule files
// print in their outputs (conditions are covered by rules/filter's tests).
func TestCompatOutputFields(t *testing.T) {
	ref := regexp.MustCompile(`%([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z][a-zA-Z0-9_]*)+(?:\[[^\]\s]*\])?)`)
	files := map[string]func() *Source{
		"falco_rules.yaml":            Syscall,
		"falco-incubating_rules.yaml": Syscall,
		"falco-sandbox_rules.yaml":    Syscall,
		"k8s_audit_rules.yaml":        K8sAudit,
	}
	for name, src := range files {
		data, err := os.ReadFile(filepath.Join("../../../shared/compat/falco", name))
		if err != nil {
			t.Fatalf("compat files are part of the test fixtures: %v", err)
		}
		s := src()
		n := 0
		for _, m := range ref.FindAllSubmatch(data, -1) {
			n++
			if _, _, err := s.Ref(string(m[1])); err != nil {
				t.Errorf("%s: %%%s: %v", name, m[1], err)
			}
		}
		if n == 0 {
			t.Errorf("%s: no output fields found", name)
		}
	}
}
