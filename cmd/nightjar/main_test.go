package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsageAndMisuse(t *testing.T) {
	code, _, errOut := runCLI("--help")
	if code != 0 || !strings.Contains(errOut, "nightjar test [flags] CASES.yaml") || !strings.Contains(errOut, "-o KEY=VALUE") {
		t.Fatalf("--help: %d %s", code, errOut)
	}
	code, out, _ := runCLI("--version")
	if code != 0 || !strings.HasPrefix(out, "nightjar ") {
		t.Fatalf("--version: %d %q", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-M", "soon"}, "-M soon: want a number of seconds"},
		{[]string{"-M", "-1"}, "greater than 0"},
		{[]string{"stray"}, `argument 1 is not a flag (does an -o lack its '='?)`},
		{[]string{"--list", "syscall", "-L", "stray"}, `argument 4 is not a flag`},
		{[]string{"-e", "a", "--record", "b"}, "a replay cannot be recorded"},
		{[]string{"-L", "--list"}, "use one of them"},
		{[]string{"-V", "/nonexistent.yaml"}, "-V /nonexistent.yaml"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"-o", "json_outputt=true", "-L"}, "json_outputt: unknown key (did you mean json_output?)"},
		{[]string{"-c", "/nonexistent/nightjar.yaml", "-L"}, "/nonexistent/nightjar.yaml"},
		{[]string{"test"}, "want exactly one CASES.yaml"},
		// Falco refuses -t with -T.
		{[]string{"-t", "container", "-T", "network", "-L"}, "-t and -T can not be given together"},
		// Flags that the mode would silently ignore.
		{[]string{"-L", "--record", "/tmp/x.rec"}, "-L prints and exits, so --record (which applies while nightjar runs) would do nothing"},
		{[]string{"-e", "/tmp/x.rec", "-L"}, "-L prints and exits, so -e"},
		{[]string{"--list", "-M", "5"}, "--list prints and exits, so -M"},
		{[]string{"-V", "/nonexistent.yaml", "-r", "/etc/x.yaml"}, "-V checks the files it names and -r would add nothing"},
		{[]string{"-V", "/nonexistent.yaml", "-t", "network"}, "-t/-T (which choose the rules that run) would do nothing"},
		{[]string{"--list", "-T", "network"}, "--list lists the fields of an event source, and -r/-t/-T"},
		{[]string{"--version", "-L"}, "--version prints the version and exits: give it alone"},
		{[]string{"-c", "/a.yaml", "-c", "/b.yaml", "-L"}, `invalid value "/b.yaml" for flag -c: given twice`},
		{[]string{"-M", "1", "-M", "2"}, `for flag -M: given twice`},
		{[]string{"-r", "/etc/x.yaml", "-o", "rules_files=[/a.yaml]", "-L"}, "-r replaces rules_files, so -o rules_files would do nothing"},
		{[]string{"-r", "/etc/x.yaml", "-o", "rules_file[]=/a.yaml", "-L"}, "so -o rules_file would do nothing"},
		// --list takes a source, as in Falco.
		{[]string{"--list=k8s_audit"}, "--list=k8s_audit: nightjar loads Kubernetes audit rules but has no k8s_audit event source"},
		{[]string{"--list", "bogus"}, "--list=bogus: no such event source; nightjar's one source is syscall"},
	} {
		code, _, errOut := runCLI(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// A mistyped -o names its key, and a stray argument its position (an -o
// with a space for its '=' leaves a password there): neither prints the
// value.
func TestMisuseNeverPrintsTheValue(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "http_output.urll=http://u:s3cretpw@127.0.0.1:1/", "-L"}, "-o http_output.urll: unknown key (did you mean http_output.url?)"},
		{[]string{"-o", "http_output.url", "http://u:s3cretpw@127.0.0.1:1/", "-L"}, "argument 3 is not a flag (does an -o lack its '='?)"},
	} {
		code, out, errOut := runCLI(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", c.args, code, errOut, c.want)
		}
		if strings.Contains(out+errOut, "s3cretpw") {
			t.Errorf("%q: the password is printed: %q", c.args, out+errOut)
		}
	}
}

func TestValidate(t *testing.T) {
	code, out, _ := runCLI("-V", "../../rules/builtin/nightjar_rules.yaml", "-V", "../../rules/builtin/nightjar_rules.local.yaml")
	if code != 0 || !strings.Contains(out, "Ok (35 rules)") {
		t.Fatalf("default rules: %d %s", code, out)
	}
	bad := write(t, "bad.yaml", `- rule: one
  desc: d
  condition: evt.type = open and proc.nme = cat
  output: x
  priority: WARNING
- rule: two
  desc: d
  condition: evt.type = open and not undefined_macro
  output: x
  priority: SEVERE
`)
	code, out, errOut := runCLI("-V", bad)
	if code != 1 {
		t.Fatalf("bad rules: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{bad + ":3:", "proc.nme", "did you mean proc.name", "undefined_macro", "SEVERE"} {
		if !strings.Contains(out, want) {
			t.Errorf("-V output lacks %q:\n%s", want, out)
		}
	}
}

func TestDescribeAndList(t *testing.T) {
	code, out, _ := runCLI("-L", "-o", "log_level=error")
	if code != 0 || !strings.Contains(out, "Reverse shell") || !strings.Contains(out, "Critical") {
		t.Fatalf("-L: %d %s", code, out)
	}
	code, out, _ = runCLI("--list", "-o", "log_level=error")
	if code != 0 || !strings.Contains(out, "* fd.name") || !strings.Contains(out, "  k8s.pod.name") {
		t.Fatalf("--list must mark populated fields: %d\n%s", code, out)
	}
	// With a source: --list=syscall (Falco's form) and --list syscall.
	for _, args := range [][]string{
		{"--list=syscall", "-o", "log_level=error"},
		{"--list", "syscall", "-o", "log_level=error"},
		{"-o", "log_level=error", "-list", "syscall"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 0 || !strings.Contains(out, "* fd.name") {
			t.Errorf("%v: %d %s", args, code, errOut)
		}
	}
}

func TestListSourceArg(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"--list syscall", "--list=syscall"},
		{"--list", "--list"},
		{"--list -L", "--list -L"},
		{"-o a=b --list syscall -L", "-o a=b --list=syscall -L"},
		{"-c --list syscall", "-c --list syscall"}, // --list is -c's value
		{"--list=syscall x", "--list=syscall x"},
		{"-L stray --list syscall", "-L stray --list syscall"}, // flags end at stray
	} {
		if got := strings.Join(listSourceArg(strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTestSubcommand(t *testing.T) {
	code, out, errOut := runCLI("test", "-o", "log_level=error", "../../rules/builtin/nightjar_rules_test.yaml")
	if code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("default cases: %d\n%s\n%s", code, out, errOut)
	}
	cases := write(t, "cases.yaml", `cases:
  - name: wrong expectation
    events:
      - {evt.type: openat, proc.name: cat, fd.name: /etc/shadow, fd.directory: /etc, fd.typechar: f, fd.num: 3,
         evt.is_open_read: true}
`)
	code, out, _ = runCLI("test", "-o", "log_level=error", cases)
	if code != 1 || !strings.Contains(out, "FAIL  wrong expectation") ||
		!strings.Contains(out, "expected no alert, got [Sensitive file read by untrusted program]") {
		t.Fatalf("failing case: %d\n%s", code, out)
	}
	typo := write(t, "typo.yaml", "cases:\n  - name: x\n    events:\n      - {evt.type: openat, fd.nmae: /etc/shadow, expect: Nope}\n")
	code, _, errOut = runCLI("test", "-o", "log_level=error", typo)
	if code != 2 || !strings.Contains(errOut, "fd.nmae") || !strings.Contains(errOut, ":4:") {
		t.Fatalf("typo: %d %s", code, errOut)
	}
}

// A -t or -T tag that no loaded rule has is misuse (exit 2), named with the
// closest tag: -t would otherwise leave every rule off. The configuration
// and rules are the repository's, named explicitly, so that an installed
// /etc/nightjar does not change the outcome.
func TestUnknownTagIsMisuse(t *testing.T) {
	cfg := write(t, "nightjar.yaml", "log_level: error\n")
	cli := func(args ...string) (int, string, string) {
		return runCLI(append([]string{"-c", cfg, "-r", "../../rules/builtin/nightjar_rules.yaml"}, args...)...)
	}
	code, _, errOut := cli("-t", "filesytem", "-L")
	if code != 2 || !strings.Contains(errOut, "-t filesytem: no loaded rule has this tag (did you mean filesystem?)") {
		t.Fatalf("-t filesytem: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = cli("-T", "nosuchtag", "-L")
	if code != 2 || !strings.Contains(errOut, "-T nosuchtag: no loaded rule has this tag") {
		t.Fatalf("-T nosuchtag: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := cli("-t", "filesystem", "-L"); code != 0 {
		t.Fatalf("-t filesystem: exit %d, stderr %q", code, errOut)
	}
}
