package export

import (
	"errors"
	"fmt"
	"math"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
)

// Graph input and output names: the contract with agent/infer (inputs "x"
// and "mask", float32 [batch, S, T]) and with the bundle manifest's heads.
const (
	InputX        = "x"
	InputMask     = "mask"
	OutputHealth  = "health"
	OutputAnomaly = "anomaly"
	// TargetPrefix starts the name of each class head's output:
	// "target_<name>" (TargetOutput).
	TargetPrefix = "target_"
)

// Opset and IRVersion of the exported models (ONNX Runtime 1.30 and the
// ONNX 1.12 checker accept them; opset 18 changes Reduce*/Split forms).
const (
	Opset     = 17
	IRVersion = 8
)

// ErrExport is returned (wrapped) when a model cannot be exported: weights
// that do not match the model, or a graph the ONNX builder rejects.
var ErrExport = errors.New("export")

// TargetOutput returns the graph output name of a class head.
func TargetOutput(target string) string { return TargetPrefix + target }

// Outputs returns the graph's output names in order: health, one per
// target (config order), anomaly.
func Outputs(m *gnn.Model) []string {
	out := []string{OutputHealth}
	for _, t := range m.Targets {
		out = append(out, TargetOutput(t.Name))
	}
	return append(out, OutputAnomaly)
}

// GraphOptions tune how Build writes the graph. The zero value writes the
// fp32 model.
type GraphOptions struct {
	// Int8PerSensor stores the per-sensor weights (enc/window/w and
	// enc/patch/w, [S, K, D], consumed by a batched MatMul that
	// onnx.Quantize does not rewrite) as INT8 with one symmetric scale per
	// sensor behind a DequantizeLinear (axis 0). Quantized sets it; it is
	// the largest part of the model (the window view is S*T*D weights).
	Int8PerSensor bool
	// Metadata is copied into the model's metadata_props (ONNX Runtime's
	// custom metadata map), e.g. the rig type and config digest.
	Metadata map[string]string
	// Doc is the model's doc_string.
	Doc string
}

// Build writes the ONNX graph of m with weights w: the computation of
// gnn.Forward (models/gnn/doc.go), node for node, with inputs x and mask
// float32 [batch, S, T] and outputs health [batch, N], one softmax
// "target_<name>" [batch, C] per target, and anomaly [batch, S] (the raw
// per-sensor reconstruction error; agent/infer divides it by the
// manifest's thresholds). The batch dimension is symbolic.
//
// The topology constants come from m.Constants(): the pooling matrix and
// the additive adjacency bias, exactly as the GoMLX graph uses them. The
// one-hot selections (const/select/<target>, const/scatter) are written as
// Gather of the node index, which gives the same values bit for bit.
func Build(m *gnn.Model, w gnn.Weights, opts GraphOptions) (*onnx.Model, error) {
	out, _, err := build(m, w, opts)
	return out, err
}

// build is Build that also returns the block weights it assembled.
func build(m *gnn.Model, w gnn.Weights, opts GraphOptions) (*onnx.Model, *layout, error) {
	if m == nil {
		return nil, nil, fmt.Errorf("%w: nil model", ErrExport)
	}
	if err := w.Check(m); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	b := &builder{m: m, w: w, opts: opts, g: onnx.NewGraph("hydrognn_gnn"), used: map[string]bool{},
		lay: &layout{blocks: map[string][]blockPart{}, vectors: map[string][]string{}, sensorBias: map[string][]string{}}}
	if err := b.build(); err != nil {
		return nil, nil, err
	}
	// A weight the graph does not read is a part of the model this
	// exporter does not know: refuse rather than export another model.
	for _, p := range m.Params() {
		if !b.used[p.Name] {
			return nil, nil, fmt.Errorf("%w: the model has weight %q that this exporter does not use: "+
				"models/gnn changed its computation; update models/export (graph.go) and its parity test", ErrExport, p.Name)
		}
	}
	if err := b.g.Err(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	doc := opts.Doc
	if doc == "" {
		doc = "hydrognn temporal GNN (models/gnn); inputs x, mask [batch, S, T]; see models/export"
	}
	out := &onnx.Model{Graph: b.g, Opset: Opset, IRVersion: IRVersion, Producer: "hydrognn-export",
		ProducerVersion: "1", Doc: doc, Metadata: map[string]string{}}
	for k, v := range opts.Metadata {
		out.Metadata[k] = v
	}
	if err := out.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	return out, b.lay, nil
}

type builder struct {
	m    *gnn.Model
	w    gnn.Weights
	opts GraphOptions
	g    *onnx.Graph
	err  error
	used map[string]bool // weights the graph reads
	lay  *layout
}

func (b *builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("%w: "+format, append([]any{ErrExport}, args...)...)
	}
}

// tensor returns weight name's data and shape (as int64), or fails.
func (b *builder) tensor(name string) ([]float32, []int64) {
	b.used[name] = true
	t := b.w.Get(name)
	if t == nil {
		b.fail("missing weight %q", name)
		return []float32{0}, []int64{1}
	}
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	return t.Data, dims
}

// weight adds weight name as an initialiser of its own shape.
func (b *builder) weight(name string) onnx.Value {
	data, dims := b.tensor(name)
	return b.g.Const(name, onnx.NewTensor(data, dims...))
}

// reshaped adds weight name as an initialiser of another shape with the
// same number of elements (e.g. a bias [S, D] as [S, 1, D]).
func (b *builder) reshaped(name string, dims ...int64) onnx.Value {
	data, _ := b.tensor(name)
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	if int64(len(data)) != n {
		b.fail("weight %q has %d values, cannot view it as %v", name, len(data), dims)
		return b.g.Scalar(0)
	}
	return b.g.Const(name, onnx.NewTensor(data, dims...))
}

// perSensorWeight adds a per-sensor weight [S, K, D]: fp32, or INT8 with
// one scale per sensor behind DequantizeLinear (GraphOptions.Int8PerSensor).
func (b *builder) perSensorWeight(name string) onnx.Value {
	data, dims := b.tensor(name)
	if !b.opts.Int8PerSensor || len(dims) != 3 {
		return b.g.Const(name, onnx.NewTensor(data, dims...))
	}
	q, scales, err := quantizeAxis0(data, int(dims[0]))
	if err != nil {
		b.fail("weight %q: %w", name, err)
		return b.g.Scalar(0)
	}
	zeros := make([]int8, dims[0])
	return b.g.DequantizeLinear(
		b.g.Const(name+"_quantized", onnx.NewTensor(q, dims...)),
		b.g.Const(name+"_scale", onnx.NewTensor(scales, dims[0])),
		b.g.Const(name+"_zero_point", onnx.NewTensor(zeros, dims[0])), 0,
		onnx.OutputNames(name))
}

// quantizeAxis0 quantises data (rows slices of equal length along axis 0)
// symmetrically to int8: scale = max|w|/127 per row, zero point 0, round
// half to even, clamp to ±127 (the rule of onnx.Quantize). A NaN or
// infinite value is an error, as in onnx.Quantize (converting NaN to int8
// is undefined in Go).
func quantizeAxis0(data []float32, rows int) ([]int8, []float32, error) {
	inner := len(data) / rows
	q := make([]int8, len(data))
	scales := make([]float32, rows)
	for r := range rows {
		row := data[r*inner : (r+1)*inner]
		m := 0.0
		for i, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, nil, fmt.Errorf("element %d is %v", r*inner+i, v)
			}
			m = math.Max(m, math.Abs(float64(v)))
		}
		s := float32(m / 127)
		if s == 0 {
			s = 1
		}
		scales[r] = s
		for i, v := range row {
			k := math.RoundToEven(float64(v) / float64(s))
			q[r*inner+i] = int8(min(max(k, -127), 127))
		}
	}
	return q, scales, nil
}

func (b *builder) shape(dims ...int64) onnx.Value { return b.g.Int64s(dims...) }

func (b *builder) build() error {
	g, m := b.g, b.m
	S, N, T := int64(m.Sensors), int64(m.Nodes), int64(m.Steps)
	P, NP := int64(m.Sizes.Patch), int64(m.Patches)
	D, K := int64(m.Sizes.Hidden), int64(m.Sizes.Heads)
	dk := D / K
	batch := onnx.Dim("batch")

	// Optional parts (sizes may switch them off) are present exactly when
	// the model lists their weights.
	has := map[string]bool{}
	for _, p := range m.Params() {
		has[p.Name] = true
	}

	x := g.Input(InputX, onnx.Float32, batch, onnx.Dim(S), onnx.Dim(T))
	mask := g.Input(InputMask, onnx.Float32, batch, onnx.Dim(S), onnx.Dim(T))

	// 1. Encoder. Frozen per-cell standardisation, missing cells zeroed.
	xm := g.Mul(g.Mul(g.Sub(x, b.weight("enc/cell/mean")), b.weight("enc/cell/inv_std")), mask)
	// Per-sensor product a[B,S,k] @ W[S,k,D]: transpose to [S,B,k],
	// batched MatMul, transpose back.
	toSensorMajor := []int64{1, 0, 2}
	xmT := g.Transpose(xm, toSensorMajor) // [S,B,T]
	// The window view and every component target's own view are one
	// per-sensor product: their weights concatenated along the last axis
	// (a Concat of initialisers, which ONNX Runtime folds at load), u =
	// [winLin | view_0 | view_1 | ...], [B,S,Ru].
	r, rt := int64(m.Sizes.WindowWidth()), int64(m.Sizes.ViewWidth())
	if !has["enc/window/w"] {
		r = 0
	}
	var psW []onnx.Value
	var psB []string
	if r > 0 {
		psW, psB = append(psW, b.perSensorWeight("enc/window/w")), append(psB, "enc/window/b")
	}
	var viewTargets []int // indices into m.Targets of the targets with a view
	for i, t := range m.Targets {
		if p := "head/target/" + t.Name + "/"; t.Node >= 0 && has[p+"view/w"] {
			viewTargets = append(viewTargets, i)
			psW, psB = append(psW, b.perSensorWeight(p+"view/w")), append(psB, p+"view/b")
		}
	}
	Ru := r + int64(len(viewTargets))*rt
	var u, uFlat onnx.Value
	if len(psW) > 0 {
		wu := psW[0]
		if len(psW) > 1 {
			wu = g.Concat(2, psW)
		}
		u = g.Add(g.Transpose(g.MatMul(xmT, wu), toSensorMajor), b.perSensorBias("block/enc/views/b", psB, S)) // [B,S,Ru]
		uFlat = g.Reshape(u, b.shape(-1, S*Ru))                                                                // [B,S*Ru]
	}

	// Patches: every patch at once. in = [xm | mask] per patch, [B,S,NP,2P].
	xp := g.Reshape(xm, b.shape(-1, S, NP, P))
	mp := g.Reshape(mask, b.shape(-1, S, NP, P))
	in := g.Concat(3, []onnx.Value{xp, mp})
	in = g.Reshape(g.Transpose(in, []int64{1, 0, 2, 3}), b.shape(S, -1, 2*P)) // [S, B*NP, 2P]
	e := g.MatMul(in, b.perSensorWeight("enc/patch/w"))                       // [S, B*NP, D]
	e = g.Relu(g.Add(e, b.reshaped("enc/patch/b", S, 1, D)))
	e4 := g.Reshape(e, b.shape(S, -1, NP, D)) // [S, B, NP, D]
	patchMean := g.Transpose(g.ReduceMean(e4, []int64{2}, false), toSensorMajor)

	// GRU over the patches, all sensors of all windows as its batch:
	// time-major [NP, B*S, D].
	seq := g.Reshape(g.Transpose(e4, []int64{2, 1, 0, 3}), b.shape(NP, -1, D))
	gate := func(name string) onnx.GRUGate {
		wx, _ := b.tensor("enc/gru/" + name + "/wx")
		wh, _ := b.tensor("enc/gru/" + name + "/wh")
		bx, _ := b.tensor("enc/gru/" + name + "/bx")
		bh, _ := b.tensor("enc/gru/" + name + "/bh")
		return onnx.GRUGate{Input: wx, Recurrent: wh, InputBias: bx, RecurrentBias: bh}
	}
	gw, gr, gb, err := onnx.PackGRU(onnx.GRUParams{InputSize: int(D), HiddenSize: int(D),
		Update: gate("z"), Reset: gate("r"), Hidden: gate("n")})
	if err != nil {
		b.fail("GRU weights: %v", err)
		return b.err
	}
	_, hLast := g.GRU(seq, g.Const("enc/gru/W", gw), g.Const("enc/gru/R", gr), g.Const("enc/gru/B", gb),
		onnx.GRUConfig{HiddenSize: D, LinearBeforeReset: true}, onnx.NodeName("enc/gru"))
	h := g.Reshape(hLast, b.shape(-1, S, D)) // [B,S,D]

	// The window view enters as relu(u) whole: the rows of enc/out/w
	// beyond the window's are zeros.
	parts := []onnx.Value{h, patchMean}
	encRows := 2 * D
	if r > 0 {
		parts = append(parts, g.Relu(u))
		encRows += Ru
	}
	enc := g.Concat(-1, parts) // [B,S,2D+Ru]
	encW := b.block("block/enc/out/w", int(encRows), int(D), []blockPart{{Weight: "enc/out/w", Rows: int(2*D + r), Cols: int(D)}})
	sensors := g.Relu(g.Add(g.MatMul(enc, encW), b.weight("enc/out/b"))) // [B,S,D]

	// 2. Sensors -> nodes.
	consts := map[string]gnnConst{}
	for _, c := range m.Constants() {
		consts[c.Name] = gnnConst{data: c.Data, shape: c.Shape}
	}
	cnst := func(name string) onnx.Value {
		c, ok := consts[name]
		if !ok {
			b.fail("model has no constant %q", name)
			return g.Scalar(0)
		}
		dims := make([]int64, len(c.shape))
		for i, d := range c.shape {
			dims[i] = int64(d)
		}
		return g.Const(name, onnx.NewTensor(c.data, dims...))
	}
	nodes := g.Add(g.MatMul(cnst("const/pool"), sensors), b.weight("node/emb")) // [B,N,D]

	// 3. GATv2 layers.
	adjBias := cnst("const/adj_bias")
	for l := 0; has[fmt.Sprintf("gat%d/wl", l)]; l++ {
		p := fmt.Sprintf("gat%d/", l)
		heads := func(v onnx.Value) onnx.Value { // [B,N,D] -> [B,K,N,dk]
			return g.Transpose(g.Reshape(v, b.shape(-1, N, K, dk)), []int64{0, 2, 1, 3})
		}
		// hl straight to [B,K,N,1,dk] (Reshape [B,N,1,K,dk], Transpose).
		hl := g.Transpose(g.Reshape(g.MatMul(nodes, b.weight(p+"wl")), b.shape(-1, N, 1, K, dk)), []int64{0, 3, 1, 2, 4})
		hr := heads(g.MatMul(nodes, b.weight(p+"wr")))
		pair := g.LeakyRelu(g.Add(hl, g.Unsqueeze(hr, []int64{2})), gnn.LeakyAlpha) // [B,K,N,N,dk]
		// Scores: pair [B,K,N,N,dk] @ att [K,1,dk,1] (broadcast) -> [B,K,N,N,1].
		att := b.reshaped(p+"att", K, 1, dk, 1)
		scores := g.Reshape(g.MatMul(pair, att), b.shape(-1, K, N, N))
		alpha := g.Softmax(g.Add(scores, adjBias), -1)
		msg := g.Reshape(g.Transpose(g.MatMul(alpha, hr), []int64{0, 2, 1, 3}), b.shape(-1, N, D))
		msg = g.Relu(g.Add(g.MatMul(msg, b.weight(p+"wo")), b.weight(p+"bo")))
		nodes = g.LayerNormalization(g.Add(nodes, msg), b.weight(p+"ln/g"), b.weight(p+"ln/b"), -1, gnn.LayerNormEps)
	}
	pooled := g.ReduceMean(nodes, []int64{1}, false) // [B,D]
	if has["graph/readout/w"] {
		readout := g.Relu(g.Add(g.MatMul(g.Reshape(nodes, b.shape(-1, N*D)), b.weight("graph/readout/w")),
			b.weight("graph/readout/b")))
		pooled = g.Concat(-1, []onnx.Value{pooled, readout}) // [B,D+R]
	}
	if has["graph/global/w"] {
		// Rig-level view: the window views before their Relu, flattened
		// in sensor order.
		Gw := int(m.Sizes.GlobalWidth())
		var gp []blockPart
		for s := range int(S) {
			gp = append(gp, blockPart{Weight: "graph/global/w", SrcRow: s * int(r), Rows: int(r), Row: s * int(Ru), Cols: Gw})
		}
		glob := g.Relu(g.Add(g.MatMul(uFlat, b.block("block/graph/global/w", int(S*Ru), Gw, gp)),
			b.weight("graph/global/b")))
		pooled = g.Concat(-1, []onnx.Value{pooled, glob}) // [B,D+R+G]
	}

	// 4. Heads.
	hv := g.Add(g.MatMul(nodes, b.weight("head/health/w")), b.weight("head/health/b")) // [B,N,1]
	g.Output(OutputHealth, g.Sigmoid(g.Reshape(hv, b.shape(-1, N))), batch, onnx.Dim(N))
	b.heads(nodes, pooled, uFlat, xm, r, Ru, viewTargets)
	// Reconstruction from each sensor's embedding plus its node's context.
	idx := make([]int64, len(m.SensorNode))
	for s, n := range m.SensorNode {
		idx[s] = int64(n)
	}
	ctx := g.Add(sensors, g.Gather(nodes, g.Const("const/scatter", onnx.NewTensor(idx, S)), 1)) // [B,S,D]
	rh := g.Relu(g.Add(g.MatMul(ctx, b.weight("head/recon/w1")), b.weight("head/recon/b1")))
	recon := g.Add(g.MatMul(rh, b.weight("head/recon/w2")), b.weight("head/recon/b2")) // [B,S,T]
	d := g.Mul(g.Sub(recon, x), mask)
	se := g.ReduceSum(g.Mul(d, d), []int64{-1}, false)
	cnt := g.Node("Max", g.ReduceSum(mask, []int64{-1}, false), g.Scalar(1))
	g.Output(OutputAnomaly, g.Div(se, cnt), batch, onnx.Dim(S))
	return b.err
}

type gnnConst struct {
	data  []float32
	shape []int
}

// perSensorBias adds the per-sensor biases names ([S, k_i] each) side by
// side as one [S, Σk_i] initialiser (the biases of a per-sensor product
// whose weights are concatenated along their last axis).
func (b *builder) perSensorBias(name string, names []string, S int64) onnx.Value {
	if len(names) == 1 {
		return b.weight(names[0])
	}
	b.lay.sensorBias[name] = names
	rows := make([][]float32, S)
	for _, n := range names {
		d, _ := b.tensor(n)
		if int64(len(d))%S != 0 {
			b.fail("bias %q has %d values, not a multiple of %d sensors", n, len(d), S)
			return b.g.Scalar(0)
		}
		k := int64(len(d)) / S
		for s := range S {
			rows[s] = append(rows[s], d[s*k:(s+1)*k]...)
		}
	}
	var data []float32
	for _, row := range rows {
		data = append(data, row...)
	}
	return b.g.Const(name, onnx.NewTensor(data, S, int64(len(data))/S))
}

// heads adds every class head at once: one input row [nodes flattened |
// pooled | the view targets' hidden views | each attention target's
// attention], one hidden layer (block/head/w1: each target's w1 rows at
// its inputs, its columns its own), one output layer (block/head/w2,
// block diagonal), then each target's Softmax over its own logits (Split).
// r and Ru are the window view's and u's widths (u [B,S,Ru], uFlat its
// [B,S*Ru]); viewTargets the targets with a view, in u's order.
func (b *builder) heads(nodes, pooled, uFlat, xm onnx.Value, r, Ru int64, viewTargets []int) {
	g, m := b.g, b.m
	if len(m.Targets) == 0 {
		return
	}
	S, N, D := int(m.Sensors), int(m.Nodes), int(m.Sizes.Hidden)
	Dp := D + m.Sizes.ReadoutWidth() + m.Sizes.GlobalWidth()
	Hh, rt, VH := m.Sizes.HeadHidden, m.Sizes.ViewWidth(), m.Sizes.ViewHidden
	var in []onnx.Value
	off := 0
	anyNode := false
	for _, t := range m.Targets {
		anyNode = anyNode || t.Node >= 0
	}
	if anyNode {
		in = append(in, g.Reshape(nodes, b.shape(-1, int64(N*D))))
		off += N * D
	}
	pooledOff := off
	in = append(in, pooled)
	off += Dp
	viewOff, viewIdx := off, map[int]int{}
	if len(viewTargets) > 0 {
		// Every view target's hidden view from u at once: block/view/hw
		// holds each target's view/hw rows at its columns of u.
		var hp []blockPart
		var hb []string
		for k, ti := range viewTargets {
			p := "head/target/" + m.Targets[ti].Name + "/"
			viewIdx[ti] = k
			for s := range S {
				hp = append(hp, blockPart{Weight: p + "view/hw", SrcRow: s * rt, Rows: rt,
					Row: s*int(Ru) + int(r) + k*rt, Col: k * VH, Cols: VH})
			}
			hb = append(hb, p+"view/hb")
		}
		hw := b.block("block/view/hw", S*int(Ru), len(viewTargets)*VH, hp)
		in = append(in, g.Relu(g.Add(g.MatMul(uFlat, hw), b.concatVector("block/view/hb", hb)))) // [B, nV*VH]
		off += len(viewTargets) * VH
	}
	attnOff := map[int]int{}
	for i, t := range m.Targets {
		p := "head/target/" + t.Name + "/"
		if t.Node < 0 || !b.has(p+"attn/w") {
			continue
		}
		// Attention over the steps (gnn.Sizes.ViewAttn), per target.
		E, H := int64(m.Sizes.ViewAttnWidth()), int64(gnn.ViewAttnHeads)
		e := g.Relu(g.Add(g.MatMul(g.Transpose(xm, []int64{0, 2, 1}), b.weight(p+"attn/w")), b.weight(p+"attn/pos"))) // [B,T,E]
		alpha := g.Softmax(g.MatMul(e, b.weight(p+"attn/q")), 1)                                                      // [B,T,H]
		att := g.MatMul(g.Transpose(alpha, []int64{0, 2, 1}), e)                                                      // [B,H,E]
		in = append(in, g.Reshape(att, b.shape(-1, H*E)))
		attnOff[i] = off
		off += int(H * E)
	}
	var w1p, w2p []blockPart
	var b1, b2 []string
	var classes []int64
	cOff := 0
	for i, t := range m.Targets {
		p := "head/target/" + t.Name + "/"
		col, src := i*Hh, 0
		part := func(rows, at int) {
			w1p = append(w1p, blockPart{Weight: p + "w1", SrcRow: src, Rows: rows, Row: at, Col: col, Cols: Hh})
			src += rows
		}
		if t.Node >= 0 {
			part(D, t.Node*D)
		}
		part(Dp, pooledOff)
		if k, ok := viewIdx[i]; ok {
			part(VH, viewOff+k*VH)
		}
		if at, ok := attnOff[i]; ok {
			part(m.Sizes.ViewAttnWidth()*gnn.ViewAttnHeads, at)
		}
		if w1 := b.w.Get(p + "w1"); w1 != nil && (len(w1.Shape) != 2 || w1.Shape[0] != src) {
			b.fail("weight %q has shape %v, want [%d, %d]", p+"w1", w1.Shape, src, Hh)
		}
		w2p = append(w2p, blockPart{Weight: p + "w2", Rows: Hh, Row: col, Col: cOff, Cols: t.Classes})
		cOff += t.Classes
		classes = append(classes, int64(t.Classes))
		b1, b2 = append(b1, p+"b1"), append(b2, p+"b2")
	}
	hin := in[0]
	if len(in) > 1 {
		hin = g.Concat(-1, in)
	}
	Tn := len(m.Targets)
	hid := g.Relu(g.Add(g.MatMul(hin, b.block("block/head/w1", off, Tn*Hh, w1p)), b.concatVector("block/head/b1", b1)))
	logits := g.Add(g.MatMul(hid, b.block("block/head/w2", Tn*Hh, cOff, w2p)), b.concatVector("block/head/b2", b2))
	outs := []onnx.Value{logits}
	if Tn > 1 {
		outs = g.Split(logits, -1, classes)
	}
	for i, t := range m.Targets {
		g.Output(TargetOutput(t.Name), g.Softmax(outs[i], -1), onnx.Dim("batch"), onnx.Dim(t.Classes))
	}
}

// has reports whether the model lists weight name.
func (b *builder) has(name string) bool {
	for _, p := range b.m.Params() {
		if p.Name == name {
			return true
		}
	}
	return false
}
