package plugin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/codec"
)

// A plugin whose child process inherited its stderr and outlives it does
// not keep Close waiting: go-plugin waits for EOF on the plugin's stderr
// after the kill, which the child would hold open; the host kills the
// plugin's whole process group.
func TestCloseKillsPluginGroup(t *testing.T) {
	h := newHost(t, HostOptions{})
	c, err := h.Codec("forker")
	require.NoError(t, err)
	_, err = c.Decode(codec.Binding{Topic: "t", Sensor: "PS1", Now: now}, []byte(";;1\n"), nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- h.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second): // a hang, not a timing assertion
		t.Fatal("Close has not returned after 30s")
	}
}
