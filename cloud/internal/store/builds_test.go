package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// buildingDataset creates a zema-testrig data set name of org, built by
// the fleet as build says in at most maxAttempts attempts.
func buildingDataset(tb testing.TB, st *store.Store, org int64, name string, build fleetapi.DatasetBuild, maxAttempts int) *store.Dataset {
	tb.Helper()
	d, err := st.CreateBuildingDataset(context.Background(), org, store.Dataset{Dataset: fleetapi.Dataset{Name: name, Kind: "uci",
		RigType: "zema-testrig", ConfigDigest: "sha256:c"}, RigConfig: "x"}, build, maxAttempts, 0)
	require.NoError(tb, err)
	return d
}

// A data set's build is a job of the queue: a transient failure re-queues
// it (the data set stays building and says why), spent attempts fail the
// data set; it is never a training job, and nothing trains on it.
func TestBuildRetry(t *testing.T) {
	t.Parallel()
	_, st := newStore(t)
	ctx := context.Background()
	o := newOrg(t, st, "b", "Org b")
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	build := fleetapi.DatasetBuild{RigIDs: []string{"r1"}, From: t0, To: t0.Add(time.Hour), Labels: map[string]float64{"pump": 0},
		Phase: fleetapi.BuildQueued, UpdatedAt: t0}
	d := buildingDataset(t, st, o.ID, "f", build, 2)
	assert.Equal(t, store.DatasetBuilding, d.State)
	assert.Equal(t, store.SourceFleet, d.Source)
	assert.Equal(t, &build, d.Build)
	_, err := st.CreateBuildingDataset(ctx, o.ID, store.Dataset{Dataset: fleetapi.Dataset{Name: "f", Kind: "uci",
		RigType: "zema-testrig", ConfigDigest: "sha256:c"}, RigConfig: "x"}, build, 2, 0)
	require.ErrorIs(t, err, store.ErrExists, "a building data set keeps its name")
	_, err = st.CreateJob(ctx, o.ID, d.ID, json.RawMessage(`{}`), 1, 0)
	require.ErrorIs(t, err, store.ErrState)
	jobs, err := st.Jobs(ctx, o.ID, 0, "", 10)
	require.NoError(t, err)
	assert.Empty(t, jobs, "a build is not a training job")

	for attempt := 1; attempt <= 2; attempt++ {
		c, err := st.Claim(ctx, "w", "go", time.Minute)
		require.NoError(t, err)
		require.NotNil(t, c)
		assert.Equal(t, store.KindBuildDataset, c.Kind)
		assert.Equal(t, attempt, c.Lease.Attempt)
		_, err = st.Job(ctx, o.ID, c.Job.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "not visible as a training job")
		p := build
		p.Phase, p.Attempt, p.Readings = fleetapi.BuildReading, attempt, 42
		stop, err := st.HeartbeatBuild(ctx, c.Lease, time.Minute, &p)
		require.NoError(t, err)
		assert.False(t, stop)
		got, err := st.Dataset(ctx, o.ID, d.ID)
		require.NoError(t, err)
		assert.EqualValues(t, 42, got.Build.Readings)
		_, err = st.FailJob(ctx, c.Lease, "database gone", true)
		require.NoError(t, err)
		got, err = st.Dataset(ctx, o.ID, d.ID)
		require.NoError(t, err)
		require.NotNil(t, got.Error)
		assert.Equal(t, "database gone", *got.Error)
		if attempt == 1 {
			assert.Equal(t, store.DatasetBuilding, got.State, "re-queued")
			assert.Equal(t, fleetapi.BuildQueued, got.Build.Phase)
		} else {
			assert.Equal(t, store.DatasetFailed, got.State, "attempts spent")
			assert.Equal(t, fleetapi.BuildFailed, got.Build.Phase)
		}
	}
	c, err := st.Claim(ctx, "w", "go", time.Minute)
	require.NoError(t, err)
	assert.Nil(t, c)
}

// Cancelling a build: a queued one fails at once, a running one when its
// worker sees the request at a heartbeat (or tries to finish); a data set
// not building is refused, another organisation's is not found.
func TestCancelBuild(t *testing.T) {
	t.Parallel()
	_, st := newStore(t)
	ctx := context.Background()
	o := newOrg(t, st, "c", "Org c")
	other := newOrg(t, st, "c2", "Org c2")
	tok, _, err := st.CreateToken(ctx, o.ID, "ops", store.RoleOperator, time.Time{})
	require.NoError(t, err)
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	build := fleetapi.DatasetBuild{RigIDs: []string{"r1"}, From: t0, To: t0.Add(time.Hour), Phase: fleetapi.BuildQueued, UpdatedAt: t0}
	mk := func(name string) *store.Dataset { return buildingDataset(t, st, o.ID, name, build, 3) }
	want := `cancelled by token "ops" (id ` + fmt.Sprint(tok.ID) + `)`

	// Queued: failed at once, nothing to claim.
	q := mk("queued")
	_, _, err = st.CancelBuild(ctx, other.ID, q.ID, 0)
	require.ErrorIs(t, err, store.ErrNotFound, "another organisation's")
	d, final, err := st.CancelBuild(ctx, o.ID, q.ID, tok.ID)
	require.NoError(t, err)
	assert.True(t, final)
	assert.Equal(t, store.DatasetFailed, d.State)
	assert.Equal(t, fleetapi.BuildFailed, d.Build.Phase)
	require.NotNil(t, d.Error)
	assert.Equal(t, want, *d.Error)
	c, err := st.Claim(ctx, "w", "go", time.Minute)
	require.NoError(t, err)
	assert.Nil(t, c, "a cancelled build is not claimed")
	_, _, err = st.CancelBuild(ctx, o.ID, q.ID, tok.ID)
	require.ErrorIs(t, err, store.ErrState, "failed already")

	// Running: building until the worker's heartbeat sees it.
	r := mk("running")
	c, err = st.Claim(ctx, "w", "go", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, c)
	d, final, err = st.CancelBuild(ctx, o.ID, r.ID, 0)
	require.NoError(t, err)
	assert.False(t, final)
	assert.Equal(t, store.DatasetBuilding, d.State)
	assert.Equal(t, "cancelled by request: the worker stops at its next heartbeat", *d.Error)
	stop, err := st.HeartbeatBuild(ctx, c.Lease, time.Minute, &build)
	require.NoError(t, err)
	assert.True(t, stop)
	_, err = st.FinishBuild(ctx, c.Lease, "k", 1, "sha256:x", build)
	require.ErrorIs(t, err, store.ErrCancelRequested, "a cancelled build never ends ready")
	ended, err := st.FailJob(ctx, c.Lease, "cancelled by request", false)
	require.NoError(t, err)
	assert.Equal(t, store.JobCancelled, ended)
	d, err = st.Dataset(ctx, o.ID, r.ID)
	require.NoError(t, err)
	assert.Equal(t, store.DatasetFailed, d.State)
	assert.Equal(t, "cancelled by request", *d.Error)

	// Ready: refused.
	ready := mk("ready")
	c, err = st.Claim(ctx, "w", "go", time.Minute)
	require.NoError(t, err)
	_, err = st.FinishBuild(ctx, c.Lease, "k", 1, "sha256:x", build)
	require.NoError(t, err)
	_, _, err = st.CancelBuild(ctx, o.ID, ready.ID, tok.ID)
	require.ErrorIs(t, err, store.ErrState)
	assert.Contains(t, err.Error(), "is ready: only a building data set can be cancelled")
}
