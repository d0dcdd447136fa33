package plugin

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/codec"
)

// TestUnavailableIsNotThePayloads: the calls that never reached the
// plugin with the payload (a failed start, a pending restart, a closed
// host) wrap ErrUnavailable; a crash during the call does not (review r7
// F1: the ingest counted start failures against the payload and dropped
// the message).
func TestUnavailableIsNotThePayloads(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, BinaryPrefix+"broken"), []byte("#!/bin/sh\nexit 1\n"), 0o755))
	h := newHost(t, HostOptions{Dir: dir, StartTimeout: 2 * time.Second, MinBackoff: time.Hour})
	c, err := h.Codec("broken")
	require.NoError(t, err)
	_, err = c.Decode(codec.Binding{Topic: "t"}, []byte("x"), nil)
	require.ErrorIs(t, err, ErrFailed)
	require.ErrorIs(t, err, ErrUnavailable, "a failed start: %v", err)
	_, err = c.Decode(codec.Binding{Topic: "t"}, []byte("x"), nil)
	require.ErrorIs(t, err, ErrRestarting)
	require.ErrorIs(t, err, ErrUnavailable, "a pending restart: %v", err)
	require.NoError(t, h.Close())
	_, err = c.Decode(codec.Binding{Topic: "t"}, []byte("x"), nil)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, ErrUnavailable, "a closed host: %v", err)

	h2 := newHost(t, HostOptions{MinBackoff: time.Hour})
	cr, err := h2.Codec("crasher")
	require.NoError(t, err)
	decodeUntilOK(t, cr)
	_, err = cr.Decode(codec.Binding{Topic: "t"}, []byte("crash"), nil)
	require.ErrorIs(t, err, ErrFailed)
	assert.NotErrorIs(t, err, ErrUnavailable, "a crash on the payload: %v", err)
}
