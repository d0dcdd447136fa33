package gnn

import (
	"fmt"
	"runtime/debug"

	"github.com/gomlx/gomlx/backends"
	G "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Result is the output of Forward for a batch of B windows, flat and
// row-major like the ONNX outputs the exporter names after its fields.
type Result struct {
	// B is the batch size.
	B int
	// Health is [B, N], per-node health in [0, 1].
	Health []float32
	// Logits and Probs are, per target (Model.Targets order), [B, C_t].
	Logits, Probs [][]float32
	// Anomaly is [B, S], per-sensor reconstruction error.
	Anomaly []float32
}

// Forward runs m with weights w on a batch: x and mask are [B, S, T] flat
// (B = len(x)/(S*T)), as prep.Window.Values and Mask stacked. It builds
// and compiles a graph with the weights as constants for this one call on
// backend (NewBackend), so it is for tests, parity checks and small
// evaluations; a trainer evaluates with its own compiled graph.
func Forward(backend backends.Backend, m *Model, w Weights, x, mask []float32) (res *Result, err error) {
	if err := w.Check(m); err != nil {
		return nil, err
	}
	ST := m.Sensors * m.Steps
	if len(x) == 0 || len(x)%ST != 0 || len(mask) != len(x) {
		return nil, fmt.Errorf("gnn: forward: x has %d values and mask %d; want the same multiple of S*T = %d*%d",
			len(x), len(mask), m.Sensors, m.Steps)
	}
	B := len(x) / ST
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gnn: forward: %v\n%s", r, debug.Stack())
		}
	}()
	exec, err := G.NewExec(backend, func(xn, mn *G.Node) []*G.Node {
		g := xn.Graph()
		wf := func(name string) *G.Node {
			t := w.Get(name)
			if t == nil {
				panic("gnn: missing weight " + name)
			}
			return G.Const(g, tensors.FromFlatDataAndDimensions(t.Data, t.Shape...))
		}
		o := m.Graph(xn, mn, wf)
		outs := []*G.Node{o.Health, o.Anomaly}
		for _, l := range o.Logits {
			outs = append(outs, l, G.Softmax(l, -1))
		}
		return outs
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	xt := tensors.FromFlatDataAndDimensions(x, B, m.Sensors, m.Steps)
	mt := tensors.FromFlatDataAndDimensions(mask, B, m.Sensors, m.Steps)
	outs, err := exec.Exec(xt, mt)
	if err != nil {
		return nil, err
	}
	res = &Result{B: B, Health: flat(outs[0]), Anomaly: flat(outs[1])}
	for i := range m.Targets {
		res.Logits = append(res.Logits, flat(outs[2+2*i]))
		res.Probs = append(res.Probs, flat(outs[3+2*i]))
	}
	return res, nil
}

func flat(t *tensors.Tensor) []float32 {
	out, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		panic(err)
	}
	t.FinalizeAll()
	return out
}
