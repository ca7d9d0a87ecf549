package slack

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
	"github.com/nightjar-sec/nightjar/outputs/outputstest"
)

func testAlert() *alert.Alert {
	return &alert.Alert{
		Output: "16:31:56.746609046: Warning Sensitive file opened (file=/etc/shadow)", Priority: alert.PriorityWarning,
		Rule: "Read sensitive file untrusted", Time: time.Date(2026, 11, 29, 16, 31, 56, 746609046, time.UTC),
		Source: "syscall", Hostname: "node-1", Tags: []string{"mitre_credential_access", "filesystem"},
		OutputFields: alert.Fields{
			"fd.name": "/etc/shadow", "proc.cmdline": "cat /etc/shadow --with-a-rather-long-argument",
			"evt.time": json.Number("1764433916746609046"), "k8s.ns.name": nil,
		},
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
	method, path, ctype, auth string
	body                      []byte
}

// server answers every request with status, the Retry-After header and
// body, and hands the request to the test.
func server(t *testing.T, status int, retryAfter, body string) (*httptest.Server, chan request) {
	ch := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), b}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

const hookPath = "/services/T0000/B0000/hooksecretXYZ123"

const wantDefault = `{"username":"Nightjar","attachments":[{"color":"#ffc700","fallback":"16:31:56.746609046: Warning Sensitive file opened (file=/etc/shadow)","text":"16:31:56.746609046: Warning Sensitive file opened (file=/etc/shadow)","fields":[` +
	`{"title":"rule","value":"Read sensitive file untrusted","short":true},` +
	`{"title":"priority","value":"Warning","short":true},` +
	`{"title":"source","value":"syscall","short":true},` +
	`{"title":"hostname","value":"node-1","short":true},` +
	`{"title":"tags","value":"filesystem, mitre_credential_access","short":true},` +
	`{"title":"fd.name","value":"/etc/shadow","short":true},` +
	`{"title":"proc.cmdline","value":"cat /etc/shadow --with-a-rather-long-argument","short":false},` +
	`{"title":"time","value":"2026-11-29 16:31:56.746609046 +0000 UTC","short":false}],` +
	`"blocks":null,"footer":"https://github.com/nightjar-sec/nightjar"}],"replace_original":false,"delete_original":false}`

func TestWebhookDefaultMessage(t *testing.T) {
	srv, ch := server(t, 200, "", "ok")
	c := NewConfig()
	c.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
	if err := build(t, c).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	r := outputstest.Recv(t, ch)
	if r.method != "POST" || r.path != hookPath || r.ctype != "application/json" {
		t.Fatalf("request %s %s %s", r.method, r.path, r.ctype)
	}
	if string(r.body) != wantDefault {
		t.Fatalf("body\n got %s\nwant %s", r.body, wantDefault)
	}
}

func TestOutputFormatsAndTemplate(t *testing.T) {
	srv, ch := server(t, 200, "", "ok")
	for _, tc := range []struct {
		format, template string
		check            func(m map[string]any) bool
	}{
		{"text", "", func(m map[string]any) bool {
			a := m["attachments"].([]any)[0].(map[string]any)
			return a["text"] != nil && a["fields"] == nil && a["footer"] == nil && m["text"] == nil
		}},
		{"fields", "", func(m map[string]any) bool {
			a := m["attachments"].([]any)[0].(map[string]any)
			return a["text"] == nil && len(a["fields"].([]any)) == 8
		}},
		{"all", "*{{.Priority}}* {{.Rule}} on {{.Hostname}} ({{index .OutputFields \"fd.name\"}})", func(m map[string]any) bool {
			return m["text"] == "*Warning* Read sensitive file untrusted on node-1 (/etc/shadow)"
		}},
	} {
		c := NewConfig()
		c.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
		c.OutputFormat, c.MessageFormat, c.Icon, c.Channel = tc.format, tc.template, "https://example.com/i.png", "#alerts"
		if err := build(t, c).Send(context.Background(), testAlert()); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		r := outputstest.Recv(t, ch)
		if err := json.Unmarshal(r.body, &m); err != nil || !tc.check(m) || m["icon_url"] != "https://example.com/i.png" || m["channel"] != "#alerts" {
			t.Fatalf("format %s template %q: body %s", tc.format, tc.template, r.body)
		}
	}
}

func TestColors(t *testing.T) {
	want := map[alert.Priority]string{alert.PriorityEmergency: "#e20b0b", alert.PriorityError: "#e20b0b",
		alert.PriorityAlert: "#ff5400", alert.PriorityCritical: "#ff5400", alert.PriorityWarning: "#ffc700",
		alert.PriorityNotice: "#5bffb5", alert.PriorityInformational: "#68c2ff", alert.PriorityDebug: "#ccfff2"}
	for p, c := range want {
		if Color(p) != c {
			t.Errorf("%s: %s, want %s", p, Color(p), c)
		}
	}
}

func TestBotToken(t *testing.T) {
	const token = "xoxb-0000-supersecret"
	ch := make(chan url.Values, 1)
	var auth, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, path = r.Header.Get("Authorization"), r.URL.Path
		r.ParseForm()
		ch <- r.PostForm
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("channel") == "#ratelimited" {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
			return
		}
		if r.PostForm.Get("channel") == "#missing" {
			io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
			return
		}
		io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1.2"}`)
	}))
	defer srv.Close()
	c := NewConfig()
	c.Token, c.Channel, c.APIURL = token, "#security", srv.URL+"/api"
	if err := build(t, c).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	f := outputstest.Recv(t, ch)
	// slack-go sends the token as a form field on chat.postMessage, or as
	// a bearer header.
	if (auth != "Bearer "+token && f.Get("token") != token) || path != "/api/chat.postMessage" || f.Get("channel") != "#security" || f.Get("username") != "Nightjar" {
		t.Fatalf("auth %q path %q form %v", auth, path, f)
	}
	var atts []map[string]any
	if err := json.Unmarshal([]byte(f.Get("attachments")), &atts); err != nil || len(atts) != 1 || atts[0]["color"] != "#ffc700" {
		t.Fatalf("attachments %s", f.Get("attachments"))
	}
	c.Channel = "#ratelimited"
	err := build(t, c).Send(context.Background(), testAlert())
	outputstest.Recv(t, ch)
	if d := outputs.Classify(err); !d.Retryable || d.RetryAfter != 3*time.Second || d.StatusCode != 429 || strings.Contains(err.Error(), token) {
		t.Fatalf("Web API 429 classified as %#v", d)
	}
	c.Channel = "#missing"
	err = build(t, c).Send(context.Background(), testAlert())
	outputstest.Recv(t, ch)
	d := outputs.Classify(err)
	if d.Retryable || !strings.Contains(d.Reason, "channel_not_found") || strings.Contains(err.Error(), token) {
		t.Fatalf("API error classified as %#v", d)
	}
}

func TestFailuresAreClassifiedAndScrubbed(t *testing.T) {
	for _, tc := range []struct {
		status      int
		retryAfter  string
		body        string
		retryable   bool
		wantAfter   time.Duration
		wantInError string
	}{
		{429, "30", "rate_limited", true, 30 * time.Second, "rate_limited"},
		{500, "", "internal error", true, 0, "HTTP 500"},
		{401, "", "invalid_token", false, 0, "invalid_token"},
		{403, "", "action_prohibited", false, 0, "action_prohibited"},
		{404, "", "no_service " + hookPath, false, 0, "no_service"},
	} {
		srv, ch := server(t, tc.status, tc.retryAfter, tc.body)
		c := NewConfig()
		c.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
		err := build(t, c).Send(context.Background(), testAlert())
		outputstest.Recv(t, ch)
		d := outputs.Classify(err)
		if d == nil || d.Retryable != tc.retryable || d.RetryAfter != tc.wantAfter || d.StatusCode != tc.status || !strings.Contains(d.Reason, tc.wantInError) {
			t.Errorf("%d classified as %#v", tc.status, d)
		}
		if strings.Contains(err.Error(), "hooksecretXYZ123") {
			t.Errorf("%d: webhook secret in %q", tc.status, err)
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
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := build(t, c).Send(ctx, testAlert())
	d := outputs.Classify(err)
	if !d.Retryable || !strings.Contains(d.Reason, "timeout") || strings.Contains(err.Error(), "hooksecretXYZ123") {
		t.Fatalf("timeout: %v", err)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c.WebhookURL = outputs.SecretURL("http://" + addr + hookPath)
	err = build(t, c).Send(context.Background(), testAlert())
	d = outputs.Classify(err)
	if !d.Retryable || strings.Contains(err.Error(), "hooksecretXYZ123") || strings.Contains(err.Error(), "T0000") {
		t.Fatalf("refused: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.WebhookURL = "hooks.slack.com/services/secret-part" }, "slack.webhookurl"},
		{func(c *Config) { c.Token = "xoxb-secret-token" }, "slack.token"},
		{func(c *Config) { c.WebhookURL, c.Token = "", "xoxb-secret-token" }, "slack.channel"},
		{func(c *Config) { c.OutputFormat = "json" }, "slack.outputformat"},
		{func(c *Config) { c.MessageFormat = "{{.Rule" }, "slack.messageformat"},
		{func(c *Config) { c.MessageFormat = "{{.NoSuchField}}" }, "slack.messageformat"},
		{func(c *Config) { c.Timeout = 0 }, "slack.timeout"},
	} {
		c := NewConfig()
		c.WebhookURL = "https://hooks.slack.com/services/secret-part"
		tc.mod(c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want error naming %s", err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secret-part") || strings.Contains(err.Error(), "secret-token") {
			t.Errorf("secret in %v", err)
		}
	}
	c := NewConfig()
	if c.Enabled() {
		t.Fatal("enabled with nothing set")
	}
	c.Token, c.Channel = "xoxb-1", "#c"
	if !c.Enabled() || c.Validate() != nil {
		t.Fatalf("bot config rejected: %v", c.Validate())
	}
}

// slack.checkcert (SLACK_CHECKCERT): false delivers to a server on a
// self-signed certificate, through the webhook and the Web API alike; true,
// the default, refuses it.
func TestCheckCert(t *testing.T) {
	srv, ch := outputstest.TLSServer(t, 200, `{"ok":true,"channel":"C1","ts":"1.2"}`)
	hook := NewConfig()
	hook.WebhookURL = outputs.SecretURL(srv.URL + hookPath)
	bot := NewConfig()
	bot.Token, bot.Channel, bot.APIURL = "xoxb-0000-supersecret", "#security", srv.URL+"/api"
	for _, c := range []*Config{hook, bot} {
		outputstest.CheckCert(t, &c.CheckCert, func() error { return build(t, c).Send(context.Background(), testAlert()) }, ch, "")
	}
}
