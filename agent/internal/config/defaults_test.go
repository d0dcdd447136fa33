package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/confyaml"
)

// referenceRow matches a row of the config reference table of
// docs/agent.md: the key and its default cell.
var referenceRow = regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\| ([^|]*) \\|")

// ruleDefaults are the keys whose documented default is a rule, not a
// value, with the rule; TestDocsDefaultsMatch checks each rule's result
// for the defaults of the keys it depends on (ruleResults).
var ruleDefaults = map[string]string{
	"agent.id":                   "the host name, sanitized (derive)",
	"agent.plugin_max_wait":      "the lesser of 5s and half broker.keep_alive (derive)",
	"rig.firmware_config":        "required: no default",
	"model.bundle_dir":           "required: no default",
	"broker.limits.max_sessions": "4 × broker.limits.max_clients (derive)",
}

// minimalConfig parses the smallest valid config (the required keys),
// with extra appended, as a file in /etc/hydrognn.
func minimalConfig(t *testing.T, extra string) *Config {
	t.Helper()
	cfg, err := Parse("/etc/hydrognn/rig-agent.yaml",
		[]byte("rig:\n  firmware_config: /etc/hydrognn/zema-testrig.yaml\nmodel:\n  bundle_dir: /var/lib/rig-agent/bundles/zema-testrig\n"+extra), nil)
	require.NoError(t, err)
	return cfg
}

// sameValue reports whether two config values are equal; a nil and an
// empty list are the same list.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// nestedYAML returns "a:\n  b:\n    c: value\n" for the path a.b.c.
func nestedYAML(path, value string) []byte {
	var b strings.Builder
	parts := strings.Split(path, ".")
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i == len(parts)-1 {
			b.WriteString(" " + value)
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// TestDocsDefaultsMatch: the default column of docs/agent.md's config
// reference is Defaults(): a literal value (`1GiB`, `[cpu]`, `""`) is
// decoded as the file would decode it and compared with Defaults(); a
// path with <agent.data_dir> or <agent.id> is compared with what Parse
// derives for the minimal config; a rule (ruleDefaults) is checked by its
// result.
func TestDocsDefaultsMatch(t *testing.T) {
	data, err := os.ReadFile("../../../docs/agent.md")
	require.NoError(t, err)
	doc := string(data)
	start := strings.Index(doc, "### Reference\n")
	require.GreaterOrEqual(t, start, 0, "docs/agent.md has a ### Reference section")
	doc = doc[start:]
	if end := strings.Index(doc[1:], "\n## "); end >= 0 {
		doc = doc[:end+1]
	}
	cells := map[string]string{}
	for _, m := range referenceRow.FindAllStringSubmatch(doc, -1) {
		_, dup := cells[m[1]]
		assert.False(t, dup, "docs/agent.md lists %s twice", m[1])
		cells[m[1]] = strings.TrimSpace(m[2])
	}
	keys := map[string]bool{}
	for _, k := range Keys() {
		keys[k.Path] = true
	}
	for k := range cells {
		assert.True(t, keys[k], "docs/agent.md's reference lists %s, which is no config key", k)
	}
	for k := range ruleDefaults {
		assert.True(t, keys[k], "ruleDefaults names %s, which is no config key", k)
	}

	defaults := Defaults()
	derived := minimalConfig(t, "")
	literal := regexp.MustCompile("^`([^`]*)`$")
	for _, k := range Keys() {
		cell, ok := cells[k.Path]
		if !assert.True(t, ok, "docs/agent.md's reference has a row for %s", k.Path) {
			continue
		}
		if rule, ok := ruleDefaults[k.Path]; ok {
			t.Logf("%s: a rule (%s): %s", k.Path, rule, cell)
			continue
		}
		m := literal.FindStringSubmatch(cell)
		if !assert.NotNil(t, m, "docs/agent.md: the default of %s, %s, is not one `value` (a rule belongs in ruleDefaults)", k.Path, cell) {
			continue
		}
		value := m[1]
		if strings.Contains(value, "<") {
			want := strings.NewReplacer("<agent.data_dir>", derived.Agent.DataDir, "<agent.id>", derived.Agent.ID).Replace(value)
			require.NotContains(t, want, "<", "%s: a placeholder this test does not know: %s", k.Path, value)
			got := confyaml.FieldByPath(derived, k.Path)
			assert.Equal(t, want, got.String(), "docs/agent.md says %s defaults to %s; Parse derives %q", k.Path, value, got.String())
			assert.True(t, confyaml.FieldByPath(&defaults, k.Path).IsZero(), "%s is derived, so Defaults() leaves it empty", k.Path)
			continue
		}
		var decoded Config
		if _, es := spec.Decode("docs/agent.md", nestedYAML(k.Path, value), nil, &decoded); es != nil {
			t.Errorf("docs/agent.md: the default of %s, %s, does not decode as a %s: %v", k.Path, cell, k.Type, Errors(es))
			continue
		}
		got, want := confyaml.FieldByPath(&decoded, k.Path), confyaml.FieldByPath(&defaults, k.Path)
		assert.True(t, sameValue(got, want), "docs/agent.md says %s defaults to %s; Defaults() has %v", k.Path, cell, want.Interface())
	}

	// The rules, for the defaults of what they depend on.
	assert.Equal(t, sanitizeID("edge box#1"), derived.Agent.ID, "agent.id: the host name (the tests' is \"edge box#1\"), sanitized")
	assert.Equal(t, "edge-box-1", derived.Agent.ID)
	assert.Equal(t, min(5*time.Second, defaults.Broker.KeepAlive/2), derived.Agent.PluginMaxWait, "agent.plugin_max_wait")
	assert.Equal(t, 4*defaults.Broker.Limits.MaxClients, derived.Broker.Limits.MaxSessions, "broker.limits.max_sessions")
	assert.Contains(t, cells["rig.firmware_config"], "required")
	assert.Contains(t, cells["model.bundle_dir"], "required")
}

// exampleNotDefault are the keys deploy/rig-agent.example.yaml sets to
// something else than the default, with why; every other key shows its
// default ("every key, with its default value", says its header).
var exampleNotDefault = map[string]string{
	"agent.id":               "the host name differs per machine: the example names one",
	"rig.firmware_config":    "required",
	"model.bundle_dir":       "required",
	"windowing.cycle_anchor": "required with a cycle-aligned bundle (zema-testrig): set to epoch, rigsim's",
}

// TestExampleStatesDefaults: deploy/rig-agent.example.yaml shows each key
// with its default: loaded, it equals the minimal config with the keys of
// exampleNotDefault set as in the example, derived keys (buffer.path,
// broker.client_id, max_sessions, ...) included.
func TestExampleStatesDefaults(t *testing.T) {
	const path = "../../../deploy/rig-agent.example.yaml"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	example, err := Parse("/etc/hydrognn/rig-agent.yaml", data, nil)
	require.NoError(t, err)
	defaults := Defaults()
	for k := range exampleNotDefault {
		assert.False(t, sameValue(confyaml.FieldByPath(example, k), confyaml.FieldByPath(&defaults, k)),
			"the example sets %s to its default: drop it from exampleNotDefault", k)
	}
	base := minimalConfig(t, "agent:\n  id: "+example.Agent.ID+"\nwindowing:\n  cycle_anchor: epoch\n")
	require.Equal(t, example.Rig, base.Rig, "the minimal config names the example's firmware config")
	require.Equal(t, example.Model.BundleDir, base.Model.BundleDir)
	for _, k := range Keys() {
		got, want := confyaml.FieldByPath(example, k.Path), confyaml.FieldByPath(base, k.Path)
		assert.True(t, sameValue(got, want), "deploy/rig-agent.example.yaml: %s is %v, its default %v", k.Path, got.Interface(), want.Interface())
	}
}
