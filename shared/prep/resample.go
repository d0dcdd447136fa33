package prep

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// ErrShape is returned (wrapped) when grid data does not have the shape a
// Spec or StatsAccumulator expects.
var ErrShape = errors.New("prep: shape does not match spec")

// Counts classifies every reading passed to a Resampler for one window.
// Each reading lands in exactly one field, checked in field order, so
// the fields sum to the number of readings.
type Counts struct {
	// Unknown readings name a sensor that is not in the spec (inactive or
	// not configured).
	Unknown int
	// OutOfWindow readings lie before the window's start or at or after
	// its end.
	OutOfWindow int
	// Bad readings have quality reading.Bad or an unknown quality code.
	Bad int
	// Uncertain readings have quality reading.Uncertain; they are not used
	// (only Good samples enter a cell).
	Uncertain int
	// Invalid readings have a NaN or infinite value; they are treated as
	// missing samples.
	Invalid int
	// Used readings went into a grid cell.
	Used int
}

// Window is one prepared model input: S sensors (the spec's order) by T
// grid cells, flat and sensor-major: cell (s, t) is at index s*Steps + t.
//
// A Window returned by a Resampler belongs to it and is overwritten by its
// next call; Clone it to keep it. A Window returned by the package-level
// Resample or FromGrid belongs to the caller.
type Window struct {
	// Start is the time of the window's first cell (zero for FromGrid).
	Start time.Time
	// Steps is T, the number of grid cells per sensor.
	Steps int
	// Values are the normalised values (x-Mean)/Std as float32, 0 (the
	// normalised mean) where the cell is missing.
	Values []float32
	// Mask is 1 where the cell has a value (observed or held) and 0 where
	// it is missing. Models take it as an input; never read Values
	// without it.
	Mask []float32
	// Raw are the un-normalised grid values in the sensor's unit (observed
	// or held), NaN where missing: for explanations and statistics.
	Raw []float64
	// Observed is, per sensor, the number of cells with at least one
	// usable sample (for FromGrid: a finite value); the other present
	// cells are held.
	Observed []int
	// Coverage is, per sensor, the fraction of cells with Mask 1.
	Coverage []float64
	// Missing lists the sensors with no value in any cell (Coverage 0).
	Missing []string
	// Stale lists the sensors with some but not all cells missing
	// (0 < Coverage < 1). Diagnoses should flag Missing and Stale sensors
	// rather than trust the zero-filled cells silently.
	Stale []string
	// Counts classifies the readings given (zero for FromGrid).
	Counts Counts
}

// Clone returns a deep copy of w that the caller owns.
func (w *Window) Clone() *Window {
	c := *w
	c.Values = slices.Clone(w.Values)
	c.Mask = slices.Clone(w.Mask)
	c.Raw = slices.Clone(w.Raw)
	c.Observed = slices.Clone(w.Observed)
	c.Coverage = slices.Clone(w.Coverage)
	c.Missing = slices.Clone(w.Missing)
	c.Stale = slices.Clone(w.Stale)
	return &c
}

// grid maps offsets from a window's start to cell indices with the exact
// nanosecond boundaries of Spec.CellStart.
type grid struct {
	bounds    []int64 // bounds[k] = CellStart(k), len steps+1
	cellsPerN float64 // gridHz / 1e9
}

func newGrid(gridHz float64, steps int) grid {
	g := grid{bounds: make([]int64, steps+1), cellsPerN: gridHz / 1e9}
	for k := range g.bounds {
		g.bounds[k] = int64(cellStart(gridHz, k))
	}
	return g
}

// cell returns the cell containing offset d (ns), or -1 when d is outside
// [0, length).
func (g grid) cell(d int64) int {
	last := len(g.bounds) - 1
	if d < 0 || d >= g.bounds[last] {
		return -1
	}
	k := min(int(float64(d)*g.cellsPerN), last-1)
	for k+1 < last && g.bounds[k+1] <= d {
		k++
	}
	for g.bounds[k] > d {
		k--
	}
	return k
}

// Resampler prepares windows for one Spec with buffers allocated once:
// after the first window it allocates nothing per window. Use it on hot
// paths (the agent); Resample and FromGrid are one-shot conveniences.
//
// A Resampler is not safe for concurrent use; use one per goroutine.
type Resampler struct {
	spec Spec
	ids  idTable
	grid grid
	hold []int
	maxS int64 // window length in whole seconds, plus margin

	start     time.Time
	startSec  int64
	startNsec int64
	sum       []float64
	n         []int32
	lastID    string
	lastIdx   int
	w         Window
}

// NewResampler validates spec and returns a Resampler for it. The spec is
// copied; later changes to the caller's spec do not affect it.
func NewResampler(spec Spec) (*Resampler, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec = spec.clone()
	S, T := len(spec.Sensors), spec.Steps
	r := &Resampler{
		spec:    spec,
		grid:    newGrid(spec.GridHz, T),
		hold:    make([]int, S),
		sum:     make([]float64, S*T),
		n:       make([]int32, S*T),
		lastIdx: -1,
		w: Window{
			Steps:    T,
			Values:   make([]float32, S*T),
			Mask:     make([]float32, S*T),
			Raw:      make([]float64, S*T),
			Observed: make([]int, S),
			Coverage: make([]float64, S),
			Missing:  make([]string, 0, S),
			Stale:    make([]string, 0, S),
		},
	}
	ids := make([]string, S)
	for i, ss := range spec.Sensors {
		ids[i] = ss.ID
		r.hold[i] = ss.holdSteps(spec.MaxHoldSteps)
	}
	r.ids = newIDTable(ids)
	r.maxS = int64(spec.Duration()/time.Second) + 2
	return r, nil
}

// Spec returns a copy of the Resampler's spec.
func (r *Resampler) Spec() Spec { return r.spec.clone() }

// Reset starts a new window at start, discarding readings added so far.
func (r *Resampler) Reset(start time.Time) {
	r.start = start
	r.startSec, r.startNsec = start.Unix(), int64(start.Nanosecond())
	clear(r.sum)
	clear(r.n)
	r.w.Counts = Counts{}
}

// Add adds readings to the current window (see Reset). Readings may come
// in any order and in any number of calls; each is classified in Counts.
// A Good, finite reading of a spec sensor inside the window adds its value
// to the sum of its cell; a sample exactly on a cell boundary belongs to
// the later cell. Times are compared on the wall clock (a monotonic clock
// reading in a time.Time is ignored). Add does not keep rs.
func (r *Resampler) Add(rs []reading.Reading) {
	c := &r.w.Counts
	for i := range rs {
		rd := &rs[i]
		s := r.lastIdx
		if s < 0 || rd.Sensor != r.lastID {
			if s = r.ids.get(rd.Sensor); s < 0 {
				c.Unknown++
				continue
			}
			r.lastID, r.lastIdx = rd.Sensor, s
		}
		k := r.grid.cell(wallOffset(rd.Time, r.startSec, r.startNsec, r.maxS))
		switch {
		case k < 0:
			c.OutOfWindow++
		case rd.Quality == reading.Uncertain:
			c.Uncertain++
		case rd.Quality != reading.Good:
			c.Bad++
		case math.IsNaN(rd.Value) || math.IsInf(rd.Value, 0):
			c.Invalid++
		default:
			c.Used++
			j := s*r.spec.Steps + k
			r.sum[j] += rd.Value
			r.n[j]++
		}
	}
}

// Finish completes the current window: each cell takes the mean of its
// samples (a mean that overflows to ±Inf makes the cell missing), empty
// cells are held or marked missing, and values are normalised. The Window belongs to r until its next Reset, Resample or
// FromGrid.
func (r *Resampler) Finish() *Window {
	T := r.spec.Steps
	clear(r.w.Observed)
	for j, n := range r.n {
		// A sum of huge values can overflow to ±Inf (or NaN when both
		// signs overflow): such a cell is missing, as a non-finite cell
		// of FromGrid is.
		if m := r.sum[j] / float64(n); n > 0 && !math.IsNaN(m) && !math.IsInf(m, 0) {
			r.w.Raw[j] = m
			r.w.Observed[j/T]++
		} else {
			r.w.Raw[j] = math.NaN()
		}
	}
	r.w.Start = r.start
	r.finish()
	return &r.w
}

// Resample prepares the window starting at start from rs: Reset, Add and
// Finish in one call. The Window belongs to r (see Finish).
func (r *Resampler) Resample(start time.Time, rs []reading.Reading) *Window {
	r.Reset(start)
	r.Add(rs)
	return r.Finish()
}

// FromGrid prepares a window from data already on the spec's grid:
// grid[s][t] is sensor s (spec order) in cell t; NaN or ±Inf is a missing
// cell. Holding and normalisation are exactly those of Finish, so the
// result equals Resample of readings placed at the cell starts. The
// Window belongs to r (see Finish); its Start is zero.
func (r *Resampler) FromGrid(grid [][]float64) (*Window, error) {
	S, T := len(r.spec.Sensors), r.spec.Steps
	if len(grid) != S {
		return nil, fmt.Errorf("%w: grid has %d sensor rows, spec has %d sensors", ErrShape, len(grid), S)
	}
	for s, row := range grid {
		if len(row) != T {
			return nil, fmt.Errorf("%w: grid row %d (%q) has %d cells, spec has %d steps",
				ErrShape, s, r.spec.Sensors[s].ID, len(row), T)
		}
	}
	r.Reset(time.Time{})
	for s, row := range grid {
		obs := 0
		for t, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = math.NaN()
			} else {
				obs++
			}
			r.w.Raw[s*T+t] = v
		}
		r.w.Observed[s] = obs
	}
	r.w.Start = time.Time{}
	r.finish()
	return &r.w, nil
}

// finish applies hold, normalisation, mask and coverage to r.w.Raw, which
// holds each observed cell's value and NaN elsewhere. Both the readings
// path and the grid path end here, which is what makes them equal.
func (r *Resampler) finish() {
	T := r.spec.Steps
	w := &r.w
	w.Missing, w.Stale = w.Missing[:0], w.Stale[:0]
	for s, ss := range r.spec.Sensors {
		row := w.Raw[s*T : (s+1)*T]
		vals := w.Values[s*T : (s+1)*T]
		mask := w.Mask[s*T : (s+1)*T]
		hold := r.hold[s]
		last, lastV := -1, 0.0
		present := 0
		for t, x := range row {
			if !math.IsNaN(x) && math.IsInf(float64(float32((x-ss.Mean)/ss.Std)), 0) {
				// Finite, but beyond float32 once normalised (a sensor
				// without a range, whose values the spec does not bound):
				// missing, as a cell whose mean is not finite is, never
				// ±Inf with mask 1.
				x = math.NaN()
				row[t] = x
				w.Observed[s]--
			}
			if !math.IsNaN(x) {
				last, lastV = t, x
			} else if last >= 0 && t-last <= hold {
				x = lastV
				row[t] = x
			} else {
				vals[t], mask[t] = 0, 0
				continue
			}
			vals[t], mask[t] = float32((x-ss.Mean)/ss.Std), 1
			present++
		}
		w.Coverage[s] = float64(present) / float64(T)
		switch {
		case present == 0:
			w.Missing = append(w.Missing, ss.ID)
		case present < T:
			w.Stale = append(w.Stale, ss.ID)
		}
	}
}

// Resample prepares one window of spec starting at start from rs, with
// the rules of Resampler; the Window belongs to the caller.
func Resample(spec Spec, start time.Time, rs []reading.Reading) (*Window, error) {
	r, err := NewResampler(spec)
	if err != nil {
		return nil, err
	}
	return r.Resample(start, rs), nil
}

// FromGrid prepares one window of spec from grid data ([sensor][t], NaN
// missing) with the rules of Resampler.FromGrid; the Window belongs to the
// caller.
func FromGrid(spec Spec, grid [][]float64) (*Window, error) {
	r, err := NewResampler(spec)
	if err != nil {
		return nil, err
	}
	return r.FromGrid(grid)
}

// GridFromSamples brings one sensor's row sampled at its own rate onto
// the grid with the rule Resample applies to readings: sample i is at
// i/rateHz seconds (rounded to the nanosecond) from the window's start,
// and cell k is the mean of the finite samples in it, NaN when it has
// none. Samples beyond the window are ignored. For example a 10 Hz row of
// 600 values gives 60 cells of 1 Hz, each the mean of 10 samples, exactly
// as the UCI 1 Hz copy was made. Feed the rows to FromGrid, which applies
// the hold.
func GridFromSamples(rateHz float64, values []float64, gridHz float64, steps int) ([]float64, error) {
	if !(rateHz > 0) || math.IsInf(rateHz, 0) {
		return nil, fmt.Errorf("prep: rate_hz must be finite and > 0, got %v", rateHz)
	}
	if !(gridHz > 0 && gridHz <= MaxGridHz) {
		return nil, fmt.Errorf("prep: grid_hz must be in (0, %g], got %v", MaxGridHz, gridHz)
	}
	if steps < 1 || steps > MaxCells || float64(steps)/gridHz > MaxWindowS {
		return nil, fmt.Errorf("prep: steps must be in [1, %d] and last at most %g s, got %d at %v Hz",
			MaxCells, MaxWindowS, steps, gridHz)
	}
	g := newGrid(gridHz, steps)
	end := float64(g.bounds[steps])
	sum := make([]float64, steps)
	n := make([]int, steps)
	for i, v := range values {
		if float64(i)*1e9/rateHz >= end {
			break // past the window; later samples are too
		}
		k := g.cell(int64(cellStart(rateHz, i)))
		if k < 0 {
			break // rounded onto the window's end
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		sum[k] += v
		n[k]++
	}
	for k := range sum {
		if n[k] == 0 {
			sum[k] = math.NaN()
		} else {
			sum[k] /= float64(n[k])
		}
	}
	return sum, nil
}
