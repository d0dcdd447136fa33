package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func compile(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	b, err := For(name)
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := BaseURI + name + ".json"
	require.NoError(t, c.AddResource(url, doc))
	s, err := c.Compile(url)
	require.NoError(t, err, "schema %s compiles", name)
	return s
}

func TestEverySchemaCompiles(t *testing.T) {
	for _, n := range Names() {
		t.Run(n, func(t *testing.T) { compile(t, n) })
	}
	_, err := For("nope")
	require.ErrorContains(t, err, `unknown schema "nope"`)
}

// The shipped firmware configs are valid under the rig schema, checked by an
// independent validator; a config with an unknown key is not.
func TestShippedConfigsMatchSchema(t *testing.T) {
	s := compile(t, "rig")
	files, err := filepath.Glob("../../firmware-configs/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			assert.NoError(t, s.Validate(yamlDoc(t, f)))
		})
	}
	bad := yamlDoc(t, "../rig/testdata/unknown-key.bad.yaml")
	assert.Error(t, s.Validate(bad))
}

func yamlDoc(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(data)
	require.NoError(t, err)
	var doc any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&doc))
	return doc
}
