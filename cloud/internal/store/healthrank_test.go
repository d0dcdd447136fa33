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

// The health history's SQL ranks statuses as diag.Rank does, evaluated by
// PostgreSQL for each status and for a value that is none.
func TestStatusRankSQLIsDiagRank(t *testing.T) {
	t.Parallel()
	pool, _ := newStore(t)
	ctx := context.Background()
	for _, s := range append(append([]diag.Status{}, diag.Statuses...), "bogus", "") {
		var r int
		require.NoError(t, pool.QueryRow(ctx, "SELECT "+store.StatusRankSQL("$1::text"), string(s)).Scan(&r))
		assert.Equal(t, diag.Rank(s), r, "%q", s)
	}
}

// A bucket of healthy windows and one unknown window (a window that judged
// nothing) is healthy, as diag.Worse makes a rig of healthy and unknown
// components healthy; before, the SQL ranked unknown above healthy.
func TestHealthHistoryUnknownBelowHealthy(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	ctx := context.Background()
	its := items(1, 10)
	its[4].Diagnosis.Components[0].Health = 0
	its[4].Diagnosis.Components[0].Status = diag.Unknown
	_, err := st.IngestDiagnoses(ctx, p, its)
	require.NoError(t, err)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h, err := st.ComponentHealthHistory(ctx, p.OrgID, "press-1", "pump", store.BucketHour, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, h.Buckets, 1)
	assert.Equal(t, 10, h.Buckets[0].Windows)
	assert.Equal(t, "healthy", h.Buckets[0].WorstStatus)
}
