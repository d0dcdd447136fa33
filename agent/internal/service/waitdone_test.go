package service

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// waitDone reports a part that stopped as stopped even when the stop's
// ctx is done too (a select over both picks at random).
func TestWaitDonePrefersDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	close(done)
	for range 200 {
		require.True(t, waitDone(ctx, done))
	}
	require.False(t, waitDone(ctx, make(chan struct{})))
}
