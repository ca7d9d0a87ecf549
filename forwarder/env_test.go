package forwarder

import (
	"slices"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/forwarder/config"
)

// The environment exactly as falcosidekick's users write it, over every
// registered output type.
func TestFalcosidekickEnvironment(t *testing.T) {
	env := []string{
		"SLACK_WEBHOOKURL=https://hooks.slack.com/services/T000/B000/XXXXSECRET",
		"SLACK_MINIMUMPRIORITY=warning",
		"WEBHOOK_ADDRESS=http://127.0.0.1:9000/falco",
		"WEBHOOK_CUSTOMHEADERS=Authorization:Bearer hdrsecret",
		"CUSTOMFIELDS=env:prod,team:sec",
		"CUSTOMTAGS=prod",
		"LISTENPORT=2801",
		"DEBUG=false",
	}
	cfg, err := config.Parse(nil, env, OutputTypes)
	if err != nil {
		t.Fatal(err)
	}
	names := cfg.OutputNames()
	if !slices.Contains(names, "slack") || !slices.Contains(names, "webhook") || len(names) != 2 {
		t.Fatalf("enabled outputs %v", names)
	}
	for _, o := range cfg.Outputs {
		if o.Name == "slack" && o.Config.Shared().MinimumPriority != alert.PriorityWarning {
			t.Fatalf("SLACK_MINIMUMPRIORITY: %v", o.Config.Shared().MinimumPriority)
		}
	}
	if cfg.CustomFields["team"] != "sec" || !slices.Equal(cfg.CustomTags, []string{"prod"}) {
		t.Fatalf("custom fields %v tags %v", cfg.CustomFields, cfg.CustomTags)
	}
	dump := cfg.Dump()
	if strings.Contains(dump, "XXXXSECRET") || strings.Contains(dump, "hdrsecret") || !strings.Contains(dump, "hooks.slack.com") {
		t.Fatalf("dump:\n%s", dump)
	}
	if _, err := config.Parse(nil, []string{"SLACK_WEBHOOKURL=https://hooks.slack.com/services/T000/B000/XXXXSECRET", "SLACK_MINIMUMPRIORITY=high"}, OutputTypes); err == nil ||
		!strings.Contains(err.Error(), "slack.minimumpriority (env SLACK_MINIMUMPRIORITY)") || strings.Contains(err.Error(), "XXXXSECRET") {
		t.Fatalf("bad priority: %v", err)
	}
}

// Every registered type's configuration must be walkable by the loader:
// an unknown key under each type is reported, named by its path.
func TestEveryOutputTypeLoads(t *testing.T) {
	for _, ty := range OutputTypes {
		_, err := config.Parse([]byte(ty.Name+":\n  nosuchkey: 1\n"), nil, OutputTypes)
		if err == nil || !strings.Contains(err.Error(), ty.Name+".nosuchkey (line 2): unknown key") {
			t.Errorf("%s: %v", ty.Name, err)
		}
		if _, err := config.Parse([]byte(ty.Name+":\n"), nil, OutputTypes); err != nil {
			t.Errorf("%s: empty section: %v", ty.Name, err)
		}
	}
}

// A falcosidekick configuration file, dropped in as it is, loads: unset
// sections and settings nightjar lacks are reported as warnings.
func TestFalcosidekickExampleFileLoads(t *testing.T) {
	cfg, err := config.Load("testdata/falcosidekick-example.yaml", nil, OutputTypes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Outputs) != 0 || cfg.CustomFields["Akey"] != "AValue" {
		t.Fatalf("outputs %v customfields %v", cfg.OutputNames(), cfg.CustomFields)
	}
	if w := strings.Join(cfg.Warnings, "\n"); !strings.Contains(w, "mutualtlsfilespath") || !strings.Contains(w, "aws.sqs") {
		t.Fatalf("warnings:\n%s", w)
	}
	// Filling in a destination nightjar lacks is an error, not a silent loss.
	_, err = config.Parse([]byte("pagerduty:\n  routingKey: abc\n"), nil, OutputTypes)
	if err == nil || !strings.Contains(err.Error(), "pagerduty.routingkey (line 2): falcosidekick's pagerduty output is not supported") {
		t.Fatalf("pagerduty: %v", err)
	}
}
