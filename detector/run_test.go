package detector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/detector/output"
	"github.com/nightjar-sec/nightjar/detector/state"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test together.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const shadowRule = `- rule: Shadow read
  desc: reads /etc/shadow
  condition: evt.type in (open, openat) and fd.name = /etc/shadow
  output: shadow read (file=%fd.name proc=%proc.name)
  priority: WARNING
  tags: [test]
`

// shadowRecording writes a recording in which cat opens /etc/shadow.
func shadowRecording(t *testing.T, dir string) string {
	t.Helper()
	var snap bytes.Buffer
	if err := state.New(state.Options{}).Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "shadow.njr")
	rec, err := CreateRecording(path, &RecordingHeader{Created: time.Now().UTC(), Hostname: "node-1", Version: "test",
		Syscalls: []string{"openat"}, Snapshot: snap.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	now := uint64(time.Now().UnixNano())
	for _, ev := range []bpf.Event{
		{Kind: bpf.KindExec, Syscall: bpf.SysExecve, Time: now, PID: 10, TID: 10, PPID: 1, Comm: "cat", Args: []string{"cat", "/etc/shadow"},
			Exe: "/usr/bin/cat", Cwd: "/root", Fd: -1, Fd2: -1, Dirfd: -1, Dirfd2: -1},
		{Kind: bpf.KindSyscall, Syscall: bpf.SysOpenat, Time: now + 1, PID: 10, TID: 10, Ret: 3, Fd: -1, Fd2: -1, Dirfd: -100, Dirfd2: -1,
			Path: "/etc/shadow", Ino: 42},
	} {
		if err := rec.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// logLines returns the log lines with msg=<msg> (quoted or not).
func logLines(log, msg string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "msg="+msg+" ") || strings.Contains(l, `msg="`+msg+`"`) ||
			strings.Contains(l, `msg="`+msg) {
			out = append(out, l)
		}
	}
	return out
}

// An alert that cannot be delivered by the time nightjar stops is reported
// where the user looks: a warning naming the output and the count, the
// final "stopped" line's alert_drops, and the internal drop alert on the
// local outputs. (The audit's case: the sidekick unreachable, an alert
// raised just before stopping, and the log ending alert_drops=0.)
func TestShutdownReportsUndeliveredAlerts(t *testing.T) {
	defer func(d time.Duration) { outputsDrainTimeout = d }(outputsDrainTimeout)
	outputsDrainTimeout = 300 * time.Millisecond
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(shadowRule), 0o600)
	events := filepath.Join(dir, "events.json")
	var stderr syncBuffer
	err := Run(context.Background(), Options{Replay: shadowRecording(t, dir), RulesPaths: []string{rules}, Stderr: &stderr,
		Overrides: []string{"json_output=true", "stdout_output.enabled=false",
			"file_output.enabled=true", "file_output.filename=" + events,
			"http_output.enabled=true", "http_output.url=http://u:pw@127.0.0.1:1/"}})
	log := stderr.String()
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log)
	}
	if strings.Contains(log, "pw@") {
		t.Errorf("the URL's password is in the log:\n%s", log)
	}

	drain := logLines(log, "outputs did not drain")
	if len(drain) != 1 || !strings.Contains(drain[0], "level=WARN") || !strings.Contains(drain[0], "http_output: 1 alert(s) not delivered") {
		t.Errorf("want one warning that http_output did not deliver 1 alert; log:\n%s", log)
	}
	lost := logLines(log, "alerts lost")
	if len(lost) != 1 || !strings.Contains(lost[0], "level=WARN") || !strings.Contains(lost[0], "output=http_output") ||
		!strings.Contains(lost[0], "lost=1 ") || !strings.Contains(lost[0], "at_shutdown=1") {
		t.Errorf("want one warning: output=http_output lost=1 at_shutdown=1; log:\n%s", log)
	}
	stopped := logLines(log, "stopped")
	if len(stopped) != 1 || !strings.Contains(stopped[0], "alert_drops=1") {
		t.Fatalf("the final line must count the lost alert (alert_drops=1); log:\n%s", log)
	}
	if !strings.HasSuffix(strings.TrimSpace(log), stopped[0]) {
		t.Errorf("the stopped line must be the last; log:\n%s", log)
	}

	// The file output has the alert, then the internal alert for its loss.
	f, err := os.Open(events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []*alert.Alert
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		a, err := alert.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("file output line %q: %v", sc.Text(), err)
		}
		got = append(got, a)
	}
	if len(got) != 2 || got[0].Rule != "Shadow read" || got[1].Rule != output.DropRule {
		t.Fatalf("file output: want the alert then %q, got %d alerts: %+v", output.DropRule, len(got), got)
	}
	if n, _ := got[1].OutputFields["n_drops_output"].(json.Number); n.String() != "1" {
		t.Errorf("internal alert: n_drops_output %v, want 1: %s", got[1].OutputFields["n_drops_output"], got[1].Output)
	}
}

// Delivered alerts: no warning, alert_drops=0.
func TestShutdownQuietWhenDelivered(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(shadowRule), 0o600)
	events := filepath.Join(dir, "events.json")
	var stderr syncBuffer
	err := Run(context.Background(), Options{Replay: shadowRecording(t, dir), RulesPaths: []string{rules}, Stderr: &stderr,
		Overrides: []string{"json_output=true", "stdout_output.enabled=false", "file_output.enabled=true", "file_output.filename=" + events}})
	log := stderr.String()
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log)
	}
	if strings.Contains(log, "level=WARN") {
		t.Errorf("warnings without a loss:\n%s", log)
	}
	if s := logLines(log, "stopped"); len(s) != 1 || !strings.Contains(s[0], "alert_drops=0") {
		t.Errorf("stopped line: %q", s)
	}
	b, _ := os.ReadFile(events)
	if bytes.Count(b, []byte("\n")) != 1 || !bytes.Contains(b, []byte(`"rule":"Shadow read"`)) {
		t.Errorf("file output: %s", b)
	}
}

// -L with json_output: true prints the rules as Falco 0.36+ does: one JSON
// object on one line, {"rules": [{"info": {...}, "details": {...}}]}, with
// Falco's field names.
func TestDescribeRulesJSON(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(`- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type in (execve, execveat)
- rule: Shell with a quoted paren
  desc: >
    a shell & its
    children
  condition: spawned and proc.name in (shells, zsh) and proc.cmdline contains ") and not ("
  output: shell <%proc.cmdline> (parent=%proc.pname)
  priority: NOTICE
  tags: [shell, process]
  exceptions:
    - name: from_sshd
      fields: [proc.pname]
      values: [[sshd]]
- rule: Off
  desc: disabled
  condition: evt.type = openat and fd.name = /etc/shadow
  output: x
  priority: DEBUG
  enabled: false
`), 0o600)
	var stdout bytes.Buffer
	if err := Run(context.Background(), Options{DescribeRules: true, RulesPaths: []string{rules}, Stdout: &stdout, Stderr: io.Discard,
		Overrides: []string{"json_output=true"}}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 1 || !strings.HasSuffix(stdout.String(), "\n") {
		t.Fatalf("want one line of JSON, got %d lines:\n%s", n, stdout.String())
	}
	if strings.Contains(stdout.String(), `\u003c`) {
		t.Errorf("< escaped as \\u003c (Falco writes it as is): %s", stdout.String())
	}
	type described struct {
		Rules []struct {
			Info struct {
				Name, Condition, Priority, Output, Description, Source string
				Enabled                                                bool
				Tags                                                   []string
			}
			Details struct {
				Macros, Lists, Events, Plugins []string
				ConditionOperators             []string `json:"condition_operators"`
				ConditionFields                []string `json:"condition_fields"`
				ExceptionNames                 []string `json:"exception_names"`
				ConditionCompiled              string   `json:"condition_compiled"`
				OutputCompiled                 string   `json:"output_compiled"`
			}
		}
	}
	var d described
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("-L json: %v", err)
	}
	if len(d.Rules) != 2 {
		t.Fatalf("rules: %+v", d.Rules)
	}
	r := d.Rules[0]
	eq := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", what, got, want)
		}
	}
	eq("name", r.Info.Name, "Shell with a quoted paren")
	eq("condition (as written, without the exceptions)", r.Info.Condition, `spawned and proc.name in (shells, zsh) and proc.cmdline contains ") and not ("`)
	eq("priority", r.Info.Priority, "Notice")
	eq("output", r.Info.Output, "shell <%proc.cmdline> (parent=%proc.pname)")
	eq("description", r.Info.Description, "a shell & its children\n")
	eq("source", r.Info.Source, "syscall")
	eq("enabled", r.Info.Enabled, true)
	eq("tags", r.Info.Tags, []string{"process", "shell"})
	eq("macros", r.Details.Macros, []string{"spawned"})
	eq("lists", r.Details.Lists, []string{"shells"})
	eq("events", r.Details.Events, []string{"execve", "execveat"})
	eq("plugins", r.Details.Plugins, []string{})
	eq("exception_names", r.Details.ExceptionNames, []string{"from_sshd"})
	eq("condition_operators", r.Details.ConditionOperators, []string{"=", "contains", "in"})
	eq("condition_fields", r.Details.ConditionFields, []string{"evt.type", "proc.cmdline", "proc.name", "proc.pname"})
	if c := r.Details.ConditionCompiled; !strings.Contains(c, "evt.type in (execve, execveat)") || !strings.Contains(c, "proc.name in (bash, sh, zsh)") ||
		!strings.Contains(c, "proc.pname") {
		t.Errorf("condition_compiled (macros and lists expanded, exceptions in): %s", c)
	}
	eq("output_compiled", r.Details.OutputCompiled, r.Info.Output)
	eq("second rule enabled", d.Rules[1].Info.Enabled, false)
	eq("second rule condition", d.Rules[1].Info.Condition, "evt.type = openat and fd.name = /etc/shadow")

	// Without json_output, the table as before.
	stdout.Reset()
	if err := Run(context.Background(), Options{DescribeRules: true, RulesPaths: []string{rules}, Stdout: &stdout, Stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "RULE ") || strings.Contains(stdout.String(), "{") {
		t.Errorf("-L without json_output:\n%s", stdout.String())
	}
}
