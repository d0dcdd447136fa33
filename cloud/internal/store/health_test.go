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

// A component's health history is aggregated per hour and day from the
// stored diagnoses: windows, average and minimum health without unknown
// windows, worst status; scoped to the organisation.
func TestComponentHealthHistory(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	ctx := context.Background()

	// One diagnosis a minute from 00:01 to 03:00 (seq = minute); the
	// pump is healthy (0.9) but for a critical window at 01:10, an
	// unknown one at 02:10 and a warning one at 02:11.
	its := items(1, 180)
	set := func(seq int, h float64, s diag.Status) {
		its[seq-1].Diagnosis.Components[0].Health = h
		its[seq-1].Diagnosis.Components[0].Status = s
	}
	set(70, 0.4, diag.Critical)
	set(130, 0, diag.Unknown)
	set(131, 0.6, diag.Warning)
	_, err := st.IngestDiagnoses(ctx, p, its)
	require.NoError(t, err)

	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h, err := st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "pump", store.BucketHour, t0, t0.Add(3*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, "press-1", h.RigID)
	require.Len(t, h.Buckets, 3, "%+v", h.Buckets) // 03:00 is outside [from, to)
	want := []struct {
		start    time.Time
		windows  int
		avg, min float64
		worst    string
	}{
		{t0, 59, 0.9, 0.9, "healthy"},
		{t0.Add(time.Hour), 60, (59*0.9 + 0.4) / 60, 0.4, "critical"},
		{t0.Add(2 * time.Hour), 60, (58*0.9 + 0.6) / 59, 0.6, "warning"},
	}
	for i, w := range want {
		b := h.Buckets[i]
		assert.Equal(t, w.start, b.Start, "bucket %d", i)
		assert.Equal(t, w.windows, b.Windows, "bucket %d", i)
		require.NotNil(t, b.AvgHealth)
		require.NotNil(t, b.MinHealth)
		assert.InDelta(t, w.avg, *b.AvgHealth, 1e-9, "bucket %d", i)
		assert.InDelta(t, w.min, *b.MinHealth, 1e-9, "bucket %d", i)
		assert.Equal(t, w.worst, b.WorstStatus, "bucket %d", i)
	}

	// Only the unknown window: no averages, worst status unknown.
	h, err = st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "pump", store.BucketHour, t0.Add(130*time.Minute), t0.Add(131*time.Minute))
	require.NoError(t, err)
	require.Len(t, h.Buckets, 1)
	assert.Nil(t, h.Buckets[0].AvgHealth)
	assert.Nil(t, h.Buckets[0].MinHealth)
	assert.Equal(t, "unknown", h.Buckets[0].WorstStatus)

	h, err = st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "cooler", store.BucketDay, t0.Add(-24*time.Hour), t0.Add(24*time.Hour))
	require.NoError(t, err)
	require.Len(t, h.Buckets, 1)
	assert.Equal(t, t0, h.Buckets[0].Start)
	assert.Equal(t, 180, h.Buckets[0].Windows)
	assert.InDelta(t, 0.95, *h.Buckets[0].MinHealth, 1e-9)
	assert.Equal(t, "healthy", h.Buckets[0].WorstStatus)

	// A component no diagnosis reports: no buckets (an empty list).
	h, err = st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "pump'; DROP TABLE diagnoses; --", store.BucketDay, t0, t0.Add(24*time.Hour))
	require.NoError(t, err)
	assert.NotNil(t, h.Buckets)
	assert.Empty(t, h.Buckets)

	// Another organisation sees no such rig; a bad bucket is an error.
	other := newOrg(t, st, "other", "Other")
	_, err = st.ComponentHealthHistory(ctx, other.ID, "press-1", "pump", store.BucketHour, t0, t0.Add(time.Hour))
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "pump", "1w", t0, t0.Add(time.Hour))
	assert.ErrorContains(t, err, `bucket "1w"`)
}
