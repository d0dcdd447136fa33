package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob/blobtest"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// SIGTERM (the worker's context ends) once a build has read every rig and
// stores the archive no longer throws the build away: the archive is
// stored and the data set is ready, as for a training job's bundle
// (jobs.FinishGrace).
func TestFleetDatasetShutdownWhileStoring(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	a := te.a
	te.uploadAll(a, t0, t0.Add(time.Minute), fleetReadings(t0, t0.Add(time.Minute)))
	d := te.postFleetDataset(a, fleetapi.FleetDatasetRequest{Name: "stored", RigConfig: fleetRigYAML, RigIDs: []string{a.rig},
		From: t0, To: t0.Add(time.Minute)})
	hp := blobtest.NewHeldPut(te.blobs, "/datasets/fleet-")
	w := jobs.NewWorker(te.st, hp, jobs.Options{Name: "w1", Lease: 10 * time.Second, Heartbeat: 100 * time.Millisecond, WorkDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = w.RunOnce(ctx)
	}()
	select {
	case <-hp.Putting:
	case <-time.After(30 * time.Second):
		t.Fatal("the build never stored its archive")
	}
	cancel()
	time.Sleep(100 * time.Millisecond) // the shutdown reaches the worker first
	close(hp.Release)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop")
	}
	got := te.getDataset(a, d.ID)
	assert.Equal(t, store.DatasetReady, got.State, "error: %v", deref(got.Error))
	require.NotNil(t, got.Bytes)
}
