package rig

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/confyaml/confyamltest"
)

func TestBadConfigs(t *testing.T) {
	confyamltest.BadFiles(t, "testdata/*.bad.yaml", 1, func(t *testing.T, f string, data []byte) error {
		cfg, err := Parse(f, data)
		require.Error(t, err)
		assert.Nil(t, cfg)
		assert.ErrorIs(t, err, ErrInvalid)
		var es Errors
		require.True(t, errors.As(err, &es), "want rig.Errors, got %T", err)
		for _, e := range es {
			assert.Equal(t, f, e.File, "every error names the file")
			if e.Path != "" {
				assert.Positive(t, e.Line, "an error at a key path has a line: %v", e)
			}
			assert.True(t, strings.HasPrefix(e.Error(), f+":"), "error starts with the file name: %v", e)
		}
		return err
	})
}

func TestShippedConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../firmware-configs/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			require.NoError(t, err)
			assert.Equal(t, strings.TrimSuffix(filepath.Base(f), ".yaml"), cfg.RigType, "file name is the rig type")
		})
	}
}

func TestMinimalGood(t *testing.T) {
	cfg, err := Load("testdata/minimal.good.yaml")
	require.NoError(t, err)
	assert.Equal(t, "mini-rig", cfg.RigType)
	assert.Equal(t, 1, cfg.Sensors[0].MQTT.QoSOrDefault(), "absent qos means 1")
	assert.Equal(t, 0, cfg.Sensors[1].MQTT.QoSOrDefault(), "qos 0 is kept")
}

func TestDigestIgnoresFormattingButNotContent(t *testing.T) {
	data, err := os.ReadFile("testdata/minimal.good.yaml")
	require.NoError(t, err)
	a, err := Parse("a", data)
	require.NoError(t, err)
	b, err := Parse("b", append([]byte("# a comment\n\n"), data...))
	require.NoError(t, err)
	assert.Equal(t, a.Digest(), b.Digest())
	c, err := Parse("c", bytes.Replace(data, []byte("rate_hz: 100"), []byte("rate_hz: 50"), 1))
	require.NoError(t, err)
	assert.NotEqual(t, a.Digest(), c.Digest())
	assert.True(t, strings.HasPrefix(a.Digest(), "sha256:"))
}

func TestValidateBuiltInCode(t *testing.T) {
	cfg, err := Load("testdata/minimal.good.yaml")
	require.NoError(t, err)
	cfg.Sensors[0].Unit = "degrees"
	err = cfg.Validate()
	require.Error(t, err)
	assert.Equal(t, `sensors[0].unit: "degrees" is not a unit of pressure (want one of bar, kPa, MPa, Pa, psi)`, err.Error())
}

func TestTooLarge(t *testing.T) {
	_, err := Parse("big.yaml", make([]byte, MaxFileSize+1))
	require.ErrorContains(t, err, "big.yaml: file is larger than 1048576 bytes")
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	require.ErrorContains(t, err, "does-not-exist.yaml")
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files2, _ := filepath.Glob("../../firmware-configs/*.yaml")
	for _, p := range append(files, files2...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config fails Validate: %v", err)
		}
		_ = cfg.Digest()
	})
}

// TestMayDropOut: the flag loads, changes the digest where it is set,
// and leaves the digest of a config without it as it was (omitempty),
// so the shipped bundles, whose manifests record their config's digest,
// still match their configs.
func TestMayDropOut(t *testing.T) {
	data, err := os.ReadFile("testdata/minimal.good.yaml")
	require.NoError(t, err)
	a, err := Parse("a", data)
	require.NoError(t, err)
	assert.False(t, a.Sensors[1].MayDropOut)
	b, err := Parse("b", bytes.Replace(data, []byte("    component: tank\n"), []byte("    component: tank\n    may_drop_out: true\n"), 1))
	require.NoError(t, err)
	assert.True(t, b.Sensors[1].MayDropOut)
	assert.NotEqual(t, a.Digest(), b.Digest(), "the flag is part of the digest")

	for _, rt := range []string{"zema-testrig", "skab-testbed", "excavator"} {
		cfg, err := Load("../../firmware-configs/" + rt + ".yaml")
		require.NoError(t, err)
		raw, err := os.ReadFile("../../models/bundles/" + rt + "/manifest.json")
		require.NoError(t, err)
		var man struct {
			ConfigDigest string `json:"config_digest"`
		}
		require.NoError(t, json.Unmarshal(raw, &man))
		assert.Equal(t, man.ConfigDigest, cfg.Digest(), "%s: the shipped bundle still matches its config", rt)
		for _, s := range cfg.Sensors {
			assert.False(t, s.MayDropOut, "%s: no shipped sensor is flagged", rt)
		}
	}
}
