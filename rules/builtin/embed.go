// Package builtin holds nightjar's default ruleset, embedded in the binary:
// the rules, the empty local overrides file that upgrades never touch, and
// the test cases that cover every rule (run by `nightjar test` and go test).
package builtin

import _ "embed"

// RulesName and LocalName are the files' names, as installed in /etc/nightjar.
const (
	RulesName = "nightjar_rules.yaml"
	LocalName = "nightjar_rules.local.yaml"
	TestsName = "nightjar_rules_test.yaml"
)

// Rules is nightjar_rules.yaml.
//
//go:embed nightjar_rules.yaml
var Rules []byte

// Local is nightjar_rules.local.yaml: documented, with no items.
//
//go:embed nightjar_rules.local.yaml
var Local []byte

// Tests is nightjar_rules_test.yaml: cases for `nightjar test`.
//
//go:embed nightjar_rules_test.yaml
var Tests []byte
