package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// augmenter copies training windows into a batch, shifted in time, with
// noise on the observed cells and with whole sensors masked
// (Options.Shift, Options.Noise, Options.SensorDropout). With none it is
// a plain copy and draws no random numbers. Dropout draws from a stream
// of its own (drop), so that turning it on or off leaves the shifts and
// the noise of a seed as they were.
type augmenter struct {
	shift int
	noise float64
	S, T  int
	rng   *rand.Rand

	dropRows []int   // sensor rows that may be masked whole
	dropP    float64 // probability per window and row
	drop     *rand.Rand
}

func newAugmenter(shift int, noise float64, S, T int, rng *rand.Rand) *augmenter {
	return &augmenter{shift: shift, noise: noise, S: S, T: T, rng: rng}
}

// withDropout sets whole-sensor dropout: in every window, each of rows
// is masked whole (value and mask 0, as a sensor without data) with
// probability p, drawn from rng (one draw per row and window, whatever
// the window holds). No rows or p <= 0: off.
func (a *augmenter) withDropout(rows []int, p float64, rng *rand.Rand) *augmenter {
	if len(rows) > 0 && p > 0 {
		a.dropRows, a.dropP, a.drop = rows, p, rng
	}
	return a
}

// dropoutRows returns the rows (spec order) and ids of the input sensors
// of spec that cfg marks may_drop_out, or none when p is not positive
// (Options.SensorDropout off).
func dropoutRows(cfg *rig.Config, spec prep.Spec, p float64) ([]int, []string) {
	if !(p > 0) {
		return nil, nil
	}
	var rows []int
	var ids []string
	for s, ss := range spec.Sensors {
		if rs := cfg.Sensor(ss.ID); rs != nil && rs.MayDropOut {
			rows, ids = append(rows, s), append(ids, ss.ID)
		}
	}
	return rows, ids
}

// window writes the window x, mask ([S,T] sensor-major) into dx, dm.
// A shift by d moves cell t to t+d; the cells left empty repeat the edge
// cell (value and mask alike). Noise then goes on the observed cells,
// and dropout last masks whole sensors (so that the noise drawn does not
// depend on it).
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
	for _, s := range a.dropRows {
		if a.drop.Float64() < a.dropP {
			clear(dx[s*a.T : (s+1)*a.T])
			clear(dm[s*a.T : (s+1)*a.T])
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
