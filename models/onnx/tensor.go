package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// DataType is an ONNX tensor element type: the TensorProto.DataType enum of
// onnx.proto. Only the types below can be written or read by this package.
type DataType int32

// The element types this package supports, with their onnx.proto numbers.
const (
	Undefined DataType = 0 // unknown: allowed only for intermediate values
	Float32   DataType = 1 // FLOAT
	Uint8     DataType = 2 // UINT8
	Int8      DataType = 3 // INT8
	Int32     DataType = 6 // INT32
	Int64     DataType = 7 // INT64
	Bool      DataType = 9 // BOOL, one byte per element (0 or 1)
)

// String returns the onnx.proto name of the type ("FLOAT", "INT8", ...), or
// "DataType(n)" for a number this package does not support.
func (d DataType) String() string {
	switch d {
	case Undefined:
		return "UNDEFINED"
	case Float32:
		return "FLOAT"
	case Uint8:
		return "UINT8"
	case Int8:
		return "INT8"
	case Int32:
		return "INT32"
	case Int64:
		return "INT64"
	case Bool:
		return "BOOL"
	}
	return "DataType(" + strconv.Itoa(int(d)) + ")"
}

// Size returns the number of bytes of one element, or 0 for Undefined and
// unsupported types.
func (d DataType) Size() int {
	switch d {
	case Float32, Int32:
		return 4
	case Int64:
		return 8
	case Uint8, Int8, Bool:
		return 1
	}
	return 0
}

// valid reports whether d is a supported, defined element type.
func (d DataType) valid() bool { return d.Size() > 0 }

// Dimension is one dimension of a value's shape: a fixed size (Value >= 0,
// Param empty), a symbolic size shared by name across the graph (Param, e.g.
// "batch"), or, when decoded from a file that sets neither, unknown (Value
// -1, Param empty).
type Dimension struct {
	// Value is the fixed size; ignored when Param is set; -1 means unknown.
	Value int64
	// Param is the symbolic name (TensorShapeProto.Dimension.dim_param).
	Param string
}

// Dim returns a fixed dimension for an integer and a symbolic one for a
// string: Dim(17), Dim("batch"). Dim(-1) is an unknown dimension.
func Dim[T int | int64 | string](v T) Dimension {
	switch x := any(v).(type) {
	case int:
		return Dimension{Value: int64(x)}
	case int64:
		return Dimension{Value: x}
	case string:
		return Dimension{Param: x}
	}
	panic("unreachable")
}

// Dims is a shorthand for a list of fixed dimensions.
func Dims(sizes ...int64) []Dimension {
	out := make([]Dimension, len(sizes))
	for i, s := range sizes {
		out[i] = Dimension{Value: s}
	}
	return out
}

// String returns the size, the symbolic name, or "?" for an unknown
// dimension.
func (d Dimension) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value < 0:
		return "?"
	}
	return strconv.FormatInt(d.Value, 10)
}

func (d Dimension) validate() error {
	if d.Param == "" && d.Value < -1 {
		return fmt.Errorf("dimension %d is negative (use -1 for unknown, or a symbolic name)", d.Value)
	}
	return nil
}

// shapeString formats dims as [batch,17,4].
func shapeString(dims []Dimension) string {
	s := "["
	for i, d := range dims {
		if i > 0 {
			s += ","
		}
		s += d.String()
	}
	return s + "]"
}

// Element is the set of Go types a Tensor can be built from or read into.
type Element interface {
	float32 | int8 | uint8 | int32 | int64 | bool
}

// Tensor is a dense constant tensor: an initialiser of a graph or the value
// of a tensor attribute. Raw holds the elements in row-major order,
// little-endian, fixed width (onnx.proto's raw_data). A Tensor is not
// copied when added to a graph: do not modify it afterwards.
type Tensor struct {
	// DataType is the element type; it must not be Undefined.
	DataType DataType
	// Dims is the shape; empty for a scalar. Every size must be >= 0.
	Dims []int64
	// Raw is the data: len(Raw) == DataType.Size() * product(Dims).
	Raw []byte
}

// NewTensor returns a tensor of the given shape holding data (copied).
// With no dims it is a scalar when len(data) == 1, else a 1-D tensor of
// len(data) elements. A size mismatch is reported when the tensor is used
// (Graph.Const, Marshal) by Validate.
func NewTensor[T Element](data []T, dims ...int64) *Tensor {
	if len(dims) == 0 && len(data) != 1 {
		dims = []int64{int64(len(data))}
	}
	t := &Tensor{Dims: append([]int64(nil), dims...)}
	switch d := any(data).(type) {
	case []float32:
		t.DataType = Float32
		t.Raw = make([]byte, 4*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint32(t.Raw[4*i:], math.Float32bits(v))
		}
	case []int8:
		t.DataType = Int8
		t.Raw = make([]byte, len(d))
		for i, v := range d {
			t.Raw[i] = byte(v)
		}
	case []uint8:
		t.DataType = Uint8
		t.Raw = append([]byte(nil), d...)
	case []int32:
		t.DataType = Int32
		t.Raw = make([]byte, 4*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint32(t.Raw[4*i:], uint32(v))
		}
	case []int64:
		t.DataType = Int64
		t.Raw = make([]byte, 8*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint64(t.Raw[8*i:], uint64(v))
		}
	case []bool:
		t.DataType = Bool
		t.Raw = make([]byte, len(d))
		for i, v := range d {
			if v {
				t.Raw[i] = 1
			}
		}
	}
	return t
}

// ScalarTensor returns a 0-D tensor holding v.
func ScalarTensor[T Element](v T) *Tensor { return NewTensor([]T{v}) }

// TensorData returns a copy of t's elements as []T. It fails when T does not
// match t.DataType or when t is invalid.
func TensorData[T Element](t *Tensor) ([]T, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	var zero T
	want := elementType(zero)
	if t.DataType != want {
		return nil, fmt.Errorf("tensor holds %s, not %s", t.DataType, want)
	}
	n := len(t.Raw) / want.Size()
	out := make([]T, n)
	switch o := any(out).(type) {
	case []float32:
		for i := range o {
			o[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Raw[4*i:]))
		}
	case []int8:
		for i := range o {
			o[i] = int8(t.Raw[i])
		}
	case []uint8:
		copy(o, t.Raw)
	case []int32:
		for i := range o {
			o[i] = int32(binary.LittleEndian.Uint32(t.Raw[4*i:]))
		}
	case []int64:
		for i := range o {
			o[i] = int64(binary.LittleEndian.Uint64(t.Raw[8*i:]))
		}
	case []bool:
		for i := range o {
			o[i] = t.Raw[i] != 0
		}
	}
	return out, nil
}

func elementType(v any) DataType {
	switch v.(type) {
	case float32:
		return Float32
	case int8:
		return Int8
	case uint8:
		return Uint8
	case int32:
		return Int32
	case int64:
		return Int64
	case bool:
		return Bool
	}
	return Undefined
}

// NumElements returns the product of the dimensions (1 for a scalar), or an
// error when a dimension is negative or the product overflows.
func (t *Tensor) NumElements() (int64, error) {
	n := uint64(1)
	for i, d := range t.Dims {
		if d < 0 {
			return 0, fmt.Errorf("dimension %d is %d: sizes must be >= 0", i, d)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v has more than 2^63 elements", t.Dims)
		}
		n = lo
	}
	return int64(n), nil
}

// Validate checks the element type, the dimensions and that len(Raw)
// matches the shape.
func (t *Tensor) Validate() error {
	if t == nil {
		return fmt.Errorf("%w: tensor is nil", ErrInvalid)
	}
	if !t.DataType.valid() {
		return fmt.Errorf("%w: tensor element type %s is not supported (want FLOAT, UINT8, INT8, INT32, INT64 or BOOL)", ErrInvalid, t.DataType)
	}
	n, err := t.NumElements()
	if err != nil {
		return fmt.Errorf("%w: tensor: %v", ErrInvalid, err)
	}
	size := uint64(t.DataType.Size())
	if hi, want := bits.Mul64(uint64(n), size); hi != 0 || want != uint64(len(t.Raw)) {
		return fmt.Errorf("%w: tensor %s%v holds %d bytes, want %d elements x %d bytes",
			ErrInvalid, t.DataType, t.Dims, len(t.Raw), n, size)
	}
	return nil
}

// String summarises the tensor as FLOAT[32 17].
func (t *Tensor) String() string {
	if t == nil {
		return "<nil tensor>"
	}
	return fmt.Sprintf("%s%v", t.DataType, t.Dims)
}
