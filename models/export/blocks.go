package export

import (
	"fmt"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
)

// Block weights: several weights of the model placed into one 2-D matrix
// (zeros elsewhere), so that one MatMul does the work of several (e.g.
// every class head's hidden layer at once). Fewer nodes make a call
// after an idle gap cheaper (docs/benchmarks.md, "Inference inside the
// running agent"); the values are the parts' own, so the products differ
// from the separate ones only by float rounding (the zeros add exact
// zeros).
//
// Each output column of a block holds the entries of one part's column
// only, so onnx.Quantize's per-column scales of a block are the parts'
// own and the int8 values are the same as the parts' quantised one by
// one. A block whose parts were each too small to quantise
// (onnx.DefaultMinElements) is kept fp32 (layout.keep), as they were; a
// part below that size in a block with larger parts is quantised with
// them (int8 only: its columns get their own scales all the same).

// blockPart places rows [SrcRow, SrcRow+Rows) of a 2-D weight [_, cols]
// at (Row, Col) of a block.
type blockPart struct {
	Weight         string
	SrcRow, Rows   int
	Row, Col, Cols int
}

// layout records the blocks Build assembled: DequantizedWeights reads the
// parts back from them, Quantized keeps the fp32 ones fp32.
type layout struct {
	blocks map[string][]blockPart
	keep   []string
	// vectors: 1-D weights end to end (concatVector); sensorBias:
	// per-sensor biases [S, k_i] side by side (perSensorBias).
	vectors, sensorBias map[string][]string
}

// block adds block name [rows, cols] assembled from parts. A block that
// is exactly one whole weight is that weight's own initialiser.
func (b *builder) block(name string, rows, cols int, parts []blockPart) onnx.Value {
	if len(parts) == 1 {
		p := parts[0]
		if t := b.w.Get(p.Weight); t != nil && len(t.Shape) == 2 && t.Shape[0] == rows && t.Shape[1] == cols &&
			p.SrcRow == 0 && p.Rows == rows && p.Row == 0 && p.Col == 0 && p.Cols == cols {
			return b.weight(p.Weight)
		}
	}
	data := make([]float32, rows*cols)
	small := true
	for _, p := range parts {
		src, dims := b.tensor(p.Weight)
		if len(dims) != 2 || int(dims[1]) != p.Cols || p.SrcRow+p.Rows > int(dims[0]) ||
			p.Row+p.Rows > rows || p.Col+p.Cols > cols {
			b.fail("block %q: weight %q %v does not fit part %+v of [%d, %d]", name, p.Weight, dims, p, rows, cols)
			return b.g.Scalar(0)
		}
		if int(dims[0]*dims[1]) >= onnx.DefaultMinElements {
			small = false
		}
		for r := range p.Rows {
			copy(data[(p.Row+r)*cols+p.Col:(p.Row+r)*cols+p.Col+p.Cols], src[(p.SrcRow+r)*p.Cols:(p.SrcRow+r+1)*p.Cols])
		}
	}
	b.lay.blocks[name] = parts
	if small {
		b.lay.keep = append(b.lay.keep, name)
	}
	return b.g.Const(name, onnx.NewTensor(data, int64(rows), int64(cols)))
}

// concatVector adds the 1-D weights names end to end as one initialiser.
func (b *builder) concatVector(name string, names []string) onnx.Value {
	if len(names) == 1 {
		return b.weight(names[0])
	}
	b.lay.vectors[name] = names
	var data []float32
	for _, n := range names {
		d, _ := b.tensor(n)
		data = append(data, d...)
	}
	return b.g.Const(name, onnx.NewTensor(data, int64(len(data))))
}

// unblock writes the parts of a block (its dequantised values data,
// [_, cols] row-major) back into their weights in w.
func unblock(w gnn.Weights, name string, parts []blockPart, data []float32, cols int) error {
	for _, p := range parts {
		t := w.Get(p.Weight)
		if t == nil || len(t.Shape) != 2 || t.Shape[1] != p.Cols || p.SrcRow+p.Rows > t.Shape[0] ||
			(p.Row+p.Rows)*cols > len(data) || p.Col+p.Cols > cols {
			return fmt.Errorf("%w: int8 calibration: block %q: part %+v is no weight of the model", ErrExport, name, p)
		}
		for r := range p.Rows {
			copy(t.Data[(p.SrcRow+r)*p.Cols:(p.SrcRow+r+1)*p.Cols], data[(p.Row+r)*cols+p.Col:(p.Row+r)*cols+p.Col+p.Cols])
		}
	}
	return nil
}
