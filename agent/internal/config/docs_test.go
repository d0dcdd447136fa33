package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

// docsAgentConfig finds the YAML blocks of docs/*.md marked
// `<!-- test: agent-config -->` (a whole config file) or
// `<!-- test: agent-config-fragment -->` (some sections, merged onto the
// minimal file of docs/agent.md). tests/docs_test.go requires every block
// of the docs to carry a marker and names this test for these two kinds.
var docsAgentConfig = regexp.MustCompile("(?s)<!-- test: (agent-config|agent-config-fragment) -->\n( *)```yaml\n(.*?)\n *```")

// TestDocsAgentConfigs parses every agent config example of the docs with
// Parse, the loader the agent uses, so an example with a renamed key, a bad
// value or a missing required key fails here.
func TestDocsAgentConfigs(t *testing.T) {
	files, err := filepath.Glob("../../../docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var minimal []byte
	type block struct {
		name, kind string
		body       []byte
	}
	var blocks []block
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range docsAgentConfig.FindAllSubmatchIndex(data, -1) {
			line := 1 + strings.Count(string(data[:m[0]]), "\n")
			b := block{
				name: filepath.Base(f) + ":" + strconv.Itoa(line),
				kind: string(data[m[2]:m[3]]),
				body: dedent(data[m[6]:m[7]], m[5]-m[4]),
			}
			if b.kind == "agent-config" && filepath.Base(f) == "agent.md" && minimal == nil {
				minimal = b.body
			}
			blocks = append(blocks, b)
		}
	}
	require.NotNil(t, minimal, "docs/agent.md has the minimal config, marked <!-- test: agent-config -->")
	for _, b := range blocks {
		t.Run(b.name, func(t *testing.T) {
			body := b.body
			if b.kind == "agent-config-fragment" {
				body = mergeSections(t, minimal, body)
			}
			_, err := Parse("/etc/hydrognn/rig-agent.yaml", body, nil)
			require.NoError(t, err, "%s:\n%s", b.name, body)
		})
	}
}

// mergeSections returns base with each top-level section of frag merged
// into it key by key (frag's values win).
func mergeSections(t *testing.T, base, frag []byte) []byte {
	t.Helper()
	var b, f map[string]map[string]any
	require.NoError(t, yaml.Unmarshal(base, &b))
	require.NoError(t, yaml.Unmarshal(frag, &f), "a fragment is a mapping of sections")
	for sec, kv := range f {
		if b[sec] == nil {
			b[sec] = map[string]any{}
		}
		for k, v := range kv {
			b[sec][k] = v
		}
	}
	out, err := yaml.Marshal(b)
	require.NoError(t, err)
	return out
}

// dedent removes n leading spaces from each line (a block inside a list item).
func dedent(data []byte, n int) []byte {
	if n == 0 {
		return data
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, strings.Repeat(" ", n))
	}
	return []byte(strings.Join(lines, "\n"))
}
