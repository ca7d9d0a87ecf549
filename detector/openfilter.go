package detector

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/nightjar-sec/nightjar/bpf"
	"github.com/nightjar-sec/nightjar/rules"
	"github.com/nightjar-sec/nightjar/rules/filter"
)

// The kernel-side open filter: most opens on a busy host are of files no
// rule looks at, and sending each one (and its close) through the ring
// buffer is most of the capture's cost on an open-heavy workload. From the
// enabled rules' conditions, openFilter works out which opens some rule
// could match, by the path (fd.name, fd.directory, fd.nameraw) and by the
// class (read/write access, success/failure: evt.is_open_read/write,
// fd.num, evt.res, ...); bpf.OpenFilter has the kernel drop the others.
//
// The analysis is an over-approximation: for each rule, a condition that
// is necessary for it to match an open event. Anything it does not
// understand (another field, an operator, a negation of a path test) is
// taken as "could be anything", so a rule is never starved of an event it
// could match; at worst the filter lets more through. Opens that state
// tracking needs are sent whatever the filter (see bpf.OpenFilter).

// openTypes are the event types whose events the filter decides on.
var openTypes = map[string]bool{"open": true, "openat": true, "openat2": true, "creat": true}

// openNeed is what a condition needs of an open event for it to be true:
// its class in classes and, unless anyPath, its path matching one of paths
// or its process name (comm) being one of comms. exact says that classes
// is exactly where the condition is true (it tests the class only), so
// that its negation is the complement.
type openNeed struct {
	anyPath bool
	paths   []bpf.OpenPath // Classes unset: the need's classes apply
	comms   []string
	classes bpf.OpenClass
	exact   bool
}

func needAny() openNeed  { return openNeed{anyPath: true, classes: bpf.OpenAll} }
func needNone() openNeed { return openNeed{} } // true for no open that can be dropped

func needClasses(c bpf.OpenClass) openNeed {
	return openNeed{anyPath: true, classes: c, exact: true}
}

func needPaths(ps ...bpf.OpenPath) openNeed {
	if len(ps) == 0 {
		return needNone()
	}
	return openNeed{paths: ps, classes: bpf.OpenAll}
}

func (n openNeed) none() bool {
	return n.classes == 0 || (!n.anyPath && len(n.paths) == 0 && len(n.comms) == 0)
}

func (n openNeed) and(m openNeed) openNeed {
	if n.none() || m.none() {
		return needNone()
	}
	out := openNeed{classes: n.classes & m.classes, exact: n.exact && m.exact}
	// Either side's restriction is a necessary condition: keep the narrower.
	switch {
	case n.anyPath && m.anyPath:
		out.anyPath = true
	case n.anyPath:
		out.paths, out.comms = m.paths, m.comms
	case m.anyPath:
		out.paths, out.comms = n.paths, n.comms
	case m.breadth() < n.breadth():
		out.paths, out.comms = m.paths, m.comms
	default:
		out.paths, out.comms = n.paths, n.comms
	}
	if out.classes == 0 {
		return needNone()
	}
	return out
}

// breadth ranks restrictions by how many opens they admit, roughly: a
// directory admits more than a file, a prefix more than a directory, and a
// command about as much as a directory.
func (n openNeed) breadth() int {
	b := 20 * len(n.comms)
	for _, p := range n.paths {
		switch p.Match {
		case bpf.PathExact:
			b++
		case bpf.PathDir:
			b += 20
		default:
			b += 100
		}
	}
	return b
}

func (n openNeed) or(m openNeed) openNeed {
	if n.none() {
		return m
	}
	if m.none() {
		return n
	}
	out := openNeed{classes: n.classes | m.classes, anyPath: n.anyPath || m.anyPath,
		exact: n.exact && m.exact}
	if !out.anyPath {
		out.paths = append(append([]bpf.OpenPath(nil), n.paths...), m.paths...)
		out.comms = append(append([]string(nil), n.comms...), m.comms...)
	}
	return out
}

func (n openNeed) not() openNeed {
	if n.exact {
		return needClasses(bpf.OpenAll &^ n.classes)
	}
	return needAny()
}

// openNeedOf analyses a condition with macros and lists expanded.
func openNeedOf(e filter.Expr) openNeed {
	switch e := e.(type) {
	case *filter.And:
		n := needAny()
		for _, c := range e.Children {
			n = n.and(openNeedOf(c))
		}
		return n
	case *filter.Or:
		n := needNone()
		for _, c := range e.Children {
			n = n.or(openNeedOf(c))
		}
		return n
	case *filter.Not:
		return openNeedOf(e.X).not()
	case *filter.Check:
		return checkNeed(e)
	}
	return needAny()
}

// values returns the literal right side of a check (nil for a field).
func values(c *filter.Check) []string {
	switch r := c.Right.(type) {
	case *filter.Value:
		return []string{r.Text}
	case *filter.List:
		out := make([]string, len(r.Items))
		for i, v := range r.Items {
			out[i] = v.Text
		}
		return out
	}
	return nil
}

// unclean reports whether a path containing s is always sent: the kernel
// sends every path with "..", "//" or "/./" in it.
func unclean(s string) bool {
	return strings.Contains(s, "..") || strings.Contains(s, "//") || strings.Contains(s, "/./")
}

func checkNeed(c *filter.Check) openNeed {
	ref, ok := c.Left.(*filter.FieldRef)
	if !ok || ref.HasArg {
		return needAny()
	}
	vals := values(c)
	if vals == nil && c.Op != "exists" {
		return needAny() // compared with another field
	}
	one := len(vals) == 1
	switch ref.Name {
	case "evt.type":
		if c.Op == "=" || c.Op == "==" || c.Op == "in" || c.Op == "intersects" {
			for _, v := range vals {
				// close too: the close of a dropped open is dropped,
				// so a rule on closes needs the opens it would see.
				if openTypes[v] || v == "close" {
					return needAny()
				}
			}
			return needNone()
		}
	case "evt.is_open_read", "evt.is_open_write":
		c1 := bpf.OpenReads
		if ref.Name == "evt.is_open_write" {
			c1 = bpf.OpenWrites
		}
		if one && (c.Op == "=" || c.Op == "==" || c.Op == "!=") {
			if b, err := strconv.ParseBool(vals[0]); err == nil {
				if b == (c.Op == "!=") {
					c1 = bpf.OpenAll &^ c1
				}
				return needClasses(c1)
			}
		}
	case "evt.failed":
		if one && (c.Op == "=" || c.Op == "==" || c.Op == "!=") {
			if b, err := strconv.ParseBool(vals[0]); err == nil {
				if b == (c.Op == "!=") {
					return needClasses(bpf.OpenSucceeded)
				}
				return needClasses(bpf.OpenFailed)
			}
		}
	case "evt.res":
		switch {
		case one && (c.Op == "=" || c.Op == "==") && vals[0] == "SUCCESS":
			return needClasses(bpf.OpenSucceeded)
		case one && c.Op == "!=" && vals[0] == "SUCCESS":
			return needClasses(bpf.OpenFailed)
		case one && (c.Op == "startswith" || c.Op == "=" || c.Op == "==") && strings.HasPrefix(vals[0], "E"):
			return needClasses(bpf.OpenFailed).inexact()
		}
	case "fd.num", "evt.rawres":
		// An open's fd.num and evt.rawres are its result: the fd, or
		// negative when it failed (fd.num -1).
		if one {
			if v, err := strconv.ParseInt(vals[0], 10, 64); err == nil {
				return resultNeed(c.Op, v)
			}
		}
	case "proc.name":
		// proc.name is the task's comm, at most 15 bytes: a longer value
		// never equals it.
		if c.Op == "=" || c.Op == "==" || c.Op == "in" || c.Op == "intersects" {
			n := openNeed{classes: bpf.OpenAll}
			for _, v := range vals {
				if v != "" && len(v) <= 15 {
					n.comms = append(n.comms, v)
				}
			}
			return n
		}
	case "fd.name":
		return pathNeed(fdName, c.Op, vals)
	case "fd.nameraw":
		return pathNeed(fdNameRaw, c.Op, vals)
	case "fd.directory":
		return pathNeed(fdDirectory, c.Op, vals)
	}
	return needAny()
}

func (n openNeed) inexact() openNeed { n.exact = false; return n }

// resultNeed is the need of "<result> op v" for an open's result.
func resultNeed(op string, v int64) openNeed {
	ok, failed := needClasses(bpf.OpenSucceeded), needClasses(bpf.OpenFailed)
	switch op {
	case ">=":
		if v == 0 {
			return ok
		}
		if v > 0 {
			return ok.inexact()
		}
	case ">":
		if v == -1 {
			return ok
		}
		if v > -1 {
			return ok.inexact()
		}
	case "<":
		if v == 0 {
			return failed
		}
		if v < 0 {
			return failed.inexact()
		}
	case "<=":
		if v == -1 {
			return failed
		}
		if v < -1 {
			return failed.inexact()
		}
	case "=", "==":
		if v >= 0 {
			return ok.inexact()
		}
		return failed.inexact()
	}
	return needAny()
}

// globPrefix is the literal start of a glob pattern, and whether the
// pattern is all literal.
func globPrefix(p string) (string, bool) {
	if i := strings.IndexAny(p, `*?[\`); i >= 0 {
		return p[:i], false
	}
	return p, true
}

// pathField is which of the path fields a check tests.
type pathField int

const (
	fdName      pathField = iota // clean: what rules compare
	fdNameRaw                    // as the process gave it: what the kernel compares
	fdDirectory                  // the directory part of fd.name (the name itself for an O_DIRECTORY open, always sent)
)

// pathNeed is the need of a check on a path field. Values that are not
// absolute paths match only relative opens, which are always sent.
func pathNeed(f pathField, op string, vals []string) openNeed {
	var ps []bpf.OpenPath
	add := func(p string, m bpf.PathMatch) {
		if strings.HasPrefix(p, "/") {
			ps = append(ps, bpf.OpenPath{Path: p, Match: m})
		}
	}
	equal := bpf.PathExact
	if f == fdDirectory {
		equal = bpf.PathDir
	}
	switch op {
	case "=", "==", "in", "intersects":
		for _, v := range vals {
			add(v, equal)
		}
		return needPaths(ps...)
	case "startswith":
		// A directory starting with v is the start of the name too.
		for _, v := range vals {
			if v == "" {
				return needAny()
			}
			add(v, bpf.PathPrefix)
		}
		return needPaths(ps...)
	case "pmatch":
		if f == fdNameRaw {
			break
		}
		for _, v := range vals {
			v = path.Clean(v)
			if v == "/" {
				return needAny()
			}
			if f == fdName {
				add(v, bpf.PathExact)
			}
			add(v+"/", bpf.PathPrefix)
		}
		return needPaths(ps...)
	case "glob":
		if f == fdDirectory {
			break
		}
		for _, v := range vals {
			pre, literal := globPrefix(v)
			switch {
			case pre == "":
				return needAny()
			case literal:
				add(pre, bpf.PathExact)
			default:
				add(pre, bpf.PathPrefix)
			}
		}
		return needPaths(ps...)
	case "contains":
		if f != fdDirectory && len(vals) == 1 && unclean(vals[0]) {
			return needNone()
		}
	}
	return needAny()
}

// fdTableField reports whether a field reads the whole fd table of a process, which a filtered
// open would leave incomplete.
func fdTableField(name string) bool {
	return strings.HasPrefix(name, "fdlist.") || name == "proc.fdopencount" || name == "proc.fdusage"
}

// usesField reports whether the condition references a field for which
// match returns true.
func usesField(e filter.Expr, match func(string) bool) bool {
	switch e := e.(type) {
	case *filter.And:
		for _, c := range e.Children {
			if usesField(c, match) {
				return true
			}
		}
	case *filter.Or:
		for _, c := range e.Children {
			if usesField(c, match) {
				return true
			}
		}
	case *filter.Not:
		return usesField(e.X, match)
	case *filter.Check:
		return usesField(e.Left, match) || (e.Right != nil && usesField(e.Right, match))
	case *filter.Transform:
		return usesField(e.X, match)
	case *filter.FieldRef:
		return match(e.Name)
	}
	return false
}

// openFilter returns the kernel-side open filter for the enabled syscall
// rules, or nil and the reason when every open must be sent.
func openFilter(rs *rules.Ruleset) (*bpf.OpenFilter, string) {
	f := &bpf.OpenFilter{}
	for _, r := range rs.Rules() {
		if !r.Enabled || r.Source != "syscall" {
			continue
		}
		e := r.Expr()
		if usesField(e, fdTableField) {
			return nil, fmt.Sprintf("rule %q reads the whole fd table of a process", r.Name)
		}
		// A rule on close events sees the fds the filter's opens made: the
		// close of a dropped open is dropped too, so such a rule asks for
		// opens as if it were on them.
		names, all := r.EventTypes()
		if !all && !anyOpenType(names) && !slices.Contains(names, "close") {
			continue
		}
		n := openNeedOf(e)
		switch {
		case n.none():
		case n.anyPath:
			f.Any |= n.classes
		default:
			for _, p := range n.paths {
				p.Classes = n.classes
				f.Paths = append(f.Paths, p)
			}
			for _, c := range n.comms {
				f.Comms = append(f.Comms, bpf.OpenComm{Comm: c, Classes: n.classes})
			}
		}
		if f.Any == bpf.OpenAll {
			return nil, fmt.Sprintf("rule %q may match an open of any path", r.Name)
		}
	}
	f.Paths = mergePaths(f.Paths)
	return f, ""
}

// mergePaths joins the entries several rules ask for (Falco's rules name
// /etc/shadow three times), keeping the first one's place.
func mergePaths(ps []bpf.OpenPath) []bpf.OpenPath {
	type key struct {
		path  string
		match bpf.PathMatch
	}
	at := map[key]int{}
	var out []bpf.OpenPath
	for _, p := range ps {
		k := key{p.Path, p.Match}
		if i, ok := at[k]; ok {
			out[i].Classes |= p.Classes
			continue
		}
		at[k] = len(out)
		out = append(out, p)
	}
	return out
}

func anyOpenType(names []string) bool {
	for _, n := range names {
		if openTypes[n] {
			return true
		}
	}
	return false
}
