package route

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

func prio(p alert.Priority) *alert.Priority { return &p }

func mk(p alert.Priority, rule, source string, tags ...string) *alert.Alert {
	return &alert.Alert{Priority: p, Rule: rule, Source: source, Tags: tags, Time: time.Now(), Output: "x"}
}

func TestNoRoutesIsFalcosidekick(t *testing.T) {
	r, err := New(nil, []Output{{"slack", alert.PriorityWarning}, {"webhook", alert.PriorityDebug}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Outputs(mk(alert.PriorityNotice, "r", "syscall")); !slices.Equal(got, []string{"webhook"}) {
		t.Fatalf("notice -> %v", got)
	}
	if got := r.Outputs(mk(alert.PriorityWarning, "r", "syscall")); !slices.Equal(got, []string{"slack", "webhook"}) {
		t.Fatalf("warning -> %v", got)
	}
}

func TestRoutingTable(t *testing.T) {
	outs := []Output{{"pager", alert.PriorityDebug}, {"chat", alert.PriorityDebug}, {"k8s-team", alert.PriorityNotice},
		{"archive", alert.PriorityDebug}, {"audit", alert.PriorityError}}
	routes := []Route{
		{Name: "critical", Match: Match{Priority: prio(alert.PriorityCritical)}, Outputs: []string{"pager"}, Continue: true},
		{Name: "k8s", Match: Match{Source: "k8s_audit"}, Outputs: []string{"k8s-team"}},
		{Name: "shells", Match: Match{Rule: "*shell*", TagsAny: []string{"container", "host"}}, Outputs: []string{"chat", "audit"}},
		{Name: "mitre", Match: Match{TagsAll: []string{"mitre", "network"}}, Outputs: []string{"audit"}},
		{Name: "rest", Outputs: []string{"chat"}},
	}
	r, err := New(routes, outs)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		a    *alert.Alert
		want []string
	}{
		// archive is named by no route: it gets everything (falcosidekick).
		{"critical continues to rest", mk(alert.PriorityCritical, "r", "syscall"), []string{"pager", "chat", "archive"}},
		{"critical k8s stops at k8s", mk(alert.PriorityCritical, "r", "k8s_audit"), []string{"pager", "k8s-team", "archive"}},
		{"k8s below output threshold", mk(alert.PriorityInformational, "r", "k8s_audit"), []string{"archive"}},
		{"shell in container, audit threshold filters", mk(alert.PriorityWarning, "Terminal shell in container", "syscall", "container"), []string{"chat", "archive"}},
		{"shell error reaches audit", mk(alert.PriorityError, "Terminal shell in container", "syscall", "host"), []string{"chat", "archive", "audit"}},
		{"shell glob needs a tag", mk(alert.PriorityError, "Terminal shell in container", "syscall", "other"), []string{"chat", "archive"}},
		{"tags_all needs all", mk(alert.PriorityError, "r", "syscall", "mitre"), []string{"chat", "archive"}},
		{"tags_all", mk(alert.PriorityError, "r", "syscall", "network", "mitre"), []string{"archive", "audit"}},
		{"glob crosses slash", mk(alert.PriorityError, "Write below /etc shell", "syscall", "host"), []string{"chat", "archive", "audit"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := r.Outputs(c.a)
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			// Explain must agree with the hot path.
			var ex []string
			for _, d := range r.Explain(c.a).Outputs {
				ex = append(ex, d.Output)
			}
			slices.Sort(ex)
			if !slices.Equal(ex, want) {
				t.Fatalf("Explain says %v, Outputs says %v", ex, got)
			}
		})
	}
}

func TestMissingSourceIsSyscall(t *testing.T) {
	r, err := New([]Route{{Match: Match{Source: "syscall"}, Outputs: []string{"a"}}}, []Output{{"a", 0}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Outputs(mk(alert.PriorityDebug, "r", "")); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("got %v", got)
	}
}

func TestNoMatchReachesOnlyUnnamed(t *testing.T) {
	r, err := New([]Route{{Match: Match{Source: "k8s_audit"}, Outputs: []string{"a"}}}, []Output{{"a", 0}, {"b", 0}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Outputs(mk(alert.PriorityEmergency, "r", "syscall")); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("got %v", got)
	}
}

func TestExplain(t *testing.T) {
	r, err := New([]Route{
		{Name: "crit", Match: Match{Priority: prio(alert.PriorityCritical)}, Outputs: []string{"pager"}},
		{Name: "all", Outputs: []string{"chat", "pager"}},
	}, []Output{{"pager", alert.PriorityDebug}, {"chat", alert.PriorityWarning}, {"hook", alert.PriorityError}})
	if err != nil {
		t.Fatal(err)
	}
	e := r.Explain(mk(alert.PriorityNotice, "r", "syscall"))
	if e.Routes[0].Matched || !strings.Contains(e.Routes[0].Reason, "below Critical") || !e.Routes[1].Matched {
		t.Fatalf("routes %+v", e.Routes)
	}
	if len(e.Outputs) != 1 || e.Outputs[0].Output != "pager" || e.Outputs[0].Via != "route all" {
		t.Fatalf("outputs %+v", e.Outputs)
	}
	if len(e.Filtered) != 2 || e.Filtered[0].Output != "chat" || !strings.Contains(e.Filtered[0].Reason, "minimumpriority Warning") ||
		e.Filtered[1].Via != "default" {
		t.Fatalf("filtered %+v", e.Filtered)
	}
	e = r.Explain(mk(alert.PriorityCritical, "r", "syscall"))
	if !e.Routes[0].Matched || e.Routes[1].Matched || !strings.Contains(e.Routes[1].Reason, "not tried") {
		t.Fatalf("routes %+v", e.Routes)
	}
}

func TestNewErrors(t *testing.T) {
	outs := []Output{{"a", 0}}
	cases := []struct {
		routes []Route
		want   string
	}{
		{[]Route{{Outputs: []string{"b"}}}, `routes[0].outputs: unknown output "b" (enabled outputs: a)`},
		{[]Route{{Name: "x", Outputs: nil}}, "routes[0] (x).outputs: a route must name"},
		{[]Route{{Outputs: []string{"a"}, Match: Match{Rule: "[a"}}}, "routes[0].match.rule: malformed glob"},
	}
	for _, c := range cases {
		if _, err := New(c.routes, outs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want %q", c.routes, err, c.want)
		}
	}
}

func BenchmarkOutputs(b *testing.B) {
	r, _ := New([]Route{
		{Match: Match{Priority: prio(alert.PriorityCritical)}, Outputs: []string{"pager"}, Continue: true},
		{Match: Match{Rule: "*shell*", TagsAny: []string{"container"}}, Outputs: []string{"chat"}},
		{Outputs: []string{"chat"}},
	}, []Output{{"pager", 0}, {"chat", 0}, {"hook", 0}})
	a := mk(alert.PriorityWarning, "Terminal shell in container", "syscall", "container", "shell")
	b.ReportAllocs()
	for b.Loop() {
		r.Outputs(a)
	}
}
