package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// attemptMetrics gathers w's rig_cloud_worker_attempts_total ("kind/result"
// -> value) and the sample counts of
// rig_cloud_worker_attempt_duration_seconds, the series at 0 left out.
func attemptMetrics(t *testing.T, w *jobs.Worker) (counts, observed map[string]float64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(w))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	counts, observed = map[string]float64{}, map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var key string
			for _, lp := range m.GetLabel() {
				if key != "" {
					key += "/"
				}
				key += lp.GetValue()
			}
			switch mf.GetName() {
			case "rig_cloud_worker_attempts_total":
				if v := m.GetCounter().GetValue(); v != 0 {
					counts[key] = v
				}
			case "rig_cloud_worker_attempt_duration_seconds":
				observed[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return counts, observed
}

// Each attempt's end is counted once under its job kind and result: a
// job trained and registered (succeeded), a job whose trainer fails with
// an error worth retrying (retried, then failed at its last attempt),
// and the duration of each is observed.
func TestAttemptMetrics(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	w := jobs.NewWorker(e.st, e.blobs, e.options("w1", time.Minute))
	counts, observed := attemptMetrics(t, w)
	assert.Empty(t, counts)
	assert.Empty(t, observed)

	ok := e.job(tinyConfig, 1)
	ran, err := w.RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, ran)
	require.Equal(t, "succeeded", e.get(ok).State)

	w.SetTrainer(func(context.Context, *rig.Config, pipeline.Data, pipeline.Options, string) (*pipeline.Trained, error) {
		return nil, errors.New("disk full")
	})
	bad := e.job(tinyConfig, 2)
	for range 2 {
		ran, err := w.RunOnce(ctx)
		require.NoError(t, err)
		require.True(t, ran)
	}
	require.Equal(t, "failed", e.get(bad).State)

	counts, observed = attemptMetrics(t, w)
	assert.Equal(t, map[string]float64{"train/succeeded": 1, "train/retried": 1, "train/failed": 1}, counts)
	assert.Equal(t, map[string]float64{"train/succeeded": 1, "train/retried": 1, "train/failed": 1}, observed)
}

// A cancel requested after the worker's last heartbeat ends the job
// cancelled when the attempt's error is stored: the attempt counts as
// cancelled, as the job ended, not as retried.
func TestAttemptMetricsCancelAfterHeartbeat(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	ctx := context.Background()
	w := jobs.NewWorker(e.st, e.blobs, e.options("w1", time.Minute))
	var id int64
	w.SetTrainer(func(context.Context, *rig.Config, pipeline.Data, pipeline.Options, string) (*pipeline.Trained, error) {
		_, err := e.st.CancelJob(ctx, e.orgID, id)
		require.NoError(t, err)
		return nil, errors.New("disk full")
	})
	id = e.job(tinyConfig, 2)
	ran, err := w.RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, ran)
	require.Equal(t, "cancelled", e.get(id).State)

	counts, observed := attemptMetrics(t, w)
	assert.Equal(t, map[string]float64{"train/cancelled": 1}, counts)
	assert.Equal(t, map[string]float64{"train/cancelled": 1}, observed)
}
