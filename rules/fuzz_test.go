package rules

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// FuzzLoad feeds arbitrary bytes to the loader and compiler: they must
// never panic, and every error must name the input and, when it has a
// line, a line inside it.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/errors/*.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(baseRule))
	f.Add([]byte("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: debug\n  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=, in]\n      values: [[a, [b, c]]]\n"))
	f.Add([]byte("- list: l\n  items: [a, l]\n- macro: m\n  condition: m and proc.name in (l)\n"))
	src, k8s := field.Syscall(), field.K8sAudit()
	f.Fuzz(func(t *testing.T, data []byte) {
		l := NewLoader(src, k8s)
		l.Load("fuzz.yaml", data)
		_, _ = l.Compile(Options{})
		// YAML breaks lines at \n, \r\n and a lone \r.
		lines := 1
		for i, c := range data {
			if c == '\n' || c == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
				lines++
			}
		}
		for _, e := range l.errs {
			if e.File != "fuzz.yaml" && e.File != "rules selection" {
				t.Fatalf("error names file %q: %v", e.File, e)
			}
			if e.Line < 0 || e.Line > lines+1 {
				t.Fatalf("error at line %d of a %d-line input: %v", e.Line, lines, e)
			}
		}
	})
}

// FuzzOutputFormat: any output string compiles without panicking, error
// offsets stay inside it, and formatting never panics.
func FuzzOutputFormat(f *testing.F) {
	for _, s := range []string{"%proc.name", "a %container.info b %proc.nme", "%(fd.name)x", "%proc.aname[2]", "%", "%%", "%evt.arg.flags.", "%(", "100%"} {
		f.Add(s)
	}
	src := synthSource()
	ev := &synthEvent{procName: "bash", anames: []string{"sshd"}}
	f.Fuzz(func(t *testing.T, s string) {
		fm, errs := compileFormat(s, src)
		for _, e := range errs {
			if e.off < 0 || e.off > len(s) {
				t.Fatalf("error offset %d outside %q", e.off, s)
			}
		}
		_ = fm.appendText(nil, ev, time.Unix(0, 0))
	})
}
