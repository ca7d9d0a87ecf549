package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/forwarder/dedup"
	"github.com/nightjar-sec/nightjar/forwarder/metrics"
	"github.com/nightjar-sec/nightjar/forwarder/queue"
	"github.com/nightjar-sec/nightjar/forwarder/route"
	"github.com/nightjar-sec/nightjar/outputs"
)

const validAlert = `{"output":"16:31:56.746609046: Warning Sensitive file opened","priority":"Warning","rule":"Read sensitive file untrusted","time":"2026-11-29T16:31:56.746609046Z","source":"syscall","hostname":"node-1","tags":["filesystem"],"output_fields":{"evt.time":1764433916746609046,"fd.name":"/etc/shadow","k8s.ns.name":"payments"}}`

var outs = []string{"hook", "pager"}

// openQueue opens the real embedded JetStream queue in a temporary directory.
func openQueue(t *testing.T, maxBytes int64) *queue.Queue {
	t.Helper()
	cfg := queue.DefaultConfig()
	cfg.Dir = t.TempDir()
	if maxBytes > 0 {
		cfg.MaxBytes = maxBytes
	}
	q, err := queue.Open(context.Background(), cfg, outs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

type fixture struct {
	srv *httptest.Server
	q   *queue.Queue
	reg *prometheus.Registry
}

func newFixture(t *testing.T, q *queue.Queue, mod func(*Options)) *fixture {
	t.Helper()
	r, err := route.New(nil, []route.Output{{Name: "hook"}, {Name: "pager", MinimumPriority: alert.PriorityCritical}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := Options{
		Queue: q, Router: r, BodyLimit: 4096, Metrics: metrics.New(reg), Gatherer: reg, Version: "v-test",
		Outputs: []OutputInfo{{Name: "hook", Type: "webhook", MinimumPriority: "Debug"}, {Name: "pager", Type: "webhook", MinimumPriority: "Critical"}},
		Enricher: Enricher{
			CustomFields: map[string]string{"env": "prod"},
			CustomTags:   []string{"eu"},
			Templates: map[string]*template.Template{
				"ns": template.Must(template.New("ns").Parse(`ns={{ index . "k8s.ns.name" }} env={{ .env }}`)),
			},
		},
	}
	if mod != nil {
		mod(&o)
	}
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, q: q, reg: reg}
}

func (f *fixture) do(t *testing.T, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// next reads the next stored delivery of an output from the real queue.
func next(t *testing.T, q *queue.Queue, output string) *queue.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := q.Consumer(ctx, output, queue.ConsumerOptions{AckWait: time.Minute, MaxAckPending: 10})
	if err != nil {
		t.Fatal(err)
	}
	it, err := c.Messages(1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	d, err := it.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func errorOf(t *testing.T, b []byte) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
		t.Fatalf("want a JSON error body, got %s", b)
	}
	return e.Error
}

func TestPostQueuesEnrichedAlert(t *testing.T) {
	f := newFixture(t, openQueue(t, 0), nil)
	resp, b := f.do(t, "POST", "/", validAlert)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var acc accepted
	if err := json.Unmarshal(b, &acc); err != nil || acc.UUID == "" || !slices.Equal(acc.Outputs, []string{"hook"}) {
		t.Fatalf("body %s", b)
	}
	// The 200 came after the queue stored it: it is there now.
	if d := f.q.Health().Depth; d["hook"] != 1 || d["pager"] != 0 {
		t.Fatalf("depth %v", d)
	}
	d := next(t, f.q, "hook")
	a := d.Alert
	if a == nil || a.UUID != acc.UUID {
		t.Fatalf("stored %+v (%v)", a, d.DecodeErr)
	}
	if a.OutputFields["env"] != "prod" || a.OutputFields["ns"] != "ns=payments env=prod" || !slices.Equal(a.Tags, []string{"filesystem", "eu"}) {
		t.Fatalf("not enriched: fields %v tags %v", a.OutputFields, a.Tags)
	}
	if n, ok := a.OutputFields["evt.time"].(json.Number); !ok || n.String() != "1764433916746609046" {
		t.Fatalf("evt.time lost precision: %#v", a.OutputFields["evt.time"])
	}

	// A sender's uuid is kept.
	withID := strings.Replace(validAlert, `{"output"`, `{"uuid":"11111111-2222-4333-8444-555555555555","output"`, 1)
	_, b = f.do(t, "POST", "/", withID)
	if !strings.Contains(string(b), "11111111-2222-4333-8444-555555555555") {
		t.Fatalf("uuid replaced: %s", b)
	}
	// A Critical alert also passes pager's threshold.
	_, b = f.do(t, "POST", "/", strings.Replace(validAlert, `"Warning"`, `"Critical"`, 1))
	if !strings.Contains(string(b), `"outputs":["hook","pager"]`) {
		t.Fatalf("critical: %s", b)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, openQueue(t, 0), nil)
	cases := []struct{ name, body, want string }{
		{"malformed", `{"rule":`, "malformed JSON"},
		{"unknown priority", strings.Replace(validAlert, `"Warning"`, `"Sever"`, 1), "priority: unknown priority"},
		{"empty rule", strings.Replace(validAlert, `"Read sensitive file untrusted"`, `""`, 1), "rule: must not be empty"},
		{"zero time", strings.Replace(validAlert, `2026-11-29T16:31:56.746609046Z`, `0001-01-01T00:00:00Z`, 1), "time: zero"},
		{"bad time", strings.Replace(validAlert, `2026-11-29T16:31:56.746609046Z`, `yesterday`, 1), "not RFC 3339"},
		{"no output", `{"priority":"Debug","rule":"r","time":"2026-11-29T16:31:56Z"}`, "output and output_fields"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := f.do(t, "POST", "/", c.body)
			if resp.StatusCode != 400 || !strings.Contains(errorOf(t, b), c.want) {
				t.Fatalf("status %d body %s, want 400 naming %q", resp.StatusCode, b, c.want)
			}
		})
	}
	// Unknown fields are ignored.
	if resp, b := f.do(t, "POST", "/", strings.Replace(validAlert, `{"output"`, `{"extra":[1,2],"output"`, 1)); resp.StatusCode != 200 {
		t.Fatalf("unknown field: %d %s", resp.StatusCode, b)
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t, openQueue(t, 0), func(o *Options) { o.BodyLimit = 512 })
	big := strings.Replace(validAlert, `"fd.name":"/etc/shadow"`, `"fd.name":"`+strings.Repeat("x", 600)+`"`, 1)
	resp, b := f.do(t, "POST", "/", big)
	if resp.StatusCode != 413 || !strings.Contains(errorOf(t, b), "bodylimit (512 bytes)") {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

func TestBearerToken(t *testing.T) {
	const tok = "s3cret-token-value"
	f := newFixture(t, openQueue(t, 0), func(o *Options) { o.AuthToken = outputs.Secret(tok) })
	for _, path := range []string{"/", "/test"} {
		for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", tok}, {"Authorization", "Bearer " + tok + "x"}} {
			resp, b := f.do(t, "POST", path, validAlert, hdr...)
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || strings.Contains(string(b), tok) {
				t.Fatalf("POST %s with %v: %d %s", path, hdr, resp.StatusCode, b)
			}
		}
		if resp, b := f.do(t, "POST", path, validAlert, "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
			t.Fatalf("POST %s with the token: %d %s", path, resp.StatusCode, b)
		}
	}
	if resp, _ := f.do(t, "GET", "/api/v1/deadletters", ""); resp.StatusCode != 401 {
		t.Fatalf("deadletters without token: %d", resp.StatusCode)
	}
	// Probes stay open.
	for _, p := range []string{"/ping", "/healthz", "/metrics"} {
		if resp, _ := f.do(t, "GET", p, ""); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
	}
}

func TestQueueFullAnswers503(t *testing.T) {
	f := newFixture(t, openQueue(t, 1<<20), func(o *Options) { o.BodyLimit = 1 << 20; o.RetryAfter = 3 * time.Second })
	// Each alert is ~100 KB, stored once per output it reaches (hook only),
	// so the 1 MiB backlog fills within a dozen.
	big := strings.Replace(validAlert, `"fd.name":"/etc/shadow"`, `"fd.name":"`+strings.Repeat("x", 100<<10)+`"`, 1)
	var last *http.Response
	var body []byte
	for i := 0; i < 40; i++ {
		last, body = f.do(t, "POST", "/", big)
		if last.StatusCode != 200 {
			break
		}
	}
	if last.StatusCode != 503 || last.Header.Get("Retry-After") != "3" || !strings.Contains(errorOf(t, body), "queue full") {
		t.Fatalf("status %d Retry-After %q: %s", last.StatusCode, last.Header.Get("Retry-After"), body)
	}
	_, m := f.do(t, "GET", "/metrics", "")
	if !strings.Contains(string(m), `nightjar_sidekick_inputs_total{status="full"} 1`) {
		t.Fatalf("metrics:\n%s", m)
	}
}

func TestQueueDownAnswers500AndDegraded(t *testing.T) {
	q := openQueue(t, 0)
	f := newFixture(t, q, nil)
	if resp, b := f.do(t, "GET", "/healthz", ""); resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"ok"`) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, b)
	}
	q.Close()
	resp, b := f.do(t, "POST", "/", validAlert)
	if resp.StatusCode != 500 || !strings.Contains(errorOf(t, b), "not stored") {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/healthz", "")
	if resp.StatusCode != 503 || !strings.Contains(string(b), `"status":"degraded"`) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, b)
	}
}

func TestTestEndpointIgnoresThresholds(t *testing.T) {
	f := newFixture(t, openQueue(t, 0), nil)
	resp, b := f.do(t, "POST", "/test", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"outputs":["hook","pager"]`) {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	// pager's threshold is Critical, yet it gets the Debug test alert.
	a := next(t, f.q, "pager").Alert
	if a == nil || a.Rule != "Test rule" || a.Priority != alert.PriorityDebug || a.OutputFields["env"] != "prod" {
		t.Fatalf("test alert %+v", a)
	}
}

func TestProbesAndDeadLetters(t *testing.T) {
	f := newFixture(t, openQueue(t, 0), nil)
	resp, b := f.do(t, "GET", "/ping", "")
	if resp.StatusCode != 200 || string(b) != "pong\n" {
		t.Fatalf("ping: %d %q", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/healthz", "")
	var h healthz
	if err := json.Unmarshal(b, &h); err != nil || resp.StatusCode != 200 || h.Status != "ok" || !h.Queue.Connected ||
		h.Queue.Mode != "embedded" || len(h.Outputs) != 2 || h.Outputs[1].MinimumPriority != "Critical" || h.Version != "v-test" {
		t.Fatalf("healthz: %d %s", resp.StatusCode, b)
	}
	if resp, _ := f.do(t, "HEAD", "/ping", ""); resp.StatusCode != 200 {
		t.Fatalf("HEAD /ping: %d", resp.StatusCode)
	}
	if resp, b := f.do(t, "GET", "/debug/vars", ""); resp.StatusCode != 200 || !strings.Contains(string(b), "memstats") {
		t.Fatalf("debug/vars: %d", resp.StatusCode)
	}
	if resp, b := f.do(t, "GET", "/nope", ""); resp.StatusCode != 404 || !strings.Contains(errorOf(t, b), "/nope") {
		t.Fatalf("404: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/", ""); resp.StatusCode != 405 || errorOf(t, b) == "" {
		t.Fatalf("405: %d %s", resp.StatusCode, b)
	}

	// A delivery given up shows in /api/v1/deadletters.
	f.do(t, "POST", "/", validAlert)
	if err := next(t, f.q, "hook").DeadLetter(context.Background(), "permanent", "HTTP 400 Bad Request", 1); err != nil {
		t.Fatal(err)
	}
	resp, b = f.do(t, "GET", "/api/v1/deadletters?limit=10", "")
	var dl struct {
		Count       int
		DeadLetters []queue.DeadLetter
	}
	if err := json.Unmarshal(b, &dl); err != nil || resp.StatusCode != 200 || dl.Count != 1 || dl.DeadLetters[0].Output != "hook" ||
		dl.DeadLetters[0].Reason != "permanent" || dl.DeadLetters[0].Attempts != 1 || !bytes.Contains(dl.DeadLetters[0].Alert, []byte("Read sensitive file untrusted")) {
		t.Fatalf("deadletters: %d %s", resp.StatusCode, b)
	}
	if resp, _ := f.do(t, "GET", "/api/v1/deadletters?limit=abc", ""); resp.StatusCode != 400 {
		t.Fatalf("bad limit: %d", resp.StatusCode)
	}

	_, m := f.do(t, "GET", "/metrics", "")
	for _, want := range []string{`nightjar_sidekick_inputs_total{status="accepted"} 1`, `nightjar_sidekick_alerts_total{priority="Warning",source="syscall"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %s:\n%s", want, m)
		}
	}
}

func TestTemplateFailureKeepsAlert(t *testing.T) {
	e := Enricher{Templates: map[string]*template.Template{
		"bad": template.Must(template.New("bad").Parse(`{{ index .missing 1 }}`)),
		"ok":  template.Must(template.New("ok").Parse(`{{ .a }}`)),
	}}
	a := &alert.Alert{OutputFields: alert.Fields{"a": "x"}}
	failed := e.Apply(a)
	if failed["bad"] == nil || a.OutputFields["ok"] != "x" || a.OutputFields["bad"] != nil {
		t.Fatalf("failed %v fields %v", failed, a.OutputFields)
	}
}

// An output with a dedup window gets an alert once per window; the others
// get every copy, /test is never deduplicated, and an alert refused with a
// 503 is not remembered (the sender's retry goes through).
func TestDedupPerOutput(t *testing.T) {
	q := openQueue(t, 0)
	f := newFixture(t, q, func(o *Options) { o.Dedup = dedup.New(map[string]time.Duration{"pager": time.Hour}) })
	crit := strings.Replace(validAlert, `"Warning"`, `"Critical"`, 1)
	_, b := f.do(t, "POST", "/", crit)
	if !strings.Contains(string(b), `"outputs":["hook","pager"]`) {
		t.Fatalf("first: %s", b)
	}
	// The same alert at a later time (time fields differ): hook only.
	later := strings.Replace(strings.Replace(crit, "1764433916746609046", "1764433999000000000", 1), "16:31:56", "16:33:19", 2)
	resp, b := f.do(t, "POST", "/", later)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"outputs":["hook"]`) {
		t.Fatalf("repeat: %d %s", resp.StatusCode, b)
	}
	// Another file is another alert.
	_, b = f.do(t, "POST", "/", strings.Replace(crit, "/etc/shadow", "/etc/sudoers", 1))
	if !strings.Contains(string(b), `"outputs":["hook","pager"]`) {
		t.Fatalf("other alert: %s", b)
	}
	if d := q.Health().Depth; d["hook"] != 3 || d["pager"] != 2 {
		t.Fatalf("depth %v", d)
	}
	if _, b = f.do(t, "POST", "/test", ""); !strings.Contains(string(b), `"outputs":["hook","pager"]`) {
		t.Fatalf("test: %s", b)
	}
	_, m := f.do(t, "GET", "/metrics", "")
	if !strings.Contains(string(m), `nightjar_sidekick_dedup_repeats_total{output="pager"} 1`) {
		t.Fatalf("metrics:\n%s", m)
	}

	// Refused (queue closed: 500), then retried once the queue is back.
	q2 := openQueue(t, 0)
	filter := dedup.New(map[string]time.Duration{"pager": time.Hour})
	g := newFixture(t, q2, func(o *Options) { o.Dedup = filter })
	fresh := strings.Replace(crit, "/etc/shadow", "/etc/gshadow", 1)
	q2.Close()
	if resp, b := g.do(t, "POST", "/", fresh); resp.StatusCode != 500 {
		t.Fatalf("closed queue: %d %s", resp.StatusCode, b)
	}
	if filter.Len() != 0 {
		t.Fatal("a refused alert was remembered")
	}
}

// acceptedBody must write what json.Encoder wrote for accepted before it:
// same bytes, escapes included.
func TestAcceptedBodyMatchesEncodingJSON(t *testing.T) {
	for _, c := range []struct {
		uuid string
		outs []string
	}{
		{"5f0c1a52-3d8e-4f43-9c55-0d8e6c1b2a77", []string{"webhook"}},
		{"x", []string{}},
		{"", []string{"slack", "slack-ops", "webhook_2"}},
		{`"quoted" \ <b>&amp; ünï` + "\t\x01\u2028", []string{"<o>", `a"b`}},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(accepted{UUID: c.uuid, Outputs: c.outs}); err != nil {
			t.Fatal(err)
		}
		if got := acceptedBody(c.uuid, c.outs); string(got) != want.String() {
			t.Errorf("acceptedBody(%q, %q) = %s, want %s", c.uuid, c.outs, got, want.String())
		}
	}
}

func TestReadBody(t *testing.T) {
	body := strings.Repeat("x", 1000)
	for _, c := range []struct {
		name      string
		announced int64
	}{
		{"exact", 1000}, {"unknown", -1}, {"shorter than sent", 10}, {"longer than sent", 4000}, {"over the limit", 1 << 30},
	} {
		b, err := readBody(strings.NewReader(body), c.announced, 1<<20)
		if err != nil || string(b) != body {
			t.Errorf("%s: read %d bytes, err %v", c.name, len(b), err)
		}
	}
	// The limit holds whatever was announced.
	rec := httptest.NewRecorder()
	_, err := readBody(http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(body)), 100), 50, 100)
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		t.Errorf("over the limit: err %v, want *http.MaxBytesError", err)
	}
}
