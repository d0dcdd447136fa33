package trendhist_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/trendhist"
	"github.com/hydrognn/hydrognn/agent/internal/trendtest"
	"github.com/hydrognn/hydrognn/agent/trend"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// bigSecond is trendtest.Second(i) grown to a shipped diagnosis' size (about 4 KB
// of JSON: nine components with drivers, five targets, sensor scores).
func bigSecond(i int) *diag.Diagnosis {
	d := trendtest.Second(i)
	d.Components = d.Components[:0]
	for c := range 9 {
		h := 0.95 - 0.001*float64(c) - 0.01*float64(i+1)/3600
		d.Components = append(d.Components, diag.ComponentHealth{ID: fmt.Sprintf("component-%d", c), Health: h,
			Status: diag.StatusOf(h), AnomalyScore: 0.4,
			Drivers: []diag.Driver{{Sensor: "pressure-1", Weight: 0.5}, {Sensor: "temperature-2", Weight: 0.3}}})
	}
	for k := range 5 {
		tr := diag.TargetResult{Name: fmt.Sprintf("target-%d", k)}
		for c := range 4 {
			tr.Classes = append(tr.Classes, diag.ClassProb{Value: float64(c), Label: fmt.Sprintf("class %d", c), P: 0.25})
		}
		d.Targets = append(d.Targets, tr)
	}
	for s := range 16 {
		d.Sensors = append(d.Sensors, diag.SensorScore{ID: fmt.Sprintf("sensor-%02d", s), Score: 0.3})
	}
	return d
}

// BenchmarkStart is what the agent does for the health trend when it
// starts (or, before, at each model update), on a history of one-second
// windows: seed: decode the newest 1,024 stored diagnoses (17 minutes of
// them); restore: decode the saved State (nine components of 256 points,
// indented as the agent writes it) and read the 300 diagnoses stored
// since its last save (5 minutes, the most a crash loses; after a clean
// stop there are none).
//
//	go test -run '^$' -bench Start -benchtime 20x ./internal/trendhist/  (in agent/)
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	h := trendtest.OpenHistory(b)
	live := trend.New(trend.Options{})
	const n, stored, since = 24 * 3600, 1024, 300
	var saved []byte
	for i := range n {
		d := bigSecond(i)
		live.Observe(d)
		if i == n-since-1 {
			var err error
			if saved, err = json.MarshalIndent(live.State(), "", "  "); err != nil {
				b.Fatal(err)
			}
		}
		if i >= n-stored {
			if _, err := h.Append(ctx, d, history.Progress{Window: d.Window.Start}); err != nil {
				b.Fatal(err)
			}
		}
	}
	one, _ := json.Marshal(bigSecond(0))
	b.Logf("diagnosis %d bytes, state file %d bytes", len(one), len(saved))
	b.Run("seed-1024", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := trendhist.Seed(ctx, trend.New(trend.Options{}), h, 1024); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("restore", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var st trend.State
			if err := json.Unmarshal(saved, &st); err != nil {
				b.Fatal(err)
			}
			if err := trend.New(trend.Options{}).Restore(st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("restore+catchup-300", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var st trend.State
			if err := json.Unmarshal(saved, &st); err != nil {
				b.Fatal(err)
			}
			tr := trend.New(trend.Options{})
			if err := tr.Restore(st); err != nil {
				b.Fatal(err)
			}
			if k, err := trendhist.CatchUp(ctx, tr, h, 0); err != nil || k != since {
				b.Fatal(k, err)
			}
		}
	})
}
