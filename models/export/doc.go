// Package export writes the project's temporal GNN (models/gnn) as ONNX
// models and model bundles for the edge (agent/infer).
//
// Build reproduces gnn.Forward node for node from a model's weights
// (train.Result.Weights, in gnn.Model.Params order) and topology constants
// (gnn.Model.Constants): the frozen per-cell standardisation, the
// per-sensor window view, the patch embedding and the ONNX GRU
// (linear_before_reset=1, onnx.PackGRU), sensor-to-node pooling, GATv2
// layers with the additive adjacency bias and LayerNormalization, the
// graph readout, and the heads. Opset 17, IR version 8.
//
// Graph contract (agent/infer binds by these names):
//
//	inputs   x, mask          float32 [batch, S, T]  (prep.Window.Values, Mask)
//	outputs  health           float32 [batch, N]     sigmoid, component order
//	         target_<name>    float32 [batch, C]     softmax, the target's class order
//	         anomaly          float32 [batch, S]     raw masked reconstruction MSE
//
// Quantized writes the int8 model: the per-sensor weights [S, K, D] as
// INT8 with one scale per sensor (DequantizeLinear, axis 0), then
// onnx.Quantize over the MatMul and GRU weights (per output channel).
// WriteBundle writes model.fp32.onnx, model.int8.onnx and manifest.json
// (shared/bundle) with the input spec, heads, thresholds, metrics and
// provenance. The int8 file gets anomaly thresholds of its own
// (Int8Thresholds: the training result's calibration windows and rule
// applied to gnn.Forward over the weights read back from the int8 graph,
// DequantizedWeights), stored per file in the manifest.
//
// # Caveats
//
// A change of the computation in models/gnn (doc.go there) is a breaking
// change here: TestParity holds the ONNX Runtime output to gnn.Forward
// and fails until the exporter follows, and Build refuses a model with a
// weight it does not read. The exported graph is sized for
// one rig config; a bundle is refused by agent/infer.Open on another rig.
// An int8 file of the onnx.Dynamic scheme quantises activations with one
// scale over the whole batch: a window's outputs depend on the other
// windows run with it (exact per window only at batch 1, as the agent
// runs it), and Int8Thresholds does not model that step; weight-only,
// the default, has neither effect.
package export
