package jobs

import (
	"context"
	"errors"
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

// finishQueue answers FinishJob with err, after recording whether the
// context it got was still live.
type finishQueue struct {
	Queue
	err  error
	live bool
}

func (q *finishQueue) FinishJob(ctx context.Context, _ store.Lease, _ store.Artifact, _ fleetapi.ModelVersion) (*store.ModelVersion, error) {
	q.live = ctx.Err() == nil
	return nil, q.err
}

// A cancel requested after the last heartbeat is seen at FinishJob: the
// bundle is deleted and the attempt ends cancelled. An error whose
// commit outcome is unknown keeps the bundle (a job that did succeed
// would otherwise lose it). The end is stored on a live context even when
// the job's own has ended (a cancel or a shutdown arriving meanwhile).
func TestRegisterEnds(t *testing.T) {
	const key = "orgs/1/jobs/1/attempt-1/bundle.tar.gz"
	for _, tc := range []struct {
		name    string
		err     error
		want    error
		deleted []string
	}{
		{"cancel requested", fmt.Errorf("job 1: %w", store.ErrCancelRequested), errCancelled, []string{key}},
		{"outcome unknown", errors.New("unexpected EOF"), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blobs := &deleteRecorder{}
			q := &finishQueue{err: tc.err}
			w := NewWorker(q, blobs, Options{Name: "w", Lease: time.Minute, Heartbeat: time.Second})
			j := &running{w: w, lease: store.Lease{JobID: 1, Worker: "w", Attempt: 1}}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := j.register(ctx, store.Artifact{Key: key}, fleetapi.ModelVersion{})
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			assert.True(t, q.live, "FinishJob ran on an ended context")
			assert.Equal(t, tc.deleted, blobs.deleted)
		})
	}
}
