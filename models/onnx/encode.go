package onnx

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the ONNX IR messages this package writes and reads,
// checked against onnx/onnx.proto of github.com/onnx/onnx (commit
// 64209faab4da3d679f2d46c7f725f6f2b779279b, file onnx/onnx.proto) and the
// onnx.proto shipped with Debian's python3-onnx 1.12. The messages are
// proto2: repeated scalars are written unpacked, as protoc would, except
// those onnx.proto declares [packed = true]; both forms are read.
const (
	// ModelProto
	fModelIRVersion       = 1  // int64
	fModelProducerName    = 2  // string
	fModelProducerVersion = 3  // string
	fModelDomain          = 4  // string
	fModelModelVersion    = 5  // int64
	fModelDocString       = 6  // string
	fModelGraph           = 7  // GraphProto
	fModelOpsetImport     = 8  // repeated OperatorSetIdProto
	fModelMetadataProps   = 14 // repeated StringStringEntryProto
	fModelTrainingInfo    = 20 // repeated TrainingInfoProto (rejected)
	fModelFunctions       = 25 // repeated FunctionProto (rejected)

	// OperatorSetIdProto
	fOpsetDomain  = 1 // string
	fOpsetVersion = 2 // int64

	// StringStringEntryProto
	fEntryKey   = 1 // string
	fEntryValue = 2 // string

	// GraphProto
	fGraphNode              = 1  // repeated NodeProto
	fGraphName              = 2  // string
	fGraphInitializer       = 5  // repeated TensorProto
	fGraphDocString         = 10 // string
	fGraphInput             = 11 // repeated ValueInfoProto
	fGraphOutput            = 12 // repeated ValueInfoProto
	fGraphValueInfo         = 13 // repeated ValueInfoProto (read and dropped)
	fGraphSparseInitializer = 15 // repeated SparseTensorProto (rejected)

	// NodeProto
	fNodeInput     = 1 // repeated string
	fNodeOutput    = 2 // repeated string
	fNodeName      = 3 // string
	fNodeOpType    = 4 // string
	fNodeAttribute = 5 // repeated AttributeProto
	fNodeDocString = 6 // string
	fNodeDomain    = 7 // string

	// AttributeProto
	fAttrName    = 1  // string
	fAttrF       = 2  // float
	fAttrI       = 3  // int64
	fAttrS       = 4  // bytes
	fAttrT       = 5  // TensorProto
	fAttrG       = 6  // GraphProto (rejected)
	fAttrFloats  = 7  // repeated float
	fAttrInts    = 8  // repeated int64
	fAttrStrings = 9  // repeated bytes
	fAttrTensors = 10 // repeated TensorProto (rejected)
	fAttrGraphs  = 11 // repeated GraphProto (rejected)
	fAttrType    = 20 // AttributeType enum

	// TensorProto
	fTensorDims         = 1  // repeated int64
	fTensorDataType     = 2  // int32
	fTensorSegment      = 3  // Segment (rejected)
	fTensorFloatData    = 4  // repeated float [packed]
	fTensorInt32Data    = 5  // repeated int32 [packed]
	fTensorStringData   = 6  // repeated bytes (rejected: no STRING type)
	fTensorInt64Data    = 7  // repeated int64 [packed]
	fTensorName         = 8  // string
	fTensorRawData      = 9  // bytes, little-endian
	fTensorDoubleData   = 10 // repeated double (rejected: no DOUBLE type)
	fTensorUint64Data   = 11 // repeated uint64 (rejected)
	fTensorDocString    = 12 // string
	fTensorExternalData = 13 // repeated StringStringEntryProto (rejected)
	fTensorDataLocation = 14 // DataLocation enum (EXTERNAL rejected)

	// ValueInfoProto
	fValueInfoName      = 1 // string
	fValueInfoType      = 2 // TypeProto
	fValueInfoDocString = 3 // string

	// TypeProto
	fTypeTensorType = 1 // TypeProto.Tensor; other members of the oneof are rejected
	// TypeProto.Tensor
	fTensorTypeElemType = 1 // int32
	fTensorTypeShape    = 2 // TensorShapeProto
	// TensorShapeProto
	fShapeDim = 1 // repeated Dimension
	// TensorShapeProto.Dimension
	fDimValue = 1 // int64
	fDimParam = 2 // string
)

// Wire-level helpers. Strings and nested messages are length-delimited;
// nested messages are encoded into a scratch buffer first, then appended
// with their length.

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendInt(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendFloat(b []byte, num protowire.Number, v float32) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(v))
}

func appendMsg(b []byte, num protowire.Number, body []byte) []byte {
	return appendBytes(b, num, body)
}

func (m *Model) encode() []byte {
	var b []byte
	b = appendInt(b, fModelIRVersion, m.irVersion())
	if m.Producer != "" {
		b = appendString(b, fModelProducerName, m.Producer)
	}
	if m.ProducerVersion != "" {
		b = appendString(b, fModelProducerVersion, m.ProducerVersion)
	}
	if m.Domain != "" {
		b = appendString(b, fModelDomain, m.Domain)
	}
	if m.ModelVersion != 0 {
		b = appendInt(b, fModelModelVersion, m.ModelVersion)
	}
	if m.Doc != "" {
		b = appendString(b, fModelDocString, m.Doc)
	}
	b = appendMsg(b, fModelGraph, m.Graph.encode())
	b = appendMsg(b, fModelOpsetImport, encodeOpset("", m.opset()))
	for _, d := range sortedKeys(m.Imports) {
		b = appendMsg(b, fModelOpsetImport, encodeOpset(d, m.Imports[d]))
	}
	for _, k := range sortedKeys(m.Metadata) {
		var e []byte
		e = appendString(e, fEntryKey, k)
		e = appendString(e, fEntryValue, m.Metadata[k])
		b = appendMsg(b, fModelMetadataProps, e)
	}
	return b
}

func encodeOpset(domain string, version int64) []byte {
	var b []byte
	b = appendString(b, fOpsetDomain, domain)
	return appendInt(b, fOpsetVersion, version)
}

func (g *Graph) encode() []byte {
	var b []byte
	for _, n := range g.nodes {
		b = appendMsg(b, fGraphNode, g.encodeNode(n))
	}
	b = appendString(b, fGraphName, g.name)
	for _, id := range g.inits {
		v := g.values[id]
		b = appendMsg(b, fGraphInitializer, encodeTensor(v.name, v.tensor))
	}
	if g.Doc != "" {
		b = appendString(b, fGraphDocString, g.Doc)
	}
	for _, id := range g.inputs {
		v := g.values[id]
		b = appendMsg(b, fGraphInput, encodeValueInfo(v.name, v.dtype, v.dims, true))
	}
	for _, o := range g.outputs {
		b = appendMsg(b, fGraphOutput, encodeValueInfo(g.values[o.id].name, o.dtype, o.dims, o.hasShape))
	}
	return b
}

func (g *Graph) encodeNode(n nodeRec) []byte {
	var b []byte
	for _, id := range n.inputs {
		b = appendString(b, fNodeInput, g.nameOf(id))
	}
	for _, id := range n.outputs {
		b = appendString(b, fNodeOutput, g.nameOf(id))
	}
	if n.name != "" {
		b = appendString(b, fNodeName, n.name)
	}
	b = appendString(b, fNodeOpType, n.op)
	for _, a := range n.attrs {
		b = appendMsg(b, fNodeAttribute, encodeAttr(a))
	}
	if n.domain != "" {
		b = appendString(b, fNodeDomain, n.domain)
	}
	return b
}

func encodeAttr(a Attribute) []byte {
	var b []byte
	b = appendString(b, fAttrName, a.Name)
	switch a.Type {
	case AttrTypeFloat:
		b = appendFloat(b, fAttrF, a.Float)
	case AttrTypeInt:
		b = appendInt(b, fAttrI, a.Int)
	case AttrTypeString:
		b = appendString(b, fAttrS, a.String)
	case AttrTypeTensor:
		b = appendMsg(b, fAttrT, encodeTensor("", a.Tensor))
	case AttrTypeFloats:
		for _, f := range a.Floats {
			b = appendFloat(b, fAttrFloats, f)
		}
	case AttrTypeInts:
		for _, v := range a.Ints {
			b = appendInt(b, fAttrInts, v)
		}
	case AttrTypeStrings:
		for _, s := range a.Strings {
			b = appendString(b, fAttrStrings, s)
		}
	}
	return appendInt(b, fAttrType, int64(a.Type))
}

func encodeTensor(name string, t *Tensor) []byte {
	b := make([]byte, 0, len(t.Raw)+len(name)+16+10*len(t.Dims))
	for _, d := range t.Dims {
		b = appendInt(b, fTensorDims, d)
	}
	b = appendInt(b, fTensorDataType, int64(t.DataType))
	if name != "" {
		b = appendString(b, fTensorName, name)
	}
	return appendBytes(b, fTensorRawData, t.Raw)
}

func encodeValueInfo(name string, dtype DataType, dims []Dimension, hasShape bool) []byte {
	var tt []byte // TypeProto.Tensor
	tt = appendInt(tt, fTensorTypeElemType, int64(dtype))
	if hasShape {
		var shape []byte
		for _, d := range dims {
			var dim []byte
			switch {
			case d.Param != "":
				dim = appendString(dim, fDimParam, d.Param)
			case d.Value >= 0:
				dim = appendInt(dim, fDimValue, d.Value)
			}
			shape = appendMsg(shape, fShapeDim, dim)
		}
		// An empty shape message is a scalar; it must still be written.
		tt = appendMsg(tt, fTensorTypeShape, shape)
	}
	var b []byte
	b = appendString(b, fValueInfoName, name)
	return appendMsg(b, fValueInfoType, appendMsg(nil, fTypeTensorType, tt))
}
