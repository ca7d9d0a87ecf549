package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/nightjar-sec/nightjar/alert"
)

// The secrets the destinations are configured with. None may appear in the
// sidekick's log.
const (
	e2eSlackToken   = "e2eSlackHookSecret0001"
	e2eRocketToken  = "e2eRocketHookSecret002"
	e2eDatadogKey   = "e2eDatadogApiKeySecret3"
	e2eGenieKey     = "e2eGenieKeySecret00004"
	e2eAWSSecret    = "e2eAwsSecretAccessKey000005"
	e2eSMTPPassword = "e2eSmtpPasswordSecret6"
	e2eAWSKeyID     = "AKIDE2ETEST000000001"
)

// e2eSink collects what one destination received, by alert rule.
type e2eSink struct {
	mu    sync.Mutex
	rules []string
	fails []string // format problems the handler saw
}

func (s *e2eSink) add(rule string, problems ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, rule)
	s.fails = append(s.fails, problems...)
}

func (s *e2eSink) snapshot() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := append([]string(nil), s.rules...)
	sort.Strings(r)
	return r, append([]string(nil), s.fails...)
}

func e2eRule(p alert.Priority) string { return "e2e rule " + p.String() }

// e2ePriorityOf reads the priority back from a rule name made by e2eRule.
func e2ePriorityOf(rule string) alert.Priority {
	p, _ := alert.ParsePriority(strings.TrimPrefix(rule, "e2e rule "))
	return p
}

// e2eChat is a Slack or Rocket.Chat incoming webhook at path. The first
// request is refused with 429 and Retry-After, to show that the sidekick
// retries rather than loses a rate-limited alert.
func e2eChat(t *testing.T, path string, sink *e2eSink) *httptest.Server {
	colors := map[alert.Priority]string{alert.PriorityEmergency: "#e20b0b", alert.PriorityAlert: "#ff5400", alert.PriorityCritical: "#ff5400",
		alert.PriorityError: "#e20b0b", alert.PriorityWarning: "#ffc700", alert.PriorityNotice: "#5bffb5",
		alert.PriorityInformational: "#68c2ff", alert.PriorityDebug: "#ccfff2"}
	var mu sync.Mutex
	limited := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !limited
		limited = true
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, "rate_limited")
			return
		}
		var m struct {
			Attachments []struct {
				Color  string `json:"color"`
				Text   string `json:"text"`
				Fields []struct{ Title, Value string }
			} `json:"attachments"`
		}
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != path || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil || len(m.Attachments) != 1 {
			sink.add("?", fmt.Sprintf("%s %s: %s", r.Method, r.URL.Path, b))
			w.WriteHeader(400)
			return
		}
		a := m.Attachments[0]
		var rule string
		for _, f := range a.Fields {
			if f.Title == "rule" {
				rule = f.Value
			}
		}
		var problems []string
		if want := colors[e2ePriorityOf(rule)]; a.Color != want {
			problems = append(problems, fmt.Sprintf("%s: color %s, want %s", rule, a.Color, want))
		}
		if !strings.HasPrefix(a.Text, "e2e output ") {
			problems = append(problems, rule+": text "+a.Text)
		}
		sink.add(rule, problems...)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// e2eDatadog is the Events API. Its first answer is a 500 that echoes the
// API key, which the sidekick must retry and must not log.
func e2eDatadog(t *testing.T, sink *e2eSink) *httptest.Server {
	var mu sync.Mutex
	failed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !failed
		failed = true
		mu.Unlock()
		if first {
			w.WriteHeader(500)
			io.WriteString(w, `{"errors":["internal error for key `+r.Header.Get("DD-API-KEY")+`"]}`)
			return
		}
		var ev struct {
			Title     string   `json:"title"`
			Text      string   `json:"text"`
			AlertType string   `json:"alert_type"`
			Tags      []string `json:"tags"`
		}
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/api/v1/events" || r.Header.Get("DD-API-KEY") != e2eDatadogKey || json.Unmarshal(b, &ev) != nil {
			sink.add("?", fmt.Sprintf("%s %s key %q: %s", r.Method, r.URL.Path, r.Header.Get("DD-API-KEY"), b))
			w.WriteHeader(403)
			return
		}
		want := map[alert.Priority]string{alert.PriorityEmergency: "error", alert.PriorityAlert: "error", alert.PriorityCritical: "error",
			alert.PriorityError: "error", alert.PriorityWarning: "warning"}[e2ePriorityOf(ev.Title)]
		if want == "" {
			want = "info"
		}
		var problems []string
		if ev.AlertType != want || !strings.HasPrefix(ev.Text, "e2e output ") || !containsAll(ev.Tags, "source:syscall", "hostname:e2e-host", "e2e") {
			problems = append(problems, fmt.Sprintf("datadog event %s", b))
		}
		sink.add(ev.Title, problems...)
		w.WriteHeader(202)
		io.WriteString(w, `{"status":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func e2eOpsgenie(t *testing.T, sink *e2eSink) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct {
			Message, Description, Priority, Alias string
		}
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/v2/alerts" || r.Header.Get("Authorization") != "GenieKey "+e2eGenieKey || json.Unmarshal(b, &a) != nil {
			sink.add("?", fmt.Sprintf("%s %s: %s", r.Method, r.URL.Path, b))
			w.WriteHeader(401)
			return
		}
		want := map[alert.Priority]string{alert.PriorityEmergency: "P1", alert.PriorityAlert: "P1", alert.PriorityCritical: "P2",
			alert.PriorityError: "P3", alert.PriorityWarning: "P4"}[e2ePriorityOf(a.Description)]
		if want == "" {
			want = "P5"
		}
		var problems []string
		if a.Priority != want || !strings.HasPrefix(a.Message, "e2e output ") || !strings.HasPrefix(a.Alias, "nightjar-") {
			problems = append(problems, fmt.Sprintf("opsgenie alert %s", b))
		}
		sink.add(a.Description, problems...)
		w.WriteHeader(202)
		io.WriteString(w, `{"result":"Request will be processed","took":0.1,"requestId":"x"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

var e2eSigV4 = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=` + e2eAWSKeyID + `/\d{8}/us-east-1/lambda/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$`)

func e2eLambda(t *testing.T, sink *e2eSink) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/2015-03-31/functions/e2e-fn/invocations" || !e2eSigV4.MatchString(r.Header.Get("Authorization")) {
			sink.add("?", fmt.Sprintf("%s %s auth %q", r.Method, r.URL.Path, r.Header.Get("Authorization")))
			w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
			w.WriteHeader(403)
			io.WriteString(w, `{"message":"denied"}`)
			return
		}
		a, err := alert.Decode(b)
		if err != nil {
			sink.add("?", "lambda payload: "+err.Error())
			w.WriteHeader(400)
			return
		}
		sink.add(a.Rule)
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// e2eSMTP is a mail server with STARTTLS (on a certificate made here) and
// AUTH PLAIN. It returns its address and the CA file.
func e2eSMTP(t *testing.T, sink *e2eSink) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e mail"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) { return &e2eSession{c: c, sink: sink}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String(), caFile
}

type e2eSession struct {
	c      *gosmtp.Conn
	sink   *e2eSink
	authed bool
}

func (s *e2eSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *e2eSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, u, p string) error {
		if u != "sidekick" || p != e2eSMTPPassword {
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.authed = true
		return nil
	}), nil
}
func (s *e2eSession) Mail(string, *gosmtp.MailOptions) error {
	if _, tlsOn := s.c.TLSConnectionState(); !tlsOn || !s.authed {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "STARTTLS and AUTH first"}
	}
	return nil
}
func (s *e2eSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *e2eSession) Reset()                                 {}
func (s *e2eSession) Logout() error                          { return nil }
func (s *e2eSession) Data(r io.Reader) error {
	m, err := netmail.ReadMessage(r)
	if err != nil {
		s.sink.add("?", "smtp message: "+err.Error())
		return nil
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	rule := m.Header.Get("X-Nightjar-Rule")
	var problems []string
	if p := e2ePriorityOf(rule); subject != "["+p.String()+"] e2e output "+p.String() || m.Header.Get("Message-ID") == "" {
		problems = append(problems, "smtp subject "+subject)
	}
	if mt, _, _ := mime.ParseMediaType(m.Header.Get("Content-Type")); mt != "multipart/alternative" {
		problems = append(problems, "smtp content type "+m.Header.Get("Content-Type"))
	}
	s.sink.add(rule, problems...)
	return nil
}

func e2eFreePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type e2eLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *e2eLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *e2eLog) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestAllOutputsFromEnvironment starts the real binary configured by
// environment variables alone, as `docker run -e SLACK_WEBHOOKURL=...`
// would, with the six destinations on local servers and a different
// minimum priority each, posts one alert of every priority, and checks
// that each destination got exactly the alerts its threshold lets through.
func TestAllOutputsFromEnvironment(t *testing.T) {
	bin := sidekickBinary(t)

	sinks := map[string]*e2eSink{}
	for _, n := range []string{"slack", "rocketchat", "datadog", "opsgenie", "lambda", "smtp"} {
		sinks[n] = &e2eSink{}
	}
	slackPath := "/services/T0E2E/B0E2E/" + e2eSlackToken
	rocketPath := "/hooks/e2eid/" + e2eRocketToken
	slackSrv := e2eChat(t, slackPath, sinks["slack"])
	rocketSrv := e2eChat(t, rocketPath, sinks["rocketchat"])
	ddSrv := e2eDatadog(t, sinks["datadog"])
	ogSrv := e2eOpsgenie(t, sinks["opsgenie"])
	lambdaSrv := e2eLambda(t, sinks["lambda"])
	smtpAddr, caFile := e2eSMTP(t, sinks["smtp"])

	// Each destination's threshold, all different.
	thresholds := map[string]alert.Priority{
		"slack": alert.PriorityDebug, "rocketchat": alert.PriorityNotice, "datadog": alert.PriorityWarning,
		"lambda": alert.PriorityError, "opsgenie": alert.PriorityCritical, "smtp": alert.PriorityEmergency,
	}
	port := e2eFreePort(t)
	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		// Debug logs every failed attempt with its error, so that the
		// secret check below covers the destinations' error texts.
		"DEBUG=true",
		"LISTENADDRESS=127.0.0.1", "LISTENPORT=" + strconv.Itoa(port),
		"QUEUE_DIR=" + filepath.Join(t.TempDir(), "queue"),
		"SLACK_WEBHOOKURL=" + slackSrv.URL + slackPath,
		"SLACK_MINIMUMPRIORITY=debug",
		"ROCKETCHAT_WEBHOOKURL=" + rocketSrv.URL + rocketPath,
		"ROCKETCHAT_MINIMUMPRIORITY=notice",
		"DATADOG_APIKEY=" + e2eDatadogKey, "DATADOG_HOST=" + ddSrv.URL,
		"DATADOG_MINIMUMPRIORITY=warning",
		"OPSGENIE_APIKEY=" + e2eGenieKey, "OPSGENIE_URL=" + ogSrv.URL,
		"OPSGENIE_MINIMUMPRIORITY=critical",
		"AWS_LAMBDA_FUNCTIONNAME=e2e-fn", "AWS_LAMBDA_MINIMUMPRIORITY=error",
		"AWS_ENDPOINT_URL=" + lambdaSrv.URL, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + e2eAWSKeyID, "AWS_SECRET_ACCESS_KEY=" + e2eAWSSecret,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"SMTP_HOSTPORT=" + smtpAddr, "SMTP_CACERTFILE=" + caFile,
		"SMTP_USER=sidekick", "SMTP_PASSWORD=" + e2eSMTPPassword,
		"SMTP_FROM=nightjar@example.com", "SMTP_TO=soc@example.com,oncall@example.com",
		"SMTP_MINIMUMPRIORITY=emergency",
	}
	logs := &e2eLog{}
	cmd := exec.Command(bin)
	cmd.Env, cmd.Stderr, cmd.Stdout = env, logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("sidekick exited:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sidekick not up after 30s:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	for i, p := range alert.Priorities() {
		body, _ := json.Marshal(map[string]any{
			"uuid":     fmt.Sprintf("e2e00000-0000-4000-8000-%012d", i),
			"output":   "e2e output " + p.String(),
			"priority": p.String(), "rule": e2eRule(p),
			"time":   time.Now().UTC().Format(time.RFC3339Nano),
			"source": "syscall", "hostname": "e2e-host", "tags": []string{"e2e"},
			"output_fields": map[string]any{"proc.name": "sh", "fd.name": "/etc/shadow", "evt.time": 1764433916746609046},
		})
		resp, err := http.Post(base+"/", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d", p, resp.StatusCode)
		}
	}

	want := map[string][]string{}
	for name, th := range thresholds {
		for _, p := range alert.Priorities() {
			if p.AtLeast(th) {
				want[name] = append(want[name], e2eRule(p))
			}
		}
		sort.Strings(want[name])
	}
	// Wait for every destination to have its count, then a little longer
	// so that an alert that should not arrive has had the time to.
	deadline = time.Now().Add(60 * time.Second)
	for {
		done := true
		for name, s := range sinks {
			got, _ := s.snapshot()
			done = done && len(got) >= len(want[name])
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	for name, s := range sinks {
		got, problems := s.snapshot()
		if strings.Join(got, "|") != strings.Join(want[name], "|") {
			t.Errorf("%s (minimum %s) received %q, want %q", name, thresholds[name], got, want[name])
		}
		for _, p := range problems {
			t.Errorf("%s: %s", name, p)
		}
	}
	out := logs.String()
	for _, secret := range []string{e2eSlackToken, e2eRocketToken, e2eDatadogKey, e2eGenieKey, e2eAWSSecret, e2eSMTPPassword} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q in the sidekick's log", secret)
		}
	}
	// The first Datadog answer echoed the key; its text must be in the log,
	// scrubbed.
	if !strings.Contains(out, "internal error for key <secret>") || !strings.Contains(out, "rate_limited") {
		t.Errorf("the log does not show the destinations' errors, scrubbed")
	}
	if t.Failed() {
		t.Logf("sidekick log:\n%s", out)
	}
}
