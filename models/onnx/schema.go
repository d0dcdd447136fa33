package onnx

import (
	"fmt"
	"sort"
)

// opSchema is what Validate knows about an operator of the default domain at
// opset 17: how many inputs and outputs it takes, its attributes and their
// types, and the element types of its outputs. It is a small hand-written
// subset of the ONNX operator specification (docs/Operators.md at opset 17),
// checked against onnx.defs.get_schema(op, 17) of ONNX 1.12.
type opSchema struct {
	minIn, maxIn   int // maxIn < 0: variadic
	minOut, maxOut int // maxOut < 0: variadic
	attrs          map[string]attrRule
	// out returns the element types of the outputs (Undefined where unknown)
	// from those of the inputs (Undefined where absent or unknown).
	out func(in []DataType, attrs []Attribute, nOut int) []DataType
}

type attrRule struct {
	typ      AttrType
	required bool
}

// sameAs gives every output the element type of input i.
func sameAs(i int) func([]DataType, []Attribute, int) []DataType {
	return func(in []DataType, _ []Attribute, n int) []DataType {
		t := Undefined
		if i < len(in) {
			t = in[i]
		}
		out := make([]DataType, n)
		for k := range out {
			out[k] = t
		}
		return out
	}
}

// fixed gives output k the type ts[k] (the last one repeats).
func fixed(ts ...DataType) func([]DataType, []Attribute, int) []DataType {
	return func(_ []DataType, _ []Attribute, n int) []DataType {
		out := make([]DataType, n)
		for k := range out {
			out[k] = ts[min(k, len(ts)-1)]
		}
		return out
	}
}

func attrInt(attrs []Attribute, name string) (int64, bool) {
	for _, a := range attrs {
		if a.Name == name && a.Type == AttrTypeInt {
			return a.Int, true
		}
	}
	return 0, false
}

var (
	noAttrs     = map[string]attrRule{}
	unarySchema = opSchema{minIn: 1, maxIn: 1, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)}
	binSchema   = opSchema{minIn: 2, maxIn: 2, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)}
	cmpSchema   = opSchema{minIn: 2, maxIn: 2, minOut: 1, maxOut: 1, attrs: noAttrs, out: fixed(Bool)}
	// Reduce* other than ReduceSum keep axes as an attribute up to opset 17.
	reduceAttrSchema = opSchema{minIn: 1, maxIn: 1, minOut: 1, maxOut: 1, out: sameAs(0),
		attrs: map[string]attrRule{"axes": {typ: AttrTypeInts}, "keepdims": {typ: AttrTypeInt}}}
)

// schemas17 maps op_type (default domain) to its opset-17 schema.
var schemas17 = map[string]opSchema{
	"Identity": unarySchema, "Sigmoid": unarySchema, "Tanh": unarySchema, "Relu": unarySchema,
	"Exp": unarySchema, "Log": unarySchema, "Sqrt": unarySchema, "Neg": unarySchema,
	"Abs": unarySchema, "Reciprocal": unarySchema, "Erf": unarySchema, "Not": unarySchema,
	"Add": binSchema, "Sub": binSchema, "Mul": binSchema, "Div": binSchema, "Pow": binSchema,
	"MatMul": binSchema, "And": binSchema, "Or": binSchema,
	"Equal": cmpSchema, "Less": cmpSchema, "Greater": cmpSchema,
	"Max": {minIn: 1, maxIn: -1, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)},
	"Min": {minIn: 1, maxIn: -1, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)},
	"LeakyRelu": {minIn: 1, maxIn: 1, minOut: 1, maxOut: 1, out: sameAs(0),
		attrs: map[string]attrRule{"alpha": {typ: AttrTypeFloat}}},
	"Elu": {minIn: 1, maxIn: 1, minOut: 1, maxOut: 1, out: sameAs(0),
		attrs: map[string]attrRule{"alpha": {typ: AttrTypeFloat}}},
	"Clip": {minIn: 1, maxIn: 3, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)},
	"Gemm": {minIn: 2, maxIn: 3, minOut: 1, maxOut: 1, out: sameAs(0), attrs: map[string]attrRule{
		"alpha": {typ: AttrTypeFloat}, "beta": {typ: AttrTypeFloat},
		"transA": {typ: AttrTypeInt}, "transB": {typ: AttrTypeInt}}},
	"Softmax": {minIn: 1, maxIn: 1, minOut: 1, maxOut: 1, out: sameAs(0),
		attrs: map[string]attrRule{"axis": {typ: AttrTypeInt}}},
	"LogSoftmax": {minIn: 1, maxIn: 1, minOut: 1, maxOut: 1, out: sameAs(0),
		attrs: map[string]attrRule{"axis": {typ: AttrTypeInt}}},
	"ReduceMean": reduceAttrSchema, "ReduceMax": reduceAttrSchema, "ReduceMin": reduceAttrSchema,
	"ReduceProd": reduceAttrSchema,
	// ReduceSum takes axes as its second input since opset 13.
	"ReduceSum": {minIn: 1, maxIn: 2, minOut: 1, maxOut: 1, out: sameAs(0), attrs: map[string]attrRule{
		"keepdims": {typ: AttrTypeInt}, "noop_with_empty_axes": {typ: AttrTypeInt}}},
	"Transpose": {minIn: 1, maxIn: 1, minOut: 1, maxOut: 1, out: sameAs(0),
		attrs: map[string]attrRule{"perm": {typ: AttrTypeInts}}},
	"Reshape": {minIn: 2, maxIn: 2, minOut: 1, maxOut: 1, out: sameAs(0),
		attrs: map[string]attrRule{"allowzero": {typ: AttrTypeInt}}},
	"Concat": {minIn: 1, maxIn: -1, minOut: 1, maxOut: 1, out: sameAs(0),
		attrs: map[string]attrRule{"axis": {typ: AttrTypeInt, required: true}}},
	"Slice":     {minIn: 3, maxIn: 5, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)},
	"Gather":    {minIn: 2, maxIn: 2, minOut: 1, maxOut: 1, out: sameAs(0), attrs: map[string]attrRule{"axis": {typ: AttrTypeInt}}},
	"Unsqueeze": {minIn: 2, maxIn: 2, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)},
	"Squeeze":   {minIn: 1, maxIn: 2, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)},
	"Where":     {minIn: 3, maxIn: 3, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(1)},
	"Expand":    {minIn: 2, maxIn: 2, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)},
	"Tile":      {minIn: 2, maxIn: 2, minOut: 1, maxOut: 1, attrs: noAttrs, out: sameAs(0)},
	"Shape": {minIn: 1, maxIn: 1, minOut: 1, maxOut: 1, out: fixed(Int64), attrs: map[string]attrRule{
		"start": {typ: AttrTypeInt}, "end": {typ: AttrTypeInt}}},
	"Cast": {minIn: 1, maxIn: 1, minOut: 1, maxOut: 1,
		attrs: map[string]attrRule{"to": {typ: AttrTypeInt, required: true}},
		out: func(_ []DataType, attrs []Attribute, n int) []DataType {
			to, _ := attrInt(attrs, "to")
			return fixed(DataType(to))(nil, nil, n)
		}},
	// GRU: X, W, R, [B], [sequence_lens], [initial_h] -> [Y], [Y_h]. ONNX
	// marks hidden_size optional, but ONNX Runtime refuses a GRU without it.
	"GRU": {minIn: 3, maxIn: 6, minOut: 1, maxOut: 2, out: sameAs(0), attrs: map[string]attrRule{
		"activation_alpha": {typ: AttrTypeFloats}, "activation_beta": {typ: AttrTypeFloats},
		"activations": {typ: AttrTypeStrings}, "clip": {typ: AttrTypeFloat},
		"direction": {typ: AttrTypeString}, "hidden_size": {typ: AttrTypeInt, required: true},
		"layout": {typ: AttrTypeInt}, "linear_before_reset": {typ: AttrTypeInt}}},
	// Split takes the sizes as its optional second input since opset 13.
	"Split": {minIn: 1, maxIn: 2, minOut: 1, maxOut: -1, out: sameAs(0),
		attrs: map[string]attrRule{"axis": {typ: AttrTypeInt}}},
	"LayerNormalization": {minIn: 2, maxIn: 3, minOut: 1, maxOut: 3,
		attrs: map[string]attrRule{"axis": {typ: AttrTypeInt}, "epsilon": {typ: AttrTypeFloat},
			"stash_type": {typ: AttrTypeInt}},
		out: func(in []DataType, _ []Attribute, n int) []DataType {
			out := fixed(Float32)(nil, nil, n)
			if len(in) > 0 && n > 0 {
				out[0] = in[0]
			}
			return out
		}},
	"DequantizeLinear": {minIn: 2, maxIn: 3, minOut: 1, maxOut: 1, out: fixed(Float32),
		attrs: map[string]attrRule{"axis": {typ: AttrTypeInt}}},
	"QuantizeLinear": {minIn: 2, maxIn: 3, minOut: 1, maxOut: 1,
		attrs: map[string]attrRule{"axis": {typ: AttrTypeInt}},
		out: func(in []DataType, _ []Attribute, n int) []DataType {
			if len(in) == 3 && in[2] != Undefined {
				return fixed(in[2])(nil, nil, n)
			}
			return fixed(Uint8)(nil, nil, n)
		}},
	"DynamicQuantizeLinear": {minIn: 1, maxIn: 1, minOut: 3, maxOut: 3, attrs: noAttrs,
		out: fixed(Uint8, Float32, Uint8)},
	"MatMulInteger": {minIn: 2, maxIn: 4, minOut: 1, maxOut: 1, attrs: noAttrs, out: fixed(Int32)},
}

// checkSchema validates a node of the default domain against schemas17. It
// returns nil for an operator it does not know.
func checkSchema(op string, nIn, nOut int, present func(i int) bool, attrs []Attribute) error {
	s, ok := schemas17[op]
	if !ok {
		return nil
	}
	if nIn < s.minIn || (s.maxIn >= 0 && nIn > s.maxIn) {
		return fmt.Errorf("%s takes %s inputs at opset 17, got %d", op, countRange(s.minIn, s.maxIn), nIn)
	}
	for i := 0; i < s.minIn && i < nIn; i++ {
		if !present(i) {
			return fmt.Errorf("%s: input %d is required but missing", op, i)
		}
	}
	if nOut < s.minOut || (s.maxOut >= 0 && nOut > s.maxOut) {
		return fmt.Errorf("%s has %s outputs at opset 17, got %d", op, countRange(s.minOut, s.maxOut), nOut)
	}
	seen := map[string]bool{}
	for _, a := range attrs {
		seen[a.Name] = true
		r, ok := s.attrs[a.Name]
		if !ok {
			return fmt.Errorf("%s has no attribute %q at opset 17 (it has %s)", op, a.Name, attrNames(s.attrs))
		}
		if a.Type != r.typ {
			return fmt.Errorf("%s attribute %q must be %s, got %s", op, a.Name, r.typ, a.Type)
		}
	}
	for name, r := range s.attrs {
		if r.required && !seen[name] {
			return fmt.Errorf("%s requires attribute %q (%s)", op, name, r.typ)
		}
	}
	return nil
}

func countRange(lo, hi int) string {
	switch {
	case hi < 0:
		return fmt.Sprintf("%d or more", lo)
	case lo == hi:
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

func attrNames(m map[string]attrRule) string {
	if len(m) == 0 {
		return "none"
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// outputTypes returns the element types of a node's outputs as far as the
// schema knows them; Undefined elsewhere. For an unknown operator every
// output takes the type of the first present input.
func outputTypes(op, domain string, in []DataType, attrs []Attribute, nOut int) []DataType {
	if s, ok := schemas17[op]; ok && domain == "" {
		return s.out(in, attrs, nOut)
	}
	for _, t := range in {
		if t != Undefined {
			return fixed(t)(nil, nil, nOut)
		}
	}
	return make([]DataType, nOut)
}
