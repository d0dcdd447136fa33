package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// A bucket says how many of its windows are unknown for the component:
// the average, minimum and worst status leave them out, so an hour of
// one healthy window and 59 unknown ones reads healthy (review: "the
// health bucket hides unknown windows").
func TestComponentHealthCountsUnknownWindows(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	ctx := context.Background()

	// 00:01 to 02:00: the pump is unknown from 00:01 to 00:59 but for
	// the healthy 00:30, and all of 01:00 to 01:59 but for a critical
	// 01:05; 02:00 is unknown alone.
	its := items(1, 120)
	for i := range its {
		c := &its[i].Diagnosis.Components[0]
		seq := i + 1
		switch {
		case seq == 30 || seq >= 60 && seq != 65 && seq < 120:
			c.Health, c.Status = 0.9, diag.Healthy
		case seq == 65:
			c.Health, c.Status = 0.2, diag.Critical
		default:
			c.Health, c.Status = 0, diag.Unknown
		}
	}
	_, err := st.IngestDiagnoses(ctx, p, its)
	require.NoError(t, err)

	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h, err := st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "pump", store.BucketHour, t0, t0.Add(3*time.Hour))
	require.NoError(t, err)
	require.Len(t, h.Buckets, 3, "%+v", h.Buckets)
	want := []struct {
		windows, unknown int
		worst            string
	}{
		{59, 58, "healthy"}, // 00:01-00:59: only 00:30 known
		{60, 0, "critical"},
		{1, 1, "unknown"},
	}
	for i, w := range want {
		b := h.Buckets[i]
		assert.Equal(t, w.windows, b.Windows, "bucket %d", i)
		assert.Equal(t, w.unknown, b.UnknownWindows, "bucket %d", i)
		assert.Equal(t, w.worst, b.WorstStatus, "bucket %d", i)
	}
	require.NotNil(t, h.Buckets[0].AvgHealth)
	assert.InDelta(t, 0.9, *h.Buckets[0].AvgHealth, 1e-9, "the one known window")
	assert.Nil(t, h.Buckets[2].AvgHealth)

	// A day bucket adds them up; the cooler is never unknown.
	h, err = st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "pump", store.BucketDay, t0, t0.Add(24*time.Hour))
	require.NoError(t, err)
	require.Len(t, h.Buckets, 1)
	assert.Equal(t, 120, h.Buckets[0].Windows)
	assert.Equal(t, 59, h.Buckets[0].UnknownWindows)
	h, err = st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "cooler", store.BucketDay, t0, t0.Add(24*time.Hour))
	require.NoError(t, err)
	require.Len(t, h.Buckets, 1)
	assert.Zero(t, h.Buckets[0].UnknownWindows)
}
