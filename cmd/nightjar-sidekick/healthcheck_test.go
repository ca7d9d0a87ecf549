package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/forwarder"
	"github.com/nightjar-sec/nightjar/forwarder/config"
)

// testCert writes a self-signed certificate for the service's DNS name
// (not 127.0.0.1, as a real one would be), usable as its own CA and for
// client authentication too, and returns the certificate and key files.
func testCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nightjar-sidekick.nightjar.svc"},
		DNSNames:              []string{"nightjar-sidekick.nightjar.svc"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// probed is a stand-in sidekick that answers status on every path and
// records the paths asked for.
func probed(status int, paths chan<- string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case paths <- r.URL.Path:
		default:
		}
		w.WriteHeader(status)
	})
}

func port(t *testing.T, srv *httptest.Server) string {
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runHealthcheck(environ []string, args ...string) (int, string) {
	var out bytes.Buffer
	code := healthcheck(args, environ, &out, &out)
	return code, out.String()
}

func TestHealthcheckPlainHTTP(t *testing.T) {
	paths := make(chan string, 8)
	srv := httptest.NewServer(probed(http.StatusOK, paths))
	defer srv.Close()
	if code, out := runHealthcheck([]string{"LISTENPORT=" + port(t, srv)}); code != 0 || !strings.Contains(out, "healthy") {
		t.Fatalf("healthcheck: %d %s", code, out)
	}
	if p := <-paths; p != "/healthz" {
		t.Errorf("probed %s, want /healthz", p)
	}

	// A sidekick that answers 503 (its queue is gone), and none at all.
	bad := httptest.NewServer(probed(http.StatusServiceUnavailable, nil))
	defer bad.Close()
	if code, out := runHealthcheck([]string{"LISTENPORT=" + port(t, bad)}); code != 1 || !strings.Contains(out, "unhealthy") || !strings.Contains(out, "503") {
		t.Errorf("503: %d %s", code, out)
	}
	if code, out := runHealthcheck(nil, "--url", "http://127.0.0.1:1/healthz"); code != 1 || !strings.Contains(out, "unhealthy") {
		t.Errorf("closed port: %d %s", code, out)
	}
	// A configuration the sidekick would refuse is misuse, not ill health.
	if code, out := runHealthcheck([]string{"LISTENPORT=nope"}); code != 1 || !strings.Contains(out, "LISTENPORT") {
		t.Errorf("bad LISTENPORT: %d %s", code, out)
	}
}

// With tlsserver.deploy on, the sidekick speaks only HTTPS on its port: the
// check must too, or it is unhealthy for ever. The certificate names the
// service, not 127.0.0.1: the loopback self-check does not verify it.
func TestHealthcheckTLS(t *testing.T) {
	certFile, keyFile := testCert(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	paths := make(chan string, 8)
	srv := httptest.NewUnstartedServer(probed(http.StatusOK, paths))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	env := []string{"TLSSERVER_DEPLOY=true", "TLSSERVER_CERTFILE=" + certFile, "TLSSERVER_KEYFILE=" + keyFile, "LISTENPORT=" + port(t, srv)}
	if code, out := runHealthcheck(env); code != 0 {
		t.Fatalf("healthcheck over TLS: %d %s", code, out)
	}
	if p := <-paths; p != "/healthz" {
		t.Errorf("probed %s, want /healthz", p)
	}
	// The same server by a name other than loopback's is verified, and
	// this certificate is not one the system trusts.
	c, err := probeTLS(mustConfig(t, env), "10.1.2.3")
	if err != nil || c.InsecureSkipVerify {
		t.Errorf("probeTLS for a non-loopback host: skip verification=%v err=%v", c != nil && c.InsecureSkipVerify, err)
	}
	for _, h := range []string{"127.0.0.1", "::1", "localhost"} {
		if c, err := probeTLS(mustConfig(t, env), h); err != nil || !c.InsecureSkipVerify {
			t.Errorf("probeTLS(%s): %v", h, err)
		}
	}
}

// With mutual TLS the check has no client certificate of its own: it
// probes the plain port when that serves /healthz or /ping (falcosidekick's
// notlspaths, /ping by default), and presents the sidekick's own
// certificate when there is no plain port.
func TestHealthcheckMutualTLS(t *testing.T) {
	certFile, keyFile := testCert(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	paths := make(chan string, 8)
	srv := httptest.NewUnstartedServer(probed(http.StatusOK, paths))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	plain := httptest.NewServer(probed(http.StatusOK, paths))
	defer plain.Close()
	env := []string{"TLSSERVER_DEPLOY=true", "TLSSERVER_MUTUALTLS=true", "TLSSERVER_CERTFILE=" + certFile, "TLSSERVER_KEYFILE=" + keyFile,
		"TLSSERVER_CACERTFILE=" + certFile, "LISTENPORT=" + port(t, srv), "TLSSERVER_NOTLSPORT=" + port(t, plain)}

	for _, c := range []struct {
		notls, want string
	}{{"", "/ping"}, {"/healthz,/ping", "/healthz"}} {
		e := env
		if c.notls != "" {
			e = append(e, "TLSSERVER_NOTLSPATHS="+c.notls)
		}
		if code, out := runHealthcheck(e); code != 0 {
			t.Fatalf("notlspaths %q: %d %s", c.notls, code, out)
		}
		if p := <-paths; p != c.want {
			t.Errorf("notlspaths %q: probed %s, want %s on the plain port", c.notls, p, c.want)
		}
	}

	// No plain port: over TLS, with the sidekick's own certificate.
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("tlsserver:\n  notlspaths: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runHealthcheck(env, "-c", cfg); code != 0 {
		t.Fatalf("no plain port: %d %s", code, out)
	}
	if p := <-paths; p != "/healthz" {
		t.Errorf("no plain port: probed %s, want /healthz", p)
	}
}

func mustConfig(t *testing.T, env []string) *config.Config {
	t.Helper()
	cfg, err := config.Load("", env, forwarder.OutputTypes)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The real sidekick over TLS, and its healthcheck from the same
// environment, as in the image with TLSSERVER_DEPLOY=true.
func TestHealthcheckRealSidekickTLS(t *testing.T) {
	certFile, keyFile := testCert(t)
	env := []string{
		"LISTENADDRESS=127.0.0.1",
		"LISTENPORT=" + strconv.Itoa(freePort(t)),
		"QUEUE_DIR=" + t.TempDir(),
		"TLSSERVER_DEPLOY=true", "TLSSERVER_CERTFILE=" + certFile, "TLSSERVER_KEYFILE=" + keyFile,
		"TLSSERVER_NOTLSPORT=" + strconv.Itoa(freePort(t)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, env, io.Discard, &logs) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := runHealthcheck(env, "--timeout", "1s")
		if code == 0 {
			break
		}
		select {
		case c := <-done:
			t.Fatalf("the sidekick exited %d:\n%s", c, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never healthy: %d %s\n%s", code, out, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("no graceful stop")
	}
}

// A redirect is unhealthy, not followed: following it would take the check
// (and, with mutual TLS, the sidekick's certificate) elsewhere, unverified.
func TestHealthcheckDoesNotFollowRedirects(t *testing.T) {
	certFile, keyFile := testCert(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := make(chan string, 1)
	other := httptest.NewServer(probed(http.StatusOK, elsewhere))
	defer other.Close()
	srv := httptest.NewUnstartedServer(http.RedirectHandler(other.URL+"/healthz", http.StatusFound))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	env := []string{"TLSSERVER_DEPLOY=true", "TLSSERVER_CERTFILE=" + certFile, "TLSSERVER_KEYFILE=" + keyFile, "LISTENPORT=" + port(t, srv)}
	if code, out := runHealthcheck(env); code != 1 || !strings.Contains(out, "302") {
		t.Fatalf("healthcheck answered by a redirect: %d %s, want 1 and the 302", code, out)
	}
	select {
	case p := <-elsewhere:
		t.Fatalf("the check followed the redirect to %s", p)
	default:
	}
}
