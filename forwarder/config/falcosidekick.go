package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// falcosidekickOnly lists falcosidekick's output sections that
// nightjar-sidekick does not implement, by their path in the file (loki,
// aws.sqs), each with every variable that turns
// on an output of it in falcosidekick: one for most sections, one per
// output where a section holds several (gcp: pubsub, storage,
// cloudfunctions, cloudrun, chronicle; otlp: traces, logs, metrics; yandex:
// s3, datastreams). Where falcosidekick needs several keys together
// (stan.hostport with its clusterid and clientid), the first stands for
// them. A falcosidekick configuration dropped in must not lose a
// destination silently: such a key set in the file, or such a variable set
// in the environment, stops start-up with a message saying so. (A warning
// in a container's log is as good as silent: the alerts would simply never
// arrive.)
var falcosidekickOnly = map[string][]string{
	"alertmanager": {"ALERTMANAGER_HOSTPORT"},
	// falcosidekick's AWS outputs other than Lambda: subsections of the aws
	// section, which nightjar supports (its Lambda output).
	"aws.cloudwatchlogs": {"AWS_CLOUDWATCHLOGS_LOGGROUP"},
	"aws.kinesis":        {"AWS_KINESIS_STREAMNAME"},
	"aws.s3":             {"AWS_S3_BUCKET"},
	"aws.securitylake":   {"AWS_SECURITYLAKE_BUCKET"},
	"aws.sns":            {"AWS_SNS_TOPICARN"},
	"aws.sqs":            {"AWS_SQS_URL"},
	"azure":              {"AZURE_EVENTHUB_NAME"},
	"cliq":               {"CLIQ_WEBHOOKURL"},
	"cloudevents":        {"CLOUDEVENTS_ADDRESS"},
	"datadoglogs":        {"DATADOGLOGS_APIKEY"},
	"discord":            {"DISCORD_WEBHOOKURL"},
	"dogstatsd":          {"DOGSTATSD_FORWARDER"},
	"dynatrace":          {"DYNATRACE_APIURL"},
	"elasticsearch":      {"ELASTICSEARCH_HOSTPORT"},
	"fission":            {"FISSION_FUNCTION"},
	"gcp": {"GCP_PUBSUB_PROJECTID", "GCP_STORAGE_BUCKET", "GCP_CLOUDFUNCTIONS_NAME",
		"GCP_CLOUDRUN_ENDPOINT", "GCP_CHRONICLE_PROJECTID"},
	"googlechat":    {"GOOGLECHAT_WEBHOOKURL"},
	"gotify":        {"GOTIFY_HOSTPORT"},
	"grafana":       {"GRAFANA_HOSTPORT"},
	"grafanaoncall": {"GRAFANAONCALL_WEBHOOKURL"},
	"influxdb":      {"INFLUXDB_HOSTPORT"},
	"kafka":         {"KAFKA_HOSTPORT"},
	"kafkarest":     {"KAFKAREST_ADDRESS"},
	"kubeless":      {"KUBELESS_FUNCTION"},
	"logstash":      {"LOGSTASH_ADDRESS"},
	"loki":          {"LOKI_HOSTPORT"},
	"mattermost":    {"MATTERMOST_WEBHOOKURL"},
	"mqtt":          {"MQTT_BROKER"},
	"n8n":           {"N8N_ADDRESS"},
	"nats":          {"NATS_HOSTPORT"},
	"nodered":       {"NODERED_ADDRESS"},
	"openfaas":      {"OPENFAAS_FUNCTIONNAME"},
	"openobserve":   {"OPENOBSERVE_HOSTPORT"},
	"openreport":    {"OPENREPORT_ENABLED"},
	"otlp":          {"OTLP_TRACES_ENDPOINT", "OTLP_LOGS_ENDPOINT", "OTLP_METRICS_ENDPOINT"},
	"pagerduty":     {"PAGERDUTY_ROUTINGKEY"},
	"policyreport":  {"POLICYREPORT_ENABLED"},
	"quickwit":      {"QUICKWIT_HOSTPORT"},
	"rabbitmq":      {"RABBITMQ_URL"},
	"redis":         {"REDIS_ADDRESS"},
	"splunk":        {"SPLUNK_HOST"},
	"spyderbat":     {"SPYDERBAT_ORGUID"},
	"stan":          {"STAN_HOSTPORT"},
	"statsd":        {"STATSD_FORWARDER"},
	"sumologic":     {"SUMOLOGIC_RECEIVERURL"},
	"syslog":        {"SYSLOG_HOST"},
	"talon":         {"TALON_ADDRESS"},
	"teams":         {"TEAMS_WEBHOOKURL"},
	"tekton":        {"TEKTON_EVENTLISTENER"},
	"telegram":      {"TELEGRAM_TOKEN"},
	"timescaledb":   {"TIMESCALEDB_HOST"},
	"wavefront":     {"WAVEFRONT_ENDPOINTHOST"},
	"webex":         {"WEBEX_WEBHOOKURL"},
	"webui":         {"WEBUI_URL"},
	"yandex":        {"YANDEX_S3_BUCKET", "YANDEX_DATASTREAMS_STREAMNAME"},
	"zincsearch":    {"ZINCSEARCH_HOSTPORT"},
}

// falcosidekickOutput names the falcosidekick output that variable v of
// section name turns on: the section, or section.sub where the section
// holds several outputs (GCP_STORAGE_BUCKET: gcp.storage).
func falcosidekickOutput(name, v string) string {
	if len(falcosidekickOnly[name]) < 2 {
		return name
	}
	return name + "." + strings.ToLower(strings.Split(v, "_")[1])
}

// falcosidekickGlobals are falcosidekick settings that nightjar-sidekick
// accepts in a dropped-in file but does not implement (a warning says so),
// each with its keys where it is a section (mutualtlsclient.certfile). Their
// environment forms (MUTUALTLSCLIENT_CERTFILE) are derived from this list,
// by falcosidekickGlobalEnv.
var falcosidekickGlobals = map[string][]string{
	"bracketreplacer": nil, "outputfieldformat": nil, "mutualtlsfilespath": nil,
	"mutualtlsclient": {"certfile", "keyfile", "cacertfile"},
	"tlsclient":       {"cacertfile"},
}

func isFalcosidekickGlobal(name string) bool {
	_, ok := falcosidekickGlobals[name]
	return ok
}

// unsupportedSection checks a falcosidekick output section nightjar lacks.
// falcosidekick's example configuration lists every output with empty
// settings, or with non-empty defaults beside an empty enabling key
// (aws.securitylake.interval: 5), so a section whose enabling keys are all
// empty is skipped; one that would send alerts somewhere stops start-up.
func unsupportedSection(name string, v *yaml.Node, types string) error {
	depth := strings.Count(name, ".") + 1 // the variable's words that name the section
	for _, e := range falcosidekickOnly[name] {
		path := strings.Split(strings.ToLower(e), "_")[depth:]
		if err := enablingKeySet(falcosidekickOutput(name, e), name, path, v, types); err != nil {
			return err
		}
	}
	return nil
}

// enablingKeySet returns an error when the scalar at path under v (the
// section named where) is set, naming output as falcosidekick's output
// nightjar lacks; nil when it is absent, empty or null.
func enablingKeySet(output, where string, path []string, v *yaml.Node, types string) error {
	n := v
	for _, p := range path {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if strings.EqualFold(n.Content[i].Value, p) {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case n.Kind != yaml.ScalarNode:
		// falcosidekick's alertmanager.hostport may be a list.
		if emptyNode(n) {
			return nil
		}
	case n.Value == "" || n.Tag == "!!null" || (path[len(path)-1] == "enabled" && strings.EqualFold(n.Value, "false")):
		return nil // policyreport.enabled: false is off
	}
	return fmt.Errorf("%s.%s (line %d): falcosidekick's %s output is not supported by nightjar-sidekick; remove the section (supported outputs: %s)",
		where, strings.Join(path, "."), n.Line, output, types)
}

// unsupportedEnv is an error naming every falcosidekick-only output
// (falcosidekickOnly) that the environment turns on
// (never its value: a webhook URL is a secret), or nil.
func unsupportedEnv(env map[string]string, types []string) error {
	var set []string
	aws := ""
	for name, vars := range falcosidekickOnly {
		if slices.Contains(types, name) {
			continue // implemented since this list was written
		}
		for _, v := range vars {
			if val := env[v]; val != "" && !(strings.HasSuffix(v, "_ENABLED") && strings.EqualFold(val, "false")) {
				set = append(set, fmt.Sprintf("%s (falcosidekick's %s output)", v, falcosidekickOutput(name, v)))
				if strings.HasPrefix(name, "aws.") {
					aws = "; of falcosidekick's AWS outputs only Lambda, aws.lambda, is"
				}
			}
		}
	}
	if len(set) == 0 {
		return nil
	}
	sort.Strings(set)
	return fmt.Errorf("%s: set, but not supported by nightjar-sidekick, so alerts would not go there; unset it (supported outputs: %s%s)",
		strings.Join(set, ", "), strings.Join(types, ", "), aws)
}

// falcosidekickGlobalEnv lists the environment forms of
// falcosidekickGlobals, sorted.
func falcosidekickGlobalEnv() []string {
	var out []string
	for name, keys := range falcosidekickGlobals {
		if keys == nil {
			out = append(out, strings.ToUpper(name))
		}
		for _, k := range keys {
			out = append(out, strings.ToUpper(name+"_"+k))
		}
	}
	sort.Strings(out)
	return out
}

// unimplementedGlobalEnv warns about each falcosidekick global setting the
// environment sets that nightjar-sidekick does not implement, as the file
// form does.
func unimplementedGlobalEnv(env map[string]string) []string {
	var w []string
	for _, v := range falcosidekickGlobalEnv() {
		if env[v] != "" {
			w = append(w, fmt.Sprintf("%s: falcosidekick setting not implemented by nightjar-sidekick; ignored", v))
		}
	}
	return w
}
