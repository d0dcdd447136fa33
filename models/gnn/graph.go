package gnn

import (
	"fmt"

	G "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// WeightFn returns the graph node of the named weight (a context variable
// when training, a constant or parameter for inference). It must return a
// float32 node of the weight's exact shape.
type WeightFn func(name string) *G.Node

// Outputs are the graph nodes of a forward pass for a batch of B windows.
type Outputs struct {
	// Health is [B, N]: per-node health in [0, 1] (Sigmoid).
	Health *G.Node
	// Logits are, per target in Model.Targets order, [B, C_t] class
	// logits (Softmax gives the probabilities).
	Logits []*G.Node
	// Recon is [B, S, T]: the reconstruction of the normalised window.
	Recon *G.Node
	// Anomaly is [B, S]: per-sensor mean squared reconstruction error
	// over the window's present cells (Mask 1); 0 for a sensor with none.
	Anomaly *G.Node
}

// Graph builds the forward pass of m for x and mask, both [B, S, T]
// float32 (prep.Window.Values and Mask, stacked). It uses only operations
// with a one-to-one ONNX counterpart (MatMul, Add, Mul, Sub, Div, Max,
// Sigmoid, Tanh, Relu, LeakyRelu, Softmax, ReduceMean, ReduceSum,
// Transpose, Reshape, Concat, Slice on input data, LayerNormalization) and
// slices only the input, never a value that depends on a weight, so it
// trains on the pure-Go backend (which has no Pad, the gradient of
// Slice). doc.go spells the computation out for the exporter.
func (m *Model) Graph(x, mask *G.Node, w WeightFn) Outputs {
	g := x.Graph()
	B := x.Shape().Dim(0)
	S, N, T, P, NP := m.Sensors, m.Nodes, m.Steps, m.Sizes.Patch, m.Patches
	D, K := m.Sizes.Hidden, m.Sizes.Heads
	dk := D / K
	if x.Rank() != 3 || x.Shape().Dim(1) != S || x.Shape().Dim(2) != T {
		panic(fmt.Sprintf("gnn: input shape %v, want [B, %d, %d]", x.Shape().Dimensions, S, T))
	}
	cnst := func(name string) *G.Node {
		for _, c := range m.Constants() {
			if c.Name == name {
				return G.Const(g, tensors.FromFlatDataAndDimensions(c.Data, c.Shape...))
			}
		}
		panic("gnn: unknown constant " + name)
	}

	// 1. Per-sensor temporal encoder. Per-sensor weights are applied as a
	// batched MatMul over the sensor axis: [S, B, K] x [S, K, D].
	perSensor := func(in *G.Node, wName, bName string) *G.Node { // in [B, S, K] -> [B, S, D]
		o := G.MatMul(G.TransposeAllAxes(in, 1, 0, 2), w(wName)) // [S, B, D]
		return add(G.TransposeAllAxes(o, 1, 0, 2), w(bName))
	}
	// Per-cell standardisation (frozen statistics of the training data),
	// missing cells set to 0.
	xm := mul(mul(sub(x, w("enc/cell/mean")), w("enc/cell/inv_std")), mask)
	// a. A linear view of the whole window per sensor.
	var window, winLin *G.Node
	if r := m.Sizes.WindowWidth(); r > 0 {
		winLin = perSensor(xm, "enc/window/w", "enc/window/b") // [B, S, r]
		window = relu(winLin)
	}
	// b. Patches of P steps (of x*mask and of mask, [B, S, 2P]), each
	// embedded per sensor, then a GRU shared by all sensors. Patch t is a
	// slice of the input only.
	xp := G.Reshape(xm, B, S, NP, P)
	mp := G.Reshape(mask, B, S, NP, P)
	var h, patchSum *G.Node
	for t := range NP {
		xt := G.Reshape(G.Slice(xp, G.AxisRange(), G.AxisRange(), G.AxisElem(t), G.AxisRange()), B, S, P)
		mt := G.Reshape(G.Slice(mp, G.AxisRange(), G.AxisRange(), G.AxisElem(t), G.AxisRange()), B, S, P)
		in := G.Concatenate([]*G.Node{xt, mt}, -1) // [B, S, 2P]
		e := relu(perSensor(in, "enc/patch/w", "enc/patch/b"))
		if patchSum == nil {
			patchSum = e
		} else {
			patchSum = add(patchSum, e)
		}
		h = gruStep(e, h, w)
	}
	patchMean := G.MulScalar(patchSum, 1/float64(NP))
	parts := []*G.Node{h, patchMean}
	if window != nil {
		parts = append(parts, window)
	}
	enc := G.Concatenate(parts, -1)                                     // [B, S, 2D+r]
	sensors := relu(add(G.MatMul(enc, w("enc/out/w")), w("enc/out/b"))) // [B, S, D]

	// 2. Pool sensors onto their nodes (mean), add the node embedding.
	nodes := add(G.MatMul(cnst("const/pool"), sensors), w("node/emb")) // [B, N, D]

	// 3. GATv2 layers (dense, masked to the rig's edges plus self loops).
	adjBias := cnst("const/adj_bias") // [N, N]
	for l := range m.Sizes.NumLayers() {
		p := fmt.Sprintf("gat%d/", l)
		hl := G.Transpose(G.Reshape(G.MatMul(nodes, w(p+"wl")), B, N, K, dk), 1, 2) // [B, K, N, dk] (target i)
		hr := G.Transpose(G.Reshape(G.MatMul(nodes, w(p+"wr")), B, N, K, dk), 1, 2) // [B, K, N, dk] (source j)
		pair := add(G.Reshape(hl, B, K, N, 1, dk), G.Reshape(hr, B, K, 1, N, dk))   // [B, K, N, N, dk]
		pair = leakyRelu(pair)
		// Scores as a MatMul with the per-head attention vector:
		// [B, K, N*N, dk] x [K, dk, 1] -> [B, K, N*N, 1].
		att := G.Reshape(w(p+"att"), K, dk, 1)
		scores := G.Reshape(G.MatMul(G.Reshape(pair, B, K, N*N, dk), att), B, K, N, N)
		alpha := G.Softmax(add(scores, adjBias), -1)
		msg := G.MatMul(alpha, hr)                                    // [B, K, N, dk]
		msg = G.Reshape(G.TransposeAllAxes(msg, 0, 2, 1, 3), B, N, D) // [B, N, D]
		msg = relu(add(G.MatMul(msg, w(p+"wo")), w(p+"bo")))
		nodes = layerNorm(add(nodes, msg), w(p+"ln/g"), w(p+"ln/b"))
	}
	// Graph vector: the mean of the nodes and a learned readout of all of
	// them (flattened in node order), [B, 2D].
	pooled := G.ReduceMean(nodes, 1) // [B, D]
	if m.Sizes.ReadoutWidth() > 0 {
		readout := relu(add(G.MatMul(G.Reshape(nodes, B, N*D), w("graph/readout/w")), w("graph/readout/b")))
		pooled = G.Concatenate([]*G.Node{pooled, readout}, -1) // [B, D+R]
	}
	if gw := m.Sizes.GlobalWidth(); gw > 0 {
		// Rig-level view: every sensor's window view (before its Relu),
		// flattened in sensor order.
		r := m.Sizes.WindowWidth()
		glob := relu(add(G.MatMul(G.Reshape(winLin, B, S*r), w("graph/global/w")), w("graph/global/b")))
		pooled = G.Concatenate([]*G.Node{pooled, glob}, -1) // [B, D+R+G]
	}

	var out Outputs
	// 4a. Health per node.
	hv := add(G.MatMul(nodes, w("head/health/w")), w("head/health/b")) // [B, N, 1]
	out.Health = G.Sigmoid(G.Reshape(hv, B, N))

	// 4b. One classifier per target.
	for _, t := range m.Targets {
		p := "head/target/" + t.Name + "/"
		in := pooled
		if t.Node >= 0 {
			sel := G.Reshape(G.MatMul(cnst("const/select/"+t.Name), nodes), B, D)
			parts := []*G.Node{sel, pooled}
			if rt := m.Sizes.ViewWidth(); rt > 0 {
				// The target's own view of every sensor's window.
				u := perSensor(xm, p+"view/w", p+"view/b") // [B, S, r_t]
				v := relu(add(G.MatMul(G.Reshape(u, B, S*rt), w(p+"view/hw")), w(p+"view/hb")))
				parts = append(parts, v)
			}
			if E := m.Sizes.ViewAttnWidth(); E > 0 {
				// Attention over the steps: each step's cells of all
				// sensors embedded, softmax weightings over the steps.
				H := ViewAttnHeads
				e := relu(add(G.MatMul(G.TransposeAllAxes(xm, 0, 2, 1), w(p+"attn/w")), w(p+"attn/pos"))) // [B, T, E]
				alpha := G.Softmax(G.MatMul(e, w(p+"attn/q")), 1)                                         // [B, T, H]
				att := G.MatMul(G.TransposeAllAxes(alpha, 0, 2, 1), e)                                    // [B, H, E]
				parts = append(parts, G.Reshape(att, B, H*E))
			}
			in = G.Concatenate(parts, -1)
		}
		hid := relu(add(G.MatMul(in, w(p+"w1")), w(p+"b1")))
		out.Logits = append(out.Logits, add(G.MatMul(hid, w(p+"w2")), w(p+"b2")))
	}

	// 4c. Reconstruction of each sensor's window from its embedding plus
	// its node's context, and the masked per-sensor error.
	ctx := add(sensors, G.MatMul(cnst("const/scatter"), nodes)) // [B, S, D]
	rh := relu(add(G.MatMul(ctx, w("head/recon/w1")), w("head/recon/b1")))
	out.Recon = add(G.MatMul(rh, w("head/recon/w2")), w("head/recon/b2")) // [B, S, T]
	d := mul(sub(out.Recon, x), mask)
	se := G.ReduceSum(mul(d, d), -1)
	cnt := maxN(G.ReduceSum(mask, -1), G.ScalarOne(g, mask.DType()))
	out.Anomaly = div(se, cnt)
	return out
}

// gruStep is one GRU step with separate weights per gate (z, r, n), in the
// "linear before reset" form (ONNX GRU linear_before_reset=1, PyTorch):
//
//	z = σ(x Wz_x + bz_x + h Wz_h + bz_h)
//	r = σ(x Wr_x + br_x + h Wr_h + br_h)
//	n = tanh(x Wn_x + bn_x + r ⊙ (h Wn_h + bn_h))
//	h' = (1 − z) ⊙ n + z ⊙ h
//
// h == nil is the zero initial state.
func gruStep(x, h *G.Node, w WeightFn) *G.Node {
	lin := func(v *G.Node, gate, kind string) *G.Node {
		return add(G.MatMul(v, w("enc/gru/"+gate+"/w"+kind)), w("enc/gru/"+gate+"/b"+kind))
	}
	if h == nil {
		// h = 0: h W + b reduces to b.
		z := G.Sigmoid(add(lin(x, "z", "x"), w("enc/gru/z/bh")))
		r := G.Sigmoid(add(lin(x, "r", "x"), w("enc/gru/r/bh")))
		n := G.Tanh(add(lin(x, "n", "x"), mul(r, w("enc/gru/n/bh"))))
		return mul(G.OneMinus(z), n)
	}
	z := G.Sigmoid(add(lin(x, "z", "x"), lin(h, "z", "h")))
	r := G.Sigmoid(add(lin(x, "r", "x"), lin(h, "r", "h")))
	n := G.Tanh(add(lin(x, "n", "x"), mul(r, lin(h, "n", "h"))))
	return add(mul(G.OneMinus(z), n), mul(z, h))
}

func relu(x *G.Node) *G.Node {
	return maxN(x, G.ZerosLike(x))
}

func leakyRelu(x *G.Node) *G.Node {
	return maxN(x, G.MulScalar(x, LeakyAlpha))
}

// layerNorm normalises the last axis: (x − mean) / sqrt(var + eps) · g + b
// with the population variance (ONNX LayerNormalization, axis −1).
func layerNorm(x, gain, bias *G.Node) *G.Node {
	mean := G.ReduceAndKeep(x, G.ReduceMean, -1)
	c := sub(x, mean)
	v := G.ReduceAndKeep(mul(c, c), G.ReduceMean, -1)
	return add(mul(div(c, G.Sqrt(G.AddScalar(v, LayerNormEps))), gain), bias)
}

// align reshapes the operand of lower rank with leading axes of size 1
// (numpy / ONNX multidirectional broadcasting; GoMLX wants equal ranks).
func align(a, b *G.Node) (*G.Node, *G.Node) {
	for a.Rank() < b.Rank() {
		a = G.InsertAxes(a, 0)
	}
	for b.Rank() < a.Rank() {
		b = G.InsertAxes(b, 0)
	}
	return a, b
}

func add(a, b *G.Node) *G.Node  { a, b = align(a, b); return G.Add(a, b) }
func sub(a, b *G.Node) *G.Node  { a, b = align(a, b); return G.Sub(a, b) }
func mul(a, b *G.Node) *G.Node  { a, b = align(a, b); return G.Mul(a, b) }
func div(a, b *G.Node) *G.Node  { a, b = align(a, b); return G.Div(a, b) }
func maxN(a, b *G.Node) *G.Node { a, b = align(a, b); return G.Max(a, b) }
