package slack

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/slack-go/slack"

	"github.com/nightjar-sec/nightjar/alert"
)

// Output formats, as falcosidekick names them: all (text and fields), text
// (the alert's output line only) and fields (the fields only).
const (
	FormatAll    = "all"
	FormatText   = "text"
	FormatFields = "fields"
)

// Colors by priority, falcosidekick's palette.
var colors = map[alert.Priority]string{
	alert.PriorityEmergency:     "#e20b0b",
	alert.PriorityAlert:         "#ff5400",
	alert.PriorityCritical:      "#ff5400",
	alert.PriorityError:         "#e20b0b",
	alert.PriorityWarning:       "#ffc700",
	alert.PriorityNotice:        "#5bffb5",
	alert.PriorityInformational: "#68c2ff",
	alert.PriorityDebug:         "#ccfff2",
}

// Color returns the attachment colour of a priority.
func Color(p alert.Priority) string { return colors[p] }

// Format says how an alert becomes a chat message. Rocket.Chat shares it,
// since its incoming webhooks take Slack's message shape.
type Format struct {
	Username     string
	IconURL      string
	Footer       string
	OutputFormat string
	// Template, when set, renders the message's top-level text.
	Template *template.Template
}

// CheckOutputFormat validates an outputformat setting named key.
func CheckOutputFormat(key, v string) error {
	switch v {
	case FormatAll, FormatText, FormatFields:
		return nil
	}
	return fmt.Errorf("%s: %q is not one of all, text, fields", key, v)
}

// ParseTemplate compiles a messageformat setting named key and renders it
// once against a sample alert, so that a template naming a field the alert
// does not have fails at start-up rather than on every delivery.
func ParseTemplate(key, v string) (*template.Template, error) {
	if v == "" {
		return nil, nil
	}
	t, err := template.New(key).Option("missingkey=zero").Parse(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	sample := &alert.Alert{Output: "o", Priority: alert.PriorityWarning, Rule: "r", Time: time.Unix(0, 0).UTC(),
		Source: "syscall", Hostname: "h", Tags: []string{"t"}, OutputFields: alert.Fields{"k": "v"}}
	if err := t.Execute(&bytes.Buffer{}, sample); err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	return t, nil
}

// Message builds the message falcosidekick sends for an alert: the
// template's text (if any) and one attachment coloured by priority, holding
// the output line and the fields rule, priority, source, hostname, tags,
// every string output field (sorted by name) and time.
func Message(a *alert.Alert, f *Format) (*slack.WebhookMessage, error) {
	att := slack.Attachment{Fallback: a.Output, Color: Color(a.Priority)}
	if f.OutputFormat == FormatAll || f.OutputFormat == FormatText {
		att.Text = a.Output
	}
	if f.OutputFormat == FormatAll || f.OutputFormat == FormatFields {
		short := func(title, value string) slack.AttachmentField {
			return slack.AttachmentField{Title: title, Value: value, Short: true}
		}
		att.Fields = append(att.Fields, short("rule", a.Rule), short("priority", a.Priority.String()), short("source", a.Source))
		if a.Hostname != "" {
			att.Fields = append(att.Fields, short("hostname", a.Hostname))
		}
		if len(a.Tags) > 0 {
			tags := append([]string(nil), a.Tags...)
			sort.Strings(tags)
			att.Fields = append(att.Fields, short("tags", strings.Join(tags, ", ")))
		}
		for _, k := range StringFieldKeys(a.OutputFields) {
			v := a.OutputFields[k].(string)
			// Long values get a full-width field, as falcosidekick does.
			att.Fields = append(att.Fields, slack.AttachmentField{Title: k, Value: v, Short: len([]rune(v)) < 36})
		}
		att.Fields = append(att.Fields, slack.AttachmentField{Title: "time", Value: a.Time.String()})
		att.Footer = f.Footer
	}
	m := &slack.WebhookMessage{Username: f.Username, IconURL: f.IconURL, Attachments: []slack.Attachment{att}}
	if f.Template != nil {
		var b bytes.Buffer
		if err := f.Template.Execute(&b, a); err != nil {
			return nil, fmt.Errorf("messageformat: %v", err)
		}
		m.Text = b.String()
	}
	return m, nil
}

// StringFieldKeys returns the names of the output fields whose values are
// strings, sorted: chat messages show only those, as falcosidekick does.
func StringFieldKeys(f alert.Fields) []string {
	keys := make([]string, 0, len(f))
	for k, v := range f {
		if _, ok := v.(string); ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
