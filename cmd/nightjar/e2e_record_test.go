package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/alert"
)

// --record writes what the kernel delivered; -e replays it through the same
// processor and rules, and raises the same alert for the same process.
func TestRecordAndReplay(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := t.TempDir()
	rec := filepath.Join(dir, "capture.njr")
	r := newReceiver(t)
	p := startNightjar(t, r, "--record", rec)
	pid := runHelper(t, helperAs(t, dir, "njrec"), "open", "/etc/shadow")
	live := expectAlert(t, r, p, "live", alert.PriorityWarning, byPID("Sensitive file read by untrusted program", pid), nil)
	p.stop()
	if live == nil {
		return
	}

	out, err := exec.Command(nightjarBinary(t), "-e", rec, "-o", "json_output=true").Output()
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	var replayed *alert.Alert
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		a, err := alert.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("replay printed a bad alert: %v\n%s", err, sc.Text())
		}
		if byPID("Sensitive file read by untrusted program", pid)(a) {
			replayed = a
		}
	}
	if replayed == nil {
		t.Fatalf("the replay did not raise the recorded alert; it printed:\n%s", out)
	}
	if replayed.Output != live.Output || !replayed.Time.Equal(live.Time) {
		t.Errorf("replayed alert differs:\nlive   %s\nreplay %s", live.Output, replayed.Output)
	}
	if !strings.Contains(replayed.Output, "process=njrec") {
		t.Errorf("replayed output: %s", replayed.Output)
	}
}
