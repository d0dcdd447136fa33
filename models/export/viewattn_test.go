package export_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
)

// TestParityViewAttn holds ONNX Runtime's output of a model whose targets
// attend over the window's steps (gnn.Sizes.ViewAttn) to gnn.Forward's,
// fp32 within fp32Tol, and the weight-only int8 file's class
// probabilities within int8ProbTol of the fp32 file's, with and without
// the targets' own views. The cell statistics, step embeddings and
// missing cells are random, so the attention is not even over the steps.
func TestParityViewAttn(t *testing.T) {
	ortEnv(t)
	for _, sizes := range []gnn.Sizes{{ViewAttn: 6}, {ViewAttn: 2, View: -1}} {
		t.Run(fmt.Sprintf("attn%d-view%d", sizes.ViewAttn, sizes.View), func(t *testing.T) {
			parityViewAttn(t, sizes)
		})
	}
}

// parityViewAttn is TestParityViewAttn for one set of sizes.
func parityViewAttn(t *testing.T, sizes gnn.Sizes) {
	cfg := loadRig(t, "zema-testrig")
	m, err := gnn.New(cfg, 60, sizes)
	require.NoError(t, err)
	require.Equal(t, sizes.ViewAttn, m.Sizes.ViewAttnWidth())
	w := gnn.InitWeights(m, 5)
	rng := rand.New(rand.NewPCG(4, 4))
	const B = 4
	n := B * m.Sensors * m.Steps
	x, mask := make([]float32, n), make([]float32, n)
	for i := range x {
		if rng.Float64() < 0.9 {
			mask[i] = 1
			x[i] = float32(rng.NormFloat64())
		}
	}
	require.NoError(t, m.SetCellStats(w, x, mask))
	// Step embeddings that differ (initialised at 0), so that the
	// attention is not even over the steps.
	for _, p := range m.Params() {
		if tt := w.Get(p.Name); strings.HasSuffix(p.Name, "/attn/pos") {
			for i := range tt.Data {
				tt.Data[i] = float32(rng.NormFloat64())
			}
		}
	}
	fp := mustBuild(t, m, w)
	data, err := fp.Marshal()
	require.NoError(t, err)
	got := runORT(t, data, x, mask, B, m.Sensors, m.Steps, export.Outputs(m))
	errs := compare(t, m, got, forward(t, m, w, x, mask), fp32Tol)
	t.Logf("fp32: %d parameters, %d bytes: max relative error %v", m.NumParams(), len(data), errs)

	q, _, err := export.Quantized(m, w, onnx.WeightOnly, export.GraphOptions{})
	require.NoError(t, err)
	qdata, err := q.Marshal()
	require.NoError(t, err)
	gotQ := runORT(t, qdata, x, mask, B, m.Sensors, m.Steps, export.Outputs(m))
	for _, tg := range m.Targets {
		name := export.TargetOutput(tg.Name)
		d, at := maxDiff(gotQ[name], got[name])
		require.LessOrEqual(t, d, int8ProbTol, "%s: int8 element %d = %g, fp32 %g", name, at, gotQ[name][at], got[name][at])
	}
	t.Logf("int8 weight-only: %d bytes", len(qdata))
}
