package rules

import (
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// The expected conditions follow Falco's exceptions documentation: each
// exception adds "and not (...)" to the condition; a list of fields pairs
// each field with its comp (default =) and each values entry is a tuple
// or'ed with the others; a single field compares with comps (default in)
// against all values at once.
func TestExceptionConditions(t *testing.T) {
	cases := []struct {
		name, yaml, want, wantErr string
	}{
		{"fields list, default comps", `
    - name: proc_writer
      fields: [proc.name, fd.directory]
      values:
        - [my-custom-yum, /usr/bin]
        - [my-custom-apt, /usr/local/bin]`,
			" and not ((proc.name = my-custom-yum and fd.directory = /usr/bin) or (proc.name = my-custom-apt and fd.directory = /usr/local/bin))", ""},
		{"fields list, explicit comps with in and a list value", `
    - name: cmdline_writer
      fields: [proc.cmdline, fd.directory]
      comps: [startswith, in]
      values:
        - [my-custom-yum -x, [/usr/bin, /usr/local/bin]]`,
			` and not ((proc.cmdline startswith "my-custom-yum -x" and fd.directory in (/usr/bin, /usr/local/bin)))`, ""},
		{"list operator with a list name", `
    - name: known
      fields: [proc.name, fd.name]
      comps: [in, pmatch]
      values:
        - [known_binaries, known_dirs]`,
			" and not ((proc.name in (known_binaries) and fd.name pmatch (known_dirs)))", ""},
		{"single field, default in", `
    - name: proc_names
      fields: proc.name
      values: [apt, "my tool", known_binaries]`,
			` and not (proc.name in (apt, "my tool", known_binaries))`, ""},
		{"single field, pmatch", `
    - name: dirs
      fields: fd.name
      comps: pmatch
      values: [/usr/bin, /opt]`,
			" and not (fd.name pmatch (/usr/bin, /opt))", ""},
		{"no values: no condition", `
    - name: empty
      fields: [proc.name, fd.name]`, "", ""},
		{"single field with = is refused", `
    - name: bad
      fields: proc.name
      comps: "="
      values: [a]`, "", "comps must be one of in, pmatch, intersects"},
		{"length mismatch", `
    - name: bad
      fields: [proc.name, fd.name]
      comps: [=]
      values: [[a, b]]`, "", "fields and comps must have the same length"},
		{"tuple too short", `
    - name: bad
      fields: [proc.name, fd.name]
      values: [[a]]`, "", "values entry 1 has 1 values but there are 2 fields"},
		{"unknown field", `
    - name: bad
      fields: [proc.nme]
      values: [[a]]`, "", "unknown field proc.nme (did you mean proc.name?)"},
		{"unknown operator", `
    - name: bad
      fields: [proc.name]
      comps: [startwith]
      values: [[a]]`, "", `"startwith" is not a comparison operator (did you mean startswith?)`},
	}
	src := field.Syscall()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := load(t, "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: debug\n  exceptions:"+c.yaml+"\n")
			if len(l.errs) > 0 {
				t.Fatal(l.errs)
			}
			ex := l.rules[0].exceptions[0]
			errs := checkException(ex, src, "rule r")
			if c.wantErr != "" {
				if len(errs) == 0 || !strings.Contains(errs[0].Error(), c.wantErr) {
					t.Fatalf("errors %v, want %q", errs, c.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := exceptionCondition(ex).s; got != c.want {
				t.Fatalf("condition\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// Appending exceptions: values for an existing name are added to it, a new
// name adds a whole exception (Falco's "Appending Exception Values").
func TestAppendExceptions(t *testing.T) {
	base := `
- rule: Write below binary dir
  desc: d
  condition: evt.type=open
  output: o
  priority: error
  exceptions:
    - name: proc_writer
      fields: [proc.name, fd.directory]
      values:
        - [apt, /usr/bin]
`
	for _, form := range []string{
		"- rule: Write below binary dir\n  exceptions:\n    - name: proc_writer\n      values:\n        - [my-yum, /usr/local/bin]\n    - name: new_one\n      fields: proc.name\n      values: [x]\n  append: true\n",
		"- rule: Write below binary dir\n  exceptions:\n    - name: proc_writer\n      values:\n        - [my-yum, /usr/local/bin]\n    - name: new_one\n      fields: proc.name\n      values: [x]\n  override:\n    exceptions: append\n",
	} {
		l := mustLoad(t, base, form)
		exs := l.rules[0].exceptions
		if len(exs) != 2 || len(exs[0].values) != 2 || exs[0].values[1].items[0].item != "my-yum" || exs[1].name != "new_one" {
			t.Fatalf("exceptions after append: %+v", exs)
		}
	}
	l := mustLoad(t, base, "- rule: Write below binary dir\n  exceptions:\n    - name: other\n      fields: proc.name\n      values: [x]\n  override:\n    exceptions: replace\n")
	if exs := l.rules[0].exceptions; len(exs) != 1 || exs[0].name != "other" {
		t.Fatalf("exceptions after replace: %+v", exs)
	}
	wantError(t, load(t, base, "- rule: Write below binary dir\n  exceptions:\n    - name: proc_writer\n      fields: [proc.name]\n      values: [[x]]\n  append: true\n"),
		`exception "proc_writer" already exists: an append may only add values, not fields or comps`)
	wantError(t, load(t, base, "- rule: Write below binary dir\n  exceptions:\n    - name: brand_new\n      values: [[x]]\n  append: true\n"),
		`exception "brand_new" is new, so it needs fields`)
}

func TestScalarOrigin(t *testing.T) {
	cases := []struct {
		name, yaml string
		off        int
		line, col  int
	}{
		{"plain", "- macro: m\n  condition: evt.type = open and proc.nme = x\n", strings.Index("evt.type = open and proc.nme = x", "proc.nme"), 2, 34},
		{"double quoted", "- macro: m\n  condition: \"evt.type = open and proc.nme = x\"\n", 20, 2, 35},
		{"folded", "- macro: m\n  condition: >\n    evt.type = open\n    and proc.nme = x\n", strings.Index("evt.type = open and proc.nme = x\n", "proc.nme"), 4, 9},
		{"literal", "- macro: m\n  condition: |\n    evt.type = open\n      and proc.nme = x\n", strings.Index("evt.type = open\n  and proc.nme = x\n", "proc.nme"), 4, 11},
		{"plain multi-line", "- macro: m\n  condition: evt.type = open\n    and proc.nme = x\n", strings.Index("evt.type = open and proc.nme = x", "proc.nme"), 3, 9},
		{"folded first line", "- macro: m\n  condition: >-\n    (evt.type = open)\n", 1, 3, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := mustLoad(t, c.yaml)
			m := l.macroBy["m"]
			file, line, col := m.cond.at(c.off)
			if file != "f1.yaml" || line != c.line || col != c.col {
				t.Fatalf("value %q offset %d at %s:%d:%d, want line %d col %d", m.cond.s, c.off, file, line, col, c.line, c.col)
			}
		})
	}
}
