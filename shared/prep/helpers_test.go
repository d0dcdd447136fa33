package prep

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

var t0 = time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)

func intp(v int) *int { return &v }

// testSpec is a 1 Hz, 8-step spec of three sensors: A (10 Hz), B (1 Hz) and
// C (0.25 Hz, hold 4), with identity normalisation and a global hold of 1.
func testSpec() Spec {
	return Spec{
		Rules: Rules, GridHz: 1, Steps: 8, Alignment: AlignSliding, StrideSteps: 8, MaxHoldSteps: 1,
		Sensors: []SensorSpec{
			{ID: "A", Kind: rig.KindPressure, Unit: "bar", RateHz: 10, Range: rig.Range{Min: 0, Max: 200}, Mean: 0, Std: 1},
			{ID: "B", Kind: rig.KindTemperature, Unit: "C", RateHz: 1, Mean: 0, Std: 1},
			{ID: "C", RateHz: 0.25, Mean: 0, Std: 1, MaxHoldSteps: intp(4)},
		},
	}
}

// rd is a good reading of sensor id at t0 + sec seconds.
func rd(id string, sec, v float64) reading.Reading {
	return reading.Reading{Sensor: id, Time: t0.Add(time.Duration(math.Round(sec * 1e9))), Value: v}
}

func rdq(id string, sec, v float64, q reading.Quality) reading.Reading {
	r := rd(id, sec, v)
	r.Quality = q
	return r
}

// zemaConfig is a ZeMA-like rig config: 17 active sensors (7 at 100 Hz, 2 at
// 10 Hz, 8 at 1 Hz), one inactive sensor, 60 s cycles.
func zemaConfig() *rig.Config {
	cfg := &rig.Config{APIVersion: rig.APIVersion, RigType: "zema-testrig", Operation: rig.Operation{CycleS: 60}}
	add := func(id string, kind rig.SensorKind, unit string, rate, lo, hi float64) {
		cfg.Sensors = append(cfg.Sensors, rig.Sensor{ID: id, Kind: kind, Unit: unit, RateHz: rate,
			Range: rig.Range{Min: lo, Max: hi}, Component: "x"})
	}
	for _, id := range []string{"PS1", "PS2", "PS3", "PS4", "PS5", "PS6"} {
		add(id, rig.KindPressure, "bar", 100, 0, 200)
	}
	add("EPS1", rig.KindPower, "W", 100, 0, 4000)
	add("FS1", rig.KindFlow, "l/min", 10, 0, 20)
	add("FS2", rig.KindFlow, "l/min", 10, 0, 20)
	for _, id := range []string{"TS1", "TS2", "TS3", "TS4"} {
		add(id, rig.KindTemperature, "C", 1, -20, 120)
	}
	add("VS1", rig.KindVibration, "mm/s", 1, 0, 1)
	add("CE", rig.KindEfficiency, "%", 1, 0, 100)
	add("CP", rig.KindPower, "kW", 1, 0, 10)
	add("SE", rig.KindEfficiency, "%", 1, 0, 100)
	cfg.Sensors = append(cfg.Sensors, rig.Sensor{ID: "OFF", Kind: rig.KindPressure, Unit: "bar", RateHz: 1, Inactive: true})
	return cfg
}

// rawEqual compares float64 slices treating NaN as equal to NaN.
func rawEqual(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool {
		return x == y || (math.IsNaN(x) && math.IsNaN(y))
	})
}

// sameModelInput fails t unless a and b hold the same prepared data (every
// field but Start and Counts), bit for bit.
func sameModelInput(t testing.TB, a, b *Window) {
	t.Helper()
	bits := func(v []float32) []uint32 {
		out := make([]uint32, len(v))
		for i, x := range v {
			out[i] = math.Float32bits(x)
		}
		return out
	}
	switch {
	case a.Steps != b.Steps:
		t.Fatalf("Steps %d != %d", a.Steps, b.Steps)
	case !slices.Equal(bits(a.Values), bits(b.Values)):
		t.Fatalf("Values differ:\n%v\n%v", a.Values, b.Values)
	case !slices.Equal(a.Mask, b.Mask):
		t.Fatalf("Mask differs:\n%v\n%v", a.Mask, b.Mask)
	case !rawEqual(a.Raw, b.Raw):
		t.Fatalf("Raw differs:\n%v\n%v", a.Raw, b.Raw)
	case !slices.Equal(a.Observed, b.Observed):
		t.Fatalf("Observed differs: %v != %v", a.Observed, b.Observed)
	case !slices.Equal(a.Coverage, b.Coverage):
		t.Fatalf("Coverage differs: %v != %v", a.Coverage, b.Coverage)
	case !slices.Equal(a.Missing, b.Missing):
		t.Fatalf("Missing differs: %v != %v", a.Missing, b.Missing)
	case !slices.Equal(a.Stale, b.Stale):
		t.Fatalf("Stale differs: %v != %v", a.Stale, b.Stale)
	}
}

func (c Counts) total() int {
	return c.Unknown + c.OutOfWindow + c.Bad + c.Uncertain + c.Invalid + c.Used
}
