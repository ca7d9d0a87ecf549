// Package config loads the sidekick's configuration: a YAML file (-c FILE)
// overlaid by environment variables named falcosidekick's way (the key path
// upper-cased and joined by "_": slack.webhookurl = SLACK_WEBHOOKURL,
// tlsserver.certfile = TLSSERVER_CERTFILE). Every invalid value stops
// start-up with an error naming its key; secrets never appear in errors or
// in the configuration dump.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/nightjar-sec/nightjar/forwarder/queue"
	"github.com/nightjar-sec/nightjar/forwarder/route"
	"github.com/nightjar-sec/nightjar/outputs"
)

// Defaults.
const (
	DefaultListenPort = 2801
	DefaultBodyLimit  = 1 << 20 // 1 MiB
)

// TLSServer serves the API over TLS; keys as in falcosidekick.
type TLSServer struct {
	Deploy     bool   `yaml:"deploy"`
	CertFile   string `yaml:"certfile"`
	KeyFile    string `yaml:"keyfile"`
	MutualTLS  bool   `yaml:"mutualtls"`
	CACertFile string `yaml:"cacertfile"`
	// NoTLSPort serves NoTLSPaths over plain HTTP while TLS is on, for
	// probes that cannot speak TLS (falcosidekick's keys and defaults).
	NoTLSPort  int      `yaml:"notlsport"`
	NoTLSPaths []string `yaml:"notlspaths"`
}

// Defaults of the plain-HTTP side port, as in falcosidekick.
const DefaultNoTLSPort = 2810

// DefaultNoTLSPaths returns the paths served without TLS by default.
func DefaultNoTLSPaths() []string { return []string{"/ping"} }

// Config is the whole configuration. The output sections (one top-level key
// per output type, and the named instances under outputs:) are not fields:
// their types come from the forwarder's list of output types, so Load
// decodes them into Outputs.
type Config struct {
	ListenAddress string `yaml:"listenaddress"`
	ListenPort    int    `yaml:"listenport"`
	Debug         bool   `yaml:"debug"`
	// LogFormat is text (default) or json.
	LogFormat       string            `yaml:"logformat"`
	CustomFields    map[string]string `yaml:"customfields"`
	CustomTags      []string          `yaml:"customtags"`
	TemplatedFields map[string]string `yaml:"templatedfields"`
	BodyLimit       int64             `yaml:"bodylimit"`
	// AuthToken, when set, is the bearer token that POST /, POST /test and
	// /api/v1/* (the dead letters hold whole alerts) require
	// (Authorization: Bearer <token>); the probes stay open.
	AuthToken outputs.Secret `yaml:"authtoken"`
	TLSServer TLSServer      `yaml:"tlsserver"`
	// Queue is the durable queue (queue.dir, queue.url, queue.maxbytes, ...).
	Queue  queue.Config  `yaml:"queue"`
	Routes []route.Route `yaml:"routes"`

	// Outputs are the enabled outputs, in a stable order: the type-named
	// ones in the order of the type list, then the named ones by name.
	Outputs []Output `yaml:"-"`
	// Templates are the parsed templatedfields.
	Templates map[string]*template.Template `yaml:"-"`
	// Warnings are problems that do not stop start-up (a falcosidekick
	// output nightjar lacks, turned on by the environment); the sidekick
	// logs them.
	Warnings []string `yaml:"-"`
}

// Output is one enabled output instance.
type Output struct {
	// Name is the type's name for a top-level section ("slack"), or the
	// instance's name under outputs: ("slack-ops").
	Name   string
	Type   string
	Config outputs.Config
}

// Default returns the configuration with no file and no environment.
func Default() *Config {
	return &Config{ListenPort: DefaultListenPort, BodyLimit: DefaultBodyLimit, LogFormat: "text", Queue: queue.DefaultConfig(),
		TLSServer: TLSServer{NoTLSPort: DefaultNoTLSPort, NoTLSPaths: DefaultNoTLSPaths()}}
}

// instance is an output section while loading, enabled or not.
type instance struct {
	name, typ string
	key, env  string // "slack" / "SLACK", "outputs.ops" / "OUTPUTS_OPS"
	cfg       outputs.Config
	declared  bool // named under outputs: (must then be enabled)
}

// Load reads the file at path (none when path is ""), overlays env
// (os.Environ's form), and validates. types are the known output types.
func Load(path string, environ []string, types []outputs.Type) (*Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		data = b
	}
	c, err := Parse(data, environ, types)
	if err != nil && path != "" {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, err
}

// Parse is Load on YAML already read.
func Parse(data []byte, environ []string, types []outputs.Type) (*Config, error) {
	c := Default()
	byType := map[string]outputs.Type{}
	var insts []*instance
	top := map[string]*instance{}
	for _, t := range types {
		byType[t.Name] = t
		in := &instance{name: t.Name, typ: t.Name, key: t.Name, env: strings.ToUpper(t.Name), cfg: t.NewConfig()}
		insts = append(insts, in)
		top[t.Name] = in
	}
	named := map[string]*instance{}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("YAML: %w", err)
	}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode {
			if !(root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
				return nil, fmt.Errorf("line %d: the configuration must be a mapping of keys", root.Line)
			}
		} else if err := c.decodeRoot(root, top, named, byType, types); err != nil {
			return nil, err
		}
	}

	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if err := overlayEnv(c, "", "", env); err != nil {
		return nil, err
	}
	var tn []string
	for n := range byType {
		tn = append(tn, n)
	}
	sort.Strings(tn)
	if err := unsupportedEnv(env, tn); err != nil {
		return nil, err
	}
	c.Warnings = append(c.Warnings, unimplementedGlobalEnv(env)...)
	if err := namedFromEnv(env, named, byType); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		insts = append(insts, named[n])
	}
	for _, in := range insts {
		if err := overlayEnv(in.cfg, in.key, in.env, env); err != nil {
			return nil, err
		}
	}
	if err := c.validate(insts); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeRoot decodes the top-level mapping: globals, output sections and
// named outputs.
func (c *Config) decodeRoot(root *yaml.Node, top, named map[string]*instance, byType map[string]outputs.Type, types []outputs.Type) error {
	globals := structKeys(typeOf(c))
	st := &state{warn: &c.Warnings, known: knownKeys(typeOf(c), types)}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		lk := strings.ToLower(k.Value)
		switch {
		case strings.HasPrefix(lk, "x-"):
			// Extension keys, as in docker-compose: a place for YAML
			// anchors (&defaults) that outputs merge with <<: *defaults.
			continue
		case lk == "outputs":
			if err := decodeNamed(v, named, byType, top, st); err != nil {
				return err
			}
		case top[lk] != nil:
			in := top[lk]
			if err := decodeInto(v, in.cfg, lk, st); err != nil {
				return err
			}
		case falcosidekickOnly[lk] != nil:
			if err := unsupportedSection(lk, v, typeNames(byType)); err != nil {
				return err
			}
		case isFalcosidekickGlobal(lk):
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s (line %d): falcosidekick setting not implemented by nightjar-sidekick; ignored", lk, k.Line))
		default:
			g, ok := globals[lk]
			unset := v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || (v.Tag == "!!str" && v.Value == ""))
			if !ok && !unset {
				if err := misspelt(k.Value, k, globals, st); err != nil {
					return err
				}
			}
			e := ""
			if !ok {
				e = st.elsewhere(k.Value)
			}
			if !ok && emptyNode(v) && e != "" {
				st.warnf("%s (line %d): unknown key here, with an empty value; ignored%s", k.Value, k.Line, e)
				continue
			}
			if !ok && emptyNode(v) {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s (line %d): unknown key with an empty value; ignored", k.Value, k.Line))
				continue
			}
			if !ok && e != "" {
				return fmt.Errorf("%s (line %d): unknown key %q here%s", k.Value, k.Line, k.Value, e)
			}
			if !ok {
				return fmt.Errorf("%s (line %d): unknown key (not a global setting nor an output type; types: %s)", k.Value, k.Line, typeNames(byType))
			}
			k.Value = g.name
			if unset {
				continue // unset: keep the default, as falcosidekick does
			}
			if err := checkNode(v, g.typ, g.name, st); err != nil {
				return err
			}
			// Decode this key alone into the struct, keeping the defaults
			// of the keys the file does not set.
			one := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}
			if err := one.Decode(c); err != nil {
				return fmt.Errorf("%s (line %d): %s", g.name, k.Line, strings.TrimPrefix(err.Error(), "yaml: "))
			}
		}
	}
	return nil
}

// decodeInto checks node against dst's type, then decodes it.
func decodeInto(n *yaml.Node, dst any, key string, st *state) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "slack:" with nothing under it
	}
	if err := checkNode(n, typeOf(dst), key, st); err != nil {
		return err
	}
	if err := n.Decode(dst); err != nil {
		return fmt.Errorf("%s (line %d): %s", key, n.Line, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

var instanceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// decodeNamed reads outputs: {name: {type: slack, <slack keys>}}.
func decodeNamed(n *yaml.Node, named map[string]*instance, byType map[string]outputs.Type, top map[string]*instance, st *state) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("outputs (line %d): want a mapping of output names to settings", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		key := "outputs." + name
		if !instanceName.MatchString(name) {
			return fmt.Errorf("%s (line %d): output names are lower-case letters, digits, '-' and '_'", key, k.Line)
		}
		if named[name] != nil {
			return fmt.Errorf("%s (line %d): defined twice", key, k.Line)
		}
		if v.Kind != yaml.MappingNode {
			return fmt.Errorf("%s (line %d): want a mapping with type and the type's settings", key, v.Line)
		}
		var typ string
		rest := &yaml.Node{Kind: yaml.MappingNode, Line: v.Line}
		for j := 0; j+1 < len(v.Content); j += 2 {
			if strings.EqualFold(v.Content[j].Value, "type") {
				typ = v.Content[j+1].Value
				continue
			}
			rest.Content = append(rest.Content, v.Content[j], v.Content[j+1])
		}
		in, err := newNamed(name, typ, byType)
		if err != nil {
			return fmt.Errorf("%s (line %d): %w", key, v.Line, err)
		}
		if err := decodeInto(rest, in.cfg, key, st); err != nil {
			return err
		}
		named[name] = in
	}
	return nil
}

func newNamed(name, typ string, byType map[string]outputs.Type) (*instance, error) {
	if typ == "" {
		return nil, fmt.Errorf("type: missing (one of %s)", typeNames(byType))
	}
	t, ok := byType[strings.ToLower(typ)]
	if !ok {
		return nil, fmt.Errorf("type: unknown output type %q (one of %s)", typ, typeNames(byType))
	}
	return &instance{
		name: name, typ: t.Name, key: "outputs." + name,
		env: "OUTPUTS_" + envName(name), cfg: t.NewConfig(), declared: true,
	}, nil
}

// envName is a name's environment form: upper-case, '-' as '_'.
func envName(name string) string { return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) }

// namedFromEnv creates the named outputs that only the environment declares:
// OUTPUTS_<NAME>_TYPE=slack declares output "<name>" (lower-cased), whose
// settings are then OUTPUTS_<NAME>_<KEY>.
func namedFromEnv(env map[string]string, named map[string]*instance, byType map[string]outputs.Type) error {
	known := map[string]bool{}
	for n := range named {
		known[envName(n)] = true
	}
	var keys []string
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mid, ok := strings.CutPrefix(k, "OUTPUTS_")
		if !ok {
			continue
		}
		mid, ok = strings.CutSuffix(mid, "_TYPE")
		if !ok || mid == "" || env[k] == "" {
			continue
		}
		name := strings.ToLower(mid)
		if known[mid] {
			if in := named[name]; in != nil && !strings.EqualFold(in.typ, env[k]) {
				return fmt.Errorf("outputs.%s.type (env %s): %q contradicts the file's type %q", name, k, env[k], in.typ)
			}
			continue
		}
		if !instanceName.MatchString(name) {
			return fmt.Errorf("env %s: output names are letters, digits, '-' and '_'", k)
		}
		in, err := newNamed(name, env[k], byType)
		if err != nil {
			return fmt.Errorf("outputs.%s.%w (env %s)", name, err, k)
		}
		named[name] = in
	}
	return nil
}

func typeNames(byType map[string]outputs.Type) string {
	n := make([]string, 0, len(byType))
	for k := range byType {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// validate checks the globals and the outputs, keeps the enabled outputs and
// parses the templates.
func (c *Config) validate(insts []*instance) error {
	if c.ListenAddress != "" && net.ParseIP(strings.Trim(c.ListenAddress, "[]")) == nil && !validHost(c.ListenAddress) {
		return fmt.Errorf("listenaddress: %q is not an IP address or host name", c.ListenAddress)
	}
	if c.ListenPort < 1 || c.ListenPort > 65535 {
		return fmt.Errorf("listenport: %d is out of range (1 to 65535)", c.ListenPort)
	}
	if c.BodyLimit < 1 {
		return fmt.Errorf("bodylimit: must be a positive number of bytes, got %d", c.BodyLimit)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("logformat: %q is not text or json", c.LogFormat)
	}
	for k := range c.CustomFields {
		if k == "" {
			return errors.New("customfields: empty field name")
		}
	}
	if t := c.TLSServer; t.Deploy {
		if t.CertFile == "" || t.KeyFile == "" {
			return errors.New("tlsserver.certfile, tlsserver.keyfile: both are needed when tlsserver.deploy is true")
		}
		if t.MutualTLS && t.CACertFile == "" {
			return errors.New("tlsserver.cacertfile: needed when tlsserver.mutualtls is true")
		}
		if len(t.NoTLSPaths) > 0 {
			if t.NoTLSPort < 1 || t.NoTLSPort > 65535 {
				return fmt.Errorf("tlsserver.notlsport: %d is out of range (1 to 65535)", t.NoTLSPort)
			}
			if t.NoTLSPort == c.ListenPort {
				return fmt.Errorf("tlsserver.notlsport: %d is listenport; the plain-HTTP port must differ", t.NoTLSPort)
			}
			for _, p := range t.NoTLSPaths {
				if !strings.HasPrefix(p, "/") {
					return fmt.Errorf("tlsserver.notlspaths: %q must start with /", p)
				}
			}
		}
	} else if t.MutualTLS {
		return errors.New("tlsserver.mutualtls: needs tlsserver.deploy: true")
	}
	if err := c.Queue.Validate(); err != nil {
		return err
	}
	c.Templates = map[string]*template.Template{}
	for k, src := range c.TemplatedFields {
		t, err := template.New(k).Parse(src)
		if err != nil {
			return fmt.Errorf("templatedfields.%s: %v", k, err)
		}
		c.Templates[k] = t
	}
	c.Outputs = nil
	seen := map[string]string{}
	for _, in := range insts {
		if !in.cfg.Enabled() {
			if in.declared {
				return fmt.Errorf("%s: declared as a %s output but not enabled: set its key setting (URL, API key, host, ...)", in.key, in.typ)
			}
			continue
		}
		if err := in.cfg.Validate(); err != nil {
			// Outputs name their keys under their type ("slack.webhookurl");
			// a named instance's keys live under outputs.<name>.
			msg := err.Error()
			if in.declared {
				msg = in.key + "." + strings.TrimPrefix(msg, in.typ+".")
			}
			return errors.New(msg)
		}
		if prev, dup := seen[in.name]; dup {
			return fmt.Errorf("%s: output name %q is already used by %s", in.key, in.name, prev)
		}
		seen[in.name] = in.key
		c.Outputs = append(c.Outputs, Output{Name: in.name, Type: in.typ, Config: in.cfg})
	}
	if _, err := route.New(c.Routes, c.RouteOutputs()); err != nil {
		return err
	}
	return nil
}

var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

func validHost(s string) bool { return len(s) <= 253 && hostName.MatchString(s) }

// RouteOutputs lists the enabled outputs for route.New.
func (c *Config) RouteOutputs() []route.Output {
	out := make([]route.Output, len(c.Outputs))
	for i, o := range c.Outputs {
		out[i] = route.Output{Name: o.Name, MinimumPriority: o.Config.Shared().MinimumPriority}
	}
	return out
}

// OutputNames lists the enabled outputs' names.
func (c *Config) OutputNames() []string {
	n := make([]string, len(c.Outputs))
	for i, o := range c.Outputs {
		n[i] = o.Name
	}
	return n
}

// Dump returns the effective configuration as YAML, secrets as <secret>:
// what the sidekick logs at debug level.
func (c *Config) Dump() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return "config dump failed: " + err.Error()
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return "config dump failed: " + err.Error()
	}
	if !c.AuthToken.IsSet() {
		m["authtoken"] = "" // say "not set" rather than "<secret>"
	}
	// queue.url may carry NATS credentials (nats://user:pass@host).
	if q, ok := m["queue"].(map[string]any); ok {
		if u, ok := q["url"].(string); ok && strings.Contains(u, "@") {
			q["url"] = "<secret>"
		}
	}
	named := map[string]any{}
	for _, o := range c.Outputs {
		var v map[string]any
		ob, err := yaml.Marshal(o.Config)
		if err == nil {
			err = yaml.Unmarshal(ob, &v)
		}
		if err != nil {
			return "config dump failed: " + err.Error()
		}
		if o.Name == o.Type {
			m[o.Name] = v
			continue
		}
		v["type"] = o.Type
		named[o.Name] = v
	}
	if len(named) > 0 {
		m["outputs"] = named
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return "config dump failed: " + err.Error()
	}
	return buf.String()
}

// Keys lists every global setting with its environment variable, for the
// documentation and --help.
func Keys() [][2]string {
	var out [][2]string
	for _, f := range envFields(typeOf(Default()), "", "", nil) {
		out = append(out, [2]string{f.key, f.env})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}
