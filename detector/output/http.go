package output

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
)

// HTTPOptions is http_output.
type HTTPOptions struct {
	URL       string
	UserAgent string
	Insecure  bool
	// CACert and CABundle are PEM files of CAs to trust instead of the
	// system's (both may be given).
	CACert, CABundle      string
	MTLS                  bool
	ClientCert, ClientKey string
	// Timeout bounds one POST; 0 means 10 s.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential wait between retries;
	// 0 means 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
}

// httpSender POSTs JSON alerts from a bounded queue. One worker sends in
// order; while the receiver is down or answers 429/5xx, the worker retries
// the same alert with exponential backoff (or the Retry-After it was
// given), and new alerts wait in the queue; when the queue is full they are
// dropped and counted.
type httpSender struct {
	opts    HTTPOptions
	url     string
	shown   string // url with its password replaced, for logs and errors
	secrets []string
	client  *http.Client
	queue   chan *alert.Alert
	format  Format
	m       *Metrics
	log     *slog.Logger

	drops    drops
	shutdown uint64        // lost at shutdown; written by run, read after done
	stop     chan struct{} // closed to stop retrying (shutdown deadline)
	done     chan struct{}
	once     sync.Once
}

func newHTTP(o HTTPOptions, f Format, capacity int, m *Metrics, log *slog.Logger) (*httpSender, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("http_output.url: must be an absolute http or https URL")
	}
	var secrets []string
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p)
	}
	tlsConf := &tls.Config{InsecureSkipVerify: o.Insecure} //nolint:gosec // the user asked for it: http_output.insecure
	if o.CACert != "" || o.CABundle != "" {
		pool := x509.NewCertPool()
		for key, f := range map[string]string{"http_output.ca_cert": o.CACert, "http_output.ca_bundle": o.CABundle} {
			if f == "" {
				continue
			}
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, f)
			}
		}
		tlsConf.RootCAs = pool
	}
	if o.MTLS {
		cert, err := tls.LoadX509KeyPair(o.ClientCert, o.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("http_output.client_cert/client_key: %w", err)
		}
		tlsConf.Certificates = []tls.Certificate{cert}
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "nightjar"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	h := &httpSender{
		opts: o, url: o.URL, shown: u.Redacted(), secrets: secrets, m: m, log: log,
		client: &http.Client{Transport: tr, Timeout: o.Timeout},
		queue:  make(chan *alert.Alert, capacity), format: f,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go h.run()
	return h, nil
}

// enqueue never blocks: a full queue drops the alert.
func (h *httpSender) enqueue(a *alert.Alert) bool {
	select {
	case h.queue <- a:
		h.m.QueueDepth.WithLabelValues("http").Set(float64(len(h.queue)))
		return true
	default:
		h.drops.add(h.m, "http", "queue_full", 1)
		return false
	}
}

func (h *httpSender) run() {
	defer close(h.done)
	for a := range h.queue {
		h.m.QueueDepth.WithLabelValues("http").Set(float64(len(h.queue)))
		body, err := h.format.JSONBytes(a)
		if err != nil {
			h.log.Error("http_output: cannot encode alert, dropped", "rule", a.Rule, "error", err)
			h.drops.add(h.m, "http", "rejected", 1)
			continue
		}
		if !h.deliver(body) {
			// Stopped while retrying: what is left is lost.
			n := uint64(1)
			for range h.queue {
				n++
			}
			h.shutdown = n
			h.drops.add(h.m, "http", "shutdown", n)
			return
		}
	}
}

// deliver sends one alert until it is accepted or permanently refused; it
// returns false only when told to stop.
func (h *httpSender) deliver(body []byte) bool {
	wait := h.opts.MinBackoff
	for attempt := 0; ; attempt++ {
		err := h.post(body)
		if err == nil {
			h.m.OutputWrites.WithLabelValues("http").Inc()
			if attempt > 0 {
				h.log.Info("http_output: delivering again", "url", h.safeURL(), "after_attempts", attempt+1)
			}
			return true
		}
		h.m.OutputErrors.WithLabelValues("http").Inc()
		d := outputs.Classify(err)
		if !d.Retryable {
			h.log.Error("http_output: alert rejected, dropped", "url", h.safeURL(), "error", d.Reason)
			h.drops.add(h.m, "http", "rejected", 1)
			return true
		}
		if attempt == 0 {
			h.log.Warn("http_output: delivery failed, retrying", "url", h.safeURL(), "error", d.Reason)
		}
		delay := wait
		if d.RetryAfter > 0 {
			delay = min(d.RetryAfter, time.Minute)
		}
		wait = min(wait*2, h.opts.MaxBackoff)
		h.m.HTTPRetries.Inc()
		select {
		case <-time.After(delay):
		case <-h.stop:
			return false
		}
	}
}

func (h *httpSender) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.Timeout)
	defer cancel()
	go func() {
		// Shutdown interrupts a POST in flight.
		select {
		case <-h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return outputs.Permanent(outputs.Scrub(err.Error(), h.secrets...))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", h.opts.UserAgent)
	resp, err := h.client.Do(req)
	if err != nil {
		return outputs.TransportError(err, h.secrets...)
	}
	defer resp.Body.Close()
	err = outputs.CheckResponse(resp, h.secrets...)
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	return err
}

// safeURL is the URL for logs: its password replaced whatever its length
// (Scrub leaves values under 4 bytes alone).
func (h *httpSender) safeURL() string { return outputs.Scrub(h.shown, h.secrets...) }

// close stops taking alerts and waits until the queue is delivered or ctx
// ends; then it stops retrying and counts what was left as dropped. It
// returns how many alerts were lost that way.
func (h *httpSender) close(ctx context.Context) uint64 {
	h.once.Do(func() { close(h.queue) })
	select {
	case <-h.done:
	case <-ctx.Done():
		close(h.stop)
		<-h.done
	}
	return h.shutdown
}
