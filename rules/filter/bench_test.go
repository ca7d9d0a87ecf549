package filter

import (
	"testing"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// benchConds are typical shapes of Falco conditions, over the test source.
var benchConds = []struct {
	name, cond string
}{
	{"evttype_miss", "evt.type in (execve, connect) and t.name in (shells) and not t.flag = true"},
	{"open_sensitive", "evt.type in (openat) and t.path pmatch (/etc/shadow, /etc/sudoers, /root/.ssh) and not t.name in (shells) and t.uid != 0"},
	{"open_match", "evt.type = openat and t.path startswith /etc/ssh and t.name in (shells) and t.pid > 1"},
	{"string_ops", "t.path icontains SHADOW or t.path glob '/root/*' or t.path regex '/proc/[0-9]+/mem' or t.path endswith .pem"},
	{"transformers", "tolower(t.name) in (sh, zsh) or toupper(basename(t.path)) = X"},
	{"network", "t.net in (192.168.0.0/16, 172.16.0.0/12) or t.port in (4444, 31337)"},
	{"list_field", "t.list intersects (x, y) or len(t.list) > 5"},
}

func BenchmarkMatch(b *testing.B) {
	s := testSource(b)
	ev := sampleEvent(s)
	lists := map[string][]string{"shells": {"sh", "Bash", "zsh", "dash", "ksh", "csh", "tcsh", "fish"}}
	for _, c := range benchConds {
		f, err := compileTest(b, s, c.cond, nil, lists)
		if err != nil {
			b.Fatalf("%s: %v", c.cond, err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.Match(ev)
			}
		})
	}
}

// BenchmarkCompileFalcoRules compiles every rule of Falco's stable rules.
func BenchmarkCompileFalcoRules(b *testing.B) {
	cs := loadCompat(b, "falco_rules.yaml")
	b.ReportAllocs()
	for b.Loop() {
		env := cs.env(b, field.Syscall())
		for _, name := range cs.order {
			e, err := Parse(cs.rules[name].Condition)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Compile(e, env); err != nil {
				b.Fatal(err)
			}
		}
	}
}
