package onnx_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/onnx"
)

// Sizes of the toy temporal GNN: N rig components, a window of T steps of
// F features per node, hidden size H, GAT heads of size H each.
const (
	toyN     = 17
	toyT     = 60
	toyF     = 4
	toyH     = 32
	toyHeads = 2
)

// gruModel builds x [T, batch, I] -> GRU -> Y, Y_h.
func gruModel(tb testing.TB, p onnx.GRUParams, lbr, withH0 bool) *onnx.Model {
	tb.Helper()
	w, r, b, err := onnx.PackGRU(p)
	require.NoError(tb, err)
	g := onnx.NewGraph("gru")
	x := g.Input("x", onnx.Float32, onnx.Dim(toyT), onnx.Dim("batch"), onnx.Dim(p.InputSize))
	cfg := onnx.GRUConfig{HiddenSize: int64(p.HiddenSize), LinearBeforeReset: lbr}
	if withH0 {
		cfg.InitialH = g.Input("h0", onnx.Float32, onnx.Dim(1), onnx.Dim("batch"), onnx.Dim(p.HiddenSize))
	}
	y, yh := g.GRU(x, g.Const("W", w), g.Const("R", r), g.Const("B", b), cfg)
	g.Output("y", y, onnx.Dim(toyT), onnx.Dim(1), onnx.Dim("batch"), onnx.Dim(p.HiddenSize))
	g.Output("y_h", yh, onnx.Dim(1), onnx.Dim("batch"), onnx.Dim(p.HiddenSize))
	return newModel(g)
}

func TestGRUAgainstReference(t *testing.T) {
	for _, c := range []struct {
		name        string
		lbr, withH0 bool
	}{
		{"linear_before_reset=0", false, false},
		{"linear_before_reset=1", true, false},
		{"linear_before_reset=1,initial_h", true, true},
		{"linear_before_reset=0,initial_h", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			p := randGRU(rng, toyF, toyH, 0.4)
			data, err := gruModel(t, p, c.lbr, c.withH0).Marshal()
			require.NoError(t, err)
			x := fromF32(randF32(rng, toyT*toyN*toyF, -2, 2), toyT, toyN, toyF)
			feeds := []feed{{name: "x", shape: x.shape64(), data: x.f32()}}
			var h0 *nd
			if c.withH0 {
				h0 = fromF32(randF32(rng, toyN*toyH, -1, 1), 1, toyN, toyH)
				feeds = append(feeds, feed{name: "h0", shape: h0.shape64(), data: h0.f32()})
			}
			got := runModel(t, data, feeds, []string{"y", "y_h"}, nil)
			wantY, wantH := gruRef(x, p, c.lbr, h0)
			errY := assertClose(t, "y", got["y"], wantY, fp32Tol)
			errH := assertClose(t, "y_h", got["y_h"], wantH, fp32Tol)
			t.Logf("T=%d B=%d I=%d H=%d: max relative error y %.2g, y_h %.2g", toyT, toyN, toyF, toyH, errY, errH)
		})
	}
}

// TestGRUGateOrderMatters shows that the reference would catch a trainer
// that swapped gates or picked the other linear_before_reset.
func TestGRUGateOrderMatters(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := randGRU(rng, toyF, 8, 0.8)
	x := fromF32(randF32(rng, 10*3*toyF, -2, 2), 10, 3, toyF)
	_, base := gruRef(x, p, true, nil)
	swapped := p
	swapped.Update, swapped.Reset = p.Reset, p.Update
	_, sw := gruRef(x, swapped, true, nil)
	_, other := gruRef(x, p, false, nil)
	diff := func(a, b *nd) float64 {
		d := 0.0
		for i := range a.data {
			d = max(d, math.Abs(a.data[i]-b.data[i]))
		}
		return d
	}
	require.Greater(t, diff(base, sw), 1e-2, "swapping z and r must change the output")
	require.Greater(t, diff(base, other), 1e-3, "linear_before_reset must change the output")
}

// gatParams are the weights of one dense masked multi-head graph-attention
// layer: per head k, Wh = h·W[:, k*H:(k+1)*H], e_ij = LeakyRelu(Wh_i·a_src_k
// + Wh_j·a_dst_k, 0.2), masked to the adjacency, softmax over j, then the
// heads are concatenated and projected: relu(concat·P + p).
type gatParams struct {
	w          *nd // [in, heads*H]
	aSrc, aDst *nd // [heads, H, 1]
	proj       *nd // [heads*H, out]
	bias       *nd // [out]
}

func randGAT(rng *rand.Rand, in, heads, hidden, out int) gatParams {
	s := 1 / math.Sqrt(float64(in))
	return gatParams{
		w:    fromF32(randF32(rng, in*heads*hidden, -s, s), in, heads*hidden),
		aSrc: fromF32(randF32(rng, heads*hidden, -0.5, 0.5), heads, hidden, 1),
		aDst: fromF32(randF32(rng, heads*hidden, -0.5, 0.5), heads, hidden, 1),
		proj: fromF32(randF32(rng, heads*hidden*out, -s, s), heads*hidden, out),
		bias: fromF32(randF32(rng, out, -0.1, 0.1), out),
	}
}

// ringAdjacency returns a [n, n] 0/1 adjacency: a ring with self loops and
// a few random chords, like a hydraulic circuit.
func ringAdjacency(rng *rand.Rand, n int) []bool {
	adj := make([]bool, n*n)
	for i := 0; i < n; i++ {
		adj[i*n+i] = true
		adj[i*n+(i+1)%n] = true
		adj[((i+1)%n)*n+i] = true
	}
	for k := 0; k < n/3; k++ {
		i, j := rng.IntN(n), rng.IntN(n)
		adj[i*n+j], adj[j*n+i] = true, true
	}
	return adj
}

// gatLayer adds one attention layer over h [batch, N, in] to g.
func gatLayer(g *onnx.Graph, name string, h, mask onnx.Value, p gatParams) onnx.Value {
	heads, hidden := p.aSrc.shape[0], p.aSrc.shape[1]
	c := func(n string, a *nd) onnx.Value { return g.Const(name+"_"+n, a.tensor()) }
	wh := g.MatMul(h, c("W", p.w))                                           // [B, N, heads*H]
	wh = g.Reshape(wh, g.Int64s(0, 0, int64(heads), int64(hidden)))          // [B, N, heads, H]
	wh = g.Transpose(wh, []int64{0, 2, 1, 3})                                // [B, heads, N, H]
	src := g.MatMul(wh, c("a_src", p.aSrc))                                  // [B, heads, N, 1]
	dst := g.MatMul(wh, c("a_dst", p.aDst))                                  // [B, heads, N, 1]
	e := g.LeakyRelu(g.Add(src, g.Transpose(dst, []int64{0, 1, 3, 2})), 0.2) // [B, heads, N, N]
	att := g.Softmax(g.Where(mask, e, g.Scalar(-1e9)), -1, onnx.NodeName(name+"_attention"))
	out := g.MatMul(att, wh) // [B, heads, N, H]
	out = g.Reshape(g.Transpose(out, []int64{0, 2, 1, 3}), g.Int64s(0, 0, int64(heads*hidden)))
	return g.Relu(g.Add(g.MatMul(out, c("P", p.proj)), c("p", p.bias)))
}

func gatRef(h *nd, mask []bool, p gatParams) *nd {
	heads, hidden := p.aSrc.shape[0], p.aSrc.shape[1]
	b, n := h.shape[0], h.shape[1]
	wh := transpose(reshape(matmul(h, p.w), b, n, heads, hidden), 0, 2, 1, 3)
	src, dst := matmul(wh, p.aSrc), matmul(wh, p.aDst)
	e := unary(addND(src, transpose(dst, 0, 1, 3, 2)), func(v float64) float64 {
		if v < 0 {
			return 0.2 * v
		}
		return v
	})
	m := &nd{shape: []int{n, n}}
	for _, v := range mask {
		m.data = append(m.data, map[bool]float64{false: 0, true: 1}[v])
	}
	e = binary(m, e, func(mv, v float64) float64 {
		if mv == 1 {
			return v
		}
		return -1e9
	})
	out := matmul(softmax(e, -1), wh)
	out = reshape(transpose(out, 0, 2, 1, 3), b, n, heads*hidden)
	return unary(addND(matmul(out, p.proj), p.bias), func(v float64) float64 { return max(v, 0) })
}

func TestGraphAttentionAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const batch = 3
	for _, heads := range []int{1, 2} {
		p := randGAT(rng, toyH, heads, toyH, toyH)
		adj := ringAdjacency(rng, toyN)
		g := onnx.NewGraph("gat")
		h, f, hr := input(g, rng, "h", -1, 1, batch, toyN, toyH)
		mask := g.Const("adjacency", onnx.NewTensor(adj, toyN, toyN))
		g.Output("out", gatLayer(g, "gat1", h, mask, p), onnx.Dim(batch), onnx.Dim(toyN), onnx.Dim(toyH))
		data, err := newModel(g).Marshal()
		require.NoError(t, err)
		got := runModel(t, data, []feed{f}, []string{"out"}, nil)
		e := assertClose(t, "out", got["out"], gatRef(hr, adj, p), fp32Tol)
		t.Logf("N=%d heads=%d H=%d batch=%d: max relative error %.2g", toyN, heads, toyH, batch, e)
	}
}
