package smtp

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/nightjar-sec/nightjar/alert"
)

// view is what the mail templates see of an alert.
type view struct {
	A      *alert.Alert
	Time   string
	Tags   string
	Fields []field
	Color  string
}

type field struct{ Name, Value string }

func newView(a *alert.Alert) view {
	v := view{A: a, Time: a.Time.UTC().Format(time.RFC3339Nano), Tags: strings.Join(a.Tags, ", "), Color: colors[a.Priority]}
	for k, val := range a.OutputFields {
		s := "<NA>"
		if val != nil {
			s = fmt.Sprint(val)
		}
		v.Fields = append(v.Fields, field{k, s})
	}
	sort.Slice(v.Fields, func(i, j int) bool { return v.Fields[i].Name < v.Fields[j].Name })
	return v
}

// Colours by priority, the chat outputs' palette.
var colors = map[alert.Priority]string{
	alert.PriorityEmergency: "#e20b0b", alert.PriorityAlert: "#ff5400", alert.PriorityCritical: "#ff5400",
	alert.PriorityError: "#e20b0b", alert.PriorityWarning: "#ffc700", alert.PriorityNotice: "#5bffb5",
	alert.PriorityInformational: "#68c2ff", alert.PriorityDebug: "#ccfff2",
}

var textBody = texttemplate.Must(texttemplate.New("text").Parse(`{{.A.Output}}

Priority: {{.A.Priority}}
Rule:     {{.A.Rule}}
Time:     {{.Time}}
Source:   {{.A.Source}}
{{- if .A.Hostname}}
Hostname: {{.A.Hostname}}{{end}}
{{- if .Tags}}
Tags:     {{.Tags}}{{end}}
{{- if .Fields}}

Fields:
{{- range .Fields}}
  {{.Name}}: {{.Value}}
{{- end}}{{end}}
{{- if .A.UUID}}

Alert ID: {{.A.UUID}}{{end}}
`))

// html/template escapes every value: alert fields come from the monitored
// hosts and may hold anything.
var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.A.Rule}}</title></head>
<body style="font-family: sans-serif">
<p style="border-left: 6px solid {{.Color}}; padding-left: 8px"><strong>{{.A.Priority}}</strong>: {{.A.Output}}</p>
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">Rule</th><td>{{.A.Rule}}</td></tr>
<tr><th align="left">Priority</th><td>{{.A.Priority}}</td></tr>
<tr><th align="left">Time</th><td>{{.Time}}</td></tr>
<tr><th align="left">Source</th><td>{{.A.Source}}</td></tr>
{{- if .A.Hostname}}
<tr><th align="left">Hostname</th><td>{{.A.Hostname}}</td></tr>{{end}}
{{- if .Tags}}
<tr><th align="left">Tags</th><td>{{.Tags}}</td></tr>{{end}}
{{- range .Fields}}
<tr><th align="left"><code>{{.Name}}</code></th><td><code>{{.Value}}</code></td></tr>
{{- end}}
</table>
</body></html>
`))

func renderText(a *alert.Alert) (string, error) {
	var b bytes.Buffer
	if err := textBody.Execute(&b, newView(a)); err != nil {
		return "", fmt.Errorf("rendering text body: %v", err)
	}
	return b.String(), nil
}

func renderHTML(a *alert.Alert) (string, error) {
	var b bytes.Buffer
	if err := htmlBody.Execute(&b, newView(a)); err != nil {
		return "", fmt.Errorf("rendering HTML body: %v", err)
	}
	return b.String(), nil
}
