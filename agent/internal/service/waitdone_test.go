package service

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
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

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1883": true, "[::1]:1883": true, "localhost:1883": true, "127.1.2.3:1": true,
		"0.0.0.0:1883": false, ":1883": false, "192.168.1.10:1883": false, "[::]:1883": false, "rig.local:1883": false,
	} {
		assert.Equal(t, want, isLoopback(addr), addr)
	}
}
