// Package output writes the detector's alerts: stdout, a file, the local
// syslog and an HTTP POST to the sidekick. Event processing hands each alert
// to a Dispatcher, which never blocks: alerts wait in bounded queues, and an
// alert that finds its queue full is dropped, counted and reported.
package output

import (
	"encoding/json"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

// Format is how an alert is written.
type Format struct {
	// JSON writes Falco's json_output; false writes the text line (the
	// alert's output, "<time>: <Priority> <message>").
	JSON bool
	// IncludeOutput and IncludeTags are json_include_output_property and
	// json_include_tags_property.
	IncludeOutput bool
	IncludeTags   bool
}

// jsonAlert is alert.Alert with output and tags optional, for the
// json_include_* settings; with both included it encodes exactly as
// alert.Alert.Encode.
type jsonAlert struct {
	UUID         string         `json:"uuid,omitempty"`
	Output       *string        `json:"output,omitempty"`
	Priority     alert.Priority `json:"priority"`
	Rule         string         `json:"rule"`
	Time         time.Time      `json:"time"`
	Source       string         `json:"source,omitempty"`
	Hostname     string         `json:"hostname,omitempty"`
	Tags         []string       `json:"tags,omitempty"`
	OutputFields alert.Fields   `json:"output_fields"`
}

// JSON encodes a as Falco's JSON, honouring the json_include_* settings.
func (f Format) JSONBytes(a *alert.Alert) ([]byte, error) {
	if f.IncludeOutput && f.IncludeTags {
		return a.Encode()
	}
	j := jsonAlert{UUID: a.UUID, Priority: a.Priority, Rule: a.Rule, Time: a.Time, Source: a.Source,
		Hostname: a.Hostname, OutputFields: a.OutputFields}
	if f.IncludeOutput {
		j.Output = &a.Output
	}
	if f.IncludeTags {
		j.Tags = a.Tags
	}
	return json.Marshal(&j)
}

// Line returns what the local outputs write for a, without the newline: the
// JSON or the text line.
func (f Format) Line(a *alert.Alert) ([]byte, error) {
	if f.JSON {
		return f.JSONBytes(a)
	}
	return []byte(a.Output), nil
}
