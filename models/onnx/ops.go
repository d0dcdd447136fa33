package onnx

// Typed helpers for the operators the GNN needs, in their opset-17 forms.
// Each adds one node and returns its output(s); opts name the node or its
// outputs. Errors are recorded in the graph like those of Graph.Node.

func (g *Graph) op(op string, inputs []Value, attrs []Attribute, opts []NodeOption) Value {
	return g.opN(op, 1, inputs, attrs, opts)[0]
}

func (g *Graph) opN(op string, nOut int, inputs []Value, attrs []Attribute, opts []NodeOption) []Value {
	var spec nodeSpec
	for _, o := range opts {
		if o.apply != nil {
			o.apply(&spec)
		}
	}
	return g.addNode(op, spec, inputs, attrs, nOut)
}

// required records an error when a required input of a typed helper is the
// zero Value, and reports whether all are present.
func (g *Graph) required(op string, vs ...Value) bool {
	for i, v := range vs {
		if v.IsZero() {
			g.failf("%s: input %d is the zero Value but is required", op, i)
			return false
		}
	}
	return true
}

func (g *Graph) unary(op string, x Value, opts []NodeOption) Value {
	if !g.required(op, x) {
		return g.bad()
	}
	return g.op(op, []Value{x}, nil, opts)
}

func (g *Graph) binary(op string, a, b Value, opts []NodeOption) Value {
	if !g.required(op, a, b) {
		return g.bad()
	}
	return g.op(op, []Value{a, b}, nil, opts)
}

// MatMul returns a·b with NumPy matmul semantics (batched, broadcast).
func (g *Graph) MatMul(a, b Value, opts ...NodeOption) Value { return g.binary("MatMul", a, b, opts) }

// Add returns a+b (broadcast).
func (g *Graph) Add(a, b Value, opts ...NodeOption) Value { return g.binary("Add", a, b, opts) }

// Sub returns a-b (broadcast).
func (g *Graph) Sub(a, b Value, opts ...NodeOption) Value { return g.binary("Sub", a, b, opts) }

// Mul returns a*b element-wise (broadcast).
func (g *Graph) Mul(a, b Value, opts ...NodeOption) Value { return g.binary("Mul", a, b, opts) }

// Div returns a/b element-wise (broadcast).
func (g *Graph) Div(a, b Value, opts ...NodeOption) Value { return g.binary("Div", a, b, opts) }

// Pow returns a^b element-wise (broadcast).
func (g *Graph) Pow(a, b Value, opts ...NodeOption) Value { return g.binary("Pow", a, b, opts) }

// Equal returns a==b element-wise (broadcast) as BOOL.
func (g *Graph) Equal(a, b Value, opts ...NodeOption) Value { return g.binary("Equal", a, b, opts) }

// Sigmoid returns 1/(1+exp(-x)).
func (g *Graph) Sigmoid(x Value, opts ...NodeOption) Value { return g.unary("Sigmoid", x, opts) }

// Tanh returns tanh(x).
func (g *Graph) Tanh(x Value, opts ...NodeOption) Value { return g.unary("Tanh", x, opts) }

// Relu returns max(x, 0).
func (g *Graph) Relu(x Value, opts ...NodeOption) Value { return g.unary("Relu", x, opts) }

// Exp returns e^x.
func (g *Graph) Exp(x Value, opts ...NodeOption) Value { return g.unary("Exp", x, opts) }

// Log returns ln(x).
func (g *Graph) Log(x Value, opts ...NodeOption) Value { return g.unary("Log", x, opts) }

// Sqrt returns √x.
func (g *Graph) Sqrt(x Value, opts ...NodeOption) Value { return g.unary("Sqrt", x, opts) }

// Shape returns the shape of x as a 1-D INT64 tensor.
func (g *Graph) Shape(x Value, opts ...NodeOption) Value { return g.unary("Shape", x, opts) }

// Identity returns a copy of x.
func (g *Graph) Identity(x Value, opts ...NodeOption) Value { return g.unary("Identity", x, opts) }

// LeakyRelu returns x for x >= 0 and alpha*x otherwise (ONNX's default
// alpha is 0.01; GAT uses 0.2).
func (g *Graph) LeakyRelu(x Value, alpha float32, opts ...NodeOption) Value {
	if !g.required("LeakyRelu", x) {
		return g.bad()
	}
	return g.op("LeakyRelu", []Value{x}, []Attribute{AttrFloat("alpha", alpha)}, opts)
}

// Softmax returns the softmax of x along one axis (negative counts from the
// end; opset 13+ semantics: only that axis is normalised).
func (g *Graph) Softmax(x Value, axis int64, opts ...NodeOption) Value {
	if !g.required("Softmax", x) {
		return g.bad()
	}
	return g.op("Softmax", []Value{x}, []Attribute{AttrInt("axis", axis)}, opts)
}

// GemmConfig holds Gemm's attributes. The zero value is plain A·B + C.
type GemmConfig struct {
	// TransA and TransB transpose A or B before the product.
	TransA, TransB bool
	// Alpha scales A·B and Beta scales C; 0 means ONNX's default 1.
	Alpha, Beta float32
}

// Gemm returns alpha·A'·B' + beta·C for 2-D A and B (C optional:
// the zero Value, or broadcastable to the result).
func (g *Graph) Gemm(a, b, c Value, cfg GemmConfig, opts ...NodeOption) Value {
	if !g.required("Gemm", a, b) {
		return g.bad()
	}
	var attrs []Attribute
	if cfg.Alpha != 0 && cfg.Alpha != 1 {
		attrs = append(attrs, AttrFloat("alpha", cfg.Alpha))
	}
	if cfg.Beta != 0 && cfg.Beta != 1 {
		attrs = append(attrs, AttrFloat("beta", cfg.Beta))
	}
	if cfg.TransA {
		attrs = append(attrs, AttrInt("transA", 1))
	}
	if cfg.TransB {
		attrs = append(attrs, AttrInt("transB", 1))
	}
	return g.op("Gemm", []Value{a, b, c}, attrs, opts)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// ReduceMean averages x over axes (all axes when empty); keepDims keeps
// them with size 1. At opset 17 axes is an attribute (it becomes an input
// at opset 18).
func (g *Graph) ReduceMean(x Value, axes []int64, keepDims bool, opts ...NodeOption) Value {
	if !g.required("ReduceMean", x) {
		return g.bad()
	}
	attrs := []Attribute{AttrInt("keepdims", boolInt(keepDims))}
	if len(axes) > 0 {
		attrs = append(attrs, AttrInts("axes", axes...))
	}
	return g.op("ReduceMean", []Value{x}, attrs, opts)
}

// ReduceSum sums x over axes (all axes when empty); keepDims keeps them
// with size 1. Since opset 13 axes is an input: a shared INT64 initialiser.
func (g *Graph) ReduceSum(x Value, axes []int64, keepDims bool, opts ...NodeOption) Value {
	if !g.required("ReduceSum", x) {
		return g.bad()
	}
	in := []Value{x}
	if len(axes) > 0 {
		in = append(in, g.Int64s(axes...))
	}
	return g.op("ReduceSum", in, []Attribute{AttrInt("keepdims", boolInt(keepDims))}, opts)
}

// Transpose permutes the axes of x: output axis i is input axis perm[i].
// A nil perm reverses the axes.
func (g *Graph) Transpose(x Value, perm []int64, opts ...NodeOption) Value {
	if !g.required("Transpose", x) {
		return g.bad()
	}
	var attrs []Attribute
	if perm != nil {
		attrs = append(attrs, AttrInts("perm", perm...))
	}
	return g.op("Transpose", []Value{x}, attrs, opts)
}

// Reshape reshapes x to shape, a 1-D INT64 value (usually g.Int64s(...)):
// 0 copies the input's size at that position, -1 is inferred.
func (g *Graph) Reshape(x, shape Value, opts ...NodeOption) Value {
	return g.binary("Reshape", x, shape, opts)
}

// Concat joins xs along axis.
func (g *Graph) Concat(axis int64, xs []Value, opts ...NodeOption) Value {
	if len(xs) == 0 {
		g.failf("Concat: no inputs")
		return g.bad()
	}
	if !g.required("Concat", xs...) {
		return g.bad()
	}
	return g.op("Concat", xs, []Attribute{AttrInt("axis", axis)}, opts)
}

// Slice returns x[starts:ends:steps] on axes (nil axes: 0..len(starts)-1;
// nil steps: 1). The parameters become shared INT64 initialisers.
func (g *Graph) Slice(x Value, starts, ends, axes, steps []int64, opts ...NodeOption) Value {
	if !g.required("Slice", x) {
		return g.bad()
	}
	in := []Value{x, g.Int64s(starts...), g.Int64s(ends...)}
	if axes != nil || steps != nil {
		if axes == nil {
			axes = make([]int64, len(starts))
			for i := range axes {
				axes[i] = int64(i)
			}
		}
		in = append(in, g.Int64s(axes...))
	}
	if steps != nil {
		in = append(in, g.Int64s(steps...))
	}
	return g.op("Slice", in, nil, opts)
}

// Gather picks entries of data along axis at indices (INT32 or INT64).
func (g *Graph) Gather(data, indices Value, axis int64, opts ...NodeOption) Value {
	if !g.required("Gather", data, indices) {
		return g.bad()
	}
	return g.op("Gather", []Value{data, indices}, []Attribute{AttrInt("axis", axis)}, opts)
}

// Unsqueeze inserts size-1 axes at the given positions of the output.
func (g *Graph) Unsqueeze(x Value, axes []int64, opts ...NodeOption) Value {
	if !g.required("Unsqueeze", x) {
		return g.bad()
	}
	if len(axes) == 0 {
		g.failf("Unsqueeze: no axes")
		return g.bad()
	}
	return g.op("Unsqueeze", []Value{x, g.Int64s(axes...)}, nil, opts)
}

// Squeeze removes the given size-1 axes (all size-1 axes when empty).
func (g *Graph) Squeeze(x Value, axes []int64, opts ...NodeOption) Value {
	if !g.required("Squeeze", x) {
		return g.bad()
	}
	in := []Value{x}
	if len(axes) > 0 {
		in = append(in, g.Int64s(axes...))
	}
	return g.op("Squeeze", in, nil, opts)
}

// Where returns x where cond (BOOL) is true and y elsewhere (broadcast).
func (g *Graph) Where(cond, x, y Value, opts ...NodeOption) Value {
	if !g.required("Where", cond, x, y) {
		return g.bad()
	}
	return g.op("Where", []Value{cond, x, y}, nil, opts)
}

// Cast converts x to the element type to.
func (g *Graph) Cast(x Value, to DataType, opts ...NodeOption) Value {
	if !g.required("Cast", x) {
		return g.bad()
	}
	if !to.valid() {
		g.failf("Cast: target type %s is not supported", to)
		return g.bad()
	}
	return g.op("Cast", []Value{x}, []Attribute{AttrInt("to", int64(to))}, opts)
}

// Expand broadcasts x to shape (a 1-D INT64 value), NumPy-style.
func (g *Graph) Expand(x, shape Value, opts ...NodeOption) Value {
	return g.binary("Expand", x, shape, opts)
}

// Split cuts x along axis into len(sizes) parts of the given sizes (opset
// 13-17 form: the sizes are an input; at opset 18 Split also needs
// num_outputs).
func (g *Graph) Split(x Value, axis int64, sizes []int64, opts ...NodeOption) []Value {
	if len(sizes) == 0 {
		g.failf("Split: no sizes")
		return []Value{g.bad()}
	}
	if !g.required("Split", x) {
		return []Value{g.bad()}
	}
	return g.opN("Split", len(sizes), []Value{x, g.Int64s(sizes...)}, []Attribute{AttrInt("axis", axis)}, opts)
}

// LayerNormalization normalises x over the axes from axis to the last
// (mean 0, variance 1, with epsilon added to the variance), then multiplies
// by scale and adds bias (the zero Value: none). ONNX's defaults are
// axis -1 and epsilon 1e-5.
func (g *Graph) LayerNormalization(x, scale, bias Value, axis int64, epsilon float32, opts ...NodeOption) Value {
	if !g.required("LayerNormalization", x, scale) {
		return g.bad()
	}
	return g.op("LayerNormalization", []Value{x, scale, bias},
		[]Attribute{AttrInt("axis", axis), AttrFloat("epsilon", epsilon)}, opts)
}

// DequantizeLinear returns (x - zeroPoint) * scale as FLOAT. scale is a
// scalar (per tensor) or 1-D along axis (per axis); zeroPoint may be the
// zero Value (0).
func (g *Graph) DequantizeLinear(x, scale, zeroPoint Value, axis int64, opts ...NodeOption) Value {
	if !g.required("DequantizeLinear", x, scale) {
		return g.bad()
	}
	var attrs []Attribute
	if axis != 1 {
		attrs = append(attrs, AttrInt("axis", axis))
	}
	return g.op("DequantizeLinear", []Value{x, scale, zeroPoint}, attrs, opts)
}

// DynamicQuantizeLinear quantises x to UINT8 with a scale and zero point
// computed from its range at run time, and returns (y, scale, zeroPoint).
func (g *Graph) DynamicQuantizeLinear(x Value, opts ...NodeOption) (y, scale, zeroPoint Value) {
	if !g.required("DynamicQuantizeLinear", x) {
		return g.bad(), g.bad(), g.bad()
	}
	out := g.opN("DynamicQuantizeLinear", 3, []Value{x}, nil, opts)
	return out[0], out[1], out[2]
}

// MatMulInteger returns (a - aZero)·(b - bZero) as INT32; zero points may
// be the zero Value.
func (g *Graph) MatMulInteger(a, b, aZero, bZero Value, opts ...NodeOption) Value {
	if !g.required("MatMulInteger", a, b) {
		return g.bad()
	}
	return g.op("MatMulInteger", []Value{a, b, aZero, bZero}, nil, opts)
}
