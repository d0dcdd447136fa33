package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// Under the unit's Type=notify the agent tells systemd READY=1 once it
// has started and STOPPING=1 when it stops (review r3 finding 5, its
// readiness part), and the unit sets no start timeout, which would cut
// the buffer's check short.
func TestNotifiesSystemd(t *testing.T) {
	needORT(t)
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	recv := func() string {
		t.Helper()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		require.NoError(t, err)
		return string(buf[:n])
	}

	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:0")
	a := startInProcess(t, []string{"--config", cfg}, 30*time.Second)
	assert.Equal(t, "READY=1", recv())
	c, logs := a.stop(t, 30*time.Second)
	assert.Equal(t, 0, c, logs)
	assert.Equal(t, "STOPPING=1", recv())

	u := unitfiletest.Read(t, agentUnit)
	assert.Equal(t, []string{"notify"}, u.Values("Type"))
	assert.Equal(t, []string{"infinity"}, u.Values("TimeoutStartSec"))
}
