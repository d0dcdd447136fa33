// Package onnx builds, encodes, decodes and int8-quantises ONNX models in
// pure Go: the foundation of the project's exporter from GoMLX to ONNX
// Runtime.
//
// No maintained Go module exports the ONNX protobuf types cleanly, so this
// package writes the few ONNX IR messages it needs (ModelProto, GraphProto,
// NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto,
// OperatorSetIdProto, StringStringEntryProto) directly with
// google.golang.org/protobuf/encoding/protowire, using the field numbers of
// onnx/onnx.proto (see encode.go). Models are written as IR 8, opset 17 by
// default, which ONNX Runtime 1.30 and ONNX 1.12's checker accept.
//
// # Building a graph
//
//	g := onnx.NewGraph("rig_gnn")
//	x := g.Input("window", onnx.Float32, onnx.Dim("batch"), onnx.Dim(17), onnx.Dim(60), onnx.Dim(4))
//	w := g.Const("proj_W", onnx.NewTensor(weights, 4, 32)) // an initialiser
//	y := g.Relu(g.MatMul(x, w))
//	g.Output("features", y, onnx.Dim("batch"), onnx.Dim(17), onnx.Dim(60), onnx.Dim(32))
//	data, err := (&onnx.Model{Graph: g, Producer: "hydrognn"}).Marshal()
//
// Graph.Node adds any operator by name ("op type") with inputs, attributes
// and options in one argument list; typed helpers (MatMul, Gemm, GRU,
// Softmax, ReduceSum, Split, LayerNormalization, ...) emit the opset-17 form
// of the operators the GNN needs, turning arguments that opset 17 takes as
// inputs (ReduceSum axes, Split sizes, Unsqueeze axes, Slice bounds) into
// shared INT64 initialisers. Names are generated ("MatMul_3") unless given
// with NodeName, OutputNames or Graph.Output, and are always unique.
//
// Builder methods do not return errors: the first mistake is kept (see
// Graph.Err) and reported by Model.Marshal, which also validates the whole
// model (Model.Validate): each node input defined before use, unique names,
// declared output types, tensors that match their shapes, and, at opset 17,
// input counts and attribute names and types of the operators this package
// knows. Errors wrap ErrInvalid and name the node, its index and the value.
// Shapes are not inferred; the tests run ONNX's own checker with strict
// shape inference over every model they build.
//
// # GRU layout
//
// The ONNX GRU (see Graph.GRU, PackGRU and the contract in gru.go) expects
// gates in the order z (update), r (reset), h (candidate), weights as
// [directions, 3H, in] (output rows, i.e. the transpose of a dense layer's
// [in, out] kernel), biases as [Wb_z Wb_r Wb_h Rb_z Rb_r Rb_h], time-major
// input [T, batch, in], and h' = (1-z)⊙h̃ + z⊙h. linear_before_reset
// selects whether the reset gate multiplies h before (0, ONNX's default)
// or after (1, cuDNN/PyTorch) the recurrent product. A trainer must match
// both choices; PackGRU takes per-gate matrices in the dense-layer
// orientation and does the transposing.
//
// # Reading models
//
// Unmarshal reads what Marshal writes (and the usual variants from other
// exporters), validates it, and returns a Model whose Graph can be
// inspected (Inputs, Outputs, Initializers, Nodes), re-encoded or
// quantised. Malformed input gives ErrMalformed, features outside the
// subset ErrUnsupported; it never panics (FuzzUnmarshal) and allocates at
// most a small multiple of the input size.
//
// # int8
//
// Quantize rewrites a model's large weights (MatMul, Gemm, GRU) to int8 in
// one of two schemes; see WeightOnly and Dynamic, and README.md for sizes,
// errors and latencies measured with ONNX Runtime. In short: WeightOnly,
// loaded with session.disable_quant_qdq=1, gives int8 files at fp32 speed
// and is the choice for the project's small GNN; Dynamic (int8 arithmetic
// in ONNX Runtime's DynamicQuantizeMatMul) only pays off for large
// matrices.
//
// # Caveats
//
// A Graph is not safe for concurrent use; a finished Model may be marshalled
// from several goroutines. Tensors are referenced, not copied, by Const and
// by decoded or quantised models: treat them as immutable. Operator checks
// use a hand-written opset-17 table (schema.go); at other opsets only the
// generic rules apply.
package onnx
