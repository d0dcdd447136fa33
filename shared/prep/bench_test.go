package prep

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// benchWindow returns the ZeMA-like spec (17 sensors: 7 at 100 Hz, 2 at
// 10 Hz, 8 at 1 Hz; 1 Hz grid, T=60) and one window of readings at the
// sensors' own rates with timestamp jitter, sorted by time as the agent's
// buffer returns them (43 680 readings).
func benchWindow(tb testing.TB) (Spec, []reading.Reading) {
	spec, err := SpecFromConfig(zemaConfig(), 1, 60)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var rs []reading.Reading
	for _, ss := range spec.Sensors {
		period := 1e9 / ss.RateHz
		for i := range int(ss.RateHz * 60) {
			jitter := time.Duration(rng.Float64() * period * 0.1)
			rs = append(rs, reading.Reading{Sensor: ss.ID, Time: t0.Add(cellStart(ss.RateHz, i) + jitter),
				Value: 100 + rng.NormFloat64(), Seq: uint64(i + 1)})
		}
	}
	slices.SortStableFunc(rs, func(a, b reading.Reading) int { return a.Time.Compare(b.Time) })
	return spec, rs
}

func BenchmarkResample(b *testing.B) {
	spec, rs := benchWindow(b)
	grouped := slices.Clone(rs)
	slices.SortStableFunc(grouped, func(a, b reading.Reading) int { return spec.Index(a.Sensor) - spec.Index(b.Sensor) })
	run := func(b *testing.B, rs []reading.Reading) {
		r, err := NewResampler(spec)
		if err != nil {
			b.Fatal(err)
		}
		r.Resample(t0, rs) // warm-up
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			w := r.Resample(t0, rs)
			if w.Counts.Used != len(rs) {
				b.Fatalf("used %d of %d", w.Counts.Used, len(rs))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(rs)), "ns/reading")
	}
	b.Run("resampler/time-ordered", func(b *testing.B) { run(b, rs) })
	b.Run("resampler/sensor-grouped", func(b *testing.B) { run(b, grouped) })
	b.Run("one-shot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Resample(spec, t0, rs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFromGrid(b *testing.B) {
	spec, _ := benchWindow(b)
	grid := make([][]float64, len(spec.Sensors))
	for s := range grid {
		grid[s] = make([]float64, spec.Steps)
		for t := range grid[s] {
			grid[s][t] = float64(t)
		}
		grid[s][s] = math.NaN()
	}
	r, err := NewResampler(spec)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.FromGrid(grid); err != nil {
			b.Fatal(err)
		}
	}
}
