package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	check := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := healthcheck(args, &out, &out)
		return code, out.String()
	}
	var path string
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { path = r.URL.Path }))
	defer ok.Close()
	if code, out := check("--url", ok.URL+"/metrics"); code != 0 || !strings.Contains(out, "healthy") || path != "/metrics" {
		t.Errorf("healthy endpoint: %d %q (path %s)", code, out, path)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer bad.Close()
	if code, out := check("--url", bad.URL+"/metrics"); code != 1 || !strings.Contains(out, "unhealthy: 500") {
		t.Errorf("500: %d %q", code, out)
	}
	// Nothing listening, as when metrics are off: the message says so.
	if code, out := check("--url", "http://127.0.0.1:1/metrics"); code != 1 || !strings.Contains(out, "unhealthy") || !strings.Contains(out, "metrics.enabled") {
		t.Errorf("closed port: %d %q", code, out)
	}
	if code, out := check("--url", "http://%zz"); code != 1 {
		t.Errorf("bad URL: %d %q", code, out)
	}
	if code, _ := check("--bogus"); code != 1 {
		t.Errorf("unknown flag: %d", code)
	}
}
