package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// Unmarshal decodes an ONNX ModelProto (the content of a .onnx file) in the
// subset this package writes, and validates it like Marshal does.
//
// It reads what Marshal writes plus what other exporters commonly add:
// tensors in float_data, int32_data or int64_data instead of raw_data,
// packed or unpacked repeated fields, doc strings and value_info (both
// dropped), and unknown fields (skipped). It refuses, with an error wrapping
// ErrUnsupported, features whose meaning it would lose: external or sparse
// tensors, graph-, sparse- or type-valued attributes, non-tensor types,
// element types other than those of DataType, model-local functions,
// training information, and inputs that are also initialisers. Malformed
// bytes give errors wrapping ErrMalformed, with the field path and offset.
//
// Allocations grow linearly with len(data), never with a count or shape
// read from it: tensors and packed numbers cost at most 8 bytes per input
// byte, and the worst case, a file of nothing but minimal nodes, about 40
// (TestUnmarshalAllocationBound). The returned model does not share memory
// with data.
func Unmarshal(data []byte) (*Model, error) {
	m, err := decodeModel(data)
	if err != nil {
		return nil, fmt.Errorf("unmarshal onnx model: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("unmarshal onnx model: %w", err)
	}
	return m, nil
}

// field is one decoded protobuf field: its number, wire type, the bytes of
// its value (for length-delimited fields, without the length prefix) or its
// scalar value, and where it was found.
type field struct {
	num    protowire.Number
	typ    protowire.Type
	u      uint64 // varint, fixed32 or fixed64 value
	b      []byte // bytes value
	parent string // path of the enclosing message
	off    int
}

// path names the field for error messages, as Message.number.
func (f field) path() string { return f.parent + "." + strconv.Itoa(int(f.num)) }

// elem returns the path of element i of a repeated field: path.name[i].
func elem(path, name string, i int) string {
	return path + "." + name + "[" + strconv.Itoa(i) + "]"
}

func malformed(path string, off int, format string, args ...any) error {
	return fmt.Errorf("%w: %s at byte %d: %s", ErrMalformed, path, off, fmt.Sprintf(format, args...))
}

func unsupported(path string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrUnsupported, path, fmt.Sprintf(format, args...))
}

// walk calls fn for each field of the message b, which starts at offset off
// of the input.
func walk(b []byte, off int, path string, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed(path, off, "bad tag: %v", protowire.ParseError(n))
		}
		f := field{num: num, typ: typ, off: off + n, parent: path}
		var m int
		switch typ {
		case protowire.VarintType:
			f.u, m = protowire.ConsumeVarint(b[n:])
		case protowire.Fixed32Type:
			var v uint32
			v, m = protowire.ConsumeFixed32(b[n:])
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, m = protowire.ConsumeFixed64(b[n:])
		case protowire.BytesType:
			f.b, m = protowire.ConsumeBytes(b[n:])
			if m >= 0 {
				f.off += m - len(f.b) // start of the payload, after the length
			}
		default: // groups: not used by ONNX; skip them whole
			m = protowire.ConsumeFieldValue(num, typ, b[n:])
		}
		if m < 0 {
			return malformed(path, off+n, "field %d: %v", num, protowire.ParseError(m))
		}
		if err := fn(f); err != nil {
			return err
		}
		b = b[n+m:]
		off += n + m
	}
	return nil
}

func (f field) want(t protowire.Type) error {
	if f.typ != t {
		return malformed(f.path(), f.off, "wire type %d, want %d", f.typ, t)
	}
	return nil
}

func (f field) str() (string, error) {
	if err := f.want(protowire.BytesType); err != nil {
		return "", err
	}
	return string(f.b), nil
}

func (f field) int64() (int64, error) {
	if err := f.want(protowire.VarintType); err != nil {
		return 0, err
	}
	return int64(f.u), nil
}

func (f field) msg() ([]byte, error) {
	if err := f.want(protowire.BytesType); err != nil {
		return nil, err
	}
	return f.b, nil
}

// varints appends the values of a repeated varint field, packed or not.
func (f field) varints(dst []int64) ([]int64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(dst, int64(f.u)), nil
	case protowire.BytesType:
		count := 0 // one varint ends at each byte without the continuation bit
		for _, c := range f.b {
			if c < 0x80 {
				count++
			}
		}
		dst = slices.Grow(dst, count)
		b := f.b
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, malformed(f.path(), f.off+len(f.b)-len(b), "packed varint: %v", protowire.ParseError(n))
			}
			dst = append(dst, int64(v))
			b = b[n:]
		}
		return dst, nil
	}
	return nil, malformed(f.path(), f.off, "wire type %d, want varint or packed", f.typ)
}

// floats appends the values of a repeated float field, packed or not.
func (f field) floats(dst []float32) ([]float32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.u))), nil
	case protowire.BytesType:
		if len(f.b)%4 != 0 {
			return nil, malformed(f.path(), f.off, "packed floats: %d bytes is not a multiple of 4", len(f.b))
		}
		dst = slices.Grow(dst, len(f.b)/4)
		for i := 0; i < len(f.b); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(f.b[i:])))
		}
		return dst, nil
	}
	return nil, malformed(f.path(), f.off, "wire type %d, want fixed32 or packed", f.typ)
}

func decodeModel(data []byte) (*Model, error) {
	m := &Model{}
	var graph []byte
	var graphOff int
	haveGraph, haveIR, haveOpset := false, false, false
	const path = "ModelProto"
	err := walk(data, 0, path, func(f field) error {
		var err error
		switch f.num {
		case fModelIRVersion:
			m.IRVersion, err = f.int64()
			haveIR = true
		case fModelProducerName:
			m.Producer, err = f.str()
		case fModelProducerVersion:
			m.ProducerVersion, err = f.str()
		case fModelDomain:
			m.Domain, err = f.str()
		case fModelModelVersion:
			m.ModelVersion, err = f.int64()
		case fModelDocString:
			m.Doc, err = f.str()
		case fModelGraph:
			if haveGraph {
				return malformed(f.path(), f.off, "graph given twice")
			}
			graph, err = f.msg()
			graphOff, haveGraph = f.off, true
		case fModelOpsetImport:
			var body []byte
			if body, err = f.msg(); err != nil {
				return err
			}
			domain, version, err := decodeOpset(body, f.off, path+".opset_import")
			if err != nil {
				return err
			}
			if domain == "" || domain == "ai.onnx" {
				if haveOpset {
					return fmt.Errorf("%w: %s: default domain imported twice", ErrInvalid, path)
				}
				m.Opset, haveOpset = version, true
				if version < 1 {
					return fmt.Errorf("%w: %s: default opset version %d, want >= 1", ErrInvalid, path, version)
				}
				return nil
			}
			if _, dup := m.Imports[domain]; dup {
				return fmt.Errorf("%w: %s: domain %q imported twice", ErrInvalid, path, domain)
			}
			if m.Imports == nil {
				m.Imports = map[string]int64{}
			}
			m.Imports[domain] = version
		case fModelMetadataProps:
			var body []byte
			if body, err = f.msg(); err != nil {
				return err
			}
			k, v, err := decodeEntry(body, f.off, path+".metadata_props")
			if err != nil {
				return err
			}
			if _, dup := m.Metadata[k]; dup {
				return fmt.Errorf("%w: %s: metadata key %q given twice", ErrInvalid, path, k)
			}
			if m.Metadata == nil {
				m.Metadata = map[string]string{}
			}
			m.Metadata[k] = v
		case fModelTrainingInfo:
			return unsupported(path, "training_info")
		case fModelFunctions:
			return unsupported(path, "model-local functions")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case !haveIR:
		return nil, fmt.Errorf("%w: %s: ir_version is missing", ErrInvalid, path)
	case m.IRVersion <= 0:
		return nil, fmt.Errorf("%w: %s: ir_version %d", ErrInvalid, path, m.IRVersion)
	case !haveOpset:
		return nil, fmt.Errorf("%w: %s: no opset_import for the default domain", ErrInvalid, path)
	case !haveGraph:
		return nil, fmt.Errorf("%w: %s: graph is missing", ErrInvalid, path)
	}
	m.Graph, err = decodeGraph(graph, graphOff, path+".graph")
	if err != nil {
		return nil, err
	}
	return m, nil
}

func decodeOpset(b []byte, off int, path string) (string, int64, error) {
	var domain string
	var version int64
	haveVersion := false
	err := walk(b, off, path, func(f field) error {
		var err error
		switch f.num {
		case fOpsetDomain:
			domain, err = f.str()
		case fOpsetVersion:
			version, err = f.int64()
			haveVersion = true
		}
		return err
	})
	if err == nil && !haveVersion {
		err = fmt.Errorf("%w: %s: version is missing (domain %q)", ErrInvalid, path, domain)
	}
	return domain, version, err
}

func decodeEntry(b []byte, off int, path string) (string, string, error) {
	var k, v string
	err := walk(b, off, path, func(f field) error {
		var err error
		switch f.num {
		case fEntryKey:
			k, err = f.str()
		case fEntryValue:
			v, err = f.str()
		}
		return err
	})
	return k, v, err
}

func decodeGraph(b []byte, off int, path string) (*Graph, error) {
	var (
		name, doc       string
		inputs, outputs []ValueInfo
		inits           []Initializer
		nodes           []NodeInfo
	)
	// Size the lists exactly first: a cheap pass that decodes nothing.
	counts := map[protowire.Number]int{}
	if err := walk(b, off, path, func(f field) error { counts[f.num]++; return nil }); err != nil {
		return nil, err
	}
	nodes = make([]NodeInfo, 0, counts[fGraphNode])
	inits = make([]Initializer, 0, counts[fGraphInitializer])
	inputs = make([]ValueInfo, 0, counts[fGraphInput])
	outputs = make([]ValueInfo, 0, counts[fGraphOutput])
	err := walk(b, off, path, func(f field) error {
		var err error
		var body []byte
		switch f.num {
		case fGraphNode:
			if body, err = f.msg(); err != nil {
				return err
			}
			n, err := decodeNode(body, f.off, elem(path, "node", len(nodes)))
			if err != nil {
				return err
			}
			nodes = append(nodes, n)
		case fGraphName:
			name, err = f.str()
		case fGraphInitializer:
			if body, err = f.msg(); err != nil {
				return err
			}
			p := elem(path, "initializer", len(inits))
			tname, t, err := decodeTensor(body, f.off, p)
			if err != nil {
				return err
			}
			if tname == "" {
				return fmt.Errorf("%w: %s: initialiser has no name", ErrInvalid, p)
			}
			inits = append(inits, Initializer{Name: tname, Tensor: t})
		case fGraphDocString:
			doc, err = f.str()
		case fGraphInput, fGraphOutput:
			if body, err = f.msg(); err != nil {
				return err
			}
			list := &inputs
			p := elem(path, "input", len(inputs))
			if f.num == fGraphOutput {
				list = &outputs
				p = elem(path, "output", len(outputs))
			}
			vi, err := decodeValueInfo(body, f.off, p)
			if err != nil {
				return err
			}
			*list = append(*list, vi)
		case fGraphValueInfo:
			_, err = f.msg() // optional shape hints: dropped
		case fGraphSparseInitializer:
			return unsupported(path, "sparse initialisers")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	isInit := make(map[string]bool, len(inits))
	for _, in := range inits {
		isInit[in.Name] = true
	}
	for _, in := range inputs {
		if isInit[in.Name] {
			return nil, unsupported(path, "input %q is also an initialiser (overridable initialisers)", in.Name)
		}
		if !in.HasShape {
			return nil, fmt.Errorf("%w: %s: input %q has no shape", ErrInvalid, path, in.Name)
		}
	}
	g, err := newGraphFrom(name, doc, inputs, inits, nodes, outputs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

func decodeNode(b []byte, off int, path string) (NodeInfo, error) {
	var n NodeInfo
	err := walk(b, off, path, func(f field) error {
		var err error
		var s string
		switch f.num {
		case fNodeInput:
			if s, err = f.str(); err == nil {
				n.Inputs = append(n.Inputs, s)
			}
		case fNodeOutput:
			if s, err = f.str(); err == nil {
				n.Outputs = append(n.Outputs, s)
			}
		case fNodeName:
			n.Name, err = f.str()
		case fNodeOpType:
			n.OpType, err = f.str()
		case fNodeDomain:
			n.Domain, err = f.str()
		case fNodeAttribute:
			var body []byte
			if body, err = f.msg(); err != nil {
				return err
			}
			a, err := decodeAttr(body, f.off, elem(path, "attribute", len(n.Attributes)))
			if err != nil {
				return err
			}
			n.Attributes = append(n.Attributes, a)
		}
		return err
	})
	return n, err
}

func decodeAttr(b []byte, off int, path string) (Attribute, error) {
	var a Attribute
	var typ int64
	err := walk(b, off, path, func(f field) error {
		var err error
		switch f.num {
		case fAttrName:
			a.Name, err = f.str()
		case fAttrType:
			typ, err = f.int64()
		case fAttrF:
			if err = f.want(protowire.Fixed32Type); err == nil {
				a.Float = math.Float32frombits(uint32(f.u))
			}
		case fAttrI:
			a.Int, err = f.int64()
		case fAttrS:
			a.String, err = f.str()
		case fAttrT:
			var body []byte
			if body, err = f.msg(); err != nil {
				return err
			}
			_, a.Tensor, err = decodeTensor(body, f.off, path+".t")
		case fAttrFloats:
			a.Floats, err = f.floats(a.Floats)
		case fAttrInts:
			a.Ints, err = f.varints(a.Ints)
		case fAttrStrings:
			var s string
			if s, err = f.str(); err == nil {
				a.Strings = append(a.Strings, s)
			}
		case fAttrG, fAttrGraphs:
			return unsupported(path, "attribute %q holds a graph", a.Name)
		case fAttrTensors:
			return unsupported(path, "attribute %q holds a list of tensors", a.Name)
		case 14, 15, 22, 23: // tp, type_protos, sparse_tensor, sparse_tensors
			return unsupported(path, "attribute %q holds a type or sparse tensor", a.Name)
		case 21: // ref_attr_name: only valid inside functions
			return unsupported(path, "attribute %q refers to a function attribute", a.Name)
		}
		return err
	})
	if err != nil {
		return Attribute{}, err
	}
	a.Type = AttrType(typ)
	switch a.Type {
	case AttrTypeFloat, AttrTypeInt, AttrTypeString, AttrTypeTensor, AttrTypeFloats, AttrTypeInts, AttrTypeStrings:
	case 0:
		return Attribute{}, fmt.Errorf("%w: %s: attribute %q has no type", ErrInvalid, path, a.Name)
	default:
		return Attribute{}, unsupported(path, "attribute %q has type %s", a.Name, a.Type)
	}
	return a, nil
}

// decodeTensor returns the tensor's name and contents, with typed data
// fields converted to Raw.
func decodeTensor(b []byte, off int, path string) (string, *Tensor, error) {
	t := &Tensor{}
	var name string
	var (
		raw                  []byte
		haveRaw              bool
		floats               []float32
		ints32, ints64       []int64
		haveF, haveI, haveI6 bool
		dtype                int64
	)
	err := walk(b, off, path, func(f field) error {
		var err error
		switch f.num {
		case fTensorDims:
			t.Dims, err = f.varints(t.Dims)
		case fTensorDataType:
			dtype, err = f.int64()
		case fTensorName:
			name, err = f.str()
		case fTensorRawData:
			raw, err = f.msg()
			haveRaw = true
		case fTensorFloatData:
			floats, err = f.floats(floats)
			haveF = true
		case fTensorInt32Data:
			ints32, err = f.varints(ints32)
			haveI = true
		case fTensorInt64Data:
			ints64, err = f.varints(ints64)
			haveI6 = true
		case fTensorSegment:
			return unsupported(path, "tensor %q is segmented", name)
		case fTensorStringData, fTensorDoubleData, fTensorUint64Data:
			return unsupported(path, "tensor %q uses field %d (STRING, DOUBLE or UINT32/64 data)", name, f.num)
		case fTensorExternalData:
			return unsupported(path, "tensor %q keeps its data in an external file", name)
		case fTensorDataLocation:
			var loc int64
			if loc, err = f.int64(); err == nil && loc != 0 {
				return unsupported(path, "tensor %q keeps its data in an external file", name)
			}
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if dtype > math.MaxInt32 || dtype < 0 || !DataType(dtype).valid() {
		return "", nil, unsupported(path, "tensor %q has element type %d (supported: FLOAT, UINT8, INT8, INT32, INT64, BOOL)", name, dtype)
	}
	t.DataType = DataType(dtype)
	kinds := 0
	for _, h := range []bool{haveRaw, haveF, haveI, haveI6} {
		if h {
			kinds++
		}
	}
	if kinds > 1 {
		return "", nil, fmt.Errorf("%w: %s: tensor %q sets more than one of raw_data, float_data, int32_data, int64_data", ErrInvalid, path, name)
	}
	bad := func(field string) error {
		return fmt.Errorf("%w: %s: tensor %q of type %s cannot use %s", ErrInvalid, path, name, t.DataType, field)
	}
	switch {
	case haveRaw:
		t.Raw = append([]byte{}, raw...)
	case haveF:
		if t.DataType != Float32 {
			return "", nil, bad("float_data")
		}
		t.Raw = NewTensor(floats).Raw
	case haveI6:
		if t.DataType != Int64 {
			return "", nil, bad("int64_data")
		}
		t.Raw = NewTensor(ints64).Raw
	case haveI:
		var lo, hi int64
		switch t.DataType {
		case Int32:
			lo, hi = math.MinInt32, math.MaxInt32
		case Int8:
			lo, hi = math.MinInt8, math.MaxInt8
		case Uint8:
			lo, hi = 0, math.MaxUint8
		case Bool:
			lo, hi = 0, 1
		default:
			return "", nil, bad("int32_data")
		}
		size := t.DataType.Size()
		t.Raw = make([]byte, 0, size*len(ints32))
		for i, v := range ints32 {
			v = int64(int32(v)) // int32 fields are sign-extended varints
			if v < lo || v > hi {
				return "", nil, fmt.Errorf("%w: %s: tensor %q: int32_data[%d] = %d is out of range for %s", ErrInvalid, path, name, i, v, t.DataType)
			}
			if size == 4 {
				t.Raw = binary.LittleEndian.AppendUint32(t.Raw, uint32(v))
			} else {
				t.Raw = append(t.Raw, byte(v))
			}
		}
	default:
		t.Raw = []byte{}
	}
	if err := t.Validate(); err != nil {
		return "", nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
	}
	return name, t, nil
}

func decodeValueInfo(b []byte, off int, path string) (ValueInfo, error) {
	var vi ValueInfo
	var typ []byte
	var typOff int
	haveType := false
	err := walk(b, off, path, func(f field) error {
		var err error
		switch f.num {
		case fValueInfoName:
			vi.Name, err = f.str()
		case fValueInfoType:
			typ, err = f.msg()
			typOff, haveType = f.off, true
		}
		return err
	})
	if err != nil {
		return vi, err
	}
	if vi.Name == "" {
		return vi, fmt.Errorf("%w: %s: value has no name", ErrInvalid, path)
	}
	if !haveType {
		return vi, fmt.Errorf("%w: %s: value %q has no type", ErrInvalid, path, vi.Name)
	}
	var tensorType []byte
	var ttOff int
	haveTensor := false
	err = walk(typ, typOff, path+".type", func(f field) error {
		var err error
		switch f.num {
		case fTypeTensorType:
			tensorType, err = f.msg()
			ttOff, haveTensor = f.off, true
		case 4, 5, 8, 9: // sequence, map, sparse tensor, optional
			return unsupported(path, "value %q is not a dense tensor (TypeProto field %d)", vi.Name, f.num)
		}
		return err
	})
	if err != nil {
		return vi, err
	}
	if !haveTensor {
		return vi, unsupported(path, "value %q has no tensor type", vi.Name)
	}
	var elem int64
	err = walk(tensorType, ttOff, path+".type.tensor_type", func(f field) error {
		var err error
		switch f.num {
		case fTensorTypeElemType:
			elem, err = f.int64()
		case fTensorTypeShape:
			var shape []byte
			if shape, err = f.msg(); err != nil {
				return err
			}
			vi.HasShape = true
			vi.Shape, err = decodeShape(shape, f.off, path+".type.tensor_type.shape")
		}
		return err
	})
	if err != nil {
		return vi, err
	}
	if elem < 0 || elem > math.MaxInt32 || !DataType(elem).valid() {
		return vi, unsupported(path, "value %q has element type %d", vi.Name, elem)
	}
	vi.Type = DataType(elem)
	return vi, nil
}

func decodeShape(b []byte, off int, path string) ([]Dimension, error) {
	dims := []Dimension{}
	err := walk(b, off, path, func(f field) error {
		if f.num != fShapeDim {
			return nil
		}
		body, err := f.msg()
		if err != nil {
			return err
		}
		d := Dimension{Value: -1}
		err = walk(body, f.off, elem(path, "dim", len(dims)), func(f field) error {
			var err error
			switch f.num {
			case fDimValue:
				var v int64
				if v, err = f.int64(); err == nil {
					if v < 0 {
						return fmt.Errorf("%w: %s: dim_value %d is negative", ErrInvalid, f.path(), v)
					}
					d = Dimension{Value: v}
				}
			case fDimParam:
				var s string
				if s, err = f.str(); err == nil {
					d = Dimension{Param: s}
					if s == "" {
						d.Value = -1
					}
				}
			}
			return err
		})
		dims = append(dims, d)
		return err
	})
	return dims, err
}
