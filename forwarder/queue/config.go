package queue

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config is the queue section of the sidekick configuration (queue.*).
type Config struct {
	// Dir holds the embedded server's JetStream files. Unused with URL.
	Dir string `yaml:"dir"`
	// URL selects an external NATS server or cluster ("nats://a:4222,nats://b:4222");
	// empty runs NATS embedded in the process.
	URL string `yaml:"url"`
	// CredentialsFile is a NATS .creds file (JWT and nkey) for URL.
	CredentialsFile string `yaml:"credentialsfile"`
	// MaxBytes bounds the backlog of deliveries on disk, all outputs
	// together. When it is reached, Enqueue fails with ErrFull (the API
	// answers 503) rather than dropping older alerts.
	MaxBytes int64 `yaml:"maxbytes"`
	// DeadLetterMaxBytes bounds the dead-letter stream; past it the oldest
	// dead letters are dropped (they were counted and logged already).
	DeadLetterMaxBytes int64 `yaml:"deadlettermaxbytes"`
	// Name prefixes the streams ("<name>_deliver", "<name>_dead") and
	// subjects ("<name>.deliver.<output>"), so that several sidekick
	// deployments can share one NATS cluster.
	Name string `yaml:"name"`
	// Replicas is the streams' replica count on an external cluster.
	Replicas int `yaml:"replicas"`
	// Port, when set, makes the embedded server listen on 127.0.0.1:Port
	// (for the nats CLI); by default it has no network listener at all.
	Port int `yaml:"port"`
	// DedupWindow is how long JetStream remembers an alert's (uuid, output)
	// to drop a repeated publish of it (a sender retrying after a lost
	// answer). Memory grows with ingest rate x window (about 100 bytes per
	// delivery), so keep it short.
	DedupWindow time.Duration `yaml:"dedupwindow"`
	// RetryMin and RetryMax bound the wait between delivery attempts: the
	// n-th retry waits a random time up to min(RetryMax, RetryMin*2^(n-1)),
	// or longer when the destination asks (Retry-After).
	RetryMin time.Duration `yaml:"retrymin"`
	RetryMax time.Duration `yaml:"retrymax"`
	// Sync makes the embedded server fsync every write. Without it, an
	// accepted alert survives a crash of the process (kill -9) but not a
	// power loss of the machine within the OS's write-back delay.
	Sync bool `yaml:"sync"`
}

// Defaults.
const (
	DefaultDir                = "./data/queue"
	DefaultMaxBytes           = 1 << 30 // 1 GiB: about a million typical alerts
	DefaultDeadLetterMaxBytes = 256 << 20
	DefaultName               = "nightjar"
	DefaultDedupWindow        = 20 * time.Second
	DefaultRetryMin           = time.Second
	DefaultRetryMax           = 5 * time.Minute
)

// DefaultConfig returns the queue's defaults: embedded NATS under ./data/queue.
func DefaultConfig() Config {
	return Config{
		Dir:                DefaultDir,
		MaxBytes:           DefaultMaxBytes,
		DeadLetterMaxBytes: DefaultDeadLetterMaxBytes,
		Name:               DefaultName,
		Replicas:           1,
		DedupWindow:        DefaultDedupWindow,
		RetryMin:           DefaultRetryMin,
		RetryMax:           DefaultRetryMax,
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate checks the settings; errors name the key (queue.maxbytes).
func (c *Config) Validate() error {
	if c.URL == "" && strings.TrimSpace(c.Dir) == "" {
		return fmt.Errorf("queue.dir: must be set when queue.url is empty (embedded NATS stores its files there)")
	}
	if c.URL != "" {
		for _, s := range strings.Split(c.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil || u.Host == "" {
				return fmt.Errorf("queue.url: %q is not a NATS URL (want nats://host:4222, tls://host:4222, or a comma-separated list)", redactURL(s))
			}
			switch u.Scheme {
			case "nats", "tls", "ws", "wss":
			default:
				return fmt.Errorf("queue.url: scheme %q is not supported (want nats, tls, ws or wss)", u.Scheme)
			}
		}
	}
	// The embedded server's settings mean nothing with an external one:
	// refused rather than ignored, so nobody believes writes are synced or
	// the nats CLI can reach a port nobody listens on.
	if c.URL != "" && c.Port != 0 {
		return fmt.Errorf("queue.port: only for the embedded server; with queue.url the external server listens where it is configured (remove queue.port)")
	}
	if c.URL != "" && c.Sync {
		return fmt.Errorf("queue.sync: only for the embedded server; with queue.url, sync is the external server's setting (jetstream.sync_interval in its configuration; remove queue.sync)")
	}
	if c.CredentialsFile != "" {
		if c.URL == "" {
			return fmt.Errorf("queue.credentialsfile: only used with queue.url (external NATS)")
		}
		if _, err := os.Stat(c.CredentialsFile); err != nil {
			return fmt.Errorf("queue.credentialsfile: %v", err)
		}
	}
	if c.MaxBytes < 1<<20 {
		return fmt.Errorf("queue.maxbytes: %d is too small (at least 1048576)", c.MaxBytes)
	}
	if c.DeadLetterMaxBytes < 1<<20 {
		return fmt.Errorf("queue.deadlettermaxbytes: %d is too small (at least 1048576)", c.DeadLetterMaxBytes)
	}
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("queue.name: %q must be letters, digits, '_' or '-'", c.Name)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("queue.replicas: %d is out of range (1 to 5)", c.Replicas)
	}
	if c.Replicas > 1 && c.URL == "" {
		return fmt.Errorf("queue.replicas: %d needs an external cluster (queue.url); the embedded server has one replica", c.Replicas)
	}
	if c.DedupWindow < time.Second || c.DedupWindow > time.Hour {
		return fmt.Errorf("queue.dedupwindow: %s is out of range (1s to 1h)", c.DedupWindow)
	}
	if c.RetryMin < time.Millisecond {
		return fmt.Errorf("queue.retrymin: %s is too short (at least 1ms)", c.RetryMin)
	}
	if c.RetryMax < c.RetryMin {
		return fmt.Errorf("queue.retrymax: %s is shorter than queue.retrymin (%s)", c.RetryMax, c.RetryMin)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("queue.port: %d is out of range (0 to 65535)", c.Port)
	}
	return nil
}

// redactURL drops the user information (user:password@, token@) from a URL
// for logs and errors. A malformed URL may still hold credentials (the
// operator's typo is in the scheme, not the password), so whatever comes
// before the last '@' of an entry is dropped too, keeping only a scheme
// that parsed.
func redactURL(s string) string {
	var parts []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			u.User = url.User("<secret>")
			p = strings.Replace(u.String(), "%3Csecret%3E", "<secret>", 1)
		} else if i := strings.LastIndex(p, "@"); i >= 0 {
			prefix := ""
			if j := strings.Index(p, "://"); j >= 0 && j < i {
				prefix = p[:j+3]
			}
			p = prefix + "<secret>" + p[i:]
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}
