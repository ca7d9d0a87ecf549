package outputs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DeliveryError is a failed delivery, classified for the retry machinery.
type DeliveryError struct {
	// Retryable is true when trying again later may succeed: timeouts,
	// refused connections, 429 and 5xx answers.
	Retryable bool
	// RetryAfter is the wait the destination asked for (Retry-After), or 0.
	RetryAfter time.Duration
	// StatusCode is the destination's HTTP status, when there was one.
	StatusCode int
	// Reason is a short, secret-free explanation, including the
	// destination's own error text where it gave one.
	Reason string
}

func (e *DeliveryError) Error() string {
	kind := "permanent"
	if e.Retryable {
		kind = "retryable"
	}
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%s: %s (retry after %s)", kind, e.Reason, e.RetryAfter)
	}
	return kind + ": " + e.Reason
}

// Retryable returns a delivery error that the forwarder retries.
func Retryable(reason string, retryAfter time.Duration) error {
	return &DeliveryError{Retryable: true, RetryAfter: retryAfter, Reason: reason}
}

// Permanent returns a delivery error that is not retried.
func Permanent(reason string) error {
	return &DeliveryError{Reason: reason}
}

// Classify returns err as a *DeliveryError. Unclassified errors count as
// retryable: losing an alert to an error nobody anticipated is worse than a
// retry.
func Classify(err error) *DeliveryError {
	if err == nil {
		return nil
	}
	var d *DeliveryError
	if errors.As(err, &d) {
		return d
	}
	return &DeliveryError{Retryable: true, Reason: err.Error()}
}

// TransportError classifies an error from sending a request (no response):
// timeouts, refused or reset connections and DNS failures are retryable; a
// cancelled context is retryable too (the worker is shutting down and the
// message goes back to the queue). secrets are scrubbed from the text.
func TransportError(err error, secrets ...string) error {
	reason := Scrub(err.Error(), secrets...)
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Retryable("timeout: "+reason, 0)
	default:
		return Retryable(reason, 0)
	}
}

// CheckResponse classifies an HTTP response: 2xx is success (nil); 429 and
// 5xx are retryable, honouring Retry-After; everything else is permanent.
// The destination's own error text (the start of the body) is kept in the
// reason, scrubbed of secrets. It reads, but does not close, the body.
func CheckResponse(resp *http.Response, secrets ...string) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return StatusError(resp.StatusCode, resp.Header.Get("Retry-After"), string(body), secrets...)
}

// StatusError classifies a destination's HTTP status with its error text, for
// clients that hand back status and body rather than an *http.Response.
func StatusError(status int, retryAfter, text string, secrets ...string) error {
	reason := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	if t := strings.TrimSpace(text); t != "" {
		reason += ": " + t
	}
	reason = Scrub(reason, secrets...)
	d := &DeliveryError{StatusCode: status, Reason: reason}
	if status == http.StatusTooManyRequests || status >= 500 || status == http.StatusRequestTimeout {
		d.Retryable = true
		d.RetryAfter = ParseRetryAfter(retryAfter, time.Now())
	}
	return d
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
