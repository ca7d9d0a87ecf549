package rocketchat

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

func testAlert() *alert.Alert {
	return &alert.Alert{
		Output: "Critical Shell in container", Priority: alert.PriorityCritical,
		Rule: "Terminal shell in container", Time: time.Date(2026, 11, 29, 16, 31, 56, 0, time.UTC),
		Source: "syscall", Hostname: "node-2",
		OutputFields: alert.Fields{"container.id": "abc123", "proc.pid": json.Number("42")},
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
	method, path, ctype string
	body                []byte
}

func server(t *testing.T, status int, retryAfter, body string) (*httptest.Server, chan request) {
	ch := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), b}
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

const hookPath = "/hooks/6543210fedcba/rcTokenSecret987"

func TestSendsSlackShapedMessage(t *testing.T) {
	srv, ch := server(t, 200, "", `{"success":true}`)
	c := NewConfig()
	c.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
	c.Icon = "https://example.com/nj.png"
	if err := build(t, c).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	r := outputstest.Recv(t, ch)
	want := `{"username":"Nightjar","icon_url":"https://example.com/nj.png","attachments":[{"color":"#ff5400","fallback":"Critical Shell in container","text":"Critical Shell in container","fields":[` +
		`{"title":"rule","value":"Terminal shell in container","short":true},` +
		`{"title":"priority","value":"Critical","short":true},` +
		`{"title":"source","value":"syscall","short":true},` +
		`{"title":"hostname","value":"node-2","short":true},` +
		`{"title":"container.id","value":"abc123","short":true},` +
		`{"title":"time","value":"2026-11-29 16:31:56 +0000 UTC","short":false}],"blocks":null}],"replace_original":false,"delete_original":false}`
	if r.method != "POST" || r.path != hookPath || r.ctype != "application/json" || string(r.body) != want {
		t.Fatalf("%s %s %s\n got %s\nwant %s", r.method, r.path, r.ctype, r.body, want)
	}
}

func TestTemplateText(t *testing.T) {
	srv, ch := server(t, 200, "", `{"success":true}`)
	c := NewConfig()
	c.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
	c.OutputFormat, c.MessageFormat = "text", "{{.Priority}}: {{.Rule}}"
	if err := build(t, c).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(outputstest.Recv(t, ch).body, &m)
	a := m["attachments"].([]any)[0].(map[string]any)
	if m["text"] != "Critical: Terminal shell in container" || a["fields"] != nil || a["text"] != "Critical Shell in container" {
		t.Fatalf("message %v", m)
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
		{429, "12", `{"success":false,"error":"Too many requests"}`, true, 12 * time.Second, "Too many requests"},
		{500, "", `{"success":false}`, true, 0, "HTTP 500"},
		{401, "", `{"success":false,"error":"Invalid integration id or token provided. rcTokenSecret987"}`, false, 0, "Invalid integration"},
		{404, "", `{"success":false,"error":"not found"}`, false, 0, "not found"},
		{403, "", `{"success":false,"error":"Integration is disabled for token rcTokenSecret987 [error-integration-disabled]"}`, false, 0, "Integration is disabled"},
		{200, "", `{"success":false,"error":"error-invalid-channel"}`, false, 0, "error-invalid-channel"},
	} {
		srv, ch := server(t, tc.status, tc.retryAfter, tc.body)
		c := NewConfig()
		c.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
		err := build(t, c).Send(context.Background(), testAlert())
		outputstest.Recv(t, ch)
		d := outputs.Classify(err)
		if d == nil || d.Retryable != tc.retryable || d.RetryAfter != tc.after || !strings.Contains(d.Reason, tc.want) ||
			(tc.status != 200 && d.StatusCode != tc.status) {
			t.Errorf("%d %s classified as %#v", tc.status, tc.body, d)
			continue
		}
		if strings.Contains(err.Error(), "rcTokenSecret987") {
			t.Errorf("token in %q", err)
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
	c.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
	c.Timeout = 100 * time.Millisecond // the client's own backstop
	err := build(t, c).Send(context.Background(), testAlert())
	d := outputs.Classify(err)
	if !d.Retryable || !strings.Contains(d.Reason, "timeout") || strings.Contains(err.Error(), "rcTokenSecret987") {
		t.Fatalf("timeout: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c.WebhookURL = outputs.SecretURL("http://" + addr + hookPath)
	err = build(t, c).Send(context.Background(), testAlert())
	if d := outputs.Classify(err); !d.Retryable || strings.Contains(err.Error(), "rcTokenSecret987") || strings.Contains(err.Error(), "6543210fedcba") {
		t.Fatalf("refused: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.WebhookURL = "chat.example.com/hooks/secret-part" }, "rocketchat.webhookurl"},
		{func(c *Config) { c.OutputFormat = "html" }, "rocketchat.outputformat"},
		{func(c *Config) { c.MessageFormat = "{{.Rule" }, "rocketchat.messageformat"},
		{func(c *Config) { c.MaxConcurrentRequests = 0 }, "rocketchat.maxconcurrentrequests"},
	} {
		c := NewConfig()
		c.WebhookURL = "https://chat.example.com/hooks/secret-part"
		tc.mod(c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "secret-part") {
			t.Errorf("Validate() = %v, want error naming %s", err, tc.want)
		}
	}
	if NewConfig().Enabled() {
		t.Fatal("enabled without a webhook URL")
	}
}

// rocketchat.checkcert (ROCKETCHAT_CHECKCERT): false delivers to a server
// on a self-signed certificate; true, the default, refuses it.
func TestCheckCert(t *testing.T) {
	srv, ch := outputstest.TLSServer(t, 200, `{"success":true}`)
	c := NewConfig()
	c.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
	outputstest.CheckCert(t, &c.CheckCert, func() error { return build(t, c).Send(context.Background(), testAlert()) }, ch, hookPath)
}
