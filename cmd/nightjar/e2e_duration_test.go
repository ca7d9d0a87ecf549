package main

import (
	"context"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// -M SECONDS is seconds of capture, as in Falco: counted from the
// "capturing" line (the eBPF programs loaded and attached), not from
// start-up, which takes a second or more.
func TestDurationCountsFromCapture(t *testing.T) {
	requireRoot(t)
	bin := nightjarBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "-M", "2", "-o", "stdout_output.enabled=false").CombinedOutput()
	if err != nil {
		t.Fatalf("nightjar -M 2: %v\n%s", err, out)
	}
	at := func(msg string) time.Time {
		t.Helper()
		m := regexp.MustCompile(`(?m)^time=(\S+) level=INFO msg=` + msg + `\b`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no %s line:\n%s", msg, out)
		}
		ts, err := time.Parse(time.RFC3339, string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	capturing, stopping := at("capturing"), at("stopping")
	// Log times are truncated to the millisecond, both the same way.
	if got := stopping.Sub(capturing); got < 2*time.Second {
		t.Fatalf("captured for %s, want at least 2s (start-up took %s):\n%s", got, capturing.Sub(start.Truncate(time.Millisecond)), out)
	}
}
