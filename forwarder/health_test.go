package forwarder

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// /healthz shows each output's live delivery state, through the real
// wiring: the real queue and dispatcher, the webhook output, a destination
// that answers 500 and then 200.
func TestHealthzShowsDeliveryState(t *testing.T) {
	const token = "s3cr3t-t0ken-42"
	var failing atomic.Bool
	failing.Store(true)
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			// Destinations echo what they were sent: the token must not
			// reach /healthz.
			http.Error(w, "upstream broken while handling "+r.URL.Path, http.StatusInternalServerError)
		}
	}))
	defer dest.Close()
	sk := start(t, "WEBHOOK_ADDRESS="+dest.URL+"/hook/"+token, "QUEUE_RETRYMIN=10ms", "QUEUE_RETRYMAX=50ms")
	base := "http://" + sk.Addr().String()

	type output struct {
		Name                string
		State               *string
		LastSuccess         time.Time
		LastFailure         time.Time
		LastError           string
		ConsecutiveFailures uint64
	}
	health := func() output {
		t.Helper()
		code, body, err := get(http.DefaultClient, base+"/healthz")
		if err != nil || code != 200 {
			t.Fatalf("healthz: %d %v %s", code, err, body)
		}
		var h struct{ Outputs []output }
		if err := json.Unmarshal([]byte(body), &h); err != nil || len(h.Outputs) != 1 || h.Outputs[0].Name != "webhook" {
			t.Fatalf("healthz: %v %s", err, body)
		}
		if h.Outputs[0].State == nil {
			t.Fatalf("healthz has no delivery state: %s", body)
		}
		return h.Outputs[0]
	}
	waitFor := func(what string, cond func(output) bool) output {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			o := health()
			if cond(o) {
				return o
			}
			if time.Now().After(deadline) {
				t.Fatalf("healthz never showed %s; last: %+v (state %s)", what, o, *o.State)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if o := health(); *o.State != "idle" || !o.LastSuccess.IsZero() || !o.LastFailure.IsZero() || o.ConsecutiveFailures != 0 {
		t.Fatalf("before any attempt: %+v (state %s)", o, *o.State)
	}
	before := time.Now()
	resp, err := http.Post(base+"/", "application/json", strings.NewReader(
		`{"output":"x","priority":"Warning","rule":"r","time":"2026-11-29T16:31:56Z"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /: %v %v", resp, err)
	}
	resp.Body.Close()

	o := waitFor("two failed attempts", func(o output) bool { return o.ConsecutiveFailures >= 2 })
	if *o.State != "failing" || !strings.Contains(o.LastError, "HTTP 500") || !strings.Contains(o.LastError, "<secret>") ||
		strings.Contains(o.LastError, token) || o.LastFailure.Before(before) || !o.LastSuccess.IsZero() {
		t.Fatalf("while failing: %+v (state %s)", o, *o.State)
	}

	failing.Store(false)
	o = waitFor("a success", func(o output) bool { return !o.LastSuccess.IsZero() })
	if *o.State != "ok" || o.ConsecutiveFailures != 0 || o.LastSuccess.Before(o.LastFailure) || o.LastFailure.IsZero() ||
		!strings.Contains(o.LastError, "HTTP 500") {
		t.Fatalf("after the success: %+v (state %s)", o, *o.State)
	}
}

// With authtoken set, /healthz (open to probes) shows an output's state but
// not its last error, which can quote the alert (a destination echoing the
// body it was sent); requests with the token see it, as they see the dead
// letters.
func TestHealthzErrorTextNeedsTheToken(t *testing.T) {
	const token = "healthz-token-77"
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		http.Error(w, "cannot take "+string(b), http.StatusInternalServerError)
	}))
	defer dest.Close()
	sk := start(t, "AUTHTOKEN="+token, "WEBHOOK_ADDRESS="+dest.URL+"/hook", "QUEUE_RETRYMIN=10ms", "QUEUE_RETRYMAX=50ms")
	base := "http://" + sk.Addr().String()
	req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(
		`{"output":"password=hunter2 in a command line","priority":"Warning","rule":"r","time":"2026-11-29T16:31:56Z"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /: %v %v", resp, err)
	}
	type output struct {
		State               string
		LastError           string
		ConsecutiveFailures uint64
	}
	health := func(withToken bool) output {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
		if withToken {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h struct{ Outputs []output }
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || len(h.Outputs) != 1 {
			t.Fatalf("healthz: %d %v", resp.StatusCode, err)
		}
		return h.Outputs[0]
	}
	deadline := time.Now().Add(15 * time.Second)
	for health(false).ConsecutiveFailures == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed attempt in 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if o := health(false); o.State != "failing" || o.LastError != "" {
		t.Fatalf("without the token: %+v, want failing and no error text", o)
	}
	if o := health(true); !strings.Contains(o.LastError, "HTTP 500") || !strings.Contains(o.LastError, "hunter2") {
		t.Fatalf("with the token: %+v, want the destination's answer", o)
	}
}
