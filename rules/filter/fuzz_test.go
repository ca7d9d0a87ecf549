package filter

import (
	"testing"
)

// FuzzParse checks that the parser never panics, that errors carry a
// position inside the input, and that a parsed condition printed by Format
// parses back to the same tree.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"proc.name = sh and not fd.name startswith /etc",
		`proc.aname[2] in (sh, "b c", 'd') or evt.arg.flags contains O_CREAT`,
		"tolower(basename(proc.exe)) pmatch (/usr/bin) and len(proc.args) > 0x10",
		"proc.pid != val(proc.ppid) and jevt.value[/user/username] exists",
		`fd.name = "a\"b\\c\n"`,
	} {
		f.Add(s)
	}
	if cs, ok := tryLoadCompat(); ok {
		for _, m := range cs.macros {
			f.Add(m)
		}
		for _, name := range cs.order {
			f.Add(cs.rules[name].Condition)
		}
	}
	f.Fuzz(func(t *testing.T, cond string) {
		e, err := Parse(cond)
		if err != nil {
			pe, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T, want *Error", err)
			}
			if pe.Pos.Offset < 0 || pe.Pos.Offset > len(cond) || pe.Pos.Line < 1 || pe.Pos.Col < 1 {
				t.Fatalf("error position %+v outside the input (%d bytes)", pe.Pos, len(cond))
			}
			return
		}
		text := Format(e)
		e2, err := Parse(text)
		if err != nil {
			t.Fatalf("Format output does not parse: %v\ninput:  %q\nformat: %q", err, cond, text)
		}
		if d1, d2 := dump(e), dump(e2); d1 != d2 {
			t.Fatalf("round trip changed the tree\ninput:  %q\nformat: %q\nbefore: %s\nafter:  %s", cond, text, d1, d2)
		}
	})
}

// FuzzCompile compiles and evaluates whatever parses, against the test
// source with a few macros and lists: no input may panic the compiler or
// the evaluator, and a compile failure must be a list of positioned errors.
func FuzzCompile(f *testing.F) {
	for _, c := range benchConds {
		f.Add(c.cond)
	}
	for _, s := range []string{
		"m1 and t.aname[1] in (l1, x) and tolower(t.name) glob 'b*'",
		"t.pid != val(t.ppid) or len(t.list) > 1 or b64(t.path) bcontains 00",
		"not (evt.type != openat or t.net in (10.0.0.0/8))",
		"cyc or t.buf bstartswith 7f",
	} {
		f.Add(s)
	}
	s := testSource(f)
	ev := sampleEvent(s)
	env := &Env{Source: s, Macros: map[string]Expr{}, Lists: map[string][]string{"l1": {"a", `"b c"`}, "l2": {"1", "2"}}}
	for name, m := range map[string]string{"m1": "t.pid > 1 and evt.type = openat", "cyc": "m1 and cyc"} {
		e, err := Parse(m)
		if err != nil {
			f.Fatal(err)
		}
		env.Macros[name] = e
	}
	f.Fuzz(func(t *testing.T, cond string) {
		e, err := Parse(cond)
		if err != nil {
			return
		}
		flt, err := Compile(e, env)
		if err != nil {
			es, ok := err.(Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("compile error %T %v, want non-empty Errors", err, err)
			}
			return
		}
		flt.Match(ev)
		flt.EventTypes()
	})
}
