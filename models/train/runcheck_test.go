package train

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// Run refuses, with ErrData naming the option, a data set whose grids,
// labels and groups disagree (Dataset.Check), instead of panicking in the
// split, Subset or the scores.
func TestRunChecksDatasets(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 6, 4, 1)
	clone := func() *Dataset { return ds.Subset(seq(ds.Len())) }
	for _, c := range []struct {
		name   string
		option string
		edit   func(o *Options)
	}{
		{"train labels short", "Options.Train", func(o *Options) { o.Train.Labels = o.Train.Labels[:len(o.Train.Labels)-1] }},
		{"train groups short", "Options.Train", func(o *Options) { o.Train.Groups = o.Train.Groups[:3] }},
		{"train label row", "Options.Train", func(o *Options) { o.Train.Labels[2] = o.Train.Labels[2][:1] }},
		{"train label past the classes", "Options.Train", func(o *Options) {
			row := append([]int(nil), o.Train.Labels[2]...)
			row[0] = len(cfg.Targets[0].Classes)
			o.Train.Labels[2] = row
		}},
		{"val label below unknown", "Options.Val", func(o *Options) {
			o.Val = clone()
			row := append([]int(nil), o.Val.Labels[0]...)
			row[len(row)-1] = -2
			o.Val.Labels[0] = row
		}},
		{"val labels short", "Options.Val", func(o *Options) {
			o.Val = clone()
			o.Val.Labels = o.Val.Labels[:1]
		}},
		{"monitor label rows", "Options.Monitor", func(o *Options) {
			o.Monitor = clone()
			for i := range o.Monitor.Labels {
				o.Monitor.Labels[i] = nil
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := tinyOptions(cfg, clone(), 1)
			o.Epochs = 1
			c.edit(&o)
			_, err := Run(context.Background(), o, nil)
			if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), c.option) {
				t.Fatalf("got %v, want ErrData naming %s", err, c.option)
			}
		})
	}
}
