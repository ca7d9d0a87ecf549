package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// Loader reads rule files in order and keeps the lists, macros and rules
// they define, with Falco's semantics for redefinition, append and
// override. Compile turns what was loaded into a Ruleset.
type Loader struct {
	sources map[string]*field.Source

	lists   []*listDef
	macros  []*macroDef
	rules   []*ruleDef
	listBy  map[string]*listDef
	macroBy map[string]*macroDef
	ruleBy  map[string]*ruleDef

	// EngineVersions and PluginVersions record what files require (Falco's
	// required_engine_version and required_plugin_versions).
	EngineVersions []string
	PluginVersions []PluginRequirement

	files []string // in load order, for sorting messages
	errs  Errors
	warns []Warning
	seen  map[string]bool // error and warning texts already reported
}

// PluginRequirement is one entry of required_plugin_versions.
type PluginRequirement struct {
	Name         string
	Version      string
	Alternatives []PluginRequirement
	File         string
	Line         int
}

type listDef struct {
	name  string
	items []string
	file  string
	line  int
	col   int
	used  bool
}

type macroDef struct {
	name string
	cond text
	file string
	line int
	col  int
}

type ruleDef struct {
	name         string
	desc         string
	cond         text
	output       text
	priority     alert.Priority
	source       string
	enabled      bool
	tags         []string
	exceptions   []*exceptionDef
	warnEvttypes bool
	skipUnknown  bool
	capture      bool
	captureDur   int
	broken       bool // had load errors: compiled only to report more
	file         string
	line         int
	col          int
}

// exceptionDef is one entry of a rule's exceptions.
type exceptionDef struct {
	name   string
	fields strOrList
	comps  strOrList
	values []exValue
	file   string
	line   int
	col    int
}

// strOrList is a key that may be a single string or a list of strings.
type strOrList struct {
	set    bool
	isList bool
	item   string
	items  []string
}

// exValue is one entry of an exception's values: a string, or a list (a
// tuple for multi-field exceptions, or a list of values for one field).
type exValue struct {
	isList    bool
	item      string
	items     []exValue
	line, col int // where it is written, for errors
}

// NewLoader returns a loader for rules over the given sources. A rule whose
// source is not among them is skipped with a warning, as Falco does.
func NewLoader(sources ...*field.Source) *Loader {
	l := &Loader{sources: map[string]*field.Source{}, listBy: map[string]*listDef{},
		macroBy: map[string]*macroDef{}, ruleBy: map[string]*ruleDef{}, seen: map[string]bool{}}
	for _, s := range sources {
		l.sources[s.Name] = s
	}
	return l
}

// Warnings returns the warnings found so far.
func (l *Loader) Warnings() []Warning { return l.warns }

// Errors returns the errors found so far.
func (l *Loader) Errors() Errors { return l.errs }

// LoadPath loads a file, or every *.yaml and *.yml file of a directory in
// sorted order (not recursing), as Falco's -r does.
func (l *Loader) LoadPath(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return l.fileError(path, fmt.Sprintf("cannot read rules: %v", unwrapPath(err)))
	}
	if !st.IsDir() {
		return l.LoadFile(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return l.fileError(path, fmt.Sprintf("cannot read rules directory: %v", unwrapPath(err)))
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var all Errors
	for _, n := range names {
		var es Errors
		if errors.As(l.LoadFile(filepath.Join(path, n)), &es) {
			all = append(all, es...)
		}
	}
	if len(all) > 0 {
		return all
	}
	return nil
}

// LoadDir is LoadPath for a directory.
func (l *Loader) LoadDir(dir string) error { return l.LoadPath(dir) }

// LoadFile loads one rules file.
func (l *Loader) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return l.fileError(path, fmt.Sprintf("cannot read rules file: %v", unwrapPath(err)))
	}
	return l.Load(path, data)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (l *Loader) fileError(file, msg string) error {
	e := &Error{File: file, Msg: msg}
	l.errs = append(l.errs, e)
	return Errors{e}
}

// EngineVersion is the Falco rules engine version this loader is
// compatible with, checked against required_engine_version.
const EngineVersion = "0.57.0"

var engineVersion, _ = parseEngineVersion(EngineVersion)

// parseEngineVersion reads "0.57.0", or an old-style integer such as 15,
// which Falco reads as 0.15.0.
func parseEngineVersion(s string) ([3]int, bool) {
	var v [3]int
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return [3]int{0, n, 0}, true
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func compareVersions(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}

// Names Falco accepts for macros (an identifier) and lists (a bare word).
var (
	macroName = regexp.MustCompile(`^[a-zA-Z]+[a-zA-Z0-9_]*$`)
	listName  = regexp.MustCompile(`^[^()"'\s=,]+$`)
)

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// Load loads the rules in data, naming them after name in errors. It returns
// the errors found in this input (as Errors); they are also kept, and
// Compile reports every error found, so a caller may ignore this result and
// rely on Compile's.
func (l *Loader) Load(name string, data []byte) error {
	before := len(l.errs)
	l.load(name, data)
	if len(l.errs) > before {
		return slices.Clone(l.errs[before:])
	}
	return nil
}

func (l *Loader) load(name string, data []byte) {
	l.files = append(l.files, name)
	// A file may hold several YAML documents (---), as Falco reads them;
	// all are parsed before any is used, so a syntax error loads nothing.
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		doc := &yaml.Node{}
		err := dec.Decode(doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			msg := err.Error()
			line := 0
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = msg[len(m[0]):]
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			l.addError(&Error{File: name, Line: line, Msg: "invalid YAML: " + msg})
			return
		}
		docs = append(docs, doc)
	}
	f := &fileCtx{l: l, name: name, lines: strings.Split(string(data), "\n")}
	for _, doc := range docs {
		if len(doc.Content) == 0 {
			continue // an empty document defines nothing, as in Falco
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		if root.Kind != yaml.SequenceNode {
			f.errf(root, "", "a rules file must be a YAML list of items (- rule: ..., - macro: ..., - list: ...), got %s", kindName(root))
			continue
		}
		for _, item := range root.Content {
			f.item(item)
		}
	}
}

// fileCtx decodes the items of one file.
type fileCtx struct {
	l     *Loader
	name  string
	lines []string
}

func (f *fileCtx) errf(n *yaml.Node, item, format string, args ...any) {
	e := &Error{File: f.name, Line: n.Line, Col: n.Column, Item: item, Msg: fmt.Sprintf(format, args...)}
	f.l.addError(e)
}

func (f *fileCtx) warnf(n *yaml.Node, item, format string, args ...any) {
	f.l.addWarning(Warning{File: f.name, Line: n.Line, Col: n.Column, Item: item, Msg: fmt.Sprintf(format, args...)})
}

func (l *Loader) addError(e *Error) {
	if k := "E" + e.Error(); !l.seen[k] {
		l.seen[k] = true
		l.errs = append(l.errs, e)
	}
}

func (l *Loader) addWarning(w Warning) {
	if k := "W" + w.String(); !l.seen[k] {
		l.seen[k] = true
		l.warns = append(l.warns, w)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// mapping is a decoded YAML mapping that remembers key and value nodes.
type mapping struct {
	keys  []string
	key   map[string]*yaml.Node
	value map[string]*yaml.Node
}

func (m *mapping) has(k string) bool { _, ok := m.value[k]; return ok }

func (f *fileCtx) mapping(n *yaml.Node, item string) (*mapping, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	m := &mapping{key: map[string]*yaml.Node{}, value: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			f.errf(k, item, "a key must be a string, got %s", kindName(k))
			continue
		}
		if _, dup := m.value[k.Value]; dup {
			f.errf(k, item, "key %q appears twice; keep one", k.Value)
			continue
		}
		m.keys = append(m.keys, k.Value)
		m.key[k.Value] = k
		m.value[k.Value] = v
	}
	return m, true
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// str reads a scalar string value.
func (f *fileCtx) str(m *mapping, key, item string) (string, bool) {
	v, ok := m.value[key]
	if !ok {
		return "", false
	}
	if v.Kind != yaml.ScalarNode {
		f.errf(v, item, "%s must be a string, got %s", key, kindName(v))
		return "", false
	}
	return v.Value, true
}

func (f *fileCtx) boolean(m *mapping, key, item string) (bool, bool) {
	v, ok := m.value[key]
	if !ok {
		return false, false
	}
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		f.errf(v, item, "%s must be true or false, got %s", key, kindName(v))
		return false, false
	}
	return b, true
}

// strings reads a list of scalars.
func (f *fileCtx) strings(m *mapping, key, item string) ([]string, bool) {
	v, ok := m.value[key]
	if !ok {
		return nil, false
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return []string{}, true
	}
	if v.Kind != yaml.SequenceNode {
		f.errf(v, item, "%s must be a list (e.g. %s: [a, b]), got %s", key, key, kindName(v))
		return nil, false
	}
	out := make([]string, 0, len(v.Content))
	for _, e := range v.Content {
		e = deref(e)
		if e.Kind != yaml.ScalarNode {
			f.errf(e, item, "%s must hold strings, got %s", key, kindName(e))
			return nil, false
		}
		out = append(out, e.Value)
	}
	return out, true
}

var itemKinds = []string{"rule", "macro", "list", "required_engine_version", "required_plugin_versions"}

var (
	listKeys  = []string{"list", "items", "append", "override"}
	macroKeys = []string{"macro", "condition", "append", "override", "desc", "source"}
	ruleKeys  = []string{"rule", "desc", "condition", "output", "priority", "source", "enabled", "tags",
		"exceptions", "override", "append", "warn_evttypes", "skip-if-unknown-filter", "capture",
		"capture_duration", "required_engine_version"}
)

// Override keys Falco allows, per item kind and action.
var (
	listAppendable   = []string{"items"}
	listReplaceable  = []string{"items"}
	macroAppendable  = []string{"condition"}
	macroReplaceable = []string{"condition"}
	ruleAppendable   = []string{"condition", "output", "desc", "tags", "exceptions"}
	ruleReplaceable  = []string{"condition", "output", "desc", "priority", "tags", "exceptions",
		"enabled", "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration"}
)

func (f *fileCtx) item(n *yaml.Node) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty entry ("-"), skipped as Falco does
	}
	m, ok := f.mapping(n, "")
	if !ok {
		f.errf(n, "", "each item must be a mapping such as \"- rule: NAME\", \"- macro: NAME\" or \"- list: NAME\", got %s", kindName(n))
		return
	}
	switch {
	case m.has("required_engine_version"):
		v := m.value["required_engine_version"]
		if v.Kind != yaml.ScalarNode {
			f.errf(v, "required_engine_version", "must be a version such as 0.50.0, got %s", kindName(v))
			return
		}
		f.l.EngineVersions = append(f.l.EngineVersions, v.Value)
		want, ok := parseEngineVersion(v.Value)
		switch {
		case !ok:
			f.errf(v, "required_engine_version", "%q is not a version (e.g. 0.57.0)", v.Value)
		case compareVersions(want, engineVersion) > 0:
			f.errf(v, "required_engine_version", "the rules need engine version %s, this engine is %s (Falco's rules engine version it is compatible with); use rules written for that version", v.Value, EngineVersion)
		}
	case m.has("required_plugin_versions"):
		f.plugins(m.value["required_plugin_versions"])
	case m.has("list"):
		f.list(m)
	case m.has("macro"):
		f.macro(m)
	case m.has("rule"):
		f.rule(m)
	default:
		k := ""
		if len(m.keys) > 0 {
			k = m.keys[0]
		}
		f.warnf(n, "", "unknown item %q ignored; items are%s %s", k, didYouMean(k, itemKinds), strings.Join(itemKinds, ", "))
	}
}

func (f *fileCtx) plugins(n *yaml.Node) {
	const item = "required_plugin_versions"
	if n.Kind != yaml.SequenceNode {
		f.errf(n, item, "must be a list of {name, version} entries, got %s", kindName(n))
		return
	}
	var decode func(e *yaml.Node) (PluginRequirement, bool)
	decode = func(e *yaml.Node) (PluginRequirement, bool) {
		m, ok := f.mapping(e, item)
		if !ok {
			f.errf(e, item, "each entry must be a mapping with name and version, got %s", kindName(e))
			return PluginRequirement{}, false
		}
		p := PluginRequirement{File: f.name, Line: e.Line}
		var okN, okV bool
		p.Name, okN = f.str(m, "name", item)
		p.Version, okV = f.str(m, "version", item)
		if !okN || !okV {
			f.errf(e, item, "each entry needs both name and version")
			return p, false
		}
		if a, ok := m.value["alternatives"]; ok {
			if a.Kind != yaml.SequenceNode {
				f.errf(a, item, "alternatives must be a list of {name, version} entries")
				return p, false
			}
			for _, ae := range a.Content {
				alt, ok := decode(deref(ae))
				if !ok {
					return p, false
				}
				p.Alternatives = append(p.Alternatives, alt)
			}
		}
		return p, true
	}
	for _, e := range n.Content {
		if p, ok := decode(deref(e)); ok {
			f.l.PluginVersions = append(f.l.PluginVersions, p)
		}
	}
}

// unknownKeys warns about keys an item kind does not have: usually typos.
func (f *fileCtx) unknownKeys(m *mapping, known []string, item string) {
	for _, k := range m.keys {
		if !slices.Contains(known, k) {
			f.warnf(m.key[k], item, "unknown key %q ignored%s", k, didYouMean(k, known))
		}
	}
}

// overrides decodes an override: mapping into the keys to append and to
// replace, checking them against what Falco allows for the item kind.
func (f *fileCtx) overrides(m *mapping, item string, appendable, replaceable []string) (app, repl []string, ok bool) {
	v, has := m.value["override"]
	if !has {
		return nil, nil, true
	}
	om, isMap := f.mapping(v, item)
	if !isMap {
		f.errf(v, item, "override must be a mapping of keys to append or replace (e.g. override: {condition: append}), got %s", kindName(v))
		return nil, nil, false
	}
	ok = true
	if len(om.keys) == 0 {
		f.errf(v, item, "override is empty; name the keys to append or replace (e.g. condition: append)")
		ok = false
	}
	for _, k := range om.keys {
		val := om.value[k]
		switch {
		case val.Kind != yaml.ScalarNode || (val.Value != "append" && val.Value != "replace"):
			f.errf(val, item, "override of %s must be append or replace, got %s", k, kindName(val))
			ok = false
		case val.Value == "append" && !slices.Contains(appendable, k):
			if slices.Contains(replaceable, k) {
				f.errf(val, item, "key %s cannot be appended to; use %s: replace (appendable keys: %s)", k, k, strings.Join(appendable, ", "))
			} else {
				f.errf(om.key[k], item, "key %s cannot be overridden%s (appendable keys: %s)", k, didYouMean(k, appendable), strings.Join(appendable, ", "))
			}
			ok = false
		case val.Value == "replace" && !slices.Contains(replaceable, k):
			f.errf(om.key[k], item, "key %s cannot be replaced%s (replaceable keys: %s)", k, didYouMean(k, replaceable), strings.Join(replaceable, ", "))
			ok = false
		case !m.has(k):
			f.errf(om.key[k], item, "override says %s: %s, but the item has no %s key to %s", k, val.Value, k, val.Value)
			ok = false
		case val.Value == "append":
			app = append(app, k)
		default:
			repl = append(repl, k)
		}
	}
	// Every overridable key the item sets must say how it overrides.
	for _, k := range m.keys {
		if om.has(k) {
			continue
		}
		if slices.Contains(appendable, k) || slices.Contains(replaceable, k) {
			f.errf(m.key[k], item, "key %s is set but not listed under override; add %s: append or %s: replace there", k, k, k)
			ok = false
		}
	}
	if b, _ := f.boolean(m, "append", item); b {
		f.errf(m.value["append"], item, "override and append: true cannot be used together; add an entry such as condition: append under override instead")
		ok = false
	}
	return app, repl, ok
}

func (f *fileCtx) list(m *mapping) {
	name, ok := f.str(m, "list", "list")
	if !ok {
		return
	}
	item := fmt.Sprintf("list %q", name)
	if !listName.MatchString(name) {
		f.errf(m.value["list"], item, "invalid list name: it must be a bare word, without spaces, quotes, parentheses, = or commas")
		return
	}
	f.unknownKeys(m, listKeys, item)
	app, repl, ok := f.overrides(m, item, listAppendable, listReplaceable)
	if !ok {
		return
	}
	appendFlag, _ := f.boolean(m, "append", item)
	if appendFlag {
		f.warnf(m.key["append"], item, "append: true is deprecated; use override: {%s: append} instead", appendKey(m))
	}
	items, ok := f.strings(m, "items", item)
	if !m.has("items") {
		f.errf(m.key["list"], item, "missing key items (e.g. items: [a, b])")
		return
	}
	if !ok {
		return
	}
	kn := m.key["list"]
	prev := f.l.listBy[name]
	if prev == nil && len(repl) > 0 {
		// Falco treats replacing an undefined list as defining it.
		f.warnf(kn, item, "override replaces list %s, but it is not defined earlier; it is defined here (check the order of rules files)", name)
		repl = nil
	}
	if appendFlag || len(app) > 0 || len(repl) > 0 {
		if prev == nil {
			f.errf(kn, item, "cannot %s list %s: it is not defined earlier (check the order of rules files)", overrideVerb(appendFlag, app), name)
			return
		}
		if len(app) > 0 || appendFlag {
			prev.items = append(prev.items, items...)
		} else {
			prev.items = items
		}
		return
	}
	d := &listDef{name: name, items: items, file: f.name, line: kn.Line, col: kn.Column}
	if prev != nil {
		*prev = *d // a redefinition replaces the list where it stood
		return
	}
	f.l.lists = append(f.l.lists, d)
	f.l.listBy[name] = d
}

func overrideVerb(appendFlag bool, app []string) string {
	if appendFlag || len(app) > 0 {
		return "append to"
	}
	return "override"
}

func (f *fileCtx) condition(m *mapping, item string) (text, bool) {
	v, ok := m.value["condition"]
	if !ok {
		return text{}, false
	}
	if v.Kind != yaml.ScalarNode {
		f.errf(v, item, "condition must be a string, got %s", kindName(v))
		return text{}, false
	}
	var t text
	t.add(v.Value, scalarOrigin(f.name, f.lines, v))
	return t, true
}

// appendKey names the key a legacy append item appends to, for the hint.
func appendKey(m *mapping) string {
	for _, k := range []string{"items", "condition", "exceptions"} {
		if m.has(k) {
			return k
		}
	}
	return "condition"
}

// appendText adds a condition fragment the way Falco appends: with a space.
func appendText(dst *text, src text) {
	dst.s += " "
	for _, p := range src.pieces {
		dst.pieces = append(dst.pieces, piece{start: p.start + len(dst.s), origin: p.origin})
	}
	dst.s += src.s
}

func (f *fileCtx) macro(m *mapping) {
	name, ok := f.str(m, "macro", "macro")
	if !ok {
		return
	}
	item := fmt.Sprintf("macro %q", name)
	if !macroName.MatchString(name) {
		f.errf(m.value["macro"], item, "invalid macro name: it must start with a letter and hold only letters, digits and _")
		return
	}
	f.unknownKeys(m, macroKeys, item)
	app, repl, ok := f.overrides(m, item, macroAppendable, macroReplaceable)
	if !ok {
		return
	}
	appendFlag, _ := f.boolean(m, "append", item)
	if appendFlag {
		f.warnf(m.key["append"], item, "append: true is deprecated; use override: {%s: append} instead", appendKey(m))
	}
	kn := m.key["macro"]
	cond, ok := f.condition(m, item)
	if !m.has("condition") {
		f.errf(kn, item, "missing key condition")
		return
	}
	if ok && strings.TrimSpace(cond.s) == "" && !appendFlag && len(app) == 0 {
		f.errf(m.value["condition"], item, "condition must not be empty")
		return
	}
	if !ok {
		return
	}
	prev := f.l.macroBy[name]
	if prev == nil && len(repl) > 0 {
		// Falco treats replacing an undefined macro as defining it.
		f.warnf(kn, item, "override replaces macro %s, but it is not defined earlier; it is defined here (check the order of rules files)", name)
		repl = nil
	}
	if appendFlag || len(app) > 0 || len(repl) > 0 {
		if prev == nil {
			f.errf(kn, item, "cannot %s macro %s: it is not defined earlier (check the order of rules files)", overrideVerb(appendFlag, app), name)
			return
		}
		if appendFlag || len(app) > 0 {
			appendText(&prev.cond, cond)
		} else {
			prev.cond = cond
		}
		return
	}
	d := &macroDef{name: name, cond: cond, file: f.name, line: kn.Line, col: kn.Column}
	if prev != nil {
		*prev = *d
		return
	}
	f.l.macros = append(f.l.macros, d)
	f.l.macroBy[name] = d
}

func (f *fileCtx) rule(m *mapping) {
	name, ok := f.str(m, "rule", "rule")
	if !ok {
		return
	}
	item := fmt.Sprintf("rule %q", name)
	kn := m.key["rule"]
	if name == "" {
		f.errf(m.value["rule"], "rule", "rule name must not be empty")
		return
	}
	f.unknownKeys(m, ruleKeys, item)
	app, repl, ok := f.overrides(m, item, ruleAppendable, ruleReplaceable)
	if !ok {
		return
	}
	appendFlag, _ := f.boolean(m, "append", item)
	if appendFlag {
		f.warnf(m.key["append"], item, "append: true is deprecated; use override: {%s: append} instead", appendKey(m))
	}
	prev := f.l.ruleBy[name]

	if appendFlag || len(app) > 0 || len(repl) > 0 {
		if prev == nil {
			f.errf(kn, item, "cannot %s rule %q: it is not defined earlier (check the order of rules files)", overrideVerb(appendFlag, app), name)
			return
		}
		if src, ok := f.str(m, "source", item); ok && src != prev.source {
			f.errf(m.value["source"], item, "source %s differs from the source %s of the rule being overridden", src, prev.source)
			return
		}
		if appendFlag {
			// Legacy append: condition and exceptions only.
			// Falco uses only condition and exceptions of such an item.
			for _, k := range m.keys {
				if !slices.Contains([]string{"rule", "append", "condition", "exceptions", "source"}, k) && slices.Contains(ruleKeys, k) {
					f.warnf(m.key[k], item, "append: true only adds condition and exceptions; %s ignored (use override: {%s: append} or {%s: replace})", k, k, k)
				}
			}
			if !m.has("condition") && !m.has("exceptions") {
				f.errf(kn, item, "append: true needs a condition or exceptions to append")
				return
			}
			app = []string{}
			if m.has("condition") {
				app = append(app, "condition")
			}
			if m.has("exceptions") {
				app = append(app, "exceptions")
			}
		}
		upd := *prev
		upd.tags = slices.Clone(prev.tags)
		upd.exceptions = slices.Clone(prev.exceptions)
		if !f.ruleFields(m, item, &upd, app, repl, prev) {
			return
		}
		*prev = upd
		return
	}

	// A rule with only enabled (Falco's legacy toggle) switches an earlier
	// rule on or off.
	if !m.has("condition") && !m.has("output") && !m.has("desc") && !m.has("priority") {
		en, has := f.boolean(m, "enabled", item)
		if !has {
			if !m.has("enabled") {
				f.errf(kn, item, "missing keys condition, output, desc and priority (a rule item without them may only set enabled, to switch an earlier rule on or off)")
			}
			return
		}
		if prev == nil {
			f.errf(kn, item, "cannot set enabled on rule %q: it is not defined earlier (check the order of rules files)", name)
			return
		}
		f.warnf(m.key["enabled"], item, "a standalone enabled key is deprecated; add override: {enabled: replace}")
		prev.enabled = en
		return
	}

	d := &ruleDef{name: name, source: "syscall", enabled: true, warnEvttypes: true,
		file: f.name, line: kn.Line, col: kn.Column}
	var missing []string
	for _, k := range []string{"condition", "desc", "output", "priority"} {
		if !m.has(k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		f.errf(kn, item, "missing key %s (a rule needs condition, desc, output and priority)", strings.Join(missing, ", "))
		return
	}
	empty := false
	for _, k := range []string{"condition", "desc", "output", "priority"} {
		if v := m.value[k]; v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) == "" {
			f.errf(v, item, "%s must not be empty", k)
			empty = true
		}
	}
	if empty {
		return
	}
	if src, ok := f.str(m, "source", item); ok && prev != nil && src != prev.source || !m.has("source") && prev != nil && prev.source != "syscall" {
		f.errf(kn, item, "rule %q is defined again with a different source (%s before); a rule keeps its source", name, prev.source)
		return
	}
	all := []string{}
	for _, k := range m.keys {
		if k != "rule" && k != "override" && k != "append" {
			all = append(all, k)
		}
	}
	// A rule with errors is kept (and compiled, for more errors): the load
	// fails anyway, and the writer sees every problem at once.
	d.broken = !f.ruleFields(m, item, d, nil, all, nil)
	if prev != nil {
		*prev = *d // a redefinition replaces the rule where it stood
		return
	}
	f.l.rules = append(f.l.rules, d)
	f.l.ruleBy[name] = d
}

// ruleFields decodes the keys of a rule item into d: keys in app are
// appended to d's current values, keys in repl replace them.
func (f *fileCtx) ruleFields(m *mapping, item string, d *ruleDef, app, repl []string, prev *ruleDef) bool {
	ok := true
	for _, k := range app {
		v := m.value[k]
		switch k {
		case "condition":
			c, good := f.condition(m, item)
			if good {
				appendText(&d.cond, c)
			}
			ok = ok && good
		case "output":
			s, good := f.str(m, k, item)
			if good {
				var t text
				t.add(s, scalarOrigin(f.name, f.lines, v))
				appendText(&d.output, t)
			}
			ok = ok && good
		case "desc":
			s, good := f.str(m, k, item)
			if good {
				d.desc += " " + s
			}
			ok = ok && good
		case "tags":
			tags, good := f.strings(m, k, item)
			for _, t := range tags {
				if !slices.Contains(d.tags, t) {
					d.tags = append(d.tags, t)
				}
			}
			ok = ok && good
		case "exceptions":
			exs, good := f.exceptions(v, item, true)
			ok = ok && good && f.appendExceptions(d, exs, item)
		}
	}
	for _, k := range repl {
		v := m.value[k]
		switch k {
		case "condition":
			c, good := f.condition(m, item)
			d.cond = c
			ok = ok && good
		case "output":
			s, good := f.str(m, k, item)
			d.output = text{}
			// Falco trims outputs (a folded block scalar ends in a newline).
			trimmed := strings.TrimSpace(s)
			o := scalarOrigin(f.name, f.lines, v)
			if lead := strings.Index(s, trimmed); lead > 0 {
				o = shiftOrigin(o, lead)
			}
			d.output.add(trimmed, o)
			ok = ok && good
		case "desc":
			s, good := f.str(m, k, item)
			d.desc = s
			ok = ok && good
		case "priority":
			s, good := f.str(m, k, item)
			if good {
				p, err := alert.ParsePriority(s)
				if err != nil {
					f.errf(v, item, "unknown priority %q (one of emergency, alert, critical, error, warning, notice, informational, debug)", s)
					good = false
				}
				d.priority = p
			}
			ok = ok && good
		case "source":
			s, good := f.str(m, k, item)
			if good && s == "" {
				f.errf(v, item, "source must not be empty (e.g. syscall or k8s_audit)")
				good = false
			}
			if good {
				d.source = s
			}
			ok = ok && good
		case "enabled":
			b, good := f.boolean(m, k, item)
			d.enabled = b
			ok = ok && good
		case "tags":
			tags, good := f.strings(m, k, item)
			d.tags = tags
			ok = ok && good
		case "exceptions":
			exs, good := f.exceptions(v, item, false)
			d.exceptions = exs
			ok = ok && good
		case "warn_evttypes":
			b, good := f.boolean(m, k, item)
			d.warnEvttypes = b
			ok = ok && good
		case "skip-if-unknown-filter":
			b, good := f.boolean(m, k, item)
			d.skipUnknown = b
			ok = ok && good
		case "capture":
			b, good := f.boolean(m, k, item)
			d.capture = b
			ok = ok && good
		case "capture_duration":
			var n int
			if v.Kind != yaml.ScalarNode || v.Decode(&n) != nil {
				f.errf(v, item, "capture_duration must be a number of milliseconds, got %s", kindName(v))
				ok = false
			}
			d.captureDur = n
		}
	}
	return ok
}

// appendExceptions merges appended exceptions into a rule as Falco does: an
// exception with a known name gains values; a new name adds an exception.
func (f *fileCtx) appendExceptions(d *ruleDef, exs []*exceptionDef, item string) bool {
	ok := true
	for _, ex := range exs {
		i := slices.IndexFunc(d.exceptions, func(p *exceptionDef) bool { return p.name == ex.name })
		if i < 0 {
			if !ex.fields.set {
				f.l.addError(&Error{File: ex.file, Line: ex.line, Col: ex.col, Item: item,
					Msg: fmt.Sprintf("exception %q is new, so it needs fields (and values)", ex.name)})
				ok = false
				continue
			}
			if len(ex.values) == 0 {
				f.l.addError(&Error{File: ex.file, Line: ex.line, Col: ex.col, Item: item,
					Msg: fmt.Sprintf("exception %q is appended but has no values", ex.name)})
				ok = false
				continue
			}
			d.exceptions = append(d.exceptions, ex)
			continue
		}
		if ex.fields.set || ex.comps.set {
			f.l.addError(&Error{File: ex.file, Line: ex.line, Col: ex.col, Item: item,
				Msg: fmt.Sprintf("exception %q already exists: an append may only add values, not fields or comps", ex.name)})
			ok = false
			continue
		}
		if len(ex.values) == 0 {
			f.l.addWarning(Warning{File: ex.file, Line: ex.line, Col: ex.col, Item: item,
				Msg: fmt.Sprintf("exception %q is appended to with no values", ex.name)})
		}
		cp := *d.exceptions[i]
		cp.values = append(slices.Clone(cp.values), ex.values...)
		d.exceptions[i] = &cp
	}
	return ok
}

var exceptionKeys = []string{"name", "fields", "comps", "values"}

func (f *fileCtx) exceptions(n *yaml.Node, item string, appending bool) ([]*exceptionDef, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		f.errf(n, item, "exceptions must be a list of {name, fields, comps, values}, got %s", kindName(n))
		return nil, false
	}
	ok := true
	var out []*exceptionDef
	names := map[string]bool{}
	for _, e := range n.Content {
		e = deref(e)
		m, isMap := f.mapping(e, item)
		if !isMap {
			f.errf(e, item, "each exception must be a mapping with name, fields, comps and values, got %s", kindName(e))
			ok = false
			continue
		}
		f.unknownKeys(m, exceptionKeys, item)
		ex := &exceptionDef{file: f.name, line: e.Line, col: e.Column}
		name, has := f.str(m, "name", item)
		if !has || name == "" {
			f.errf(e, item, "each exception needs a name")
			ok = false
			continue
		}
		ex.name = name
		if names[name] {
			f.errf(m.value["name"], item, "exception %q is defined twice in the same list", name)
			ok = false
			continue
		}
		names[name] = true
		good := true
		ex.fields, good = f.strOrList(m, "fields", item)
		ok = ok && good
		ex.comps, good = f.strOrList(m, "comps", item)
		ok = ok && good
		if !ex.fields.set && !appending {
			f.errf(e, item, "exception %q needs fields (a field name, or a list of them)", name)
			ok = false
		}
		if v, has := m.value["values"]; has {
			vals, good := f.exValues(v, item)
			ex.values = vals
			ok = ok && good
		}
		out = append(out, ex)
	}
	return out, ok
}

func (f *fileCtx) strOrList(m *mapping, key, item string) (strOrList, bool) {
	v, ok := m.value[key]
	if !ok {
		return strOrList{}, true
	}
	switch v.Kind {
	case yaml.ScalarNode:
		return strOrList{set: true, item: v.Value}, true
	case yaml.SequenceNode:
		s, ok := f.strings(m, key, item)
		return strOrList{set: true, isList: true, items: s}, ok
	}
	f.errf(v, item, "%s must be a string or a list of strings, got %s", key, kindName(v))
	return strOrList{}, false
}

func (f *fileCtx) exValues(n *yaml.Node, item string) ([]exValue, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		f.errf(n, item, "exception values must be a list, got %s", kindName(n))
		return nil, false
	}
	var conv func(e *yaml.Node, depth int) (exValue, bool)
	conv = func(e *yaml.Node, depth int) (exValue, bool) {
		e = deref(e)
		switch {
		case e.Kind == yaml.ScalarNode:
			return exValue{item: e.Value, line: e.Line, col: e.Column}, true
		case e.Kind == yaml.SequenceNode && depth < 2:
			v := exValue{isList: true, line: e.Line, col: e.Column}
			for _, c := range e.Content {
				cv, ok := conv(c, depth+1)
				if !ok {
					return v, false
				}
				v.items = append(v.items, cv)
			}
			return v, true
		}
		f.errf(e, item, "exception values hold strings or lists of strings, got %s", kindName(e))
		return exValue{}, false
	}
	var out []exValue
	for _, e := range n.Content {
		v, ok := conv(e, 0)
		if !ok {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}
