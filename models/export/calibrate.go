package export

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/models/train"
)

// calibBatch bounds the windows of one gnn.Forward call in
// Int8Thresholds (each distinct batch size compiles a graph once).
const calibBatch = 512

// Int8Thresholds calibrates the anomaly thresholds of the int8 model q
// (Quantized's result for res.Model and res.Weights, rep its report) the
// way train.Run calibrated res.AnomalyThreshold for fp32: the same windows
// and rule (res.Calibration), run through the int8 model's own weights.
// The weights are read from q itself (DequantizedWeights) and run through
// gnn.Forward, which TestParity holds to ONNX Runtime's output of the same
// graph: with weight-only quantization (the default) this is the int8
// file's computation, which ONNX Runtime runs in fp32 after folding the
// DequantizeLinear nodes. With onnx.Dynamic the activations' quantization
// at run time is not modelled (the weights' is), and it depends on the
// batch (onnx.Dynamic): the thresholds are then an approximation, which
// Int8Thresholds logs as a warning. The thresholds are floored at
// MinThreshold like Heads'. It returns nil, nil when res has no
// calibration windows.
func Int8Thresholds(res *train.Result, q *onnx.Model, rep *onnx.QuantReport) ([]float64, error) {
	return int8Thresholds(context.Background(), res, q, rep)
}

// int8Thresholds is Int8Thresholds stopped by ctx (checked every batch).
func int8Thresholds(ctx context.Context, res *train.Result, q *onnx.Model, rep *onnx.QuantReport) ([]float64, error) {
	c := res.Calibration
	if c == nil || c.Windows == nil || c.Windows.N == 0 {
		return nil, nil
	}
	m := res.Model
	if c.Windows.S != m.Sensors || c.Windows.T != m.Steps {
		return nil, fmt.Errorf("%w: int8 calibration: windows are %d sensors x %d steps, the model %d x %d",
			ErrExport, c.Windows.S, c.Windows.T, m.Sensors, m.Steps)
	}
	w, err := DequantizedWeights(m, res.Weights, q, rep)
	if err != nil {
		return nil, err
	}
	if rep.Scheme == onnx.Dynamic {
		slog.Warn("int8 calibration: the dynamic scheme quantises activations at run time, per batch; " +
			"the int8 thresholds model its weights only (weight-only is exact)")
	}
	backend, err := gnn.NewBackend("go")
	if err != nil {
		return nil, fmt.Errorf("%w: int8 calibration: %w", ErrExport, err)
	}
	defer backend.Finalize()
	ST := m.Sensors * m.Steps
	anomaly := make([]float32, 0, c.Windows.N*m.Sensors)
	for from := 0; from < c.Windows.N; from += calibBatch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("int8 calibration: window %d of %d: %w", from, c.Windows.N, err)
		}
		to := min(from+calibBatch, c.Windows.N)
		out, err := gnn.Forward(backend, m, w, c.Windows.X[from*ST:to*ST], c.Windows.Mask[from*ST:to*ST])
		if err != nil {
			return nil, fmt.Errorf("%w: int8 calibration: %w", ErrExport, err)
		}
		anomaly = append(anomaly, out.Anomaly...)
	}
	th := c.Thresholds(anomaly, m.Sensors)
	for i := range th {
		th[i] = max(th[i], MinThreshold)
	}
	return th, nil
}

// DequantizedWeights returns w with every weight that the int8 model q
// stores as integers replaced by its dequantised value from q: the
// weights q computes with. rep is q's quantisation report (Quantized):
// it names the initialisers of each weight onnx.Quantize quantised and
// the channel axis of their scales, which a weight that only
// MatMulInteger consumes (onnx.Dynamic) records nowhere in q (a MatMul
// weight's is 1, a transB Gemm weight's 0). The per-sensor weights Build
// stores as int8 (<name>_quantized) are read with their DequantizeLinear
// node's axis. A quantised initialiser of q that maps to no weight of m,
// or whose axis is unknown, is an error (never a silently different
// calibration).
func DequantizedWeights(m *gnn.Model, w gnn.Weights, q *onnx.Model, rep *onnx.QuantReport) (gnn.Weights, error) {
	if rep == nil {
		return nil, fmt.Errorf("%w: int8 calibration: no quantisation report", ErrExport)
	}
	out := w.Clone()
	inits := map[string]*onnx.Tensor{}
	for _, in := range q.Graph.Initializers() {
		inits[in.Name] = in.Tensor
	}
	type quantized struct {
		weight, scale, zero string
		axis                int
	}
	// quantised initialiser -> what it holds
	byInit := map[string]quantized{}
	for _, n := range q.Graph.Nodes() {
		if n.OpType != "DequantizeLinear" || len(n.Inputs) < 2 {
			continue
		}
		name, ok := strings.CutSuffix(n.Inputs[0], "_quantized")
		if !ok {
			continue
		}
		axis := 1 // DequantizeLinear's default
		for _, a := range n.Attributes {
			if a.Name == "axis" {
				axis = int(a.Int)
			}
		}
		zero := ""
		if len(n.Inputs) > 2 {
			zero = n.Inputs[2]
		}
		byInit[n.Inputs[0]] = quantized{weight: name, scale: n.Inputs[1], zero: zero, axis: axis}
	}
	for _, qt := range rep.Quantized {
		byInit[qt.QuantizedName] = quantized{weight: qt.Name, scale: qt.ScaleName, zero: qt.ZeroPointName, axis: qt.Axis}
	}
	for _, in := range q.Graph.Initializers() {
		if in.Tensor.DataType != onnx.Int8 && in.Tensor.DataType != onnx.Uint8 {
			continue
		}
		qi, ok := byInit[in.Name]
		if !ok {
			if strings.HasSuffix(in.Name, "_quantized") {
				return nil, fmt.Errorf("%w: int8 calibration: quantised initialiser %q is in neither a DequantizeLinear node nor the quantisation report", ErrExport, in.Name)
			}
			continue
		}
		name, axis := qi.weight, qi.axis
		var zero *onnx.Tensor
		if qi.zero != "" {
			zero = inits[qi.zero]
		}
		data, err := dequantize(in.Tensor, inits[qi.scale], zero, axis)
		if err != nil {
			return nil, fmt.Errorf("%w: int8 calibration: %s: %w", ErrExport, in.Name, err)
		}
		switch name {
		case "enc/gru/W", "enc/gru/R":
			if err := unpackGRU(out, name, data); err != nil {
				return nil, err
			}
		default:
			t := out.Get(name)
			if t == nil || len(t.Data) != len(data) {
				return nil, fmt.Errorf("%w: int8 calibration: quantised initialiser %q is no weight of the model", ErrExport, in.Name)
			}
			copy(t.Data, data)
		}
	}
	return out, nil
}

// dequantize computes (q - zero) * scale in float32, with one scale per
// slice along axis (or one scale for all when scale has one element).
func dequantize(q, scale, zero *onnx.Tensor, axis int) ([]float32, error) {
	if scale == nil {
		return nil, fmt.Errorf("no scale")
	}
	sc, err := onnx.TensorData[float32](scale)
	if err != nil {
		return nil, err
	}
	var vals []int32
	switch q.DataType {
	case onnx.Int8:
		d, err := onnx.TensorData[int8](q)
		if err != nil {
			return nil, err
		}
		for _, v := range d {
			vals = append(vals, int32(v))
		}
	case onnx.Uint8:
		d, err := onnx.TensorData[uint8](q)
		if err != nil {
			return nil, err
		}
		for _, v := range d {
			vals = append(vals, int32(v))
		}
	default:
		return nil, fmt.Errorf("element type %s, want INT8 or UINT8", q.DataType)
	}
	zp := make([]int32, len(sc))
	if zero != nil {
		switch zero.DataType {
		case onnx.Int8:
			d, err := onnx.TensorData[int8](zero)
			if err != nil {
				return nil, err
			}
			for i := range min(len(d), len(zp)) {
				zp[i] = int32(d[i])
			}
		case onnx.Uint8:
			d, err := onnx.TensorData[uint8](zero)
			if err != nil {
				return nil, err
			}
			for i := range min(len(d), len(zp)) {
				zp[i] = int32(d[i])
			}
		}
	}
	channels, inner := 1, len(vals)
	if len(sc) > 1 {
		if axis < 0 || axis >= len(q.Dims) || int(q.Dims[axis]) != len(sc) {
			return nil, fmt.Errorf("%d scales along axis %d of shape %v", len(sc), axis, q.Dims)
		}
		channels, inner = len(sc), 1
		for _, d := range q.Dims[axis+1:] {
			inner *= int(d)
		}
	}
	out := make([]float32, len(vals))
	for i, v := range vals {
		c := (i / inner) % channels
		out[i] = float32(v-zp[c]) * sc[c]
	}
	return out, nil
}

// unpackGRU writes the packed ONNX GRU weight W [1, 3H, I] or R [1, 3H, H]
// (onnx.PackGRU's layout: gates z, r, n; rows are output units) back into
// enc/gru/{z,r,n}/wx or wh ([in, H]).
func unpackGRU(w gnn.Weights, name string, data []float32) error {
	suffix := "/wx"
	if name == "enc/gru/R" {
		suffix = "/wh"
	}
	for gi, gate := range []string{"z", "r", "n"} {
		t := w.Get("enc/gru/" + gate + suffix)
		if t == nil || len(t.Shape) != 2 || 3*len(t.Data) != len(data) {
			return fmt.Errorf("%w: int8 calibration: %s does not match the model's GRU weights", ErrExport, name)
		}
		in, h := t.Shape[0], t.Shape[1]
		for j := range h {
			row := gi*h + j
			for i := range in {
				t.Data[i*h+j] = data[row*in+i]
			}
		}
	}
	return nil
}
