package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// A trainer that returns no error but no model (nil, or a result without
// its trained model or written bundle) fails the job at once with an
// error saying so, instead of crashing the worker.
func TestTrainerWithoutModelFailsTheJob(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	for name, res := range map[string]*pipeline.Trained{
		"nil":         nil,
		"empty":       {},
		"no bundle":   {Result: &train.Result{BestEpoch: 1}, Digest: "sha256:x"},
		"no manifest": {Result: &train.Result{BestEpoch: 1}, Written: &export.Written{}},
		"no model":    {Written: &export.Written{Manifest: &bundle.Manifest{Name: "b"}}},
	} {
		id := e.job(tinyConfig, 3)
		w := jobs.NewWorker(e.st, e.blobs, e.options("w1", 10*time.Second))
		w.SetTrainer(func(context.Context, *rig.Config, pipeline.Data, pipeline.Options, string) (*pipeline.Trained, error) {
			return res, nil
		})
		ran, err := w.RunOnce(context.Background())
		require.NoError(t, err, name)
		require.True(t, ran, name)
		j := e.get(id)
		require.NotNil(t, j.Error, name)
		assert.Equal(t, store.JobFailed, j.State, "%s: error: %s", name, *j.Error)
		assert.Equal(t, 1, j.Attempts, name)
		assert.Contains(t, *j.Error, "no trained model", name)
	}
}
