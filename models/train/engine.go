package train

import (
	stdcontext "context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	G "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/hydrognn/hydrognn/models/gnn"
)

// engine holds a model's weights as GoMLX variables and the compiled
// training step and evaluation graphs for a fixed batch size.
type engine struct {
	model  *gnn.Model
	ctx    *context.Context
	vars   []*context.Variable // Model.Params order
	lrVar  *context.Variable
	step   *context.Exec
	eval   *context.Exec
	B      int
	sumC   int
	offset []int // offset of each target's classes in the label block
}

// lossWeights weight the terms of the multi-task loss.
type lossWeights struct {
	health, recon float64
	smooth        float64     // label smoothing ε
	classW        [][]float32 // per target, per class
	targetW       []float64   // per target: multiplier of its cross-entropy term
}

// catch turns a GoMLX panic into an error.
func catch(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("train: gomlx: %v\n%s", r, debug.Stack())
	}
}

func newEngine(backend backends.Backend, m *gnn.Model, w gnn.Weights, B int, lw lossWeights,
	lr, weightDecay float64) (e *engine, err error) {
	defer catch(&err)
	if err := w.Check(m); err != nil {
		return nil, err
	}
	e = &engine{model: m, ctx: context.New(), B: B}
	for _, t := range m.Targets {
		e.offset = append(e.offset, e.sumC)
		e.sumC += t.Classes
	}
	wctx := e.ctx.In("gnn")
	for i, p := range m.Params() {
		t := w[i]
		v := wctx.VariableWithValue(strings.ReplaceAll(t.Name, "/", "."),
			tensors.FromFlatDataAndDimensions(append([]float32(nil), t.Data...), t.Shape...))
		if p.Frozen {
			v.SetTrainable(false)
		}
		e.vars = append(e.vars, v)
	}
	e.lrVar = optimizers.LearningRateVar(e.ctx, dtypes.Float32, lr)
	opt := optimizers.Adam().LearningRate(lr).WeightDecay(weightDecay).Done()
	byName := map[string]*context.Variable{}
	for i, p := range m.Params() {
		byName[p.Name] = e.vars[i]
	}

	forward := func(x, mask *G.Node) gnn.Outputs {
		g := x.Graph()
		return m.Graph(x, mask, func(name string) *G.Node {
			v := byName[name]
			if v == nil {
				panic("train: no variable for weight " + name)
			}
			return v.ValueGraph(g)
		})
	}

	// Inputs: x, mask [B,S,T]; y [B,sumC] one-hot (all zeros: unlabelled);
	// hy, hm [B,N] health labels and their mask.
	e.step, err = context.NewExec(backend, e.ctx, func(ctx *context.Context, in []*G.Node) []*G.Node {
		x, mask, y, hy, hm := in[0], in[1], in[2], in[3], in[4]
		g := x.Graph()
		o := forward(x, mask)
		one := G.ScalarOne(g, dtypes.Float32)
		ce := G.ScalarZero(g, dtypes.Float32)
		for i, t := range m.Targets {
			yt := G.Slice(y, G.AxisRange(), G.AxisRange(e.offset[i], e.offset[i]+t.Classes))
			logp := G.LogSoftmax(o.Logits[i], -1)
			cw := G.Reshape(G.Const(g, lw.classW[i]), 1, t.Classes)
			sw := G.ReduceSum(G.Mul(yt, cw), -1) // [B] weight of each sample's class
			ys := yt
			if lw.smooth > 0 { // (1-ε)·y + ε/C on labelled rows (sw > 0 marks them below)
				lab := G.ReduceAndKeep(yt, G.ReduceSum, -1) // [B,1]: 1 labelled, 0 not
				ys = G.Add(G.MulScalar(yt, 1-lw.smooth), G.MulScalar(lab, lw.smooth/float64(t.Classes)))
			}
			nll := G.Neg(G.ReduceSum(G.Mul(ys, logp), -1)) // [B]
			lt := G.Div(G.ReduceAllSum(G.Mul(sw, nll)), G.Max(G.ReduceAllSum(sw), G.Scalar(g, dtypes.Float32, 1e-6)))
			if tw := lw.targetW[i]; tw != 1 {
				lt = G.MulScalar(lt, tw)
			}
			ce = G.Add(ce, lt)
		}
		dh := G.Mul(G.Sub(o.Health, hy), hm)
		hl := G.Div(G.ReduceAllSum(G.Mul(dh, dh)), G.Max(G.ReduceAllSum(hm), one))
		dr := G.Mul(G.Sub(o.Recon, x), mask)
		rl := G.Div(G.ReduceAllSum(G.Mul(dr, dr)), G.Max(G.ReduceAllSum(mask), one))
		loss := G.Add(ce, G.Add(G.MulScalar(hl, lw.health), G.MulScalar(rl, lw.recon)))
		opt.UpdateGraph(ctx, g, loss)
		return []*G.Node{loss, ce, hl, rl}
	})
	if err != nil {
		return nil, err
	}
	e.eval, err = context.NewExec(backend, e.ctx, func(ctx *context.Context, x, mask *G.Node) []*G.Node {
		o := forward(x, mask)
		outs := []*G.Node{o.Health, o.Anomaly}
		for _, l := range o.Logits {
			outs = append(outs, G.Softmax(l, -1))
		}
		return outs
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// setLR sets the learning rate of the next steps.
func (e *engine) setLR(lr float64) error {
	return e.lrVar.SetValue(tensors.FromScalar(float32(lr)))
}

// stepLosses are the loss terms of one step.
type stepLosses struct{ total, ce, health, recon float64 }

// trainStep runs one Adam step on a batch (flat arrays of exactly B rows).
func (e *engine) trainStep(x, mask, y, hy, hm []float32) (l stepLosses, err error) {
	defer catch(&err)
	m := e.model
	B := e.B
	outs, err := e.step.Exec(
		tensors.FromFlatDataAndDimensions(x, B, m.Sensors, m.Steps),
		tensors.FromFlatDataAndDimensions(mask, B, m.Sensors, m.Steps),
		tensors.FromFlatDataAndDimensions(y, B, e.sumC),
		tensors.FromFlatDataAndDimensions(hy, B, m.Nodes),
		tensors.FromFlatDataAndDimensions(hm, B, m.Nodes),
	)
	if err != nil {
		return l, err
	}
	vals := make([]float64, len(outs))
	for i, t := range outs {
		vals[i] = float64(tensors.ToScalar[float32](t))
		t.FinalizeAll()
	}
	return stepLosses{vals[0], vals[1], vals[2], vals[3]}, nil
}

// prediction is the model output for n windows.
type prediction struct {
	health  []float32   // [n, N]
	anomaly []float32   // [n, S]
	probs   [][]float32 // per target [n, C]
}

// predict runs the eval graph over n windows of x/mask in batches of B
// (the last batch padded with empty windows). It checks ctx before each
// batch and returns ctx's error once ctx ends.
func (e *engine) predict(ctx stdcontext.Context, x, mask []float32, n int) (p *prediction, err error) {
	defer catch(&err)
	m := e.model
	ST := m.Sensors * m.Steps
	p = &prediction{probs: make([][]float32, len(m.Targets))}
	bx := make([]float32, e.B*ST)
	bm := make([]float32, e.B*ST)
	for start := 0; start < n; start += e.B {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := min(e.B, n-start)
		clear(bx)
		clear(bm)
		copy(bx, x[start*ST:(start+k)*ST])
		copy(bm, mask[start*ST:(start+k)*ST])
		outs, err := e.eval.Exec(
			tensors.FromFlatDataAndDimensions(bx, e.B, m.Sensors, m.Steps),
			tensors.FromFlatDataAndDimensions(bm, e.B, m.Sensors, m.Steps))
		if err != nil {
			return nil, err
		}
		get := func(i, width int) []float32 {
			v, err := tensors.CopyFlatData[float32](outs[i])
			if err != nil {
				panic(err)
			}
			return v[:k*width]
		}
		p.health = append(p.health, get(0, m.Nodes)...)
		p.anomaly = append(p.anomaly, get(1, m.Sensors)...)
		for i, t := range m.Targets {
			p.probs[i] = append(p.probs[i], get(2+i, t.Classes)...)
		}
		for _, t := range outs {
			t.FinalizeAll()
		}
	}
	return p, nil
}

// weights copies the current variable values out.
func (e *engine) weights() (w gnn.Weights, err error) {
	defer catch(&err)
	for i, p := range e.model.Params() {
		t, err := e.vars[i].Value()
		if err != nil {
			return nil, err
		}
		data, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, err
		}
		w = append(w, gnn.Tensor{Name: p.Name, Shape: append([]int(nil), p.Shape...), Data: data})
	}
	return w, nil
}

// close releases the compiled graphs.
func (e *engine) close() {
	if e.step != nil {
		e.step.Finalize()
	}
	if e.eval != nil {
		e.eval.Finalize()
	}
}

// setWeights loads w into the variables.
func (e *engine) setWeights(w gnn.Weights) (err error) {
	defer catch(&err)
	if err := w.Check(e.model); err != nil {
		return err
	}
	for i, t := range w {
		if err := e.vars[i].SetValue(tensors.FromFlatDataAndDimensions(append([]float32(nil), t.Data...), t.Shape...)); err != nil {
			return err
		}
	}
	return nil
}
