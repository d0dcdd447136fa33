package onnx

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
)

// Scheme is an int8 quantisation scheme of Quantize.
type Scheme int

const (
	// WeightOnly stores selected weights as INT8 initialisers with FLOAT
	// scales and feeds each through a DequantizeLinear node to its original
	// consumers (QDQ). The arithmetic stays fp32. Load it in ONNX Runtime
	// with the session config entry session.disable_quant_qdq=1, which folds
	// the dequantisation into fp32 constants at load time: int8 on disk,
	// fp32 speed. Without that entry ONNX Runtime fuses DequantizeLinear +
	// MatMul into its own kernels, slower than fp32 for small matrices.
	WeightOnly Scheme = iota + 1
	// Dynamic rewrites each MatMul (and plain Gemm) whose weight is selected
	// into DynamicQuantizeLinear on the activation, MatMulInteger with the
	// INT8 (or UINT8) weight, Cast to FLOAT and Mul by the product of the
	// two scales, which ONNX Runtime fuses into DynamicQuantizeMatMul: int8
	// arithmetic, faster than fp32 only for large matrices. Selected weights
	// with other consumers (GRU, ...) get a DequantizeLinear as in
	// WeightOnly.
	//
	// Results depend on the batch: DynamicQuantizeLinear takes one scale
	// and zero point over its whole input tensor, batch axis included, so
	// one row's (window's) output depends on the other rows of the batch
	// (a row of large activations coarsens every row's quantisation step).
	// A model run one row at a time (batch 1) gives each row the same
	// result whatever else is evaluated; WeightOnly has no such effect.
	Dynamic
)

// String returns "weight-only" or "dynamic".
func (s Scheme) String() string {
	switch s {
	case WeightOnly:
		return "weight-only"
	case Dynamic:
		return "dynamic"
	}
	return "Scheme(" + strconv.Itoa(int(s)) + ")"
}

// DefaultMinElements is the size threshold of QuantOptions.MinElements.
const DefaultMinElements = 256

// QuantOptions selects and parameterises a quantisation pass.
type QuantOptions struct {
	// Scheme is WeightOnly or Dynamic; required.
	Scheme Scheme
	// MinElements: FLOAT initialisers with fewer elements (biases, norms,
	// attention vectors) stay fp32. 0 means DefaultMinElements.
	MinElements int
	// PerChannel gives each output channel its own scale (the columns of a
	// MatMul weight [K, N], the rows of a Gemm weight with transB, the
	// 3H gate rows of GRU weights) instead of one scale per tensor.
	PerChannel bool
	// WeightType is the element type of MatMulInteger weights in the
	// Dynamic scheme: Int8 (symmetric, zero point 0; the default when
	// Undefined) or Uint8 (zero point 128). Int8 MatMulInteger weights use
	// 7 bits, [-63, 63] (ONNX Runtime's "reduce range"): with the UINT8
	// activations of DynamicQuantizeLinear, x86-64 CPUs without AVX-512
	// VNNI or AVX-VNNI add pairs of u8·s8 products in 16 bits
	// (vpmaddubsw), which saturate beyond 2·255·64; 7-bit weights give the
	// same results on every CPU, so a model quantised on one machine is
	// right on another. Uint8 keeps 8 bits. DequantizeLinear weights are
	// always Int8 with the full [-127, 127].
	WeightType DataType
}

// QuantizedTensor describes one initialiser a pass quantised.
type QuantizedTensor struct {
	// Name is the original initialiser's name.
	Name string
	// Shape is its shape.
	Shape []int64
	// Axis is the channel axis of per-channel scales, or -1 for one scale:
	// 1 for a MatMul weight [K, N] and a Gemm weight without transB, 0 for
	// a Gemm weight with transB, 1 for GRU weights. A DequantizeLinear
	// node records it as its axis attribute; a weight that only
	// MatMulInteger consumes (Dynamic) has no such node, so this is the
	// only record of how to read its scales.
	Axis int
	// QuantizedName, ScaleName and ZeroPointName are the initialisers that
	// hold the quantised values, the scales and the zero points
	// (<Name>_quantized, _scale, _zero_point unless those names were
	// taken).
	QuantizedName, ScaleName, ZeroPointName string
	// Integer reports whether MatMulInteger consumes it (Dynamic scheme).
	Integer bool
	// Dequantized reports whether a DequantizeLinear feeds fp32 consumers.
	Dequantized bool
	// MaxAbs is the largest |w|; MaxError the largest |w - dequant(quant(w))|.
	MaxAbs, MaxError float32
}

// SkippedTensor is a FLOAT initialiser a pass left fp32, with the reason.
type SkippedTensor struct {
	// Name is the initialiser's name.
	Name string
	// Elements is its number of elements.
	Elements int64
	// Reason says why it stayed fp32.
	Reason string
}

// QuantReport summarises a quantisation pass.
type QuantReport struct {
	// Scheme is the scheme applied.
	Scheme Scheme
	// Quantized lists the initialisers stored as int8, in graph order.
	Quantized []QuantizedTensor
	// Skipped lists the FLOAT initialisers left fp32, in graph order.
	Skipped []SkippedTensor
	// InitBytesBefore and InitBytesAfter total the initialisers' data.
	InitBytesBefore, InitBytesAfter int64
}

// weightUse is one use of an initialiser by a node input.
type weightUse struct {
	node, input int
	role        string // "matmul", "gemm", "gru" or "other"
	axis        int    // output-channel axis for matmul, gemm, gru
}

// Quantize returns a copy of m with its large weights stored as int8
// according to opts, and a report of what it did. m itself is not changed;
// the result shares unchanged tensors (not maps) with m. m must be valid, at opset 13
// or later (per-axis DequantizeLinear).
//
// A FLOAT initialiser is quantised when it has at least MinElements
// elements and is the weight of a MatMul (input B, 2-D), a Gemm (input B)
// or a GRU (W or R). Scales are symmetric: scale = max|w| / 127, zero point
// 0, values rounded to nearest and clamped to [-127, 127] (Int8
// MatMulInteger weights: 63 and [-63, 63], see QuantOptions.WeightType).
func Quantize(m *Model, opts QuantOptions) (*Model, *QuantReport, error) {
	if err := m.Validate(); err != nil {
		return nil, nil, fmt.Errorf("quantize: %w", err)
	}
	if m.opset() < 13 {
		return nil, nil, fmt.Errorf("%w: quantize: opset %d: want 13 or later", ErrInvalid, m.opset())
	}
	if opts.Scheme != WeightOnly && opts.Scheme != Dynamic {
		return nil, nil, fmt.Errorf("%w: quantize: scheme %s: want WeightOnly or Dynamic", ErrInvalid, opts.Scheme)
	}
	minElems := int64(opts.MinElements)
	if minElems <= 0 {
		minElems = DefaultMinElements
	}
	wtype := opts.WeightType
	switch {
	case wtype == Undefined:
		wtype = Int8
	case wtype != Int8 && wtype != Uint8:
		return nil, nil, fmt.Errorf("%w: quantize: weight type %s: want INT8 or UINT8", ErrInvalid, wtype)
	}
	if opts.Scheme == WeightOnly {
		wtype = Int8
	}

	g := m.Graph
	inputs, inits, nodes, outputs := g.Inputs(), g.Initializers(), g.Nodes(), g.Outputs()
	used := map[string]bool{}
	for _, v := range g.values {
		used[v.name] = true
	}
	for _, n := range nodes {
		used[n.Name] = true
	}
	fresh := func(base string) string {
		name := base
		for k := 1; used[name]; k++ {
			name = base + "_" + strconv.Itoa(k)
		}
		used[name] = true
		return name
	}

	uses := map[string][]weightUse{}
	for i, n := range nodes {
		for k, in := range n.Inputs {
			if in != "" {
				uses[in] = append(uses[in], weightUse{node: i, input: k, role: "other"})
			}
		}
	}
	report := &QuantReport{Scheme: opts.Scheme}

	type plan struct {
		name                 string
		t                    *Tensor
		q, scale, zero       string // new initialiser names
		axis                 int
		integer, needDequant bool
		integerUses          map[int]bool // node index -> MatMul/Gemm rewritten
	}
	plans := map[string]*plan{}
	var newInits []Initializer
	for _, in := range inits {
		t := in.Tensor
		report.InitBytesBefore += int64(len(t.Raw))
		keep := func(reason string) {
			if t.DataType == Float32 {
				n, _ := t.NumElements()
				report.Skipped = append(report.Skipped, SkippedTensor{Name: in.Name, Elements: n, Reason: reason})
			}
			newInits = append(newInits, in)
			report.InitBytesAfter += int64(len(t.Raw))
		}
		if t.DataType != Float32 {
			keep("")
			continue
		}
		n, _ := t.NumElements()
		if n < minElems {
			keep(fmt.Sprintf("%d elements < MinElements %d", n, minElems))
			continue
		}
		us := uses[in.Name]
		weightAxes := map[int]bool{}
		for ui := range us {
			u := &us[ui]
			node := nodes[u.node]
			switch {
			case node.Domain != "" && node.Domain != "ai.onnx":
			case node.OpType == "MatMul" && u.input == 1 && len(t.Dims) == 2:
				u.role, u.axis = "matmul", 1
			case node.OpType == "Gemm" && u.input == 1 && len(t.Dims) == 2:
				u.role, u.axis = "gemm", 1
				if v, _ := attrInt(node.Attributes, "transB"); v != 0 {
					u.axis = 0
				}
			case node.OpType == "GRU" && (u.input == 1 || u.input == 2) && len(t.Dims) == 3:
				u.role, u.axis = "gru", 1
			}
			if u.role != "other" {
				weightAxes[u.axis] = true
			}
		}
		if len(weightAxes) == 0 {
			keep("not a weight of MatMul, Gemm or GRU")
			continue
		}
		p := &plan{name: in.Name, t: t, axis: -1, integerUses: map[int]bool{}}
		if opts.PerChannel && len(weightAxes) == 1 {
			for a := range weightAxes {
				p.axis = a
			}
		}
		for _, u := range us {
			if opts.Scheme == Dynamic && integerizable(u, nodes[u.node]) {
				p.integerUses[u.node] = true
				p.integer = true
			} else {
				p.needDequant = true
			}
		}
		if !p.needDequant && len(outputsNamed(outputs, in.Name)) > 0 {
			p.needDequant = true // the graph outputs the weight itself
		}
		qtype, limit := Int8, int32(127)
		if p.integer {
			qtype = wtype
			if qtype == Int8 {
				limit = reducedRange
			}
		}
		qt, scales, zeros, maxAbs, maxErr, err := quantizeSymmetric(t, p.axis, qtype, limit)
		if err != nil {
			return nil, nil, fmt.Errorf("quantize %q: %w", in.Name, err)
		}
		p.q, p.scale, p.zero = fresh(in.Name+"_quantized"), fresh(in.Name+"_scale"), fresh(in.Name+"_zero_point")
		plans[in.Name] = p
		newInits = append(newInits,
			Initializer{Name: p.q, Tensor: qt},
			Initializer{Name: p.scale, Tensor: scales},
			Initializer{Name: p.zero, Tensor: zeros})
		report.InitBytesAfter += int64(len(qt.Raw) + len(scales.Raw) + len(zeros.Raw))
		report.Quantized = append(report.Quantized, QuantizedTensor{
			Name: in.Name, Shape: slices.Clone(t.Dims), Axis: p.axis,
			QuantizedName: p.q, ScaleName: p.scale, ZeroPointName: p.zero, Integer: p.integer,
			Dequantized: p.needDequant, MaxAbs: maxAbs, MaxError: maxErr})
	}

	var newNodes []NodeInfo
	// DequantizeLinear nodes first: their inputs are initialisers, and their
	// outputs take the original weight names so that consumers are unchanged.
	for _, in := range inits {
		p := plans[in.Name]
		if p == nil || !p.needDequant {
			continue
		}
		dq := NodeInfo{Name: fresh(in.Name + "_DequantizeLinear"), OpType: "DequantizeLinear",
			Inputs: []string{p.q, p.scale, p.zero}, Outputs: []string{in.Name}}
		if p.axis >= 0 {
			dq.Attributes = []Attribute{AttrInt("axis", int64(p.axis))}
		}
		newNodes = append(newNodes, dq)
	}
	// activation name -> names of DynamicQuantizeLinear's outputs
	type dql struct{ q, scale, zero string }
	quantized := map[string]dql{}
	for i, n := range nodes {
		var p *plan
		if len(n.Inputs) > 1 {
			if pp := plans[n.Inputs[1]]; pp != nil && pp.integerUses[i] {
				p = pp
			}
		}
		if p == nil {
			newNodes = append(newNodes, n)
			continue
		}
		act := n.Inputs[0]
		aq, ok := quantized[act]
		if !ok {
			aq = dql{fresh(act + "_quantized"), fresh(act + "_scale"), fresh(act + "_zero_point")}
			quantized[act] = aq
			newNodes = append(newNodes, NodeInfo{Name: fresh(act + "_DynamicQuantizeLinear"),
				OpType: "DynamicQuantizeLinear", Inputs: []string{act}, Outputs: []string{aq.q, aq.scale, aq.zero}})
		}
		base := n.Name
		if base == "" {
			base = n.Outputs[0]
		}
		weight := p.q
		if v, _ := attrInt(n.Attributes, "transB"); n.OpType == "Gemm" && v != 0 {
			weight = fresh(p.q + "_transposed")
			newNodes = append(newNodes, NodeInfo{Name: fresh(base + "_Transpose"), OpType: "Transpose",
				Inputs: []string{p.q}, Outputs: []string{weight}})
		}
		yInt, yF, s := fresh(base+"_int32"), fresh(base+"_float"), fresh(base+"_scale")
		y := n.Outputs[0]
		hasBias := n.OpType == "Gemm" && len(n.Inputs) > 2 && n.Inputs[2] != ""
		if hasBias {
			y = fresh(base + "_product")
		}
		newNodes = append(newNodes,
			NodeInfo{Name: fresh(base + "_MatMulInteger"), OpType: "MatMulInteger",
				Inputs: []string{aq.q, weight, aq.zero, p.zero}, Outputs: []string{yInt}},
			NodeInfo{Name: fresh(base + "_Cast"), OpType: "Cast", Inputs: []string{yInt}, Outputs: []string{yF},
				Attributes: []Attribute{AttrInt("to", int64(Float32))}},
			NodeInfo{Name: fresh(base + "_scale_Mul"), OpType: "Mul", Inputs: []string{aq.scale, p.scale}, Outputs: []string{s}},
			NodeInfo{Name: fresh(base + "_Mul"), OpType: "Mul", Inputs: []string{yF, s}, Outputs: []string{y}})
		if hasBias {
			newNodes = append(newNodes, NodeInfo{Name: fresh(base + "_bias_Add"), OpType: "Add",
				Inputs: []string{y, n.Inputs[2]}, Outputs: []string{n.Outputs[0]}})
		}
	}

	ng, err := newGraphFrom(g.name, g.Doc, inputs, newInits, newNodes, outputs)
	if err != nil {
		return nil, nil, fmt.Errorf("quantize: rebuild graph: %w", err)
	}
	out := *m
	out.Graph = ng
	out.Imports, out.Metadata = maps.Clone(m.Imports), maps.Clone(m.Metadata)
	if err := out.Validate(); err != nil {
		return nil, nil, fmt.Errorf("quantize: result: %w", err)
	}
	return &out, report, nil
}

// integerizable reports whether a use of a weight can run as MatMulInteger:
// input B of a MatMul, or of a Gemm with no transA, alpha 1 and beta 1.
func integerizable(u weightUse, n NodeInfo) bool {
	switch u.role {
	case "matmul":
		return true
	case "gemm":
		for _, a := range n.Attributes {
			switch {
			case a.Name == "transA" && a.Int != 0,
				a.Name == "alpha" && a.Float != 1,
				a.Name == "beta" && a.Float != 1:
				return false
			}
		}
		return true
	}
	return false
}

func outputsNamed(outputs []ValueInfo, name string) []ValueInfo {
	var out []ValueInfo
	for _, o := range outputs {
		if o.Name == name {
			out = append(out, o)
		}
	}
	return out
}

// reducedRange is the largest magnitude of Int8 MatMulInteger weights
// (QuantOptions.WeightType): 7 bits, so that u8·s8 pair sums fit 16 bits.
const reducedRange = 63

// quantizeSymmetric quantises a FLOAT tensor to qtype (Int8: zero point 0,
// Uint8: zero point 128) with values in [-limit, limit] (scale = max|w| /
// limit) and one scale per slice along axis, or one scale when axis < 0. It returns the quantised tensor, the scales (a scalar or
// 1-D), the zero points (same shape as the scales), max|w| and the largest
// round-trip error.
func quantizeSymmetric(t *Tensor, axis int, qtype DataType, limit int32) (q, scales, zeros *Tensor, maxAbs, maxErr float32, err error) {
	w, err := TensorData[float32](t)
	if err != nil {
		return nil, nil, nil, 0, 0, err
	}
	channels, inner := 1, len(w)
	if axis >= 0 {
		if axis >= len(t.Dims) {
			return nil, nil, nil, 0, 0, fmt.Errorf("%w: axis %d of a %d-D tensor", ErrInvalid, axis, len(t.Dims))
		}
		channels = int(t.Dims[axis])
		inner = 1
		for _, d := range t.Dims[axis+1:] {
			inner *= int(d)
		}
	}
	// channel of element i: (i / inner) % channels
	absMax := make([]float64, channels)
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, nil, nil, 0, 0, fmt.Errorf("%w: element %d is %v", ErrInvalid, i, v)
		}
		c := (i / inner) % channels
		absMax[c] = math.Max(absMax[c], math.Abs(float64(v)))
	}
	sc := make([]float32, channels)
	for c, a := range absMax {
		sc[c] = float32(a / float64(limit))
		if sc[c] == 0 {
			sc[c] = 1
		}
		maxAbs = max(maxAbs, float32(a))
	}
	zp := int32(0)
	if qtype == Uint8 {
		zp = 128
	}
	raw := make([]byte, len(w))
	for i, v := range w {
		s := sc[(i/inner)%channels]
		r := int32(math.RoundToEven(float64(v) / float64(s)))
		r = min(max(r, -limit), limit)
		raw[i] = byte(r + zp) // two's complement for Int8
		maxErr = max(maxErr, float32(math.Abs(float64(v)-float64(r)*float64(s))))
	}
	q = &Tensor{DataType: qtype, Dims: slices.Clone(t.Dims), Raw: raw}
	zraw := make([]byte, channels)
	for i := range zraw {
		zraw[i] = byte(zp)
	}
	if axis < 0 {
		return q, ScalarTensor(sc[0]), &Tensor{DataType: qtype, Raw: zraw}, maxAbs, maxErr, nil
	}
	return q, NewTensor(sc, int64(channels)), &Tensor{DataType: qtype, Dims: []int64{int64(channels)}, Raw: zraw},
		maxAbs, maxErr, nil
}
