package alert

import (
	"fmt"
	"strings"
)

// Priority is an alert's severity. The numbering grows with severity, so that
// "at least as severe as the threshold" reads as p >= threshold, and the zero
// value, PriorityDebug, is the threshold that lets everything through.
type Priority int8

// The priorities Falco defines, least severe first.
const (
	PriorityDebug Priority = iota
	PriorityInformational
	PriorityNotice
	PriorityWarning
	PriorityError
	PriorityCritical
	PriorityAlert
	PriorityEmergency
)

var priorityNames = [...]string{
	PriorityDebug:         "Debug",
	PriorityInformational: "Informational",
	PriorityNotice:        "Notice",
	PriorityWarning:       "Warning",
	PriorityError:         "Error",
	PriorityCritical:      "Critical",
	PriorityAlert:         "Alert",
	PriorityEmergency:     "Emergency",
}

// Priorities lists every priority, most severe first, as Falco documents them.
func Priorities() []Priority {
	return []Priority{PriorityEmergency, PriorityAlert, PriorityCritical, PriorityError, PriorityWarning, PriorityNotice, PriorityInformational, PriorityDebug}
}

// ParsePriority reads a priority name, case-insensitively; "info" is accepted
// as an alias of PriorityInformational, as Falco does.
func ParsePriority(s string) (Priority, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	if name == "info" {
		return PriorityInformational, nil
	}
	for p, n := range priorityNames {
		if strings.ToLower(n) == name {
			return Priority(p), nil
		}
	}
	return PriorityDebug, fmt.Errorf("unknown priority %q (want one of emergency, alert, critical, error, warning, notice, informational, debug)", s)
}

// Valid reports whether p is one of the defined priorities.
func (p Priority) Valid() bool { return p >= PriorityDebug && p <= PriorityEmergency }

// String returns the name Falco writes on the wire ("Warning").
func (p Priority) String() string {
	if !p.Valid() {
		return fmt.Sprintf("Priority(%d)", int8(p))
	}
	return priorityNames[p]
}

// AtLeast reports whether p is threshold or more severe.
func (p Priority) AtLeast(threshold Priority) bool { return p >= threshold }

// MarshalText writes the wire name.
func (p Priority) MarshalText() ([]byte, error) {
	if !p.Valid() {
		return nil, fmt.Errorf("invalid priority %d", int8(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText parses a name, as ParsePriority does. It also serves YAML
// configuration and environment variables.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
