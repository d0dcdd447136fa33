package train

import "github.com/hydrognn/hydrognn/models/gnn"

// averager keeps an exponential moving average of the weights over the
// training steps (Options.EMA). A decay outside (0, 1) turns it off: every
// method is then a no-op and the engine's own weights are used.
type averager struct {
	decay float64
	w     gnn.Weights
}

func newAverager(decay float64) *averager {
	if decay <= 0 || decay >= 1 {
		decay = 0
	}
	return &averager{decay: decay}
}

// update folds the engine's weights after step t (1-based) into the
// average, with the warm-up decay min(decay, (1+t)/(10+t)).
func (a *averager) update(e *engine, t int) error {
	if a.decay == 0 {
		return nil
	}
	w, err := e.weights()
	if err != nil {
		return err
	}
	a.fold(w, t)
	return nil
}

// fold folds w, the weights after step t, into the average.
func (a *averager) fold(w gnn.Weights, t int) {
	if a.w == nil {
		a.w = w.Clone()
		return
	}
	d := float32(min(a.decay, float64(1+t)/float64(10+t)))
	for i := range a.w {
		dst, src := a.w[i].Data, w[i].Data
		for j := range dst {
			dst[j] = d*dst[j] + (1-d)*src[j]
		}
	}
}

// swapIn loads the averaged weights into the engine and returns the
// function that puts the training weights back.
func (a *averager) swapIn(e *engine) (restore func() error, err error) {
	if a.decay == 0 || a.w == nil {
		return func() error { return nil }, nil
	}
	cur, err := e.weights()
	if err != nil {
		return nil, err
	}
	if err := e.setWeights(a.w); err != nil {
		return nil, err
	}
	return func() error { return e.setWeights(cur) }, nil
}

// current is the averaged weights when averaging, else the engine's.
func (a *averager) current(e *engine) (gnn.Weights, error) {
	if a.decay == 0 || a.w == nil {
		return e.weights()
	}
	return a.w.Clone(), nil
}
