package alert

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const falcoAlert = `{"uuid":"4b5c6f0e-0000-4000-8000-000000000001","output":"16:31:56.746609046: PriorityWarning Sensitive file opened (file=/etc/shadow)","priority":"Warning","rule":"Read sensitive file untrusted","time":"2026-11-29T16:31:56.746609046Z","source":"syscall","hostname":"node-1","tags":["filesystem","mitre_credential_access"],"output_fields":{"evt.time":1764433916746609046,"proc.cmdline":"cat /etc/shadow","fd.name":"/etc/shadow","user.name":"root","container.id":"host","proc.tty":0,"evt.is_open_write":false,"k8s.ns.name":null,"ratio":0.5}}`

func TestRoundTripKeepsTypes(t *testing.T) {
	a, err := Decode([]byte(falcoAlert))
	if err != nil {
		t.Fatal(err)
	}
	if a.Priority != PriorityWarning || a.Rule != "Read sensitive file untrusted" || a.Time.Nanosecond() != 746609046 {
		t.Fatalf("decoded %+v", a)
	}
	out, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// Compare as generic JSON with UseNumber so that a float64 detour would show.
	norm := func(b []byte) any {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	want, _ := json.Marshal(norm([]byte(falcoAlert)))
	got, _ := json.Marshal(norm(out))
	if !bytes.Equal(want, got) {
		t.Fatalf("round trip changed the alert:\nwant %s\ngot  %s", want, got)
	}
	if !strings.Contains(string(out), `"evt.time":1764433916746609046`) {
		t.Fatalf("nanosecond timestamp lost precision: %s", out)
	}
}

func TestDecodeErrors(t *testing.T) {
	base := map[string]any{
		"output": "x", "priority": "Warning", "rule": "r",
		"time": "2026-11-29T16:31:56Z", "output_fields": map[string]any{"a": 1},
	}
	with := func(k string, v any) string {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct{ name, body, want string }{
		{"malformed", `{"rule":`, "malformed JSON"},
		{"empty", ``, "empty body"},
		{"trailing", with("rule", "r") + `{}`, "more than one value"},
		{"unknown priority", with("priority", "Sever"), "priority: unknown priority"},
		{"missing priority", with("priority", nil), "priority: missing"},
		{"empty rule", with("rule", ""), "rule: must not be empty"},
		{"missing time", with("time", nil), "time: missing"},
		{"bad time", with("time", "yesterday"), "not RFC 3339"},
		{"zero time", with("time", "0001-01-01T00:00:00Z"), "time: zero"},
		{"no output", `{"priority":"Debug","rule":"r","time":"2026-11-29T16:31:56Z"}`, "output and output_fields"},
		{"wrong type", with("tags", "a,b"), `field "tags"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Decode(%s) = %v, want error containing %q", c.body, err, c.want)
			}
		})
	}
	if _, err := Decode([]byte(with("extra", "ignored"))); err != nil {
		t.Fatalf("unknown fields must be ignored: %v", err)
	}
}

func TestPriority(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Priority
	}{{"emergency", PriorityEmergency}, {"ALERT", PriorityAlert}, {"Critical", PriorityCritical}, {"error", PriorityError},
		{"Warning", PriorityWarning}, {"notice", PriorityNotice}, {"Informational", PriorityInformational}, {"info", PriorityInformational}, {"DEBUG", PriorityDebug}} {
		got, err := ParsePriority(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParsePriority(%q) = %v, %v", c.in, got, err)
		}
	}
	if _, err := ParsePriority("severe"); err == nil {
		t.Error("unknown priority accepted")
	}
	if !PriorityCritical.AtLeast(PriorityWarning) || PriorityNotice.AtLeast(PriorityWarning) || !PriorityWarning.AtLeast(PriorityWarning) {
		t.Error("thresholds compare the wrong way")
	}
	ps := Priorities()
	if ps[0] != PriorityEmergency || ps[len(ps)-1] != PriorityDebug {
		t.Errorf("Priorities() = %v", ps)
	}
}

// BenchmarkDecode and BenchmarkEncode cost every alert twice in the
// sidekick (decode on POST / and again from the queue; encode into the
// queue and again for a JSON destination).
func BenchmarkDecode(b *testing.B) {
	body := []byte(falcoAlert)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	a, err := Decode([]byte(falcoAlert))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
