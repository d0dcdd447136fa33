package prep_test

import (
	"fmt"
	"time"

	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// The whole flow: a spec from the firmware config, stats from training
// data on the grid, then a field window from readings.
func Example() {
	cfg := &rig.Config{
		RigType:   "demo-press",
		Operation: rig.Operation{CycleS: 4},
		Sensors: []rig.Sensor{
			{ID: "PS1", Kind: rig.KindPressure, Unit: "bar", RateHz: 10, Range: rig.Range{Max: 200}},
			{ID: "TS1", Kind: rig.KindTemperature, Unit: "C", RateHz: 1, Range: rig.Range{Min: -20, Max: 120}},
			{ID: "OLD", Kind: rig.KindPressure, Unit: "bar", RateHz: 1, Inactive: true},
		},
	}
	spec, err := prep.SpecFromConfig(cfg, 1, 4) // 1 Hz grid, 4-step windows
	if err != nil {
		panic(err)
	}

	// Training: 1 Hz rows (NaN = missing) -> stats -> normalised windows.
	train := [][][]float64{
		{{100, 120, 140, 160}, {40, 41, 42, 43}},
		{{110, 130, 150, 170}, {44, 45, 46, 47}},
	}
	acc, _ := prep.NewStatsAccumulator(spec)
	for _, g := range train {
		w, _ := prep.FromGrid(spec, g)
		_ = acc.Add(w)
	}
	spec, _ = acc.Apply(spec)
	fmt.Printf("PS1 mean %.0f std %.2f, TS1 mean %.1f std %.2f\n",
		spec.Sensors[0].Mean, spec.Sensors[0].Std, spec.Sensors[1].Mean, spec.Sensors[1].Std)

	// Field: readings from the buffer -> the same preparation.
	start := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	rs := []reading.Reading{
		{Sensor: "PS1", Time: at(0), Value: 140}, {Sensor: "PS1", Time: at(500), Value: 150}, // cell 0: mean 145
		{Sensor: "PS1", Time: at(1000), Value: 999, Quality: reading.Bad}, // ignored: cell 1 held
		{Sensor: "OLD", Time: at(0), Value: 1},                            // inactive: unknown to the spec
	}
	r, _ := prep.NewResampler(spec)
	w := r.Resample(start, rs)
	fmt.Printf("PS1 values %.2f\n", w.Values[:4])
	fmt.Println("PS1 mask", w.Mask[:4])
	fmt.Println("missing", w.Missing, "stale", w.Stale)
	fmt.Printf("counts %+v\n", w.Counts)
	// Output:
	// PS1 mean 135 std 22.91, TS1 mean 43.5 std 2.29
	// PS1 values [0.44 0.44 0.00 0.00]
	// PS1 mask [1 1 0 0]
	// missing [TS1] stale [PS1]
	// counts {Unknown:1 OutOfWindow:0 Bad:1 Uncertain:0 Invalid:0 Used:2}
}

func ExampleGridFromSamples() {
	// A 10 Hz flow row of a 2 s cycle onto the 1 Hz grid: one-second means.
	row := []float64{1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}
	g, _ := prep.GridFromSamples(10, row, 1, 2)
	fmt.Println(g)
	// Output: [2 7]
}

func ExampleWindows() {
	spec := prep.Spec{Rules: prep.Rules, GridHz: 1, Steps: 60, Alignment: prep.AlignSliding, StrideSteps: 30,
		Sensors: []prep.SensorSpec{{ID: "PS1", RateHz: 100, Std: 1}}}
	sc, _ := prep.Windows(spec, 0)
	from := time.Date(2024, 1, 1, 12, 0, 10, 0, time.UTC)
	for s := range sc.Starts(from, from.Add(2*time.Minute)) {
		fmt.Println(s.Format(time.TimeOnly), "-", s.Add(sc.Length).Format(time.TimeOnly))
	}
	// Output:
	// 12:00:30 - 12:01:30
	// 12:01:00 - 12:02:00
}
