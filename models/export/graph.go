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
	if m == nil {
		return nil, fmt.Errorf("%w: nil model", ErrExport)
	}
	if err := w.Check(m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	b := &builder{m: m, w: w, opts: opts, g: onnx.NewGraph("hydrognn_gnn"), used: map[string]bool{}}
	if err := b.build(); err != nil {
		return nil, err
	}
	// A weight the graph does not read is a part of the model this
	// exporter does not know: refuse rather than export another model.
	for _, p := range m.Params() {
		if !b.used[p.Name] {
			return nil, fmt.Errorf("%w: the model has weight %q that this exporter does not use: "+
				"models/gnn changed its computation; update models/export (graph.go) and its parity test", ErrExport, p.Name)
		}
	}
	if err := b.g.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
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
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	return out, nil
}

type builder struct {
	m    *gnn.Model
	w    gnn.Weights
	opts GraphOptions
	g    *onnx.Graph
	err  error
	used map[string]bool // weights the graph reads
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
	xmT := g.Transpose(xm, toSensorMajor)               // [S,B,T]
	perSensor := func(wName, bName string) onnx.Value { // xm [B,S,T] @ W [S,T,k] + b [S,k] -> [B,S,k]
		return g.Add(g.Transpose(g.MatMul(xmT, b.perSensorWeight(wName)), toSensorMajor), b.weight(bName))
	}
	var window, winLin onnx.Value
	if has["enc/window/w"] {
		winLin = perSensor("enc/window/w", "enc/window/b") // [B,S,r]
		window = g.Relu(winLin)
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

	parts := []onnx.Value{h, patchMean}
	if !window.IsZero() {
		parts = append(parts, window)
	}
	enc := g.Concat(-1, parts)                                                            // [B,S,2D+r]
	sensors := g.Relu(g.Add(g.MatMul(enc, b.weight("enc/out/w")), b.weight("enc/out/b"))) // [B,S,D]

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
		hl := heads(g.MatMul(nodes, b.weight(p+"wl")))
		hr := heads(g.MatMul(nodes, b.weight(p+"wr")))
		pair := g.LeakyRelu(g.Add(g.Unsqueeze(hl, []int64{3}), g.Unsqueeze(hr, []int64{2})), gnn.LeakyAlpha) // [B,K,N,N,dk]
		att := b.reshaped(p+"att", K, dk, 1)
		scores := g.Reshape(g.MatMul(g.Reshape(pair, b.shape(-1, K, N*N, dk)), att), b.shape(-1, K, N, N))
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
		r := int64(m.Sizes.WindowWidth())
		glob := g.Relu(g.Add(g.MatMul(g.Reshape(winLin, b.shape(-1, S*r)), b.weight("graph/global/w")),
			b.weight("graph/global/b")))
		pooled = g.Concat(-1, []onnx.Value{pooled, glob}) // [B,D+R+G]
	}

	// 4. Heads.
	hv := g.Add(g.MatMul(nodes, b.weight("head/health/w")), b.weight("head/health/b")) // [B,N,1]
	g.Output(OutputHealth, g.Sigmoid(g.Reshape(hv, b.shape(-1, N))), batch, onnx.Dim(N))
	for _, t := range m.Targets {
		p := "head/target/" + t.Name + "/"
		hin := pooled
		if t.Node >= 0 {
			sel := g.Gather(nodes, g.Const("const/select/"+t.Name, onnx.ScalarTensor(int64(t.Node))), 1) // [B,D]
			parts := []onnx.Value{sel, pooled}
			if has[p+"view/w"] {
				// The target's own view of every sensor's window.
				rt := int64(m.Sizes.ViewWidth())
				u := perSensor(p+"view/w", p+"view/b") // [B,S,r_t]
				v := g.Relu(g.Add(g.MatMul(g.Reshape(u, b.shape(-1, S*rt)), b.weight(p+"view/hw")), b.weight(p+"view/hb")))
				parts = append(parts, v)
			}
			if has[p+"attn/w"] {
				// Attention over the steps (gnn.Sizes.ViewAttn).
				E, H := int64(m.Sizes.ViewAttnWidth()), int64(gnn.ViewAttnHeads)
				e := g.Relu(g.Add(g.MatMul(g.Transpose(xm, []int64{0, 2, 1}), b.weight(p+"attn/w")), b.weight(p+"attn/pos"))) // [B,T,E]
				alpha := g.Softmax(g.MatMul(e, b.weight(p+"attn/q")), 1)                                                      // [B,T,H]
				att := g.MatMul(g.Transpose(alpha, []int64{0, 2, 1}), e)                                                      // [B,H,E]
				parts = append(parts, g.Reshape(att, b.shape(-1, H*E)))
			}
			hin = g.Concat(-1, parts)
		}
		hid := g.Relu(g.Add(g.MatMul(hin, b.weight(p+"w1")), b.weight(p+"b1")))
		logits := g.Add(g.MatMul(hid, b.weight(p+"w2")), b.weight(p+"b2"))
		g.Output(TargetOutput(t.Name), g.Softmax(logits, -1), batch, onnx.Dim(t.Classes))
	}
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
