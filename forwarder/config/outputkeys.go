package config

import (
	"reflect"
	"slices"
	"strings"

	"github.com/nightjar-sec/nightjar/outputs"
)

// OutputKeys lists every setting of one output type, as it is written for
// the type's own top-level section (slack.webhookurl), with its environment
// variable (SLACK_WEBHOOKURL), for the documentation and its tests.
func OutputKeys(t outputs.Type) [][2]string {
	var out [][2]string
	for _, f := range envFields(reflect.TypeOf(t.NewConfig()).Elem(), t.Name, strings.ToUpper(t.Name), nil) {
		out = append(out, [2]string{f.key, f.env})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}
