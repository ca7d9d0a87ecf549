// Package slack posts alerts to Slack, through an incoming webhook
// (slack.webhookurl, SLACK_WEBHOOKURL) or as a bot (slack.token with
// slack.channel), with github.com/slack-go/slack. Keys and message shape are
// falcosidekick's.
package slack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
)

// Type registers the Slack output with the forwarder.
var Type = outputs.Type{Name: "slack", NewConfig: func() outputs.Config { return NewConfig() }}

// Defaults.
const (
	DefaultUsername = "Nightjar"
	DefaultFooter   = "https://github.com/nightjar-sec/nightjar"
	DefaultAPIURL   = "https://slack.com/api/"
)

// Config is the Slack output's configuration.
type Config struct {
	outputs.Common `yaml:",inline"`
	// WebhookURL is an incoming webhook; its path is the secret.
	WebhookURL outputs.SecretURL `yaml:"webhookurl"`
	// Token is a bot token (xoxb-...), used with Channel instead of a webhook.
	Token outputs.Secret `yaml:"token"`
	// Channel is where the bot token posts; with a webhook it is sent as
	// the message's channel, which only legacy webhooks honour.
	Channel string `yaml:"channel"`
	// APIURL is the Web API base for the bot token (tests, proxies).
	APIURL        string `yaml:"apiurl"`
	Username      string `yaml:"username"`
	Icon          string `yaml:"icon"`
	Footer        string `yaml:"footer"`
	OutputFormat  string `yaml:"outputformat"`
	MessageFormat string `yaml:"messageformat"`
	// CheckCert verifies the server's TLS certificate (default true), for
	// the webhook and the Web API alike (falcosidekick's slack.checkcert).
	CheckCert bool `yaml:"checkcert"`
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{Common: outputs.DefaultCommon(), APIURL: DefaultAPIURL, Username: DefaultUsername,
		Footer: DefaultFooter, OutputFormat: FormatAll, CheckCert: true}
}

// Enabled reports whether a webhook URL or a bot token is set.
func (c *Config) Enabled() bool { return c.WebhookURL.IsSet() || c.Token.IsSet() }

// Shared returns the common settings.
func (c *Config) Shared() *outputs.Common { return &c.Common }

// Validate checks every setting; errors name the key under "slack".
func (c *Config) Validate() error {
	if err := c.Common.Validate("slack"); err != nil {
		return err
	}
	switch {
	case c.WebhookURL.IsSet() && c.Token.IsSet():
		return &outputs.ConfigError{Key: "slack.token", Problem: "set either slack.webhookurl or slack.token, not both"}
	case c.WebhookURL.IsSet():
		if _, err := c.WebhookURL.Parse("slack.webhookurl"); err != nil {
			return err
		}
	case c.Token.IsSet():
		if c.Channel == "" {
			return &outputs.ConfigError{Key: "slack.channel", Problem: "required with slack.token"}
		}
		if u, err := url.Parse(c.APIURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return &outputs.ConfigError{Key: "slack.apiurl", Problem: "must be an absolute http or https URL"}
		}
	default:
		return &outputs.ConfigError{Key: "slack.webhookurl", Problem: "not set (nor slack.token)"}
	}
	if err := CheckOutputFormat("slack.outputformat", c.OutputFormat); err != nil {
		return err
	}
	if _, err := ParseTemplate("slack.messageformat", c.MessageFormat); err != nil {
		return err
	}
	return nil
}

// Slack is the output.
type Slack struct {
	format  Format
	webhook string
	channel string
	api     *slack.Client
	client  *http.Client
	secrets []string
}

// New builds the output; call Validate first.
func (c *Config) New() (outputs.Output, error) {
	tmpl, err := ParseTemplate("slack.messageformat", c.MessageFormat)
	if err != nil {
		return nil, err
	}
	tr := outputs.NewTransport(c.MaxConcurrentRequests, c.CheckCert)
	s := &Slack{
		format:  Format{Username: c.Username, IconURL: c.Icon, Footer: c.Footer, OutputFormat: c.OutputFormat, Template: tmpl},
		webhook: c.WebhookURL.Reveal(),
		channel: c.Channel,
		client:  &http.Client{Transport: captureTransport{tr}, Timeout: c.Timeout},
		secrets: c.WebhookURL.Parts(),
	}
	if c.Token.IsSet() {
		s.secrets = append([]string{c.Token.Reveal()}, s.secrets...)
		api := c.APIURL
		if !strings.HasSuffix(api, "/") {
			api += "/"
		}
		s.api = slack.New(c.Token.Reveal(), slack.OptionAPIURL(api), slack.OptionHTTPClient(s.client))
	}
	return s, nil
}

// Send delivers one alert.
func (s *Slack) Send(ctx context.Context, a *alert.Alert) error {
	msg, err := Message(a, &s.format)
	if err != nil {
		return outputs.Permanent("slack." + err.Error())
	}
	rec := &response{}
	ctx = context.WithValue(ctx, responseKey{}, rec)
	if s.api != nil {
		opts := []slack.MsgOption{slack.MsgOptionAttachments(msg.Attachments...), slack.MsgOptionUsername(msg.Username)}
		if msg.Text != "" {
			opts = append(opts, slack.MsgOptionText(msg.Text, false))
		}
		if msg.IconURL != "" {
			opts = append(opts, slack.MsgOptionIconURL(msg.IconURL))
		}
		_, _, err = s.api.PostMessageContext(ctx, s.channel, opts...)
	} else {
		// Legacy webhooks post to the channel named here; app webhooks
		// ignore it and use their own, as with falcosidekick.
		msg.Channel = s.channel
		err = slack.PostWebhookCustomHTTPContext(ctx, s.webhook, s.client, msg)
	}
	return classify(err, rec, s.secrets)
}

// classify turns slack-go's errors into delivery errors. slack-go reduces an
// HTTP failure to its status line, so the status, Retry-After and body the
// destination sent are taken from what captureTransport recorded.
func classify(err error, rec *response, secrets []string) error {
	if err == nil {
		return nil
	}
	if rec.status != 0 {
		return outputs.StatusError(rec.status, rec.retryAfter, rec.body, secrets...)
	}
	var api slack.SlackErrorResponse
	if errors.As(err, &api) {
		// The Web API answers 200 with {"ok":false,"error":"..."}; only
		// Slack's own trouble is worth retrying.
		reason := outputs.Scrub("slack API error: "+api.Err, secrets...)
		switch api.Err {
		case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return outputs.Retryable(reason, 0)
		}
		return outputs.Permanent(reason)
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return outputs.Retryable("slack rate limit", rl.RetryAfter)
	}
	return outputs.TransportError(err, secrets...)
}

// response is what captureTransport saw of a failed HTTP exchange.
type response struct {
	status     int
	retryAfter string
	body       string
}

type responseKey struct{}

// captureTransport records the status, Retry-After and start of the body of
// every non-2xx response into the *response carried by the request's context,
// and hands the response on unchanged.
type captureTransport struct{ next http.RoundTripper }

func (t captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || (resp.StatusCode >= 200 && resp.StatusCode < 300) {
		return resp, err
	}
	if rec, ok := r.Context().Value(responseKey{}).(*response); ok {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		rec.status, rec.retryAfter, rec.body = resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
