package dedup

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

func shell(t time.Time, pid int, cmd string) *alert.Alert {
	return &alert.Alert{
		Rule: "Terminal shell in container", Priority: alert.PriorityNotice, Hostname: "node-1",
		Output: t.Format("15:04:05.000000000") + ": Notice A shell was spawned (" + cmd + ")",
		Time:   t,
		OutputFields: alert.Fields{
			"evt.time":     json.Number("1764433916746609046"),
			"evt.time.s":   t.Format("15:04:05"),
			"proc.cmdline": cmd,
			"container.id": "abc123",
			"user.uid":     json.Number("0"),
			"proc.tty":     json.Number(string(rune('0' + pid%10))),
		},
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSplitAndWindow(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)}
	f := New(map[string]time.Duration{"slack": 10 * time.Minute, "webhook": 0})
	f.now = c.now
	outs := []string{"slack", "webhook", "opsgenie"}

	a := shell(c.t, 1, "bash")
	keep, rep, k := f.Split(a, outs)
	if !slices.Equal(keep, outs) || rep != nil {
		t.Fatalf("first alert: keep %v repeats %v", keep, rep)
	}
	f.Accepted(k, keep)

	// The same alert a second later (its time fields differ): a repeat for
	// slack only; outputs without a window get every alert.
	c.t = c.t.Add(time.Second)
	b := shell(c.t, 1, "bash")
	b.OutputFields["evt.time"] = json.Number("1764433917746609046")
	keep, rep, k2 := f.Split(b, outs)
	if k2 != k {
		t.Fatal("time fields changed the key")
	}
	if !slices.Equal(keep, []string{"webhook", "opsgenie"}) || !slices.Equal(rep, []string{"slack"}) {
		t.Fatalf("repeat: keep %v repeats %v", keep, rep)
	}
	f.Accepted(k2, keep)

	// A different command is a different alert.
	if _, rep, _ := f.Split(shell(c.t, 1, "sh -i"), outs); rep != nil {
		t.Fatalf("different alert suppressed on %v", rep)
	}
	// Other rule, host, priority or source: different keys.
	for name, mut := range map[string]func(*alert.Alert){
		"rule":     func(a *alert.Alert) { a.Rule = "Other" },
		"hostname": func(a *alert.Alert) { a.Hostname = "node-2" },
		"priority": func(a *alert.Alert) { a.Priority = alert.PriorityCritical },
		"source":   func(a *alert.Alert) { a.Source = "k8s_audit" },
		"type":     func(a *alert.Alert) { a.OutputFields["user.uid"] = "0" },
	} {
		x := shell(c.t, 1, "bash")
		mut(x)
		if KeyOf(x) == k {
			t.Errorf("changing %s kept the key", name)
		}
	}
	// An empty source is Falco's default, syscall.
	x := shell(c.t, 1, "bash")
	x.Source = "syscall"
	if KeyOf(x) != k {
		t.Error("source syscall and empty source differ")
	}

	// After the window the alert goes again.
	c.t = c.t.Add(10 * time.Minute)
	if keep, _, _ := f.Split(b, outs); !slices.Equal(keep, outs) {
		t.Fatalf("after the window: keep %v", keep)
	}
}

// An alert that was not accepted (Split without Accepted, as after a 503)
// is not remembered: the sender's retry goes through.
func TestNotAcceptedNotRemembered(t *testing.T) {
	f := New(map[string]time.Duration{"slack": time.Hour})
	a := shell(time.Now(), 1, "bash")
	f.Split(a, []string{"slack"})
	if keep, _, _ := f.Split(a, []string{"slack"}); len(keep) != 1 {
		t.Fatal("retry of a refused alert suppressed")
	}
}

func TestNoWindowsIsNil(t *testing.T) {
	f := New(map[string]time.Duration{"slack": 0})
	if f != nil {
		t.Fatal("filter without windows")
	}
	outs := []string{"slack"}
	if keep, rep, _ := f.Split(shell(time.Now(), 1, "bash"), outs); !slices.Equal(keep, outs) || rep != nil {
		t.Fatal("nil filter filtered")
	}
	f.Accepted(Key{}, outs) // no panic
}

// When the table is full of live keys, new keys are not remembered, so
// their repeats pass rather than being dropped; expired keys are swept.
func TestBounded(t *testing.T) {
	c := &clock{t: time.Now()}
	f := New(map[string]time.Duration{"slack": time.Minute})
	f.now = c.now
	for i := range MaxKeys {
		f.Accepted(Key{byte(i), byte(i >> 8), byte(i >> 16)}, []string{"slack"})
	}
	if f.Len() != MaxKeys {
		t.Fatalf("len %d", f.Len())
	}
	a := shell(c.t, 1, "bash")
	_, _, k := f.Split(a, []string{"slack"})
	f.Accepted(k, []string{"slack"})
	if _, rep, _ := f.Split(a, []string{"slack"}); rep != nil {
		t.Fatal("a full table remembered a new key")
	}
	c.t = c.t.Add(2 * time.Minute)
	f.Accepted(k, []string{"slack"})
	if f.Len() != 1 {
		t.Fatalf("after the sweep: len %d, want 1", f.Len())
	}
	if _, rep, _ := f.Split(a, []string{"slack"}); len(rep) != 1 {
		t.Fatal("key not remembered once there was room")
	}
}
