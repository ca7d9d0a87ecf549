// Package webhook delivers alerts as Falco JSON to any HTTP endpoint, as
// falcosidekick's webhook output does (WEBHOOK_ADDRESS,
// WEBHOOK_CUSTOMHEADERS, WEBHOOK_MINIMUMPRIORITY).
package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
)

// Type registers the webhook output with the forwarder.
var Type = outputs.Type{Name: "webhook", NewConfig: func() outputs.Config { return NewConfig() }}

// Config is the webhook output's configuration.
type Config struct {
	outputs.Common `yaml:",inline"`
	// Address is the URL alerts are sent to; setting it enables the output.
	// It is a SecretURL because webhook URLs often carry a token in their
	// path or query.
	Address outputs.SecretURL `yaml:"address"`
	// Method is POST (default) or PUT.
	Method string `yaml:"method"`
	// CustomHeaders are added to every request (env form
	// "Header:value,Header2:value2"). Their values are secrets: they are
	// typically Authorization headers.
	CustomHeaders map[string]outputs.Secret `yaml:"customheaders"`
	// CheckCert verifies the destination's TLS certificate (default true).
	CheckCert bool `yaml:"checkcert"`
	// MutualTLS is falcosidekick's switch for a client certificate. It is
	// accepted so that falcosidekick files load; true is refused, because
	// client certificates are not implemented here yet.
	MutualTLS bool `yaml:"mutualtls"`
}

// DefaultMaxConcurrentRequests is the webhook's default for
// webhook.maxconcurrentrequests, above the other outputs' 4: a webhook is
// usually a collector that takes every alert, and with 4 requests in flight
// delivery is capped at 4 per round trip (200 alerts/s at 20 ms). On the
// 2-vCPU benchmark machine 16 also kept delivery up with 5,000 alerts/s
// where 4 fell behind, and cost ~10 % less CPU per alert
// (docs/benchmarks/sidekick-p99.md). falcosidekick itself does not bound
// the requests in flight unless maxconcurrentrequests is set.
const DefaultMaxConcurrentRequests = 16

// NewConfig returns the defaults.
func NewConfig() *Config {
	c := &Config{Common: outputs.DefaultCommon(), Method: http.MethodPost, CheckCert: true}
	c.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	return c
}

// Enabled reports whether an address is set.
func (c *Config) Enabled() bool { return c.Address.IsSet() }

// Shared returns the common settings.
func (c *Config) Shared() *outputs.Common { return &c.Common }

// Validate checks every setting; errors name the key under "webhook".
func (c *Config) Validate() error {
	if err := c.Common.Validate("webhook"); err != nil {
		return err
	}
	if _, err := c.Address.Parse("webhook.address"); err != nil {
		return err
	}
	switch strings.ToUpper(c.Method) {
	case http.MethodPost, http.MethodPut:
		c.Method = strings.ToUpper(c.Method)
	default:
		return &outputs.ConfigError{Key: "webhook.method", Problem: fmt.Sprintf("%q is not POST or PUT", c.Method)}
	}
	if c.MutualTLS {
		return &outputs.ConfigError{Key: "webhook.mutualtls", Problem: "client certificates are not supported by nightjar-sidekick's webhook output yet; set it to false"}
	}
	for name := range c.CustomHeaders {
		if i := invalidHeaderRune(name); i >= 0 {
			// Only the part before the bad character is shown: a header
			// written without its ':' ("Authorization Bearer abc") puts
			// the token in the name.
			return &outputs.ConfigError{Key: "webhook.customheaders", Problem: fmt.Sprintf(
				"a header name starting %q has a character not allowed in HTTP header names at position %d (want Name:value pairs, comma-separated; the rest is not shown, it may hold a secret)",
				name[:i], i+1)}
		}
	}
	return nil
}

// invalidHeaderRune is the byte index of the first character of s that is
// not an RFC 9110 token character, 0 for an empty s, or -1 when s is a valid
// header name.
func invalidHeaderRune(s string) int {
	if s == "" {
		return 0
	}
	for i, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return i
		}
	}
	return -1
}

// Webhook is the output.
type Webhook struct {
	url    string
	method string
	// header is every request's header: the defaults and the custom
	// headers. Read-only once New returns.
	header  http.Header
	secrets []string
	client  *http.Client
}

// New builds the output; call Validate first.
func (c *Config) New() (outputs.Output, error) {
	w := &Webhook{url: c.Address.Reveal(), method: c.Method, header: http.Header{
		"Content-Type": {"application/json"},
		"User-Agent":   {"nightjar-sidekick"},
	}}
	w.secrets = c.Address.Parts()
	// Custom headers come last so that a user may override the defaults.
	for k, v := range c.CustomHeaders {
		w.header.Set(k, v.Reveal())
		w.secrets = append(w.secrets, v.Reveal())
	}
	// Longest first, so that a part is never scrubbed before the whole.
	sort.Slice(w.secrets, func(i, j int) bool { return len(w.secrets[i]) > len(w.secrets[j]) })
	w.client = outputs.HTTPClient(&c.Common, c.CheckCert)
	return w, nil
}

// Send delivers one alert.
func (w *Webhook) Send(ctx context.Context, a *alert.Alert) error {
	body, err := a.Encode()
	if err != nil {
		return outputs.Permanent("encoding alert: " + err.Error())
	}
	return w.SendRaw(ctx, body)
}

// SendRaw delivers one alert already encoded by (*alert.Alert).Encode:
// the webhook's body is that JSON as it is (outputs.RawSender).
func (w *Webhook) SendRaw(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, w.method, w.url, bytes.NewReader(body))
	if err != nil {
		return outputs.Permanent(outputs.Scrub("building request: "+err.Error(), w.secrets...))
	}
	// Every request shares the one header, built at New: net/http's client
	// never writes to a request's header (it clones it first, for basic
	// auth from the URL or a redirect), and neither does this package.
	req.Header = w.header
	resp, err := w.client.Do(req)
	if err != nil {
		return outputs.TransportError(err, w.secrets...)
	}
	defer resp.Body.Close()
	err = outputs.CheckResponse(resp, w.secrets...)
	// Drain so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return err
}
