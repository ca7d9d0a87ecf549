package smtp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/outputs"
	"github.com/nightjar-sec/nightjar/outputs/outputstest"
)

const (
	user     = "alerts@example.com"
	password = "smtp-pa55word-secret"
)

func testAlert() *alert.Alert {
	return &alert.Alert{
		UUID:   "4b5c6f0e-0000-4000-8000-000000000001",
		Output: "16:31:56.746609046: Critical Shell spawned in container <script>(user=root)", Priority: alert.PriorityCritical,
		Rule: "Terminal shell in container", Time: time.Date(2026, 11, 29, 16, 31, 56, 0, time.UTC),
		Source: "syscall", Hostname: "node-1", Tags: []string{"container", "shell"},
		OutputFields: alert.Fields{"container.id": "abc123", "proc.pid": json.Number("42"), "k8s.ns.name": nil},
	}
}

// certificate makes a self-signed certificate for 127.0.0.1 and writes it
// as a PEM file that smtp.cacertfile can name.
func certificate(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test mail server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// received is one delivered message and how it got there.
type received struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	authMech string
}

// mailServer is an in-process SMTP server: STARTTLS (or implicit TLS) on a
// test certificate, AUTH PLAIN, LOGIN and CRAM-MD5 for one user, and an
// optional reply that refuses every message.
type mailServer struct {
	addr    string
	caFile  string
	got     chan received
	mu      sync.Mutex
	refuse  *gosmtp.SMTPError // answer to DATA, when set
	authed  int
	srv     *gosmtp.Server
	mechsOK []string
}

// plain makes a server without STARTTLS and without AUTH.
func newMailServer(t *testing.T, implicit, plain bool) *mailServer {
	t.Helper()
	cert, caFile := certificate(t)
	ms := &mailServer{caFile: caFile, got: make(chan received, 10), mechsOK: []string{sasl.Plain, sasl.Login, "CRAM-MD5"}}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &session{ms: ms, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if plain {
		ms.mechsOK = nil
	} else {
		s.TLSConfig = tlsConf
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		l = tls.NewListener(l, tlsConf)
	}
	ms.addr, ms.srv = l.Addr().String(), s
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return ms
}

type session struct {
	ms   *mailServer
	conn *gosmtp.Conn
	r    received
}

func (s *session) AuthMechanisms() []string { return s.ms.mechsOK }

func (s *session) Auth(mech string) (sasl.Server, error) {
	done := func(u, p string) error {
		if u != user || p != password {
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.r.authMech = mech
		s.ms.mu.Lock()
		s.ms.authed++
		s.ms.mu.Unlock()
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, u, p string) error { return done(u, p) }), nil
	case sasl.Login:
		return &loginServer{done: done}, nil
	case "CRAM-MD5":
		return &cramServer{done: done}, nil
	}
	return nil, errors.New("unsupported mechanism")
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.r.authMech == "" && len(s.ms.mechsOK) > 0 {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	_, s.r.tls = s.conn.TLSConnectionState()
	s.r.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.r.to = append(s.r.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	refuse := s.ms.refuse
	s.ms.mu.Unlock()
	if refuse != nil {
		return refuse
	}
	s.r.data = b
	s.ms.got <- s.r
	return nil
}

func (s *session) Reset()        { s.r = received{authMech: s.r.authMech} }
func (s *session) Logout() error { return nil }

// loginServer is the LOGIN mechanism: username and password, each asked for.
type loginServer struct {
	user string
	step int
	done func(u, p string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case l.step == 0 && resp == nil:
		return []byte("Username:"), false, nil
	case l.step == 0:
		l.user, l.step = string(resp), 1
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.done(l.user, string(resp))
	}
}

// cramServer is CRAM-MD5 (RFC 2195): a challenge, answered with the user
// and the HMAC-MD5 of the challenge keyed by the password.
type cramServer struct {
	challenge string
	done      func(u, p string) error
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		c.challenge = fmt.Sprintf("<%d.%d@localhost>", time.Now().UnixNano(), os.Getpid())
		return []byte(c.challenge), false, nil
	}
	u, digest, ok := strings.Cut(string(resp), " ")
	if !ok {
		return nil, true, errors.New("malformed CRAM-MD5 response")
	}
	mac := hmac.New(md5.New, []byte(password))
	mac.Write([]byte(c.challenge))
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(digest)) {
		return nil, true, c.done(u, "wrong digest")
	}
	return nil, true, c.done(u, password)
}

func config(ms *mailServer) *Config {
	c := NewConfig()
	c.HostPort, c.CACertFile = ms.addr, ms.caFile
	c.User, c.Password = user, password
	c.From, c.To = "Nightjar <nightjar@example.com>", "soc@example.com, oncall@example.com"
	return c
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

func TestSTARTTLSAuthAndMultipartMessage(t *testing.T) {
	ms := newMailServer(t, false, false)
	if err := build(t, config(ms)).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	r := outputstest.Recv(t, ms.got)
	if !r.tls || r.authMech != sasl.Plain || r.from != "nightjar@example.com" || strings.Join(r.to, ",") != "soc@example.com,oncall@example.com" {
		t.Fatalf("envelope: tls %v auth %q from %q to %v", r.tls, r.authMech, r.from, r.to)
	}
	msg, err := netmail.ReadMessage(strings.NewReader(string(r.data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "[Critical] 16:31:56.746609046: Critical Shell spawned in container <script>(user=root)" {
		t.Fatalf("Subject %q (%v)", subject, err)
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(testAlert().Time) {
		t.Fatalf("Date %q: %v", msg.Header.Get("Date"), err)
	}
	if id := msg.Header.Get("Message-ID"); id != "<4b5c6f0e-0000-4000-8000-000000000001@nightjar-sidekick>" {
		t.Fatalf("Message-ID %q", id)
	}
	if to, err := msg.Header.AddressList("To"); err != nil || len(to) != 2 {
		t.Fatalf("To %q", msg.Header.Get("To"))
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p)
		parts[ct] = string(b)
	}
	text, html := parts["text/plain"], parts["text/html"]
	for _, want := range []string{"Rule:     Terminal shell in container", "Priority: Critical", "Hostname: node-1", "Tags:     container, shell", "container.id: abc123", "proc.pid: 42", "k8s.ns.name: <NA>"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(html, "<code>abc123</code>") || !strings.Contains(html, "&lt;script&gt;") || strings.Contains(html, "<script>") {
		t.Errorf("HTML part wrong or unescaped:\n%s", html)
	}
}

func TestMechanismsAndModes(t *testing.T) {
	for _, tc := range []struct {
		name, tls, mech string
		implicit        bool
		wantTLS         bool
	}{
		{"login", "starttls", "login", false, true},
		{"cram-md5", "true", "cram-md5", false, true},
		{"implicit", "implicit", "plain", true, true},
		{"opportunistic", "opportunistic", "plain", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := newMailServer(t, tc.implicit, false)
			c := config(ms)
			c.TLS, c.AuthMechanism, c.OutputFormat = tc.tls, tc.mech, "text"
			if err := build(t, c).Send(context.Background(), testAlert()); err != nil {
				t.Fatal(err)
			}
			r := outputstest.Recv(t, ms.got)
			if r.tls != tc.wantTLS || !strings.EqualFold(r.authMech, tc.mech) {
				t.Fatalf("tls %v auth %q", r.tls, r.authMech)
			}
			msg, _ := netmail.ReadMessage(strings.NewReader(string(r.data)))
			if mt, _, _ := mime.ParseMediaType(msg.Header.Get("Content-Type")); mt != "text/plain" {
				t.Fatalf("outputformat text sent %q", msg.Header.Get("Content-Type"))
			}
		})
	}
}

func TestNoTLSNoAuth(t *testing.T) {
	ms := newMailServer(t, false, true)
	c := config(ms)
	c.TLS, c.AuthMechanism, c.User, c.Password = "none", "", "", ""
	if err := build(t, c).Send(context.Background(), testAlert()); err != nil {
		t.Fatal(err)
	}
	if r := outputstest.Recv(t, ms.got); r.tls || r.authMech != "" {
		t.Fatalf("tls %v auth %q", r.tls, r.authMech)
	}
	// Mandatory STARTTLS refuses such a server rather than sending in clear.
	c = config(ms)
	c.AuthMechanism, c.User, c.Password = "none", "", ""
	if err := build(t, c).Send(context.Background(), testAlert()); err == nil {
		t.Fatal("mail sent in clear despite mandatory STARTTLS")
	}
}

func TestFailuresAreClassifiedAndScrubbed(t *testing.T) {
	ms := newMailServer(t, false, false)
	// Wrong password: 535, permanent, and the password never shows.
	c := config(ms)
	c.Password = "wrong-" + password
	err := build(t, c).Send(context.Background(), testAlert())
	d := outputs.Classify(err)
	if d == nil || d.Retryable || !strings.Contains(d.Reason, "535") || strings.Contains(err.Error(), password) {
		t.Fatalf("bad credentials: %#v", d)
	}
	// 451 (the SMTP way of "try later", as 429 is HTTP's): retryable.
	for _, tc := range []struct {
		reply     gosmtp.SMTPError
		retryable bool
	}{
		{gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "Rate limited, try again later"}, true},
		{gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}, true},
		{gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Message rejected as spam " + password}, false},
	} {
		ms.mu.Lock()
		ms.refuse = &tc.reply
		ms.mu.Unlock()
		err := build(t, config(ms)).Send(context.Background(), testAlert())
		d := outputs.Classify(err)
		if d == nil || d.Retryable != tc.retryable || !strings.Contains(d.Reason, tc.reply.Message[:10]) {
			t.Errorf("%d classified as %#v", tc.reply.Code, d)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("password in %q", err)
		}
	}
}

func TestTimeoutAndRefused(t *testing.T) {
	// A server that accepts the connection and never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c := NewConfig()
	c.HostPort, c.From, c.To, c.User, c.Password = l.Addr().String(), "n@example.com", "s@example.com", user, password
	c.Timeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = build(t, c).Send(ctx, testAlert())
	if d := outputs.Classify(err); d == nil || !d.Retryable || strings.Contains(err.Error(), password) {
		t.Fatalf("silent server: %#v", d)
	}

	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l2.Addr().String()
	l2.Close()
	c.HostPort = addr
	err = build(t, c).Send(context.Background(), testAlert())
	if d := outputs.Classify(err); d == nil || !d.Retryable {
		t.Fatalf("refused: %#v", d)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.HostPort = "mail.example.com" }, "smtp.hostport"},
		{func(c *Config) { c.HostPort = "mail.example.com:smtp" }, "smtp.hostport"},
		{func(c *Config) { c.TLS = "maybe" }, "smtp.tls"},
		{func(c *Config) { c.AuthMechanism = "xoauth2" }, "smtp.authmechanism"},
		{func(c *Config) { c.Password = "" }, "smtp.user"},
		{func(c *Config) { c.From = "not an address" }, "smtp.from"},
		{func(c *Config) { c.To = "a@example.com, bad address" }, "smtp.to"},
		{func(c *Config) { c.To = " , " }, "smtp.to"},
		{func(c *Config) { c.OutputFormat = "markdown" }, "smtp.outputformat"},
		{func(c *Config) { c.CACertFile = "/nonexistent/ca.pem" }, "smtp.cacertfile"},
	} {
		c := NewConfig()
		c.HostPort, c.User, c.Password, c.From, c.To = "mail.example.com:587", user, password, "n@example.com", "s@example.com"
		tc.mod(c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), password) {
			t.Errorf("Validate() = %v, want error naming %s", err, tc.want)
		}
	}
	c := NewConfig()
	c.HostPort, c.From, c.To, c.TLS = "mail.example.com:25", "n@example.com", "s@example.com", "false"
	if err := c.Validate(); err != nil || c.AuthMechanism != "none" || c.TLS != TLSNone {
		t.Fatalf("falcosidekick-style config: %v (auth %q tls %q)", err, c.AuthMechanism, c.TLS)
	}
}

func TestAutoTLS(t *testing.T) {
	for _, tc := range []struct {
		tls  string
		port int
		want string
	}{
		{"", 465, TLSImplicit}, {"true", 587, TLSStartTLS}, {"auto", 25, TLSStartTLS},
		{"starttls", 465, TLSStartTLS}, {"false", 465, TLSNone}, {"ssl", 2465, TLSImplicit},
	} {
		c := NewConfig()
		c.HostPort, c.From, c.To, c.TLS = fmt.Sprintf("mail.example.com:%d", tc.port), "n@example.com", "s@example.com", tc.tls
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := resolveTLS(c.TLS, tc.port); got != tc.want {
			t.Errorf("tls %q on port %d: %s, want %s", tc.tls, tc.port, got, tc.want)
		}
	}
}
