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

// lineWriter numbers an attempt's lines 1, 2, ... in the order written:
// a batch put back (its append not answered) comes back first with its
// numbers, ahead of lines written since, which keep theirs. Past max,
// lines are dropped and counted by one line at the final take (the
// flush), not at the heartbeats' takes, numbered after every line; put
// back, it keeps its number, and a line dropped after it gets a line of
// its own.
func TestLineWriterNumbers(t *testing.T) {
	w := &lineWriter{max: 4}
	show := func(ls []store.NumberedLine) []string {
		out := []string{}
		for _, l := range ls {
			out = append(out, fmt.Sprintf("%d %s", l.N, l.Line))
		}
		return out
	}
	write := func(s string) {
		t.Helper()
		n, err := w.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}

	write("a\nb\nc") // c waits for its end
	first := w.take(false)
	assert.Equal(t, []string{"1 a", "2 b"}, show(first))
	write("\n")
	w.putBack(first) // not stored: sent again, ahead of c
	assert.Equal(t, []string{"1 a", "2 b", "3 c"}, show(w.take(false)))

	write("d\ne\nf\n") // d is the 4th and last line kept
	second := w.take(false)
	assert.Equal(t, []string{"4 d"}, show(second), "a heartbeat's take adds no count")
	write("g\n")
	w.putBack(second)
	assert.Equal(t, []string{"4 d"}, show(w.take(false)))
	assert.Empty(t, show(w.take(false)))

	last := w.take(true)
	assert.Equal(t, []string{"5 (3 more log lines dropped: worker.max_log_lines is 4)"}, show(last))
	w.putBack(last)
	assert.Equal(t, show(last), show(w.take(true)), "the count put back keeps its number; nothing dropped since")
	assert.Empty(t, show(w.take(true)))

	write("h\n") // dropped after a flush (the registration failed)
	assert.Equal(t, []string{"6 (1 more log lines dropped: worker.max_log_lines is 4)"}, show(w.take(true)))
}
