package jobs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// lostQueue answers FinishJob with ErrLeaseLost.
type lostQueue struct{ Queue }

func (lostQueue) FinishJob(context.Context, store.Lease, store.Artifact, fleetapi.ModelVersion) (*store.ModelVersion, error) {
	return nil, fmt.Errorf("job 1 attempt 1: %w", store.ErrLeaseLost)
}

// deleteRecorder records the keys deleted.
type deleteRecorder struct {
	Blobs
	deleted []string
}

func (d *deleteRecorder) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.deleted = append(d.deleted, key)
	return nil
}

// A worker whose lease was lost at FinishJob deletes the bundle it had
// just uploaded (no job refers to it), even though its context is gone.
func TestRegisterLeaseLostDeletesBundle(t *testing.T) {
	blobs := &deleteRecorder{}
	w := NewWorker(lostQueue{}, blobs, Options{Name: "w", Lease: time.Minute, Heartbeat: time.Second})
	j := &running{w: w, lease: store.Lease{JobID: 1, Worker: "w", Attempt: 1}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the lost lease cancelled the job's context
	m, err := j.register(ctx, store.Artifact{Key: "orgs/1/jobs/1/attempt-1/bundle.tar.gz"}, fleetapi.ModelVersion{})
	require.ErrorIs(t, err, errLeaseLost)
	assert.Nil(t, m)
	assert.Equal(t, []string{"orgs/1/jobs/1/attempt-1/bundle.tar.gz"}, blobs.deleted)
}
