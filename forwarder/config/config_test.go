package config

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
	"github.com/nightjar-sec/nightjar/outputs/datadog"
	"github.com/nightjar-sec/nightjar/outputs/lambda"
	"github.com/nightjar-sec/nightjar/outputs/opsgenie"
	"github.com/nightjar-sec/nightjar/outputs/rocketchat"
	"github.com/nightjar-sec/nightjar/outputs/slack"
	"github.com/nightjar-sec/nightjar/outputs/smtp"
	"github.com/nightjar-sec/nightjar/outputs/webhook"
)

var types = []outputs.Type{webhook.Type}

func parse(t *testing.T, yml string, env ...string) *Config {
	t.Helper()
	c, err := Parse([]byte(yml), env, types)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := parse(t, "")
	if c.ListenAddress != "" || c.ListenPort != 2801 || c.BodyLimit != 1<<20 || c.Debug || len(c.Outputs) != 0 || c.Queue.Dir != "./data/queue" {
		t.Fatalf("defaults: %+v", c)
	}
}

// The environment as falcosidekick users write it.
func TestFalcosidekickEnvironment(t *testing.T) {
	c := parse(t, "",
		"WEBHOOK_ADDRESS=http://127.0.0.1:9000/hook",
		"WEBHOOK_MINIMUMPRIORITY=warning",
		"WEBHOOK_CUSTOMHEADERS=Authorization:Bearer abc:def,X-Team:sec",
		"WEBHOOK_TIMEOUT=3s",
		"WEBHOOK_MAXCONCURRENTREQUESTS=8",
		"CUSTOMFIELDS=env:prod,team:sec",
		"CUSTOMTAGS=prod, eu",
		"TEMPLATEDFIELDS=Dkey:{{ index . \"k8s.ns.name\" }}",
		"LISTENADDRESS=127.0.0.1",
		"LISTENPORT=2802",
		"DEBUG=true",
		"BODYLIMIT=2048",
		"AUTHTOKEN=tok-123456",
		"TLSSERVER_DEPLOY=false",
		"QUEUE_MAXBYTES=10485760",
		"QUEUE_DIR=/tmp/q",
		"UNRELATED=1",
	)
	if c.ListenAddress != "127.0.0.1" || c.ListenPort != 2802 || !c.Debug || c.BodyLimit != 2048 || c.AuthToken.Reveal() != "tok-123456" {
		t.Fatalf("globals: %+v", c)
	}
	if c.Queue.MaxBytes != 10<<20 || c.Queue.Dir != "/tmp/q" {
		t.Fatalf("queue: %+v", c.Queue)
	}
	if c.CustomFields["env"] != "prod" || c.CustomFields["team"] != "sec" || len(c.CustomFields) != 2 {
		t.Fatalf("customfields: %v", c.CustomFields)
	}
	if !slices.Equal(c.CustomTags, []string{"prod", "eu"}) {
		t.Fatalf("customtags: %q", c.CustomTags)
	}
	if c.Templates["Dkey"] == nil {
		t.Fatalf("templatedfields: %v", c.TemplatedFields)
	}
	if len(c.Outputs) != 1 || c.Outputs[0].Name != "webhook" {
		t.Fatalf("outputs: %+v", c.Outputs)
	}
	w := c.Outputs[0].Config.(*webhook.Config)
	if w.Address.Reveal() != "http://127.0.0.1:9000/hook" || w.MinimumPriority != alert.PriorityWarning ||
		w.Timeout != 3*time.Second || w.MaxConcurrentRequests != 8 {
		t.Fatalf("webhook: %+v", w)
	}
	// The value keeps everything after the first colon.
	if w.CustomHeaders["Authorization"].Reveal() != "Bearer abc:def" || w.CustomHeaders["X-Team"].Reveal() != "sec" {
		t.Fatalf("headers: %v", w.CustomHeaders)
	}
}

func TestYAMLAndEnvOverride(t *testing.T) {
	yml := `
listenport: 3000
customfields:
  env: staging
customTags: [a, b]
webhook:
  address: http://127.0.0.1:9000/a
  minimumPriority: error
  customHeaders:
    Authorization: Bearer xyz
queue:
  dir: /var/lib/q
outputs:
  hook-b:
    type: webhook
    address: http://127.0.0.1:9000/b
    minimumpriority: critical
  hook-a:
    type: webhook
    address: http://127.0.0.1:9000/c
routes:
  - name: crit
    match: {priority: critical, tags_any: [x]}
    outputs: [hook-b]
    continue: true
`
	c := parse(t, yml, "LISTENPORT=3001", "OUTPUTS_HOOK_A_MINIMUMPRIORITY=notice", "WEBHOOK_MINIMUMPRIORITY=warning")
	if c.ListenPort != 3001 || c.CustomFields["env"] != "staging" || !slices.Equal(c.CustomTags, []string{"a", "b"}) || c.Queue.Dir != "/var/lib/q" {
		t.Fatalf("globals: %+v", c)
	}
	// The file's queue section keeps the defaults of keys it omits.
	if c.Queue.MaxBytes == 0 || c.Queue.Name == "" {
		t.Fatalf("queue defaults lost: %+v", c.Queue)
	}
	if got := c.OutputNames(); !slices.Equal(got, []string{"webhook", "hook-a", "hook-b"}) {
		t.Fatalf("outputs %v", got)
	}
	if p := c.Outputs[0].Config.Shared().MinimumPriority; p != alert.PriorityWarning {
		t.Fatalf("env must override the file: %v", p)
	}
	if p := c.Outputs[1].Config.Shared().MinimumPriority; p != alert.PriorityNotice {
		t.Fatalf("OUTPUTS_HOOK_A_MINIMUMPRIORITY: %v", p)
	}
	if p := c.Outputs[2].Config.Shared().MinimumPriority; p != alert.PriorityCritical {
		t.Fatalf("hook-b: %v", p)
	}
	if c.Outputs[0].Config.(*webhook.Config).CustomHeaders["Authorization"].Reveal() != "Bearer xyz" {
		t.Fatal("customHeaders (camelCase, as falcosidekick's example writes it) not read")
	}
	if len(c.Routes) != 1 || *c.Routes[0].Match.Priority != alert.PriorityCritical || !c.Routes[0].Continue {
		t.Fatalf("routes %+v", c.Routes)
	}
}

func TestDedupFromEnvironment(t *testing.T) {
	c := parse(t, "", "WEBHOOK_ADDRESS=http://127.0.0.1:1/x", "WEBHOOK_DEDUP=10m", "WEBHOOK_RATELIMIT=0.5")
	if len(c.Outputs) != 1 || c.Outputs[0].Config.Shared().Dedup != 10*time.Minute || c.Outputs[0].Config.Shared().RateLimit != 0.5 {
		t.Fatalf("outputs %+v", c.Outputs)
	}
}

func TestNamedOutputFromEnvironment(t *testing.T) {
	c := parse(t, "", "OUTPUTS_OPS_TYPE=webhook", "OUTPUTS_OPS_ADDRESS=http://127.0.0.1:1/x", "OUTPUTS_OPS_MINIMUMPRIORITY=alert")
	if len(c.Outputs) != 1 || c.Outputs[0].Name != "ops" || c.Outputs[0].Config.Shared().MinimumPriority != alert.PriorityAlert {
		t.Fatalf("outputs %+v", c.Outputs)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, yml string
		env       []string
		want      string
	}{
		{"unknown priority env", "", []string{"WEBHOOK_ADDRESS=http://h/x", "WEBHOOK_MINIMUMPRIORITY=sever"}, `webhook.minimumpriority (env WEBHOOK_MINIMUMPRIORITY): unknown priority "sever"`},
		{"unknown priority yaml", "webhook:\n  address: http://h/x\n  minimumpriority: sever\n", nil, `webhook.minimumpriority (line 3): unknown priority "sever"`},
		{"malformed url", "", []string{"WEBHOOK_ADDRESS=not a url"}, "webhook.address: must be an absolute http or https URL"},
		{"port range env", "", []string{"LISTENPORT=70000"}, "listenport: 70000 is out of range"},
		{"port not a number", "", []string{"LISTENPORT=http"}, `listenport (env LISTENPORT): "http" is not an integer`},
		{"port range yaml", "listenport: 0\n", nil, "listenport: 0 is out of range"},
		{"port type yaml", "listenport: abc\n", nil, "listenport (line 1): want a number"},
		{"bad bool", "", []string{"DEBUG=yes please"}, "debug (env DEBUG)"},
		{"unknown key", "listenprot: 1\n", nil, `listenprot (line 1): unknown key`},
		{"unknown output key", "webhook:\n  adress: http://h/x\n", nil, `webhook.adress (line 2): unknown key "adress"`},
		{"unknown nested key", "tlsserver:\n  certfil: x\n", nil, `tlsserver.certfil (line 2): unknown key`},
		{"unknown route key", "routes:\n  - name: a\n    match: {prio: error}\n    outputs: [x]\n", nil, `routes[0].match.prio (line 3): unknown key`},
		{"unknown route output", "routes:\n  - outputs: [slack]\n", nil, `routes[0].outputs: unknown output "slack"`},
		{"route priority", "routes:\n  - outputs: [x]\n    match: {priority: high}\n", nil, `routes[0].match.priority (line 3): unknown priority "high"`},
		{"unknown output type", "outputs:\n  ops:\n    type: pager\n    address: http://h/x\n", nil, `outputs.ops (line 3): type: unknown output type "pager"`},
		{"missing output type", "outputs:\n  ops:\n    address: http://h/x\n", nil, `outputs.ops (line 3): type: missing`},
		{"named output disabled", "outputs:\n  ops:\n    type: webhook\n", nil, `outputs.ops: declared as a webhook output but not enabled`},
		{"named output invalid", "outputs:\n  ops:\n    type: webhook\n    address: ftp://x/\n", nil, `outputs.ops.address: must be an absolute`},
		{"named output unknown key", "outputs:\n  ops:\n    type: webhook\n    adress: x\n", nil, `outputs.ops.adress (line 4): unknown key`},
		{"env named type", "", []string{"OUTPUTS_OPS_TYPE=pager"}, `outputs.ops.type: unknown output type "pager"`},
		{"template", "templatedfields:\n  x: '{{ .foo '\n", nil, "templatedfields.x: template: x:1: unclosed action"},
		{"duration", "", []string{"WEBHOOK_ADDRESS=http://h/x", "WEBHOOK_TIMEOUT=10"}, `webhook.timeout (env WEBHOOK_TIMEOUT): "10" is not a duration`},
		{"bodylimit", "bodylimit: -1\n", nil, "bodylimit: must be a positive number"},
		{"dedup", "", []string{"WEBHOOK_ADDRESS=http://h/x", "WEBHOOK_DEDUP=-1m"}, "webhook.dedup: must be 0 (off) or positive, got -1m0s"},
		{"ratelimit", "", []string{"WEBHOOK_ADDRESS=http://h/x", "WEBHOOK_RATELIMIT=-2"}, "webhook.ratelimit: must be 0 (off) or a positive number of deliveries per second, got -2"},
		{"tls", "tlsserver: {deploy: true}\n", nil, "tlsserver.certfile, tlsserver.keyfile"},
		{"mutual tls", "", []string{"TLSSERVER_MUTUALTLS=true"}, "tlsserver.mutualtls: needs tlsserver.deploy"},
		{"queue", "", []string{"QUEUE_MAXBYTES=10"}, "queue.maxbytes"},
		{"notlsport", "tlsserver: {deploy: true, certfile: a, keyfile: b, notlsport: 2801}\n", nil, "tlsserver.notlsport: 2801 is listenport"},
		{"notlspaths", "", []string{"TLSSERVER_DEPLOY=true", "TLSSERVER_CERTFILE=a", "TLSSERVER_KEYFILE=b", "TLSSERVER_NOTLSPATHS=ping"}, `tlsserver.notlspaths: "ping" must start with /`},
		{"list as scalar", "customtags: a\n", nil, "customtags (line 1): want a list"},
		{"not a mapping", "- a\n", nil, "must be a mapping"},
		{"customfields form", "", []string{"CUSTOMFIELDS=env"}, "customfields (env CUSTOMFIELDS): want key:value pairs"},
		{"logformat", "logformat: xml\n", nil, `logformat: "xml" is not text or json`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yml), tc.env, types)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant error containing %q", err, tc.want)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const tok, hdr, path = "tok-aaaa-1111", "hdr-bbbb-2222", "path-cccc-3333"
	c := parse(t, "webhook:\n  customheaders: {Authorization: "+hdr+"}\n",
		"AUTHTOKEN="+tok, "WEBHOOK_ADDRESS=https://hooks.example.com/"+path, "QUEUE_URL=nats://user:natspass@127.0.0.1:4222")
	dump := c.Dump()
	for _, s := range []string{tok, hdr, path, "natspass"} {
		if strings.Contains(dump, s) {
			t.Fatalf("dump leaks %q:\n%s", s, dump)
		}
	}
	if !strings.Contains(dump, "<secret>") || !strings.Contains(dump, "listenport: 2801") || !strings.Contains(dump, "hooks.example.com") {
		t.Fatalf("dump:\n%s", dump)
	}
	// Errors about secret settings must not echo them either.
	_, err := Parse(nil, []string{"WEBHOOK_ADDRESS=ftp://" + path, "WEBHOOK_CUSTOMHEADERS=" + hdr}, types)
	if err == nil || strings.Contains(err.Error(), hdr) || strings.Contains(err.Error(), path) {
		t.Fatalf("error leaks a secret: %v", err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sidekick.yaml")
	if err := os.WriteFile(p, []byte("listenport: 99999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, nil, types)
	if err == nil || !strings.HasPrefix(err.Error(), p+": listenport") {
		t.Fatalf("Load = %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, types); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestKeys(t *testing.T) {
	want := map[string]string{"listenport": "LISTENPORT", "tlsserver.certfile": "TLSSERVER_CERTFILE", "queue.maxbytes": "QUEUE_MAXBYTES", "authtoken": "AUTHTOKEN"}
	got := map[string]string{}
	for _, k := range Keys() {
		got[k[0]] = k[1]
	}
	for k, e := range want {
		if got[k] != e {
			t.Errorf("Keys()[%s] = %q, want %q", k, got[k], e)
		}
	}
}

func TestYAMLMergeKeys(t *testing.T) {
	c := parse(t, `
x-common: &common
  minimumpriority: error
  timeout: 3s
outputs:
  a:
    type: webhook
    <<: *common
    address: http://127.0.0.1:1/a
`)
	if len(c.Outputs) != 1 {
		t.Fatalf("outputs %+v", c.Outputs)
	}
	sh := c.Outputs[0].Config.Shared()
	if sh.MinimumPriority != alert.PriorityError || sh.Timeout != 3*time.Second {
		t.Fatalf("merged settings not applied: %+v", sh)
	}
	// A typo inside the anchored mapping is still caught where it is merged.
	_, err := Parse([]byte("x-c: &c\n  minimumpriorty: error\nwebhook:\n  <<: *c\n  address: http://h/x\n"), nil, types)
	if err == nil || !strings.Contains(err.Error(), "webhook.minimumpriorty (line 2): unknown key") {
		t.Fatalf("typo in merged mapping: %v", err)
	}
}

// A falcosidekick configuration dropped in must not lose a destination
// silently.
func TestFalcosidekickOnlyOutputs(t *testing.T) {
	_, err := Parse([]byte("teams:\n  webhookurl: https://outlook.office.com/webhook/x\n"), nil, types)
	if err == nil || !strings.Contains(err.Error(), "teams.webhookurl (line 2): falcosidekick's teams output is not supported") || strings.Contains(err.Error(), "outlook") {
		t.Fatalf("teams section: %v", err)
	}
	_, err = Parse([]byte("gcp:\n  pubsub:\n    projectID: p1\n"), nil, types)
	if err == nil || !strings.Contains(err.Error(), "gcp.pubsub.projectid (line 3)") {
		t.Fatalf("gcp section: %v", err)
	}
	// falcosidekick's example configuration: every output listed, unset.
	c := parse(t, `
bracketreplacer: ""
teams:
  webhookurl: ""
  outputformat: all
loki:
  hostport: ""
  endpoint: /loki/api/v1/push
gcp:
  credentials: ""
  pubsub:
    projectid: ""
policyreport:
  enabled: false
`)
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "bracketreplacer (line 2): falcosidekick setting not implemented") {
		t.Fatalf("warnings %q", c.Warnings)
	}
	// The environment: an unsupported output's enabling variable stops
	// start-up like the file's section (all of them named, no value shown);
	// empty ones, other programs' variables and falcosidekick's
	// policyreport switched off do not.
	_, err = Parse(nil, []string{"TEAMS_WEBHOOKURL=https://outlook.office.com/webhook/x", "SYSLOG_HOST=10.0.0.9", "LOKI_HOSTPORT=", "REDIS_SERVICE_HOST=10.0.0.1", "POLICYREPORT_ENABLED=false"}, types)
	if err == nil || !strings.HasPrefix(err.Error(), "SYSLOG_HOST (falcosidekick's syslog output), TEAMS_WEBHOOKURL (falcosidekick's teams output): set, but not supported by nightjar-sidekick") ||
		strings.Contains(err.Error(), "outlook") || strings.Contains(err.Error(), "10.0.0.9") {
		t.Fatalf("env TEAMS_WEBHOOKURL, SYSLOG_HOST: %v", err)
	}
	c = parse(t, "", "LOKI_HOSTPORT=", "REDIS_SERVICE_HOST=10.0.0.1", "POLICYREPORT_ENABLED=false")
	if len(c.Warnings) != 0 {
		t.Fatalf("warnings %q", c.Warnings)
	}
	// falcosidekick's global settings nightjar lacks: a warning, as in a file.
	c = parse(t, "", "BRACKETREPLACER=_", "MUTUALTLSFILESPATH=/etc/certs", "OUTPUTFIELDFORMAT=")
	if strings.Join(c.Warnings, "|") != "BRACKETREPLACER: falcosidekick setting not implemented by nightjar-sidekick; ignored|MUTUALTLSFILESPATH: falcosidekick setting not implemented by nightjar-sidekick; ignored" {
		t.Fatalf("warnings %q", c.Warnings)
	}
}

// A misspelt key must not pass as one of falcosidekick's settings that
// nightjar lacks: "chekcert: false" would leave certificates checked.
func TestMisspeltKeysStopStartup(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"webhook:\n  address: http://127.0.0.1:1/x\n  chekcert: false\n", `webhook.chekcert (line 3): unknown key "chekcert"; did you mean "checkcert"?`},
		{"webhook:\n  address: http://127.0.0.1:1/x\n  maxconcurentrequests: 0\n", `did you mean "maxconcurrentrequests"?`},
		{"debgu: false\n", `debgu (line 1): unknown key "debgu"; did you mean "debug"?`},
		{"listenprot: 2802\n", `did you mean "listenport"?`},
	} {
		_, err := Parse([]byte(tc.yaml), nil, types)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// falcosidekick's Helm chart sets every variable, most of them empty: an
// empty variable must count as unset, not as an invalid value.
func TestEmptyVariablesAreUnset(t *testing.T) {
	c := parse(t, "listenport: 3000\n", "LISTENPORT=", "DEBUG=", "WEBHOOK_ADDRESS=", "WEBHOOK_MINIMUMPRIORITY=",
		"WEBHOOK_TIMEOUT=", "CUSTOMFIELDS=", "OUTPUTS_X_TYPE=", "TLSSERVER_DEPLOY=", "QUEUE_MAXBYTES=")
	if c.ListenPort != 3000 || len(c.Outputs) != 0 || c.Queue.MaxBytes == 0 {
		t.Fatalf("%+v", c)
	}
}

// falcosidekick's example file writes "" for every unset setting.
func TestEmptyYAMLValuesAreUnset(t *testing.T) {
	c := parse(t, `
listenaddress: ""
listenport: ""
customfields:
webhook:
  address: "http://127.0.0.1:1/x"
  minimumpriority: ""
  method: ""
  timeout:
  customHeaders:
queue:
  dir: ""
`)
	w := c.Outputs[0].Config.(*webhook.Config)
	if c.ListenPort != 2801 || w.MinimumPriority != alert.PriorityDebug || w.Method != "POST" || w.Timeout != 10*time.Second || c.Queue.Dir != "./data/queue" {
		t.Fatalf("defaults lost: %+v %+v", w, c.Queue)
	}
	// An unknown key that sets nothing is reported, not fatal.
	c = parse(t, "webhook:\n  adress: \"\"\n  sqs:\n    rawjson: false\n    port: 0\nbracketreplacr:\n")
	if strings.Join(c.Warnings, "|") != "webhook.adress (line 2): unknown key with an empty value; ignored|webhook.sqs (line 3): unknown key with an empty value; ignored|bracketreplacr (line 6): unknown key with an empty value; ignored" {
		t.Fatalf("warnings %q", c.Warnings)
	}
}

// falcosidekick (viper) takes quoted numbers and booleans, as Helm values
// often write them.
func TestQuotedNumbersAndBooleans(t *testing.T) {
	c := parse(t, "listenport: \"2802\"\ndebug: 'true'\nwebhook:\n  address: http://127.0.0.1:1/x\n  maxconcurrentrequests: \"8\"\n  checkcert: \"false\"\n")
	w := c.Outputs[0].Config.(*webhook.Config)
	if c.ListenPort != 2802 || !c.Debug || w.MaxConcurrentRequests != 8 || w.CheckCert {
		t.Fatalf("quoted values: port %d debug %v workers %d checkcert %v", c.ListenPort, c.Debug, w.MaxConcurrentRequests, w.CheckCert)
	}
	for yml, want := range map[string]string{
		"listenport: \"28x2\"\n":                               "listenport (line 1): want a number",
		"debug: \"yes please\"\n":                              "debug (line 1): want a boolean",
		"webhook:\n  address: http://h/x\n  timeout: \"10\"\n": "webhook.timeout (line 3): want a duration",
	} {
		if _, err := Parse([]byte(yml), nil, types); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", yml, err, want)
		}
	}
}

// falcosidekick's AWS outputs other than Lambda share the aws section with
// it; their enabling variables stop start-up as other unsupported outputs'
// do (named, never with their value), even beside a working Lambda output.
func TestFalcosidekickAWSOutputsInEnvironment(t *testing.T) {
	vars := map[string]string{
		"AWS_SQS_URL":                 "https://sqs.eu-west-1.amazonaws.com/123456789012/falco-secretqueue",
		"AWS_SNS_TOPICARN":            "arn:aws:sns:eu-west-1:123456789012:falco-secrettopic",
		"AWS_CLOUDWATCHLOGS_LOGGROUP": "falco-secretgroup",
		"AWS_S3_BUCKET":               "falco-secretbucket",
		"AWS_KINESIS_STREAMNAME":      "falco-secretstream",
		"AWS_SECURITYLAKE_BUCKET":     "falco-secretlake",
	}
	names := map[string]string{
		"AWS_SQS_URL": "sqs", "AWS_SNS_TOPICARN": "sns", "AWS_CLOUDWATCHLOGS_LOGGROUP": "cloudwatchlogs",
		"AWS_S3_BUCKET": "s3", "AWS_KINESIS_STREAMNAME": "kinesis", "AWS_SECURITYLAKE_BUCKET": "securitylake",
	}
	withAWS := []outputs.Type{webhook.Type, lambda.Type}
	for v, val := range vars {
		_, err := Parse(nil, []string{v + "=" + val, "AWS_LAMBDA_FUNCTIONNAME=fn", "AWS_REGION=eu-west-1"}, withAWS)
		want := v + " (falcosidekick's aws." + names[v] + " output): set, but not supported by nightjar-sidekick"
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "only Lambda") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s set: %v", v, err)
		}
	}
	// All at once: every one named, in order.
	var env []string
	for v, val := range vars {
		env = append(env, v+"="+val)
	}
	_, err := Parse(nil, env, types)
	if err == nil || !strings.HasPrefix(err.Error(), "AWS_CLOUDWATCHLOGS_LOGGROUP (falcosidekick's aws.cloudwatchlogs output), AWS_KINESIS_STREAMNAME") {
		t.Fatalf("all set: %v", err)
	}
	// Empty, as falcosidekick's Helm chart sets them: unset.
	env = env[:0]
	for v := range vars {
		env = append(env, v+"=")
	}
	env = append(env, "AWS_LAMBDA_FUNCTIONNAME=fn")
	if c, err := Parse(nil, env, withAWS); err != nil || len(c.Outputs) != 1 || c.Outputs[0].Type != "aws" {
		t.Fatalf("empty: %v", err)
	}
	// In the file: set, they stop start-up naming the output; off, they
	// are skipped, even with falcosidekick's non-empty defaults beside
	// the enabling key (its example file has aws.securitylake.interval: 5).
	_, err = Parse([]byte("aws:\n  sqs:\n    url: https://sqs.eu-west-1.amazonaws.com/1/q\n"), nil, withAWS)
	if err == nil || !strings.Contains(err.Error(), "aws.sqs.url (line 3): falcosidekick's aws.sqs output is not supported") ||
		strings.Contains(err.Error(), "amazonaws") {
		t.Fatalf("aws.sqs.url in the file: %v", err)
	}
	if _, err := Parse([]byte("aws:\n  sqs:\n    url: \"\"\n  sns:\n    rawjson: false\n  s3:\n    bucket: \"\"\n  securitylake:\n    bucket: \"\"\n    interval: 5\n    batchsize: 1000\n"), nil, withAWS); err != nil {
		t.Fatalf("aws.sqs, aws.sns, aws.s3, aws.securitylake off in the file: %v", err)
	}
}

// checkcert, as falcosidekick has it on every HTTP output, is read from the
// environment for each of them (default true).
func TestCheckCertFromEnvironment(t *testing.T) {
	all := []outputs.Type{webhook.Type, slack.Type, rocketchat.Type, datadog.Type, opsgenie.Type}
	on := []string{"WEBHOOK_ADDRESS=https://127.0.0.1:1/x", "SLACK_WEBHOOKURL=https://127.0.0.1:1/services/T/B/X",
		"ROCKETCHAT_WEBHOOKURL=https://127.0.0.1:1/hooks/a/b", "DATADOG_APIKEY=k123456", "OPSGENIE_APIKEY=k123456"}
	checks := func(c *Config) map[string]bool {
		m := map[string]bool{}
		for _, o := range c.Outputs {
			switch oc := o.Config.(type) {
			case *webhook.Config:
				m[o.Name] = oc.CheckCert
			case *slack.Config:
				m[o.Name] = oc.CheckCert
			case *rocketchat.Config:
				m[o.Name] = oc.CheckCert
			case *datadog.Config:
				m[o.Name] = oc.CheckCert
			case *opsgenie.Config:
				m[o.Name] = oc.CheckCert
			}
		}
		return m
	}
	c, err := Parse(nil, on, all)
	if err != nil {
		t.Fatal(err)
	}
	if m := checks(c); len(m) != 5 || !m["webhook"] || !m["slack"] || !m["rocketchat"] || !m["datadog"] || !m["opsgenie"] {
		t.Fatalf("defaults: %v", m)
	}
	c, err = Parse(nil, append(on, "WEBHOOK_CHECKCERT=false", "SLACK_CHECKCERT=false", "ROCKETCHAT_CHECKCERT=false",
		"DATADOG_CHECKCERT=false", "OPSGENIE_CHECKCERT=false"), all)
	if err != nil {
		t.Fatal(err)
	}
	if m := checks(c); len(m) != 5 || m["webhook"] || m["slack"] || m["rocketchat"] || m["datadog"] || m["opsgenie"] {
		t.Fatalf("all false: %v", m)
	}
}

// falcosidekick's aws.checkidentity and aws.lambda.logtype, by environment.
func TestAWSCheckIdentityAndLogTypeFromEnvironment(t *testing.T) {
	withAWS := []outputs.Type{webhook.Type, lambda.Type}
	c, err := Parse(nil, []string{"AWS_LAMBDA_FUNCTIONNAME=fn"}, withAWS)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Outputs[0].Config.(*lambda.Config)
	if l.CheckIdentity || l.Lambda.LogType != "Tail" {
		t.Fatalf("defaults: checkidentity %v logtype %q", l.CheckIdentity, l.Lambda.LogType)
	}
	c, err = Parse(nil, []string{"AWS_LAMBDA_FUNCTIONNAME=fn", "AWS_CHECKIDENTITY=true", "AWS_LAMBDA_LOGTYPE=none"}, withAWS)
	if err != nil {
		t.Fatal(err)
	}
	l = c.Outputs[0].Config.(*lambda.Config)
	if !l.CheckIdentity || l.Lambda.LogType != "None" {
		t.Fatalf("from the environment: checkidentity %v logtype %q", l.CheckIdentity, l.Lambda.LogType)
	}
	if _, err := Parse(nil, []string{"AWS_LAMBDA_FUNCTIONNAME=fn", "AWS_LAMBDA_LOGTYPE=verbose"}, withAWS); err == nil || !strings.HasPrefix(err.Error(), "aws.lambda.logtype") {
		t.Fatalf("AWS_LAMBDA_LOGTYPE=verbose: %v", err)
	}
}

// DATADOG_HOST pasted with the API key in its query stops start-up without
// printing the key.
func TestDatadogHostErrorHidesKey(t *testing.T) {
	const key = "0123456789abcdefdd0123456789abcd"
	_, err := Parse(nil, []string{"DATADOG_APIKEY=" + key, "DATADOG_HOST=https://api.datadoghq.com/api/v1/events?api_key=" + key},
		[]outputs.Type{datadog.Type})
	if err == nil || !strings.HasPrefix(err.Error(), "datadog.host: https://api.datadoghq.com/<secret> must be a base URL") || strings.Contains(err.Error(), key) {
		t.Fatalf("DATADOG_HOST with a key: %v", err)
	}
}

// Sections holding several of falcosidekick's outputs (gcp, otlp, yandex)
// stop start-up whichever of them is turned on, in the file or in the
// environment; so do outputs added to falcosidekick since the list was
// first written (datadoglogs, splunk, logstash, openreport).
func TestFalcosidekickOnlyEveryEnablingKey(t *testing.T) {
	for _, tc := range []struct{ env, output string }{
		{"GCP_PUBSUB_PROJECTID", "gcp.pubsub"},
		{"GCP_STORAGE_BUCKET", "gcp.storage"},
		{"GCP_CLOUDFUNCTIONS_NAME", "gcp.cloudfunctions"},
		{"GCP_CLOUDRUN_ENDPOINT", "gcp.cloudrun"},
		{"GCP_CHRONICLE_PROJECTID", "gcp.chronicle"},
		{"OTLP_TRACES_ENDPOINT", "otlp.traces"},
		{"OTLP_LOGS_ENDPOINT", "otlp.logs"},
		{"OTLP_METRICS_ENDPOINT", "otlp.metrics"},
		{"YANDEX_S3_BUCKET", "yandex.s3"},
		{"YANDEX_DATASTREAMS_STREAMNAME", "yandex.datastreams"},
		{"DATADOGLOGS_APIKEY", "datadoglogs"},
		{"SPLUNK_HOST", "splunk"},
		{"LOGSTASH_ADDRESS", "logstash"},
		{"OPENREPORT_ENABLED", "openreport"},
	} {
		val := "secret-value"
		if strings.HasSuffix(tc.env, "_ENABLED") {
			val = "true"
		}
		_, err := Parse(nil, []string{tc.env + "=" + val}, types)
		want := tc.env + " (falcosidekick's " + tc.output + " output): set, but not supported by nightjar-sidekick"
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("env %s: %v, want %q", tc.env, err, want)
		}
		// The file form: gcp:\n  storage:\n    bucket: ...
		path := strings.Split(strings.ToLower(tc.env), "_")
		yml := ""
		for i, p := range path {
			yml += strings.Repeat("  ", i) + p + ":"
			if i < len(path)-1 {
				yml += "\n"
			}
		}
		yml += " " + val + "\n"
		_, err = Parse([]byte(yml), nil, types)
		want = strings.Join(path, ".") + " (line " + strconv.Itoa(len(path)) + "): falcosidekick's " + tc.output + " output is not supported"
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("file %q: %v, want %q", yml, err, want)
		}
	}
	// falcosidekick's alertmanager.hostport may be a list; a value may be
	// an alias.
	for _, yml := range []string{
		"alertmanager:\n  hostport: [http://am:9093]\n",
		"x-am: &am http://am:9093\nalertmanager:\n  hostport: *am\n",
	} {
		if _, err := Parse([]byte(yml), nil, types); err == nil || !strings.Contains(err.Error(), "falcosidekick's alertmanager output is not supported") {
			t.Errorf("%q: %v", yml, err)
		}
	}
}

// falcosidekick's Helm chart's environment (every variable set, most of
// them to "") and its example file's sections (every output listed, unset)
// load: unset outputs are skipped. (forwarder's
// TestFalcosidekickExampleFileLoads loads the example file itself, with
// every output type.)
func TestFalcosidekickEverythingUnsetLoads(t *testing.T) {
	var env []string
	yml := ""
	for name, vars := range falcosidekickOnly {
		for _, v := range vars {
			env = append(env, v+"=")
			path := strings.Split(strings.ToLower(v), "_")[1:]
			yml += name + ":\n"
			for i, p := range path {
				yml += strings.Repeat("  ", i+1) + p + ":"
				if i < len(path)-1 {
					yml += "\n"
				}
			}
			yml += " \"\"\n"
		}
	}
	env = append(env, "POLICYREPORT_ENABLED=false", "OPENREPORT_ENABLED=false", "AWS_SQS_URL=", "GCP_CREDENTIALS=")
	c, err := Parse(nil, env, types)
	if err != nil || len(c.Outputs) != 0 {
		t.Fatalf("Helm-style environment: %v", err)
	}
	// One section at a time (a YAML mapping may not repeat a key).
	for _, sec := range strings.SplitAfter(yml, "\"\"\n") {
		if sec == "" {
			continue
		}
		if _, err := Parse([]byte(sec), nil, types); err != nil {
			t.Errorf("%q: %v", sec, err)
		}
	}
	if _, err := Parse([]byte("gcp:\n  credentials: \"\"\n  pubsub: {projectid: \"\", topic: \"\"}\n  storage: {bucket: \"\"}\n  cloudrun: {endpoint: \"\", jwt: \"\"}\n  chronicle: {projectid: \"\", logtype: FALCO_IDS}\notlp:\n  traces: {endpoint: \"\", protocol: http/json}\n  metrics: {endpoint: \"\", protocol: grpc}\nyandex:\n  s3: {bucket: \"\", endpoint: \"https://storage.yandexcloud.net\"}\n  datastreams: {streamname: \"\"}\ndatadoglogs:\n  apikey: \"\"\n  host: https://http-intake.logs.datadoghq.com/\nopenreport:\n  enabled: false\n  maxevents: 1000\n"), nil, types); err != nil {
		t.Fatalf("sections with their defaults: %v", err)
	}
}

// A key nightjar knows, written in the wrong place, is misplaced, not
// misspelt: no "did you mean" naming a near key here (debug for dedup), but
// where it belongs. A key of five letters or fewer is suggested only one
// edit away.
func TestMisplacedKeysAreNotMisspelt(t *testing.T) {
	all := []outputs.Type{webhook.Type, slack.Type, datadog.Type, smtp.Type}
	for _, tc := range []struct{ yaml, want string }{
		{"dedup: 30s\n", `dedup (line 1): unknown key "dedup" here; it belongs at datadog.dedup, slack.dedup, smtp.dedup, webhook.dedup (an output setting)`},
		{"webhook:\n  address: http://127.0.0.1:1/x\n  debug: true\n", `webhook.debug (line 3): unknown key "debug" here; it belongs at debug (a global setting)`},
		{"smtp:\n  hostport: 127.0.0.1:25\n  from: a@b\n  to: c@d\n  certfile: /etc/c.pem\n", `smtp.certfile (line 5): unknown key "certfile" here; it belongs at tlsserver.certfile`},
		{"queue:\n  host: nats.local\n", `queue.host (line 2): unknown key "host" here; it belongs at datadog.host (an output setting)`},
		{"queue:\n  pxrx: 4222\n", `queue.pxrx (line 2): unknown key "pxrx"`},
		{"queue:\n  nmae: q\n", `queue.nmae (line 2): unknown key "nmae"; did you mean "name"?`},
	} {
		_, err := Parse([]byte(tc.yaml), nil, all)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	// Many places: the first three, then "...".
	all = append(all, rocketchat.Type, opsgenie.Type, lambda.Type)
	if _, err := Parse([]byte("dedup: 30s\n"), nil, all); err == nil || !strings.HasSuffix(err.Error(), "it belongs at aws.lambda.dedup, datadog.dedup, opsgenie.dedup, ... (an output setting)") {
		t.Errorf("dedup, all types: %v", err)
	}
	// Set to nothing (false), as falcosidekick's files may: a warning that
	// says where the key belongs.
	c, err := Parse([]byte("webhook:\n  address: http://127.0.0.1:1/x\n  debug: false\n"), nil, all)
	if err != nil {
		t.Fatalf("webhook.debug: false: %v", err)
	}
	if strings.Join(c.Warnings, "|") != "webhook.debug (line 3): unknown key here, with an empty value; ignored; it belongs at debug (a global setting)" {
		t.Fatalf("webhook.debug: false: %q", c.Warnings)
	}
}

// falcosidekick's global settings nightjar lacks warn in both forms, the
// environment's derived from the file's keys (sections included).
func TestFalcosidekickGlobalsBothForms(t *testing.T) {
	c := parse(t, "", "MUTUALTLSCLIENT_CERTFILE=/c.pem", "TLSCLIENT_CACERTFILE=/ca.pem", "OUTPUTFIELDFORMAT=x", "MUTUALTLSCLIENT_KEYFILE=")
	if strings.Join(c.Warnings, "|") != "MUTUALTLSCLIENT_CERTFILE: falcosidekick setting not implemented by nightjar-sidekick; ignored|OUTPUTFIELDFORMAT: falcosidekick setting not implemented by nightjar-sidekick; ignored|TLSCLIENT_CACERTFILE: falcosidekick setting not implemented by nightjar-sidekick; ignored" {
		t.Fatalf("env: %q", c.Warnings)
	}
	c = parse(t, "mutualtlsclient:\n  certfile: /c.pem\ntlsclient:\n  cacertfile: /ca.pem\n")
	if len(c.Warnings) != 2 || !strings.HasPrefix(c.Warnings[0], "mutualtlsclient (line 1): falcosidekick setting not implemented") {
		t.Fatalf("file: %q", c.Warnings)
	}
}
