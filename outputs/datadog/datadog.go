// Package datadog posts each alert as a Datadog event (Events API v1) with
// github.com/DataDog/datadog-api-client-go/v2. Keys are falcosidekick's:
// datadog.apikey (DATADOG_APIKEY) and datadog.host (DATADOG_HOST), any site.
package datadog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
)

// Type registers the Datadog output with the forwarder.
var Type = outputs.Type{Name: "datadog", NewConfig: func() outputs.Config { return NewConfig() }}

// DefaultHost is Datadog's US1 site.
const DefaultHost = "https://api.datadoghq.com"

// Config is the Datadog output's configuration.
type Config struct {
	outputs.Common `yaml:",inline"`
	APIKey         outputs.Secret `yaml:"apikey"`
	// Host is the API's base URL: scheme and host (and port), for any site
	// (https://api.datadoghq.eu, https://api.us5.datadoghq.com, ...).
	Host string `yaml:"host"`
	// CheckCert verifies the server's TLS certificate (default true;
	// falcosidekick's datadog.checkcert), for proxies on private ones.
	CheckCert bool `yaml:"checkcert"`
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{Common: outputs.DefaultCommon(), Host: DefaultHost, CheckCert: true}
}

// Enabled reports whether an API key is set.
func (c *Config) Enabled() bool { return c.APIKey.IsSet() }

// Shared returns the common settings.
func (c *Config) Shared() *outputs.Common { return &c.Common }

// Validate checks every setting; errors name the key under "datadog".
func (c *Config) Validate() error {
	if err := c.Common.Validate("datadog"); err != nil {
		return err
	}
	if !c.APIKey.IsSet() {
		return &outputs.ConfigError{Key: "datadog.apikey", Problem: "not set"}
	}
	_, err := parseHost(c.Host)
	return err
}

// parseHost checks that host is scheme://host[:port] with nothing after: the
// client library appends the API paths itself. The errors never quote the
// value beyond scheme://host, as outputs.SecretURL prints a URL: a host
// pasted with a key in its query (.../api/v1/events?api_key=...) or its
// user information must not print the key.
func parseHost(host string) (*url.URL, error) {
	u, err := url.Parse(host)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &outputs.ConfigError{Key: "datadog.host", Problem: "must be an absolute http or https URL, scheme and host only (https://api.datadoghq.eu); the value is not shown, it may hold a secret"}
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.ForceQuery || u.User != nil || u.Fragment != "" {
		return nil, &outputs.ConfigError{Key: "datadog.host", Problem: fmt.Sprintf(
			"%s must be a base URL, scheme and host only, without path, query or user information (the rest is not shown, it may hold a secret)",
			outputs.SecretURL(host))}
	}
	return u, nil
}

// Datadog is the output.
type Datadog struct {
	api *datadogV1.EventsApi
	key string
	// server selects the client's "{protocol}://{name}" server with the
	// configured host, so any site or a local test server works.
	server map[string]string
}

// New builds the output; call Validate first.
func (c *Config) New() (outputs.Output, error) {
	u, err := parseHost(c.Host)
	if err != nil {
		return nil, err
	}
	cfg := datadog.NewConfiguration()
	cfg.HTTPClient = outputs.HTTPClient(&c.Common, c.CheckCert)
	// The forwarder retries, with its own backoff and queue; the client
	// library must not retry behind its back.
	cfg.RetryConfiguration.EnableRetry = false
	cfg.UserAgent = "nightjar-sidekick"
	return &Datadog{
		api:    datadogV1.NewEventsApi(datadog.NewAPIClient(cfg)),
		key:    c.APIKey.Reveal(),
		server: map[string]string{"protocol": u.Scheme, "name": u.Host},
	}, nil
}

// serverIndex is the position of "{protocol}://{name}" in the client's
// server list.
const serverIndex = 1

// Event builds the Datadog event of an alert: title = rule, text = output,
// alert_type by priority, tags from the string output fields (sorted),
// source, hostname and the alert's tags, as falcosidekick does.
func Event(a *alert.Alert) datadogV1.EventCreateRequest {
	var tags []string
	keys := make([]string, 0, len(a.OutputFields))
	for k, v := range a.OutputFields {
		if _, ok := v.(string); ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		tags = append(tags, k+":"+a.OutputFields[k].(string))
	}
	tags = append(tags, "source:"+a.Source)
	if a.Hostname != "" {
		tags = append(tags, "hostname:"+a.Hostname)
	}
	at := append([]string(nil), a.Tags...)
	sort.Strings(at)
	tags = append(tags, at...)

	typ := datadogV1.EVENTALERTTYPE_INFO
	switch {
	case a.Priority.AtLeast(alert.PriorityError):
		typ = datadogV1.EVENTALERTTYPE_ERROR
	case a.Priority == alert.PriorityWarning:
		typ = datadogV1.EVENTALERTTYPE_WARNING
	}
	ev := datadogV1.EventCreateRequest{
		Title:          a.Rule,
		Text:           a.Output,
		AlertType:      &typ,
		SourceTypeName: datadog.PtrString("falco"),
		Tags:           tags,
	}
	if a.Hostname != "" {
		ev.Host = datadog.PtrString(a.Hostname)
	}
	return ev
}

// Send delivers one alert.
func (d *Datadog) Send(ctx context.Context, a *alert.Alert) error {
	ctx = context.WithValue(ctx, datadog.ContextServerIndex, serverIndex)
	ctx = context.WithValue(ctx, datadog.ContextServerVariables, d.server)
	// The key travels in the DD-API-KEY header, never in the URL.
	ctx = context.WithValue(ctx, datadog.ContextAPIKeys, map[string]datadog.APIKey{"apiKeyAuth": {Key: d.key}})
	_, resp, err := d.api.CreateEvent(ctx, Event(a))
	if err == nil {
		return nil
	}
	if resp != nil && (resp.StatusCode < 200 || resp.StatusCode >= 300) {
		return outputs.StatusError(resp.StatusCode, retryAfter(resp), errorText(err), d.key)
	}
	if resp != nil {
		// 2xx with an answer the client could not decode: Datadog took
		// the event, so sending it again would duplicate it.
		return nil
	}
	return outputs.TransportError(err, d.key)
}

// MaxRateLimitReset bounds the wait that X-RateLimit-Reset asks for: the
// dispatcher's longest backoff by default (queue.retrymax, 5m). A limit
// that resets later (an hourly one) is asked again after that, and answers
// 429 with what is left.
const MaxRateLimitReset = 5 * time.Minute

// retryAfter is the wait a failed answer asks for, as Retry-After's value.
// Datadog's API answers a rate-limited request with 429 and its rate-limit
// headers, X-RateLimit-Reset being the seconds until the limit resets,
// rather than Retry-After; that is used, bounded by MaxRateLimitReset,
// when a 429 has no Retry-After (which a proxy may set, and wins).
func retryAfter(resp *http.Response) string {
	if v := resp.Header.Get("Retry-After"); v != "" || resp.StatusCode != http.StatusTooManyRequests {
		return v
	}
	secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("X-RateLimit-Reset")))
	if err != nil || secs <= 0 {
		return ""
	}
	return strconv.Itoa(min(secs, int(MaxRateLimitReset/time.Second)))
}

// errorText returns Datadog's own explanation: {"errors":["..."]}.
func errorText(err error) string {
	var g datadog.GenericOpenAPIError
	if !errors.As(err, &g) {
		return err.Error()
	}
	var body struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(g.Body(), &body) == nil && len(body.Errors) > 0 {
		return strings.Join(body.Errors, "; ")
	}
	if len(g.Body()) > 0 {
		b := g.Body()
		if len(b) > 512 {
			b = b[:512]
		}
		return string(b)
	}
	return g.Error()
}
