package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// A diagnosis whose window starts more than agents.max_past before the
// cloud's clock (a rig whose clock reset to 2000 before NTP, an old
// replay) is a rejected item naming the bound, and makes no partition; a
// backlog within it (300 days) is accepted.
func TestIngestRefusesFarPastWindows(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	st.SetMaxPast(store.DefaultMaxPast)
	ctx := context.Background()
	now := time.Now().UTC()
	at := func(seq uint64, start time.Time) cloudapi.DecodedItem {
		it := items(seq, 1)[0]
		it.Diagnosis.Window.Start, it.Diagnosis.Window.End = start, start.Add(time.Minute)
		it.Diagnosis.CreatedAt = start.Add(2 * time.Minute)
		return it
	}
	its := []cloudapi.DecodedItem{
		at(1, now.Add(-time.Hour)),
		at(2, now.AddDate(0, 0, -300)),
		at(3, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)),
		at(4, time.Date(2000, 3, 15, 0, 0, 0, 0, time.UTC)),
		at(5, now.Add(-store.DefaultMaxPast-time.Hour)),
	}
	res, err := st.IngestDiagnoses(ctx, p, its)
	require.NoError(t, err)
	require.Len(t, res, len(its))
	assert.Equal(t, cloudapi.ItemAccepted, res[0].Status, "%+v", res[0].Problem)
	assert.Equal(t, cloudapi.ItemAccepted, res[1].Status, "%+v", res[1].Problem)
	for i := 2; i < len(res); i++ {
		require.Equal(t, cloudapi.ItemRejected, res[i].Status, "item %d", i)
		require.NotNil(t, res[i].Problem)
		assert.Equal(t, cloudapi.ProblemInvalidItem, res[i].Problem.Type)
		require.Len(t, res[i].Problem.Errors, 1)
		assert.Equal(t, fmt.Sprintf("/diagnoses/%d/window/start", i), res[i].Problem.Errors[0].Pointer)
		assert.Contains(t, res[i].Problem.Errors[0].Detail, "agents.max_past")
	}
	earliest := now.Add(-store.DefaultMaxPast)
	var parts int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'diagnoses'::regclass
		AND inhrelid::regclass::text < $1`, "diagnoses_"+earliest.Format("2006_01")).Scan(&parts))
	assert.Zero(t, parts, "no partition of the refused months")

	// The bound is configurable.
	st.SetMaxPast(10 * 365 * 24 * time.Hour)
	res, err = st.IngestDiagnoses(ctx, p, its[4:5])
	require.NoError(t, err)
	assert.Equal(t, cloudapi.ItemAccepted, res[0].Status, "%+v", res[0].Problem)
}
