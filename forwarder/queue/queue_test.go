package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nightjar-sec/nightjar/alert"
	"github.com/nightjar-sec/nightjar/forwarder/queue/queuetest"
)

func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	return cfg
}

func testAlert(i int) *alert.Alert {
	return &alert.Alert{
		UUID:         fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		Output:       fmt.Sprintf("alert %d", i),
		Priority:     alert.PriorityWarning,
		Rule:         "Test rule",
		Time:         time.Date(2026, 11, 29, 16, 31, 56, 746609046, time.UTC),
		Source:       "syscall",
		OutputFields: alert.Fields{"proc.cmdline": "cat /etc/shadow"},
	}
}

func open(t *testing.T, cfg Config, outs ...string) *Queue {
	t.Helper()
	q, err := Open(context.Background(), cfg, outs, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return q
}

// take pulls n deliveries of output and acks them, returning their uuids.
// Its AckWait is well inside its wait: a delivery handed back just before
// a restart (ReleaseBuffered) now and then still waits AckWait after it
// instead of coming at once (2 runs in 40 of TestRestartKeepsUnacked with
// the production-like 30 s), which at-least-once allows but a 10 s wait
// did not.
func take(t *testing.T, q *Queue, output string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := q.Consumer(ctx, output, ConsumerOptions{AckWait: 3 * time.Second, MaxAckPending: 1000})
	if err != nil {
		t.Fatal(err)
	}
	it, err := c.Messages(16)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for len(ids) < n {
		d, err := it.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d deliveries of %s: %v", len(ids), n, output, err)
		}
		if d.Alert == nil || d.Output != output || d.Attempt < 1 || time.Since(d.Enqueued) > time.Minute {
			t.Fatalf("bad delivery %+v", d)
		}
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.Alert.UUID)
	}
	// Hand back what the client buffered beyond n.
	it.ReleaseBuffered()
	q.nc.Flush()
	return ids
}

func waitDepth(t *testing.T, q *Queue, output string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := q.Depth()[output]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("depth of %s = %d, want %d", output, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEnqueueConsumeAck(t *testing.T) {
	q := open(t, testConfig(t), "webhook", "slack.ops")
	defer q.Close()
	ctx := context.Background()
	for i := range 5 {
		if err := q.Enqueue(ctx, testAlert(i), []string{"webhook", "slack.ops"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Enqueue(ctx, testAlert(5), []string{"webhook"}); err != nil {
		t.Fatal(err)
	}
	waitDepth(t, q, "webhook", 6)
	waitDepth(t, q, "slack.ops", 5)

	ids := take(t, q, "slack.ops", 5)
	slices.Sort(ids)
	if ids[0] != testAlert(0).UUID || ids[4] != testAlert(4).UUID {
		t.Errorf("slack.ops got %v", ids)
	}
	waitDepth(t, q, "slack.ops", 0)
	waitDepth(t, q, "webhook", 6)

	h := q.Health()
	if !h.Connected || h.Mode != "embedded" || h.Depth["webhook"] != 6 || h.Bytes == 0 || h.Error != "" {
		t.Errorf("health = %+v", h)
	}
}

func TestEnqueueAssignsUUIDAndDedupes(t *testing.T) {
	q := open(t, testConfig(t), "webhook")
	defer q.Close()
	ctx := context.Background()
	// A sender retrying the same alert (same uuid) stores it once.
	sent := testAlert(1)
	for range 2 {
		if err := q.Enqueue(ctx, sent, []string{"webhook"}); err != nil {
			t.Fatal(err)
		}
	}
	waitDepth(t, q, "webhook", 1)
	// By subject, not by sequence number: the test need not know what
	// else the stream has stored.
	m, err := q.deliver.GetLastMsgForSubject(ctx, q.deliverSubject("webhook"))
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != sent.UUID+"/webhook" {
		t.Errorf("message ID %q, want %q", id, sent.UUID+"/webhook")
	}

	// Without one, Enqueue assigns a uuid (also when no output takes the
	// alert) and stores no message ID: nothing could repeat it.
	a := testAlert(2)
	a.UUID = ""
	if err := q.Enqueue(ctx, a, nil); err != nil || a.UUID == "" {
		t.Fatalf("no uuid assigned without outputs (%v)", err)
	}
	a.UUID = ""
	if err := q.Enqueue(ctx, a, []string{"webhook"}); err != nil {
		t.Fatal(err)
	}
	if a.UUID == "" {
		t.Fatal("no uuid assigned")
	}
	waitDepth(t, q, "webhook", 2)
	m, err = q.deliver.GetLastMsgForSubject(ctx, q.deliverSubject("webhook"))
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != "" || !strings.Contains(string(m.Data), a.UUID) {
		t.Errorf("assigned uuid: message ID %q (want none), data %s", id, m.Data)
	}
}

func TestRestartKeepsUnacked(t *testing.T) {
	cfg := testConfig(t)
	q := open(t, cfg, "webhook")
	for i := range 10 {
		if err := q.Enqueue(context.Background(), testAlert(i), []string{"webhook"}); err != nil {
			t.Fatal(err)
		}
	}
	first := take(t, q, "webhook", 4)
	q.Close()

	q = open(t, cfg, "webhook")
	defer q.Close()
	waitDepth(t, q, "webhook", 6)
	rest := take(t, q, "webhook", 6)
	all := append(first, rest...)
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) != 10 {
		t.Fatalf("got %d distinct alerts across the restart, want 10: %v", len(all), all)
	}
}

func TestFullQueueRefusesNewAlerts(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBytes = 1 << 20
	q := open(t, cfg, "webhook")
	defer q.Close()
	big := strings.Repeat("x", 64<<10)
	var stored int
	var err error
	for i := range 100 {
		a := testAlert(i)
		a.Output = big
		if err = q.Enqueue(context.Background(), a, []string{"webhook"}); err != nil {
			break
		}
		stored++
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("after %d alerts: err = %v, want ErrFull", stored, err)
	}
	if stored < 10 {
		t.Fatalf("only %d alerts of 64 KiB fit in 1 MiB", stored)
	}
	// Nothing old was dropped to make room.
	waitDepth(t, q, "webhook", uint64(stored))
	// Draining makes room again.
	take(t, q, "webhook", stored)
	if err := q.Enqueue(context.Background(), testAlert(1000), []string{"webhook"}); err != nil {
		t.Fatalf("after draining: %v", err)
	}
}

func TestRemovedOutputGoesToDeadLetters(t *testing.T) {
	cfg := testConfig(t)
	q := open(t, cfg, "webhook", "old")
	for i := range 3 {
		if err := q.Enqueue(context.Background(), testAlert(i), []string{"webhook", "old"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Consumer(context.Background(), "old", ConsumerOptions{AckWait: time.Minute, MaxAckPending: 10}); err != nil {
		t.Fatal(err)
	}
	q.Close()

	q = open(t, cfg, "webhook")
	defer q.Close()
	waitDepth(t, q, "old", 0)
	waitDepth(t, q, "webhook", 3)
	var dl []DeadLetter
	deadline := time.Now().Add(10 * time.Second)
	for len(dl) < 3 && time.Now().Before(deadline) {
		var err error
		if dl, err = q.DeadLetters(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(dl) != 3 {
		t.Fatalf("dead letters = %d, want 3", len(dl))
	}
	for _, d := range dl {
		a, err := alert.Decode(d.Alert)
		if d.Output != "old" || d.Reason != ReasonRemoved || err != nil || d.Enqueued.IsZero() {
			t.Errorf("dead letter %+v (alert: %v)", d, err)
		} else if !strings.HasPrefix(a.UUID, "00000000-") {
			t.Errorf("dead letter alert uuid %q", a.UUID)
		}
	}
	// Its consumer is gone once drained.
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := q.deliver.Consumer(context.Background(), consumerName("old"))
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("consumer of the removed output still exists")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h := q.Health(); h.DeadLetters != 3 {
		t.Errorf("health dead letters = %d, want 3", h.DeadLetters)
	}
	if dl, _ := q.DeadLetters(context.Background(), 2); len(dl) != 2 {
		t.Errorf("DeadLetters(2) returned %d", len(dl))
	}
}

// TestExternalServer runs the same code against a NATS server reached over
// loopback TCP, as an external cluster would be.
func TestExternalServer(t *testing.T) {
	ns := queuetest.Server(t, 0)
	cfg := DefaultConfig()
	cfg.Dir = ""
	cfg.URL = ns.ClientURL()
	q := open(t, cfg, "webhook")
	defer q.Close()
	for i := range 3 {
		if err := q.Enqueue(context.Background(), testAlert(i), []string{"webhook"}); err != nil {
			t.Fatal(err)
		}
	}
	if h := q.Health(); !h.Connected || h.Mode != "external" || h.Depth["webhook"] != 3 {
		t.Errorf("health = %+v", h)
	}
	if got := take(t, q, "webhook", 3); len(got) != 3 {
		t.Fatal(got)
	}
	waitDepth(t, q, "webhook", 0)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.Dir = "" }, "queue.dir"},
		{func(c *Config) { c.URL = "http://x:4222" }, "queue.url"},
		{func(c *Config) { c.URL = "nats://user:hunter22@x:4222,::" }, "queue.url"},
		{func(c *Config) { c.CredentialsFile = "/nonexistent" }, "queue.credentialsfile"},
		{func(c *Config) { c.URL = "nats://x:4222"; c.CredentialsFile = "/nonexistent" }, "queue.credentialsfile"},
		{func(c *Config) { c.MaxBytes = 10 }, "queue.maxbytes"},
		{func(c *Config) { c.DeadLetterMaxBytes = 0 }, "queue.deadlettermaxbytes"},
		{func(c *Config) { c.Name = "a.b" }, "queue.name"},
		{func(c *Config) { c.Replicas = 3 }, "queue.replicas"},
		{func(c *Config) { c.Port = 70000 }, "queue.port"},
		{func(c *Config) { c.RetryMin = 0 }, "queue.retrymin"},
		{func(c *Config) { c.DedupWindow = 0 }, "queue.dedupwindow"},
		{func(c *Config) { c.RetryMax = time.Millisecond }, "queue.retrymax"},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want+":")) {
			t.Errorf("Validate(%+v) = %v, want %s", c, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter22") {
			t.Errorf("error leaks a password: %v", err)
		}
	}
}

func TestSubjectToken(t *testing.T) {
	for _, name := range []string{"slack", "slack-ops", "slack_ops", "a.b*c>d e/f", "ünï"} {
		tok := subjectToken(name)
		if strings.ContainsAny(tok, ".*> /\\") {
			t.Errorf("token %q of %q is not a subject token", tok, name)
		}
		if back, ok := parseToken(tok); !ok || back != name {
			t.Errorf("parseToken(%q) = %q, %v; want %q", tok, back, ok, name)
		}
	}
	if subjectToken("a_b") == subjectToken("a.b") {
		t.Error("tokens collide")
	}
}

func TestDirIsLocked(t *testing.T) {
	cfg := testConfig(t)
	q := open(t, cfg, "webhook")
	if _, err := Open(context.Background(), cfg, []string{"webhook"}, nil); err == nil || !strings.HasPrefix(err.Error(), "queue.dir: ") {
		t.Fatalf("second Open on the same dir: %v", err)
	}
	q.Close()
	// Released on Close.
	q = open(t, cfg, "webhook")
	q.Close()
}
