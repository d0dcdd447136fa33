package infer

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/models/train/traintest"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestDropoutTrainedBundleJudges trains a tiny model twice, end to end
// (train.Run, export.WriteBundle, Open, Run, Diagnose): on the ZeMA
// config as shipped, and with SE marked may_drop_out. A window without
// SE gets no class target judged from the first bundle (SE is required)
// and every class target judged from the second, whose manifest lists SE
// in provenance.config.dropout_sensors.
func TestDropoutTrainedBundleJudges(t *testing.T) {
	needORT(t)
	base := loadRig(t, zemaConfig)
	flagged := *base
	flagged.Sensors = slices.Clone(base.Sensors)
	for i := range flagged.Sensors {
		if flagged.Sensors[i].ID == "SE" {
			flagged.Sensors[i].MayDropOut = true
		}
	}
	require.NoError(t, flagged.Validate())
	data := t.TempDir()
	require.NoError(t, traintest.WriteUCI(data, base, 8, 5, 2))

	diagnose := func(cfg *rig.Config) (*bundle.Manifest, *diag.Diagnosis) {
		t.Helper()
		ds, err := train.LoadUCI(data, cfg, 1)
		require.NoError(t, err)
		opts := train.Options{Rig: cfg, Train: ds, Seed: 1, Epochs: 2, Patience: -1, BatchSize: 8, LR: 1e-2,
			ValFraction: -1, Sizes: gnn.Sizes{Hidden: 8, Heads: 2, Layers: 1, HeadHidden: 8}}
		res, err := train.Run(context.Background(), opts, nil)
		require.NoError(t, err)
		dir := t.TempDir()
		_, err = export.WriteBundle(dir, cfg, res, export.BundleOptions{NoInt8: true,
			Provenance: bundle.Provenance{Dataset: "synthetic", CodeVersion: "test", Config: export.Hyperparameters(opts, res)}})
		require.NoError(t, err)
		m, err := Open(dir, cfg, Options{Logger: quiet})
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Close() })

		spec := m.manifest.Input
		grid := make([][]float64, len(spec.Sensors))
		for s, ss := range spec.Sensors {
			grid[s] = make([]float64, spec.Steps)
			for k := range grid[s] {
				grid[s][k] = ss.Mean
				if ss.ID == "SE" {
					grid[s][k] = math.NaN()
				}
			}
		}
		w, err := prep.FromGrid(spec, grid)
		require.NoError(t, err)
		require.Equal(t, []string{"SE"}, w.Missing)
		out, err := m.Run([]*prep.Window{w})
		require.NoError(t, err)
		d, err := m.Diagnose(&out.Results[0], w, 0)
		require.NoError(t, err)
		return m.manifest, d
	}
	notJudged := func(d *diag.Diagnosis) bool {
		for _, rec := range d.Recommendations {
			if strings.Contains(rec.Reason, "not judged") {
				return true
			}
		}
		return false
	}

	man, d := diagnose(base)
	assert.Empty(t, man.DropoutSensors())
	assert.True(t, notJudged(d), "SE is required by a model trained without dropout: %+v", d.Recommendations)
	for _, a := range d.Anomalies {
		assert.Equal(t, rig.FaultSensor, a.Fault, "no class-head fault without SE")
	}

	man, d = diagnose(&flagged)
	assert.Equal(t, []string{"SE"}, man.DropoutSensors())
	assert.False(t, notJudged(d), "a model trained without SE judges without it: %+v", d.Recommendations)
	for _, a := range d.Anomalies {
		if a.Fault == rig.FaultSensor {
			assert.Equal(t, diag.SeverityLow, a.Severity)
			assert.Equal(t, []string{"SE"}, a.Sensors)
		}
	}
}
