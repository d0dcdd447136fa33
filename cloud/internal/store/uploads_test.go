package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// A reading uploaded by overlapping requests is read once, with the value
// of the newest request, whatever order the rows were stored in: a build
// of the same readings is the same.
func TestRigReadingsNewestRequestWins(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	ctx := context.Background()
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids [2]int64
	for i := range ids {
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO upload_requests (org_id, rig_id, from_ts, to_ts, expires_at)
			VALUES ($1, $2, $3, $4, $4) RETURNING id`, p.OrgID, p.Agent.RigID, ts, ts.Add(time.Hour)).Scan(&ids[i]))
	}
	// The older request's rows first, then the newer's, then the older's
	// again (stored order is not the answer's).
	for _, r := range []struct {
		req   int64
		value float64
	}{{ids[0], 1}, {ids[1], 2}, {ids[0], 3}} {
		_, err := pool.Exec(ctx, `INSERT INTO upload_readings (rig_id, request_id, ts, sensor, value, quality)
			VALUES ($1, $2, $3, 'PS1', $4, 0), ($1, $2, $5, 'PS1', $4, 0)`, p.Agent.RigID, r.req, ts, r.value, ts.Add(time.Second))
		require.NoError(t, err)
	}
	var got []reading.Reading
	require.NoError(t, st.RigReadings(ctx, p.OrgID, "press-1", ts, ts.Add(time.Hour), func(rd reading.Reading) error {
		got = append(got, rd)
		return nil
	}))
	require.Len(t, got, 2)
	for _, rd := range got {
		assert.Equal(t, 2.0, rd.Value, "%s: the newest request's value", rd.Time)
	}
}
