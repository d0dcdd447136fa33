package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// A running job whose worker died (its lease expired) is cancelled at
// once by CancelJob, as a queued one: no worker is there to see the
// request at a heartbeat, and with no worker claiming (all stopped, the
// reason to cancel) the job stayed running with cancel_requested for
// good. Its dead worker is fenced off. The same for a data set's build
// (CancelBuild).
func TestCancelJobWithExpiredLease(t *testing.T) {
	t.Parallel()
	pool, st := newStore(t)
	ctx := context.Background()
	org, d := readyDataset(t, st, "c")
	j, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 3, 0)
	require.NoError(t, err)
	c, err := st.Claim(ctx, "died", "go", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, c)
	_, err = pool.Exec(ctx, `UPDATE training_jobs SET lease_expires_at = now() - interval '1s' WHERE id = $1`, j.ID)
	require.NoError(t, err)

	got, err := st.CancelJob(ctx, org, j.ID)
	require.NoError(t, err)
	assert.Equal(t, store.JobCancelled, got.State)
	assert.NotNil(t, got.FinishedAt)
	assert.Nil(t, got.Worker)
	_, err = st.Heartbeat(ctx, c.Lease, time.Minute, nil)
	require.ErrorIs(t, err, store.ErrLeaseLost)
	next, err := st.Claim(ctx, "other", "go", time.Minute)
	require.NoError(t, err)
	assert.Nil(t, next, "a cancelled job is never claimed again")

	// A running job whose lease holds is only marked: its worker stops it.
	j2, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 3, 0)
	require.NoError(t, err)
	c2, err := st.Claim(ctx, "alive", "go", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, c2)
	got, err = st.CancelJob(ctx, org, j2.ID)
	require.NoError(t, err)
	assert.Equal(t, store.JobRunning, got.State)
	assert.True(t, got.CancelRequested)

	// A build whose worker died.
	o := newOrg(t, st, "cb", "Org cb")
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	build := fleetapi.DatasetBuild{RigIDs: []string{"r1"}, From: t0, To: t0.Add(time.Hour), Phase: fleetapi.BuildQueued, UpdatedAt: t0}
	bd := buildingDataset(t, st, o.ID, "f", build, 2)
	bc, err := st.Claim(ctx, "died", "go", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, bc)
	require.Equal(t, store.KindBuildDataset, bc.Kind)
	_, err = pool.Exec(ctx, `UPDATE training_jobs SET lease_expires_at = now() - interval '1s' WHERE id = $1`, bc.Lease.JobID)
	require.NoError(t, err)
	gd, final, err := st.CancelBuild(ctx, o.ID, bd.ID, 0)
	require.NoError(t, err)
	assert.True(t, final)
	assert.Equal(t, store.DatasetFailed, gd.State)
	_, err = st.HeartbeatBuild(ctx, bc.Lease, time.Minute, &build)
	require.ErrorIs(t, err, store.ErrLeaseLost)
}
