package forwarder

import (
	"context"
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
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/forwarder/config"
)

// pki makes a CA and a certificate it signs, in PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	pool   *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.crt", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(p.dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// issue returns cert and key files for a server (127.0.0.1) or client.
func (p *pki) issue(t *testing.T, name string, server bool) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile = p.write(t, name+".crt", "CERTIFICATE", der)
	keyFile = p.write(t, name+".key", "EC PRIVATE KEY", kder)
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// start runs a sidekick from environment-style settings on a loopback port.
func start(t *testing.T, env ...string) *Sidekick {
	t.Helper()
	env = append(env, "QUEUE_DIR="+t.TempDir())
	cfg, err := config.Parse(nil, env, OutputTypes)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := New(context.Background(), Options{Config: cfg, Listener: ln, NoTLSListener: plain, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	go sk.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sk.Shutdown(ctx)
	})
	return sk
}

func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	cert, key, _ := p.issue(t, "server", true)
	sk := start(t, "TLSSERVER_DEPLOY=true", "TLSSERVER_CERTFILE="+cert, "TLSSERVER_KEYFILE="+key)
	url := "https://" + sk.Addr().String() + "/ping"
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	if code, body, err := get(c, url); err != nil || code != 200 || body != "pong\n" {
		t.Fatalf("https: %d %q %v", code, body, err)
	}
	// Plain HTTP to the TLS port is refused.
	if code, _, err := get(http.DefaultClient, "http://"+sk.Addr().String()+"/ping"); err == nil && code == 200 {
		t.Fatal("plain HTTP served on the TLS port")
	}
	// tlsserver.notlspaths (default /ping) are served without TLS on
	// tlsserver.notlsport, and nothing else is.
	plain := "http://" + sk.plainLn.Addr().String()
	if code, body, err := get(http.DefaultClient, plain+"/ping"); err != nil || code != 200 || body != "pong\n" {
		t.Fatalf("notls /ping: %d %q %v", code, body, err)
	}
	if code, _, err := get(http.DefaultClient, plain+"/healthz"); err != nil || code != 404 {
		t.Fatalf("notls /healthz: %d %v", code, err)
	}
	resp, err := http.Post(plain+"/", "application/json", strings.NewReader("{}"))
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("notls POST /: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	cert, key, _ := p.issue(t, "server", true)
	_, _, client := p.issue(t, "client", false)
	sk := start(t, "TLSSERVER_DEPLOY=true", "TLSSERVER_CERTFILE="+cert, "TLSSERVER_KEYFILE="+key,
		"TLSSERVER_MUTUALTLS=true", "TLSSERVER_CACERTFILE="+p.caFile)
	url := "https://" + sk.Addr().String() + "/ping"
	with := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{client}}}}
	if code, _, err := get(with, url); err != nil || code != 200 {
		t.Fatalf("with a client certificate: %d %v", code, err)
	}
	without := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	if _, _, err := get(without, url); err == nil {
		t.Fatal("served a client without a certificate")
	}
	// A certificate from another CA is refused too.
	_, _, stranger := newPKI(t).issue(t, "stranger", false)
	other := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{stranger}}}}
	if _, _, err := get(other, url); err == nil {
		t.Fatal("served a client with a certificate from another CA")
	}
}

func TestStartupErrors(t *testing.T) {
	cfg, err := config.Parse(nil, []string{"TLSSERVER_DEPLOY=true", "TLSSERVER_CERTFILE=/nonexistent.crt", "TLSSERVER_KEYFILE=/nonexistent.key", "QUEUE_DIR=" + t.TempDir()}, OutputTypes)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	if _, err := New(context.Background(), Options{Config: cfg, Listener: ln}); err == nil || !strings.Contains(err.Error(), "tlsserver.certfile") {
		t.Fatalf("New = %v", err)
	}
	// A port in use names the keys.
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	cfg, err = config.Parse(nil, []string{"LISTENADDRESS=127.0.0.1", "LISTENPORT=" + itoa(port), "QUEUE_DIR=" + t.TempDir()}, OutputTypes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "listenaddress, listenport") {
		t.Fatalf("New = %v", err)
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// Routing through the whole pipeline: named webhook instances, a routes
// table, the real queue and dispatch, real HTTP sinks.
func TestRoutesEndToEnd(t *testing.T) {
	type hit struct{ sink, rule string }
	hits := make(chan hit, 16)
	sink := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var a struct{ Rule string }
			json.NewDecoder(r.Body).Decode(&a)
			hits <- hit{name, a.Rule}
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	yml := fmt.Sprintf(`
outputs:
  pager: {type: webhook, address: %s}
  chat: {type: webhook, address: %s, minimumpriority: notice}
routes:
  - name: page
    match: {priority: critical}
    outputs: [pager]
  - name: rest
    outputs: [chat]
`, sink("pager"), sink("chat"))
	cfg, err := config.Parse([]byte(yml), []string{"QUEUE_DIR=" + t.TempDir()}, OutputTypes)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	sk, err := New(context.Background(), Options{Config: cfg, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	go sk.Serve()
	defer sk.Shutdown(context.Background())
	base := "http://" + sk.Addr().String()
	for _, a := range []struct{ prio, rule string }{{"Critical", "crit"}, {"Warning", "warn"}, {"Debug", "debug"}} {
		body := fmt.Sprintf(`{"output":"x","priority":%q,"rule":%q,"time":"2026-11-29T16:31:56Z"}`, a.prio, a.rule)
		resp, err := http.Post(base+"/", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST %s: %v %v", a.rule, resp, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(base+"/test", "application/json", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /test: %v %v", resp, err)
	}
	resp.Body.Close()
	// crit -> pager only; warn -> chat; debug -> nowhere (chat's threshold);
	// the test alert -> both, thresholds and routes notwithstanding.
	want := map[hit]bool{{"pager", "crit"}: true, {"chat", "warn"}: true, {"pager", "Test rule"}: true, {"chat", "Test rule"}: true}
	for len(want) > 0 {
		select {
		case h := <-hits:
			if !want[h] {
				t.Fatalf("unexpected delivery %+v", h)
			}
			delete(want, h)
		case <-time.After(15 * time.Second):
			t.Fatalf("missing deliveries %v", want)
		}
	}
	select {
	case h := <-hits:
		t.Fatalf("unexpected delivery %+v", h)
	case <-time.After(200 * time.Millisecond):
	}
}
