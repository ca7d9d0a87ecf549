package datadog

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
	"github.com/nightjar-sec/nightjar/outputs/outputstest"
)

const apiKey = "dd0123456789abcdefsecretkey"

func testAlert() *alert.Alert {
	return &alert.Alert{
		Output: "Warning Sensitive file opened (file=/etc/shadow)", Priority: alert.PriorityWarning,
		Rule: "Read sensitive file untrusted", Time: time.Date(2026, 11, 29, 16, 31, 56, 0, time.UTC),
		Source: "syscall", Hostname: "node-1", Tags: []string{"mitre_credential_access", "filesystem"},
		OutputFields: alert.Fields{"fd.name": "/etc/shadow", "user.name": "root", "evt.time": json.Number("1764433916746609046")},
	}
}

func build(t *testing.T, c *Config) outputs.Output {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err := c.New()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

type request struct {
	method, uri, ctype, key string
	body                    []byte
}

func server(t *testing.T, status int, retryAfter, body string) (*httptest.Server, chan request) {
	ch := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- request{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Header.Get("DD-API-KEY"), b}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestCreatesEvent(t *testing.T) {
	srv, ch := server(t, 202, "", `{"status":"ok","event":{"id":1,"title":"Read sensitive file untrusted"}}`)
	c := NewConfig()
	c.APIKey, c.Host = apiKey, srv.URL
	if err := build(t, c).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	r := outputstest.Recv(t, ch)
	if r.method != "POST" || r.uri != "/api/v1/events" || r.ctype != "application/json" || r.key != apiKey {
		t.Fatalf("request %s %s %s key %q", r.method, r.uri, r.ctype, r.key)
	}
	want := `{"alert_type":"warning","host":"node-1","source_type_name":"falco",` +
		`"tags":["fd.name:/etc/shadow","user.name:root","source:syscall","hostname:node-1","filesystem","mitre_credential_access"],` +
		`"text":"Warning Sensitive file opened (file=/etc/shadow)","title":"Read sensitive file untrusted"}`
	if strings.TrimSpace(string(r.body)) != want {
		t.Fatalf("body\n got %s\nwant %s", r.body, want)
	}
}

func TestAlertTypes(t *testing.T) {
	for p, want := range map[alert.Priority]string{alert.PriorityEmergency: "error", alert.PriorityAlert: "error",
		alert.PriorityCritical: "error", alert.PriorityError: "error", alert.PriorityWarning: "warning",
		alert.PriorityNotice: "info", alert.PriorityInformational: "info", alert.PriorityDebug: "info"} {
		a := testAlert()
		a.Priority = p
		if got := string(*Event(a).AlertType); got != want {
			t.Errorf("%s -> %s, want %s", p, got, want)
		}
	}
}

func TestFailuresAreClassifiedAndScrubbed(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		body       string
		retryable  bool
		after      time.Duration
		want       string
	}{
		{429, "9", `{"errors":["Rate limit exceeded"]}`, true, 9 * time.Second, "Rate limit exceeded"},
		{500, "", `{"errors":["Internal Server Error"]}`, true, 0, "Internal Server Error"},
		{503, "", `<html>upstream unavailable</html>`, true, 0, "upstream unavailable"},
		{400, "", `{"errors":["Event title is required"]}`, false, 0, "Event title is required"},
		{403, "", `{"errors":["Forbidden: API key ` + apiKey + ` is invalid"]}`, false, 0, "Forbidden"},
		{401, "", `{"errors":["Unauthorized"]}`, false, 0, "Unauthorized"},
	} {
		srv, ch := server(t, tc.status, tc.retryAfter, tc.body)
		c := NewConfig()
		c.APIKey, c.Host = apiKey, srv.URL
		err := build(t, c).Send(context.Background(), testAlert())
		outputstest.Recv(t, ch)
		d := outputs.Classify(err)
		if d == nil || d.Retryable != tc.retryable || d.RetryAfter != tc.after || d.StatusCode != tc.status || !strings.Contains(d.Reason, tc.want) {
			t.Errorf("%d classified as %#v", tc.status, d)
			continue
		}
		if strings.Contains(err.Error(), apiKey) {
			t.Errorf("API key in %q", err)
		}
	}
}

func TestTimeoutAndRefused(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	c := NewConfig()
	c.APIKey, c.Host = apiKey, srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := build(t, c).Send(ctx, testAlert())
	if d := outputs.Classify(err); !d.Retryable || !strings.Contains(d.Reason, "timeout") || strings.Contains(err.Error(), apiKey) {
		t.Fatalf("timeout: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c.Host = "http://" + addr
	err = build(t, c).Send(context.Background(), testAlert())
	if d := outputs.Classify(err); !d.Retryable || strings.Contains(err.Error(), apiKey) {
		t.Fatalf("refused: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.APIKey = "" }, "datadog.apikey"},
		{func(c *Config) { c.Host = "api.datadoghq.eu" }, "datadog.host"},
		{func(c *Config) { c.Host = "https://api.datadoghq.eu/api/v1" }, "datadog.host"},
		{func(c *Config) { c.MaxAge = 0 }, "datadog.maxage"},
	} {
		c := NewConfig()
		c.APIKey = apiKey
		tc.mod(c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), apiKey) {
			t.Errorf("Validate() = %v, want error naming %s", err, tc.want)
		}
	}
	c := NewConfig()
	c.APIKey, c.Host = apiKey, "https://api.us5.datadoghq.com"
	if err := c.Validate(); err != nil {
		t.Fatalf("any site must be accepted: %v", err)
	}
}

// datadog.checkcert (DATADOG_CHECKCERT): false delivers to a server on a
// self-signed certificate (a proxy on a private CA); true, the default,
// refuses it.
func TestCheckCert(t *testing.T) {
	srv, ch := outputstest.TLSServer(t, 202, `{"status":"ok"}`)
	c := NewConfig()
	c.APIKey, c.Host = apiKey, srv.URL
	outputstest.CheckCert(t, &c.CheckCert, func() error { return build(t, c).Send(context.Background(), testAlert()) }, ch, "/api/v1/events")
}

// Datadog's API answers a rate-limited request with 429 and
// X-RateLimit-Reset (seconds until the limit resets), not Retry-After: the
// wait is taken from it, bounded; Retry-After wins when present, and the
// header means nothing on other statuses.
func TestRateLimitReset(t *testing.T) {
	for _, tc := range []struct {
		status            int
		retryAfter, reset string
		after             time.Duration
	}{
		{429, "", "17", 17 * time.Second},
		{429, "", "86400", MaxRateLimitReset},
		{429, "3", "17", 3 * time.Second},
		{429, "", "soon", 0},
		{429, "", "-5", 0},
		{500, "", "17", 0},
	} {
		ch := make(chan struct{}, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ch <- struct{}{}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-RateLimit-Limit", "1000")
			w.Header().Set("X-RateLimit-Period", "3600")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", tc.reset)
			w.Header().Set("X-RateLimit-Name", "events")
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			w.WriteHeader(tc.status)
			io.WriteString(w, `{"errors":["Rate limit exceeded"]}`)
		}))
		c := NewConfig()
		c.APIKey, c.Host = apiKey, srv.URL
		err := build(t, c).Send(context.Background(), testAlert())
		outputstest.Recv(t, ch)
		srv.Close()
		if d := outputs.Classify(err); d == nil || !d.Retryable || d.StatusCode != tc.status || d.RetryAfter != tc.after {
			t.Errorf("%d Retry-After %q X-RateLimit-Reset %q: classified as %#v, want retry after %s", tc.status, tc.retryAfter, tc.reset, d, tc.after)
		}
	}
}

// A datadog.host pasted with the API key in its query or user information
// (DATADOG_HOST=https://api.datadoghq.com/api/v1/events?api_key=...) is
// refused without printing the key: at most scheme://host is shown.
func TestHostErrorsHideSecrets(t *testing.T) {
	for _, tc := range []struct{ host, shown string }{
		{"https://api.datadoghq.com/api/v1/events?api_key=" + apiKey, "https://api.datadoghq.com/<secret>"},
		{"https://api.datadoghq.com?api_key=" + apiKey, "https://api.datadoghq.com/<secret>"},
		{"https://api.datadoghq.com/" + apiKey, "https://api.datadoghq.com/<secret>"},
		{"https://dd:" + apiKey + "@api.datadoghq.com", "https://api.datadoghq.com/<secret>"},
		{"https://api.datadoghq.com#" + apiKey, "https://api.datadoghq.com/<secret>"},
		{"api.datadoghq.com/api/v1/events?api_key=" + apiKey, ""},
		{"https:///?api_key=" + apiKey, ""},
		{"ftp://" + apiKey + "@api.datadoghq.com", ""},
	} {
		c := NewConfig()
		c.APIKey, c.Host = "another-key-1234", tc.host
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "datadog.host: "+tc.shown) || strings.Contains(err.Error(), apiKey) {
			t.Errorf("host %q: Validate() = %v", tc.host, err)
		}
		if _, err := c.New(); err == nil || strings.Contains(err.Error(), apiKey) {
			t.Errorf("host %q: New() = %v", tc.host, err)
		}
	}
}
