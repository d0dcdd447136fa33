package forward

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
)

// A forwarder with a heartbeat beats while it sleeps, and a wake still
// ends the whole sleep at once.
func TestBeatingClockSleep(t *testing.T) {
	old := liveness.Interval
	liveness.Interval = 10 * time.Millisecond
	defer func() { liveness.Interval = old }()
	var n int
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	now := time.Unix(1e9, 0)
	reg, err := liveness.New(time.Minute, func() time.Time { <-mu; n++; mu <- struct{}{}; return now })
	require.NoError(t, err)
	b, err := reg.Register("forwarder")
	require.NoError(t, err)
	c := beatingClock{Clock: systemClock{}, beat: b}

	require.NoError(t, c.Sleep(context.Background(), 100*time.Millisecond, nil))
	<-mu
	beats := n
	mu <- struct{}{}
	assert.GreaterOrEqual(t, beats, 5, "beats while sleeping 100ms at 10ms")

	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	began := time.Now()
	require.NoError(t, c.Sleep(context.Background(), time.Hour, wake))
	assert.Less(t, time.Since(began), time.Minute, "a wake ends the sleep")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, c.Sleep(ctx, time.Hour, nil), context.Canceled)
}
