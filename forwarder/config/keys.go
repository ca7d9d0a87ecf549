package config

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nightjar-sec/nightjar/outputs"
	"github.com/nightjar-sec/nightjar/rules/field"
)

// This file holds the two generic walks over configuration structs, guided
// by their yaml tags: checking a YAML document against a struct (unknown
// keys, values of the wrong type, each named by its key path) and overlaying
// environment variables named falcosidekick's way (key path upper-cased and
// joined by "_": slack.webhookurl = SLACK_WEBHOOKURL). Both run once at
// start-up, so reflection costs nothing that matters.

var (
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	durationType    = reflect.TypeOf(time.Duration(0))
)

// yamlName returns a struct field's key, whether it is inlined, and whether
// it is a key at all.
func yamlName(f reflect.StructField) (name string, inline, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	tag := f.Tag.Get("yaml")
	if tag == "-" {
		return "", false, false
	}
	parts := strings.Split(tag, ",")
	for _, p := range parts[1:] {
		if p == "inline" {
			return "", true, true
		}
	}
	if parts[0] != "" {
		return parts[0], false, true
	}
	return strings.ToLower(f.Name), false, true
}

// isLeaf reports whether a type holds one value that a YAML scalar or an
// environment variable sets directly.
func isLeaf(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshaler) || t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// envField is one setting reachable from the environment.
type envField struct {
	key   string // slack.minimumpriority
	env   string // SLACK_MINIMUMPRIORITY
	index []int  // path from the root struct
	typ   reflect.Type
}

// envFields lists the settings of struct type t that the environment can set:
// leaves, lists of leaves and maps of leaves. Lists and maps of structs (the
// routes) are YAML-only.
func envFields(t reflect.Type, key, env string, index []int) []envField {
	var out []envField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, inline, ok := yamlName(f)
		if !ok {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		if inline {
			out = append(out, envFields(f.Type, key, env, idx)...)
			continue
		}
		k, e := name, strings.ToUpper(name)
		if key != "" {
			k, e = key+"."+name, env+"_"+strings.ToUpper(name)
		}
		ft := f.Type
		switch {
		case isLeaf(ft):
		case ft.Kind() == reflect.Struct:
			out = append(out, envFields(ft, k, e, idx)...)
			continue
		case ft.Kind() == reflect.Pointer && isLeaf(ft.Elem()):
		case ft.Kind() == reflect.Slice && isLeaf(ft.Elem()):
		case ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String && isLeaf(ft.Elem()):
		default:
			continue
		}
		out = append(out, envField{key: k, env: e, index: idx, typ: ft})
	}
	return out
}

// overlayEnv sets every field of the struct that root points to whose
// variable is in env. prefix is the key of root ("" for the globals,
// "slack" for an output).
func overlayEnv(root any, keyPrefix, envPrefix string, env map[string]string) error {
	v := reflect.ValueOf(root).Elem()
	for _, f := range envFields(v.Type(), keyPrefix, envPrefix, nil) {
		// An empty variable counts as unset, as in falcosidekick (viper
		// without AllowEmptyEnv): its Helm chart sets every variable, most
		// of them to "".
		s, ok := env[f.env]
		if !ok || s == "" {
			continue
		}
		if err := setString(v.FieldByIndex(f.index), s); err != nil {
			return fmt.Errorf("%s (env %s): %w", f.key, f.env, err)
		}
	}
	return nil
}

// setString parses s into v: leaves directly, lists as "a,b,c", maps as
// "k:v,k2:v2" (falcosidekick's forms).
func setString(v reflect.Value, s string) error {
	t := v.Type()
	switch {
	case isLeaf(t):
		return setLeaf(v, s)
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := setLeaf(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case t.Kind() == reflect.Slice:
		list := reflect.MakeSlice(t, 0, 0)
		for _, item := range splitList(s) {
			e := reflect.New(t.Elem()).Elem()
			if err := setLeaf(e, item); err != nil {
				return fmt.Errorf("list item %q: %w", item, err)
			}
			list = reflect.Append(list, e)
		}
		v.Set(list)
		return nil
	case t.Kind() == reflect.Map:
		m := reflect.MakeMap(t)
		for _, item := range splitList(s) {
			k, val, ok := strings.Cut(item, ":")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				// Never echo the item: map values may be secrets (headers).
				return fmt.Errorf("want key:value pairs separated by commas (k:v,k2:v2)")
			}
			e := reflect.New(t.Elem()).Elem()
			if err := setLeaf(e, strings.TrimSpace(val)); err != nil {
				return fmt.Errorf("value of %q: %w", k, err)
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(m)
		return nil
	}
	return fmt.Errorf("cannot be set from the environment")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func setLeaf(v reflect.Value, s string) error {
	t := v.Type()
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	if t == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 10s, 5m, 24h)", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	s = strings.TrimSpace(s)
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return fmt.Errorf("%q is not an integer in range", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return fmt.Errorf("%q is not a non-negative integer in range", s)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(n)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// checkNode walks a YAML node against type t: every mapping key at a struct
// position must be one of the struct's keys (matched case-insensitively, as
// falcosidekick's viper does, and rewritten to the canonical spelling so
// that decoding finds it), and every scalar must decode into its field. Errors
// name the key path and line, and never echo a value (it may be a secret).
// Empty values are dropped (they keep the default); unknown keys that set
// nothing are appended to warn rather than failing.
func checkNode(n *yaml.Node, t reflect.Type, key string, st *state) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if t.Kind() == reflect.Pointer && !isLeaf(t) {
		t = t.Elem()
	}
	switch {
	case isLeaf(t) || (t.Kind() == reflect.Pointer && isLeaf(t.Elem())):
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s (line %d): want a single value, got a %s", key, n.Line, kindName(n))
		}
		probe := reflect.New(t)
		err := n.Decode(probe.Interface())
		if err != nil && n.Tag == "!!str" && quotedOK(t) {
			// falcosidekick (viper) takes listenport: "2802" and
			// debug: "true", as Helm values often quote them: read the
			// quoted text as if it were written plain.
			plain := *n
			plain.Tag, plain.Style = "", 0
			if plain.Decode(probe.Interface()) == nil {
				n.Tag, n.Style = "", 0
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("%s (line %d): %s", key, n.Line, yamlProblem(err, probe.Elem().Type()))
		}
		return nil
	case t.Kind() == reflect.Struct:
		if n.Kind == yaml.SequenceNode { // only as the value of a merge key
			for _, item := range n.Content {
				if err := checkNode(item, t, key, st); err != nil {
					return err
				}
			}
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s (line %d): want a mapping of keys, got a %s", key, n.Line, kindName(n))
		}
		keys := structKeys(t)
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			// An empty or null value means "unset, keep the default", as in
			// falcosidekick, whose example file writes minimumpriority: ""
			// everywhere. Drop it before decoding.
			if val.Kind == yaml.ScalarNode && (val.Tag == "!!null" || (val.Tag == "!!str" && val.Value == "")) && k.Tag != "!!merge" {
				if _, ok := keys[strings.ToLower(k.Value)]; !ok {
					st.warnf("%s (line %d): unknown key with an empty value; ignored", join(key, k.Value), k.Line)
				}
				continue
			}
			kept = append(kept, k, val)
			if k.Tag == "!!merge" { // <<: *defaults merges a mapping, or a list of them, here
				if err := checkNode(val, t, key, st); err != nil {
					return err
				}
				continue
			}
			f, ok := keys[strings.ToLower(k.Value)]
			if sub := join(key, strings.ToLower(k.Value)); !ok && falcosidekickOnly[sub] != nil {
				// A falcosidekick output nightjar lacks inside a section
				// it supports (aws.sqs beside aws.lambda): skipped while
				// off, refused when on.
				if err := unsupportedSection(sub, val, key); err != nil {
					return err
				}
				kept = kept[:len(kept)-2]
				continue
			}
			if !ok {
				if err := misspelt(join(key, k.Value), k, keys, st); err != nil {
					return err
				}
				// A key that sets nothing (falcosidekick's example file
				// lists settings nightjar lacks, empty) is reported, not
				// fatal; one that sets something is a mistake to fix.
				if e := st.elsewhere(k.Value); emptyNode(val) && e != "" {
					st.warnf("%s (line %d): unknown key here, with an empty value; ignored%s", join(key, k.Value), k.Line, e)
					kept = kept[:len(kept)-2]
					continue
				}
				if emptyNode(val) {
					st.warnf("%s (line %d): unknown key with an empty value; ignored", join(key, k.Value), k.Line)
					kept = kept[:len(kept)-2]
					continue
				}
				if e := st.elsewhere(k.Value); e != "" {
					return fmt.Errorf("%s (line %d): unknown key %q here%s", join(key, k.Value), k.Line, k.Value, e)
				}
				return fmt.Errorf("%s (line %d): unknown key %q", join(key, k.Value), k.Line, k.Value)
			}
			k.Value = f.name
			if err := checkNode(val, f.typ, join(key, f.name), st); err != nil {
				return err
			}
		}
		n.Content = kept
		return nil
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if isLeaf(t.Elem()) && n.Kind == yaml.ScalarNode {
				return fmt.Errorf("%s (line %d): want a list ([a, b]), got a single value", key, n.Line)
			}
			return fmt.Errorf("%s (line %d): want a list, got a %s", key, n.Line, kindName(n))
		}
		for i, item := range n.Content {
			if err := checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", key, i), st); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s (line %d): want a mapping, got a %s", key, n.Line, kindName(n))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkNode(n.Content[i+1], t.Elem(), join(key, n.Content[i].Value), st); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}

type structKey struct {
	name string
	typ  reflect.Type
}

// structKeys maps the lower-cased keys of a struct (inlined ones included)
// to their canonical names and types.
func structKeys(t reflect.Type) map[string]structKey {
	out := map[string]structKey{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, inline, ok := yamlName(f)
		if !ok {
			continue
		}
		if inline {
			for k, v := range structKeys(f.Type) {
				out[k] = v
			}
			continue
		}
		out[strings.ToLower(name)] = structKey{name: name, typ: f.Type}
	}
	return out
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "single value"
	}
}

// yamlProblem shortens yaml's "yaml: unmarshal errors: line 3: cannot
// unmarshal !!str `abc` into int" to what the user needs, without echoing
// the value (it may be a secret).
func yamlProblem(err error, t reflect.Type) string {
	msg := err.Error()
	if strings.Contains(msg, "cannot unmarshal") {
		want := t.Kind().String()
		switch {
		case t == durationType:
			want = "a duration (e.g. 10s, 5m, 24h)"
		case t.Kind() == reflect.Bool:
			want = "a boolean (true or false)"
		case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
			want = "a number"
		}
		return "want " + want
	}
	return strings.TrimPrefix(msg, "yaml: ")
}

// quotedOK reports whether a quoted value may stand for t: numbers and
// booleans (not durations: "10" is not 10s).
func quotedOK(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// typeOf returns the struct type that v points to.
func typeOf(v any) reflect.Type { return reflect.TypeOf(v).Elem() }

// misspelt returns an error when k, a key nightjar does not know here, is
// one or two edits away from one it knows here (one for keys of five
// letters or fewer; swapping two neighbours counts as one): "chekcert:
// false" must not pass as a falcosidekick setting nightjar lacks (a
// warning) while certificates are still checked. A key nightjar knows in
// another place (dedup at the top level, debug in an output) is misplaced,
// not misspelt: no suggestion, as a near key here would be the wrong one
// (the callers say where it belongs). Callers skip keys whose value is null
// or "": those set nothing, misspelt or not.
func misspelt(path string, k *yaml.Node, keys map[string]structKey, st *state) error {
	lk := strings.ToLower(k.Value)
	if len(lk) < 4 || st.known[lk] != nil {
		return nil
	}
	best, bestD := "", 3
	for name, f := range keys {
		limit := 3 // two edits at most
		if len(lk) <= 5 || len(name) <= 5 {
			limit = 2 // one
		}
		d := field.EditDistance(lk, name)
		if d < limit && (d < bestD || (d == bestD && f.name < best)) {
			best, bestD = f.name, d
		}
	}
	if best == "" {
		return nil
	}
	return fmt.Errorf("%s (line %d): unknown key %q; did you mean %q?", path, k.Line, k.Value, best)
}

// elsewhere says where a key unknown here belongs, when nightjar knows it
// in another place ("; it belongs at tlsserver.certfile"), or "".
func (st *state) elsewhere(key string) string {
	places := st.known[strings.ToLower(key)]
	if len(places) == 0 {
		return ""
	}
	global, output := false, false
	for _, p := range places {
		if strings.Contains(p, "/") {
			output = true
		} else {
			global = true
		}
	}
	shown := make([]string, 0, 4)
	for _, p := range places {
		if len(shown) == 3 && len(places) > 4 {
			shown = append(shown, "...")
			break
		}
		shown = append(shown, strings.Replace(p, "/", ".", 1))
	}
	what := ""
	switch {
	case global && !output && len(places) == 1 && !strings.ContainsAny(places[0], ".["):
		what = " (a global setting)"
	case output && !global:
		what = " (an output setting)"
	}
	return "; it belongs at " + strings.Join(shown, ", ") + what
}

// state is what checking a configuration carries along: the warnings, and
// every key nightjar knows anywhere (knownKeys).
type state struct {
	warn  *[]string
	known map[string][]string
}

func (st *state) warnf(format string, a ...any) {
	*st.warn = append(*st.warn, fmt.Sprintf(format, a...))
}

// knownKeys maps every key of the configuration tree (lower-cased) to the
// places it is set: global settings by their path (debug,
// tlsserver.certfile, queue.port, routes[].match.priority), output settings
// as type/path (webhook/dedup, aws/lambda.functionname).
func knownKeys(root reflect.Type, types []outputs.Type) map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for lk, f := range structKeys(t) {
			p := f.name
			if prefix != "" {
				p = prefix + "." + f.name
				if strings.HasSuffix(prefix, "/") {
					p = prefix + f.name
				}
			}
			out[lk] = append(out[lk], p)
			ft := f.typ
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case isLeaf(ft):
			case ft.Kind() == reflect.Struct:
				walk(ft, p)
			case (ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map) && ft.Elem().Kind() == reflect.Struct && !isLeaf(ft.Elem()):
				walk(ft.Elem(), p+"[]")
			}
		}
	}
	walk(root, "")
	for _, t := range types {
		walk(typeOf(t.NewConfig()), t.Name+"/")
	}
	for k := range out {
		slices.Sort(out[k])
		out[k] = slices.Compact(out[k])
	}
	return out
}

// emptyNode reports whether a YAML value sets nothing: null, "", false, 0,
// or collections of those.
func emptyNode(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return true
		case "!!str":
			return n.Value == ""
		case "!!bool":
			return strings.EqualFold(n.Value, "false")
		case "!!int", "!!float":
			return n.Value == "0"
		}
		return false
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if !emptyNode(n.Content[i]) {
				return false
			}
		}
		return true
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if !emptyNode(c) {
				return false
			}
		}
		return true
	}
	return false
}
