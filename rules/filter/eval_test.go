package filter

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// tev is the test source's event.
type tev struct {
	typ   int
	name  string
	path  string
	pid   int64
	uid   uint64
	port  uint64
	flag  bool
	ip    netip.Addr
	buf   []byte
	list  []string
	empty []string
	anc   []string
}

func (e *tev) EventType() int { return e.typ }

// testSource declares and binds a small source covering every type.
func testSource(t testing.TB) *field.Source {
	s := field.NewSource("test")
	s.Declare(
		field.Field{Name: "evt.type", Type: field.String},
		field.Field{Name: "t.name", Type: field.String},
		field.Field{Name: "t.path", Type: field.String},
		field.Field{Name: "t.pid", Type: field.Int64},
		field.Field{Name: "t.ppid", Type: field.Int64},
		field.Field{Name: "t.uid", Type: field.Uint64},
		field.Field{Name: "t.port", Type: field.Port},
		field.Field{Name: "t.flag", Type: field.Bool},
		field.Field{Name: "t.ip", Type: field.IPAddr},
		field.Field{Name: "t.net", Type: field.IPNet},
		field.Field{Name: "t.buf", Type: field.Bytes},
		field.Field{Name: "t.list", Type: field.String, List: true},
		field.Field{Name: "t.empty", Type: field.String, List: true},
		field.Field{Name: "t.missing", Type: field.String},
		field.Field{Name: "t.missingnum", Type: field.Int64},
		field.Field{Name: "t.unbound", Type: field.String},
		field.Field{Name: "t.aname", Type: field.String, Arg: field.IndexArg},
		field.Field{Name: "t.aonly", Type: field.String, Arg: field.IndexArg},
		field.Field{Name: "t.arg", Type: field.String, Arg: field.AnyArg, ArgReq: true},
	)
	ev := func(e field.Event) *tev { return e.(*tev) }
	str := func(f func(*tev) string) field.Extractor {
		return field.Extractor{String: func(e field.Event, _ field.Arg) (string, bool) { return f(ev(e)), true }}
	}
	binds := map[string]field.Extractor{
		"evt.type": {String: func(e field.Event, _ field.Arg) (string, bool) { return s.EventTypeName(ev(e).typ), true }},
		"t.name":   str(func(e *tev) string { return e.name }),
		"t.path":   str(func(e *tev) string { return e.path }),
		"t.pid":    {Int: func(e field.Event, _ field.Arg) (int64, bool) { return ev(e).pid, true }},
		"t.ppid":   {Int: func(e field.Event, _ field.Arg) (int64, bool) { return 1, true }},
		"t.uid":    {Uint: func(e field.Event, _ field.Arg) (uint64, bool) { return ev(e).uid, true }},
		"t.port":   {Uint: func(e field.Event, _ field.Arg) (uint64, bool) { return ev(e).port, true }},
		"t.flag":   {Bool: func(e field.Event, _ field.Arg) (bool, bool) { return ev(e).flag, true }},
		"t.ip":     {IP: func(e field.Event, _ field.Arg) (netip.Addr, int, bool) { return ev(e).ip, -1, true }},
		"t.net":    {IP: func(e field.Event, _ field.Arg) (netip.Addr, int, bool) { return ev(e).ip, -1, true }},
		"t.buf":    {Bytes: func(e field.Event, _ field.Arg) ([]byte, bool) { return ev(e).buf, true }},
		"t.list": {Strings: func(e field.Event, _ field.Arg, dst []string) ([]string, bool) {
			return append(dst, ev(e).list...), true
		}},
		"t.empty": {Strings: func(e field.Event, _ field.Arg, dst []string) ([]string, bool) {
			return append(dst, ev(e).empty...), true
		}},
		"t.missing":    {String: func(field.Event, field.Arg) (string, bool) { return "", false }},
		"t.missingnum": {Int: func(field.Event, field.Arg) (int64, bool) { return 0, false }},
		"t.aname": {String: func(e field.Event, a field.Arg) (string, bool) {
			i := 0
			if a.Set {
				i = a.Index
			}
			if i >= len(ev(e).anc) {
				return "", false
			}
			return ev(e).anc[i], true
		}, Strings: func(e field.Event, a field.Arg, dst []string) ([]string, bool) {
			// Without an index: every ancestor, as proc.aname.
			dst = append(dst, ev(e).anc...)
			return dst, len(dst) > 0
		}},
		"t.aonly": {String: func(e field.Event, a field.Arg) (string, bool) {
			if !a.Set {
				return ev(e).anc[0], true
			}
			return "x", true
		}},
		"t.arg": {String: func(e field.Event, a field.Arg) (string, bool) {
			if a.Key != "" {
				return "key:" + a.Key, true
			}
			return "index", a.Index == 0
		}},
	}
	for name, x := range binds {
		if err := s.Bind(name, x); err != nil {
			t.Fatal(err)
		}
	}
	s.EventType("openat")
	s.EventType("execve")
	s.EventType("connect")
	return s
}

func sampleEvent(s *field.Source) *tev {
	return &tev{
		typ:  s.EventType("openat"),
		name: "Bash",
		path: "/etc/ssh/sshd_config",
		pid:  42,
		uid:  1000,
		port: 22,
		flag: true,
		ip:   netip.MustParseAddr("10.1.2.3"),
		buf:  []byte("\x7fELF\x02\x01"),
		list: []string{"nginx:1.25", "redis"},
		anc:  []string{"bash", "sshd", "systemd"},
	}
}

func compileTest(t testing.TB, s *field.Source, cond string, macros map[string]string, lists map[string][]string) (*Filter, error) {
	t.Helper()
	env := &Env{Source: s, Macros: map[string]Expr{}, Lists: lists}
	for name, m := range macros {
		e, err := Parse(m)
		if err != nil {
			t.Fatalf("macro %s: %v", name, err)
		}
		env.Macros[name] = e
	}
	e, err := Parse(cond)
	if err != nil {
		return nil, err
	}
	return Compile(e, env)
}

func TestMatch(t *testing.T) {
	s := testSource(t)
	ev := sampleEvent(s)
	macros := map[string]string{
		"is_bash":  "t.name = Bash",
		"is_root":  "t.uid = 0",
		"nested":   "is_bash and not is_root",
		"open_evt": "evt.type in (open, openat)",
	}
	lists := map[string][]string{
		"shells":   {"sh", "Bash", "zsh"},
		"nets":     {`"10.0.0.0/8"`, "192.168.0.0/16"},
		"dirs":     {"/etc", "/usr/bin"},
		"with_sp":  {`"a b"`, "c"},
		"portlist": {"22", "2222"},
	}
	cases := []struct {
		cond string
		want bool
	}{
		// equality and ordering on each type
		{"t.name = Bash", true}, {"t.name == Bash", true}, {"t.name = bash", false},
		{"t.name != bash", true}, {"t.name != Bash", false},
		{"t.name > 1", true}, {"t.name < 1", false}, {"t.name >= val(t.name)", true}, {"t.name <= val(t.aname)", true},
		{"t.pid = 42", true}, {"t.pid != 42", false}, {"t.pid > 41", true}, {"t.pid >= 43", false},
		{"t.pid < 100", true}, {"t.pid <= 42", true}, {"t.pid > -1", true}, {"t.pid = 0x2a", true},
		{"t.uid = 1000", true}, {"t.uid > 999", true}, {"t.uid < 1000", false},
		{"t.port = 22", true}, {"t.port != 22", false}, {"t.port in (22, 2222)", true}, {"t.port in (portlist)", true},
		{"t.flag = true", true}, {"t.flag = false", false}, {"t.flag != false", true},
		{"t.flag in (true)", true}, {"t.flag in (false)", false},
		// strings
		{"t.path contains ssh", true}, {"t.path contains SSH", false},
		{"t.path icontains SSH", true}, {"t.name icontains ASH", true}, {"t.name icontains x", false},
		{"t.path startswith /etc/", true}, {"t.path startswith /usr", false},
		{"t.path endswith _config", true}, {"t.path endswith .conf", false},
		{"t.path glob '/etc/*'", true}, // fnmatch without FNM_PATHNAME: * crosses '/'
		{"t.path glob '/etc/ssh/sshd_confi?'", true}, {"t.path glob '/etc/ssh/[rs]shd_config'", true},
		{"t.path glob '/etc/ssh/[!s]shd_config'", false}, {"t.path glob '/ETC/*'", false},
		{"t.path iglob '/ETC/*'", true}, {`t.path glob '/etc/*\\'`, false}, // glibc: a trailing backslash never matches
		{`t.path glob '\\/etc/ssh/sshd_config'`, true},
		{"t.path glob '/etc/[[:alpha:]]sh/*'", true}, {"t.name glob '[[:upper:]]ash'", true},
		{"t.name iglob '[[:lower:]]ash'", false}, // glibc does not fold classes
		{"t.name glob '[[:nope:]]ash'", false}, {"t.name glob '[A-[:alpha:]]ash'", false}, {"t.name glob 'B*h'", true}, {"t.name glob 'b*'", false},
		{"t.path regex '/etc/.*'", true}, {"t.path regex 'etc'", false}, // anchored at both ends
		{"t.path regex '.*ssh.*'", true},
		{"t.name in (sh, Bash)", true}, {"t.name in (sh, bash)", false}, {"t.name in ()", false},
		{"t.name in shells", true}, {"t.name in (zsh, shells)", true}, {"t.name intersects (Bash)", true},
		{`t.name in ("shells")`, false}, // a quoted item is a value, not a list name
		{"t.name in (with_sp)", false}, {"t.name pmatch (dirs)", false},
		{"t.path pmatch (/etc)", true}, {"t.path pmatch (/etc/ssh)", true}, {"t.path pmatch (/et)", false},
		{"t.path pmatch (/usr, /etc/ssh/sshd_config)", true}, {"t.path pmatch (/etc/ssh/sshd_config/x)", false},
		{"t.path pmatch dirs", true}, {"t.path pmatch (/etc/*/sshd_config)", true}, {"t.path pmatch (/etc/s*)", true},
		{"t.path pmatch (/etc/x*)", false}, {"t.path pmatch (/etc/ssh/sshd_config, /usr)", true}, {"t.path pmatch (/)", true},
		{"t.path pmatch (/etc/ssh/sshd_config/)", true}, {"t.path pmatch (/*/ssh/x, /etc/*/sshd_*)", true},
		// IP addresses and networks
		{"t.ip = 10.1.2.3", true}, {"t.ip != 10.1.2.3", false}, {"t.ip = 10.1.2.4", false},
		{"t.ip in (10.1.2.3, 10.1.2.4)", true}, {"t.net = 10.0.0.0/8", true}, {"t.net != 10.0.0.0/8", false},
		{"t.net in (nets)", true}, {"t.net in (192.168.0.0/16)", false}, {"t.ip = ::ffff:10.1.2.3", true},
		{"t.ip in (10.1.0.0/16)", true},
		// byte buffers
		{"t.buf bstartswith 7f454c46", true}, {"t.buf bcontains 454C46", true}, {"t.buf bcontains 0000", false},
		{"t.buf startswith '\x7fELF'", true}, {"t.buf contains ELF", true}, {"t.buf endswith ELF", false},
		// lists: in means every element in the set, intersects some element
		{"t.list intersects (redis, x)", true}, {"t.list intersects (x)", false},
		{"t.list in (redis, 'nginx:1.25', other)", true}, {"t.list in (redis)", false},
		{"t.list exists", true}, {"t.empty in (a)", true}, {"t.empty intersects (a)", false},
		// missing values make every comparison false, including != and exists
		{"t.missing = x", false}, {"t.missing != x", false}, {"t.missing exists", false},
		{"not t.missing = x", true}, {"t.missingnum != 1", false}, {"t.missing in (x)", false},
		{"t.unbound exists", false}, {"t.unbound != x", false}, {"t.name exists", true},
		{"t.aname[1] = sshd", true}, {"t.aname[2] = systemd", true}, {"t.aname[5] exists", false},
		{"t.aname = bash", true}, {"t.aname = sshd", true}, {"t.aname = systemd", true}, {"t.aname = nope", false},
		{"t.aname in (nope, systemd)", true}, {"t.aname pmatch (/x)", false}, {"t.aname != bash", true},
		{"t.aname exists", true}, {"t.aname startswith sys", true}, {"not t.aname in (sshd)", false},
		{"t.aname[1] = bash", false}, {"t.aonly = bash", true}, {"t.aonly = sshd", false}, {"t.aonly exists", true},
		{"tolower(t.aname) = sshd", false}, // a transformer applies to the single value {"t.arg.flags = key:flags", true}, {"t.arg[0] = index", true}, {"t.arg[1] exists", false},
		// transformers
		{"tolower(t.name) = bash", true}, {"toupper(t.name) = BASH", true}, {"toupper(t.name) = Bash", false},
		{"tolower(t.name) in (shells, bash)", true}, {"basename(t.path) = sshd_config", true},
		{"basename(t.name) = Bash", true}, {"len(t.name) = 4", true}, {"len(t.path) > 100", false},
		{"len(t.list) = 2", true}, {"len(t.buf) = 6", true}, {"tolower(basename(t.path)) = sshd_config", true},
		{"toupper(basename(t.path)) startswith SSHD", true}, {"b64(t.path) exists", false}, // '_' is not base64
		{"len(tolower(t.name)) = 4", true},
		{"toupper(t.list) intersects (REDIS)", true}, {"toupper(t.list) in (REDIS, 'NGINX:1.25')", true},
		{"tolower(toupper(t.list)) in (redis, 'nginx:1.25')", true}, {"basename(t.list) intersects (redis)", true},
		{"len(toupper(t.list)) = 2", true}, {"toupper(t.empty) exists", true},
		// comparing two fields
		{"t.pid != val(t.ppid)", true}, {"t.pid > val(t.ppid)", true}, {"t.pid = val(t.ppid)", false},
		{"t.name = val(t.name)", true}, {"tolower(t.name) = val(t.aname)", true},
		{"t.name = tolower(t.name)", false}, {"t.ip = val(t.net)", true}, {"t.name = val(t.missing)", false},
		// boolean structure, macros, event types
		{"is_bash", true}, {"nested", true}, {"not nested", false}, {"is_root or is_bash", true},
		{"is_root and is_bash", false}, {"not (is_root or not is_bash)", true}, {"not not is_bash", true},
		{"evt.type = openat", true}, {"evt.type = execve", false}, {"evt.type != execve", true},
		{"evt.type in (execve, openat)", true}, {"open_evt and t.pid = 42", true}, {"evt.type in (connect)", false},
		{"evt.type contains open", true}, {"evt.type = nosuchtype", false},
	}
	for _, c := range cases {
		f, err := compileTest(t, s, c.cond, macros, lists)
		if err != nil {
			t.Errorf("%s: %v", c.cond, err)
			continue
		}
		if got := f.Match(ev); got != c.want {
			t.Errorf("%s = %v, want %v", c.cond, got, c.want)
		}
	}
}

func TestB64(t *testing.T) {
	s := testSource(t)
	ev := sampleEvent(s)
	ev.name = "YmFzaA==" // "bash"
	for cond, want := range map[string]bool{
		"b64(t.name) = bash": true, "toupper(b64(t.name)) = BASH": true, "len(b64(t.name)) = 4": true,
	} {
		f, err := compileTest(t, s, cond, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if got := f.Match(ev); got != want {
			t.Errorf("%s = %v, want %v", cond, got, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	s := testSource(t)
	macros := map[string]string{
		"loop_a":   "t.pid = 1 and loop_b",
		"loop_b":   "loop_a",
		"bad_body": "t.nme = x",
		"is_bash":  "t.name = Bash",
	}
	lists := map[string][]string{"shells": {"sh"}}
	// Golden messages: every error of a condition, one per line.
	cases := []struct{ cond, want string }{
		{"t.nme = x", "1:1: unknown field t.nme (did you mean t.name?)"},
		{"t.pid = abc", `1:9: field t.pid compares numbers, got "abc"`},
		{"t.port in (22, ssh, http)", "1:16: field t.port compares numbers, got \"ssh\"\n1:21: field t.port compares numbers, got \"http\""},
		{"t.port = 70000", `1:10: field t.port compares numbers, got "70000"`},
		{"t.uid = -1", `1:9: field t.uid compares numbers, got "-1"`},
		{"t.flag = yes", `1:10: field t.flag compares booleans (true or false), got "yes"`},
		{"t.ip = 10.0.0.300", `1:8: field t.ip compares IP addresses, got "10.0.0.300"`},
		{"t.pid contains 4", "1:7: operator contains is not supported by field t.pid of type int64"},
		{"t.flag > 1", "1:8: operator > is not supported by field t.flag of type bool"},
		{"t.list = x", "1:8: operator = is not supported by list field t.list: use exists, in or intersects"},
		{"t.name bcontains 00", "1:8: operator bcontains is not supported by field t.name of type string"},
		{"t.buf bcontains xyz", `1:17: operator bcontains needs hexadecimal bytes (like 7f454c46), got "xyz"`},
		{"t.name regex '('", "1:14: invalid regex \"(\": error parsing regexp: missing closing ): `^(?:()$`"},
		{"t.name = x and undefined_macro", "1:16: undefined macro undefined_macro"},
		{"is_bsh", "1:1: undefined macro is_bsh (did you mean is_bash?)"},
		{"shells", "1:1: shells is a list, not a macro: a list can only follow in, intersects or pmatch"},
		{"t.name in shels", "1:11: undefined list shels (did you mean shells?)"},
		{"t.name in is_bash", "1:11: is_bash is a macro, not a list: a list operator needs a list name or (items)"},
		{"t.name pmatch val(t.path)", "1:15: operator pmatch needs a list, got val(...)"},
		{"loop_a", "macro loop_b: 1:1: macro cycle: loop_a -> loop_b -> loop_a"},
		{"bad_body or t.name = x", "macro bad_body: 1:1: unknown field t.nme (did you mean t.name?)"},
		{"t.name = val(t.pid)", "1:10: field t.name (string) cannot be compared with t.pid (int64)"},
		{"t.pid = val(t.nope)", "1:13: unknown field t.nope (did you mean t.name?)"},
		{"tolower(t.pid) = 1", "1:1: transformer tolower does not support field t.pid of type int64"},
		{"b64(t.list) exists", "1:1: transformer b64 does not support field t.list of type string list"},
		{"t.name[1] = x", "1:1: field t.name takes no argument, got [1]"},
		{"t.arg = x", "1:1: field t.arg requires an argument (t.arg[...])"},
		{"t.nme = x and t.pid = y", "1:1: unknown field t.nme (did you mean t.name?)\n1:23: field t.pid compares numbers, got \"y\""},
	}
	for _, c := range cases {
		_, err := compileTest(t, s, c.cond, macros, lists)
		if err == nil {
			t.Errorf("%s: compiled, want error\n%s", c.cond, c.want)
			continue
		}
		if got := err.Error(); got != c.want {
			t.Errorf("%s:\n got: %s\nwant: %s", c.cond, got, c.want)
		}
	}
}

func TestEventTypes(t *testing.T) {
	s := testSource(t)
	open, exec, conn := s.EventType("openat"), s.EventType("execve"), s.EventType("connect")
	names := func(ids []int) string {
		var out []string
		for _, id := range ids {
			out = append(out, s.EventTypeName(id))
		}
		return strings.Join(out, ",")
	}
	macros := map[string]string{"spawned": "evt.type = execve", "opened": "evt.type in (openat)"}
	_ = open
	_ = exec
	_ = conn
	cases := []struct {
		cond string
		want string // "all" or the sorted names
	}{
		{"t.name = x", "all"},
		{"evt.type = openat", "openat"},
		{"evt.type in (openat, execve)", "openat,execve"},
		{"evt.type = openat or evt.type = connect", "openat,connect"},
		{"evt.type = openat and t.pid = 1", "openat"},
		{"evt.type = openat or t.pid = 1", "all"},
		{"evt.type in (openat, execve) and evt.type in (execve, connect)", "execve"},
		{"evt.type != openat", "execve,connect"},
		{"not evt.type = openat", "execve,connect"},
		{"not (evt.type = openat or evt.type = execve)", "connect"},
		{"not (evt.type = openat and t.pid = 1)", "all"},
		{"spawned and not t.name = sh", "execve"},
		{"(spawned or opened) and t.pid > 1", "openat,execve"},
		{"evt.type contains open", "all"},
		{"tolower(evt.type) = openat", "all"},
	}
	for _, c := range cases {
		f, err := compileTest(t, s, c.cond, macros, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.cond, err)
		}
		ids, all := f.EventTypes()
		got := names(ids)
		if all {
			got = "all"
		}
		if got != c.want {
			t.Errorf("EventTypes(%s) = %s, want %s", c.cond, got, c.want)
		}
	}
}

func TestFieldsAndConcurrentMatch(t *testing.T) {
	s := testSource(t)
	f, err := compileTest(t, s, "m and t.aname[1] = sshd and tolower(t.name) in (bash) and t.list intersects (redis)",
		map[string]string{"m": "t.pid > 0 and t.aname[1] exists"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range f.Fields() {
		got = append(got, u.Text+"="+u.Field.Name)
	}
	if want := "t.pid=t.pid,t.aname[1]=t.aname,t.name=t.name,t.list=t.list"; strings.Join(got, ",") != want {
		t.Errorf("Fields() = %s, want %s", strings.Join(got, ","), want)
	}
	ev := sampleEvent(s)
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 1000 {
				ok = ok && f.Match(ev)
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("concurrent Match returned false")
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop scratch buffers on purpose; allocation counts are checked without -race")
	}
	s := testSource(t)
	ev := sampleEvent(s)
	conds := []string{
		"evt.type = execve and t.name = sh",
		"evt.type in (openat, execve) and t.path pmatch (/usr, /bin) and t.name in (sh, zsh)",
		"t.path icontains SHADOW or t.path glob '/root/*' or t.path regex '/proc/[0-9]+/mem'",
		"tolower(t.name) in (sh, zsh) or toupper(basename(t.path)) = X",
		"t.list intersects (x, y) or len(t.list) > 5 or t.net in (192.168.0.0/16)",
		"toupper(t.list) intersects (X) or basename(t.list) in (y)",
		"t.pid != val(t.ppid) and t.missing = x",
		"t.aname in (x, y) or t.aname startswith z",
		"t.buf bcontains 00ff",
	}
	for _, cond := range conds {
		f, err := compileTest(t, s, cond, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if f.Match(ev) {
			t.Fatalf("%s: matches the sample event; the test wants a non-matching event", cond)
		}
		if n := testing.AllocsPerRun(200, func() { f.Match(ev) }); n != 0 {
			t.Errorf("%s: %v allocations per Match, want 0", cond, n)
		}
	}
}

func TestCompileNeedsConditionAndSource(t *testing.T) {
	e, _ := Parse("a")
	for _, c := range []struct {
		e   Expr
		env *Env
	}{{nil, &Env{Source: testSource(t)}}, {e, nil}, {e, &Env{}}} {
		if _, err := Compile(c.e, c.env); err == nil {
			t.Errorf("Compile(%v, %v) succeeded", c.e, c.env)
		}
	}
}
