package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

const routesYAML = `
webhook:
  address: http://127.0.0.1:9/archive
outputs:
  pager:
    type: webhook
    address: http://127.0.0.1:9/pager
  chat:
    type: webhook
    address: http://127.0.0.1:9/chat
    minimumpriority: notice
  audit:
    type: webhook
    address: http://127.0.0.1:9/audit
    minimumpriority: error
routes:
  - name: critical
    match: {priority: critical}
    outputs: [pager]
    continue: true
  - name: shells
    match: {rule: "*shell*", tags_any: [container]}
    outputs: [chat, audit]
  - name: rest
    outputs: [chat]
`

func writeConfig(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sidekick.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCmd(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, environ, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRoutesTestText(t *testing.T) {
	p := writeConfig(t, routesYAML)
	code, out, errs := runCmd(t, nil, "routes", "test", "-c", p, "--priority", "warning", "--rule", "Terminal shell in container", "--tags", "container,shell")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		`alert: priority=Warning rule="Terminal shell in container" source=syscall tags=[container,shell]`,
		"[0] critical: no match: priority Warning is below Critical",
		"[1] shells: match",
		"[2] rest: not tried: an earlier route matched without continue",
		"delivered to:",
		"webhook  via default (no route names it)",
		"chat     via route shells",
		"filtered by threshold:",
		"audit    via route shells  priority Warning is below the output's minimumpriority Error",
	} {
		// Column widths are tabwriter's business: compare words.
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pager") {
		t.Errorf("pager must not be reached:\n%s", out)
	}
}

func TestRoutesTestJSON(t *testing.T) {
	p := writeConfig(t, routesYAML)
	code, out, errs := runCmd(t, nil, "routes", "test", "-c", p, "--priority", "CRITICAL", "--rule", "Write below etc", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Alert struct {
			Priority string
			Tags     []string
		}
		Routes []struct {
			Index   int
			Name    string
			Matched bool
			Reason  string
		}
		Outputs  []struct{ Output, Via string }
		Filtered []struct{ Output, Via, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Alert.Priority != "Critical" || got.Alert.Tags == nil || len(got.Routes) != 3 || !got.Routes[0].Matched || got.Routes[1].Matched || !got.Routes[2].Matched {
		t.Fatalf("%s", out)
	}
	want := map[string]string{"webhook": "default", "pager": "route critical", "chat": "route rest"}
	if len(got.Outputs) != len(want) || len(got.Filtered) != 0 {
		t.Fatalf("%s", out)
	}
	for _, o := range got.Outputs {
		if want[o.Output] != o.Via {
			t.Fatalf("%s via %q:\n%s", o.Output, o.Via, out)
		}
	}
}

func TestRoutesTestUsageAndErrors(t *testing.T) {
	p := writeConfig(t, routesYAML)
	if code, _, errs := runCmd(t, nil, "routes", "test", "-c", p, "--rule", "r"); code != 2 || !strings.Contains(errs, "usage") {
		t.Fatalf("missing --priority: %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, nil, "routes", "test", "-c", p, "--priority", "sever", "--rule", "r"); code != 2 || !strings.Contains(errs, `unknown priority "sever"`) {
		t.Fatalf("bad priority: %d %s", code, errs)
	}
	bad := writeConfig(t, "routes:\n  - outputs: [nope]\n")
	if code, _, errs := runCmd(t, nil, "routes", "test", "-c", bad, "--priority", "debug", "--rule", "r"); code != 1 || !strings.Contains(errs, `routes[0].outputs: unknown output "nope"`) {
		t.Fatalf("bad config: %d %s", code, errs)
	}
	// The environment applies, as for the daemon.
	code, out, _ := runCmd(t, []string{"WEBHOOK_ADDRESS=http://127.0.0.1:9/x", "WEBHOOK_MINIMUMPRIORITY=error"}, "routes", "test", "--priority", "warning", "--rule", "r")
	if code != 0 || !strings.Contains(out, "routes: none") || !strings.Contains(out, "minimumpriority Error") {
		t.Fatalf("env: %d\n%s", code, out)
	}
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCmd(t, nil, "--version"); code != 0 || !strings.HasPrefix(out, "nightjar-sidekick ") {
		t.Fatalf("--version: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, nil, "--bogus"); code != 2 || !strings.Contains(errs, "Usage") {
		t.Fatalf("bad flag: %d %s", code, errs)
	}
}

func TestConfigErrorsStopStartup(t *testing.T) {
	const secret = "hooks-secret-path-123"
	cases := []struct {
		env  []string
		want string
	}{
		{[]string{"SLACK_WEBHOOKURL=https://hooks.slack.com/services/" + secret, "SLACK_MINIMUMPRIORITY=sever"}, `slack.minimumpriority (env SLACK_MINIMUMPRIORITY): unknown priority "sever"`},
		{[]string{"SLACK_WEBHOOKURL=hooks.slack.com/" + secret}, "slack.webhookurl: must be an absolute http or https URL"},
		{[]string{"LISTENPORT=65536"}, "listenport: 65536 is out of range"},
		{[]string{"WEBHOOK_ADDRESS=http://h/" + secret, "WEBHOOK_CUSTOMHEADERS=" + secret}, "webhook.customheaders (env WEBHOOK_CUSTOMHEADERS): want key:value pairs"},
		// A header written without its ':' puts the token in the name.
		{[]string{"WEBHOOK_ADDRESS=http://h/x", "WEBHOOK_CUSTOMHEADERS=Authorization Bearer " + secret + ":x"}, `webhook.customheaders: a header name starting "Authorization" has a character not allowed`},
		// A malformed URL keeps its password where a parsed one would not.
		{[]string{"QUEUE_URL=nats//user:" + secret + "@127.0.0.1:4222"}, "queue.url: \"<secret>@127.0.0.1:4222\" is not a NATS URL"},
		{[]string{"QUEUE_URL=nats://127.0.0.1:4222,nats:/user:" + secret + "@10.0.0.2:4222"}, "queue.url: \"<secret>@10.0.0.2:4222\" is not a NATS URL"},
	}
	for _, c := range cases {
		code, _, errs := runCmd(t, c.env)
		if code != 1 || !strings.Contains(errs, c.want) || strings.Contains(errs, secret) {
			t.Errorf("env %v: exit %d, stderr %q; want 1 and %q without the secret", c.env, code, errs, c.want)
		}
	}
	if code, _, errs := runCmd(t, nil, "-c", filepath.Join(t.TempDir(), "nope.yaml")); code != 1 || !strings.Contains(errs, "nope.yaml") {
		t.Fatalf("missing file: %d %s", code, errs)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The real binary, built once for all the tests that run it (CGO off and
// linked as the Makefile links it), and removed by TestMain.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func sidekickBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nightjar-sidekick-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "nightjar-sidekick")
		build := exec.Command("go", "build", "-ldflags=-s -w", "-o", binPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// syncBuffer is a log sink the test reads while the daemon writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The daemon configured the falcosidekick way, end to end: environment
// only, an alert in on POST /, out at the webhook with the custom header,
// custom fields and tags; then a graceful stop on the signal's context.
func TestRunEndToEndWithEnvironment(t *testing.T) {
	got := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer sink.Close()
	port := freePort(t)
	const token = "auth-token-abcdef"
	env := []string{
		"LISTENADDRESS=127.0.0.1",
		"LISTENPORT=" + strconv.Itoa(port),
		"QUEUE_DIR=" + t.TempDir(),
		"WEBHOOK_ADDRESS=" + sink.URL + "/falco",
		"WEBHOOK_CUSTOMHEADERS=X-Token:hdr-secret-value,X-Env:test",
		"WEBHOOK_MINIMUMPRIORITY=warning",
		"CUSTOMFIELDS=env:prod,team:sec",
		"CUSTOMTAGS=prod,eu",
		"AUTHTOKEN=" + token,
		"DEBUG=true",
		"LOGFORMAT=json",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, env, io.Discard, &logs) }()

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("exited %d:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never served /ping:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	post := func(body string) int {
		req, _ := http.NewRequest("POST", base+"/", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Below the webhook's threshold: accepted, not delivered.
	if s := post(`{"output":"n","priority":"Notice","rule":"quiet","time":"2026-11-29T16:31:56Z","output_fields":{"a":1}}`); s != 200 {
		t.Fatalf("notice: %d", s)
	}
	if s := post(`{"output":"w","priority":"Error","rule":"loud","time":"2026-11-29T16:31:56Z","tags":["t"],"output_fields":{"a":1}}`); s != 200 {
		t.Fatalf("error: %d", s)
	}
	select {
	case r := <-got:
		b := <-bodies
		if r.URL.Path != "/falco" || r.Header.Get("X-Token") != "hdr-secret-value" || r.Header.Get("X-Env") != "test" {
			t.Fatalf("request %s %v", r.URL, r.Header)
		}
		a, err := alert.Decode(b)
		if err != nil || a.Rule != "loud" || a.OutputFields["env"] != "prod" || a.OutputFields["team"] != "sec" || strings.Join(a.Tags, ",") != "t,prod,eu" || a.UUID == "" {
			t.Fatalf("delivered %s (%v)", b, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("nothing delivered:\n%s", logs.String())
	}
	select {
	case <-got:
		t.Fatal("the Notice alert passed the webhook's Warning threshold")
	case <-time.After(200 * time.Millisecond):
	}

	cancel() // what SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no graceful stop")
	}
	l := logs.String()
	for _, s := range []string{token, "hdr-secret-value", sink.URL + "/falco"} {
		if strings.Contains(l, s) {
			t.Fatalf("logs leak %q:\n%s", s, l)
		}
	}
	if !strings.Contains(l, `"msg":"effective configuration (secrets redacted)"`) || !strings.Contains(l, `"msg":"nightjar-sidekick stopped"`) {
		t.Fatalf("logs:\n%s", l)
	}
}

func TestCheckPrintsRedactedConfig(t *testing.T) {
	p := writeConfig(t, routesYAML)
	code, out, errs := runCmd(t, []string{"AUTHTOKEN=tok-check-secret", "WEBHOOK_CUSTOMHEADERS=X-Key:hdr-check-secret"}, "-c", p, "--check")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"listenport: 2801", "authtoken: <secret>", "pager:", "type: webhook", "X-Key: <secret>", "name: critical"} {
		if !strings.Contains(out, want) {
			t.Errorf("--check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tok-check-secret") || strings.Contains(out, "hdr-check-secret") {
		t.Fatalf("--check leaks a secret:\n%s", out)
	}
	if code, _, errs := runCmd(t, []string{"LISTENPORT=0"}, "--check"); code != 1 || !strings.Contains(errs, "listenport") {
		t.Fatalf("--check on a bad config: %d %s", code, errs)
	}
}
