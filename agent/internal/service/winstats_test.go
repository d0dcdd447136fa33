package service

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWindowingCountersSurviveModelUpdate: a model update replaces the
// windowing runner; /status and /metrics keep counting the windows
// diagnosed before it (each runner counts from its own start), so the
// count stays the number of diagnoses the agent stored since start.
func TestWindowingCountersSurviveModelUpdate(t *testing.T) {
	u := newUpdateRig(t, nil)
	u.windows(0, 180)
	waitDiagnoses(t, u.addr, 6)
	waitFor(t, 10*time.Second, "the windowing counted the diagnoses", func() bool {
		return u.status().Windowing.Diagnosed == u.a.History().Stats().Appended
	})
	before := u.status().Windowing
	require.Positive(t, before.Diagnosed)

	// The same bundle from another directory: Activate swaps the runner.
	dir := filepath.Join(t.TempDir(), "bundle-copy")
	require.NoError(t, os.CopyFS(dir, os.DirFS(u.bundleDir)))
	runner := u.a.Windowing()
	require.NoError(t, u.a.Activate(t.Context(), dir))
	require.NotSame(t, runner, u.a.Windowing(), "a new runner serves")

	after := u.status().Windowing
	assert.Equal(t, before.Diagnosed, after.Diagnosed, "the count goes on after the update")
	assert.Equal(t, before.Failed, after.Failed)
	assert.GreaterOrEqual(t, after.Cursor, before.Cursor)
	want := fmt.Sprintf("rig_agent_windows_total{result=\"diagnosed\"} %d\n", before.Diagnosed)
	assert.True(t, strings.Contains(getText(t, u.addr, "/metrics"), want), "/metrics lacks %q", want)

	u.windows(600, 660)
	waitDiagnoses(t, u.addr, 9)
	waitFor(t, 10*time.Second, "the new runner's diagnoses added", func() bool {
		st := u.status().Windowing
		return st.Diagnosed > before.Diagnosed && st.Diagnosed == u.a.History().Stats().Appended
	})
}
