package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// A bucket counts the rig's diagnoses that do not report the component
// (its sensors masked) as missing_windows, apart from windows and
// unknown_windows, and an hour of only such diagnoses is a bucket with
// windows 0: the gap shows instead of vanishing, also when it covers the
// whole range. A component no diagnosis of the rig ever reports has no
// buckets.
func TestComponentHealthCountsMissingWindows(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	ctx := context.Background()

	// 00:01 to 02:59: the pump is left out of 00:10 to 00:19 and of all
	// of 01:00 to 01:59.
	its := items(1, 179)
	for i := range its {
		seq := i + 1
		if seq >= 10 && seq < 20 || seq >= 60 && seq < 120 {
			d := &its[i].Diagnosis
			d.Components = d.Components[1:]
		}
	}
	_, err := st.IngestDiagnoses(ctx, p, its)
	require.NoError(t, err)

	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h, err := st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "pump", store.BucketHour, t0, t0.Add(3*time.Hour))
	require.NoError(t, err)
	require.Len(t, h.Buckets, 3, "%+v", h.Buckets)
	want := []struct {
		windows, missing int
		worst            string
	}{
		{49, 10, "healthy"},
		{0, 60, "unknown"}, // the gap
		{60, 0, "healthy"},
	}
	for i, w := range want {
		b := h.Buckets[i]
		assert.Equal(t, w.windows, b.Windows, "bucket %d", i)
		assert.Equal(t, w.missing, b.MissingWindows, "bucket %d", i)
		assert.Zero(t, b.UnknownWindows, "bucket %d", i)
		assert.Equal(t, w.worst, b.WorstStatus, "bucket %d", i)
	}
	require.NotNil(t, h.Buckets[0].AvgHealth)
	assert.InDelta(t, 0.9, *h.Buckets[0].AvgHealth, 1e-9)
	assert.Nil(t, h.Buckets[1].AvgHealth)
	assert.Nil(t, h.Buckets[1].MinHealth)

	// A range in which no diagnosis reports the pump (01:00 to 01:59, a
	// sensor outage) still shows the gap: diagnoses outside the range
	// report the pump, so the rig has it.
	h, err = st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "pump", store.BucketHour, t0.Add(time.Hour), t0.Add(2*time.Hour))
	require.NoError(t, err)
	require.Len(t, h.Buckets, 1, "the outage hour: %+v", h.Buckets)
	assert.Zero(t, h.Buckets[0].Windows)
	assert.Equal(t, 60, h.Buckets[0].MissingWindows)
	assert.Equal(t, "unknown", h.Buckets[0].WorstStatus)

	// The cooler is in every diagnosis; a component none reports has no
	// buckets.
	h, err = st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "cooler", store.BucketDay, t0, t0.Add(24*time.Hour))
	require.NoError(t, err)
	require.Len(t, h.Buckets, 1)
	assert.Equal(t, 179, h.Buckets[0].Windows)
	assert.Zero(t, h.Buckets[0].MissingWindows)
	h, err = st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "gearbox", store.BucketDay, t0, t0.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Empty(t, h.Buckets)
}
