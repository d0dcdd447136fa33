package confyaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/confyaml/confyamltest"
)

// testConfig is a config with one field of each kind Spec supports.
type testConfig struct {
	File   string `yaml:"-"`
	Server struct {
		Listen  string        `yaml:"listen"`
		Timeout time.Duration `yaml:"timeout"`
		MaxBody ByteSize      `yaml:"max_body"`
		Metrics *bool         `yaml:"metrics"`
	} `yaml:"server"`
	Database struct {
		URL   Secret  `yaml:"url"`
		Conns int     `yaml:"conns"`
		Ratio float64 `yaml:"ratio"`
	} `yaml:"database"`
	Tags []string `yaml:"tags"`
}

var testSpec = Spec{
	EnvPrefix:  "TEST_",
	UnknownKey: "see the keys of each section",
	UnknownEnv: "see the list",
	NotMapping: "the config must be a mapping of sections (server, database, tags)",
}

func defaults() testConfig {
	var c testConfig
	c.Server.Listen = ":8080"
	c.Server.Timeout = 30 * time.Second
	c.Server.MaxBody = 4 * MiB
	c.Database.Conns = 10
	return c
}

func (c *testConfig) validate() []*FieldError {
	v := &Validator{Spec: &testSpec}
	v.HostPort("server.listen", c.Server.Listen)
	v.DurationIn("server.timeout", c.Server.Timeout, time.Second, time.Hour)
	v.SizeIn("server.max_body", c.Server.MaxBody, MiB, 64*MiB)
	v.Required("database.url", c.Database.URL.Reveal())
	v.IntIn("database.conns", c.Database.Conns, 1, 100)
	for i, tag := range c.Tags {
		v.OneOf(fmt.Sprintf("tags[%d]", i), tag, []string{"a", "b"})
	}
	return v.Problems
}

// parse is what a config package's Parse does with a Spec.
func parse(name string, data []byte, env []string) (*testConfig, error) {
	cfg := defaults()
	src, es := testSpec.Decode(name, data, env, &cfg)
	if es != nil {
		return nil, Errors(es)
	}
	if es := cfg.validate(); es != nil {
		src.Place(es)
		return nil, Errors(es)
	}
	return &cfg, nil
}

func TestBadConfigs(t *testing.T) {
	confyamltest.BadFiles(t, "testdata/*.bad.yaml", 10, func(t *testing.T, f string, data []byte) error {
		name := filepath.Base(f)
		cfg, err := parse(name, data, []string{"TEST_DATABASE_URL=postgres://x"})
		assert.Nil(t, cfg)
		var es Errors
		require.True(t, errors.As(err, &es), "want Errors, got %T", err)
		doc, _ := Parse(data)
		for _, e := range es {
			assert.True(t, strings.HasPrefix(e.Error(), name+":"), "error starts with the file name: %v", e)
			if _, _, inFile := doc.Lookup(e.Path); e.Path != "" && inFile {
				assert.Positive(t, e.Line, "an error at a key path in the file has a line: %v", e)
			}
		}
		return err
	})
}

func TestDecode(t *testing.T) {
	data := []byte("server:\n  listen: 127.0.0.1:9\n  max_body: 8MiB\n  timeout: 5s\ntags: [a, b]\ndatabase:\n  url: postgres://h\n")
	cfg, err := parse("c.yaml", data, nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9", cfg.Server.Listen)
	assert.Equal(t, 8*MiB, cfg.Server.MaxBody)
	assert.Equal(t, 5*time.Second, cfg.Server.Timeout)
	assert.Equal(t, []string{"a", "b"}, cfg.Tags)
	assert.Equal(t, 10, cfg.Database.Conns, "a key the file does not set keeps its default")

	for _, blank := range []string{"", " \n\t", "# comment only\n"} {
		cfg, err := parse("c.yaml", []byte(blank), []string{"TEST_DATABASE_URL=u"})
		require.NoError(t, err, "%q", blank)
		assert.Equal(t, ":8080", cfg.Server.Listen, "%q: the defaults", blank)
	}

	_, err = parse("c.yaml", bytes.Repeat([]byte("#"), MaxFileSize+1), nil)
	assert.EqualError(t, err, fmt.Sprintf("c.yaml: file is larger than %d bytes", MaxFileSize))
}

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"PATH=/usr/bin",
		"TEST_SERVER_LISTEN=:1",
		"TEST_SERVER_TIMEOUT=2m",
		"TEST_SERVER_MAX_BODY=2MiB",
		"TEST_SERVER_METRICS=false",
		"TEST_DATABASE_URL=postgres://u:hunter2@h/x",
		"TEST_DATABASE_RATIO=0.5",
		"TEST_TAGS=a, b,",
	}
	cfg, err := parse("c.yaml", []byte("server:\n  listen: \":2\"\n"), env)
	require.NoError(t, err)
	assert.Equal(t, ":1", cfg.Server.Listen, "the environment wins over the file")
	assert.Equal(t, 2*time.Minute, cfg.Server.Timeout)
	assert.Equal(t, 2*MiB, cfg.Server.MaxBody)
	require.NotNil(t, cfg.Server.Metrics)
	assert.False(t, *cfg.Server.Metrics)
	assert.Equal(t, "postgres://u:hunter2@h/x", cfg.Database.URL.Reveal())
	assert.Equal(t, 0.5, cfg.Database.Ratio)
	assert.Equal(t, []string{"a", "b"}, cfg.Tags)

	// A variable of the program's own (Spec.OtherEnv) is no key and no
	// error.
	other := testSpec
	other.OtherEnv = []string{"TEST_ENROLLMENT_TOKEN"}
	oc := defaults()
	_, es := other.Decode("c.yaml", nil, []string{"TEST_ENROLLMENT_TOKEN=x", "TEST_SERVER_LISTEN=:3"}, &oc)
	require.Nil(t, es)
	assert.Equal(t, ":3", oc.Server.Listen)
	_, es = testSpec.Decode("c.yaml", nil, []string{"TEST_ENROLLMENT_TOKEN=x"}, &oc)
	require.Len(t, es, 1, "without OtherEnv it is an unknown variable")

	_, err = parse("c.yaml", nil, []string{"TEST_SERVER_LISTN=:1", "TEST_SERVER_TIMEOUT=soon", "TEST_DATABASE_CONNS=x",
		"TEST_SERVER_METRICS=maybe", "TEST_DATABASE_RATIO=half", "TEST_SERVER_MAX_BODY=lots"})
	require.Error(t, err)
	assert.Equal(t, `environment TEST_SERVER_LISTN: no config key has this variable (see the list)
environment TEST_SERVER_TIMEOUT: server.timeout: "soon" is not a duration (e.g. 500ms, 30s, 5m, 720h)
environment TEST_DATABASE_CONNS: database.conns: "x" is not an integer
environment TEST_SERVER_METRICS: server.metrics: "maybe" is not true or false
environment TEST_DATABASE_RATIO: database.ratio: "half" is not a number
environment TEST_SERVER_MAX_BODY: server.max_body: "lots" is not a byte size (want bytes or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 512MiB)`, err.Error())

	// A problem with a value set by a variable names the variable; the
	// others are placed in the file, sorted by position.
	_, err = parse("c.yaml", []byte("database:\n  conns: 0\nserver:\n  listen: nope\n"), []string{"TEST_SERVER_TIMEOUT=1ms"})
	require.Error(t, err)
	assert.Equal(t, `environment TEST_SERVER_TIMEOUT: server.timeout: 1ms is out of range [1s, 1h0m0s]
c.yaml:1:1: database.url: is required (set it in the file or in TEST_DATABASE_URL)
c.yaml:2:3: database.conns: 0 is out of range [1, 100]
c.yaml:4:3: server.listen: "nope" is not host:port (address nope: missing port in address)`, err.Error())
}

func TestKeys(t *testing.T) {
	keys := testSpec.Keys(reflect.TypeFor[testConfig]())
	var got []string
	for _, k := range keys {
		got = append(got, k.Path+" "+k.Env+" "+k.Type)
		assert.True(t, FieldByPath(&testConfig{}, k.Path).CanSet(), k.Path)
	}
	assert.Equal(t, []string{
		"server.listen TEST_SERVER_LISTEN string",
		"server.timeout TEST_SERVER_TIMEOUT time.Duration",
		"server.max_body TEST_SERVER_MAX_BODY confyaml.ByteSize",
		"server.metrics TEST_SERVER_METRICS *bool",
		"database.url TEST_DATABASE_URL confyaml.Secret",
		"database.conns TEST_DATABASE_CONNS int",
		"database.ratio TEST_DATABASE_RATIO float64",
		"tags TEST_TAGS []string",
	}, got)
	assert.False(t, FieldByPath(&testConfig{}, "server.nope").IsValid())
	assert.False(t, FieldByPath(&testConfig{}, "tags.x").IsValid())
}

func TestDocument(t *testing.T) {
	data := []byte("server:\n  listen: \":1\"\n  tls:\n    cert_file: c.pem\nsensors:\n  - id: a\n  - id: b\n    unit: bar\n")
	doc, err := Parse(data)
	require.NoError(t, err)
	assert.Equal(t, 1, doc.Docs())
	assert.False(t, doc.Empty())
	for path, want := range map[string][2]int{
		"server":                {1, 1},
		"server.tls.cert_file":  {4, 5},
		"server.tls.key_file":   {3, 3}, // missing: at its section
		"sensors[1].unit":       {8, 5},
		"sensors[1]":            {7, 7},
		"sensors[5].unit":       {5, 1},
		"nowhere.at.all":        {0, 0},
		"server.listen[3].deep": {2, 3},
	} {
		line, col, ok := doc.Lookup(path)
		assert.Equal(t, want, [2]int{line, col}, path)
		assert.Equal(t, want != [2]int{}, ok, path)
	}
	assert.True(t, doc.Has("server.tls"))
	assert.False(t, doc.Has("server.tls.key_file"))
	path, ok := doc.PathAt(2, 11)
	assert.True(t, ok)
	assert.Equal(t, "server.listen", path, "a value resolves to its key's path")
	_, ok = doc.PathAt(99, 1)
	assert.False(t, ok)

	es := []*FieldError{{Path: "sensors[1].unit", Msg: "b"}, {Path: "server.listen", Msg: "a"}, {Path: "elsewhere", Msg: "c"}}
	doc.Place("f.yaml", es)
	assert.Equal(t, "f.yaml: elsewhere: c\nf.yaml:2:3: server.listen: a\nf.yaml:8:5: sensors[1].unit: b", Errors(es).Error())

	var nilDoc *Document
	_, _, ok = nilDoc.Lookup("server")
	assert.False(t, ok, "a nil Document finds nothing")
	assert.True(t, nilDoc.Empty())

	blank, err := Parse([]byte(" \n"))
	require.NoError(t, err)
	assert.Zero(t, blank.Docs())
	assert.True(t, blank.Empty())

	two, err := Parse([]byte("a: 1\n---\nb: 2\n"))
	require.NoError(t, err)
	assert.Equal(t, 2, two.Docs())

	alias, err := Parse([]byte("a: &x 1\nb: *x\n"))
	require.NoError(t, err)
	line, col, ok := alias.Alias()
	assert.True(t, ok)
	assert.Equal(t, [2]int{1, 4}, [2]int{line, col})
	_, _, ok = doc.Alias()
	assert.False(t, ok)
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"server:\n  listn: x\n", `f.yaml:2:3: server.listn: unknown key "listn" (hint)`},
		{"database:\n  conns: many\n", `f.yaml:2:10: database.conns: "many" is not an integer`},
		{"database:\n  ratio: [1]\n", `f.yaml:2:10: database.ratio: "[" is not a number`},
		{"server:\n  timeout: soon\n", `f.yaml: time: invalid duration "soon"`},
		{"server:\n  timeout: true\n", `f.yaml:2:12: server.timeout: "true" is not a duration (e.g. 500ms, 30s, 5m, 720h)`},
		{"server:\n  metrics: maybe\n", `f.yaml:2:12: server.metrics: "maybe" is not true or false`},
		{"tags: x\n", `f.yaml:1:7: tags: YAML syntax: string was used where sequence is expected`},
		{"server: 1\n", `f.yaml:1:9: server: YAML syntax: int was used where mapping is expected`},
		{"server:\n  max_body: 1XB\n", `f.yaml:2:13: server.max_body: "1XB" is not a byte size`},
		{"server:\n  max_body: [1]\n", `f.yaml:2:13: server.max_body: "[" is not a byte size (want e.g. 512MiB)`},
		{"database:\n  conns: 99999999999999999999\n", `f.yaml:2:10: database.conns: 99999999999999999999 is out of range for an integer`},
	} {
		doc, err := Parse([]byte(c.in))
		require.NoError(t, err, c.in)
		var cfg testConfig
		err = doc.Decode(&cfg)
		require.Error(t, err, c.in)
		assert.Contains(t, doc.Error("f.yaml", err, "hint").Error(), c.want, c.in)
	}
	_, err := Parse([]byte("a: [1\n"))
	require.Error(t, err)
	var nilDoc *Document
	assert.Equal(t, "f.yaml:1:4: YAML syntax: sequence end token ']' not found", nilDoc.Error("f.yaml", err, "hint").Error())
	_, err = Parse([]byte("a: 1\na: 2\n"))
	require.Error(t, err, "the parser finds duplicate keys")
	assert.Equal(t, `f.yaml:2:1: YAML syntax: mapping key "a" already defined at [1:1]`, nilDoc.Error("f.yaml", err, "hint").Error())
	assert.Equal(t, "f.yaml: plain", nilDoc.Error("f.yaml", errors.New("plain"), "hint").Error())
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"0": 0, "1024": 1024, "1KiB": 1024, "1.5GiB": 3 << 29, "2 MB": 2e6, "10B": 10, "64MiB": 64 << 20, "1TB": 1e12,
	} {
		got, err := ParseByteSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "1XB", "MiB", "NaNMiB", "1e30GiB", "-2KiB", "1 2KiB"} {
		_, err := ParseByteSize(in)
		assert.Error(t, err, in)
	}
	assert.Equal(t, "64MiB", (64 * MiB).String())
	assert.Equal(t, "1000", ByteSize(1000).String())
	assert.Equal(t, "0", ByteSize(0).String())
	y, err := yaml.Marshal(struct {
		S ByteSize `yaml:"s"`
	}{3 * GiB})
	require.NoError(t, err)
	assert.Equal(t, "s: 3GiB\n", string(y))
}

func TestSecretNeverPrints(t *testing.T) {
	cfg := defaults()
	cfg.Database.URL = "postgres://u:hunter2@h/x"
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "url", cfg.Database.URL)
	j, jerr := json.Marshal(cfg)
	y, yerr := yaml.Marshal(cfg)
	require.NoError(t, errors.Join(jerr, yerr))
	for name, out := range map[string]string{
		"String": cfg.Database.URL.String(), "%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg),
		"slog": logged.String(), "JSON": string(j), "YAML": string(y),
	} {
		assert.NotContains(t, out, "hunter2", name)
		assert.Contains(t, out, "redacted", name)
	}
	assert.Empty(t, Secret("").String(), "an empty secret prints empty")
	assert.Equal(t, "postgres://u:hunter2@h/x", cfg.Database.URL.Reveal())
}

func TestValidator(t *testing.T) {
	var v Validator
	v.OneOf("log.level", "loud", []string{"debug", "info"})
	v.IntIn("n", 0, 1, 2)
	v.DurationIn("d", time.Millisecond, time.Second, time.Minute)
	v.SizeIn("s", KiB, MiB, GiB)
	assert.False(t, v.Required("r", " "))
	assert.True(t, v.Required("r", "x"))
	v.HostPort("h", "x:99999")
	v.HostPort("h", ":80") // fine: every interface
	v.Add("", "whole %s", "file")
	assert.Equal(t, `log.level: "loud" is not one of "debug", "info"
n: 0 is out of range [1, 2]
d: 1ms is out of range [1s, 1m0s]
s: 1KiB is out of range [1MiB, 1GiB]
r: is required
h: "x:99999": port "99999" is not a number in [0, 65535]
whole file`, Errors(v.Problems).Error())
	assert.Len(t, Errors(v.Problems).Unwrap(), 7)
}

// A problem with a list item (tags[1]) set by a variable names the
// variable, not the file (which may not even have the key).
func TestEnvListItemProblemNamesVariable(t *testing.T) {
	_, err := parse("c.yaml", []byte("database:\n  url: postgres://db\ntags: [a]\n"), []string{"TEST_TAGS=a,x"})
	require.Error(t, err)
	assert.Equal(t, `environment TEST_TAGS: tags[1]: "x" is not one of "a", "b"`, err.Error())
	_, err = parse("c.yaml", []byte("database:\n  url: postgres://db\ntags: [a, x]\n"), nil)
	require.Error(t, err)
	assert.Equal(t, `c.yaml:3:11: tags[1]: "x" is not one of "a", "b"`, err.Error(), "from the file: placed in it")
}
