// Package alert is the wire contract between the detector and the sidekick:
// Falco's json_output alert, byte-compatible in field names.
package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Alert is one Falco-format alert.
type Alert struct {
	UUID         string    `json:"uuid,omitempty"`
	Output       string    `json:"output"`
	Priority     Priority  `json:"priority"`
	Rule         string    `json:"rule"`
	Time         time.Time `json:"time"`
	Source       string    `json:"source,omitempty"`
	Hostname     string    `json:"hostname,omitempty"`
	Tags         []string  `json:"tags,omitempty"`
	OutputFields Fields    `json:"output_fields"`
}

// Fields holds output_fields. Values keep their JSON types through a
// decode/encode round trip: numbers are json.Number (so 64-bit nanosecond
// timestamps stay exact), and strings, bools and nulls stay what they were.
type Fields map[string]any

// UnmarshalJSON decodes with UseNumber so that no number goes through float64.
func (f *Fields) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*f = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	m := map[string]any{}
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*f = m
	return nil
}

// String returns the value of a string field, and whether it was one.
func (f Fields) String(key string) (string, bool) {
	s, ok := f[key].(string)
	return s, ok
}

// wire is the alert as it travels, with priority and time as the sender
// wrote them, so that Decode can say exactly what is wrong with each.
type wire struct {
	UUID     string   `json:"uuid"`
	Output   string   `json:"output"`
	Priority *string  `json:"priority"`
	Rule     string   `json:"rule"`
	Time     *string  `json:"time"`
	Source   string   `json:"source"`
	Hostname string   `json:"hostname"`
	Tags     []string `json:"tags"`
	// A plain map, not Fields: the decoder's UseNumber then applies to it
	// in the same pass, without Fields.UnmarshalJSON scanning it again.
	OutputFields map[string]any `json:"output_fields"`
}

// Decode parses one alert from JSON and validates it. Unknown fields are
// ignored, as Falco and falcosidekick do. Every error names the field at
// fault, in words a sender can act on.
func Decode(b []byte) (*Alert, error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, describeJSONError(err)
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		return nil, errors.New("malformed JSON: more than one value in the body")
	}
	a := &Alert{
		UUID: w.UUID, Output: w.Output, Rule: w.Rule, Source: w.Source,
		Hostname: w.Hostname, Tags: w.Tags, OutputFields: w.OutputFields,
	}
	if w.Priority == nil {
		return nil, errors.New("priority: missing")
	}
	p, err := ParsePriority(*w.Priority)
	if err != nil {
		return nil, fmt.Errorf("priority: %w", err)
	}
	a.Priority = p
	if w.Time == nil || *w.Time == "" {
		return nil, errors.New("time: missing (want RFC 3339, e.g. 2026-11-29T16:31:56.746609046Z)")
	}
	t, err := time.Parse(time.RFC3339Nano, *w.Time)
	if err != nil {
		return nil, fmt.Errorf("time: %q is not RFC 3339 (e.g. 2026-11-29T16:31:56.746609046Z)", *w.Time)
	}
	a.Time = t
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// describeJSONError turns encoding/json's errors into messages that name the
// field a sender got wrong.
func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q: expected %s, got JSON %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return errors.New("malformed JSON: empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed JSON: body ends in the middle of a value")
	default:
		return fmt.Errorf("malformed JSON: %v", err)
	}
}

// Validate checks what every consumer relies on: a valid priority, a rule, a
// non-zero time, and an output or output_fields.
func (a *Alert) Validate() error {
	if !a.Priority.Valid() {
		return fmt.Errorf("priority: invalid value %d", int8(a.Priority))
	}
	if a.Rule == "" {
		return errors.New("rule: must not be empty")
	}
	if a.Time.IsZero() {
		return errors.New("time: zero time (want the moment of the event, RFC 3339)")
	}
	if a.Output == "" && len(a.OutputFields) == 0 {
		return errors.New("output and output_fields: both missing; an alert needs at least one")
	}
	return nil
}

// Encode returns the alert's JSON, in Falco's field names and formats.
func (a *Alert) Encode() ([]byte, error) { return json.Marshal(a) }
