package outputs

import (
	"fmt"
	"math"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

// Common holds the settings every output has. Output configurations embed it
// with `yaml:",inline"`, so its keys sit next to the output's own
// (slack.minimumpriority, SLACK_MINIMUMPRIORITY).
type Common struct {
	// MinimumPriority is the least severe priority delivered; the zero value
	// (debug) delivers everything, as falcosidekick does when it is unset.
	MinimumPriority alert.Priority `yaml:"minimumpriority"`
	// MaxConcurrentRequests bounds the requests in flight to the destination.
	MaxConcurrentRequests int `yaml:"maxconcurrentrequests"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAge is how long a delivery is retried before it goes to the
	// dead-letter stream.
	MaxAge time.Duration `yaml:"maxage"`
	// Dedup, when positive, drops an alert for this output when the same
	// alert (rule, hostname, priority, source and output_fields, time
	// fields aside) was accepted for it less than Dedup ago. 0 delivers
	// every alert, as falcosidekick does.
	Dedup time.Duration `yaml:"dedup"`
	// RateLimit, when positive, paces deliveries to at most this many per
	// second (one at a time, over all workers): for destinations with a
	// rate limit of their own (Slack: about one message per second per
	// webhook). Deliveries wait in the queue; none is dropped. 0: no limit.
	RateLimit float64 `yaml:"ratelimit"`
}

// Defaults for Common; DefaultCommon returns them.
const (
	DefaultMaxConcurrentRequests = 4
	DefaultTimeout               = 10 * time.Second
	DefaultMaxAge                = 24 * time.Hour
)

// DefaultCommon returns the shared settings' defaults. Each NewConfig starts
// from it.
func DefaultCommon() Common {
	return Common{
		MinimumPriority:       alert.PriorityDebug,
		MaxConcurrentRequests: DefaultMaxConcurrentRequests,
		Timeout:               DefaultTimeout,
		MaxAge:                DefaultMaxAge,
	}
}

// Validate checks the shared settings; prefix is the output's key ("slack").
func (c *Common) Validate(prefix string) error {
	if !c.MinimumPriority.Valid() {
		return fmt.Errorf("%s.minimumpriority: invalid priority", prefix)
	}
	if c.MaxConcurrentRequests < 1 || c.MaxConcurrentRequests > 1024 {
		return fmt.Errorf("%s.maxconcurrentrequests: %d is out of range (1 to 1024)", prefix, c.MaxConcurrentRequests)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("%s.timeout: must be positive, got %s", prefix, c.Timeout)
	}
	if c.MaxAge <= 0 {
		return fmt.Errorf("%s.maxage: must be positive, got %s", prefix, c.MaxAge)
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		return fmt.Errorf("%s.ratelimit: must be 0 (off) or a positive number of deliveries per second, got %v", prefix, c.RateLimit)
	}
	if c.Dedup < 0 {
		return fmt.Errorf("%s.dedup: must be 0 (off) or positive, got %s", prefix, c.Dedup)
	}
	return nil
}
