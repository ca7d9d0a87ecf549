// Package opsgenie creates Opsgenie alerts through the Alert API v2
// (POST /v2/alerts, Authorization: GenieKey <key>). Keys are falcosidekick's
// (opsgenie.apikey, OPSGENIE_APIKEY; opsgenie.region) plus opsgenie.url for
// self-hosted proxies and tests.
package opsgenie

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
)

// Type registers the Opsgenie output with the forwarder.
var Type = outputs.Type{Name: "opsgenie", NewConfig: func() outputs.Config { return NewConfig() }}

// The API's base URLs by region.
var regionURLs = map[string]string{
	"us": "https://api.opsgenie.com",
	"eu": "https://api.eu.opsgenie.com",
}

// DefaultAliasFields are the output fields that, with rule and hostname,
// identify "the same alert" for Opsgenie's deduplication.
var DefaultAliasFields = []string{"container.id", "k8s.ns.name", "k8s.pod.name", "proc.name", "proc.exepath", "user.name", "fd.name"}

// Limits of the Alert API.
const (
	maxMessage     = 130
	maxDescription = 15000
	maxAlias       = 512
)

// Config is the Opsgenie output's configuration.
type Config struct {
	outputs.Common `yaml:",inline"`
	APIKey         outputs.Secret `yaml:"apikey"`
	// Region is us (default) or eu.
	Region string `yaml:"region"`
	// URL overrides the region's base URL.
	URL string `yaml:"url"`
	// AliasFields lists the output fields that go into the alias
	// (env form: a comma list).
	AliasFields []string `yaml:"aliasfields"`
	// CheckCert verifies the server's TLS certificate (default true).
	CheckCert bool `yaml:"checkcert"`
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{Common: outputs.DefaultCommon(), Region: "us", AliasFields: append([]string(nil), DefaultAliasFields...), CheckCert: true}
}

// Enabled reports whether an API key is set.
func (c *Config) Enabled() bool { return c.APIKey.IsSet() }

// Shared returns the common settings.
func (c *Config) Shared() *outputs.Common { return &c.Common }

// Validate checks every setting; errors name the key under "opsgenie".
func (c *Config) Validate() error {
	if err := c.Common.Validate("opsgenie"); err != nil {
		return err
	}
	if !c.APIKey.IsSet() {
		return &outputs.ConfigError{Key: "opsgenie.apikey", Problem: "not set"}
	}
	c.Region = strings.ToLower(strings.TrimSpace(c.Region))
	if _, ok := regionURLs[c.Region]; !ok {
		return &outputs.ConfigError{Key: "opsgenie.region", Problem: fmt.Sprintf("%q is not us or eu", c.Region)}
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return &outputs.ConfigError{Key: "opsgenie.url", Problem: "must be an absolute http or https URL"}
		}
	}
	return nil
}

// Opsgenie is the output.
type Opsgenie struct {
	endpoint    string
	key         string
	aliasFields []string
	client      *http.Client
}

// New builds the output; call Validate first.
func (c *Config) New() (outputs.Output, error) {
	base := regionURLs[c.Region]
	if c.URL != "" {
		base = c.URL
	}
	return &Opsgenie{
		endpoint:    strings.TrimSuffix(base, "/") + "/v2/alerts",
		key:         c.APIKey.Reveal(),
		aliasFields: c.AliasFields,
		client:      outputs.HTTPClient(&c.Common, c.CheckCert),
	}, nil
}

// Payload is the Alert API's create request.
type Payload struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details"`
	Entity      string            `json:"entity"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
}

// Priority maps an alert priority to Opsgenie's P1 to P5.
func Priority(p alert.Priority) string {
	switch p {
	case alert.PriorityEmergency, alert.PriorityAlert:
		return "P1"
	case alert.PriorityCritical:
		return "P2"
	case alert.PriorityError:
		return "P3"
	case alert.PriorityWarning:
		return "P4"
	}
	return "P5"
}

// NewPayload builds the alert Opsgenie receives: message = output,
// description = rule, details = the string output fields (dots become
// underscores, as falcosidekick does) with rule, priority, source, hostname
// and tags.
func (o *Opsgenie) NewPayload(a *alert.Alert) *Payload {
	details := map[string]string{"rule": a.Rule, "priority": a.Priority.String(), "source": a.Source}
	for k, v := range a.OutputFields {
		if s, ok := v.(string); ok {
			details[strings.ReplaceAll(k, ".", "_")] = s
		}
	}
	if a.Hostname != "" {
		details["hostname"] = a.Hostname
	}
	if len(a.Tags) > 0 {
		details["tags"] = strings.Join(a.Tags, ", ")
	}
	msg := a.Output
	if msg == "" {
		msg = a.Rule
	}
	return &Payload{
		Message:     truncate(msg, maxMessage),
		Alias:       o.Alias(a),
		Description: truncate(a.Rule, maxDescription),
		Tags:        a.Tags,
		Details:     details,
		Entity:      a.Hostname,
		Source:      "nightjar",
		Priority:    Priority(a.Priority),
	}
}

// Alias identifies repeats of one alert, so that Opsgenie counts them on one
// open alert instead of paging again: the rule, the host and the alias fields'
// values, hashed to stay inside the 512-character limit.
func (o *Opsgenie) Alias(a *alert.Alert) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", a.Rule, a.Hostname)
	fields := append([]string(nil), o.aliasFields...)
	sort.Strings(fields)
	for _, f := range fields {
		if v, ok := a.OutputFields[f]; ok && v != nil {
			fmt.Fprintf(h, "\x00%s=%v", f, v)
		}
	}
	return truncate("nightjar-"+hex.EncodeToString(h.Sum(nil)), maxAlias)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Send delivers one alert.
func (o *Opsgenie) Send(ctx context.Context, a *alert.Alert) error {
	body, err := json.Marshal(o.NewPayload(a))
	if err != nil {
		return outputs.Permanent("encoding alert: " + err.Error())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.endpoint, bytes.NewReader(body))
	if err != nil {
		return outputs.Permanent(outputs.Scrub("building request: "+err.Error(), o.key))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "GenieKey "+o.key)
	req.Header.Set("User-Agent", "nightjar-sidekick")
	resp, err := o.client.Do(req)
	if err != nil {
		return outputs.TransportError(err, o.key)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	// Opsgenie explains failures as {"message":"...","took":...,"requestId":...}.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	text := string(b)
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		text = e.Message
	}
	return outputs.StatusError(resp.StatusCode, resp.Header.Get("Retry-After"), text, o.key)
}
