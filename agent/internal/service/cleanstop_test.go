package service

import (
	"context"
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
