package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// augmenter copies training windows into a batch, shifted in time and
// with noise on the observed cells (Options.Shift, Options.Noise). With
// neither it is a plain copy and draws no random numbers.
type augmenter struct {
	shift int
	noise float64
	S, T  int
	rng   *rand.Rand
}

func newAugmenter(shift int, noise float64, S, T int, rng *rand.Rand) *augmenter {
	return &augmenter{shift: shift, noise: noise, S: S, T: T, rng: rng}
}

// window writes the window x, mask ([S,T] sensor-major) into dx, dm.
// A shift by d moves cell t to t+d; the cells left empty repeat the edge
// cell (value and mask alike).
func (a *augmenter) window(dx, dm, x, mask []float32) {
	d := 0
	if a.shift > 0 {
		d = a.rng.IntN(2*a.shift+1) - a.shift
	}
	if d == 0 {
		copy(dx, x)
		copy(dm, mask)
	} else {
		T := a.T
		for s := range a.S {
			row := s * T
			for t := range T {
				src := min(max(t-d, 0), T-1)
				dx[row+t] = x[row+src]
				dm[row+t] = mask[row+src]
			}
		}
	}
	if a.noise > 0 {
		for i, m := range dm {
			if m > 0 {
				dx[i] += float32(a.noise * a.rng.NormFloat64())
			}
		}
	}
}

// swaAverage is the equal-weight mean of the weights it is given
// (Options.SWA).
type swaAverage struct {
	sum gnn.Weights
	n   int
}

func (s *swaAverage) add(w gnn.Weights) {
	s.n++
	if s.sum == nil {
		s.sum = w.Clone()
		return
	}
	for i := range s.sum {
		for j, v := range w[i].Data {
			s.sum[i].Data[j] += v
		}
	}
}

func (s *swaAverage) mean() gnn.Weights {
	out := s.sum.Clone()
	for i := range out {
		for j := range out[i].Data {
			out[i].Data[j] /= float32(s.n)
		}
	}
	return out
}

// targetWeights resolves Options.TargetWeights into one multiplier per
// target of cfg (1 where not named); unknown names and weights that are
// not positive are errors.
func targetWeights(cfg *rig.Config, named map[string]float64) ([]float64, error) {
	out := make([]float64, len(cfg.Targets))
	idx := map[string]int{}
	for j, t := range cfg.Targets {
		out[j] = 1
		idx[t.Name] = j
	}
	for name, w := range named {
		j, ok := idx[name]
		if !ok {
			return nil, fmt.Errorf("%w: Options.TargetWeights: rig %q has no target %q", ErrData, cfg.RigType, name)
		}
		if !(w > 0) {
			return nil, fmt.Errorf("%w: Options.TargetWeights[%q] = %v: want > 0", ErrData, name, w)
		}
		out[j] = w
	}
	return out, nil
}
