// Package smtp mails alerts with github.com/wneessen/go-mail. Keys are
// falcosidekick's (smtp.hostport = SMTP_HOSTPORT, smtp.tls, smtp.authmechanism,
// smtp.user, smtp.password, smtp.from, smtp.to, smtp.outputformat) plus
// smtp.cacertfile and smtp.checkcert for private mail servers.
package smtp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"os"
	"strconv"
	"strings"

	"github.com/wneessen/go-mail"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
)

// Type registers the SMTP output with the forwarder.
var Type = outputs.Type{Name: "smtp", NewConfig: func() outputs.Config { return NewConfig() }}

// TLS modes (smtp.tls).
const (
	// TLSAuto, the default (also "true", falcosidekick's default), is
	// implicit TLS on port 465 and mandatory STARTTLS on any other port.
	TLSAuto          = "auto"
	TLSStartTLS      = "starttls"
	TLSOpportunistic = "opportunistic"
	TLSImplicit      = "implicit"
	TLSNone          = "none"
)

// Output formats (smtp.outputformat).
const (
	FormatHTML = "html" // multipart/alternative: text and HTML
	FormatText = "text"
)

// Config is the SMTP output's configuration.
type Config struct {
	outputs.Common `yaml:",inline"`
	// HostPort is the server's host:port; setting it enables the output.
	HostPort string `yaml:"hostport"`
	// TLS is auto (or true), starttls, opportunistic, implicit, or none
	// (or false).
	TLS string `yaml:"tls"`
	// AuthMechanism is plain, login, cram-md5 or none; empty means plain
	// when a user is set and none otherwise.
	AuthMechanism string         `yaml:"authmechanism"`
	User          string         `yaml:"user"`
	Password      outputs.Secret `yaml:"password"`
	From          string         `yaml:"from"`
	// To is a comma-separated list of recipients.
	To           string `yaml:"to"`
	OutputFormat string `yaml:"outputformat"`
	// CACertFile is a PEM bundle that replaces the system roots when
	// verifying the server's certificate.
	CACertFile string `yaml:"cacertfile"`
	CheckCert  bool   `yaml:"checkcert"`
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{Common: outputs.DefaultCommon(), TLS: TLSAuto, OutputFormat: FormatHTML, CheckCert: true}
}

// Enabled reports whether a host:port is set.
func (c *Config) Enabled() bool { return c.HostPort != "" }

// Shared returns the common settings.
func (c *Config) Shared() *outputs.Common { return &c.Common }

// Validate checks every setting and normalises the enumerations; errors
// name the key under "smtp".
func (c *Config) Validate() error {
	if err := c.Common.Validate("smtp"); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(c.HostPort)
	if err != nil || host == "" {
		return &outputs.ConfigError{Key: "smtp.hostport", Problem: fmt.Sprintf("%q is not host:port", c.HostPort)}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return &outputs.ConfigError{Key: "smtp.hostport", Problem: fmt.Sprintf("port %q is not a number from 1 to 65535", port)}
	}
	switch strings.ToLower(strings.TrimSpace(c.TLS)) {
	case "", "auto", "true":
		c.TLS = TLSAuto
	case "starttls", "mandatory":
		c.TLS = TLSStartTLS
	case "opportunistic":
		c.TLS = TLSOpportunistic
	case "implicit", "ssl", "tls":
		c.TLS = TLSImplicit
	case "none", "false":
		c.TLS = TLSNone
	default:
		return &outputs.ConfigError{Key: "smtp.tls", Problem: fmt.Sprintf("%q is not one of auto, starttls, opportunistic, implicit, none", c.TLS)}
	}
	switch m := strings.ToLower(strings.TrimSpace(c.AuthMechanism)); m {
	case "":
		c.AuthMechanism = "none"
		if c.User != "" {
			c.AuthMechanism = "plain"
		}
	case "plain", "login", "cram-md5", "none":
		c.AuthMechanism = m
	default:
		return &outputs.ConfigError{Key: "smtp.authmechanism", Problem: fmt.Sprintf("%q is not one of plain, login, cram-md5, none", c.AuthMechanism)}
	}
	if c.AuthMechanism != "none" && (c.User == "" || !c.Password.IsSet()) {
		return &outputs.ConfigError{Key: "smtp.user", Problem: fmt.Sprintf("smtp.user and smtp.password are required with authmechanism %s", c.AuthMechanism)}
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		return &outputs.ConfigError{Key: "smtp.from", Problem: fmt.Sprintf("%q is not a mail address", c.From)}
	}
	to, err := c.recipients()
	if err != nil {
		return err
	}
	if len(to) == 0 {
		return &outputs.ConfigError{Key: "smtp.to", Problem: "no recipient"}
	}
	switch c.OutputFormat = strings.ToLower(c.OutputFormat); c.OutputFormat {
	case FormatHTML, FormatText:
	default:
		return &outputs.ConfigError{Key: "smtp.outputformat", Problem: fmt.Sprintf("%q is not html or text", c.OutputFormat)}
	}
	if c.CACertFile != "" {
		if _, err := c.rootCAs(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) recipients() ([]string, error) {
	var to []string
	for _, r := range strings.Split(c.To, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if _, err := netmail.ParseAddress(r); err != nil {
			return nil, &outputs.ConfigError{Key: "smtp.to", Problem: fmt.Sprintf("%q is not a mail address", r)}
		}
		to = append(to, r)
	}
	return to, nil
}

func (c *Config) rootCAs() (*x509.CertPool, error) {
	pem, err := os.ReadFile(c.CACertFile)
	if err != nil {
		return nil, &outputs.ConfigError{Key: "smtp.cacertfile", Problem: err.Error()}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &outputs.ConfigError{Key: "smtp.cacertfile", Problem: c.CACertFile + ": no PEM certificate in it"}
	}
	return pool, nil
}

// SMTP is the output.
type SMTP struct {
	client  *mail.Client
	from    string
	to      []string
	html    bool
	secrets []string
}

// New builds the output; call Validate first. It does not connect: each
// Send opens its own session, so one broken connection never holds up
// later alerts.
func (c *Config) New() (outputs.Output, error) {
	host, portStr, _ := net.SplitHostPort(c.HostPort)
	port, _ := strconv.Atoi(portStr)
	tlsConf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if c.CACertFile != "" {
		pool, err := c.rootCAs()
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
	}
	if !c.CheckCert {
		tlsConf.InsecureSkipVerify = true //nolint:gosec // the user turned checkcert off
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTimeout(c.Timeout), mail.WithTLSConfig(tlsConf), mail.WithoutNoop()}
	mode := resolveTLS(c.TLS, port)
	switch mode {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	// Without TLS the plain and login mechanisms would refuse to send the
	// password; smtp.tls none is the user's explicit choice to allow it.
	cleartext := mode == TLSNone || mode == TLSOpportunistic
	var secrets []string
	switch c.AuthMechanism {
	case "plain":
		if cleartext {
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlainNoEnc))
		} else {
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain))
		}
	case "login":
		if cleartext {
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthLoginNoEnc))
		} else {
			opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthLogin))
		}
	case "cram-md5":
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthCramMD5))
	}
	if c.AuthMechanism != "none" {
		pw := c.Password.Reveal()
		opts = append(opts, mail.WithUsername(c.User), mail.WithPassword(pw))
		// The password, and the encodings in which AUTH carries it, in
		// case a server echoes them back.
		secrets = []string{
			base64.StdEncoding.EncodeToString([]byte("\x00" + c.User + "\x00" + pw)),
			base64.StdEncoding.EncodeToString([]byte(pw)),
			pw,
		}
	}
	client, err := mail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %s", outputs.Scrub(err.Error(), secrets...))
	}
	to, _ := c.recipients()
	return &SMTP{client: client, from: c.From, to: to, html: c.OutputFormat == FormatHTML, secrets: secrets}, nil
}

// resolveTLS turns auto into what the port implies: 465 is the submissions
// port (implicit TLS, RFC 8314); any other port gets mandatory STARTTLS.
func resolveTLS(mode string, port int) string {
	if mode != TLSAuto {
		return mode
	}
	if port == 465 {
		return TLSImplicit
	}
	return TLSStartTLS
}

// Send mails one alert.
func (s *SMTP) Send(ctx context.Context, a *alert.Alert) error {
	m, err := s.message(a)
	if err != nil {
		return outputs.Permanent(err.Error())
	}
	if err := s.client.DialAndSendWithContext(ctx, m); err != nil {
		return s.classify(err)
	}
	return nil
}

// message builds the mail: Subject "[<Priority>] <output>", the alert's
// time as Date, and a Message-ID derived from the alert, so that a retried
// delivery is recognisably the same message.
func (s *SMTP) message(a *alert.Alert) (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(s.from); err != nil {
		return nil, fmt.Errorf("smtp.from: %v", err)
	}
	if err := m.To(s.to...); err != nil {
		return nil, fmt.Errorf("smtp.to: %v", err)
	}
	m.Subject(Subject(a))
	m.SetDateWithValue(a.Time)
	m.SetMessageIDWithValue(MessageID(a))
	m.SetGenHeader("X-Nightjar-Rule", a.Rule)
	m.SetGenHeader("X-Nightjar-Priority", a.Priority.String())
	text, err := renderText(a)
	if err != nil {
		return nil, err
	}
	m.SetBodyString(mail.TypeTextPlain, text)
	if s.html {
		html, err := renderHTML(a)
		if err != nil {
			return nil, err
		}
		m.AddAlternativeString(mail.TypeTextHTML, html)
	}
	return m, nil
}

// Subject is "[<Priority>] <output>" on one line.
func Subject(a *alert.Alert) string {
	out := a.Output
	if out == "" {
		out = a.Rule
	}
	return "[" + a.Priority.String() + "] " + strings.Join(strings.Fields(out), " ")
}

// MessageID is the alert's UUID, or a hash of the alert when it has none,
// at the sidekick's domain.
func MessageID(a *alert.Alert) string {
	id := a.UUID
	if id == "" {
		b, _ := a.Encode()
		sum := sha256.Sum256(b)
		id = hex.EncodeToString(sum[:16])
	}
	return id + "@nightjar-sidekick"
}

// classify turns go-mail's errors into delivery errors. SMTP says itself
// what is worth retrying: 4xx replies are transient, 5xx permanent.
func (s *SMTP) classify(err error) error {
	reason := outputs.Scrub(err.Error(), s.secrets...)
	var se *mail.SendError
	if errors.As(err, &se) {
		switch {
		case se.ErrorCode() >= 500:
			return outputs.Permanent(reason)
		case se.ErrorCode() == 0 && (se.Reason == mail.ErrGetSender || se.Reason == mail.ErrGetRcpts || se.Reason == mail.ErrNoUnencoded):
			// The message itself is wrong; sending it again cannot help.
			return outputs.Permanent(reason)
		}
		// 4xx replies, and connections lost mid-session.
		return outputs.Retryable(reason, 0)
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code >= 500 {
			return outputs.Permanent(reason)
		}
		return outputs.Retryable(reason, 0)
	}
	return outputs.TransportError(err, s.secrets...)
}
