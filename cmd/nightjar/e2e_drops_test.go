package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

// A kernel ring too small for a burst loses events: nightjar says so with
// the internal alert and in its metrics.
//
// Not parallel: the bursts would overflow the rings of the other tests'
// detectors too, and make them miss the behaviours they wait for.
func TestKernelDropsRaiseInternalAlert(t *testing.T) {
	requireRoot(t)
	r := newReceiver(t)
	p := startNightjar(t, r, "-o", "syscall_buf_size=4096", "-o", "metrics.enabled=true",
		"-o", "metrics.listen_address=127.0.0.1:0")
	m := regexp.MustCompile(`msg="metrics on GET /metrics" address=(\S+)`).FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", p.log())
	}
	h := helperAs(t, t.TempDir(), "njburst")
	var a *alert.Alert
	for i := 0; i < 5 && a == nil; i++ {
		runHelper(t, h, "open-many", "/etc/hostname", "20000")
		a, _ = r.wait(3*time.Second, func(a *alert.Alert) bool { return a.Rule == "Nightjar dropped events" })
	}
	if a == nil {
		t.Fatalf("no internal drop alert after 5 bursts of 20000 opens into a 4 KiB ring\n%s", p.log())
	}
	n, _ := num(a.OutputFields["n_drops_kernel_ring"])
	if a.Source != "internal" || a.Priority != alert.PriorityError || n <= 0 {
		t.Fatalf("drop alert: %+v", a)
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, metric := range []string{"nightjar_kernel_events_dropped_total", "nightjar_drop_alerts_total"} {
		mm := regexp.MustCompile(`(?m)^` + metric + ` (\S+)$`).FindStringSubmatch(string(body))
		if mm == nil {
			t.Errorf("metrics lack %s:\n%s", metric, body)
			continue
		}
		if v, _ := strconv.ParseFloat(mm[1], 64); v <= 0 {
			t.Errorf("%s = %s, want > 0", metric, mm[1])
		}
	}
	if !strings.Contains(string(body), `nightjar_alerts_total{priority="Error",rule="Nightjar dropped events",source="internal"}`) {
		t.Errorf("the drop alert is not counted in nightjar_alerts_total")
	}
}
