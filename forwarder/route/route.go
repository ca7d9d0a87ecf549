// Package route decides which outputs receive an alert.
//
// Semantics (docs/routing.md is the user's version):
//
//   - With no routes, every output receives every alert at or above its own
//     minimumpriority: falcosidekick's behaviour.
//   - Routes are tried in order. A route matches when every condition it sets
//     holds (an empty match matches everything): priority is a threshold
//     ("warning" matches Warning and more severe), tags_any needs one of the
//     tags, tags_all needs all of them, rule is a glob over the rule name
//     (path.Match syntax, where '*' also crosses '/'), source is the event
//     source exactly (syscall, k8s_audit, ...; an alert without one is
//     syscall, Falco's default).
//   - The first matching route wins, unless it sets continue: true, in which
//     case the following routes are tried too. The alert goes to the union of
//     the outputs of the routes that matched.
//   - Outputs that no route names keep falcosidekick's behaviour: they
//     receive every alert at or above their minimumpriority. Adding routes
//     for Slack thus never silently stops the webhook.
//   - An output's own minimumpriority always applies, also when a route
//     names it.
//   - An alert that matches no route reaches only the outputs no route names.
package route

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/nightjar-sec/nightjar/alert"
)

// Route is one entry of the routes list.
type Route struct {
	Name     string   `yaml:"name,omitempty" json:"name"`
	Match    Match    `yaml:"match,omitempty" json:"match"`
	Outputs  []string `yaml:"outputs" json:"outputs"`
	Continue bool     `yaml:"continue,omitempty" json:"continue"`
}

// Match holds a route's conditions; unset ones always hold.
type Match struct {
	Priority *alert.Priority `yaml:"priority,omitempty" json:"priority,omitempty"`
	TagsAny  []string        `yaml:"tags_any,omitempty" json:"tags_any,omitempty"`
	TagsAll  []string        `yaml:"tags_all,omitempty" json:"tags_all,omitempty"`
	Rule     string          `yaml:"rule,omitempty" json:"rule,omitempty"`
	Source   string          `yaml:"source,omitempty" json:"source,omitempty"`
}

// Output is what the router knows of an enabled output.
type Output struct {
	Name            string
	MinimumPriority alert.Priority
}

// Router decides destinations. It is immutable and safe for concurrent use.
type Router struct {
	routes   []compiled
	outputs  []Output
	byName   map[string]int
	unrouted []int // outputs that no route names, in output order
}

type compiled struct {
	Route
	outs []int
}

// slash stands in for '/' so that a rule glob's '*' also matches across it:
// rule names are not paths.
const slash = "\uE000"

// New checks the routes against the enabled outputs. Errors name the
// route's position: routes[2].outputs.
func New(routes []Route, outs []Output) (*Router, error) {
	r := &Router{outputs: outs, byName: map[string]int{}}
	for i, o := range outs {
		r.byName[o.Name] = i
	}
	named := make([]bool, len(outs))
	for i, rt := range routes {
		key := fmt.Sprintf("routes[%d]", i)
		if rt.Name != "" {
			key = fmt.Sprintf("routes[%d] (%s)", i, rt.Name)
		}
		if len(rt.Outputs) == 0 {
			return nil, fmt.Errorf("%s.outputs: a route must name at least one output", key)
		}
		c := compiled{Route: rt}
		for _, name := range rt.Outputs {
			j, ok := r.byName[name]
			if !ok {
				return nil, fmt.Errorf("%s.outputs: unknown output %q (enabled outputs: %s)", key, name, r.names())
			}
			if !slices.Contains(c.outs, j) {
				c.outs = append(c.outs, j)
			}
			named[j] = true
		}
		if rt.Match.Priority != nil && !rt.Match.Priority.Valid() {
			return nil, fmt.Errorf("%s.match.priority: invalid priority", key)
		}
		if rt.Match.Rule != "" {
			if _, err := path.Match(toGlob(rt.Match.Rule), ""); err != nil {
				return nil, fmt.Errorf("%s.match.rule: malformed glob %q", key, rt.Match.Rule)
			}
		}
		r.routes = append(r.routes, c)
	}
	for i := range outs {
		if !named[i] {
			r.unrouted = append(r.unrouted, i)
		}
	}
	return r, nil
}

func (r *Router) names() string {
	if len(r.outputs) == 0 {
		return "none"
	}
	n := make([]string, len(r.outputs))
	for i, o := range r.outputs {
		n[i] = o.Name
	}
	return strings.Join(n, ", ")
}

func toGlob(s string) string { return strings.ReplaceAll(s, "/", slash) }

// matches reports whether the alert meets every condition of m, and if not,
// which condition failed.
func (m *Match) matches(a *alert.Alert) (bool, string) {
	if m.Priority != nil && !a.Priority.AtLeast(*m.Priority) {
		return false, fmt.Sprintf("priority %s is below %s", a.Priority, *m.Priority)
	}
	if m.Source != "" {
		src := a.Source
		if src == "" {
			src = "syscall" // older Falco versions leave out the default source
		}
		if src != m.Source {
			return false, fmt.Sprintf("source %q is not %q", src, m.Source)
		}
	}
	if m.Rule != "" {
		if ok, _ := path.Match(toGlob(m.Rule), toGlob(a.Rule)); !ok {
			return false, fmt.Sprintf("rule %q does not match %q", a.Rule, m.Rule)
		}
	}
	if len(m.TagsAny) > 0 && !slices.ContainsFunc(m.TagsAny, func(t string) bool { return slices.Contains(a.Tags, t) }) {
		return false, fmt.Sprintf("no tag of %v", m.TagsAny)
	}
	for _, t := range m.TagsAll {
		if !slices.Contains(a.Tags, t) {
			return false, fmt.Sprintf("tag %q missing", t)
		}
	}
	return true, ""
}

// Outputs returns the names of the outputs the alert goes to, in output
// order. It is the hot path: it allocates only the result.
func (r *Router) Outputs(a *alert.Alert) []string {
	var sel []bool
	if len(r.routes) > 0 {
		sel = make([]bool, len(r.outputs))
		for i := range r.routes {
			rt := &r.routes[i]
			if ok, _ := rt.Match.matches(a); !ok {
				continue
			}
			for _, j := range rt.outs {
				sel[j] = true
			}
			if !rt.Continue {
				break
			}
		}
	}
	var out []string
	for j, o := range r.outputs {
		if !a.Priority.AtLeast(o.MinimumPriority) {
			continue
		}
		if sel == nil || sel[j] || slices.Contains(r.unrouted, j) {
			out = append(out, o.Name)
		}
	}
	return out
}

// Explanation says where an alert goes and why, for `routes test`.
type Explanation struct {
	Routes   []RouteResult `json:"routes"`
	Outputs  []Delivery    `json:"outputs"`
	Filtered []Delivery    `json:"filtered"`
}

// RouteResult is one route's verdict.
type RouteResult struct {
	Index   int    `json:"index"`
	Name    string `json:"name,omitempty"`
	Matched bool   `json:"matched"`
	// Reason says why a route did not match, or that it was not tried
	// because an earlier match stopped the walk.
	Reason string `json:"reason,omitempty"`
}

// Delivery is one output the alert reaches (Via says through what) or
// would have reached but for the output's threshold (Reason says why).
type Delivery struct {
	Output string `json:"output"`
	// Via is "route <name or index>" (several joined by ", ") or
	// "default" for an output that no route names.
	Via    string `json:"via"`
	Reason string `json:"reason,omitempty"`
}

// Explain walks the routes as Outputs does, recording every decision.
func (r *Router) Explain(a *alert.Alert) Explanation {
	var e Explanation
	via := make([][]string, len(r.outputs))
	stopped := false
	for i := range r.routes {
		rt := &r.routes[i]
		res := RouteResult{Index: i, Name: rt.Name}
		if stopped {
			res.Reason = "not tried: an earlier route matched without continue"
			e.Routes = append(e.Routes, res)
			continue
		}
		ok, why := rt.Match.matches(a)
		res.Matched, res.Reason = ok, why
		e.Routes = append(e.Routes, res)
		if !ok {
			continue
		}
		label := fmt.Sprintf("route %d", i)
		if rt.Name != "" {
			label = "route " + rt.Name
		}
		for _, j := range rt.outs {
			via[j] = append(via[j], label)
		}
		stopped = !rt.Continue
	}
	for _, j := range r.unrouted {
		via[j] = append(via[j], "default")
	}
	for j, o := range r.outputs {
		if len(via[j]) == 0 {
			continue
		}
		d := Delivery{Output: o.Name, Via: strings.Join(via[j], ", ")}
		if !a.Priority.AtLeast(o.MinimumPriority) {
			d.Reason = fmt.Sprintf("priority %s is below the output's minimumpriority %s", a.Priority, o.MinimumPriority)
			e.Filtered = append(e.Filtered, d)
			continue
		}
		e.Outputs = append(e.Outputs, d)
	}
	return e
}
