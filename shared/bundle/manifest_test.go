package bundle

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func zema(t testing.TB) *rig.Config {
	t.Helper()
	cfg, err := rig.Load("../../firmware-configs/zema-testrig.yaml")
	require.NoError(t, err)
	return cfg
}

// writeBundle writes a bundle with a stand-in model file for cfg into a
// temporary directory and returns the directory and manifest.
func writeBundle(t testing.TB, cfg *rig.Config) (string, *Manifest) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.fp32.onnx"), []byte("not really onnx"), 0o644))
	spec, err := prep.SpecFromConfig(cfg, 1, 60)
	require.NoError(t, err)
	comps := make([]string, len(cfg.Components))
	for i, c := range cfg.Components {
		comps[i] = c.ID
	}
	sensors := make([]string, len(spec.Sensors))
	thr := make([]float64, len(spec.Sensors))
	for i, s := range spec.Sensors {
		sensors[i], thr[i] = s.ID, 1
	}
	m := &Manifest{
		FormatVersion: FormatVersion, Name: cfg.RigType, Version: "1.0.0",
		RigType: cfg.RigType, ConfigDigest: cfg.Digest(), TopologyVersion: cfg.TopologyVersion,
		CreatedAt: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		Input:     spec, Components: comps,
		Models: []Model{{File: "model.fp32.onnx", Precision: FP32, Quantization: QuantNone, Opset: 17,
			Inputs: []string{"x", "mask"}, Outputs: []string{"health", "anomaly"}}},
		Heads: []Head{
			{Kind: HeadHealth, Output: "health", Labels: comps},
			{Kind: HeadAnomaly, Output: "anomaly", Labels: sensors, Thresholds: thr},
		},
		Provenance: Provenance{Dataset: "test", CodeVersion: "dev"},
	}
	require.NoError(t, FillModel(dir, &m.Models[0]))
	require.NoError(t, Write(dir, m))
	return dir, m
}

func TestWriteLoadRoundTrip(t *testing.T) {
	cfg := zema(t)
	dir, m := writeBundle(t, cfg)
	got, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, m.Digest(), got.Digest())
	require.NoError(t, got.CheckRig(cfg))
	assert.NotNil(t, got.Model(FP32))
	assert.Nil(t, got.Model(INT8))
}

func TestLoadRefusesTamperedModel(t *testing.T) {
	dir, _ := writeBundle(t, zema(t))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.fp32.onnx"), []byte("not really onnX"), 0o644))
	_, err := Load(dir)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "model.fp32.onnx is 15 bytes with sha256")
}

func TestCheckRigNamesEveryDifference(t *testing.T) {
	cfg := zema(t)
	_, m := writeBundle(t, cfg)
	other, err := rig.Load("../../firmware-configs/skab-testbed.yaml")
	require.NoError(t, err)
	err = m.CheckRig(other)
	require.ErrorIs(t, err, ErrMismatch)
	for _, want := range []string{`rig type "zema-testrig", the rig is "skab-testbed"`, "firmware-config digest", `input sensor "PS1" is not on the rig`} {
		assert.Contains(t, err.Error(), want)
	}

	changed := zema(t)
	changed.Sensors[0].RateHz = 50
	err = m.CheckRig(changed)
	require.ErrorIs(t, err, ErrMismatch)
	assert.Contains(t, err.Error(), `input sensor "PS1" at 100 Hz, the rig's is 50 Hz`)
}

func TestDecodeRefusesBadManifests(t *testing.T) {
	_, m := writeBundle(t, zema(t))
	good, err := json.Marshal(m)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, want string
		edit       func(map[string]any)
	}{
		{"unknown field", `unknown field "colour"`, func(x map[string]any) { x["colour"] = "red" }},
		{"format", "format_version: 3 is not supported", func(x map[string]any) { x["format_version"] = 3 }},
		{"file thresholds in format 1", "models[0].thresholds: needs format_version 2", func(x map[string]any) {
			x["format_version"] = 1
			x["models"].([]any)[0].(map[string]any)["thresholds"] = []any{1}
		}},
		{"file thresholds count", "models[0].thresholds: 1 thresholds, the anomaly head has 17 sensor labels", func(x map[string]any) {
			x["models"].([]any)[0].(map[string]any)["thresholds"] = []any{1}
		}},
		{"version", `version: "latest" is not a semantic version`, func(x map[string]any) { x["version"] = "latest" }},
		{"escape", `models[0].file: "../x.onnx" must be a relative path inside the bundle`, func(x map[string]any) {
			x["models"].([]any)[0].(map[string]any)["file"] = "../x.onnx"
		}},
		{"type", "version: number is not string", func(x map[string]any) { x["version"] = 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x map[string]any
			require.NoError(t, json.Unmarshal(good, &x))
			tc.edit(x)
			b, err := json.Marshal(x)
			require.NoError(t, err)
			_, err = Decode(bytes.NewReader(b))
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err = Decode(strings.NewReader("{"))
	require.ErrorIs(t, err, ErrInvalid)
}

func FuzzDecode(f *testing.F) {
	cfg, err := rig.Load("../../firmware-configs/zema-testrig.yaml")
	if err != nil {
		f.Fatal(err)
	}
	_, m := writeBundle(f, cfg)
	good, _ := json.Marshal(m)
	f.Add(good)
	f.Add([]byte(`{"format_version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(bytes.NewReader(data))
		if err == nil {
			if err := m.Validate(); err != nil {
				t.Fatalf("decoded manifest fails Validate: %v", err)
			}
		}
	})
}

func TestWriteMakesManifestReadable(t *testing.T) {
	dir, _ := writeBundle(t, zema(t))
	fi, err := os.Stat(filepath.Join(dir, ManifestFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
}

// TestDropoutSensors: provenance.config.dropout_sensors round-trips as
// the list of sensors trained with whole-window dropout; a bundle
// without it has none; a list naming no input sensor, or holding no
// strings, is refused.
func TestDropoutSensors(t *testing.T) {
	cfg := zema(t)
	dir, m := writeBundle(t, cfg)
	got, err := Load(dir)
	require.NoError(t, err)
	assert.Nil(t, got.DropoutSensors(), "a bundle without the key: none")

	m.Provenance.Config = map[string]any{DropoutSensorsKey: []string{"SE", "FS2"}}
	assert.Equal(t, []string{"SE", "FS2"}, m.DropoutSensors())
	require.NoError(t, Write(dir, m))
	got, err = Load(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"SE", "FS2"}, got.DropoutSensors(), "as JSON decodes it")

	for _, v := range []any{[]string{"XX"}, []any{1.0}, "SE"} {
		m.Provenance.Config = map[string]any{DropoutSensorsKey: v}
		err := m.Validate()
		require.ErrorIs(t, err, ErrInvalid, "%v", v)
		assert.Contains(t, err.Error(), "provenance.config.dropout_sensors")
	}
}

// TestAnomalyThresholdsPerFile: a model file with its own thresholds
// (format 2) gets them, one without gets the anomaly head's, and a format
// 1 manifest (no per-file thresholds) still decodes.
func TestAnomalyThresholdsPerFile(t *testing.T) {
	dir, m := writeBundle(t, zema(t))
	head := m.Heads[1].Thresholds
	require.Equal(t, head, m.AnomalyThresholds(&m.Models[0]))

	own := make([]float64, len(head))
	for i := range own {
		own[i] = 2 + float64(i)
	}
	m.Models[0].Thresholds = own
	require.NoError(t, Write(dir, m))
	got, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, own, got.AnomalyThresholds(got.Model(FP32)))
	assert.Equal(t, head, got.Heads[1].Thresholds)

	m.Models[0].Thresholds = nil
	m.FormatVersion = 1
	require.NoError(t, Write(dir, m))
	got, err = Load(dir)
	require.NoError(t, err)
	assert.Equal(t, 1, got.FormatVersion)
	assert.Equal(t, head, got.AnomalyThresholds(got.Model(FP32)))
}

// TestValidateRefusesNonFiniteNumbers: a NaN or infinite metric (a
// diverged run's loss) or anomaly-head threshold cannot be encoded in
// JSON; Validate names it, so that Write and the exporter refuse the
// manifest before touching the bundle directory.
func TestValidateRefusesNonFiniteNumbers(t *testing.T) {
	dir, m := writeBundle(t, zema(t))
	m.Metrics = map[string]float64{"val.loss": math.NaN(), "cooler.accuracy": math.Inf(1), "best_epoch": 3}
	err := m.Validate()
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "metrics.val.loss: NaN is not a finite number")
	assert.Contains(t, err.Error(), "metrics.cooler.accuracy: +Inf is not a finite number")
	assert.NotContains(t, err.Error(), "best_epoch")
	require.ErrorIs(t, Write(dir, m), ErrInvalid)

	m.Metrics = nil
	m.Heads[1].Thresholds[2] = math.Inf(1)
	err = m.Validate()
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "heads[1].thresholds[2]: +Inf must be > 0 and finite")
	_, err = Load(dir)
	require.NoError(t, err, "the refused manifests changed nothing")
}

// ManifestFormat reads format_version alone, from formats this package
// does not read too.
func TestManifestFormat(t *testing.T) {
	for data, want := range map[string]int{
		`{"format_version":1,"name":"x"}`:            1,
		`{"format_version":2}`:                       2,
		`{"format_version":7,"field_of_format_7":1}`: 7,
	} {
		got, err := ManifestFormat([]byte(data))
		require.NoError(t, err, data)
		assert.Equal(t, want, got, data)
	}
	for _, bad := range []string{`{}`, `{"format_version":0}`, `{"format_version":"2"}`, `not json`} {
		_, err := ManifestFormat([]byte(bad))
		assert.ErrorIs(t, err, ErrInvalid, bad)
	}
}
