package infer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type closeCounter struct{ n *atomic.Int32 }

func (c closeCounter) Close() error { c.n.Add(1); return nil }

// TestOpenAbandonable: an open that outlasts ctx is given up at once (a
// stop does not wait for a TensorRT engine build), and what it opens late
// is closed; an open that finishes first is returned, not closed.
func TestOpenAbandonable(t *testing.T) {
	var closed atomic.Int32
	release := make(chan struct{})
	finished := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := openAbandonable(ctx, func() (closeCounter, error) {
		<-release
		defer close(finished)
		return closeCounter{&closed}, nil
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 2*time.Second, "returned when ctx was done, not when the open finished")
	assert.Zero(t, closed.Load())
	close(release)
	<-finished
	require.Eventually(t, func() bool { return closed.Load() == 1 }, 5*time.Second, time.Millisecond,
		"the model opened late is closed")

	v, err := openAbandonable(context.Background(), func() (closeCounter, error) { return closeCounter{&closed}, nil })
	require.NoError(t, err)
	assert.NotNil(t, v.n)
	assert.EqualValues(t, 1, closed.Load(), "a model opened in time is the caller's")

	done, stop := context.WithCancel(context.Background())
	stop()
	_, err = openAbandonable(done, func() (closeCounter, error) { t.Fatal("opened with ctx done"); return closeCounter{}, nil })
	require.ErrorIs(t, err, context.Canceled)
}
