package service

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStopMarksUpdateCleanStop: Stop leaves the updater's clean-stop
// marker (update.Manager.Close), so that the next start counts no attempt
// or watch restart against the release for an orderly stop; before, every
// stop, however orderly, read at the next start as a crash.
func TestStopMarksUpdateCleanStop(t *testing.T) {
	u := newUpdateRig(t, nil)
	marker := filepath.Join(u.a.cfg.Update.Dir, "stopped")
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("marker %s while running: %v", marker, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, u.a.Stop(ctx))
	_, err := os.Stat(marker)
	require.NoError(t, err, "no clean-stop marker after Stop")
}

// TestFailedStartAfterModelIsClean: a start that fails once the model is
// up (here: the API's or the embedded broker's port is taken) is not the release's failure: it
// leaves the clean-stop marker, so that a service manager restarting the
// agent in a loop does not roll a healthy release back. Before, each such
// start read as a crash at the next one.
func TestFailedStartAfterModelIsClean(t *testing.T) {
	u := newUpdateRig(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, u.a.Stop(ctx))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	for _, part := range []string{"api", "embedded broker"} {
		cfg := *u.a.cfg
		if part == "api" {
			cfg.API.Listen = busy.Addr().String()
		} else {
			cfg.Broker.Listen = busy.Addr().String()
		}
		b, err := Start(ctx, &cfg, Options{Version: "1.0.0", Logger: testLogger(t)})
		if err == nil {
			stopAgent(t, b)
			t.Fatalf("started with the %s's port taken", part)
		}
		_, serr := os.Stat(filepath.Join(cfg.Update.Dir, "stopped"))
		require.NoError(t, serr, "no clean-stop marker after a start that failed at the %s (%v)", part, err)
	}
}
