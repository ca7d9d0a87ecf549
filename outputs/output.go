// Package outputs holds what every destination shares: the Output interface,
// classified delivery errors, secret-typed settings and the per-output common
// settings. Each destination lives in its own package below this one and knows
// nothing of routing or queues.
package outputs

import (
	"context"

	"github.com/nightjar-sec/nightjar/alert"
)

// Output delivers one alert to one destination. Send must be safe for
// concurrent use. A nil error means the destination accepted the alert; any
// other error should be built with Retryable or Permanent (an unclassified
// error is treated as retryable).
type Output interface {
	Send(ctx context.Context, a *alert.Alert) error
}

// RawSender is implemented by outputs whose request body is the alert's
// JSON exactly as (*alert.Alert).Encode writes it (the webhook). The
// forwarder stores alerts in that encoding, so it hands such outputs the
// stored bytes and saves a decode and an encode per delivery; Send stays
// for callers that hold an *alert.Alert. SendRaw must behave as Send does
// for the alert that data encodes (same request, same error
// classification), must be safe for concurrent use, and must not modify
// data or keep it after returning.
type RawSender interface {
	SendRaw(ctx context.Context, data []byte) error
}

// Config is what each destination's configuration type implements. The
// forwarder decodes YAML and environment variables into a value from
// Type.NewConfig, then calls these.
type Config interface {
	// Enabled reports whether the output's key setting is set (a webhook URL,
	// an API key, a function name, a host:port), as falcosidekick decides.
	Enabled() bool
	// Validate checks every setting and names the key at fault. It never
	// includes a secret's value in its message.
	Validate() error
	// Shared returns the settings every output has.
	Shared() *Common
	// New builds the output. It is called once, after Validate.
	New() (Output, error)
}

// Type describes one kind of destination to the forwarder.
type Type struct {
	// Name is the configuration key and environment prefix ("slack" for
	// slack.webhookurl and SLACK_WEBHOOKURL).
	Name string
	// NewConfig returns a configuration holding the type's defaults.
	NewConfig func() Config
}
