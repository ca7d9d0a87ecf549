package api

import (
	"bytes"
	"slices"
	"text/template"

	"github.com/nightjar-sec/nightjar/alert"
)

// Enricher adds the configured fields and tags to every alert, as
// falcosidekick does: customfields into output_fields (overriding what the
// sender set), customtags appended to tags, then templatedfields rendered
// over output_fields (so they can use custom fields too).
type Enricher struct {
	CustomFields map[string]string
	CustomTags   []string
	// Templates are parsed once at start-up (config.Config.Templates).
	Templates map[string]*template.Template
}

// Apply enriches a in place. A template that fails on this alert leaves its
// field unset and is reported by key; it never rejects the alert.
func (e *Enricher) Apply(a *alert.Alert) (failed map[string]error) {
	if len(e.CustomFields)+len(e.Templates) > 0 && a.OutputFields == nil {
		a.OutputFields = alert.Fields{}
	}
	for k, v := range e.CustomFields {
		a.OutputFields[k] = v
	}
	for _, t := range e.CustomTags {
		if !slices.Contains(a.Tags, t) {
			a.Tags = append(a.Tags, t)
		}
	}
	if len(e.Templates) == 0 {
		return nil
	}
	// Render against a snapshot so that one template's output is not
	// another's input: the result does not depend on map order.
	data := map[string]any(a.OutputFields)
	if len(e.Templates) > 1 {
		data = make(map[string]any, len(a.OutputFields))
		for k, v := range a.OutputFields {
			data[k] = v
		}
	}
	var buf bytes.Buffer
	for k, t := range e.Templates {
		buf.Reset()
		if err := t.Execute(&buf, data); err != nil {
			if failed == nil {
				failed = map[string]error{}
			}
			failed[k] = err
			continue
		}
		a.OutputFields[k] = buf.String()
	}
	return failed
}
