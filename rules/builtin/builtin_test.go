package builtin

import (
	"testing"

	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// The default rules and the local file load with no error and no warning.
func TestDefaultRulesLoad(t *testing.T) {
	l := rules.NewLoader(field.Syscall())
	if err := l.Load(RulesName, Rules); err != nil {
		t.Fatal(err)
	}
	if err := l.Load(LocalName, Local); err != nil {
		t.Fatal(err)
	}
	if errs := l.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, w := range l.Warnings() {
		t.Errorf("warning: %s", w)
	}
}
