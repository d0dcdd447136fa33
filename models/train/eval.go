package train

import (
	"context"
	"fmt"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Predictions are a model's outputs for the windows of a Dataset.
type Predictions struct {
	// N windows; Health [N, nodes], Anomaly [N, sensors], Probs per
	// target [N, classes], flat row-major.
	N       int
	Health  []float32
	Anomaly []float32
	Probs   [][]float32
	// Class is, per window and target, the most probable class index.
	Class [][]int
}

// Predict runs a trained model (weights w, input spec with stats) over ds
// on the GoMLX backend named by backendName (gnn.NewBackend), in batches
// of batch windows (0: 32). Preprocessing is prep.FromGrid with spec.
func Predict(cfg *rig.Config, m *gnn.Model, w gnn.Weights, spec prep.Spec, ds *Dataset, backendName string, batch int) (*Predictions, error) {
	return PredictContext(context.Background(), cfg, m, w, spec, ds, backendName, batch)
}

// PredictContext is Predict stopped by ctx: it checks ctx before the
// model is compiled and before each batch, and returns ctx's error once
// ctx ends.
func PredictContext(ctx context.Context, cfg *rig.Config, m *gnn.Model, w gnn.Weights, spec prep.Spec, ds *Dataset, backendName string, batch int) (*Predictions, error) {
	if batch == 0 {
		batch = 32
	}
	if err := checkCompatible(cfg, spec); err != nil {
		return nil, err
	}
	if spec.Steps != m.Steps {
		return nil, fmt.Errorf("%w: spec has %d steps, the model %d", ErrData, spec.Steps, m.Steps)
	}
	t, err := Tensorize(ds, spec)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	backend, err := gnn.NewBackend(backendName)
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	lw := lossWeights{classW: classWeights(cfg, nil, false)}
	eng, err := newEngine(backend, m, w, batch, lw, 0, 0)
	if err != nil {
		return nil, err
	}
	defer eng.close()
	p, err := eng.predict(ctx, t.X, t.Mask, t.N)
	if err != nil {
		return nil, err
	}
	out := &Predictions{N: t.N, Health: p.health, Anomaly: p.anomaly, Probs: p.probs, Class: make([][]int, t.N)}
	for i := range t.N {
		out.Class[i] = make([]int, len(m.Targets))
		for j, tg := range m.Targets {
			out.Class[i][j] = argmax(p.probs[j][i*tg.Classes : (i+1)*tg.Classes])
		}
	}
	return out, nil
}

// Evaluate scores a trained model on ds's labels (see Predict).
func Evaluate(cfg *rig.Config, m *gnn.Model, w gnn.Weights, spec prep.Spec, ds *Dataset, backendName string) (*Metrics, error) {
	p, err := Predict(cfg, m, w, spec, ds, backendName, 0)
	if err != nil {
		return nil, err
	}
	met := score(cfg, ds.Labels, &prediction{probs: p.Probs, health: p.Health})
	return &met, nil
}
