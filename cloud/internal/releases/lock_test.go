package releases_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/releases"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

// onlineRepo initialises a repository signed at signed and moves its root
// and targets keys away, as a key ceremony leaves rig-cloud's keys.
func onlineRepo(t *testing.T, signed time.Time) (dir, online string) {
	t.Helper()
	base := t.TempDir()
	dir, online = filepath.Join(base, "repo"), filepath.Join(base, "online")
	_, err := tufrepo.Init(dir, online, tufrepo.Options{Now: func() time.Time { return signed }})
	require.NoError(t, err)
	offline := filepath.Join(base, "offline")
	require.NoError(t, os.MkdirAll(offline, 0o700))
	for _, role := range []string{"root", "targets"} {
		pems, _ := filepath.Glob(filepath.Join(online, role+"-*.pem"))
		for _, p := range pems {
			require.NoError(t, os.Rename(p, filepath.Join(offline, filepath.Base(p))))
		}
	}
	return dir, online
}

// A replica whose database connection is lost while it re-signs (its
// backend terminated: PostgreSQL releases the lock) writes nothing more,
// although another replica took the lock and re-signed the same versions
// meanwhile: the other's files stay as written, and the first fails with
// ErrLockLost. Replica A is stopped at its clock, which it reads under the
// lock before signing.
func TestLostLockWritesNothing(t *testing.T) {
	// Signed five days ago: the snapshot (a week) has two days left, less
	// than its 72h refresh: due.
	now := time.Now()
	dir, online := onlineRepo(t, now.Add(-5*24*time.Hour))
	ctx := context.Background()
	poolA, u := dbtest.Pool(t)
	poolB, err := db.Open(ctx, u, db.Options{MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(poolB.Close)
	probe, err := db.Open(ctx, u, db.Options{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(probe.Close)

	// B signs a minute later than A: its metadata differs from A's.
	b, err := releases.New(poolB, releases.Options{RepoDir: dir, KeysDir: online, Now: func() time.Time { return now.Add(time.Minute) }})
	require.NoError(t, err)
	var (
		once     sync.Once
		bDone    []string
		bErr     error
		bWritten map[string][]byte
	)
	read := func() map[string][]byte {
		out := map[string][]byte{}
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			c, err := os.ReadFile(f)
			require.NoError(t, err)
			out[filepath.Base(f)] = c
		}
		return out
	}
	clockA := func() time.Time {
		var pid int32
		// Advisory locks are per database: this test's only (other tests
		// on the server take LockKey in theirs).
		err := probe.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1`, releases.LockKey>>32, releases.LockKey&0xffffffff).Scan(&pid)
		if err != nil {
			return now // A does not hold the lock (yet)
		}
		once.Do(func() {
			var gone bool
			require.NoError(t, probe.QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&gone))
			require.True(t, gone, "A's backend terminated")
			bDone, bErr = b.Check(ctx)
			bWritten = read()
		})
		return now
	}
	a, err := releases.New(poolA, releases.Options{RepoDir: dir, KeysDir: online, Now: clockA})
	require.NoError(t, err)

	_, err = a.Check(ctx)
	require.NoError(t, bErr)
	require.Equal(t, []string{"snapshot", "timestamp"}, bDone, "B re-signed while A's lock was lost")
	require.Error(t, err, "A went on without its lock")
	assert.True(t, errors.Is(err, releases.ErrLockLost), "%v", err)

	after := read()
	assert.Equal(t, len(bWritten), len(after), "A wrote no file: %v", keys(after))
	for name, c := range bWritten {
		assert.Equal(t, string(c), string(after[name]), "%s was rewritten by the replica that lost its lock", name)
	}
	r, err := tufrepo.Open(dir, online, tufrepo.Options{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), r.Versions()["snapshot"])
	assert.Equal(t, int64(2), r.Versions()["timestamp"])
	assert.WithinDuration(t, now.Add(time.Minute+24*time.Hour), r.Expires("timestamp"), time.Second, "B's timestamp")

	// The next check (a working connection) finds nothing due.
	d, err := a.Check(ctx)
	require.NoError(t, err)
	assert.Empty(t, d)
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A publication whose request is cancelled while it holds the lock (the
// client went away) still writes all of its metadata: the lock checks
// before each file are not cancelled with the request, so it never stops
// between the targets and the snapshot. The request is cancelled at the
// clock, which Publish reads under the lock before writing.
func TestPublishCancelledFinishes(t *testing.T) {
	now := time.Now()
	dir, online := onlineRepo(t, now)
	offline := filepath.Join(filepath.Dir(dir), "offline")
	pool, _ := dbtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := releases.New(pool, releases.Options{RepoDir: dir, KeysDir: online, Now: func() time.Time {
		cancel()
		return now
	}})
	require.NoError(t, err)
	root, err := metadata.Root().FromFile(filepath.Join(dir, "root.json"))
	require.NoError(t, err)
	cur, err := metadata.Targets().FromFile(filepath.Join(dir, "targets.json"))
	require.NoError(t, err)
	targets, err := tufrepo.ResignTargets(root, cur, offline, tufrepo.Options{})
	require.NoError(t, err)

	p, err := s.Publish(ctx, targets, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(2), p.Versions["targets"])
	r, err := tufrepo.Open(dir, online, tufrepo.Options{})
	require.NoError(t, err)
	assert.False(t, r.SnapshotStale(), "versions %v: the snapshot was not written", r.Versions())
	assert.Equal(t, int64(2), r.Versions()["snapshot"])
}
