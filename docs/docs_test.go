// Package docs_test checks that the documentation and the code name the
// same settings, so neither can drift without a red test.
package docs_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/nightjar-sec/nightjar/detector"
	"github.com/nightjar-sec/nightjar/forwarder"
	"github.com/nightjar-sec/nightjar/forwarder/config"
)

// settingDocs are the files whose tables document settings.
var settingDocs = []string{"sidekick.md", "outputs.md", "detector.md"}

var backticked = regexp.MustCompile("`([^`]+)`")

// tableCells returns, for every table row of a file whose header names a
// "key" column, the backticked tokens of the key column and of the
// "variable" column (when the table has one). Only these two columns are
// checked: defaults and meanings may quote anything.
func tableCells(t *testing.T, name string) (keys, vars []string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	keyCol, varCol := -1, -1
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, "|") {
			keyCol, varCol = -1, -1
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if keyCol < 0 && varCol < 0 {
			// A header row: find the columns, or mark a table not about settings.
			keyCol, varCol = -2, -2
			for i, c := range cells {
				switch strings.ToLower(strings.TrimSpace(c)) {
				case "key":
					keyCol = i
				case "variable":
					varCol = i
				}
			}
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(cells[0]), "---") || strings.HasPrefix(strings.TrimSpace(cells[0]), "-") && strings.Trim(strings.TrimSpace(cells[0]), "-:") == "" {
			continue
		}
		if keyCol >= 0 && keyCol < len(cells) {
			for _, m := range backticked.FindAllStringSubmatch(cells[keyCol], -1) {
				keys = append(keys, m[1])
			}
		}
		if varCol >= 0 && varCol < len(cells) {
			for _, m := range backticked.FindAllStringSubmatch(cells[varCol], -1) {
				vars = append(vars, m[1])
			}
		}
	}
	return keys, vars
}

// detectorKeys walks detector.Config's yaml tags: every leaf as its dotted
// key (http_output.url).
func detectorKeys(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, detectorKeys(f.Type, key)...)
			continue
		}
		out = append(out, key)
	}
	return out
}

// codeSettings is every sidekick key (global and per output, with its
// section: slack.webhookurl) and environment variable, and every detector key.
func codeSettings() (sidekickKeys, envs, detKeys map[string]bool) {
	sidekickKeys, envs, detKeys = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, kv := range config.Keys() {
		sidekickKeys[kv[0]], envs[kv[1]] = true, true
	}
	for _, ty := range forwarder.OutputTypes {
		for _, kv := range config.OutputKeys(ty) {
			sidekickKeys[kv[0]], envs[kv[1]] = true, true
		}
	}
	for _, k := range detectorKeys(reflect.TypeOf(detector.Config{}), "") {
		detKeys[k] = true
	}
	return
}

// documented reports whether key appears in the docs, written either whole
// or, in a section's table, without its section (webhookurl under Slack,
// url under http_output).
func documented(key string, tokens map[string]bool) bool {
	if tokens[key] {
		return true
	}
	for i := range key {
		if key[i] == '.' && (tokens[key[i+1:]] || tokens[key[i:]]) {
			return true
		}
	}
	for tok := range tokens {
		if re := placeholder(tok); re != nil && re.MatchString(key) {
			return true
		}
	}
	return false
}

// placeholder turns a documented pattern such as `<output>.timeout` or
// `<NAME>_TIMEOUT` into a regexp over real keys, or nil for a plain token.
func placeholder(tok string) *regexp.Regexp {
	if !strings.Contains(tok, "<") {
		return nil
	}
	parts := regexp.MustCompile(`<[^>]+>`).Split(tok, -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^(?i)` + strings.Join(parts, `[a-z0-9_.]+`) + `$`)
}

func TestCodeSettingsAreDocumented(t *testing.T) {
	sk, envs, det := codeSettings()
	skTokens, envTokens, detTokens := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range []string{"sidekick.md", "outputs.md"} {
		keys, vars := tableCells(t, f)
		for _, k := range keys {
			skTokens[k] = true
		}
		for _, v := range vars {
			envTokens[v] = true
		}
	}
	keys, _ := tableCells(t, "detector.md")
	for _, k := range keys {
		detTokens[k] = true
	}
	for k := range sk {
		if !documented(k, skTokens) {
			t.Errorf("sidekick key %s is not in a Key column of sidekick.md or outputs.md", k)
		}
	}
	for e := range envs {
		if !documented(e, envTokens) {
			t.Errorf("sidekick environment variable %s is not in a Variable column of sidekick.md or outputs.md", e)
		}
	}
	for k := range det {
		if !documented(k, detTokens) {
			t.Errorf("detector key %s is not in a key column of detector.md", k)
		}
	}
}

// awsStandard are the AWS SDK's own variables, documented beside the
// outputs that use the SDK though they are not sidekick settings.
var awsStandard = regexp.MustCompile(`^AWS_[A-Z_]+$`)

// namedOutputs are the sidekick settings whose keys are the user's, parsed
// by forwarder/config outside the Keys listing: named output instances
// (outputs.ops.type, OUTPUTS_OPS_TYPE) and the routing table (YAML only).
var namedOutputs = map[string]bool{"outputs": true, "OUTPUTS_<NAME>_<KEY>": true, "routes": true}

func TestDocumentedSettingsExist(t *testing.T) {
	sk, envs, det := codeSettings()
	for _, f := range settingDocs {
		keys, vars := tableCells(t, f)
		code := sk
		if f == "detector.md" {
			code = det
		}
		for _, k := range keys {
			if !known(k, code) && !(f != "detector.md" && namedOutputs[k]) {
				t.Errorf("%s documents key %q, which the code does not have", f, k)
			}
		}
		for _, v := range vars {
			if !known(v, envs) && !awsStandard.MatchString(v) && !namedOutputs[v] {
				t.Errorf("%s documents variable %q, which the code does not read", f, v)
			}
		}
	}
}

// known reports whether a documented key is a code key, whole or as the
// tail of one (a section's table drops the section).
func known(k string, code map[string]bool) bool {
	if code[k] {
		return true
	}
	re := placeholder(k)
	for c := range code {
		// A list of objects (routes, outputs) is documented by its name.
		if strings.HasSuffix(c, "."+k) || strings.HasSuffix(c, k) && strings.HasPrefix(k, ".") ||
			strings.HasPrefix(c, k+".") || re != nil && re.MatchString(c) {
			return true
		}
	}
	return false
}

// installedPath is a file the docs name under /etc/nightjar/.
var installedPath = regexp.MustCompile(`/etc/nightjar/[A-Za-z0-9_.-]+\.ya?ml\b`)

// TestDocumentedFilesAreInstalled checks that every file under
// /etc/nightjar/ that the docs name is one an install puts there: the
// detector image's recipe installs each of them (and the systemd install
// the same files), so a command the docs show finds its file.
func TestDocumentedFilesAreInstalled(t *testing.T) {
	recipe, err := os.ReadFile("../deploy/docker/nightjar.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	installed := map[string]bool{}
	for line := range strings.SplitSeq(string(recipe), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "COPY" {
			installed[f[len(f)-1]] = true
		}
	}
	docs, err := filepath.Glob("*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	for _, name := range docs {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range installedPath.FindAllString(string(b), -1) {
			if !installed[p] {
				t.Errorf("%s names %s, which no install puts there (the detector image installs %v)", name, p, installed)
			}
		}
	}
}
