package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/shared/confyaml"
	"github.com/hydrognn/hydrognn/shared/confyaml/confyamltest"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func init() {
	hostname = func() (string, error) { return "edge box#1", nil }
}

func TestBadConfigs(t *testing.T) {
	confyamltest.BadFiles(t, "testdata/*.bad.yaml", 20, func(t *testing.T, f string, data []byte) error {
		// Named by base name so that messages are stable.
		name := filepath.Base(f)
		cfg, err := Parse(name, data, nil)
		require.Error(t, err)
		assert.Nil(t, cfg)
		assert.ErrorIs(t, err, ErrInvalid)
		var es Errors
		require.True(t, errors.As(err, &es), "want Errors, got %T", err)
		doc, _ := confyaml.Parse(data)
		for _, e := range es {
			assert.True(t, strings.HasPrefix(e.Error(), name+":"), "error starts with the file name: %v", e)
			if _, _, inFile := doc.Lookup(e.Path); e.Path != "" && inFile {
				assert.Positive(t, e.Line, "an error at a key path in the file has a line: %v", e)
			}
		}
		return err
	})
}

func TestMinimalConfigLoads(t *testing.T) {
	t.Setenv("RIG_AGENT_AGENT_DATA_DIR", t.TempDir())
	cfg, err := Load("testdata/minimal.yaml")
	require.NoError(t, err)
	require.NotNil(t, cfg.Firmware)
	assert.Equal(t, "zema-testrig", cfg.Firmware.RigType)
	assert.Equal(t, "edge-box-1", cfg.Agent.ID, "the host name, sanitised")
	assert.Equal(t, "rig-agent-edge-box-1", cfg.Broker.ClientID)
	assert.Equal(t, filepath.Join(cfg.Agent.DataDir, "buffer.db"), cfg.Buffer.Path)
	assert.Equal(t, filepath.Join("..", "..", "..", "models", "bundles", "zema-testrig"), cfg.Model.BundleDir,
		"relative to the config file's directory")
	d := Defaults()
	assert.Equal(t, d.Buffer.MaxBytes, cfg.Buffer.MaxBytes)
	assert.Equal(t, 1, cfg.Broker.QoS)
	assert.Equal(t, []string{"cpu"}, cfg.Model.Providers)
	assert.False(t, cfg.Cloud.Enabled())
	assert.Equal(t, "tcp://127.0.0.1:1883", cfg.Broker.URL)
}

func TestLoadChecksFiles(t *testing.T) {
	dir := t.TempDir()
	fw := filepath.Join(dir, "rig.yaml")
	require.NoError(t, os.WriteFile(fw, []byte("api_version: hydrognn/v1\nrig_type: x\n"), 0o600))
	path := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`rig:
  firmware_config: rig.yaml
model:
  bundle_dir: no-such-bundle
broker:
  url: mqtts://broker:8883
  tls:
    ca_file: ca.pem
`), 0o600))
	_, err := Load(path)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorIs(t, err, rig.ErrInvalid, "the firmware config's own errors come along")
	msg := err.Error()
	assert.Contains(t, msg, path+":2:3: rig.firmware_config: firmware config \""+fw+"\" cannot be used:")
	assert.Contains(t, msg, path+":4:3: model.bundle_dir: \""+filepath.Join(dir, "no-such-bundle")+"\": no such file or directory")
	assert.Contains(t, msg, path+":8:5: broker.tls.ca_file: ")
	assert.Contains(t, msg, fw+":", "the firmware config's errors name its file")

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.yaml")
}

func TestLoadForEnroll(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	cred := filepath.Join(dir, "credential")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`rig:
  firmware_config: %s
model:
  bundle_dir: %s
cloud:
  url: https://cloud.example.com
  credential_file: credential
`, mustAbs(t, "../../../firmware-configs/zema-testrig.yaml"), mustAbs(t, "../../../models/bundles/zema-testrig"))), 0o600))
	t.Setenv("RIG_AGENT_AGENT_DATA_DIR", dir)
	t.Setenv(EnvEnrollmentToken, "rge_x") // not a config key, and no error

	_, err := Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cloud.credential_file: \""+cred+"\": no such file or directory")
	cfg, err := LoadForEnroll(path)
	require.NoError(t, err, "the credential file is what enroll writes")
	assert.Equal(t, cred, cfg.Cloud.CredentialFile)
	require.NotNil(t, cfg.Firmware)
	assert.Equal(t, "zema-testrig", cfg.Firmware.RigType)

	require.NoError(t, os.WriteFile(path, []byte("rig:\n  firmware_config: nope.yaml\nmodel:\n  bundle_dir: /b\n"), 0o600))
	_, err = LoadForEnroll(path)
	assert.ErrorIs(t, err, ErrInvalid, "the other files are checked as by Load")
}

func TestEnvOverrides(t *testing.T) {
	base := []byte("rig:\n  firmware_config: /etc/rig.yaml\nmodel:\n  bundle_dir: /b\nbroker:\n  qos: 2\n")
	env := []string{
		"PATH=/usr/bin",
		"RIG_AGENT_BROKER_QOS=1",
		"RIG_AGENT_BROKER_URL=ssl://broker.plant:8883",
		"RIG_AGENT_BROKER_PASSWORD=s3cret!: #not yaml",
		"RIG_AGENT_BROKER_USERNAME=agent",
		"RIG_AGENT_BROKER_TLS_CA_FILE=/etc/ca.pem",
		"RIG_AGENT_BUFFER_MAX_BYTES=2GiB",
		"RIG_AGENT_BUFFER_GROUP_COMMIT_DELAY=5ms",
		"RIG_AGENT_BUFFER_SKIP_CHECK=true",
		"RIG_AGENT_BUFFER_COMPACT_FREE_RATIO=0.25",
		"RIG_AGENT_MODEL_PROVIDERS=cuda, cpu",
		"RIG_AGENT_AGENT_ID=rig-42",
		"RIG_AGENT_AGENT_DATA_DIR=relative/state",
	}
	cfg, err := Parse("/etc/rig-agent/agent.yaml", base, env)
	require.NoError(t, err)
	assert.Equal(t, 1, cfg.Broker.QoS, "the environment wins over the file")
	assert.Equal(t, "ssl://broker.plant:8883", cfg.Broker.URL)
	assert.Equal(t, "s3cret!: #not yaml", cfg.Broker.Password.Reveal(), "strings are taken verbatim")
	assert.Equal(t, "/etc/ca.pem", cfg.Broker.TLS.CAFile)
	assert.Equal(t, 2*GiB, cfg.Buffer.MaxBytes)
	assert.Equal(t, 5*time.Millisecond, cfg.Buffer.GroupCommitDelay)
	assert.True(t, cfg.Buffer.SkipCheck)
	assert.Equal(t, 0.25, cfg.Buffer.CompactFreeRatio)
	assert.Equal(t, []string{"cuda", "cpu"}, cfg.Model.Providers)
	assert.Equal(t, "rig-42", cfg.Agent.ID)
	assert.Equal(t, "rig-agent-rig-42", cfg.Broker.ClientID)
	assert.Equal(t, "/etc/rig-agent/relative/state", cfg.Agent.DataDir, "relative paths resolve against the config file's directory")
	assert.Equal(t, "/etc/rig-agent/relative/state/buffer.db", cfg.Buffer.Path)

	t.Run("errors name the variable", func(t *testing.T) {
		_, err := Parse("agent.yaml", base, []string{"RIG_AGENT_BROKER_QOS=x", "RIG_AGENT_BROKR_URL=tcp://a:1", "RIG_AGENT_BUFFER_MAX_BYTES=lots"})
		require.ErrorIs(t, err, ErrInvalid)
		msg := err.Error()
		assert.Contains(t, msg, `environment RIG_AGENT_BROKER_QOS: broker.qos: "x" is not an integer`)
		assert.Contains(t, msg, "environment RIG_AGENT_BROKR_URL: no config key has this variable")
		assert.Contains(t, msg, `environment RIG_AGENT_BUFFER_MAX_BYTES: buffer.max_bytes: "lots" is not a byte size`)
	})
	t.Run("validation of an overridden value names the variable", func(t *testing.T) {
		_, err := Parse("agent.yaml", base, []string{"RIG_AGENT_BROKER_QOS=0"})
		require.ErrorIs(t, err, ErrInvalid)
		assert.Contains(t, err.Error(), "environment RIG_AGENT_BROKER_QOS: broker.qos: 0 is not 1 or 2")
	})
	t.Run("required keys may come from the environment alone", func(t *testing.T) {
		cfg, err := Parse("agent.yaml", nil, []string{"RIG_AGENT_RIG_FIRMWARE_CONFIG=/r.yaml", "RIG_AGENT_MODEL_BUNDLE_DIR=/b"})
		require.NoError(t, err)
		assert.Equal(t, "/r.yaml", cfg.Rig.FirmwareConfig)
	})
}

func TestKeysAndEnvNamesAreUnique(t *testing.T) {
	keys := Keys()
	require.Greater(t, len(keys), 50)
	seen := map[string]string{}
	for _, k := range keys {
		prev, dup := seen[k.Env]
		assert.False(t, dup, "%s and %s map to the same variable %s", prev, k.Path, k.Env)
		seen[k.Env] = k.Path
		assert.Equal(t, "RIG_AGENT_"+strings.ToUpper(strings.ReplaceAll(k.Path, ".", "_")), k.Env)
		// Every key can be set from the environment.
		cfg := Defaults()
		v := confyaml.FieldByPath(&cfg, k.Path)
		require.True(t, v.IsValid(), k.Path)
	}
	assert.Equal(t, "RIG_AGENT_BROKER_TLS_CA_FILE", spec.EnvName("broker.tls.ca_file"))
}

// The example config in deploy/ is a test: it must parse and document
// every key (TestExampleStatesDefaults checks that it keeps every default
// it states).
func TestExampleConfig(t *testing.T) {
	const path = "../../../deploy/rig-agent.example.yaml"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg, err := Parse(path, data, nil)
	require.NoError(t, err)
	doc, err := confyaml.Parse(data)
	require.NoError(t, err)
	for _, k := range Keys() {
		assert.True(t, doc.Has(k.Path), "the example config shows key %s", k.Path)
	}
	// Load it for real with the environment pointing at the repository's
	// files: the example works as shipped.
	t.Setenv("RIG_AGENT_RIG_FIRMWARE_CONFIG", mustAbs(t, "../../../firmware-configs/zema-testrig.yaml"))
	t.Setenv("RIG_AGENT_MODEL_BUNDLE_DIR", mustAbs(t, "../../../models/bundles/zema-testrig"))
	t.Setenv("RIG_AGENT_AGENT_DATA_DIR", t.TempDir())
	loaded, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, cfg.Agent.ID, loaded.Agent.ID)
	assert.Equal(t, "zema-testrig", loaded.Firmware.RigType)
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

// docs/agent.md's reference lists every key with its variable.
func TestDocsListEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../../docs/agent.md")
	require.NoError(t, err)
	doc := string(data)
	for _, k := range Keys() {
		assert.Contains(t, doc, "`"+k.Path+"`", "docs/agent.md documents %s", k.Path)
	}
	assert.Contains(t, doc, "RIG_AGENT_BROKER_TLS_CA_FILE")
}

func TestDefaultsValidateOnceRequiredAreSet(t *testing.T) {
	cfg := Defaults()
	cfg.Agent.ID = "a"
	cfg.Rig.FirmwareConfig = "/r.yaml"
	cfg.Model.BundleDir = "/b"
	cfg.derive("/")
	require.NoError(t, cfg.Validate())
	cfg.Broker.QoS = 3
	err := cfg.Validate()
	require.ErrorIs(t, err, ErrInvalid)
	assert.Equal(t, "broker.qos: 3 is not 1 or 2 (the agent acknowledges a message only after storing it, which needs QoS 1 or 2)", err.Error())
}

func TestEmbeddedBrokerDerivesURL(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte("rig: {firmware_config: r.yaml}\nmodel: {bundle_dir: b}\nbroker:\n  embedded: true\n  url: ignored\n  listen: 0.0.0.0:1884\n  allow_anonymous: true\n"), nil)
	require.NoError(t, err)
	assert.Equal(t, "tcp://0.0.0.0:1884", cfg.Broker.URL)
}

func TestBufferOptions(t *testing.T) {
	cfg := Defaults()
	o := cfg.BufferOptions(slog.Default())
	assert.Equal(t, int64(GiB), o.MaxBytes)
	assert.Equal(t, buffer.PolicyDropOldest, o.FullPolicy)
	assert.Equal(t, []string{WindowingCursor}, o.Consumers, "no cloud: only the windowing waits for readings")
	cfg.Cloud.URL = "https://c.example.com"
	cfg.Buffer.MaxAge, cfg.Buffer.GroupCommitDelay, cfg.Buffer.CompactFreeRatio = 0, 0, 0
	o = cfg.BufferOptions(nil)
	assert.Equal(t, []string{WindowingCursor, ForwardCursor}, o.Consumers)
	assert.Negative(t, o.MaxAge, "0s means no age limit")
	assert.Zero(t, o.GroupDelay, "0s means no linger")
	assert.Negative(t, o.CompactFreeRatio, "0 means never")
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	assert.Equal(t, "<redacted>", s.String())
	assert.Equal(t, "<redacted>", fmt.Sprint(s))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "password", s)
	assert.NotContains(t, buf.String(), "hunter2")
	cfg := Defaults()
	cfg.Broker.Password = s
	j, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.NotContains(t, string(j), "hunter2")
	y, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	assert.NotContains(t, string(y), "hunter2")
	assert.Equal(t, "hunter2", s.Reveal())
}

// FuzzParse: arbitrary bytes never panic, and every failure is Errors.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	if data, err := os.ReadFile("../../../deploy/rig-agent.example.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("broker: {max_packet_bytes: !!binary AAAA}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, nil)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, not Errors: %v", err, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse returned a config that fails Validate: %v", err)
		}
	})
}

func TestPasswordValue(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mqtt.pass")
	require.NoError(t, os.WriteFile(p, []byte("s3cret\n"), 0o600))
	got, err := Broker{PasswordFile: p}.PasswordValue()
	require.NoError(t, err)
	assert.Equal(t, "s3cret", got.Reveal())
	got, err = Broker{Password: "inline"}.PasswordValue()
	require.NoError(t, err)
	assert.Equal(t, "inline", got.Reveal())
	_, err = Broker{PasswordFile: p + ".missing"}.PasswordValue()
	assert.ErrorContains(t, err, "broker.password_file")
}

func TestTensorRTCacheKeys(t *testing.T) {
	base := []byte("agent:\n  data_dir: /var/lib/rig-agent\nrig:\n  firmware_config: /etc/rig.yaml\nmodel:\n  bundle_dir: /b\n  providers: [tensorrt, cuda, cpu]\n")
	cfg, err := Parse("/etc/rig-agent/agent.yaml", base, nil)
	require.NoError(t, err)
	assert.True(t, cfg.Model.TensorRTEngineCache, "the engine cache is on by default")
	assert.Equal(t, "/var/lib/rig-agent/tensorrt", cfg.Model.TensorRTCacheDir, "derived from agent.data_dir")
	assert.False(t, cfg.Model.TensorRTFP16)

	cfg, err = Parse("/etc/rig-agent/agent.yaml", append(base, "  tensorrt_cache_dir: trt\n  tensorrt_fp16: true\n"...), nil)
	require.NoError(t, err)
	assert.Equal(t, "/etc/rig-agent/trt", cfg.Model.TensorRTCacheDir, "relative to the config file's directory")
	assert.True(t, cfg.Model.TensorRTFP16)

	cfg, err = Parse("/etc/rig-agent/agent.yaml", base, []string{
		"RIG_AGENT_MODEL_TENSORRT_ENGINE_CACHE=false", "RIG_AGENT_MODEL_TENSORRT_CACHE_DIR=/data/trt", "RIG_AGENT_AGENT_DATA_DIR=/srv/agent",
	})
	require.NoError(t, err)
	assert.False(t, cfg.Model.TensorRTEngineCache)
	assert.Equal(t, "/data/trt", cfg.Model.TensorRTCacheDir)

	_, err = Parse("agent.yaml", append(base, "  tensorrt_fp16: maybe\n"...), nil)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "model.tensorrt_fp16")
}
