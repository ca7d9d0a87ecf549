package detector

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nightjar-sec/nightjar/alert"

	"github.com/nightjar-sec/nightjar/rules/field"
)

// DefaultConfigPath is where -c looks when it is not given.
const DefaultConfigPath = "/etc/nightjar/nightjar.yaml"

// DefaultConfig is the embedded nightjar.yaml: the defaults every other
// source of configuration is laid over.
//
//go:embed nightjar.yaml
var DefaultConfig []byte

// Config is nightjar.yaml. Key names are falco.yaml's where Falco has the
// setting.
type Config struct {
	RulesFiles []string `yaml:"rules_files"`
	// RulesFile is Falco's older name for rules_files; both are read.
	RulesFile    []string        `yaml:"rules_file"`
	Rules        []RuleSelection `yaml:"rules"`
	Priority     string          `yaml:"priority"`
	RuleMatching string          `yaml:"rule_matching"`

	TimeFormatISO8601         bool `yaml:"time_format_iso_8601"`
	JSONOutput                bool `yaml:"json_output"`
	JSONIncludeOutputProperty bool `yaml:"json_include_output_property"`
	JSONIncludeTagsProperty   bool `yaml:"json_include_tags_property"`
	BufferedOutputs           bool `yaml:"buffered_outputs"`

	OutputsQueue struct {
		Capacity int `yaml:"capacity"`
	} `yaml:"outputs_queue"`

	StdoutOutput struct {
		Enabled bool `yaml:"enabled"`
	} `yaml:"stdout_output"`
	FileOutput struct {
		Enabled   bool   `yaml:"enabled"`
		KeepAlive bool   `yaml:"keep_alive"`
		Filename  string `yaml:"filename"`
	} `yaml:"file_output"`
	SyslogOutput struct {
		Enabled bool `yaml:"enabled"`
	} `yaml:"syslog_output"`
	HTTPOutput HTTPOutputConfig `yaml:"http_output"`

	Hostname             string `yaml:"hostname"`
	SyscallBufSize       int    `yaml:"syscall_buf_size"`
	SyscallBufSizePreset int    `yaml:"syscall_buf_size_preset"`
	// KernelOpenFilter drops in the kernel the opens no enabled rule can
	// match (see openFilter); --record turns it off, since a recording may
	// be replayed against other rules.
	KernelOpenFilter bool `yaml:"kernel_open_filter"`

	Metrics struct {
		Enabled       bool   `yaml:"enabled"`
		ListenAddress string `yaml:"listen_address"`
	} `yaml:"metrics"`

	LogLevel string `yaml:"log_level"`
}

// HTTPOutputConfig is http_output.
type HTTPOutputConfig struct {
	Enabled    bool   `yaml:"enabled"`
	URL        string `yaml:"url"`
	UserAgent  string `yaml:"user_agent"`
	Insecure   bool   `yaml:"insecure"`
	CACert     string `yaml:"ca_cert"`
	CABundle   string `yaml:"ca_bundle"`
	MTLS       bool   `yaml:"mtls"`
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`
}

// RuleSelection is one item of Falco's rules: list: enable or disable rules
// by name (wildcards * allowed) or by tag.
type RuleSelection struct {
	Enable  *RuleMatcher `yaml:"enable"`
	Disable *RuleMatcher `yaml:"disable"`
}

// RuleMatcher names rules (rule: glob) or tags (tag: name); each may be one
// string or a list.
type RuleMatcher struct {
	Rule StringList `yaml:"rule"`
	Tag  StringList `yaml:"tag"`
}

// StringList reads a YAML string or a list of strings.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = StringList{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// ignoredFalcoKeys are falco.yaml keys nightjar accepts so that a Falco
// configuration loads, but does not act on. Start-up warns about each one
// that is set, unless refusedFalcoSetting finds it turns on something
// nightjar does not have: then start-up stops.
var ignoredFalcoKeys = map[string]string{
	"engine":                                "nightjar has one driver, its own eBPF programs",
	"load_plugins":                          "plugins are not supported",
	"plugins":                               "plugins are not supported",
	"watch_config_files":                    "restart nightjar to reload its configuration",
	"json_include_message_property":         "",
	"json_include_output_fields_property":   "output_fields are always included",
	"log_stderr":                            "nightjar always logs to stderr",
	"log_syslog":                            "nightjar always logs to stderr",
	"libs_logger":                           "",
	"program_output":                        "not supported; use http_output and the sidekick",
	"grpc":                                  "not supported",
	"grpc_output":                           "not supported",
	"webserver":                             "use metrics.enabled and metrics.listen_address",
	"syscall_event_drops":                   "drops always raise the internal alert \"Nightjar dropped events\"",
	"syscall_event_timeouts":                "",
	"base_syscalls":                         "nightjar attaches what the rules and its state tracking need",
	"falco_libs":                            "",
	"output_timeout":                        "outputs never block event processing",
	"outputs":                               "",
	"config_files":                          "",
	"append_output":                         "",
	"static_fields":                         "",
	"container_engines":                     "containers are recognised from cgroup paths",
	"buffer_format_base64":                  "",
	"capture":                               "use --record",
	"modern_bpf":                            "",
	"kmod":                                  "",
	"ebpf":                                  "",
	"gvisor":                                "",
	"syscall_drop_failed_exit":              "",
	"metrics.interval":                      "metrics are served on demand at GET /metrics",
	"metrics.output_rule":                   "drops raise the internal alert \"Nightjar dropped events\"",
	"metrics.output_file":                   "",
	"metrics.rules_counters_enabled":        "",
	"metrics.resource_utilization_enabled":  "",
	"metrics.state_counters_enabled":        "",
	"metrics.kernel_event_counters_enabled": "",
	"metrics.kernel_event_counters_per_cpu_enabled": "",
	"metrics.libbpf_stats_enabled":                  "",
	"metrics.plugins_metrics_enabled":               "",
	"metrics.jemalloc_stats_enabled":                "",
	"metrics.convert_memory_to_mb":                  "",
	"metrics.include_empty_values":                  "",
	"http_output.echo":                              "",
	"http_output.compress_uploads":                  "",
	"http_output.keep_alive":                        "connections are always reused",
	"http_output.ca_path":                           "use ca_cert or ca_bundle",
	"http_output.max_consecutive_timeouts":          "",
}

// refusedFalcoSetting looks into the value v of an ignored Falco key for a
// setting that turns on something nightjar does not have: an output, a
// server, an action on drops. Ignoring it would silently drop what the
// operator asked for, so it is an error instead. It returns the node at
// fault, the key that names it and what to do; n is nil when the setting
// is harmless.
func refusedFalcoSetting(key string, v *yaml.Node) (n *yaml.Node, at, msg string) {
	if fix, ok := absentFalcoFeatures[key]; ok {
		if e := child(v, "enabled"); e != nil {
			var on bool
			if e.Decode(&on) == nil && on {
				return e, key + ".enabled", fix
			}
		}
		return nil, "", ""
	}
	if key == "syscall_event_drops" {
		// ignore asks for less than nightjar does, so it is only warned
		// about with the key; exit (or anything else) it cannot do.
		for _, a := range items(child(v, "actions")) {
			if a.Value != "log" && a.Value != "alert" && a.Value != "ignore" {
				return a, key + ".actions", "nightjar takes only the actions log, alert and ignore: every drop is " +
					"logged and raises the internal alert \"Nightjar dropped events\"; keep those, or remove the key"
			}
		}
	}
	return nil, "", ""
}

// absentFalcoFeatures are Falco's sections that turn on, with enabled: true,
// something nightjar does not have, and what to do instead.
var absentFalcoFeatures = map[string]string{
	"program_output": "nightjar has no program output (alerts piped to a command): set it to false, " +
		"and deliver alerts with http_output (to nightjar-sidekick), file_output or syslog_output",
	"grpc_output": "nightjar has no gRPC output: set it to false; http_output sends Falco's JSON " +
		"to nightjar-sidekick, which forwards it",
	"grpc": "nightjar has no gRPC server: set it to false; alerts go out through " +
		"http_output, file_output, syslog_output and stdout_output",
	"capture": "nightjar has no capture files: set it to false, and record events with " +
		"--record FILE (replayed with -e FILE)",
}

// child returns the value of key name in mapping n, or nil.
func child(n *yaml.Node, name string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i+1]
		}
	}
	return nil
}

// items returns the items of a sequence, or a scalar as one item.
func items(n *yaml.Node) []*yaml.Node {
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.SequenceNode:
		return n.Content
	case n.Kind == yaml.ScalarNode && n.Tag != "!!null":
		return []*yaml.Node{n}
	}
	return nil
}

// loc is where a configuration value was read: a position in a file, or a
// -o override.
type loc struct {
	layer     int    // 0 the embedded defaults, 1 the -c file, 2+i the i-th -o
	file      string // the file; "" for -o
	line, col int
	opt       string // -o: the key as given (its well-formed part)
}

// noLayer is the layer of a value no user configuration set.
const noLayer = math.MaxInt

func (l loc) String() string {
	switch {
	case l.layer == noLayer:
		return "configuration"
	case l.layer >= 2 && l.opt == "":
		return "-o"
	case l.layer >= 2:
		return "-o " + l.opt
	case l.line == 0:
		return l.file
	case l.col == 0:
		return fmt.Sprintf("%s:%d", l.file, l.line)
	}
	return fmt.Sprintf("%s:%d:%d", l.file, l.line, l.col)
}

func (l loc) before(m loc) bool {
	if l.layer != m.layer {
		return l.layer < m.layer
	}
	if l.line != m.line {
		return l.line < m.line
	}
	return l.col < m.col
}

// ConfigError is a configuration problem, naming where it is. Its message
// never holds a value given with -o, nor a secret from the file.
type ConfigError struct {
	Where string // "FILE:LINE:COL", or "-o KEY" for a command-line override
	Key   string // key path, nested keys joined with dots, list items [N]
	Msg   string // what is wrong, and what to do
	at    loc
	seq   int
}

func (e *ConfigError) Error() string {
	if e.Key == "" || e.Where == "-o "+e.Key {
		return e.Where + ": " + e.Msg
	}
	return e.Where + ": " + e.Key + ": " + e.Msg
}

var (
	configType      = reflect.TypeOf(Config{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// configLoader reads the layers of the configuration onto one Config,
// collecting every problem rather than stopping at the first.
type configLoader struct {
	cfg   *Config
	layer loc // the layer being read
	// pos is where the -c file or a -o set each key path (rules[0].enable,
	// http_output.url ...), for errors about values found later.
	pos   map[string]loc
	errs  []*ConfigError
	warns []string
}

// LoadConfig reads the configuration: the embedded defaults, then the file
// at path (the embedded defaults alone when path is "" or, for the default
// path, when it does not exist), then each -o override in order. It returns
// the warnings for Falco keys that are accepted but ignored. Every problem
// found in the file and the overrides is returned, in order of where it is
// (the file by line and column, then the overrides in order), joined.
func LoadConfig(path string, explicit bool, overrides []string) (*Config, []string, error) {
	l := &configLoader{cfg: &Config{}, pos: map[string]loc{}}
	l.layer = loc{file: "nightjar.yaml (embedded defaults)"}
	l.document(DefaultConfig)
	if len(l.errs) > 0 {
		return nil, nil, fmt.Errorf("embedded default configuration: %w", l.errs[0])
	}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			l.layer = loc{layer: 1, file: path}
			l.document(data)
		case errors.Is(err, os.ErrNotExist) && !explicit:
			// The default path is optional: the embedded defaults apply.
		default:
			return nil, nil, fmt.Errorf("configuration: %w", err)
		}
	}
	for i, o := range overrides {
		l.override(2+i, o)
	}
	l.rulesFileKeys()
	l.validate()
	if len(l.errs) == 0 {
		return l.cfg, l.warns, nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i], l.errs[j]
		if a.at != b.at {
			return a.at.before(b.at)
		}
		return a.seq < b.seq
	})
	errs := make([]error, len(l.errs))
	for i, e := range l.errs {
		errs[i] = e
	}
	return l.cfg, l.warns, errors.Join(errs...)
}

// at is the location of node n in the layer being read.
func (l *configLoader) at(n *yaml.Node) loc {
	a := l.layer
	if a.layer < 2 && n != nil {
		a.line, a.col = n.Line, n.Column
	}
	return a
}

func (l *configLoader) fail(at loc, key, format string, args ...any) {
	l.errs = append(l.errs, &ConfigError{Where: at.String(), Key: key, Msg: fmt.Sprintf(format, args...), at: at, seq: len(l.errs)})
}

// record notes that the layer being read sets path, at n. A list is set
// whole: what earlier layers said of its items is forgotten.
func (l *configLoader) record(path string, n *yaml.Node, list bool) {
	if l.layer.layer == 0 {
		return // the defaults are not where a problem is
	}
	if list {
		for p := range l.pos {
			if strings.HasPrefix(p, path+"[") {
				delete(l.pos, p)
			}
		}
	}
	l.pos[path] = l.at(n)
}

// find returns where the first of keys that a user's layer set was set:
// the key itself, else the first of its nested keys or items in the file
// (or the last -o to set one).
func (l *configLoader) find(keys ...string) (loc, bool) {
	for _, k := range keys {
		if at, ok := l.pos[k]; ok {
			return at, true
		}
		var best loc
		found := false
		for p, at := range l.pos {
			if !strings.HasPrefix(p, k+".") && !strings.HasPrefix(p, k+"[") {
				continue
			}
			if !found || at.layer > best.layer || at.layer == best.layer && at.before(best) {
				best, found = at, true
			}
		}
		if found {
			return best, true
		}
	}
	return loc{layer: noLayer}, false
}

// document lays one YAML document (the embedded defaults or the -c file)
// over the configuration, after checking every key and value in it. What
// is wrong is reported and left out; the rest applies, so that the checks
// of values that need the whole configuration still run.
func (l *configLoader) document(data []byte) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		at, msg := l.layer, strings.TrimPrefix(err.Error(), "yaml: ")
		if head, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(head, "line ") {
			if n, err := strconv.Atoi(strings.TrimPrefix(head, "line ")); err == nil {
				at.line, msg = n, rest
			}
		}
		l.fail(at, "", "not valid YAML: %s", msg)
		return
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return // empty file
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return
	}
	if root.Kind != yaml.MappingNode {
		l.fail(l.at(root), "", "the configuration must be a mapping of keys (key: value lines), as falco.yaml is")
		return
	}
	l.mapping(root, configType, "", "")
	if err := root.Decode(l.cfg); err != nil {
		// The checks above leave nothing that fails to decode; should
		// something, the message is given without the values it quotes.
		l.fail(l.layer, "", "%s", backquoted.ReplaceAllString(err.Error(), "a value"))
	}
}

var backquoted = regexp.MustCompile("`[^`]*`")

// mapping checks the keys of mapping n against the struct type t: unknown
// keys are errors (with the closest known key), Falco keys nightjar ignores
// are warnings. path prefixes the key paths recorded, disp those shown.
// Keys in error are removed from n.
func (l *configLoader) mapping(n *yaml.Node, t reflect.Type, path, disp string) {
	fields := yamlFields(t)
	var kept []*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if line, dup := seen[k.Value]; dup {
			l.fail(l.at(k), disp+k.Value, "set twice (first at line %d): keep one", line)
			continue
		}
		seen[k.Value] = k.Line
		ft, ok := fields[k.Value]
		if !ok {
			l.notAKey(k, v, path+k.Value, disp, fields)
			continue
		}
		if l.value(v, ft, path+k.Value, disp+k.Value) {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
}

// notAKey reports key k (value v) that the struct with fields does not
// have: a warning for a Falco key nightjar ignores, unless its value turns
// on something nightjar lacks, else an unknown key.
func (l *configLoader) notAKey(k, v *yaml.Node, dotted, disp string, fields map[string]reflect.Type) {
	if why, ok := ignoredFalcoKeys[dotted]; ok {
		if n, key, msg := refusedFalcoSetting(dotted, v); n != nil {
			l.fail(l.at(n), key, "%s", msg)
			return
		}
		msg := dotted + " (Falco key) is accepted but ignored"
		if why != "" {
			msg += ": " + why
		}
		l.warns = append(l.warns, l.at(k).String()+": "+msg)
		return
	}
	msg := "unknown key"
	if s := suggestKey(k.Value, fields); s != "" {
		msg += " (did you mean " + disp + s + "?)"
	}
	l.fail(l.at(k), disp+k.Value, "%s", msg)
}

// value checks node v against the Go type ft of key path (shown as disp)
// and records where it was set. It returns false when v cannot be used,
// after reporting why.
func (l *configLoader) value(v *yaml.Node, ft reflect.Type, path, disp string) bool {
	for ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	l.record(path, v, ft.Kind() == reflect.Slice)
	null := v.Kind == yaml.ScalarNode && v.Tag == "!!null"
	switch {
	case v.Kind == yaml.AliasNode || reflect.PointerTo(ft).Implements(unmarshalerType):
		return l.trial(v, ft, disp)
	case ft.Kind() == reflect.Struct:
		if v.Kind == yaml.MappingNode {
			l.mapping(v, ft, path+".", disp+".")
			return true
		}
		if null {
			return true
		}
		l.fail(l.at(v), disp, "want a mapping of keys (indented key: value lines), not %s", nodeKind(v))
		return false
	case ft.Kind() == reflect.Slice:
		switch {
		case null:
			return true
		case v.Kind == yaml.ScalarNode && ft.Elem().Kind() != reflect.Struct:
			// Falco reads a single value as a list of one.
			item := *v
			*v = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Column: v.Column, Content: []*yaml.Node{&item}}
		case v.Kind != yaml.SequenceNode:
			l.fail(l.at(v), disp, "want a list (- item lines, or [a, b]), not %s", nodeKind(v))
			return false
		}
		var kept []*yaml.Node
		for i, item := range v.Content {
			if l.value(item, ft.Elem(), fmt.Sprintf("%s[%d]", path, len(kept)), fmt.Sprintf("%s[%d]", disp, i)) {
				kept = append(kept, item)
			}
		}
		v.Content = kept
		return true
	case v.Kind != yaml.ScalarNode:
		l.fail(l.at(v), disp, "want %s, not %s", typeWord(ft), nodeKind(v))
		return false
	}
	return l.trial(v, ft, disp)
}

// trial decodes v into a new value of type ft, reporting a failure.
func (l *configLoader) trial(v *yaml.Node, ft reflect.Type, disp string) bool {
	if err := v.Decode(reflect.New(ft).Interface()); err != nil {
		msg := "want " + typeWord(ft)
		if s, ok := shown(l.at(v), disp, v.Value); ok && v.Kind == yaml.ScalarNode {
			msg += ", not " + s
		}
		l.fail(l.at(v), disp, "%s", msg)
		return false
	}
	return true
}

func typeWord(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(StringList{}):
		return "a string or a list of strings"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "a whole number"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr:
		return "a whole number, 0 or more"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Struct:
		return "a mapping of keys"
	case t.Kind() == reflect.Slice:
		return "a list"
	}
	return t.String()
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a single value"
}

// shown is how an error may quote value, set for key at loc: never when
// it came from -o (command lines end up in shell histories, process lists
// and pasted tickets, and a mistyped key may hold a URL with a password),
// never for a key that may hold a secret, and a URL without its user
// information, path and query. ok is false when the value is not shown.
func shown(at loc, key, value string) (s string, ok bool) {
	last := strings.ToLower(key[strings.LastIndexAny(key, ".]")+1:])
	switch {
	case at.layer >= 2 && at.layer != noLayer:
		return "", false
	case last == "url" || strings.HasSuffix(last, "_url"):
		return redactURL(value), true
	}
	for _, w := range []string{"password", "passwd", "secret", "token", "apikey", "api_key", "credential", "private"} {
		if strings.Contains(last, w) {
			return "", false
		}
	}
	return strconv.Quote(value), true
}

// redactURL quotes u with its user information, path and query replaced
// by <secret>: the scheme and host are what an error about a URL needs.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Opaque != "" {
		return "(a URL, not shown)"
	}
	s := ""
	if p.Scheme != "" {
		s = p.Scheme + ":"
	}
	if p.Host != "" || p.User != nil {
		s += "//"
		if p.User != nil {
			s += "<secret>@"
		}
		s += p.Host
	}
	if p.Path != "" && p.Path != "/" {
		s += "/<secret>"
	} else {
		s += p.Path
	}
	if p.RawQuery != "" || p.ForceQuery || p.Fragment != "" {
		s += "?<secret>"
	}
	return strconv.Quote(s)
}

// yamlFields maps the yaml key names of struct type t to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
	return fields
}

// suggestKey returns the known key closest to k, if one is close.
func suggestKey(k string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", len(k)/3+1
	for _, n := range names {
		if d := field.EditDistance(k, n); d < bestD || (d <= bestD && best == "" && d <= len(k)/3) {
			best, bestD = n, d
		}
	}
	return best
}

// keySeg is one step of a -o key: a key name, or a list index (idx, or
// append for []).
type keySeg struct {
	name   string
	isIdx  bool
	idx    int
	append bool
}

// parseKey reads a -o key: names joined by dots, each name followed by any
// number of [N] or [] (rules[].disable.rule, rules_files[0],
// http_output.url), as Falco's -o does. It returns nil and the well-formed
// start of key when key is malformed.
func parseKey(key string) ([]keySeg, string) {
	var segs []keySeg
	i := 0
	for {
		j := i
		for j < len(key) && (key[j] == '_' || key[j] == '-' || 'a' <= key[j] && key[j] <= 'z' ||
			'A' <= key[j] && key[j] <= 'Z' || '0' <= key[j] && key[j] <= '9') {
			j++
		}
		if j == i {
			return nil, strings.TrimSuffix(key[:i], ".")
		}
		segs = append(segs, keySeg{name: key[i:j]})
		i = j
		for i < len(key) && key[i] == '[' {
			end := strings.IndexByte(key[i:], ']')
			if end < 0 {
				return nil, key[:i]
			}
			num := key[i+1 : i+end]
			s := keySeg{isIdx: true, append: num == ""}
			if !s.append {
				n, err := strconv.Atoi(num)
				if err != nil || n < 0 || strings.TrimLeft(num, "0123456789") != "" {
					return nil, key[:i]
				}
				s.idx = n
			}
			segs = append(segs, s)
			i += end + 1
		}
		if i == len(key) {
			return segs, key
		}
		if key[i] != '.' {
			return nil, key[:i]
		}
		i++
	}
}

// dotted joins the names of segs with dots, leaving out list indexes: the
// form of ignoredFalcoKeys.
func dotted(segs []keySeg) string {
	var names []string
	for _, s := range segs {
		if !s.isIdx {
			names = append(names, s.name)
		}
	}
	return strings.Join(names, ".")
}

// override applies one -o KEY=VALUE, as Falco does: KEY is a key path
// (nested keys joined with dots; [N] is item N of a list, [] a new item at
// its end: -o rules[].disable.rule=X adds {disable: {rule: X}} to rules).
// VALUE is taken as Falco takes it: the literal string where the key holds
// strings (-o 'rules[].disable.rule=Shell #2' is that name, not "Shell"
// and a YAML comment; -o hostname=null is "null"), read as YAML where it
// holds something else (-o json_output=true is a bool) or where VALUE
// starts with [ or { (-o 'rules_files=[a, b]'), as Falco reads structured
// values. Errors name the key and never print the value.
func (l *configLoader) override(layer int, o string) {
	key, val, hasEq := strings.Cut(o, "=")
	key = strings.TrimSpace(key)
	segs, good := parseKey(key)
	l.layer = loc{layer: layer, opt: good}
	switch {
	case !hasEq:
		l.fail(l.layer, "", "want KEY=VALUE (e.g. -o json_output=true)")
		return
	case segs == nil:
		l.fail(l.layer, "", "malformed key: want names joined by dots, a list's name followed by [N] or [] "+
			"(e.g. -o http_output.url=..., -o 'rules_files[0]=...', -o 'rules[].disable.rule=...')")
		return
	case segs[0].isIdx:
		l.fail(l.layer, "", "a key starts with a name")
		return
	}
	leaf, err := overrideValue(val)
	if err != nil {
		l.fail(l.layer, "", "the value is not valid YAML: %v (put it in quotes to pass a string)", err)
		return
	}

	// Walk the key through the Config type.
	t, disp := configType, ""
	for i, s := range segs {
		if s.isIdx {
			if t.Kind() != reflect.Slice {
				l.fail(l.layer, "", "%s is not a list: [] and [N] name items of a list", disp)
				return
			}
			t = t.Elem()
			if s.append {
				disp += "[]"
			} else {
				disp += fmt.Sprintf("[%d]", s.idx)
			}
			continue
		}
		prefix := disp
		if prefix != "" {
			prefix += "."
		}
		if t.Kind() != reflect.Struct {
			l.fail(l.layer, "", "%s has no keys below it: it is %s", disp, typeWord(t))
			return
		}
		fields := yamlFields(t)
		ft, ok := fields[s.name]
		if !ok {
			l.notAKey(&yaml.Node{Kind: yaml.ScalarNode, Value: s.name}, synth(segs[i+1:], leaf), dotted(segs[:i+1]), prefix, fields)
			return
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		t, disp = ft, prefix+s.name
	}

	if holdsStrings(t) && !structured(val) {
		leaf = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
	}

	// Apply it to the top-level key's current value, re-encoded.
	top := fieldByTag(reflect.ValueOf(l.cfg).Elem(), segs[0].name)
	var node yaml.Node
	if err := node.Encode(top.Interface()); err != nil {
		l.fail(l.layer, "", "%s", backquoted.ReplaceAllString(err.Error(), "a value"))
		return
	}
	target, path, err := locate(&node, segs[1:], segs[0].name)
	if err != nil {
		l.fail(l.layer, "", "%v", err)
		return
	}
	if !l.value(leaf, t, path, good) {
		return
	}
	*target = *leaf
	if err := node.Decode(top.Addr().Interface()); err != nil {
		l.fail(l.layer, "", "%s", backquoted.ReplaceAllString(err.Error(), "a value"))
	}
}

// structured reports whether an -o VALUE is a YAML list or mapping
// ([...] or {...}), which Falco parses whatever the key.
func structured(val string) bool {
	trimmed := strings.TrimSpace(val)
	return strings.HasPrefix(trimmed, "[") || strings.HasPrefix(trimmed, "{")
}

// holdsStrings reports whether a key of type t holds a string or a list of
// strings (a single value being a list of one): there an -o VALUE that is
// not structured is the literal string.
func holdsStrings(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t.Kind() == reflect.String
}

// overrideValue reads the VALUE of -o KEY=VALUE as YAML (see override,
// which keeps it literal where the key holds strings).
func overrideValue(val string) (*yaml.Node, error) {
	literal := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
	trimmed := strings.TrimSpace(val)
	if trimmed == "" {
		return literal, nil // -o key= is the empty string, as in Falco
	}
	var doc yaml.Node
	err := yaml.Unmarshal([]byte(val), &doc)
	switch {
	case structured(val):
		if err != nil {
			return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
		}
	case err != nil:
		return literal, nil
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}, nil
	}
	n := doc.Content[0]
	if n.Kind != yaml.ScalarNode && !structured(val) {
		return literal, nil // "a: b", "- x": Falco takes these as strings
	}
	return n, nil
}

// synth builds the YAML that the rest of a -o key and its value stand for
// (a.b[].c=v is a: {b: [{c: v}]}), to check keys nightjar does not have.
func synth(segs []keySeg, leaf *yaml.Node) *yaml.Node {
	n := leaf
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].isIdx {
			n = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{n}}
		} else {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: segs[i].name}, n}}
		}
	}
	return n
}

// locate finds the node that segs name below n, making the mappings,
// lists and items on the way that do not exist yet ([] and [len] add an
// item), and returns it with its key path (rules[3].disable.rule).
func locate(n *yaml.Node, segs []keySeg, path string) (*yaml.Node, string, error) {
	cur := n
	for _, s := range segs {
		if cur.Kind == 0 || cur.Kind == yaml.ScalarNode && cur.Tag == "!!null" {
			if s.isIdx {
				*cur = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			} else {
				*cur = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
		}
		if s.isIdx {
			if cur.Kind != yaml.SequenceNode {
				return nil, "", fmt.Errorf("%s is not a list", path)
			}
			i := s.idx
			if s.append {
				i = len(cur.Content)
			}
			if i > len(cur.Content) {
				return nil, "", fmt.Errorf("%s has %d items (numbered from 0): [%d] is past its end; [] or [%d] adds one",
					path, len(cur.Content), i, len(cur.Content))
			}
			if i == len(cur.Content) {
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"})
			}
			cur, path = cur.Content[i], fmt.Sprintf("%s[%d]", path, i)
			continue
		}
		if cur.Kind != yaml.MappingNode {
			return nil, "", fmt.Errorf("%s has no keys below it", path)
		}
		next := child(cur, s.name)
		if next == nil {
			next = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
			cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.name}, next)
		}
		cur, path = next, path+"."+s.name
	}
	return cur, path, nil
}

func fieldByTag(v reflect.Value, name string) reflect.Value {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		n, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if n == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

// rulesFileKeys applies rules_file, Falco's older name for rules_files,
// when the file or a -o set it; both set is an error, since one would be
// dropped.
func (l *configLoader) rulesFileKeys() {
	old, oldSet := l.find("rules_file")
	cur, curSet := l.find("rules_files")
	switch {
	case oldSet && curSet:
		l.fail(old, "rules_file", "set together with rules_files (%s): they are one setting under two names "+
			"(rules_file is Falco's older one); keep only rules_files", cur)
	case oldSet:
		l.cfg.RulesFiles = l.cfg.RulesFile
	}
}

// validate checks values that YAML typing alone does not. Each error is
// placed where the key was set (or, for a missing value, where the setting
// that needs it was); values set with -o are never quoted.
func (l *configLoader) validate() {
	c := l.cfg
	// bad reports a problem with key, placed at the first of key and at
	// that a user's layer set.
	bad := func(key string, at []string, format string, args ...any) {
		where, _ := l.find(append([]string{key}, at...)...)
		l.fail(where, key, format, args...)
	}
	// val quotes the value of key where it may be quoted (see shown).
	val := func(key, value string) string {
		where, _ := l.find(key)
		if s, ok := shown(where, key, value); ok {
			return s
		}
		return "the value"
	}
	if _, err := alert.ParsePriority(c.Priority); err != nil {
		bad("priority", nil, "%s is not a priority: want emergency, alert, critical, error, warning, notice, informational or debug",
			val("priority", c.Priority))
	}
	switch c.RuleMatching {
	case "first", "all":
	default:
		bad("rule_matching", nil, "%s is not a matching mode: want first (Falco's default) or all", val("rule_matching", c.RuleMatching))
	}
	if c.OutputsQueue.Capacity < 0 {
		bad("outputs_queue.capacity", nil, "%s is below 0: want 0 (the default, 10000) or more",
			val("outputs_queue.capacity", strconv.Itoa(c.OutputsQueue.Capacity)))
	}
	if c.FileOutput.Enabled && c.FileOutput.Filename == "" {
		bad("file_output.filename", []string{"file_output.enabled", "file_output"},
			"empty while file_output.enabled is true: name the file, or set file_output.enabled to false")
	}
	if h := c.HTTPOutput; h.Enabled {
		if u, err := url.Parse(h.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			bad("http_output.url", []string{"http_output.enabled", "http_output"},
				"%s is not an absolute http:// or https:// URL: want e.g. http://127.0.0.1:2801/ (the sidekick)", val("http_output.url", h.URL))
		}
		if h.MTLS && (h.ClientCert == "" || h.ClientKey == "") {
			bad("http_output.mtls", []string{"http_output.client_cert", "http_output.client_key"},
				"needs http_output.client_cert and http_output.client_key (PEM files), or set it to false")
		}
	}
	if s := c.SyscallBufSize; s != 0 && (s < 4096 || s&(s-1) != 0) {
		bad("syscall_buf_size", nil, "%s is not a power of two of at least 4096 bytes: want e.g. 8388608 (8 MiB), "+
			"or 0 to use syscall_buf_size_preset", val("syscall_buf_size", strconv.Itoa(s)))
	}
	if p := c.SyscallBufSizePreset; p < 0 || p > 10 {
		bad("syscall_buf_size_preset", nil, "%s is out of range: want 1 (1 MiB) to 10 (512 MiB), or 0 for the default (4, 8 MiB)",
			val("syscall_buf_size_preset", strconv.Itoa(p)))
	}
	if c.Metrics.Enabled && c.Metrics.ListenAddress == "" {
		bad("metrics.listen_address", []string{"metrics.enabled", "metrics"},
			"empty while metrics.enabled is true: want host:port, e.g. 127.0.0.1:8765")
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		bad("log_level", nil, "%s is not a log level: want debug, info, notice, warning, error, critical, alert or emergency",
			val("log_level", c.LogLevel))
	}
	for i, r := range c.Rules {
		key := fmt.Sprintf("rules[%d]", i)
		if (r.Enable == nil) == (r.Disable == nil) {
			bad(key, []string{"rules"}, "each item is either enable: or disable: (e.g. - disable: {rule: \"Name*\"})")
			continue
		}
		m := r.Enable
		if m == nil {
			m = r.Disable
		}
		if len(m.Rule) == 0 && len(m.Tag) == 0 {
			bad(key, []string{"rules"}, "names no rule: and no tag: (e.g. - disable: {rule: \"Name*\"} or - enable: {tag: network})")
		}
	}
}

// RingSize returns the kernel ring buffer size in bytes.
func (c *Config) RingSize() int {
	if c.SyscallBufSize > 0 {
		return c.SyscallBufSize
	}
	p := c.SyscallBufSizePreset
	if p == 0 {
		p = 4
	}
	return 1 << (19 + p) // Falco's presets: 1 = 1 MiB ... 10 = 512 MiB
}

// QueueCapacity returns outputs_queue.capacity with the default applied.
func (c *Config) QueueCapacity() int {
	if c.OutputsQueue.Capacity == 0 {
		return 10000
	}
	return c.OutputsQueue.Capacity
}

// MinPriority returns priority, parsed (validated at load).
func (c *Config) MinPriority() alert.Priority {
	p, _ := alert.ParsePriority(c.Priority)
	return p
}

// HostnameOrDefault returns hostname, else $FALCO_HOSTNAME, else the
// machine's name.
func (c *Config) HostnameOrDefault() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	if h := os.Getenv("FALCO_HOSTNAME"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "informational", "notice", "":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error", "critical", "alert", "emergency":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: want debug, info, notice, warning, error, critical, alert or emergency", s)
}
