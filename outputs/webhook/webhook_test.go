package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
		Output: "Warning Sensitive file opened", Priority: alert.PriorityWarning,
		Rule: "Read sensitive file untrusted", Time: time.Date(2026, 11, 29, 16, 31, 56, 746609046, time.UTC),
		Source: "syscall", Hostname: "node-1", Tags: []string{"filesystem"},
		OutputFields: alert.Fields{"fd.name": "/etc/shadow", "evt.time": json.Number("1764433916746609046")},
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

// Every request shares one header built at New: basic auth from the URL
// (which net/http's client adds to a copy) must not leak into it, and a
// custom header overrides a default.
func TestSharedHeaderStaysUnchanged(t *testing.T) {
	type got struct{ auth, ctype, agent string }
	ch := make(chan got, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- got{r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get("User-Agent")}
	}))
	defer srv.Close()
	c := NewConfig()
	c.Address = outputs.SecretURL(strings.Replace(srv.URL, "http://", "http://user:pw@", 1) + "/hook")
	c.CustomHeaders = map[string]outputs.Secret{"Content-Type": "application/vnd.falco+json"}
	o := build(t, c)
	for range 2 {
		if err := o.Send(context.Background(), testAlert()); err != nil {
			t.Fatal(err)
		}
		if g := outputstest.Recv(t, ch); g.auth != "Basic dXNlcjpwdw==" || g.ctype != "application/vnd.falco+json" || g.agent != "nightjar-sidekick" {
			t.Fatalf("request headers %+v", g)
		}
	}
	if h := o.(*Webhook).header; h.Get("Authorization") != "" || len(h) != 2 {
		t.Fatalf("shared header changed: %v", h)
	}
}

func TestSendPostsAlertWithHeaders(t *testing.T) {
	type got struct {
		method, ctype, auth, custom string
		body                        []byte
	}
	ch := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Header.Get("X-Team"), b}
	}))
	defer srv.Close()
	c := NewConfig()
	c.Address = outputs.SecretURL(srv.URL + "/hook")
	c.CustomHeaders = map[string]outputs.Secret{"Authorization": "Bearer s3cr3t-token", "X-Team": "sec"}
	if err := build(t, c).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	g := outputstest.Recv(t, ch)
	if g.method != "POST" || g.ctype != "application/json" || g.auth != "Bearer s3cr3t-token" || g.custom != "sec" {
		t.Fatalf("request = %+v", g)
	}
	back, err := alert.Decode(g.body)
	if err != nil {
		t.Fatalf("body is not a Falco alert: %v: %s", err, g.body)
	}
	if back.Rule != "Read sensitive file untrusted" || !strings.Contains(string(g.body), `"evt.time":1764433916746609046`) {
		t.Fatalf("body = %s", g.body)
	}
}

func TestErrorsAreClassifiedAndScrubbed(t *testing.T) {
	const token = "tok-very-secret"
	status := http.StatusServiceUnavailable
	retryAfter := "7"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", retryAfter)
		w.WriteHeader(status)
		// A destination that echoes what it was sent must not leak it.
		io.WriteString(w, "bad auth "+r.Header.Get("Authorization")+" at "+r.URL.String())
	}))
	defer srv.Close()
	c := NewConfig()
	c.Address = outputs.SecretURL(srv.URL + "/hook?key=" + token)
	c.CustomHeaders = map[string]outputs.Secret{"Authorization": "Bearer header-secret"}
	o := build(t, c)

	err := o.Send(context.Background(), testAlert())
	d := outputs.Classify(err)
	if d == nil || !d.Retryable || d.RetryAfter != 7*time.Second || d.StatusCode != 503 {
		t.Fatalf("503 classified as %#v", d)
	}
	if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "header-secret") {
		t.Fatalf("secret leaked: %v", err)
	}

	status, retryAfter = http.StatusBadRequest, ""
	d = outputs.Classify(o.Send(context.Background(), testAlert()))
	if d.Retryable || d.StatusCode != 400 || !strings.Contains(d.Reason, "bad auth") {
		t.Fatalf("400 classified as %#v", d)
	}
	if strings.Contains(d.Reason, token) || strings.Contains(d.Reason, "header-secret") {
		t.Fatalf("secret leaked: %v", d.Reason)
	}
}

func TestConnectionRefusedIsRetryableAndScrubbed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := NewConfig()
	c.Address = outputs.SecretURL("http://" + addr + "/path-secret-xyz")
	err = build(t, c).Send(context.Background(), testAlert())
	var d *outputs.DeliveryError
	if !errors.As(err, &d) || !d.Retryable {
		t.Fatalf("refused connection: %v", err)
	}
	if strings.Contains(err.Error(), "path-secret-xyz") {
		t.Fatalf("URL leaked: %v", err)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := NewConfig()
	c.Address = outputs.SecretURL(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	d := outputs.Classify(build(t, c).Send(ctx, testAlert()))
	if d == nil || !d.Retryable || !strings.Contains(d.Reason, "timeout") {
		t.Fatalf("timeout classified as %#v", d)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"relative url", func(c *Config) { c.Address = "example.com/hook" }, "webhook.address"},
		{"ftp url", func(c *Config) { c.Address = "ftp://example.com/" }, "webhook.address"},
		{"method", func(c *Config) { c.Method = "GET" }, "webhook.method"},
		{"header", func(c *Config) { c.CustomHeaders = map[string]outputs.Secret{"Bad Header": "x"} }, "webhook.customheaders"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "webhook.timeout"},
		{"mutualtls", func(c *Config) { c.MutualTLS = true }, "webhook.mutualtls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			c.Address = "http://127.0.0.1:9/x"
			tc.mod(c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want error naming %s", err, tc.want)
			}
		})
	}
	c := NewConfig()
	if c.Enabled() {
		t.Fatal("enabled without an address")
	}
	c.Address = "https://hooks.example.com/abc"
	c.Method = "put"
	if !c.Enabled() || c.Validate() != nil || c.Method != "PUT" {
		t.Fatalf("valid config rejected: %v", c.Validate())
	}
}

// The forwarder stores alerts as Encode writes them and, the webhook being
// an outputs.RawSender, posts the stored bytes. That must be the very
// request Send makes for the alert decoded from them (what the forwarder
// did before): same body, byte for byte, and same headers.
func TestSendRawPostsWhatSendPosts(t *testing.T) {
	type got struct {
		header http.Header
		body   []byte
	}
	ch := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Header.Del("Content-Length")
		ch <- got{r.Header, b}
	}))
	defer srv.Close()
	c := NewConfig()
	c.Address = outputs.SecretURL(srv.URL + "/hook")
	c.CustomHeaders = map[string]outputs.Secret{"X-Team": "sec"}
	o := build(t, c)
	raw, ok := o.(outputs.RawSender)
	if !ok {
		t.Fatal("the webhook output does not implement outputs.RawSender")
	}

	tricky := testAlert()
	tricky.UUID = "5f0c1a52-3d8e-4f43-9c55-0d8e6c1b2a77"
	tricky.Output = `<script>&"quoted" ünïcødé	tab`
	tricky.Time = time.Date(2026, 11, 29, 17, 31, 56, 0, time.FixedZone("", 3600))
	tricky.Tags = []string{"a", "b<c>"}
	tricky.OutputFields = alert.Fields{
		"float": json.Number("1.50"), "neg": json.Number("-3e7"), "null": nil, "bool": true,
		"nested": map[string]any{"k": []any{json.Number("1"), "x"}}, "html": "<&>",
	}
	bare := &alert.Alert{Rule: "r", Priority: alert.PriorityDebug, Time: time.Unix(1, 0).UTC(), Output: "o"}

	for _, a := range []*alert.Alert{testAlert(), tricky, bare} {
		stored, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := alert.Decode(stored)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Send(context.Background(), decoded); err != nil {
			t.Fatal(err)
		}
		viaSend := outputstest.Recv(t, ch)
		if err := raw.SendRaw(context.Background(), stored); err != nil {
			t.Fatal(err)
		}
		viaRaw := outputstest.Recv(t, ch)
		if string(viaRaw.body) != string(viaSend.body) || string(viaRaw.body) != string(stored) {
			t.Fatalf("SendRaw posted\n%s\nSend posted\n%s\nstored\n%s", viaRaw.body, viaSend.body, stored)
		}
		if fmt.Sprint(viaRaw.header) != fmt.Sprint(viaSend.header) {
			t.Fatalf("headers differ: SendRaw %v, Send %v", viaRaw.header, viaSend.header)
		}
	}
}

// The webhook runs 16 requests in flight by default (the other outputs 4).
func TestDefaultMaxConcurrentRequests(t *testing.T) {
	if got := NewConfig().MaxConcurrentRequests; got != 16 {
		t.Fatalf("default maxconcurrentrequests = %d, want 16", got)
	}
}

// webhook.checkcert (WEBHOOK_CHECKCERT): false delivers to a server on a
// self-signed certificate; true, the default, refuses it.
func TestCheckCert(t *testing.T) {
	srv, ch := outputstest.TLSServer(t, 200, `{}`)
	c := NewConfig()
	c.Address = outputs.SecretURL(srv.URL + "/ingest")
	outputstest.CheckCert(t, &c.CheckCert, func() error { return build(t, c).Send(context.Background(), testAlert()) }, ch, "/ingest")
}
