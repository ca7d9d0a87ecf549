package detector

import (
	"os"
	"path/filepath"
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
		{"json_output: maybe\n", nil, []string{":1", "maybe", "bool"}},
		{"priority: severe\n", nil, []string{"priority", `"severe" is not a priority`}},
		{"", []string{"http_output.enabled=perhaps"}, []string{"-o http_output.enabled=perhaps: http_output.enabled:", "bool"}},
		{"", []string{"stdout_output.colour=true"}, []string{"-o stdout_output.colour=true: stdout_output.colour: unknown key"}},
		{"", []string{"json_output"}, []string{"want key=value"}},
		{"", []string{"priority[]=x"}, []string{"not one"}},
		{"rule_matching: some\n", nil, []string{"rule_matching", "want first or all"}},
		{"outputs_queue:\n  capacity: -1\n", nil, []string{"outputs_queue.capacity"}},
		{"syscall_buf_size: 1000\n", nil, []string{"syscall_buf_size", "power of two"}},
		{"rules:\n  - enable: {}\n", nil, []string{"rules[0]", "names no rule"}},
		{"rules:\n  - disable:\n      rules: x\n", nil, []string{"rules[].disable.rules: unknown key"}},
		{"http_output:\n  enabled: true\n  url: ftp://x\n", nil, []string{"http_output.url"}},
		{"- a\n- b\n", nil, []string{"must be a mapping"}},
		{"a: [\n", nil, []string{"nightjar.yaml"}},
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
`)
	cfg, warns, err := LoadConfig(p, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RulesFiles[0] != "/etc/falco/falco_rules.yaml" || !cfg.SyslogOutput.Enabled || len(warns) < 4 {
		t.Fatalf("cfg %+v warns %v", cfg, warns)
	}
}
