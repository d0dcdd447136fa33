package export_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/bundle"
)

// snapshot returns every file of dir by name.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = b
	}
	return out
}

// perturbed returns a copy of tm.res whose weights differ (so its model
// files differ from tm.res's) and whose validation loss is NaN, as after
// a diverged run.
func perturbed(tm *tiny) *train.Result {
	r := *tm.res
	r.Weights = tm.res.Weights.Clone()
	r.Weights.Get("node/emb").Data[0] += 0.5
	val := train.Metrics{}
	if tm.res.Val != nil {
		val = *tm.res.Val
	}
	val.Loss = math.NaN()
	r.Val = &val
	return &r
}

// TestWriteBundleInvalidManifestKeepsBundle: a manifest that cannot be
// written (a NaN val.loss of a diverged run) is refused before the
// bundle directory changes: the previous bundle stays byte for byte and
// loads, with or without NoInt8 (which used to delete model.int8.onnx
// while the old manifest still listed it). The old exporter replaced the
// model files first, leaving the old manifest with mismatching digests.
func TestWriteBundleInvalidManifestKeepsBundle(t *testing.T) {
	tm := tinyModel(t)
	dir := filepath.Join(t.TempDir(), "bundle")
	_, err := export.WriteBundle(dir, tm.cfg, tm.res, export.BundleOptions{})
	require.NoError(t, err)
	before := snapshot(t, dir)

	bad := perturbed(tm)
	for _, opts := range []export.BundleOptions{{}, {NoInt8: true}, {Version: "2.0.0"}} {
		_, err = export.WriteBundle(dir, tm.cfg, bad, opts)
		require.ErrorIs(t, err, export.ErrExport)
		_, lerr := bundle.Load(dir)
		require.NoError(t, lerr, "the previous bundle is intact (NoInt8 %v)", opts.NoInt8)
		require.Equal(t, before, snapshot(t, dir))
		require.Contains(t, err.Error(), "metrics.val.loss: NaN is not a finite number")
	}

	// An infinite training threshold is refused the same way.
	r := *tm.res
	r.AnomalyThreshold = slices.Clone(tm.res.AnomalyThreshold)
	r.AnomalyThreshold[0] = math.Inf(1)
	_, err = export.WriteBundle(dir, tm.cfg, &r, export.BundleOptions{NoInt8: true})
	require.ErrorIs(t, err, export.ErrExport)
	require.Contains(t, err.Error(), "must be > 0 and finite")
	require.Equal(t, before, snapshot(t, dir))

	// The same result with a finite loss replaces the bundle.
	good := perturbed(tm)
	good.Val.Loss = 0.25
	_, err = export.WriteBundle(dir, tm.cfg, good, export.BundleOptions{NoInt8: true})
	require.NoError(t, err)
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	require.Len(t, man.Models, 1)
	require.Equal(t, 0.25, man.Metrics["val.loss"])
	_, err = os.Stat(filepath.Join(dir, export.FileINT8))
	require.ErrorIs(t, err, os.ErrNotExist, "the stale int8 file is gone once the manifest no longer lists it")
}

// TestWriteBundleDigestsOfWrittenBytes: each model entry's sha256 and
// size are those of the bytes in its file, and a failed rename leaves no
// temporary file behind (the old writeFile leaked it).
func TestWriteBundleDigestsOfWrittenBytes(t *testing.T) {
	tm := tinyModel(t)
	dir := filepath.Join(t.TempDir(), "bundle")
	wr, err := export.WriteBundle(dir, tm.cfg, tm.res, export.BundleOptions{})
	require.NoError(t, err)
	for _, mf := range wr.Manifest.Models {
		data, err := os.ReadFile(filepath.Join(dir, mf.File))
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		require.Equal(t, hex.EncodeToString(sum[:]), mf.SHA256, mf.File)
		require.EqualValues(t, len(data), mf.Bytes, mf.File)
		require.Equal(t, mf.Bytes, wr.Bytes[mf.Precision])
	}

	// A directory in the int8 file's place: its rename fails.
	dir2 := filepath.Join(t.TempDir(), "bundle")
	require.NoError(t, os.MkdirAll(filepath.Join(dir2, export.FileINT8, "x"), 0o755))
	_, err = export.WriteBundle(dir2, tm.cfg, tm.res, export.BundleOptions{})
	require.ErrorIs(t, err, export.ErrExport)
	ents, err := os.ReadDir(dir2)
	require.NoError(t, err)
	for _, e := range ents {
		require.False(t, strings.HasPrefix(e.Name(), ".model-"), "temporary file %s left behind", e.Name())
	}
	_, err = os.Stat(filepath.Join(dir2, bundle.ManifestFile))
	require.ErrorIs(t, err, os.ErrNotExist, "no manifest for a bundle whose files were not all written")
}

// TestDequantizedWeightsGemmTransB: a weight that only a Gemm with
// transB consumes (onnx.Dynamic: MatMulInteger, no DequantizeLinear) has
// one scale per row (axis 0, from the quantisation report); the old code
// assumed axis 1 for every such weight.
func TestDequantizedWeightsGemmTransB(t *testing.T) {
	tm := tinyModel(t)
	var wt *gnn.Tensor
	for i := range tm.res.Weights {
		x := &tm.res.Weights[i]
		if len(x.Shape) == 2 && len(x.Data) >= onnx.DefaultMinElements {
			wt = x
			break
		}
	}
	require.NotNil(t, wt, "a 2-D weight of at least %d elements", onnx.DefaultMinElements)
	rows, cols := int64(wt.Shape[0]), int64(wt.Shape[1])
	// Rows of very different magnitudes: a wrong axis reads them with
	// other rows' scales.
	data := slices.Clone(wt.Data)
	for r := range rows {
		for c := range cols {
			data[r*cols+c] *= float32(1 + 10*r)
		}
	}
	w := tm.res.Weights.Clone()
	copy(w.Get(wt.Name).Data, data)

	g := onnx.NewGraph("gemm")
	x := g.Input("x", onnx.Float32, onnx.Dim("batch"), onnx.Dim(cols))
	g.Output("y", g.Gemm(x, g.Const(wt.Name, onnx.NewTensor(data, rows, cols)), g.Const("bias", onnx.NewTensor(make([]float32, rows), rows)),
		onnx.GemmConfig{TransB: true}))
	q, rep, err := onnx.Quantize(&onnx.Model{Graph: g, Producer: "test", ProducerVersion: "test"},
		onnx.QuantOptions{Scheme: onnx.Dynamic, PerChannel: true})
	require.NoError(t, err)
	require.Len(t, rep.Quantized, 1)
	require.Equal(t, 0, rep.Quantized[0].Axis)
	require.False(t, rep.Quantized[0].Dequantized, "no DequantizeLinear records the axis")
	for _, n := range q.Graph.Nodes() {
		require.NotEqual(t, "DequantizeLinear", n.OpType)
	}

	got, err := export.DequantizedWeights(tm.res.Model, w, q, rep)
	require.NoError(t, err)
	d := got.Get(wt.Name).Data
	for r := range rows {
		maxAbs := 0.0
		for c := range cols {
			maxAbs = math.Max(maxAbs, math.Abs(float64(data[r*cols+c])))
		}
		step := maxAbs / 63 // reduced-range Int8 MatMulInteger weights
		for c := range cols {
			i := r*cols + c
			require.InDelta(t, data[i], d[i], step/2+1e-7, "%s[%d, %d]", wt.Name, r, c)
		}
	}
	require.False(t, bytes.Equal(f32bytes(data), f32bytes(d)), "the int8 values differ from fp32's")
}

func f32bytes(v []float32) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b := math.Float32bits(x)
		out = append(out, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
	}
	return out
}

// TestInt8BatchDependence: the weight-only int8 file gives each window
// the same outputs in a batch as alone (float rounding); the dynamic
// file's DynamicQuantizeLinear takes one activation scale over the whole
// batch, so a window's outputs depend on the others (logged: the reason
// it is exact per window only at batch 1, see README).
func TestInt8BatchDependence(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every window alone through ONNX Runtime")
	}
	tm := tinyModel(t)
	m := tm.res.Model
	S, T := m.Sensors, m.Steps
	n := min(tm.n, 60)
	outs := export.Outputs(m)
	for _, scheme := range []onnx.Scheme{onnx.WeightOnly, onnx.Dynamic} {
		q, _, err := export.Quantized(m, tm.res.Weights, scheme, export.GraphOptions{})
		require.NoError(t, err)
		data, err := q.Marshal()
		require.NoError(t, err)
		all := runORT(t, data, tm.x[:n*S*T], tm.mask[:n*S*T], n, S, T, outs)
		worst := 0.0
		for i := range n {
			one := runORT(t, data, tm.x[i*S*T:(i+1)*S*T], tm.mask[i*S*T:(i+1)*S*T], 1, S, T, outs)
			for _, o := range outs {
				if o == export.OutputAnomaly {
					continue
				}
				k := len(one[o])
				for j := range k {
					a, b := float64(all[o][i*k+j]), float64(one[o][j])
					worst = math.Max(worst, math.Abs(a-b)/math.Max(math.Abs(b), 1e-3))
				}
			}
		}
		t.Logf("%s: %d windows, largest relative difference batch vs alone %.3g", scheme, n, worst)
		if scheme == onnx.WeightOnly {
			require.Less(t, worst, 1e-4, "weight-only int8 does not depend on the batch")
		}
	}
}
