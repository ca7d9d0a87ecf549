package opsgenie

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

const apiKey = "0a1b2c3d-genie-secret-key"

func testAlert() *alert.Alert {
	return &alert.Alert{
		Output: "Error File below /etc opened for writing (file=/etc/passwd)", Priority: alert.PriorityError,
		Rule: "Write below etc", Time: time.Date(2026, 11, 29, 16, 31, 56, 0, time.UTC),
		Source: "syscall", Hostname: "node-3", Tags: []string{"filesystem"},
		OutputFields: alert.Fields{"fd.name": "/etc/passwd", "proc.name": "vi", "proc.pid": json.Number("7"), "container.id": "host"},
	}
}

func build(t *testing.T, c *Config) *Opsgenie {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err := c.New()
	if err != nil {
		t.Fatal(err)
	}
	return o.(*Opsgenie)
}

type request struct {
	method, path, ctype, auth string
	body                      []byte
}

func server(t *testing.T, status int, retryAfter, body string) (*httptest.Server, chan request) {
	ch := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), b}
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

func TestCreatesAlert(t *testing.T) {
	srv, ch := server(t, 202, "", `{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c"}`)
	c := NewConfig()
	c.APIKey, c.URL = apiKey, srv.URL
	o := build(t, c)
	if err := o.Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	r := outputstest.Recv(t, ch)
	alias := o.Alias(testAlert())
	want := `{"message":"Error File below /etc opened for writing (file=/etc/passwd)","alias":"` + alias + `","description":"Write below etc","tags":["filesystem"],` +
		`"details":{"container_id":"host","fd_name":"/etc/passwd","hostname":"node-3","priority":"Error","proc_name":"vi","rule":"Write below etc","source":"syscall","tags":"filesystem"},` +
		`"entity":"node-3","source":"nightjar","priority":"P3"}`
	if r.method != "POST" || r.path != "/v2/alerts" || r.ctype != "application/json" || r.auth != "GenieKey "+apiKey {
		t.Fatalf("request %s %s %s %s", r.method, r.path, r.ctype, r.auth)
	}
	if string(r.body) != want {
		t.Fatalf("body\n got %s\nwant %s", r.body, want)
	}
}

func TestAliasAndPriorities(t *testing.T) {
	o := build(t, func() *Config { c := NewConfig(); c.APIKey = apiKey; return c }())
	a, b := testAlert(), testAlert()
	b.Time = b.Time.Add(time.Hour)
	b.OutputFields["proc.pid"] = json.Number("8") // not an alias field
	if o.Alias(a) != o.Alias(b) || !strings.HasPrefix(o.Alias(a), "nightjar-") {
		t.Fatal("repeats of one alert must share an alias")
	}
	b.OutputFields["fd.name"] = "/etc/group"
	if o.Alias(a) == o.Alias(b) {
		t.Fatal("alerts on different files must not share an alias")
	}
	b = testAlert()
	b.Hostname = "node-4"
	if o.Alias(a) == o.Alias(b) {
		t.Fatal("alerts on different hosts must not share an alias")
	}
	for p, want := range map[alert.Priority]string{alert.PriorityEmergency: "P1", alert.PriorityAlert: "P1", alert.PriorityCritical: "P2",
		alert.PriorityError: "P3", alert.PriorityWarning: "P4", alert.PriorityNotice: "P5", alert.PriorityInformational: "P5", alert.PriorityDebug: "P5"} {
		if Priority(p) != want {
			t.Errorf("%s -> %s, want %s", p, Priority(p), want)
		}
	}
	long := testAlert()
	long.Output = strings.Repeat("x", 300)
	if n := len([]rune(o.NewPayload(long).Message)); n != 130 {
		t.Fatalf("message of %d runes, Opsgenie takes 130", n)
	}
}

func TestRegions(t *testing.T) {
	for region, want := range map[string]string{"us": "https://api.opsgenie.com/v2/alerts", "EU": "https://api.eu.opsgenie.com/v2/alerts"} {
		c := NewConfig()
		c.APIKey, c.Region = apiKey, region
		if got := build(t, c).endpoint; got != want {
			t.Errorf("region %s: %s, want %s", region, got, want)
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
		{429, "5", `{"message":"You are making too many requests!","took":0.001}`, true, 5 * time.Second, "too many requests"},
		{500, "", `{"message":"Internal Server Error"}`, true, 0, "Internal Server Error"},
		{401, "", `{"message":"Key format is not valid! GenieKey ` + apiKey + `","took":0.0}`, false, 0, "Key format is not valid"},
		{403, "", `{"message":"Your account does not have permission"}`, false, 0, "permission"},
		{422, "", `{"message":"Request body is not processable"}`, false, 0, "not processable"},
		{400, "", `{"message":"Request body is not valid","errors":{"message":"Message can not be empty."},"took":0.0,"requestId":"r1"}`, false, 0, "Request body is not valid"},
		{404, "", `{"message":"Could not find integration with key [` + apiKey + `]","took":0.0,"requestId":"r2"}`, false, 0, "Could not find integration"},
	} {
		srv, ch := server(t, tc.status, tc.retryAfter, tc.body)
		c := NewConfig()
		c.APIKey, c.URL = apiKey, srv.URL
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
	c.APIKey, c.URL = apiKey, srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := build(t, c).Send(ctx, testAlert())
	if d := outputs.Classify(err); !d.Retryable || !strings.Contains(d.Reason, "timeout") || strings.Contains(err.Error(), apiKey) {
		t.Fatalf("timeout: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c.URL = "http://" + addr
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
		{func(c *Config) { c.APIKey = "" }, "opsgenie.apikey"},
		{func(c *Config) { c.Region = "ap" }, "opsgenie.region"},
		{func(c *Config) { c.URL = "opsgenie.local" }, "opsgenie.url"},
		{func(c *Config) { c.Timeout = -1 }, "opsgenie.timeout"},
	} {
		c := NewConfig()
		c.APIKey = apiKey
		tc.mod(c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), apiKey) {
			t.Errorf("Validate() = %v, want error naming %s", err, tc.want)
		}
	}
}

// opsgenie.checkcert (OPSGENIE_CHECKCERT): false delivers to a server on a
// self-signed certificate (a self-hosted proxy); true, the default,
// refuses it.
func TestCheckCert(t *testing.T) {
	srv, ch := outputstest.TLSServer(t, 202, `{"result":"Request will be processed","took":0.1,"requestId":"r1"}`)
	c := NewConfig()
	c.APIKey, c.URL = apiKey, srv.URL
	outputstest.CheckCert(t, &c.CheckCert, func() error { return build(t, c).Send(context.Background(), testAlert()) }, ch, "/v2/alerts")
}
