package onnx

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Graph is an ONNX graph under construction (or decoded by Unmarshal): its
// inputs, initialisers, nodes in topological order, and outputs.
//
// Builder methods never return errors: the first mistake (an invalid tensor,
// a duplicate name, a value of another graph, ...) is recorded, later calls
// become no-ops that return placeholder values, and Err and Model.Marshal
// report it. Rules that need the whole graph or the model's opset (input and
// attribute checks against the opset-17 schema, for example) are checked by
// Model.Validate, which Marshal calls.
//
// A Graph is not safe for concurrent use. Tensors passed to it are kept, not
// copied: do not modify them afterwards.
type Graph struct {
	name string
	// Doc is the graph's doc_string (free text, Markdown allowed).
	Doc string

	values    []valueRec
	byName    map[string]int
	inputs    []int
	inits     []int
	nodes     []nodeRec
	outputs   []outputRec
	nodeNames map[string]bool
	seq       int
	consts    map[string]Value // deduplicated small constants, by content
	err       error
}

type valueKind uint8

const (
	kindInput valueKind = iota + 1
	kindInit
	kindNode
)

type valueRec struct {
	name      string
	kind      valueKind
	dtype     DataType
	dims      []Dimension // inputs
	tensor    *Tensor     // initialisers
	node      int         // producer, for kindNode
	generated bool        // name made up by the builder (may be renamed by Output)
	isOutput  bool
}

type nodeRec struct {
	name, op, domain string
	inputs           []int // -1: absent optional input
	outputs          []int // -1: absent optional output
	attrs            []Attribute
}

type outputRec struct {
	id       int
	dtype    DataType
	dims     []Dimension
	hasShape bool
}

// NewGraph returns an empty graph with the given name (ONNX requires a
// non-empty graph name).
func NewGraph(name string) *Graph {
	g := &Graph{
		name:      name,
		byName:    map[string]int{},
		nodeNames: map[string]bool{},
		consts:    map[string]Value{},
	}
	if name == "" {
		g.fail(fmt.Errorf("%w: graph name is empty", ErrInvalid))
	}
	return g
}

// Name returns the graph's name.
func (g *Graph) Name() string { return g.name }

// Err returns the first error recorded by a builder method, or nil.
func (g *Graph) Err() error { return g.err }

func (g *Graph) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

func (g *Graph) failf(format string, args ...any) {
	g.fail(fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
}

// Value is a handle on a tensor value of a graph: a graph input, an
// initialiser or a node output. The zero Value stands for an absent
// optional input (ONNX's empty name) where an operator allows one.
type Value struct {
	g  *Graph
	id int
}

// bad is returned by builder methods once the graph has failed.
func (g *Graph) bad() Value { return Value{g: g, id: -1} }

// IsZero reports whether v is the zero Value (an absent optional input).
func (v Value) IsZero() bool { return v.g == nil }

// Name returns the value's current name ("" for the zero Value or a
// placeholder returned after an error). Graph.Output may rename a value whose
// name the builder generated.
func (v Value) Name() string {
	if v.g == nil || v.id < 0 {
		return ""
	}
	return v.g.values[v.id].name
}

// Type returns the element type as far as the builder knows it: exact for
// inputs, initialisers and the outputs of the operators in this package's
// opset-17 table, Undefined where unknown.
func (v Value) Type() DataType {
	if v.g == nil || v.id < 0 {
		return Undefined
	}
	return v.g.values[v.id].dtype
}

// String returns the value's name.
func (v Value) String() string { return v.Name() }

// Arg is an argument of Graph.Node: a Value (an input, in order), an
// Attribute, or a NodeOption.
type Arg interface{ nodeArg() }

func (Value) nodeArg()     {}
func (Attribute) nodeArg() {}

// NodeOption sets a property of a node: its name, the names or element types
// of its outputs, or its operator domain. Typed helpers such as Graph.MatMul
// accept options too.
type NodeOption struct{ apply func(*nodeSpec) }

func (NodeOption) nodeArg() {}

type nodeSpec struct {
	name     string
	outNames []string
	outTypes []DataType
	domain   string
}

// NodeName names the node (NodeProto.name). By default nodes are named
// "<OpType>_<n>", and a single output takes the node's name.
func NodeName(name string) NodeOption {
	return NodeOption{func(s *nodeSpec) { s.name = name }}
}

// OutputNames names the node's outputs in order; an empty string keeps the
// generated name. Named outputs are never renamed by Graph.Output.
func OutputNames(names ...string) NodeOption {
	return NodeOption{func(s *nodeSpec) { s.outNames = names }}
}

// OutputTypes sets the element types of the node's outputs, overriding what
// the builder infers; needed only for operators outside the opset-17 table
// whose output type is not that of their first input.
func OutputTypes(types ...DataType) NodeOption {
	return NodeOption{func(s *nodeSpec) { s.outTypes = types }}
}

// Domain sets the operator domain (NodeProto.domain), e.g. "com.microsoft".
// The model must import it (Model.Imports).
func Domain(domain string) NodeOption {
	return NodeOption{func(s *nodeSpec) { s.domain = domain }}
}

// Input adds a graph input of the given element type and shape and returns
// it. With no dims the input is a scalar. Use Dim("batch") for symbolic
// dimensions.
func (g *Graph) Input(name string, dtype DataType, dims ...Dimension) Value {
	if g.err != nil {
		return g.bad()
	}
	if name == "" {
		g.failf("graph input has no name")
		return g.bad()
	}
	if !dtype.valid() {
		g.failf("graph input %q: element type %s is not supported", name, dtype)
		return g.bad()
	}
	for i, d := range dims {
		if err := d.validate(); err != nil {
			g.failf("graph input %q: dim %d: %v", name, i, err)
			return g.bad()
		}
	}
	id, ok := g.define(name, valueRec{kind: kindInput, dtype: dtype, dims: append([]Dimension{}, dims...)})
	if !ok {
		return g.bad()
	}
	g.inputs = append(g.inputs, id)
	return Value{g: g, id: id}
}

// Const adds an initialiser (a constant stored in the model) and returns it.
// An empty name is replaced by a generated one. t is kept, not copied.
func (g *Graph) Const(name string, t *Tensor) Value {
	if g.err != nil {
		return g.bad()
	}
	if err := t.Validate(); err != nil {
		g.fail(fmt.Errorf("initialiser %q: %w", name, err))
		return g.bad()
	}
	rec := valueRec{kind: kindInit, dtype: t.DataType, tensor: t}
	if name == "" {
		name = g.fresh("const")
		rec.generated = true
	}
	id, ok := g.define(name, rec)
	if !ok {
		return g.bad()
	}
	g.inits = append(g.inits, id)
	return Value{g: g, id: id}
}

// Int64s returns a 1-D INT64 initialiser holding vals (shapes, axes,
// starts/ends). Identical calls share one initialiser.
func (g *Graph) Int64s(vals ...int64) Value {
	var b strings.Builder
	b.WriteString("i64:")
	for _, v := range vals {
		b.WriteString(strconv.FormatInt(v, 10))
		b.WriteByte(',')
	}
	return g.sharedConst(b.String(), func() *Tensor { return NewTensor(vals, int64(len(vals))) })
}

// Scalar returns a 0-D FLOAT initialiser holding v. Identical calls share
// one initialiser.
func (g *Graph) Scalar(v float32) Value {
	key := "f32:" + strconv.FormatUint(uint64(math.Float32bits(v)), 16)
	return g.sharedConst(key, func() *Tensor { return ScalarTensor(v) })
}

func (g *Graph) sharedConst(key string, mk func() *Tensor) Value {
	if v, ok := g.consts[key]; ok {
		return v
	}
	v := g.Const("", mk())
	if g.err == nil {
		g.consts[key] = v
	}
	return v
}

// Node adds a node with one output and returns that output. args are, in
// any mix: Values (the inputs, in order; the zero Value for an absent
// optional input), Attributes and NodeOptions:
//
//	y := g.Node("Gemm", x, w, b, onnx.AttrInt("transB", 1))
func (g *Graph) Node(op string, args ...Arg) Value {
	out := g.NodeMulti(op, 1, args...)
	return out[0]
}

// NodeMulti adds a node with nOut outputs and returns them in order.
func (g *Graph) NodeMulti(op string, nOut int, args ...Arg) []Value {
	var spec nodeSpec
	var inputs []Value
	var attrs []Attribute
	for _, a := range args {
		switch a := a.(type) {
		case Value:
			inputs = append(inputs, a)
		case Attribute:
			attrs = append(attrs, a.clone())
		case NodeOption:
			if a.apply != nil {
				a.apply(&spec)
			}
		case nil:
			g.failf("node %s: nil argument (use onnx.Value{} for an absent input)", op)
		}
	}
	return g.addNode(op, spec, inputs, attrs, nOut)
}

func (g *Graph) addNode(op string, spec nodeSpec, inputs []Value, attrs []Attribute, nOut int) []Value {
	out := make([]Value, max(nOut, 1))
	for i := range out {
		out[i] = g.bad()
	}
	if g.err != nil {
		return out
	}
	if op == "" {
		g.failf("node has an empty op type")
		return out
	}
	if nOut < 1 {
		g.failf("node %s: %d outputs requested, want at least 1", op, nOut)
		return out
	}
	if len(spec.outNames) > nOut || len(spec.outTypes) > nOut {
		g.failf("node %s: %d output names and %d output types for %d outputs",
			op, len(spec.outNames), len(spec.outTypes), nOut)
		return out
	}
	ins := make([]int, len(inputs))
	inTypes := make([]DataType, len(inputs))
	for i, v := range inputs {
		switch {
		case v.g == nil:
			ins[i] = -1
		case v.g != g:
			g.failf("node %s: input %d %q belongs to graph %q, not %q", op, i, v.Name(), v.g.name, g.name)
			return out
		case v.id < 0:
			return out // placeholder of an earlier failure; g.err is set
		default:
			ins[i] = v.id
			inTypes[i] = g.values[v.id].dtype
		}
	}
	for len(ins) > 0 && ins[len(ins)-1] < 0 { // trailing absent inputs are simply omitted
		ins = ins[:len(ins)-1]
	}
	name := spec.name
	if name == "" {
		name = g.freshNode(op)
	} else if g.nodeNames[name] {
		g.failf("node %s: node name %q already used", op, name)
		return out
	}
	types := outputTypes(op, spec.domain, inTypes, attrs, nOut)
	copy(types, spec.outTypes)
	n := len(g.nodes)
	rec := nodeRec{name: name, op: op, domain: spec.domain, inputs: ins, attrs: attrs}
	for i := 0; i < nOut; i++ {
		vname, generated := "", false
		if i < len(spec.outNames) {
			vname = spec.outNames[i]
		}
		if vname == "" {
			generated = true
			if nOut == 1 {
				vname = g.fresh(name)
			} else {
				vname = g.fresh(name + "_" + strconv.Itoa(i))
			}
		}
		id, ok := g.define(vname, valueRec{kind: kindNode, dtype: types[i], node: n, generated: generated})
		if !ok {
			return out
		}
		rec.outputs = append(rec.outputs, id)
		out[i] = Value{g: g, id: id}
	}
	g.nodeNames[name] = true
	g.nodes = append(g.nodes, rec)
	return out
}

// define adds a value under a name that must be unused.
func (g *Graph) define(name string, rec valueRec) (int, bool) {
	if _, dup := g.byName[name]; dup {
		g.failf("name %q is already used by another value of graph %q", name, g.name)
		return -1, false
	}
	rec.name = name
	id := len(g.values)
	g.values = append(g.values, rec)
	g.byName[name] = id
	return id, true
}

// fresh returns base if no value uses it, else base_<k> for the first free k.
func (g *Graph) fresh(base string) string {
	if _, used := g.byName[base]; !used {
		return base
	}
	for k := 1; ; k++ {
		s := base + "_" + strconv.Itoa(k)
		if _, used := g.byName[s]; !used {
			return s
		}
	}
}

// freshNode returns an unused node name "<op>_<n>", n counting nodes.
func (g *Graph) freshNode(op string) string {
	for {
		g.seq++
		s := op + "_" + strconv.Itoa(g.seq)
		if _, used := g.byName[s]; !g.nodeNames[s] && !used {
			return s
		}
	}
}

// Output makes v a graph output named name. When v is a node output whose
// name the builder generated, v is renamed; otherwise (a graph input, an
// initialiser, a value named by the caller, or a value already output) an
// Identity node copies v to the new name. dims declare the output's shape;
// with none the shape is left undeclared. The element type is v's, which
// must be known (see OutputTypes).
func (g *Graph) Output(name string, v Value, dims ...Dimension) {
	if g.err != nil {
		return
	}
	switch {
	case name == "":
		g.failf("graph output has no name")
		return
	case v.g == nil:
		g.failf("graph output %q: value is the zero Value", name)
		return
	case v.g != g:
		g.failf("graph output %q: value %q belongs to graph %q, not %q", name, v.Name(), v.g.name, g.name)
		return
	case v.id < 0:
		return
	}
	for i, d := range dims {
		if err := d.validate(); err != nil {
			g.failf("graph output %q: dim %d: %v", name, i, err)
			return
		}
	}
	rec := &g.values[v.id]
	if rec.dtype == Undefined {
		g.failf("graph output %q: element type of value %q is unknown: give its node onnx.OutputTypes", name, rec.name)
		return
	}
	id := v.id
	switch {
	case rec.name == name && !rec.isOutput:
	case rec.kind == kindNode && rec.generated && !rec.isOutput:
		if _, used := g.byName[name]; used {
			g.failf("graph output %q: name already used by another value", name)
			return
		}
		delete(g.byName, rec.name)
		rec.name, rec.generated = name, false
		g.byName[name] = id
	default:
		w := g.Node("Identity", v, OutputNames(name))
		if g.err != nil {
			return
		}
		id = w.id
	}
	g.values[id].isOutput = true
	g.outputs = append(g.outputs, outputRec{
		id: id, dtype: g.values[id].dtype,
		dims: append([]Dimension{}, dims...), hasShape: len(dims) > 0,
	})
}

// ValueInfo describes a graph input or output: name, element type and shape.
type ValueInfo struct {
	// Name is the value's name in the graph.
	Name string
	// Type is the element type (never Undefined for inputs and outputs).
	Type DataType
	// Shape is the declared shape; meaningful only when HasShape is set (an
	// empty Shape with HasShape is a scalar).
	Shape []Dimension
	// HasShape reports whether a shape is declared at all.
	HasShape bool
}

// String formats the value as name: FLOAT[batch,17].
func (vi ValueInfo) String() string {
	if !vi.HasShape {
		return vi.Name + ": " + vi.Type.String()
	}
	return vi.Name + ": " + vi.Type.String() + shapeString(vi.Shape)
}

// Initializer is a named constant of a graph.
type Initializer struct {
	// Name is the initialiser's value name.
	Name string
	// Tensor is its content, shared with the graph: do not modify it.
	Tensor *Tensor
}

// NodeInfo is a read-only view of a node: names of its inputs and outputs
// ("" for an absent optional one) and its attributes.
type NodeInfo struct {
	// Name is the node's name ("" when a decoded file left it unset).
	Name string
	// OpType is the operator, e.g. "MatMul".
	OpType string
	// Domain is the operator set domain; "" is the default (ai.onnx).
	Domain string
	// Inputs and Outputs name the node's values in order.
	Inputs, Outputs []string
	// Attributes are copies of the node's attributes.
	Attributes []Attribute
}

// Inputs returns the graph inputs in order.
func (g *Graph) Inputs() []ValueInfo {
	out := make([]ValueInfo, 0, len(g.inputs))
	for _, id := range g.inputs {
		r := g.values[id]
		out = append(out, ValueInfo{Name: r.name, Type: r.dtype, Shape: append([]Dimension{}, r.dims...), HasShape: true})
	}
	return out
}

// Outputs returns the graph outputs in order.
func (g *Graph) Outputs() []ValueInfo {
	out := make([]ValueInfo, 0, len(g.outputs))
	for _, o := range g.outputs {
		out = append(out, ValueInfo{Name: g.values[o.id].name, Type: o.dtype,
			Shape: append([]Dimension{}, o.dims...), HasShape: o.hasShape})
	}
	return out
}

// Initializers returns the initialisers in order. The tensors are shared
// with the graph: do not modify them.
func (g *Graph) Initializers() []Initializer {
	out := make([]Initializer, 0, len(g.inits))
	for _, id := range g.inits {
		out = append(out, Initializer{Name: g.values[id].name, Tensor: g.values[id].tensor})
	}
	return out
}

// Nodes returns the nodes in order.
func (g *Graph) Nodes() []NodeInfo {
	out := make([]NodeInfo, 0, len(g.nodes))
	for _, n := range g.nodes {
		ni := NodeInfo{Name: n.name, OpType: n.op, Domain: n.domain}
		for _, id := range n.inputs {
			ni.Inputs = append(ni.Inputs, g.nameOf(id))
		}
		for _, id := range n.outputs {
			ni.Outputs = append(ni.Outputs, g.nameOf(id))
		}
		for _, a := range n.attrs {
			ni.Attributes = append(ni.Attributes, a.clone())
		}
		out = append(out, ni)
	}
	return out
}

func (g *Graph) nameOf(id int) string {
	if id < 0 {
		return ""
	}
	return g.values[id].name
}

// newGraphFrom builds a graph from named parts, as read from a file or
// rewritten by a pass: every node input must name a graph input, an
// initialiser or some node's output (the order is checked by validate).
func newGraphFrom(name, doc string, inputs []ValueInfo, inits []Initializer, nodes []NodeInfo, outputs []ValueInfo) (*Graph, error) {
	nValues := len(inputs) + len(inits)
	for _, n := range nodes {
		nValues += len(n.Outputs)
	}
	g := &Graph{name: name, Doc: doc, byName: make(map[string]int, nValues),
		nodeNames: make(map[string]bool, len(nodes)), consts: map[string]Value{},
		values: make([]valueRec, 0, nValues), nodes: make([]nodeRec, 0, len(nodes)),
		inputs: make([]int, 0, len(inputs)), inits: make([]int, 0, len(inits))}
	for _, in := range inputs {
		id, ok := g.define(in.Name, valueRec{kind: kindInput, dtype: in.Type, dims: in.Shape})
		if !ok {
			return nil, g.err
		}
		g.inputs = append(g.inputs, id)
	}
	for _, in := range inits {
		dtype := Undefined
		if in.Tensor != nil {
			dtype = in.Tensor.DataType
		}
		id, ok := g.define(in.Name, valueRec{kind: kindInit, dtype: dtype, tensor: in.Tensor})
		if !ok {
			return nil, g.err
		}
		g.inits = append(g.inits, id)
	}
	// Define every node output first so that a node may name a value of a
	// later node; validate then reports the order precisely.
	for i, n := range nodes {
		rec := nodeRec{name: n.Name, op: n.OpType, domain: n.Domain, attrs: n.Attributes,
			inputs: make([]int, 0, len(n.Inputs)), outputs: make([]int, 0, len(n.Outputs))}
		for _, o := range n.Outputs {
			if o == "" {
				rec.outputs = append(rec.outputs, -1)
				continue
			}
			id, ok := g.define(o, valueRec{kind: kindNode, node: i})
			if !ok {
				return nil, fmt.Errorf("node %d %q (%s): output: %w", i, n.Name, n.OpType, g.err)
			}
			rec.outputs = append(rec.outputs, id)
		}
		g.nodes = append(g.nodes, rec)
	}
	for i, n := range nodes {
		rec := &g.nodes[i]
		inTypes := make([]DataType, len(n.Inputs))
		for k, in := range n.Inputs {
			if in == "" {
				rec.inputs = append(rec.inputs, -1)
				continue
			}
			id, ok := g.byName[in]
			if !ok {
				return nil, fmt.Errorf("%w: node %d %q (%s): input %d %q is not a graph input, initialiser or node output",
					ErrInvalid, i, n.Name, n.OpType, k, in)
			}
			rec.inputs = append(rec.inputs, id)
			inTypes[k] = g.values[id].dtype
		}
		types := outputTypes(n.OpType, n.Domain, inTypes, n.Attributes, len(rec.outputs))
		for k, id := range rec.outputs {
			if id >= 0 {
				g.values[id].dtype = types[k]
			}
		}
		if n.Name != "" {
			g.nodeNames[n.Name] = true
		}
	}
	for _, o := range outputs {
		id, ok := g.byName[o.Name]
		if !ok {
			return nil, fmt.Errorf("%w: graph output %q is not a graph input, initialiser or node output", ErrInvalid, o.Name)
		}
		g.values[id].isOutput = true
		g.outputs = append(g.outputs, outputRec{id: id, dtype: o.Type, dims: o.Shape, hasShape: o.HasShape})
	}
	return g, nil
}
