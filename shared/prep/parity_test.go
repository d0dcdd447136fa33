package prep

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// parityCase builds a random spec and grid, and readings that put each
// observed grid value at its cell start, shuffled and mixed with readings
// that must be ignored (bad, uncertain, NaN, unknown sensor, out of window).
func parityCase(seed uint64, gridSel, steps, hold, missPct uint8) (Spec, [][]float64, []reading.Reading) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	grids := []float64{1, 10, 3, 0.5, 7, 100, 1.0 / 3}
	spec := Spec{
		Rules:        Rules,
		GridHz:       grids[int(gridSel)%len(grids)],
		Steps:        MinSteps + int(steps)%(121-MinSteps), // 2..120
		Alignment:    AlignSliding,
		StrideSteps:  1,
		MaxHoldSteps: int(hold) % 6,
	}
	S := 1 + rng.IntN(6)
	for s := range S {
		ss := SensorSpec{ID: string(rune('a' + s)), RateHz: 1, Mean: rng.NormFloat64() * 100, Std: 0.01 + rng.ExpFloat64()*10}
		if rng.IntN(3) == 0 {
			ss.MaxHoldSteps = intp(rng.IntN(10))
		}
		spec.Sensors = append(spec.Sensors, ss)
	}
	miss := float64(missPct%101) / 100
	grid := make([][]float64, S)
	var rs []reading.Reading
	for s := range S {
		grid[s] = make([]float64, spec.Steps)
		id := spec.Sensors[s].ID
		for k := range spec.Steps {
			at := t0.Add(spec.CellStart(k))
			if rng.Float64() < miss {
				grid[s][k] = math.NaN()
			} else {
				// Values of varied magnitude, including exact decimals as in UCI files.
				v := math.Round(rng.NormFloat64()*1e6) / math.Pow(10, float64(rng.IntN(8)))
				grid[s][k] = v
				rs = append(rs, reading.Reading{Sensor: id, Time: at, Value: v})
			}
			// Noise that must change nothing.
			switch rng.IntN(8) {
			case 0:
				rs = append(rs, reading.Reading{Sensor: id, Time: at, Value: rng.NormFloat64(), Quality: reading.Bad})
			case 1:
				rs = append(rs, reading.Reading{Sensor: id, Time: at, Value: rng.NormFloat64(), Quality: reading.Uncertain})
			case 2:
				rs = append(rs, reading.Reading{Sensor: id, Time: at, Value: math.NaN()})
			case 3:
				rs = append(rs, reading.Reading{Sensor: "zz", Time: at, Value: 1})
			case 4:
				rs = append(rs, reading.Reading{Sensor: id, Time: t0.Add(-time.Nanosecond), Value: 1})
			case 5:
				rs = append(rs, reading.Reading{Sensor: id, Time: t0.Add(spec.Duration()), Value: 1})
			}
		}
	}
	rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	return spec, grid, rs
}

// checkParity is the training/inference parity guarantee: readings at the
// cell starts give exactly the Window that the grid gives.
func checkParity(t *testing.T, seed uint64, gridSel, steps, hold, missPct uint8) {
	spec, grid, rs := parityCase(seed, gridSel, steps, hold, missPct)
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := NewResampler(spec)
	if err != nil {
		t.Fatal(err)
	}
	// Dirty the resampler first so that reuse is part of the property.
	r.Resample(t0, rs[:len(rs)/2])
	fromReadings := r.Resample(t0, rs).Clone()
	fromGrid, err := FromGrid(spec, grid)
	if err != nil {
		t.Fatal(err)
	}
	sameModelInput(t, fromReadings, fromGrid)
	if fromReadings.Counts.total() != len(rs) {
		t.Fatalf("Counts %+v do not sum to %d", fromReadings.Counts, len(rs))
	}
	again, err := r.FromGrid(grid)
	if err != nil {
		t.Fatal(err)
	}
	sameModelInput(t, again, fromGrid)
}

func TestResampleEqualsFromGrid(t *testing.T) {
	for seed := range uint64(300) {
		checkParity(t, seed, uint8(seed), uint8(seed*7), uint8(seed/3), uint8(seed*13))
	}
}

func FuzzResampleEqualsFromGrid(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint8(59), uint8(1), uint8(10))
	f.Add(uint64(2), uint8(2), uint8(7), uint8(0), uint8(90))
	f.Add(uint64(3), uint8(6), uint8(119), uint8(5), uint8(0))
	f.Add(uint64(4), uint8(3), uint8(0), uint8(2), uint8(100))
	f.Fuzz(checkParity)
}

// TestNativeRateParity: a row at a sensor's own rate, as readings at
// i/RateHz in time order, resamples exactly like FromGrid of
// GridFromSamples of the row: simulated native-rate data and the UCI 1 Hz
// copy are prepared alike.
func TestNativeRateParity(t *testing.T) {
	cfg := zemaConfig()
	spec, err := SpecFromConfig(cfg, 1, 60)
	if err != nil {
		t.Fatal(err)
	}
	// A 0.2 Hz sensor too, to exercise holds.
	spec.Sensors = append(spec.Sensors, SensorSpec{ID: "SLOW", RateHz: 0.2, Mean: 0, Std: 1, MaxHoldSteps: intp(5)})
	rng := rand.New(rand.NewPCG(7, 7))
	grid := make([][]float64, len(spec.Sensors))
	var rs []reading.Reading
	for s, ss := range spec.Sensors {
		n := int(ss.RateHz*60) - rng.IntN(3) // some rows end early
		row := make([]float64, n)
		for i := range row {
			row[i] = 100 + rng.NormFloat64()*30
			if rng.IntN(50) == 0 {
				row[i] = math.NaN() // a dropped sample
			}
			rs = append(rs, reading.Reading{Sensor: ss.ID, Time: t0.Add(cellStart(ss.RateHz, i)), Value: row[i]})
		}
		if grid[s], err = GridFromSamples(ss.RateHz, row, spec.GridHz, spec.Steps); err != nil {
			t.Fatal(err)
		}
	}
	w1, err := Resample(spec, t0, rs)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := FromGrid(spec, grid)
	if err != nil {
		t.Fatal(err)
	}
	sameModelInput(t, w1, w2)
	if len(w1.Stale) == 0 {
		t.Error("expected some stale sensors from the shortened rows")
	}
}
