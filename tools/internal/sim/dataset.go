package sim

import (
	"context"
	"fmt"
	"math"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// DatasetOptions configure Dataset.
type DatasetOptions struct {
	// Cycles is the number of cycles (or windows) to simulate (> 0).
	Cycles int
	// GridHz, when > 0, brings every sensor onto a grid of this rate by
	// block means (prep.GridFromSamples), like the 1 Hz copy of the UCI
	// data; 0 keeps each sensor at its own rate, like the original.
	GridHz float64
	// Progress, if set, is called after each cycle with the number done.
	Progress func(done, total int)
}

// Dataset simulates opts.Cycles cycles into a data set in the UCI layout:
// one matrix per sensor (named by rig.Sensor.UCIName, the sensor id, as
// train.LoadUCI reads them), the labels of each cycle as its profile
// (targets in config order; nil when the config has no targets) and the
// cycle numbers as CycleIDs.
//
// The layout has no missing values: a sample lost to a sensor_dropout fault
// is written as the sensor's last sample before it (sample and hold, as a
// logger on a fixed grid does), or, before the sensor's first sample in the
// data set (a dropout from its first cycle on), as that first sample
// (backfill). On a grid, a cell without samples (a sensor slower than the
// grid) holds the cell before it likewise. A sensor with no sample in any
// cycle is an error: there is nothing to hold.
//
// The whole set is held in memory: about 8 bytes per sample, so 350 kB per
// 60 s cycle of the ZeMA rig at its native rates, 8 kB at 1 Hz.
func (s *Sim) Dataset(ctx context.Context, opts DatasetOptions) (*uci.Set, error) {
	if opts.Cycles <= 0 {
		return nil, fmt.Errorf("dataset: cycles must be > 0, got %d", opts.Cycles)
	}
	if opts.GridHz < 0 || math.IsNaN(opts.GridHz) || math.IsInf(opts.GridHz, 0) {
		return nil, fmt.Errorf("dataset: grid rate %v Hz; want 0 (native rates) or more", opts.GridHz)
	}
	steps := 0
	if opts.GridHz > 0 {
		x := opts.GridHz * s.windowS
		steps = int(math.Round(x))
		if math.Abs(x-float64(steps)) > 1e-9 || steps < 1 {
			return nil, fmt.Errorf("dataset: a %v Hz grid does not divide the %v s cycle into whole cells", opts.GridHz, s.windowS)
		}
	}
	sensors := s.Sensors()
	set := &uci.Set{Cycles: opts.Cycles, Data: make([][][]float64, len(sensors)), CycleIDs: make([]int, 0, opts.Cycles)}
	for i, sn := range sensors {
		set.Sensors = append(set.Sensors, sn.UCIName())
		set.Data[i] = make([][]float64, 0, opts.Cycles)
	}
	if len(s.targets) > 0 {
		set.Profile = make([][]float64, 0, opts.Cycles)
	}
	// samples and cells carry each sensor's last sample and last grid
	// cell across cycles, so that what is held at a cycle's start is the
	// previous cycle's end.
	samples := make([]*holder, len(sensors))
	cells := make([]*holder, len(sensors))
	for i := range samples {
		samples[i], cells[i] = newHolder(), newHolder()
	}
	err := s.Cycles(ctx, opts.Cycles, func(c *Cycle) error {
		for i, row := range c.Samples {
			samples[i].hold(row)
			if steps > 0 {
				g, err := prep.GridFromSamples(sensors[i].RateHz, row, opts.GridHz, steps)
				if err != nil {
					return fmt.Errorf("dataset: sensor %s: %w", sensors[i].ID, err)
				}
				cells[i].hold(g)
				row = g
			}
			set.Data[i] = append(set.Data[i], row)
		}
		if set.Profile != nil {
			set.Profile = append(set.Profile, c.Labels)
		}
		set.CycleIDs = append(set.CycleIDs, c.Index)
		if opts.Progress != nil {
			opts.Progress(len(set.CycleIDs), opts.Cycles)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, h := range samples {
		if !h.done() || (steps > 0 && !cells[i].done()) {
			return nil, fmt.Errorf("dataset: sensor %s gave no sample in the %d cycles (a sensor_dropout over the whole run?): "+
				"the UCI layout cannot hold a missing value, and there is no sample to hold", sensors[i].ID, opts.Cycles)
		}
	}
	return set, nil
}

// holder is one sensor's sample and hold across the rows of a data set.
type holder struct {
	// last is the last finite value, NaN before the sensor's first.
	last float64
	// pending are the rows before the sensor's first finite value (all
	// NaN), filled with it when it comes.
	pending [][]float64
}

func newHolder() *holder { return &holder{last: math.NaN()} }

// hold replaces NaNs in row by the last finite value before them (carried
// across rows), or before the sensor's first finite value by that value:
// a row without any finite value before it is kept, and filled once a
// later row brings one (backfill). A sensor with no sample at all leaves
// rows pending (done reports it).
func (h *holder) hold(row []float64) {
	if math.IsNaN(h.last) {
		for _, v := range row {
			if !math.IsNaN(v) {
				h.last = v
				break
			}
		}
		if math.IsNaN(h.last) {
			h.pending = append(h.pending, row)
			return
		}
		for _, p := range h.pending {
			for j := range p {
				p[j] = h.last
			}
		}
		h.pending = nil
	}
	for j, v := range row {
		if math.IsNaN(v) {
			row[j] = h.last
		} else {
			h.last = v
		}
	}
}

// done is false when rows are still pending: the sensor gave no finite
// value in any of them.
func (h *holder) done() bool { return len(h.pending) == 0 }

// MeanProfile returns, for each sensor of set, the mean over all cycles of
// each second of the cycle (secs values per sensor): the per-second
// cycle-mean profile that docs/simulator.md compares between real and
// simulated data. Rows must hold a whole number of samples per second.
func MeanProfile(set *uci.Set, secs int) (map[string][]float64, error) {
	if secs <= 0 || set.Cycles == 0 {
		return nil, fmt.Errorf("profile: need cycles and seconds, got %d and %d", set.Cycles, secs)
	}
	out := make(map[string][]float64, len(set.Sensors))
	for i, id := range set.Sensors {
		w := set.Samples(i)
		if w%secs != 0 {
			return nil, fmt.Errorf("profile: sensor %s has %d samples per cycle, not a multiple of %d s", id, w, secs)
		}
		per := w / secs
		m := make([]float64, secs)
		for _, row := range set.Data[i] {
			for j, v := range row {
				m[j/per] += v
			}
		}
		for k := range m {
			m[k] /= float64(set.Cycles * per)
		}
		out[id] = m
	}
	return out, nil
}
