package field

import (
	"net/netip"
	"strings"
	"testing"
)

func TestRef(t *testing.T) {
	s := Syscall()
	k := K8sAudit()
	cases := []struct {
		src      *Source
		text     string
		field    string
		arg      Arg
		errMatch string
	}{
		{s, "fd.name", "fd.name", Arg{}, ""},
		{s, "proc.aname[2]", "proc.aname", Arg{Set: true, Index: 2}, ""},
		{s, "proc.aname", "proc.aname", Arg{}, ""},
		{s, "proc.apid[1]", "proc.apid", Arg{Set: true, Index: 1}, ""},
		{s, "evt.arg.flags", "evt.arg", Arg{Set: true, Index: -1, Key: "flags"}, ""},
		{s, "evt.arg[0]", "evt.arg", Arg{Set: true, Index: 0}, ""},
		{s, "evt.arg[flags]", "evt.arg", Arg{Set: true, Index: -1, Key: "flags"}, ""},
		{s, "evt.rawarg.res", "evt.rawarg", Arg{Set: true, Index: -1, Key: "res"}, ""},
		{s, "fd.cip", "fd.cip", Arg{}, ""},
		{s, "container.mount.dest[/var/run/docker.sock]", "container.mount.dest", Arg{Set: true, Index: -1, Key: "/var/run/docker.sock"}, ""},
		{s, "k8s.pod.label.app", "k8s.pod.label", Arg{Set: true, Index: -1, Key: "app"}, ""},
		{k, "ka.req.pod.containers.image", "ka.req.pod.containers.image", Arg{}, ""},
		{k, "ka.req.pod.containers.image[0]", "ka.req.pod.containers.image", Arg{Set: true, Index: 0}, ""},
		{k, "jevt.value[/user/username]", "jevt.value", Arg{Set: true, Index: -1, Key: "/user/username"}, ""},
		{k, "ka.uri.param[foo]", "ka.uri.param", Arg{Set: true, Index: -1, Key: "foo"}, ""},
		{s, "proc.nme", "", Arg{}, "unknown field proc.nme (did you mean proc.name?)"},
		{s, "zzzz.qqqqqqq", "", Arg{}, "unknown field zzzz.qqqqqqq"},
		{s, "proc.aname[x]", "", Arg{}, "field proc.aname needs a numeric index argument, got [x]"},
		{s, "fd.name[1]", "", Arg{}, "field fd.name takes no argument, got [1]"},
		{s, "evt.arg", "", Arg{}, "field evt.arg requires an argument (evt.arg[...])"},
		{s, "proc.aname[2", "", Arg{}, "field proc.aname[2: argument is missing its closing ]"},
		{k, "jevt.value", "", Arg{}, "field jevt.value requires an argument"},
	}
	for _, c := range cases {
		f, a, err := c.src.Ref(c.text)
		if c.errMatch != "" {
			if err == nil || !strings.Contains(err.Error(), c.errMatch) {
				t.Errorf("Ref(%q) error = %v, want %q", c.text, err, c.errMatch)
			}
			if c.errMatch == "unknown field zzzz.qqqqqqq" && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("Ref(%q) suggested something far away: %v", c.text, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Ref(%q): %v", c.text, err)
			continue
		}
		if f.Name != c.field || a != c.arg {
			t.Errorf("Ref(%q) = %s %+v, want %s %+v", c.text, f.Name, a, c.field, c.arg)
		}
	}
}

type testEvent struct{}

func (testEvent) EventType() int { return 0 }

func TestAppendValueAndValue(t *testing.T) {
	s := NewSource("t")
	s.Declare(str("s", ""), i64("i", ""), u64("u", ""), boolean("b", ""), ip("ip", ""), ipnet("net", ""),
		port("p", ""), Field{Name: "m", Type: Mode}, Field{Name: "m2", Type: Mode}, Field{Name: "buf", Type: Bytes},
		list(str("l", "")), str("missing", ""), str("unbound", ""))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Bind("s", Extractor{String: func(Event, Arg) (string, bool) { return "a b", true }}))
	must(s.Bind("i", Extractor{Int: func(Event, Arg) (int64, bool) { return -3, true }}))
	must(s.Bind("u", Extractor{Uint: func(Event, Arg) (uint64, bool) { return 7, true }}))
	must(s.Bind("b", Extractor{Bool: func(Event, Arg) (bool, bool) { return true, true }}))
	must(s.Bind("ip", Extractor{IP: func(Event, Arg) (netip.Addr, int, bool) { return netip.MustParseAddr("10.0.0.1"), -1, true }}))
	must(s.Bind("net", Extractor{IP: func(Event, Arg) (netip.Addr, int, bool) { return netip.MustParseAddr("10.0.0.0"), 8, true }}))
	must(s.Bind("p", Extractor{Uint: func(Event, Arg) (uint64, bool) { return 443, true }}))
	must(s.Bind("m", Extractor{Uint: func(Event, Arg) (uint64, bool) { return 65, true },
		Format: func(Event, Arg) (string, bool) { return "O_WRONLY|O_CREAT", true }}))
	must(s.Bind("m2", Extractor{Uint: func(Event, Arg) (uint64, bool) { return 65, true }}))
	must(s.Bind("buf", Extractor{Bytes: func(Event, Arg) ([]byte, bool) { return []byte("xy"), true }}))
	must(s.Bind("l", Extractor{Strings: func(_ Event, _ Arg, dst []string) ([]string, bool) { return append(dst, "a", "b"), true }}))
	must(s.Bind("missing", Extractor{String: func(Event, Arg) (string, bool) { return "", false }}))
	want := map[string]struct {
		text string
		val  any
	}{
		"s": {"a b", "a b"}, "i": {"-3", int64(-3)}, "u": {"7", uint64(7)}, "b": {"true", true},
		"ip": {"10.0.0.1", "10.0.0.1"}, "net": {"10.0.0.0/8", "10.0.0.0/8"}, "p": {"443", uint64(443)},
		"m": {"O_WRONLY|O_CREAT", uint64(65)}, "m2": {"65", uint64(65)}, "buf": {"xy", "xy"},
	}
	for name, w := range want {
		f := s.Lookup(name)
		got, ok := f.AppendValue([]byte("x="), testEvent{}, Arg{})
		if !ok || string(got) != "x="+w.text {
			t.Errorf("%s: AppendValue = %q %v, want %q", name, got, ok, "x="+w.text)
		}
		v, ok := f.Value(testEvent{}, Arg{})
		if !ok || v != w.val {
			t.Errorf("%s: Value = %#v %v, want %#v", name, v, ok, w.val)
		}
	}
	if got, ok := s.Lookup("l").AppendValue(nil, testEvent{}, Arg{}); !ok || string(got) != "(a,b)" {
		t.Errorf("list AppendValue = %q %v", got, ok)
	}
	if v, ok := s.Lookup("l").Value(testEvent{}, Arg{}); !ok || len(v.([]string)) != 2 {
		t.Errorf("list Value = %#v %v", v, ok)
	}
	for _, n := range []string{"missing", "unbound"} {
		if _, ok := s.Lookup(n).AppendValue(nil, testEvent{}, Arg{}); ok {
			t.Errorf("%s: AppendValue ok for a missing value", n)
		}
		if _, ok := s.Lookup(n).Value(testEvent{}, Arg{}); ok {
			t.Errorf("%s: Value ok for a missing value", n)
		}
	}
}

func TestCatalogsDeclareFreshSources(t *testing.T) {
	a, b := Syscall(), Syscall()
	if a.Lookup("proc.name") == b.Lookup("proc.name") {
		t.Fatal("Syscall() returned shared fields")
	}
	if len(a.Fields()) < 200 || len(K8sAudit().Fields()) < 60 {
		t.Fatalf("catalogs look incomplete: %d syscall, %d k8s_audit fields", len(a.Fields()), len(K8sAudit().Fields()))
	}
}

func TestCatalogTypes(t *testing.T) {
	sys, k8s := Syscall(), K8sAudit()
	cases := []struct {
		src  *Source
		name string
		typ  Type
		list bool
		arg  ArgMode
	}{
		{sys, "evt.type", String, false, NoArg},
		{sys, "evt.rawres", Int64, false, NoArg},
		{sys, "evt.rawtime", AbsTime, false, NoArg},
		{sys, "evt.buffer", Bytes, false, NoArg},
		{sys, "evt.arg", String, false, AnyArg},
		{sys, "proc.aname", String, false, IndexArg},
		{sys, "proc.apid", Int64, false, IndexArg},
		{sys, "proc.env", String, false, KeyArg},
		{sys, "proc.tty", Uint64, false, NoArg},
		{sys, "proc.duration", RelTime, false, NoArg},
		{sys, "user.uid", Uint64, false, NoArg},
		{sys, "user.loginuid", Int64, false, NoArg},
		{sys, "fd.num", Int64, false, NoArg},
		{sys, "fd.sport", Port, false, NoArg},
		{sys, "fd.cip", IPAddr, false, NoArg},
		{sys, "fd.snet", IPNet, false, NoArg},
		{sys, "fd.types", String, true, IndexArg},
		{sys, "container.privileged", Bool, false, NoArg},
		{sys, "container.mount.dest", String, false, AnyArg},
		{sys, "k8s.pod.label", String, false, KeyArg},
		{k8s, "ka.req.pod.containers.image", String, true, IndexArg},
		{k8s, "ka.uri.param", String, false, KeyArg},
		{k8s, "jevt.value", String, false, KeyArg},
		{k8s, "jevt.rawtime", AbsTime, false, NoArg},
	}
	for _, c := range cases {
		f := c.src.Lookup(c.name)
		if f == nil {
			t.Errorf("%s: not declared", c.name)
			continue
		}
		if f.Type != c.typ || f.List != c.list || f.Arg != c.arg {
			t.Errorf("%s: %s list=%v arg=%d, want %s list=%v arg=%d", c.name, f.Type, f.List, f.Arg, c.typ, c.list, c.arg)
		}
		if f.Desc == "" {
			t.Errorf("%s: no description", c.name)
		}
	}
	for _, s := range []*Source{sys, k8s} {
		for _, f := range s.Fields() {
			if f.Desc == "" || f.Type == 0 {
				t.Errorf("%s: %s has no type or description", s.Name, f.Name)
			}
		}
	}
}
