package forward

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The agent checks its outbox at the start of its start (CheckOutbox)
// and opens it at the end (New): the file, unchanged since, is read and
// checked once, not twice. A file changed in between, or a second New,
// is checked again.
func TestOutboxCheckedOnceAtStart(t *testing.T) {
	c := newCloud(t, newClock(t0, 1000))
	path := filepath.Join(t.TempDir(), "outbox.db")
	f := newForwarder(t, c, path, nil) // creates it
	require.NoError(t, f.Close())

	before := checkRuns.Load()
	require.NoError(t, CheckOutbox(path))
	f = newForwarder(t, c, path, nil)
	require.NoError(t, f.Close())
	assert.Equal(t, int64(1), checkRuns.Load()-before, "CheckOutbox then New: one check")

	before = checkRuns.Load()
	f = newForwarder(t, c, path, nil)
	require.NoError(t, f.Close())
	assert.Equal(t, int64(1), checkRuns.Load()-before, "New alone checks")

	before = checkRuns.Load()
	require.NoError(t, CheckOutbox(path))
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(path, later, later)) // changed since the check
	f = newForwarder(t, c, path, nil)
	require.NoError(t, f.Close())
	assert.Equal(t, int64(2), checkRuns.Load()-before, "a file changed after CheckOutbox is checked again")
}
