package onnx

import (
	"fmt"
	"sort"
)

// Defaults of Model's zero fields.
const (
	// DefaultOpset is the version of the default ("ai.onnx") operator set
	// used when Model.Opset is 0. The typed helpers of Graph emit the
	// opset-17 forms of their operators.
	DefaultOpset = 17
	// DefaultIRVersion is the IR version written when Model.IRVersion is 0
	// (IR 8: ONNX 1.10 to 1.12; ONNX Runtime 1.30 reads up to IR 13).
	DefaultIRVersion = 8
)

// Model is an ONNX model: a graph plus the operator sets it imports and
// descriptive metadata. The zero value of each field other than Graph means
// its default.
type Model struct {
	// Graph is the model's graph; required.
	Graph *Graph
	// Opset is the version of the default operator set; 0 means DefaultOpset.
	// Model.Validate checks nodes against the operator table of this package
	// only at opset 17.
	Opset int64
	// Imports lists the versions of other operator set domains the nodes use
	// (e.g. "com.microsoft": 1); nil means none.
	Imports map[string]int64
	// IRVersion is the ONNX IR version; 0 means DefaultIRVersion.
	IRVersion int64
	// Producer and ProducerVersion name the tool that wrote the model
	// (producer_name, producer_version); empty means unset.
	Producer, ProducerVersion string
	// Domain is the model's reverse-DNS namespace (e.g. "io.hydrognn");
	// empty means unset.
	Domain string
	// ModelVersion is the model's own version number; 0 means unset.
	ModelVersion int64
	// Doc is the model's doc_string; empty means unset.
	Doc string
	// Metadata is written as metadata_props, sorted by key, and is what
	// ONNX Runtime's custom metadata map returns; keys must be non-empty.
	Metadata map[string]string
}

func (m *Model) opset() int64 {
	if m.Opset == 0 {
		return DefaultOpset
	}
	return m.Opset
}

func (m *Model) irVersion() int64 {
	if m.IRVersion == 0 {
		return DefaultIRVersion
	}
	return m.IRVersion
}

// Validate checks the whole model: the first builder error, if any; the
// graph's name; unique value names; element types and shapes of inputs,
// outputs and initialisers; that each node input is a graph input, an
// initialiser or the output of an earlier node; attribute names and types
// (against the opset-17 table for the operators it knows, at opset 17);
// imported domains; metadata keys. Errors wrap ErrInvalid.
func (m *Model) Validate() error {
	if m == nil || m.Graph == nil {
		return fmt.Errorf("%w: model has no graph", ErrInvalid)
	}
	if m.Opset < 0 {
		return fmt.Errorf("%w: opset %d is negative", ErrInvalid, m.Opset)
	}
	if v := m.irVersion(); v < 3 {
		return fmt.Errorf("%w: IR version %d: want 3 or more (opset imports need IR 3)", ErrInvalid, v)
	}
	for d, v := range m.Imports {
		if d == "" || d == "ai.onnx" {
			return fmt.Errorf("%w: Imports[%q]: set the default domain's version in Model.Opset", ErrInvalid, d)
		}
		if v < 1 {
			return fmt.Errorf("%w: Imports[%q] = %d: want a version >= 1", ErrInvalid, d, v)
		}
	}
	for k := range m.Metadata {
		if k == "" {
			return fmt.Errorf("%w: metadata key is empty", ErrInvalid)
		}
	}
	return m.Graph.validate(m.opset(), m.Imports)
}

func (g *Graph) validate(opset int64, imports map[string]int64) error {
	if g.err != nil {
		return fmt.Errorf("build graph %q: %w", g.name, g.err)
	}
	if g.name == "" {
		return fmt.Errorf("%w: graph name is empty", ErrInvalid)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: graph %q: "+format, append([]any{ErrInvalid, g.name}, args...)...)
	}
	for _, v := range g.values {
		if v.name == "" {
			return bad("a value has an empty name")
		}
	}
	for i, id := range g.inputs {
		v := g.values[id]
		if !v.dtype.valid() {
			return bad("input %d %q: element type %s is not supported", i, v.name, v.dtype)
		}
		for k, d := range v.dims {
			if err := d.validate(); err != nil {
				return bad("input %d %q: dim %d: %v", i, v.name, k, err)
			}
		}
	}
	for i, id := range g.inits {
		v := g.values[id]
		if err := v.tensor.Validate(); err != nil {
			return bad("initialiser %d %q: %w", i, v.name, err)
		}
	}
	nodeNames := make(map[string]int, len(g.nodes))
	for i, n := range g.nodes {
		// nodeRef formats lazily: validation runs on every Marshal.
		where := nodeRef{i, n.name, n.op}
		if n.op == "" {
			return bad("node %d %q has an empty op type", i, n.name)
		}
		if n.name != "" {
			if j, dup := nodeNames[n.name]; dup {
				return bad("%s: node name also used by node %d", where, j)
			}
			nodeNames[n.name] = i
		}
		if n.domain != "" && n.domain != "ai.onnx" {
			if _, ok := imports[n.domain]; !ok {
				return bad("%s: domain %q is not imported (add it to Model.Imports)", where, n.domain)
			}
		}
		for k, id := range n.inputs {
			if id < 0 {
				continue
			}
			v := g.values[id]
			if v.kind == kindNode && v.node >= i {
				if v.node == i {
					return bad("%s: input %d %q is the node's own output", where, k, v.name)
				}
				return bad("%s: input %d %q is used before it is defined (by node %d %q): nodes must be in topological order",
					where, k, v.name, v.node, g.nodes[v.node].name)
			}
		}
		present := 0
		for _, id := range n.outputs {
			if id >= 0 {
				present++
			}
		}
		if present == 0 {
			return bad("%s: node has no outputs", where)
		}
		attrNames := map[string]bool{}
		for _, a := range n.attrs {
			if err := a.validate(); err != nil {
				return bad("%s: %w", where, err)
			}
			if attrNames[a.Name] {
				return bad("%s: attribute %q is set twice", where, a.Name)
			}
			attrNames[a.Name] = true
		}
		if (n.domain == "" || n.domain == "ai.onnx") && opset == 17 {
			present := func(k int) bool { return n.inputs[k] >= 0 }
			if err := checkSchema(n.op, len(n.inputs), len(n.outputs), present, n.attrs); err != nil {
				return bad("%s: %w", where, err)
			}
		}
	}
	if len(g.outputs) == 0 {
		return bad("graph has no outputs (add one with Graph.Output)")
	}
	outNames := map[string]bool{}
	for i, o := range g.outputs {
		name := g.values[o.id].name
		if outNames[name] {
			return bad("output %d %q is listed twice", i, name)
		}
		outNames[name] = true
		if !o.dtype.valid() {
			return bad("output %d %q: element type %s is not supported", i, name, o.dtype)
		}
		for k, d := range o.dims {
			if err := d.validate(); err != nil {
				return bad("output %d %q: dim %d: %v", i, name, k, err)
			}
		}
	}
	return nil
}

// nodeRef names a node in error messages: node 3 "MatMul_3" (MatMul).
type nodeRef struct {
	index    int
	name, op string
}

func (r nodeRef) String() string { return fmt.Sprintf("node %d %q (%s)", r.index, r.name, r.op) }

// Marshal validates the model (see Validate) and encodes it as an ONNX
// ModelProto, the content of a .onnx file. The output is deterministic:
// the same model always gives the same bytes.
func (m *Model) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("marshal onnx model: %w", err)
	}
	return m.encode(), nil
}

// sortedKeys returns the keys of m in increasing order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
