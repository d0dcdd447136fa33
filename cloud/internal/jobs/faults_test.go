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

// A job config that passes Validate but cannot build a model (hidden not
// a multiple of heads, a patch that does not divide the window, a grid so
// coarse the window has no step) fails at its first attempt with the
// trainer's reason: every further attempt would fail the same way.
func TestBadModelConfigFailsAtOnce(t *testing.T) {
	t.Parallel()
	bad := map[string]func(*jobs.Config){
		"heads":   func(c *jobs.Config) { c.Sizes.Heads = 3 },
		"patch":   func(c *jobs.Config) { c.Sizes.Patch = 7 },
		"grid_hz": func(c *jobs.Config) { c.GridHz = 0.001 },
	}
	for name, f := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newQueueEnv(t)
			cfg := tinyConfig
			f(&cfg)
			require.NoError(t, cfg.Validate())
			id := e.job(cfg, 3)
			w := jobs.NewWorker(e.st, e.blobs, e.options("w1", 10*time.Second))
			ran, err := w.RunOnce(context.Background())
			require.NoError(t, err)
			require.True(t, ran)
			j := e.get(id)
			require.NotNil(t, j.Error)
			assert.Equal(t, store.JobFailed, j.State, "error: %s", *j.Error)
			assert.Equal(t, 1, j.Attempts)
			assert.Contains(t, *j.Error, "invalid")
		})
	}
}
