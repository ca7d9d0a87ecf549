// Package outputstest holds what the destination packages' tests share, in
// the manner of net/http/httptest.
package outputstest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/outputs"
)

// Recv takes what a test server saw of one request; a request that never
// came fails the test instead of hanging it.
func Recv[T any](tb testing.TB, ch chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatal("the server got no request")
		panic("unreachable")
	}
}

// CheckCert is every HTTP output's checkcert test against a TLSServer
// whose requests arrive on ch: checkCert (the output's setting, which must
// default to true) makes send fail on the server's certificate, an
// httptest certificate no client trusts, classified as outputs.TransportError
// classifies every connection failure (retryable, with Go's reason) and
// before any request arrives; set to false, send delivers one request, to
// wantPath ("" for any path). send builds the output from the config it
// reads checkCert from.
func CheckCert(tb testing.TB, checkCert *bool, send func() error, ch chan string, wantPath string) {
	tb.Helper()
	if !*checkCert {
		tb.Fatal("checkcert is not true by default")
	}
	d := outputs.Classify(send())
	if d == nil || !d.Retryable || d.StatusCode != 0 || !strings.Contains(d.Reason, "x509: certificate signed by unknown authority") {
		tb.Fatalf("untrusted certificate: got %#v, want a retryable certificate error", d)
	}
	if len(ch) != 0 {
		tb.Fatalf("a request reached the server despite its certificate: %s", <-ch)
	}
	*checkCert = false
	if err := send(); err != nil {
		tb.Fatalf("checkcert false: %v", err)
	}
	if p := Recv(tb, ch); (wantPath != "" && p != wantPath) || len(ch) != 0 {
		tb.Fatalf("requests: %s and %d more, want one to %s", p, len(ch), wantPath)
	}
}

// TLSServer is a destination on HTTPS with httptest's self-signed
// certificate, which no client trusts unless told not to check: it answers
// every request with status and the JSON body, and hands the request's path
// to the test.
func TLSServer(tb testing.TB, status int, body string) (*httptest.Server, chan string) {
	ch := make(chan string, 10)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	// The refused handshakes are the point; their log lines are noise.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tb.Cleanup(srv.Close)
	return srv, ch
}
