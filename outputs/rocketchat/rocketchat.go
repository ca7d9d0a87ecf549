// Package rocketchat posts alerts to a Rocket.Chat incoming webhook
// (rocketchat.webhookurl, ROCKETCHAT_WEBHOOKURL). Rocket.Chat takes Slack's
// webhook message shape, so the message is built by the slack package.
package rocketchat

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
	"github.com/nightjar-sec/nightjar/outputs/slack"
)

// Type registers the Rocket.Chat output with the forwarder.
var Type = outputs.Type{Name: "rocketchat", NewConfig: func() outputs.Config { return NewConfig() }}

// DefaultUsername is the name messages are posted under.
const DefaultUsername = "Nightjar"

// Config is the Rocket.Chat output's configuration.
type Config struct {
	outputs.Common `yaml:",inline"`
	// WebhookURL is the integration's URL; its path holds the token.
	WebhookURL    outputs.SecretURL `yaml:"webhookurl"`
	Username      string            `yaml:"username"`
	Icon          string            `yaml:"icon"`
	OutputFormat  string            `yaml:"outputformat"`
	MessageFormat string            `yaml:"messageformat"`
	// CheckCert verifies the server's TLS certificate (default true);
	// self-hosted servers sometimes run on self-signed ones.
	CheckCert bool `yaml:"checkcert"`
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{Common: outputs.DefaultCommon(), Username: DefaultUsername, OutputFormat: slack.FormatAll, CheckCert: true}
}

// Enabled reports whether a webhook URL is set.
func (c *Config) Enabled() bool { return c.WebhookURL.IsSet() }

// Shared returns the common settings.
func (c *Config) Shared() *outputs.Common { return &c.Common }

// Validate checks every setting; errors name the key under "rocketchat".
func (c *Config) Validate() error {
	if err := c.Common.Validate("rocketchat"); err != nil {
		return err
	}
	if _, err := c.WebhookURL.Parse("rocketchat.webhookurl"); err != nil {
		return err
	}
	if err := slack.CheckOutputFormat("rocketchat.outputformat", c.OutputFormat); err != nil {
		return err
	}
	_, err := slack.ParseTemplate("rocketchat.messageformat", c.MessageFormat)
	return err
}

// RocketChat is the output.
type RocketChat struct {
	format  slack.Format
	url     string
	client  *http.Client
	secrets []string
}

// New builds the output; call Validate first.
func (c *Config) New() (outputs.Output, error) {
	tmpl, err := slack.ParseTemplate("rocketchat.messageformat", c.MessageFormat)
	if err != nil {
		return nil, err
	}
	return &RocketChat{
		format:  slack.Format{Username: c.Username, IconURL: c.Icon, OutputFormat: c.OutputFormat, Template: tmpl},
		url:     c.WebhookURL.Reveal(),
		client:  outputs.HTTPClient(&c.Common, c.CheckCert),
		secrets: c.WebhookURL.Parts(),
	}, nil
}

// Send delivers one alert.
func (r *RocketChat) Send(ctx context.Context, a *alert.Alert) error {
	msg, err := slack.Message(a, &r.format)
	if err != nil {
		return outputs.Permanent("rocketchat." + err.Error())
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return outputs.Permanent("encoding message: " + err.Error())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return outputs.Permanent(outputs.Scrub("building request: "+err.Error(), r.secrets...))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "nightjar-sidekick")
	resp, err := r.client.Do(req)
	if err != nil {
		return outputs.TransportError(err, r.secrets...)
	}
	defer resp.Body.Close()
	if err := outputs.CheckResponse(resp, r.secrets...); err != nil {
		return err
	}
	// Rocket.Chat reports a refused message as {"success":false,"error":...}.
	var res struct {
		Success *bool  `json:"success"`
		Error   string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &res) == nil && res.Success != nil && !*res.Success {
		return outputs.Permanent(outputs.Scrub("rocketchat refused the message: "+res.Error, r.secrets...))
	}
	return nil
}
