package releases_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/releases"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

// freezer is a TCP proxy to the database whose connections stop passing
// bytes, without closing, once frozen: a half-open connection.
type freezer struct {
	ln     net.Listener
	frozen atomic.Bool
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

func newFreezer(t *testing.T, upstream string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln, done: make(chan struct{})}
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			f.wg.Go(func() { f.pipe(u, c) })
			f.wg.Go(func() { f.pipe(c, u) })
		}
	})
	t.Cleanup(f.stop)
	return f
}

// stop closes the proxy and its connections.
func (f *freezer) stop() {
	f.once.Do(func() {
		close(f.done)
		f.ln.Close()
		f.wg.Wait()
	})
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-f.done:
			src.Close()
		case <-stop:
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if f.frozen.Load() {
			<-f.done // swallow: nothing passes, nothing closes
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF included
			return
		}
	}
}

// A replica whose locking connection stops answering (half-open: no reply
// and no reset) while it re-signs does not wait for ever in the lock
// check, holding the Service: the check times out, counts as the lock
// lost, and nothing is written.
func TestHalfOpenLockCheckIsLockLost(t *testing.T) {
	now := time.Now()
	dir, online := onlineRepo(t, now.Add(-5*24*time.Hour)) // the snapshot is due
	ctx := context.Background()
	_, u := dbtest.Pool(t)
	pu, err := url.Parse(u)
	require.NoError(t, err)
	f := newFreezer(t, pu.Host)
	pu.Host = f.ln.Addr().String()
	pool, err := db.Open(ctx, pu.String(), db.Options{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	t.Cleanup(f.stop) // before pool.Close: the frozen connections close at once
	probe, err := db.Open(ctx, u, db.Options{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(probe.Close)

	// Frozen once this replica holds the lock: its next word on the
	// connection is the lock check before the first file.
	clock := func() time.Time {
		var n int
		err := probe.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1`, releases.LockKey>>32, releases.LockKey&0xffffffff).Scan(&n)
		if err == nil && n > 0 {
			f.frozen.Store(true)
		}
		return now
	}
	s, err := releases.New(pool, releases.Options{RepoDir: dir, KeysDir: online, Now: clock})
	require.NoError(t, err)
	releases.SetLockCheckTimeout(s, 300*time.Millisecond)

	res := make(chan error, 1)
	go func() {
		_, err := s.Check(ctx)
		res <- err
	}()
	select {
	case err = <-res:
	case <-time.After(2 * time.Minute): // a hang detector, not a timing
		t.Fatal("the lock check on a half-open connection never returned")
	}
	require.True(t, f.frozen.Load(), "the connection was frozen under the lock")
	require.Error(t, err)
	assert.True(t, errors.Is(err, releases.ErrLockLost), "%v", err)
	r, err := tufrepo.Open(dir, online, tufrepo.Options{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), r.Versions()["snapshot"], "nothing written")
	assert.Equal(t, int64(1), r.Versions()["timestamp"], "nothing written")
}
