package filter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// compatDir holds Falco's own rule files, unmodified.
const compatDir = "../../../shared/compat/falco"

type compatItem struct {
	List      string            `yaml:"list"`
	Macro     string            `yaml:"macro"`
	Rule      string            `yaml:"rule"`
	Items     []string          `yaml:"items"`
	Condition string            `yaml:"condition"`
	Source    string            `yaml:"source"`
	Append    bool              `yaml:"append"`
	Override  map[string]string `yaml:"override"`
}

// compatSet is a minimal walk of rule files: enough to gather lists,
// macros and rule conditions (with append/override) for the compiler.
type compatSet struct {
	lists  map[string][]string
	macros map[string]string
	rules  map[string]*compatItem
	order  []string
}

// tryLoadCompat loads every compat file, for fuzz seeds.
func tryLoadCompat() (cs *compatSet, ok bool) {
	defer func() {
		if recover() != nil {
			cs, ok = nil, false
		}
	}()
	return loadCompat(panicTB{}, "falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml", "k8s_audit_rules.yaml"), true
}

type panicTB struct{ testing.TB }

func (panicTB) Helper()                   {}
func (panicTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func loadCompat(t testing.TB, files ...string) *compatSet {
	t.Helper()
	cs := &compatSet{lists: map[string][]string{}, macros: map[string]string{}, rules: map[string]*compatItem{}}
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(compatDir, name))
		if err != nil {
			t.Fatalf("compat files are part of the test fixtures: %v", err)
		}
		var items []compatItem
		if err := yaml.Unmarshal(data, &items); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range items {
			it := &items[i]
			appendKey := func(key string) bool { return it.Append || it.Override[key] == "append" }
			switch {
			case it.List != "":
				if appendKey("items") {
					cs.lists[it.List] = append(cs.lists[it.List], it.Items...)
				} else {
					cs.lists[it.List] = it.Items
				}
			case it.Macro != "":
				if appendKey("condition") {
					cs.macros[it.Macro] += " " + it.Condition
				} else {
					cs.macros[it.Macro] = it.Condition
				}
			case it.Rule != "":
				old := cs.rules[it.Rule]
				if old != nil && (appendKey("condition") || it.Override["condition"] == "replace") {
					if it.Condition != "" {
						if appendKey("condition") {
							old.Condition += " " + it.Condition
						} else {
							old.Condition = it.Condition
						}
					}
					continue
				}
				if old == nil {
					cs.order = append(cs.order, it.Rule)
				}
				cs.rules[it.Rule] = it
			}
		}
	}
	return cs
}

// env parses the macros and expands lists in lists, as Falco does.
func (cs *compatSet) env(t testing.TB, src *field.Source) *Env {
	t.Helper()
	env := &Env{Source: src, Macros: map[string]Expr{}, Lists: map[string][]string{}}
	var expand func(name string, depth int) []string
	expand = func(name string, depth int) []string {
		var out []string
		for _, it := range cs.lists[name] {
			if _, isList := cs.lists[it]; isList && depth < 10 {
				out = append(out, expand(it, depth+1)...)
			} else {
				out = append(out, it)
			}
		}
		return out
	}
	for name := range cs.lists {
		env.Lists[name] = expand(name, 0)
	}
	for name, cond := range cs.macros {
		e, err := Parse(cond)
		if err != nil {
			t.Errorf("macro %s: %v\n%s", name, err, cond)
			continue
		}
		env.Macros[name] = e
	}
	return env
}

func TestCompileFalcoRuleFiles(t *testing.T) {
	sets := []struct {
		files []string
		src   func() *field.Source
		rules int
	}{
		{[]string{"falco_rules.yaml"}, field.Syscall, 25},
		{[]string{"falco_rules.yaml", "falco-incubating_rules.yaml"}, field.Syscall, 25 + 31},
		{[]string{"falco_rules.yaml", "falco-sandbox_rules.yaml"}, field.Syscall, 25 + 37},
		{[]string{"k8s_audit_rules.yaml"}, field.K8sAudit, 48},
	}
	for _, set := range sets {
		t.Run(strings.Join(set.files, "+"), func(t *testing.T) {
			cs := loadCompat(t, set.files...)
			src := set.src()
			env := cs.env(t, src)
			compiled := 0
			for _, name := range cs.order {
				r := cs.rules[name]
				e, err := Parse(r.Condition)
				if err != nil {
					t.Errorf("rule %q: %v", name, err)
					continue
				}
				f, err := Compile(e, env)
				if err != nil {
					t.Errorf("rule %q:\n%v", name, err)
					continue
				}
				if len(f.Fields()) == 0 {
					t.Errorf("rule %q: no fields recorded", name)
				}
				compiled++
			}
			if compiled != set.rules {
				t.Errorf("compiled %d rules, want %d", compiled, set.rules)
			}
			// Every macro compiles on its own too (some are used by no rule).
			for name, m := range env.Macros {
				if _, err := Compile(m, env); err != nil {
					t.Errorf("macro %q:\n%v", name, err)
				}
			}
		})
	}
}
