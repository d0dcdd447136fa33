package service

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The HTTP API's listener failing while the agent runs fails the agent
// (Failed, so rig-agent exits 1 and systemd restarts it) instead of
// leaving it running without /metrics and /health (review r3 finding 9).
// The listening socket is shut down under the server, as a failed
// listener would: its Accept then fails for good.
func TestAPIFailureFailsAgent(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	a := startAgent(t, writeConfig(t, dir, "api-fail", ""))
	shutdownListener(t, a.APIAddr())
	select {
	case err := <-a.Failed():
		assert.ErrorContains(t, err, "http api stopped")
	case <-time.After(15 * time.Second):
		t.Fatal("the agent did not fail after its HTTP API's listener failed")
	}
}

// shutdownListener finds this process's listening socket bound to addr
// and shuts it down (shutdown(2): a blocked accept returns EINVAL).
func shutdownListener(t *testing.T, addr string) {
	t.Helper()
	want, err := net.ResolveTCPAddr("tcp", addr)
	require.NoError(t, err)
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, e := range fds {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if link, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); len(link) < 7 || link[:7] != "socket:" {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			continue
		}
		in4, ok := sa.(*unix.SockaddrInet4)
		if !ok || in4.Port != want.Port || !net.IP(in4.Addr[:]).Equal(want.IP) {
			continue
		}
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
			continue
		}
		require.NoError(t, unix.Shutdown(fd, unix.SHUT_RDWR))
		return
	}
	t.Fatalf("no listening socket on %s", addr)
}
