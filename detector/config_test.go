package detector

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/alert"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nightjar.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	cfg, warns, err := LoadConfig("", false, nil)
	if err != nil || len(warns) != 0 {
		t.Fatalf("embedded defaults: %v %v", err, warns)
	}
	if !cfg.StdoutOutput.Enabled || cfg.HTTPOutput.Enabled || cfg.HTTPOutput.URL != "http://127.0.0.1:2801/" ||
		cfg.RuleMatching != "first" || cfg.MinPriority() != alert.PriorityDebug || !cfg.JSONIncludeOutputProperty ||
		len(cfg.RulesFiles) != 3 || cfg.QueueCapacity() != 10000 || cfg.RingSize() != 8<<20 || cfg.Metrics.Enabled {
		t.Fatalf("defaults: %+v", cfg)
	}
	// The default path may be absent: the embedded defaults apply.
	if _, _, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml"), false, nil); err != nil {
		t.Fatalf("absent default path: %v", err)
	}
	if _, _, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml"), true, nil); err == nil {
		t.Fatal("an explicit -c to a missing file must fail")
	}
}

func TestConfigFileAndOverrides(t *testing.T) {
	p := writeConfig(t, `
json_output: true
priority: warning
http_output:
  enabled: true
  url: https://sidekick:2801/
rules:
  - disable:
      rule: "*"
  - enable:
      tag: [network, container]
file_output:
  enabled: true
  filename: /tmp/x
`)
	cfg, _, err := LoadConfig(p, true, []string{
		"http_output.user_agent=probe/1", "outputs_queue.capacity=5", "rules_files=[/a.yaml, /b]",
		"rules_files[]=/c.yaml", "json_include_tags_property=false", "syscall_buf_size_preset=6",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.JSONOutput || cfg.MinPriority() != alert.PriorityWarning || cfg.HTTPOutput.URL != "https://sidekick:2801/" ||
		cfg.HTTPOutput.UserAgent != "probe/1" || cfg.QueueCapacity() != 5 || cfg.JSONIncludeTagsProperty ||
		strings.Join(cfg.RulesFiles, ",") != "/a.yaml,/b,/c.yaml" || cfg.RingSize() != 32<<20 {
		t.Fatalf("got %+v", cfg)
	}
	if len(cfg.Rules) != 2 || cfg.Rules[0].Disable == nil || cfg.Rules[0].Disable.Rule[0] != "*" ||
		strings.Join(cfg.Rules[1].Enable.Tag, ",") != "network,container" {
		t.Fatalf("rules: %+v", cfg.Rules)
	}
	// Keys the file did not set keep their defaults.
	if !cfg.StdoutOutput.Enabled || cfg.HTTPOutput.UserAgent == "" {
		t.Fatalf("defaults lost: %+v", cfg)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		file      string
		overrides []string
		want      []string
	}{
		{"json_outptu: true\n", nil, []string{":1:1: json_outptu: unknown key (did you mean json_output?)"}},
		{"http_output:\n  enabled: true\n  urll: x\n", nil, []string{":3:3: http_output.urll: unknown key (did you mean http_output.url?)"}},
		{"json_output: maybe\n", nil, []string{`:1:14: json_output: want true or false, not "maybe"`}},
		{"priority: severe\n", nil, []string{`:1:11: priority: "severe" is not a priority: want emergency,`}},
		{"", []string{"http_output.enabled=perhaps"}, []string{"-o http_output.enabled: want true or false"}},
		{"", []string{"stdout_output.colour=true"}, []string{"-o stdout_output.colour: unknown key"}},
		{"", []string{"stdout_outptu.enabled=true"}, []string{"-o stdout_outptu.enabled: stdout_outptu: unknown key (did you mean stdout_output?)"}},
		{"", []string{"json_output"}, []string{"-o json_output: want KEY=VALUE"}},
		{"", []string{"priority[]=x"}, []string{"-o priority[]: priority is not a list"}},
		{"", []string{"priority.level=x"}, []string{"-o priority.level: priority has no keys below it"}},
		{"", []string{"rules_files..x=a"}, []string{"-o rules_files: malformed key"}},
		{"", []string{"rules_files[5]=/a.yaml"}, []string{"-o rules_files[5]: rules_files has 3 items", "[] or [3] adds one"}},
		{"", []string{"rules_files=[a, b"}, []string{"-o rules_files: the value is not valid YAML"}},
		{"rule_matching: some\n", nil, []string{`:1:16: rule_matching: "some" is not a matching mode: want first`}},
		{"outputs_queue:\n  capacity: -1\n", nil, []string{":2:13: outputs_queue.capacity: \"-1\" is below 0"}},
		{"syscall_buf_size: 1000\n", nil, []string{":1:19: syscall_buf_size:", "power of two"}},
		{"rules:\n  - enable: {}\n", nil, []string{":2:5: rules[0]: names no rule"}},
		{"rules:\n  - disable:\n      rules: x\n", nil, []string{":3:7: rules[0].disable.rules: unknown key (did you mean rules[0].disable.rule?)"}},
		{"http_output:\n  enabled: true\n  url: ftp://x\n", nil, []string{`:3:8: http_output.url: "ftp://x" is not an absolute http:// or https:// URL`}},
		{"file_output:\n  enabled: true\n  filename: \"\"\n", nil, []string{":3:13: file_output.filename: empty while file_output.enabled is true"}},
		{"file_output:\n  enabled: true\n", []string{"file_output.filename="}, []string{"-o file_output.filename: empty while"}},
		{"metrics:\n  enabled: true\n  listen_address: \"\"\n", nil, []string{":3:19: metrics.listen_address: empty"}},
		{"http_output: true\n", nil, []string{":1:14: http_output: want a mapping of keys"}},
		{"rules_files: {a: b}\n", nil, []string{":1:14: rules_files: want a list"}},
		{"- a\n- b\n", nil, []string{":1:1: the configuration must be a mapping"}},
		{"priority: debug\nhttp_output:\n  url: a\n  url: b\npriority: info\n", nil, []string{
			":4:3: http_output.url: set twice (first at line 3): keep one", ":5:1: priority: set twice (first at line 1)"}},
		{"a: [\n", nil, []string{"nightjar.yaml:1: not valid YAML"}},
	}
	for _, c := range cases {
		p := writeConfig(t, c.file)
		_, _, err := LoadConfig(p, true, c.overrides)
		if err == nil {
			t.Errorf("%q %v: no error", c.file, c.overrides)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %v: error %q does not contain %q", c.file, c.overrides, err, w)
			}
		}
	}
	// Every error is reported, not just the first.
	p := writeConfig(t, "a: 1\nb: 2\n")
	_, _, err := LoadConfig(p, true, nil)
	if err == nil || !strings.Contains(err.Error(), "a: unknown") || !strings.Contains(err.Error(), "b: unknown") {
		t.Fatalf("want both keys named: %v", err)
	}
}

// Misspelt keys, values of the wrong type and bad values are all reported
// in one run, each at its file:line:col (-o ones as "-o KEY"), sorted.
func TestConfigErrorsAllAtOnce(t *testing.T) {
	p := writeConfig(t, `json_outptu: true
priority: warnng
http_output:
  enabled: maybe
  urll: x
rule_matching: some
syscall_buf_size: 1000
stdout_output:
  enabled: true
  colour: red
`)
	_, _, err := LoadConfig(p, true, []string{"log_level=loud", "outputs_queue.capacity=-5"})
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		p + ":1:1: json_outptu: unknown key (did you mean json_output?)",
		p + `:2:11: priority: "warnng" is not a priority: want emergency, alert, critical, error, warning, notice, informational or debug`,
		p + `:4:12: http_output.enabled: want true or false, not "maybe"`,
		p + ":5:3: http_output.urll: unknown key (did you mean http_output.url?)",
		p + `:6:16: rule_matching: "some" is not a matching mode: want first (Falco's default) or all`,
		p + `:7:19: syscall_buf_size: "1000" is not a power of two of at least 4096 bytes: want e.g. 8388608 (8 MiB), or 0 to use syscall_buf_size_preset`,
		p + ":10:3: stdout_output.colour: unknown key",
		"-o log_level: the value is not a log level: want debug, info, notice, warning, error, critical, alert or emergency",
		"-o outputs_queue.capacity: the value is below 0: want 0 (the default, 10000) or more",
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

// A -o error names the key and never prints the value: command lines end
// up in shell histories, process lists and tickets.
func TestConfigOverrideErrorsHideTheValue(t *testing.T) {
	const secret = "s3cretpw"
	for _, c := range []struct {
		overrides []string
		want      string
	}{
		{[]string{"http_output.urll=http://u:" + secret + "@127.0.0.1:1/"}, "-o http_output.urll: unknown key (did you mean http_output.url?)"},
		{[]string{"http_output.url:http://u:" + secret + "@127.0.0.1:1/"}, "-o http_output.url: want KEY=VALUE"},
		{[]string{"http_output url=http://u:" + secret + "@127.0.0.1:1/"}, "-o http_output: malformed key"},
		{[]string{"http_output.enabled=" + secret}, "-o http_output.enabled: want true or false"},
		{[]string{"http_output=" + secret}, "-o http_output: want a mapping of keys"},
		{[]string{"http_output.enabled=true", "http_output.url=ftp://u:" + secret + "@127.0.0.1:1/?token=" + secret},
			"-o http_output.url: the value is not an absolute http:// or https:// URL"},
		{[]string{"priority=" + secret}, "-o priority: the value is not a priority"},
		{[]string{"rules_files={a: " + secret}, "-o rules_files: the value is not valid YAML"},
		{[]string{"outputs_queue.capacity=" + secret}, "-o outputs_queue.capacity: want a whole number"},
		{[]string{"rules=" + secret}, "-o rules: want a list"},
	} {
		_, _, err := LoadConfig("", false, c.overrides)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.overrides, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%v: the error shows the value: %v", c.overrides, err)
		}
	}
}

// Errors about values in the file quote them, except secrets: a URL shows
// its scheme and host only, keys that may hold a secret nothing.
func TestConfigFileErrorsHideSecrets(t *testing.T) {
	p := writeConfig(t, "http_output:\n  enabled: true\n  url: ftp://user:s3cretpw@sidekick:2801/hook/t0ken?token=t0ken#t0ken\n")
	_, _, err := LoadConfig(p, true, nil)
	if err == nil || !strings.Contains(err.Error(), `:3:8: http_output.url: "ftp://<secret>@sidekick:2801/<secret>?<secret>" is not`) {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), "s3cretpw") || strings.Contains(err.Error(), "t0ken") || strings.Contains(err.Error(), "user") {
		t.Fatalf("the error shows a secret: %v", err)
	}
	p = writeConfig(t, "http_output:\n  url: [http://u:s3cretpw@x/]\n  password: s3cretpw\n")
	_, _, err = LoadConfig(p, true, nil)
	if err == nil || !strings.Contains(err.Error(), ":2:8: http_output.url: want a string, not a list") ||
		!strings.Contains(err.Error(), ":3:3: http_output.password: unknown key") || strings.Contains(err.Error(), "s3cretpw") {
		t.Fatalf("error %v", err)
	}
}

// How errors may quote a value: never from -o, never a secret.
func TestConfigShownValues(t *testing.T) {
	for _, c := range []struct {
		key, value string
		want       string
	}{
		{"http_output.url", "https://u:pw@h:1/p?q=1", `"https://<secret>@h:1/<secret>?<secret>"`},
		{"http_output.url", "http://h/", `"http://h/"`},
		{"a.webhook_url", "ftp:opaque:pw", "(a URL, not shown)"},
		{"hostname", "node-1", `"node-1"`},
		{"x.api_token", "abc", ""},
		{"x.password", "abc", ""},
		{"x.secret_key", "abc", ""},
		{"rules[0].apikey", "abc", ""},
	} {
		s, ok := shown(loc{layer: 1}, c.key, c.value)
		if s != c.want || ok != (c.want != "") {
			t.Errorf("shown(%s, %s) = %q %v, want %q", c.key, c.value, s, ok, c.want)
		}
		if _, ok := shown(loc{layer: 2, opt: c.key}, c.key, c.value); ok {
			t.Errorf("shown(-o %s) shows the value", c.key)
		}
	}
}

// -o takes Falco's key forms: [] adds an item to a list (and the keys after
// it fill the new item), [N] names an existing item or, N being the length,
// adds one.
func TestConfigOverrideListForms(t *testing.T) {
	p := writeConfig(t, "rules:\n  - disable:\n      rule: \"Noisy*\"\n  - enable:\n      tag: a\n")
	cfg, _, err := LoadConfig(p, true, []string{
		"rules[].disable.rule=*", // Falco's own test harness, for -t
		"rules[].enable.tag=network",
		"rules[].disable.rule=Read sensitive file: untrusted", // a literal string, as Falco takes it
		"rules[1].enable.tag=[b, c]",
		"rules[5]={disable: {tag: T1611}}",
		"rules[0].disable.rule=Other",
		"rules_files[0]=/a.yaml",
		"rules_files[]=/z.yaml",
		"rules_files[4]=/y.yaml",
		"http_output.url=http://sk:2801/",
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cfg.Rules {
		verb, m := "enable", r.Enable
		if m == nil {
			verb, m = "disable", r.Disable
		}
		got = append(got, fmt.Sprintf("%s rule=%v tag=%v", verb, []string(m.Rule), []string(m.Tag)))
	}
	want := []string{
		"disable rule=[Other] tag=[]",
		"enable rule=[] tag=[b c]",
		"disable rule=[*] tag=[]",
		"enable rule=[] tag=[network]",
		"disable rule=[Read sensitive file: untrusted] tag=[]",
		"disable rule=[] tag=[T1611]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Join(cfg.RulesFiles, ",") != "/a.yaml,/etc/nightjar/nightjar_rules.local.yaml,/etc/nightjar/rules.d,/z.yaml,/y.yaml" {
		t.Errorf("rules_files %v", cfg.RulesFiles)
	}
	if cfg.HTTPOutput.URL != "http://sk:2801/" || cfg.HTTPOutput.UserAgent != "nightjar" {
		t.Errorf("http_output %+v", cfg.HTTPOutput)
	}
	// A value set by -o that is then wrong is reported at the -o.
	_, _, err = LoadConfig("", false, []string{"rules[].enable.tag=a", "rules[].disable.tag=[]"})
	if err == nil || !strings.Contains(err.Error(), "-o rules[].disable.tag: rules[1]: names no rule") {
		t.Errorf("error %v", err)
	}
}

// Where a key holds strings, an -o value is the literal string, as Falco
// takes it: not YAML, where # starts a comment and null or ~ is nothing.
func TestConfigOverrideStringsAreLiteral(t *testing.T) {
	cfg, _, err := LoadConfig("", false, []string{
		"rules[].disable.rule=Shell #2",
		"rules[].disable.tag=~",
		"hostname=null",
		"file_output.filename=~",
		"rules_files=/a #1.yaml",
		"json_output=true", // not a string: YAML
		"rules[].enable.rule=[a, 'b #3']",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rules) != 3 || strings.Join(cfg.Rules[0].Disable.Rule, "|") != "Shell #2" ||
		strings.Join(cfg.Rules[1].Disable.Tag, "|") != "~" || strings.Join(cfg.Rules[2].Enable.Rule, "|") != "a|b #3" {
		t.Errorf("rules %+v %+v %+v", cfg.Rules[0].Disable, cfg.Rules[1].Disable, cfg.Rules[len(cfg.Rules)-1].Enable)
	}
	if cfg.Hostname != "null" || cfg.FileOutput.Filename != "~" || strings.Join(cfg.RulesFiles, "|") != "/a #1.yaml" ||
		!cfg.JSONOutput {
		t.Errorf("hostname %q filename %q rules_files %q json_output %v", cfg.Hostname, cfg.FileOutput.Filename, cfg.RulesFiles, cfg.JSONOutput)
	}
	for _, o := range []string{"hostname=~", "hostname=null"} {
		cfg, _, err := LoadConfig("", false, []string{o})
		if err != nil || cfg.Hostname == "" {
			t.Errorf("%s: hostname %q, %v", o, cfg.Hostname, err)
		}
	}
}

// A single value where a list of values is wanted is a list of one, as
// Falco reads it.
func TestConfigScalarAsList(t *testing.T) {
	p := writeConfig(t, "rules_files: /etc/falco/falco_rules.yaml\n")
	cfg, _, err := LoadConfig(p, true, nil)
	if err != nil || strings.Join(cfg.RulesFiles, ",") != "/etc/falco/falco_rules.yaml" {
		t.Fatalf("%v %v", cfg.RulesFiles, err)
	}
}

// rules_file is Falco's older name for rules_files: it applies when set,
// and setting both is an error, as one would be dropped.
func TestConfigRulesFileKeys(t *testing.T) {
	p := writeConfig(t, "rules_file:\n  - /old.yaml\n")
	cfg, _, err := LoadConfig(p, true, nil)
	if err != nil || strings.Join(cfg.RulesFiles, ",") != "/old.yaml" {
		t.Fatalf("rules_file alone: %v %v", cfg.RulesFiles, err)
	}
	p = writeConfig(t, "rules_file:\n  - /old.yaml\nrules_files:\n  - /new.yaml\n")
	_, _, err = LoadConfig(p, true, nil)
	if err == nil || !strings.Contains(err.Error(), p+":2:3: rules_file: set together with rules_files ("+p+":4:3)") {
		t.Fatalf("both: %v", err)
	}
	_, _, err = LoadConfig(writeConfig(t, "rules_file: [/a]\n"), true, []string{"rules_files[]=/b"})
	if err == nil || !strings.Contains(err.Error(), "rules_file: set together with rules_files (-o rules_files[])") {
		t.Fatalf("file and -o: %v", err)
	}
}

// A Falco key that would turn on an output (or a server, or an action on
// drops) that nightjar does not have stops start-up; the same keys turned
// off are only warned about.
func TestConfigRefusesFalcoOutputs(t *testing.T) {
	p := writeConfig(t, `program_output:
  enabled: true
  program: "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX"
grpc_output:
  enabled: true
grpc:
  enabled: true
  bind_address: "unix:///run/falco/falco.sock"
syscall_event_drops:
  actions:
    - log
    - exit
capture:
  enabled: true
`)
	_, _, err := LoadConfig(p, true, []string{"grpc_output.enabled=true"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		p + ":2:12: program_output.enabled: nightjar has no program output",
		p + ":5:12: grpc_output.enabled: nightjar has no gRPC output",
		p + ":7:12: grpc.enabled: nightjar has no gRPC server",
		p + ":12:7: syscall_event_drops.actions: nightjar takes only the actions log, alert and ignore",
		p + ":14:12: capture.enabled: nightjar has no capture files",
		"-o grpc_output.enabled: nightjar has no gRPC output",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "hooks.slack.com") {
		t.Errorf("the error shows a value: %v", err)
	}
	p = writeConfig(t, "program_output:\n  enabled: false\ngrpc_output:\n  enabled: false\ngrpc:\n  enabled: false\n"+
		"syscall_event_drops:\n  actions: [log, alert]\ncapture:\n  enabled: false\n")
	_, warns, err := LoadConfig(p, true, []string{"program_output.enabled=false"})
	if err != nil || len(warns) != 6 {
		t.Fatalf("turned off: %v %q", err, warns)
	}
	// ignore asks for less than nightjar does: a warning, not an error.
	p = writeConfig(t, "syscall_event_drops:\n  actions: [ignore]\n")
	_, warns, err = LoadConfig(p, true, nil)
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0], p+":1:1: syscall_event_drops (Falco key) is accepted but ignored") {
		t.Fatalf("actions [ignore]: %v %q", err, warns)
	}
}

// ignoredFalcoKeys holds only keys nightjar does not have: one it has
// (time_format_iso_8601 once) would be misreported as ignored.
func TestConfigIgnoredKeysAreNotKeys(t *testing.T) {
	for k := range ignoredFalcoKeys {
		ty, ok := reflect.TypeOf(Config{}), true
		for _, name := range strings.Split(k, ".") {
			has := false
			for i := 0; i < ty.NumField(); i++ {
				if tag, _, _ := strings.Cut(ty.Field(i).Tag.Get("yaml"), ","); tag == name {
					ty, has = ty.Field(i).Type, true
					break
				}
			}
			if !has {
				ok = false
				break
			}
		}
		if ok {
			t.Errorf("%s is a nightjar key, not an ignored Falco key", k)
		}
	}
}

func TestConfigFalcoKeysWarn(t *testing.T) {
	p := writeConfig(t, "engine:\n  kind: modern_ebpf\nwatch_config_files: true\nmetrics:\n  enabled: false\n  interval: 1h\n")
	_, warns, err := LoadConfig(p, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warns, "\n")
	for _, k := range []string{":1:1: engine (Falco key) is accepted but ignored", "watch_config_files", "metrics.interval"} {
		if !strings.Contains(joined, k) {
			t.Errorf("warnings %q lack %q", joined, k)
		}
	}
}

// The falco.yaml that Falco ships must load (with warnings for what is
// ignored), so that users can point -c at their Falco configuration.
func TestConfigLoadsFalcoStyle(t *testing.T) {
	p := writeConfig(t, `
rules_files:
  - /etc/falco/falco_rules.yaml
  - /etc/falco/falco_rules.local.yaml
  - /etc/falco/rules.d
rules:
  - disable:
      rule: "*"
  - enable:
      rule: "Netcat Remote Code Execution in Container"
json_output: false
json_include_output_property: true
json_include_tags_property: true
buffered_outputs: false
outputs_queue:
  capacity: 0
stdout_output:
  enabled: true
syslog_output:
  enabled: true
file_output:
  enabled: false
  keep_alive: false
  filename: ./events.txt
http_output:
  enabled: false
  url: ""
  user_agent: "falcosecurity/falco"
  insecure: false
  ca_cert: ""
  ca_bundle: ""
  ca_path: "/etc/falco/certs/"
  mtls: false
  client_cert: "/etc/falco/certs/client/client.crt"
  client_key: "/etc/falco/certs/client/client.key"
  echo: false
  compress_uploads: false
  keep_alive: false
priority: debug
log_level: info
time_format_iso_8601: false
syscall_buf_size_preset: 4
program_output:
  enabled: false
  keep_alive: false
  program: "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX"
grpc:
  enabled: false
  bind_address: "unix:///run/falco/falco.sock"
  threadiness: 0
grpc_output:
  enabled: false
webserver:
  enabled: true
  listen_port: 8765
syscall_event_drops:
  threshold: .1
  actions:
    - log
    - alert
  rate: .03333
  max_burst: 1
  simulate_drops: false
`)
	cfg, warns, err := LoadConfig(p, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RulesFiles[0] != "/etc/falco/falco_rules.yaml" || !cfg.SyslogOutput.Enabled || len(warns) < 9 {
		t.Fatalf("cfg %+v warns %v", cfg, warns)
	}
}
