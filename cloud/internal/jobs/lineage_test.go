package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// The registry's config of a version (its lineage, and what compare
// diffs) holds every training setting of the job, grid_hz and int8
// included: two versions trained at different settings never compare as
// trained alike.
func TestRegistryConfigHasEverySetting(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	w := jobs.NewWorker(e.st, e.blobs, e.options("w1", 10*time.Second))
	ctx := context.Background()
	versions := map[string]int{}
	for _, int8 := range []string{"none", "dynamic"} {
		cfg := tinyConfig
		cfg.Int8 = int8
		id := e.job(cfg, 1)
		ran, err := w.RunOnce(ctx)
		require.NoError(t, err)
		require.True(t, ran)
		j := e.get(id)
		require.Equal(t, store.JobSucceeded, j.State, "error: %s", deref(j.Error))
		m, err := e.st.Model(ctx, e.orgID, "zema-testrig", *j.ModelVersion)
		require.NoError(t, err)
		assert.Equal(t, int8, m.Config["int8"])
		assert.EqualValues(t, 1, m.Config["grid_hz"], "the default grid, resolved")
		versions[int8] = m.Version
	}
	cmp, err := e.st.Compare(ctx, e.orgID, "zema-testrig", versions["none"], versions["dynamic"])
	require.NoError(t, err)
	var keys []string
	for _, c := range cmp.Config {
		keys = append(keys, c.Key)
	}
	assert.Contains(t, keys, "int8")
}
