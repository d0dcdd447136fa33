package onnx

import "errors"

// ErrInvalid is returned (wrapped, with the offending name, index or value)
// when a model or graph breaks a rule that Marshal and Unmarshal check: a
// node input used before it is defined, a duplicate name, an attribute of the
// wrong type, a tensor whose data does not match its shape, and so on.
// Test for it with errors.Is.
var ErrInvalid = errors.New("onnx: invalid model")

// ErrMalformed is returned (wrapped, with the field and byte offset) when
// Unmarshal meets bytes that are not a well-formed protobuf encoding of the
// ONNX messages it reads.
var ErrMalformed = errors.New("onnx: malformed protobuf")

// ErrUnsupported is returned (wrapped) when Unmarshal meets a valid ONNX
// feature outside the subset this package reads: external or sparse
// tensors, graph-valued attributes, non-tensor types, model-local functions,
// training information, element types other than those of DataType.
var ErrUnsupported = errors.New("onnx: unsupported feature")
