package outputs

import (
	"net/url"
	"strings"
)

// Secret is a setting that must never be printed: API keys, tokens,
// passwords. Every way of formatting it yields "<secret>"; Reveal returns the
// value for the one place that needs it (the request to the destination).
type Secret string

const redacted = "<secret>"

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return `"` + redacted + `"` }

// MarshalText keeps secrets out of JSON and YAML dumps of a configuration.
// Decoding goes through UnmarshalText, so configuration still loads.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (s *Secret) UnmarshalText(b []byte) error {
	*s = Secret(b)
	return nil
}

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether a value was given.
func (s Secret) IsSet() bool { return s != "" }

// SecretURL is a URL whose path, query and user information are secret, as
// in a Slack or Rocket.Chat incoming webhook. It prints as scheme://host/<secret>.
type SecretURL string

func (u SecretURL) String() string {
	p, err := url.Parse(string(u))
	if err != nil || p.Host == "" {
		return redacted
	}
	return p.Scheme + "://" + p.Host + "/" + redacted
}
func (u SecretURL) GoString() string              { return `"` + u.String() + `"` }
func (u SecretURL) MarshalText() ([]byte, error)  { return []byte(u.String()), nil }
func (u *SecretURL) UnmarshalText(b []byte) error { *u = SecretURL(b); return nil }
func (u SecretURL) Reveal() string                { return string(u) }
func (u SecretURL) IsSet() bool                   { return u != "" }

// Parse checks that the URL is absolute http(s); the error names key and
// never the secret parts.
func (u SecretURL) Parse(key string) (*url.URL, error) {
	p, err := url.Parse(string(u))
	if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		return nil, &ConfigError{Key: key, Problem: "must be an absolute http or https URL"}
	}
	return p, nil
}

// Scrub replaces every given secret's value in s with "<secret>". Outputs run
// the text of every error through it: HTTP clients put the request URL in
// their errors, and destinations echo what they were sent.
func Scrub(s string, secrets ...string) string {
	for _, v := range secrets {
		if len(v) >= 4 { // shorter values would redact ordinary words
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

// ConfigError is a configuration problem, named by its key.
type ConfigError struct {
	Key     string
	Problem string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Problem }
