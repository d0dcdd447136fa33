package export_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/shared/bundle"
)

// quantileOf is train.Run's rule: per sensor, the q-quantile (the
// ceil(q*n)-th smallest) of anomaly [n, S].
func quantileOf(anomaly []float32, S int, q float64) []float64 {
	n := len(anomaly) / S
	out := make([]float64, S)
	col := make([]float64, n)
	for s := range S {
		for i := range n {
			col[i] = float64(anomaly[i*S+s])
		}
		sort.Float64s(col)
		out[s] = math.Max(col[min(n-1, int(math.Ceil(q*float64(n)))-1)], export.MinThreshold)
	}
	return out
}

// TestWriteBundleInt8Thresholds: each model file of a bundle carries
// anomaly thresholds calibrated on its own outputs over the training
// windows: the int8 file's are the quantile of ONNX Runtime's int8
// output (not fp32's), and differ from fp32's where the outputs do.
func TestWriteBundleInt8Thresholds(t *testing.T) {
	tm := tinyModel(t)
	c := tm.res.Calibration
	require.NotNil(t, c, "train.Run keeps its calibration windows")
	dir := filepath.Join(t.TempDir(), "bundle")
	_, err := export.WriteBundle(dir, tm.cfg, tm.res, export.BundleOptions{})
	require.NoError(t, err)
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	require.Equal(t, bundle.FormatVersion, man.FormatVersion)
	fp, i8 := man.Model(bundle.FP32), man.Model(bundle.INT8)
	require.NotNil(t, i8)
	an := man.Heads[len(man.Heads)-1]
	require.Equal(t, an.Thresholds, man.AnomalyThresholds(fp), "fp32 keeps the head's thresholds")
	th8 := man.AnomalyThresholds(i8)
	require.Len(t, th8, len(an.Thresholds))
	require.NotEqual(t, an.Thresholds, th8, "the int8 file's thresholds are its own")

	// They are what ONNX Runtime's int8 outputs give with the same rule.
	m := tm.res.Model
	S, T := m.Sensors, m.Steps
	run := func(file string) []float32 {
		data, err := os.ReadFile(filepath.Join(dir, file))
		require.NoError(t, err)
		return runORT(t, data, c.Windows.X, c.Windows.Mask, c.Windows.N, S, T, []string{export.OutputAnomaly})[export.OutputAnomaly]
	}
	out8, out32 := run(export.FileINT8), run(export.FileFP32)
	want8, want32 := quantileOf(out8, S, c.Quantile), quantileOf(out32, S, c.Quantile)
	differ := 0
	for s := range S {
		t.Logf("sensor %d: fp32 %.6g int8 %.6g (ORT %.6g / %.6g)", s, an.Thresholds[s], th8[s], want32[s], want8[s])
		require.InDelta(t, want8[s], th8[s], 1e-5*math.Max(1, want8[s]), "sensor %d: int8 threshold vs ONNX Runtime's int8 outputs", s)
		require.InDelta(t, want32[s], an.Thresholds[s], 1e-5*math.Max(1, want32[s]), "sensor %d: fp32 threshold vs ONNX Runtime's fp32 outputs", s)
		if math.Abs(want8[s]-want32[s]) > 1e-5*want32[s] {
			differ++
			require.NotEqual(t, an.Thresholds[s], th8[s], "sensor %d: int8 and fp32 outputs differ, so do their thresholds", s)
		}
	}
	require.Positive(t, differ, "the int8 weights move some sensor's threshold")
}

// TestDequantizedWeights: the weights read back from the int8 graph are
// the fp32 weights within each tensor's quantisation step, and differ
// from them (the int8 file computes with other weights).
func TestDequantizedWeights(t *testing.T) {
	tm := tinyModel(t)
	q, rep, err := export.Quantized(tm.res.Model, tm.res.Weights, onnx.WeightOnly, export.GraphOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, rep.Quantized)
	w8, err := export.DequantizedWeights(tm.res.Model, tm.res.Weights, q, rep)
	require.NoError(t, err)
	changed := 0
	for i, tw := range tm.res.Weights {
		d := w8[i]
		require.Equal(t, tw.Name, d.Name)
		maxAbs := 0.0
		for _, v := range tw.Data {
			maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
		}
		for k := range tw.Data {
			require.InDelta(t, tw.Data[k], d.Data[k], maxAbs/127+1e-7, "%s[%d]", tw.Name, k)
		}
		if !slices.Equal(tw.Data, d.Data) {
			changed++
		}
	}
	require.Positive(t, changed)
	names := []string{"enc/patch/w"}
	for _, qt := range rep.Quantized {
		names = append(names, qt.Name)
	}
	for _, name := range names {
		if name == "enc/gru/W" || name == "enc/gru/R" {
			continue
		}
		i := slices.IndexFunc(tm.res.Weights, func(x gnn.Tensor) bool { return x.Name == name })
		require.GreaterOrEqual(t, i, 0, name)
		require.NotEqual(t, tm.res.Weights[i].Data, w8[i].Data, "%s is stored as int8", name)
	}
}
