package detector

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sort"
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
// that is set.
var ignoredFalcoKeys = map[string]string{
	"engine":                                "nightjar has one driver, its own eBPF programs",
	"load_plugins":                          "plugins are not supported",
	"plugins":                               "plugins are not supported",
	"watch_config_files":                    "restart nightjar to reload its configuration",
	"time_format_iso_8601":                  "output lines use Falco's default time format",
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

// ConfigError is a configuration problem, naming where it is.
type ConfigError struct {
	Where string // "FILE:LINE" or "-o KEY=VALUE"
	Key   string // dotted key path
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Key == "" {
		return e.Where + ": " + e.Msg
	}
	return e.Where + ": " + e.Key + ": " + e.Msg
}

// LoadConfig reads the configuration: the embedded defaults, then the file
// at path (the embedded defaults alone when path is "" or, for the default
// path, when it does not exist), then each -o override in order. It returns
// the warnings for Falco keys that are accepted but ignored. Every problem
// found is returned, joined.
func LoadConfig(path string, explicit bool, overrides []string) (*Config, []string, error) {
	var cfg Config
	var errs []error
	var warns []string
	if err := decodeLayer(&cfg, "nightjar.yaml (embedded defaults)", DefaultConfig, &errs, &warns); err != nil {
		return nil, nil, fmt.Errorf("embedded default configuration: %w", err)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			decodeLayer(&cfg, path, data, &errs, &warns)
		case errors.Is(err, os.ErrNotExist) && !explicit:
			// The default path is optional: the embedded defaults apply.
		default:
			return nil, nil, fmt.Errorf("configuration: %w", err)
		}
	}
	for _, o := range overrides {
		applyOverride(&cfg, o, &errs, &warns)
	}
	if len(errs) == 0 {
		errs = append(errs, cfg.validate()...)
	}
	if len(cfg.RulesFile) > 0 && len(cfg.RulesFiles) == 0 {
		cfg.RulesFiles = cfg.RulesFile
	}
	return &cfg, warns, errors.Join(errs...)
}

// decodeLayer lays one YAML document over cfg, after checking every key in
// it against Config.
func decodeLayer(cfg *Config, where string, data []byte, errs *[]error, warns *[]string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		err = &ConfigError{Where: where, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		*errs = append(*errs, err)
		return err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		err := &ConfigError{Where: fmt.Sprintf("%s:%d", where, root.Line), Msg: "the configuration must be a mapping of keys"}
		*errs = append(*errs, err)
		return err
	}
	n := len(*errs)
	checkKeys(root, reflect.TypeOf(Config{}), "", where, errs, warns)
	if len(*errs) > n {
		return (*errs)[n]
	}
	if err := root.Decode(cfg); err != nil {
		err = typeErrors(where, err)
		*errs = append(*errs, err)
		return err
	}
	return nil
}

// checkKeys reports every key of a mapping node that the struct type t does
// not have, and warns for Falco's keys that nightjar ignores.
func checkKeys(n *yaml.Node, t reflect.Type, prefix, where string, errs *[]error, warns *[]string) {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := prefix + k.Value
		at := fmt.Sprintf("%s:%d:%d", where, k.Line, k.Column)
		ft, ok := fields[k.Value]
		if !ok {
			if why, ok := ignoredFalcoKeys[key]; ok {
				msg := key + " (Falco key) is accepted but ignored"
				if why != "" {
					msg += ": " + why
				}
				*warns = append(*warns, at+": "+msg)
				continue
			}
			msg := "unknown key"
			if s := suggestKey(k.Value, fields); s != "" {
				msg += " (did you mean " + prefix + s + "?)"
			}
			*errs = append(*errs, &ConfigError{Where: at, Key: key, Msg: msg})
			continue
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && v.Kind == yaml.MappingNode:
			checkKeys(v, ft, key+".", where, errs, warns)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && v.Kind == yaml.SequenceNode:
			for _, item := range v.Content {
				if item.Kind == yaml.MappingNode {
					checkKeys(item, ft.Elem(), key+"[].", where, errs, warns)
				}
			}
		}
	}
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

// typeErrors rewrites yaml's type errors ("line 3: cannot unmarshal !!str
// `maybe` into bool") to name the file.
func typeErrors(where string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []error
		for _, e := range te.Errors {
			line, msg, ok := strings.Cut(e, ": ")
			if ok && strings.HasPrefix(line, "line ") {
				out = append(out, &ConfigError{Where: where + ":" + strings.TrimPrefix(line, "line "), Msg: msg})
			} else {
				out = append(out, &ConfigError{Where: where, Msg: e})
			}
		}
		return errors.Join(out...)
	}
	return &ConfigError{Where: where, Msg: err.Error()}
}

// applyOverride applies one -o key=value: the value is read as YAML (so
// -o json_output=true is a bool and -o rules_files=[a,b] a list) and
// decoded into the key's type. "key[]=value" appends to a list.
func applyOverride(cfg *Config, o string, errs *[]error, warns *[]string) {
	where := "-o " + o
	key, val, ok := strings.Cut(o, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		*errs = append(*errs, &ConfigError{Where: where, Msg: "want key=value (e.g. -o json_output=true)"})
		return
	}
	appendItem := strings.HasSuffix(key, "[]")
	key = strings.TrimSuffix(key, "[]")
	parts := strings.Split(key, ".")
	for _, p := range parts {
		if p == "" {
			*errs = append(*errs, &ConfigError{Where: where, Key: key, Msg: "empty component in key"})
			return
		}
	}
	var value yaml.Node
	if err := yaml.Unmarshal([]byte(val), &value); err != nil {
		*errs = append(*errs, &ConfigError{Where: where, Key: key, Msg: "value is not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
		return
	}
	leaf := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	if len(value.Content) > 0 {
		leaf = value.Content[0]
	}
	if appendItem {
		t, ok := fieldType(reflect.TypeOf(Config{}), parts)
		if !ok || t.Kind() != reflect.Slice {
			*errs = append(*errs, &ConfigError{Where: where, Key: key, Msg: "[] appends to a list, and this key is not one"})
			return
		}
		// Re-encode the current list with the item added.
		cur := reflect.ValueOf(cfg).Elem()
		for _, p := range parts {
			cur = fieldByTag(cur, p)
		}
		var seq yaml.Node
		if err := seq.Encode(cur.Interface()); err != nil {
			*errs = append(*errs, &ConfigError{Where: where, Key: key, Msg: err.Error()})
			return
		}
		if seq.Kind != yaml.SequenceNode {
			seq = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		}
		seq.Content = append(seq.Content, leaf)
		leaf = &seq
	}
	root := leaf
	for i := len(parts) - 1; i >= 0; i-- {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[i], Line: 1, Column: 1}, root}}
	}
	n := len(*errs)
	checkKeys(root, reflect.TypeOf(Config{}), "", "-o", errs, warns)
	if len(*errs) > n {
		for i := n; i < len(*errs); i++ {
			if ce, ok := (*errs)[i].(*ConfigError); ok {
				ce.Where = where
			}
		}
		return
	}
	if err := root.Decode(cfg); err != nil {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			_, msg, _ = strings.Cut(te.Errors[0], ": ")
		}
		*errs = append(*errs, &ConfigError{Where: where, Key: key, Msg: msg})
	}
}

func fieldType(t reflect.Type, parts []string) (reflect.Type, bool) {
	for _, p := range parts {
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		found := false
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == p {
				t, found = t.Field(i).Type, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return t, true
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

// validate checks values that YAML typing alone does not.
func (c *Config) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Where: "configuration", Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if _, err := alert.ParsePriority(c.Priority); err != nil {
		bad("priority", "%q is not a priority (emergency, alert, critical, error, warning, notice, informational, debug)", c.Priority)
	}
	switch c.RuleMatching {
	case "first", "all":
	default:
		bad("rule_matching", "%q: want first or all", c.RuleMatching)
	}
	if c.OutputsQueue.Capacity < 0 {
		bad("outputs_queue.capacity", "%d: must be 0 (the default) or more", c.OutputsQueue.Capacity)
	}
	if c.FileOutput.Enabled && c.FileOutput.Filename == "" {
		bad("file_output.filename", "empty while file_output is enabled")
	}
	if c.HTTPOutput.Enabled {
		if !strings.HasPrefix(c.HTTPOutput.URL, "http://") && !strings.HasPrefix(c.HTTPOutput.URL, "https://") {
			bad("http_output.url", "want an http:// or https:// URL")
		}
		if c.HTTPOutput.MTLS && (c.HTTPOutput.ClientCert == "" || c.HTTPOutput.ClientKey == "") {
			bad("http_output.mtls", "needs http_output.client_cert and http_output.client_key")
		}
	}
	if s := c.SyscallBufSize; s != 0 && (s < 4096 || s&(s-1) != 0) {
		bad("syscall_buf_size", "%d: must be a power of two, at least 4096 bytes", s)
	}
	if p := c.SyscallBufSizePreset; p < 0 || p > 10 {
		bad("syscall_buf_size_preset", "%d: must be 0..10", p)
	}
	if c.Metrics.Enabled && c.Metrics.ListenAddress == "" {
		bad("metrics.listen_address", "empty while metrics are enabled")
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	for i, r := range c.Rules {
		if (r.Enable == nil) == (r.Disable == nil) {
			bad(fmt.Sprintf("rules[%d]", i), "each item is either enable: or disable:")
			continue
		}
		m := r.Enable
		if m == nil {
			m = r.Disable
		}
		if len(m.Rule) == 0 && len(m.Tag) == 0 {
			bad(fmt.Sprintf("rules[%d]", i), "names no rule: and no tag:")
		}
	}
	return errs
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
