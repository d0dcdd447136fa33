package onnx

import (
	"fmt"
	"strconv"
)

// AttrType is the type of a node attribute: AttributeProto.AttributeType of
// onnx.proto. Only the types below are supported.
type AttrType int32

// The supported attribute types, with their onnx.proto numbers.
const (
	AttrTypeFloat   AttrType = 1
	AttrTypeInt     AttrType = 2
	AttrTypeString  AttrType = 3
	AttrTypeTensor  AttrType = 4
	AttrTypeFloats  AttrType = 6
	AttrTypeInts    AttrType = 7
	AttrTypeStrings AttrType = 8
)

// String returns the onnx.proto name of the type ("INT", "FLOATS", ...).
func (a AttrType) String() string {
	switch a {
	case AttrTypeFloat:
		return "FLOAT"
	case AttrTypeInt:
		return "INT"
	case AttrTypeString:
		return "STRING"
	case AttrTypeTensor:
		return "TENSOR"
	case AttrTypeFloats:
		return "FLOATS"
	case AttrTypeInts:
		return "INTS"
	case AttrTypeStrings:
		return "STRINGS"
	}
	return "AttrType(" + strconv.Itoa(int(a)) + ")"
}

// Attribute is a named node attribute. Exactly the field that matches Type
// holds the value; the others must be zero (Marshal checks this). Build one
// with AttrFloat, AttrInt, AttrString, AttrTensor, AttrFloats, AttrInts or
// AttrStrings, and pass it to Graph.Node among the inputs.
type Attribute struct {
	// Name is the attribute's name, e.g. "axis".
	Name string
	// Type selects which of the fields below holds the value.
	Type    AttrType
	Float   float32   // AttrTypeFloat
	Int     int64     // AttrTypeInt
	String  string    // AttrTypeString
	Tensor  *Tensor   // AttrTypeTensor
	Floats  []float32 // AttrTypeFloats
	Ints    []int64   // AttrTypeInts
	Strings []string  // AttrTypeStrings
}

// AttrFloat returns a FLOAT attribute.
func AttrFloat(name string, v float32) Attribute {
	return Attribute{Name: name, Type: AttrTypeFloat, Float: v}
}

// AttrInt returns an INT attribute.
func AttrInt(name string, v int64) Attribute {
	return Attribute{Name: name, Type: AttrTypeInt, Int: v}
}

// AttrString returns a STRING attribute.
func AttrString(name, v string) Attribute {
	return Attribute{Name: name, Type: AttrTypeString, String: v}
}

// AttrTensor returns a TENSOR attribute.
func AttrTensor(name string, t *Tensor) Attribute {
	return Attribute{Name: name, Type: AttrTypeTensor, Tensor: t}
}

// AttrFloats returns a FLOATS attribute; v is copied.
func AttrFloats(name string, v ...float32) Attribute {
	return Attribute{Name: name, Type: AttrTypeFloats, Floats: append([]float32{}, v...)}
}

// AttrInts returns an INTS attribute; v is copied.
func AttrInts(name string, v ...int64) Attribute {
	return Attribute{Name: name, Type: AttrTypeInts, Ints: append([]int64{}, v...)}
}

// AttrStrings returns a STRINGS attribute; v is copied.
func AttrStrings(name string, v ...string) Attribute {
	return Attribute{Name: name, Type: AttrTypeStrings, Strings: append([]string{}, v...)}
}

// validate checks that the attribute has a name, a supported type and a
// value only in the field of that type.
func (a Attribute) validate() error {
	if a.Name == "" {
		return fmt.Errorf("attribute of type %s has no name", a.Type)
	}
	set := map[AttrType]bool{
		AttrTypeFloat:   a.Float != 0,
		AttrTypeInt:     a.Int != 0,
		AttrTypeString:  a.String != "",
		AttrTypeTensor:  a.Tensor != nil,
		AttrTypeFloats:  len(a.Floats) > 0,
		AttrTypeInts:    len(a.Ints) > 0,
		AttrTypeStrings: len(a.Strings) > 0,
	}
	if _, ok := set[a.Type]; !ok {
		return fmt.Errorf("attribute %q: type %s is not supported", a.Name, a.Type)
	}
	for typ, has := range set {
		if has && typ != a.Type {
			return fmt.Errorf("attribute %q has type %s but also a %s value", a.Name, a.Type, typ)
		}
	}
	if a.Type == AttrTypeTensor {
		if a.Tensor == nil {
			return fmt.Errorf("attribute %q of type TENSOR has no tensor", a.Name)
		}
		if err := a.Tensor.Validate(); err != nil {
			return fmt.Errorf("attribute %q: %w", a.Name, err)
		}
	}
	return nil
}

// clone returns a deep copy of the slices (the tensor is shared).
func (a Attribute) clone() Attribute {
	if a.Floats != nil {
		a.Floats = append([]float32{}, a.Floats...)
	}
	if a.Ints != nil {
		a.Ints = append([]int64{}, a.Ints...)
	}
	if a.Strings != nil {
		a.Strings = append([]string{}, a.Strings...)
	}
	return a
}
