package onnx_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/onnx"
)

// toyGNN is a small temporal GNN of the shape the project's model will
// have: per-node GRU over the window, two dense masked graph-attention
// layers, layer norm, a per-node health head and a per-rig class head.
type toyGNN struct {
	gru        onnx.GRUParams
	gat1, gat2 gatParams
	lnScale    *nd
	lnBias     *nd
	wo, bo     *nd // health head [H, 1], [1]
	wc, bc     *nd // condition head [H, C], [C]
	adj        []bool
}

const toyClasses = 4

func newToy(rng *rand.Rand) *toyGNN {
	s := 1 / math.Sqrt(toyH)
	return &toyGNN{
		gru:     randGRU(rng, toyF, toyH, 0.4),
		gat1:    randGAT(rng, toyH, toyHeads, toyH, toyH),
		gat2:    randGAT(rng, toyH, toyHeads, toyH, toyH),
		lnScale: fromF32(randF32(rng, toyH, 0.8, 1.2), toyH),
		lnBias:  fromF32(randF32(rng, toyH, -0.1, 0.1), toyH),
		wo:      fromF32(randF32(rng, toyH, -s, s), toyH, 1),
		bo:      fromF32(randF32(rng, 1, -0.1, 0.1), 1),
		wc:      fromF32(randF32(rng, toyH*toyClasses, -s, s), toyH, toyClasses),
		bc:      fromF32(randF32(rng, toyClasses, -0.1, 0.1), toyClasses),
		adj:     ringAdjacency(rng, toyN),
	}
}

// model builds window [batch, N, T, F] -> health [batch, N], condition
// [batch, C].
func (m *toyGNN) model(tb testing.TB) *onnx.Model {
	tb.Helper()
	w, r, b, err := onnx.PackGRU(m.gru)
	require.NoError(tb, err)
	g := onnx.NewGraph("toy_gnn")
	x := g.Input("window", onnx.Float32, onnx.Dim("batch"), onnx.Dim(toyN), onnx.Dim(toyT), onnx.Dim(toyF))
	seq := g.Transpose(g.Reshape(x, g.Int64s(-1, toyT, toyF)), []int64{1, 0, 2}) // [T, B*N, F]
	_, last := g.GRU(seq, g.Const("gru_W", w), g.Const("gru_R", r), g.Const("gru_B", b),
		onnx.GRUConfig{HiddenSize: toyH, LinearBeforeReset: true}, onnx.NodeName("temporal"))
	h := g.Reshape(last, g.Int64s(-1, toyN, toyH)) // [B, N, H]
	mask := g.Const("adjacency", onnx.NewTensor(m.adj, toyN, toyN))
	h = gatLayer(g, "gat1", h, mask, m.gat1)
	h = gatLayer(g, "gat2", h, mask, m.gat2)
	h = g.LayerNormalization(h, g.Const("ln_scale", m.lnScale.tensor()), g.Const("ln_bias", m.lnBias.tensor()), -1, 1e-5)
	health := g.Sigmoid(g.Add(g.MatMul(h, g.Const("health_W", m.wo.tensor())), g.Const("health_b", m.bo.tensor())))
	g.Output("health", g.Squeeze(health, []int64{2}), onnx.Dim("batch"), onnx.Dim(toyN))
	pooled := g.ReduceMean(h, []int64{1}, false)
	logits := g.Add(g.MatMul(pooled, g.Const("condition_W", m.wc.tensor())), g.Const("condition_b", m.bc.tensor()))
	g.Output("condition", g.Softmax(logits, -1), onnx.Dim("batch"), onnx.Dim(toyClasses))
	model := newModel(g)
	model.Metadata = map[string]string{"hydrognn.window": "60", "hydrognn.nodes": "17"}
	return model
}

// ref computes the toy's outputs in float64 for window [batch, N, T, F].
func (m *toyGNN) ref(x *nd) (health, condition *nd) {
	b := x.shape[0]
	seq := transpose(reshape(x, b*toyN, toyT, toyF), 1, 0, 2)
	_, last := gruRef(seq, m.gru, true, nil)
	h := reshape(last, b, toyN, toyH)
	h = gatRef(h, m.adj, m.gat1)
	h = gatRef(h, m.adj, m.gat2)
	h = layerNorm(h, m.lnScale, m.lnBias, -1, 1e-5)
	health = reshape(unary(addND(matmul(h, m.wo), m.bo), sigmoid), b, toyN)
	pooled := reshape(reduceMean(h, []int{1}, false), b, 1, toyH)
	condition = reshape(softmax(addND(matmul(pooled, m.wc), m.bc), -1), b, toyClasses)
	return health, condition
}

// quantVariant is one int8 form of the toy and how to load it.
type quantVariant struct {
	model  *onnx.Model
	report *onnx.QuantReport
	config map[string]string // session config entries
}

// quantized returns the toy in each int8 form.
func (m *toyGNN) quantized(tb testing.TB) map[string]quantVariant {
	tb.Helper()
	fp := m.model(tb)
	out := map[string]quantVariant{}
	for name, o := range map[string]onnx.QuantOptions{
		"qdq_tensor":         {Scheme: onnx.WeightOnly},
		"qdq_channel":        {Scheme: onnx.WeightOnly, PerChannel: true},
		"dynamic_s8":         {Scheme: onnx.Dynamic},
		"dynamic_s8_channel": {Scheme: onnx.Dynamic, PerChannel: true},
		"dynamic_u8":         {Scheme: onnx.Dynamic, WeightType: onnx.Uint8},
	} {
		q, rep, err := onnx.Quantize(fp, o)
		require.NoError(tb, err, name)
		// The Dynamic scheme also dequantises the GRU weights: fold them.
		out[name] = quantVariant{model: q, report: rep, config: disableQDQ}
	}
	return out
}

func toyWindow(rng *rand.Rand, batch int) *nd {
	return fromF32(randF32(rng, batch*toyN*toyT*toyF, -2, 2), batch, toyN, toyT, toyF)
}

func TestToyGNNAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	toy := newToy(rng)
	data, err := toy.model(t).Marshal()
	require.NoError(t, err)
	for _, batch := range []int{1, 4} {
		x := toyWindow(rng, batch)
		got := runModel(t, data, []feed{{name: "window", shape: x.shape64(), data: x.f32()}},
			[]string{"health", "condition"}, nil)
		health, condition := toy.ref(x)
		eh := assertClose(t, "health", got["health"], health, fp32Tol)
		ec := assertClose(t, "condition", got["condition"], condition, fp32Tol)
		t.Logf("batch %d: %d bytes; max relative error health %.2g, condition %.2g", batch, len(data), eh, ec)
	}
}
