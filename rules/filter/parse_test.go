package filter

import (
	"fmt"
	"strings"
	"testing"
)

// dump renders an AST compactly for comparisons.
func dump(e Expr) string {
	switch e := e.(type) {
	case *And:
		return "and(" + dumpAll(e.Children) + ")"
	case *Or:
		return "or(" + dumpAll(e.Children) + ")"
	case *Not:
		return "not(" + dump(e.X) + ")"
	case *Ident:
		return "@" + e.Name
	case *Check:
		if e.Right == nil {
			return "[" + dump(e.Left) + " " + e.Op + "]"
		}
		return "[" + dump(e.Left) + " " + e.Op + " " + dump(e.Right) + "]"
	case *FieldRef:
		return e.Text()
	case *Transform:
		return e.Name + "(" + dump(e.X) + ")"
	case *Value:
		if e.Quoted {
			return fmt.Sprintf("%q", e.Text)
		}
		return e.Text
	case *List:
		var parts []string
		for _, v := range e.Items {
			parts = append(parts, dump(v))
		}
		return "(" + strings.Join(parts, ",") + ")"
	}
	return fmt.Sprintf("?%T", e)
}

func dumpAll(es []Expr) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, dump(e))
	}
	return strings.Join(parts, " ")
}

func TestParse(t *testing.T) {
	cases := []struct{ in, want string }{
		{"proc.name=sh", "[proc.name = sh]"},
		{"proc.name = sh and fd.num>=3 or not evt.failed=true",
			"or(and([proc.name = sh] [fd.num >= 3]) not([evt.failed = true]))"},
		{"a and b or c and d", "or(and(@a @b) and(@c @d))"},
		{"a and (b or c)", "and(@a or(@b @c))"},
		{"not not a", "@a"},
		{"not not not a", "not(@a)"},
		{"not(a)and(b)or(c)", "or(and(not(@a) @b) @c)"},
		{"proc.aname[2] in (sh, 'ba sh', \"zsh\")", `[proc.aname[2] in (sh,"ba sh","zsh")]`},
		{"proc.name in ()", "[proc.name in ()]"},
		{"proc.name in(a,b)", "[proc.name in (a,b)]"},
		{"proc.name in shell_binaries", "[proc.name in @shell_binaries]"},
		{"evt.arg.flags contains O_CREAT", "[evt.arg.flags contains O_CREAT]"},
		{"fd.name exists", "[fd.name exists]"},
		{"jevt.value[/user/username] = admin", "[jevt.value[/user/username] = admin]"},
		{"container.mount.dest[/var/run/docker.sock] != ''", `[container.mount.dest[/var/run/docker.sock] != ""]`},
		{`evt.arg["flags"] == x`, "[evt.arg[flags] == x]"},
		{"tolower(proc.name) = bash", "[tolower(proc.name) = bash]"},
		{"toupper(basename(proc.exe)) = BASH", "[toupper(basename(proc.exe)) = BASH]"},
		{"len(proc.args) > 10", "[len(proc.args) > 10]"},
		{"proc.pid != val(proc.ppid)", "[proc.pid != val(proc.ppid)]"},
		{"proc.name = toupper(proc.pname)", "[proc.name = toupper(proc.pname)]"},
		{"proc.pid > 0x10", "[proc.pid > 0x10]"},
		{"evt.rawres < -1", "[evt.rawres < -1]"},
		{"fd.name pmatch (/etc, /usr/bin)", "[fd.name pmatch (/etc,/usr/bin)]"},
		{"fd.name glob '/etc/*'", `[fd.name glob "/etc/*"]`},
		{"proc.cmdline regex 'a.*b'", `[proc.cmdline regex "a.*b"]`},
		{"fd.snet in (10.0.0.0/8, 192.168.0.0/16)", "[fd.snet in (10.0.0.0/8,192.168.0.0/16)]"},
		{`proc.name = "a\"b\\c\n"`, `[proc.name = "a\"b\\c\n"]`},
		{`proc.name = 'it\'s'`, `[proc.name = "it's"]`},
		{"(proc.name=a)\nand\n(fd.num=1)", "and([proc.name = a] [fd.num = 1])"},
		{"evt.type in (open,openat) and evt.dir=<", "and([evt.type in (open,openat)] [evt.dir = <])"},
		{"proc.name icontains Bash", "[proc.name icontains Bash]"},
		{"android", "@android"},
		{"notice", "@notice"},
	}
	for _, c := range cases {
		e, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := dump(e); got != c.want {
			t.Errorf("Parse(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "1:1: condition is empty"},
		{"   ", "1:4: condition is empty"},
		{"proc.name", "1:10: expected an operator"},
		{"proc.name = ", "1:13: expected a value, val(field) or a transformer, got the end of the condition"},
		{"proc.name = a b", "1:15: unexpected 'b', expecting 'and', 'or' or the end of the condition"},
		{"(proc.name = a", "1:15: expected ')', got the end of the condition"},
		{"proc.name in (a,", "1:17: expected a list item after ','"},
		{"proc.name in (a b)", "1:17: expected ',' or ')' in list, got 'b)'"},
		{"proc.pid > abc", "1:12: expected a number, val(field) or a transformer, got 'abc'"},
		{"a and\n  = b", "2:3: expected '(', a field check or a macro name, got '='"},
		{"proc.name = 'abc", "1:13: unterminated quoted string"},
		{`proc.name = "a\qb"`, `1:15: unsupported escape sequence \q in quoted string`},
		{`proc.name = 'a\"b'`, `1:15: invalid escape \" in a '-quoted string`},
		{"proc.aname[2 = x", "1:13: expected ']' closing the argument of proc.aname"},
		{"tolower(sh) = x", "1:9: expected a field or a transformer inside tolower(...)"},
		{"proc.name = val(x)", "1:17: expected a field inside val(...)"},
		{"proc.name contains", "1:19: expected a blank after 'contains'"},
		{"a andb", "1:3: unexpected 'andb'"},
		{strings.Repeat("(", 2000) + "a" + strings.Repeat(")", 2000), "condition is nested too deeply"},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", c.in, c.want)
			continue
		}
		if _, ok := err.(*Error); !ok {
			t.Errorf("Parse(%q) error is %T, want *Error", c.in, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error = %q, want it to contain %q", c.in, err, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a and b or not c", "a and b or not (c)"},
		{"(a or b) and c", "(a or b) and c"},
		{"(a and b) and c", "(a and b) and c"},
		{"proc.name in (sh, 'b c', \"\") and fd.name exists", `proc.name in (sh, "b c", "") and fd.name exists`},
		{`proc.aname[2]=x and jevt.value["/a b"] = 'q"t'`, `proc.aname[2] = x and jevt.value["/a b"] = "q\"t"`},
		{"tolower(proc.name) = val(proc.pname)", "tolower(proc.name) = val(proc.pname)"},
		{"proc.name in shells", "proc.name in shells"},
		{`fd.name = "a\\b\n"`, `fd.name = "a\\b\n"`},
	}
	for _, c := range cases {
		e, err := Parse(c.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if got := Format(e); got != c.want {
			t.Errorf("Format(Parse(%q)) = %s, want %s", c.in, got, c.want)
		}
	}
}
