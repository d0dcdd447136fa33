package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/hydrognn/hydrognn/shared/diag"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(tb testing.TB, path string, o Options) *Store {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = quiet()
	}
	if o.Now == nil {
		o.Now = func() time.Time { return t0.Add(time.Hour) }
	}
	s, err := Open(path, o)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// window returns a diagnosis of the i-th minute window after t0.
func window(i int) *diag.Diagnosis {
	start := t0.Add(time.Duration(i) * time.Minute)
	return &diag.Diagnosis{
		RigID: "rig-1", RigType: "zema-testrig", AgentID: "a1", CreatedAt: start.Add(62 * time.Second),
		Window: diag.Window{Start: start, End: start.Add(time.Minute), Steps: 60, Coverage: 1},
		Health: 0.9, Status: diag.Healthy,
	}
}

func TestAppendSeqQueryAndRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "diagnoses.db")
	s := open(t, path, Options{})
	for i := range 10 {
		d, err := s.Append(ctx, window(i), Progress{Cursor: uint64(100 * i), Window: window(i).Window.Start})
		require.NoError(t, err)
		assert.Equal(t, uint64(i+1), d.Seq)
	}
	latest, ok, err := s.Latest("rig-1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(10), latest.Seq)
	_, ok, err = s.Latest("other-rig")
	require.NoError(t, err)
	assert.False(t, ok)

	tests := []struct {
		name string
		q    Query
		want []uint64
		more bool
	}{
		{"all", Query{Limit: 100}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, false},
		{"range", Query{From: t0.Add(2 * time.Minute), To: t0.Add(5 * time.Minute), Limit: 100}, []uint64{3, 4, 5}, false},
		{"limited", Query{From: t0.Add(2 * time.Minute), Limit: 2}, []uint64{3, 4}, true},
		{"desc", Query{To: t0.Add(5 * time.Minute), Limit: 3, Desc: true}, []uint64{5, 4, 3}, true},
		{"desc all", Query{Limit: 2, Desc: true}, []uint64{10, 9}, true},
		{"empty", Query{From: t0.Add(time.Hour), Limit: 5}, nil, false},
		{"far bounds", Query{From: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), Limit: 3}, []uint64{1, 2, 3}, true},
		{"far bounds desc", Query{To: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), Limit: 2, Desc: true}, []uint64{10, 9}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Query(ctx, tc.q)
			require.NoError(t, err)
			var got []uint64
			for _, d := range p.Diagnoses {
				got = append(got, d.Seq)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.more, p.More)
		})
	}
	after, err := s.After(ctx, 7, 10)
	require.NoError(t, err)
	require.Len(t, after, 3)
	assert.Equal(t, uint64(8), after[0].Seq)
	require.NoError(t, s.SetCursor(ctx, "forward", 7))
	require.NoError(t, s.Close())
	assert.NoError(t, s.Close(), "Close is idempotent")
	_, err = s.Append(ctx, window(11), Progress{})
	assert.ErrorIs(t, err, ErrClosed)

	// Restart: sequence, progress, cursor and history survive.
	s = open(t, path, Options{})
	assert.Equal(t, Progress{Cursor: 900, Window: t0.Add(9 * time.Minute)}, s.Progress())
	cur, err := s.Cursor("forward")
	require.NoError(t, err)
	assert.Equal(t, uint64(7), cur)
	d, err := s.Append(ctx, window(10), Progress{Cursor: 1000})
	require.NoError(t, err)
	assert.Equal(t, uint64(11), d.Seq)
	st := s.Stats()
	assert.Equal(t, uint64(11), st.Count)
	assert.Equal(t, uint64(1), st.FirstSeq)
	assert.Equal(t, uint64(11), st.LastSeq)
}

func TestCaps(t *testing.T) {
	ctx := context.Background()
	t.Run("count", func(t *testing.T) {
		s := open(t, filepath.Join(t.TempDir(), "h.db"), Options{MaxCount: 3})
		for i := range 7 {
			_, err := s.Append(ctx, window(i), Progress{})
			require.NoError(t, err)
		}
		st := s.Stats()
		assert.Equal(t, uint64(3), st.Count)
		assert.Equal(t, uint64(5), st.FirstSeq)
		assert.Equal(t, uint64(4), st.Dropped[ReasonMaxCount])
		p, err := s.Query(ctx, Query{Limit: 10})
		require.NoError(t, err)
		assert.Len(t, p.Diagnoses, 3, "the index follows removals")
	})
	t.Run("bytes", func(t *testing.T) {
		s := open(t, filepath.Join(t.TempDir(), "h.db"), Options{MaxBytes: 1000})
		for i := range 5 {
			_, err := s.Append(ctx, window(i), Progress{})
			require.NoError(t, err)
		}
		st := s.Stats()
		assert.LessOrEqual(t, st.Bytes, int64(1000))
		assert.Positive(t, st.Dropped[ReasonMaxBytes])
		assert.Equal(t, uint64(5), st.LastSeq)
		latest, ok, err := s.Latest("")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, uint64(5), latest.Seq, "the newest is kept")
	})
	t.Run("age and persisted counters", func(t *testing.T) {
		now := t0.Add(10 * time.Minute)
		path := filepath.Join(t.TempDir(), "h.db")
		s := open(t, path, Options{MaxAge: time.Hour, Now: func() time.Time { return now }})
		for i := range 5 {
			_, err := s.Append(ctx, window(i), Progress{})
			require.NoError(t, err)
		}
		require.NoError(t, s.Close())
		now = t0.Add(time.Hour + 3*time.Minute + 30*time.Second) // windows 0-2 were made over an hour before (at i min + 62 s)
		s = open(t, path, Options{MaxAge: time.Hour, Now: func() time.Time { return now }})
		st := s.Stats()
		assert.Equal(t, uint64(3), st.Dropped[ReasonMaxAge])
		assert.Equal(t, uint64(2), st.Count)
		require.NoError(t, s.Close())
		s = open(t, path, Options{MaxAge: -1})
		assert.Equal(t, uint64(3), s.Stats().Dropped[ReasonMaxAge], "drop counters are persisted")
	})
}

func TestDamagedFileIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(tb testing.TB, path string)
	}{
		{"not bbolt", func(tb testing.TB, path string) {
			require.NoError(tb, os.WriteFile(path, []byte(strings.Repeat("garbage ", 2000)), 0o600))
		}},
		{"truncated", func(tb testing.TB, path string) {
			require.NoError(tb, os.Truncate(path, 4096+100))
		}},
		{"meta pages zeroed", func(tb testing.TB, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			require.NoError(tb, err)
			_, err = f.WriteAt(make([]byte, 8192), 0)
			require.NoError(tb, err)
			require.NoError(tb, f.Close())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "h.db")
			s := open(t, path, Options{})
			for i := range 20 {
				_, err := s.Append(ctx, window(i), Progress{})
				require.NoError(t, err)
			}
			require.NoError(t, s.Close())
			tc.damage(t, path)
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			_, err = Open(path, Options{Logger: quiet()})
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrCorrupt), "want ErrCorrupt, got %v", err)
			assert.Contains(t, err.Error(), "mv "+path+" "+path+".corrupt-")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, before, after, "the damaged file is left as it was")
		})
	}
}

func TestMinSeq(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "h.db"), Options{MinSeq: 41})
	d, err := s.Append(context.Background(), window(0), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(42), d.Seq)
}

// A failure to apply the caps after the diagnosis was committed is not an
// Append error (the windowing would store the window again under a new
// Seq); the caps are applied by the next Append.
func TestAppendPruneFailureIsNotAnError(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "h.db"), Options{MaxCount: 2})
	for i := range 2 {
		_, err := s.Append(ctx, window(i), Progress{})
		require.NoError(t, err)
	}
	testPruneFault = func() error { return errors.New("disk full") }
	t.Cleanup(func() { testPruneFault = nil })
	got, err := s.Append(ctx, window(2), Progress{})
	require.NoError(t, err, "the diagnosis was stored")
	assert.Equal(t, uint64(3), got.Seq)
	st := s.Stats()
	assert.Equal(t, uint64(3), st.Count, "over the cap until the next append")
	assert.Equal(t, uint64(1), st.PruneErrors)
	assert.Equal(t, uint64(3), st.LastSeq)

	testPruneFault = nil
	got, err = s.Append(ctx, window(3), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(4), got.Seq)
	st = s.Stats()
	assert.Equal(t, uint64(2), st.Count, "the caps are applied again")
	assert.Equal(t, uint64(3), st.FirstSeq)
	assert.Equal(t, uint64(2), st.Dropped[ReasonMaxCount])
}

// TestQueryPagesSameWindowStart: diagnoses sharing a window start across
// a page boundary are each returned exactly once when the pages resume
// from the last diagnosis' Key, in both orders, at every page size.
func TestQueryPagesSameWindowStart(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "diagnoses.db"), Options{MaxAge: -1})
	// Window minutes 0, 1, 1, 1, 1, 2, 1, 3: seq 7 is a later diagnosis of
	// minute 1 (a model update diagnosing it again).
	for _, i := range []int{0, 1, 1, 1, 1, 2, 1, 3} {
		_, err := s.Append(ctx, window(i), Progress{})
		require.NoError(t, err)
	}
	asc := []uint64{1, 2, 3, 4, 5, 7, 6, 8}
	desc := []uint64{8, 6, 7, 5, 4, 3, 2, 1}
	for _, tc := range []struct {
		name     string
		q        Query
		want     []uint64
		lastMore bool
	}{
		{"asc", Query{}, asc, false},
		{"desc", Query{Desc: true}, desc, false},
		{"asc range", Query{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, []uint64{2, 3, 4, 5, 7, 6}, false},
		{"desc range", Query{From: t0.Add(time.Minute), To: t0.Add(2 * time.Minute), Desc: true}, []uint64{7, 5, 4, 3, 2}, false},
	} {
		for limit := 1; limit <= len(tc.want)+1; limit++ {
			t.Run(fmt.Sprintf("%s/limit=%d", tc.name, limit), func(t *testing.T) {
				q := tc.q
				q.Limit = limit
				var got []uint64
				for pages := 0; ; pages++ {
					require.Less(t, pages, 20, "pages do not end")
					p, err := s.Query(ctx, q)
					require.NoError(t, err)
					require.LessOrEqual(t, len(p.Diagnoses), limit)
					for _, d := range p.Diagnoses {
						got = append(got, d.Seq)
					}
					if !p.More {
						break
					}
					require.NotEmpty(t, p.Diagnoses)
					k := KeyOf(&p.Diagnoses[len(p.Diagnoses)-1])
					q.After = &k
				}
				assert.Equal(t, tc.want, got)
			})
		}
	}

	// A Key outside the range, or past every key, is harmless.
	for _, tc := range []struct {
		name string
		q    Query
		want []uint64
	}{
		{"after before from", Query{From: t0.Add(2 * time.Minute), After: &Key{Start: t0.UnixNano(), Seq: 1}}, []uint64{6, 8}},
		{"after past to desc", Query{To: t0.Add(time.Minute), Desc: true, After: &Key{Start: t0.Add(time.Hour).UnixNano()}}, []uint64{1}},
		{"after the largest key", Query{After: &Key{Start: math.MaxInt64, Seq: math.MaxUint64}}, nil},
		{"desc below the smallest key", Query{Desc: true, After: &Key{Start: math.MinInt64}}, nil},
		{"after mid start", Query{After: &Key{Start: t0.Add(time.Minute).UnixNano(), Seq: 4}}, []uint64{5, 7, 6, 8}},
		{"desc after mid start", Query{Desc: true, After: &Key{Start: t0.Add(time.Minute).UnixNano(), Seq: 4}}, []uint64{3, 2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Limit = 100
			p, err := s.Query(ctx, tc.q)
			require.NoError(t, err)
			var got []uint64
			for _, d := range p.Diagnoses {
				got = append(got, d.Seq)
			}
			assert.Equal(t, tc.want, got)
			assert.False(t, p.More)
		})
	}
	far := diag.Diagnosis{Seq: 3, Window: diag.Window{Start: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}}
	assert.Equal(t, Key{Start: math.MaxInt64, Seq: 3}, KeyOf(&far), "saturated as the index stores it")
}

// A page that ends at the limit says More only when a stored diagnosis
// follows it, not for index entries whose record is gone: the next page
// is never empty.
func TestQueryMoreSkipsIndexWithoutRecord(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "diagnoses.db"), Options{MaxAge: -1})
	for i := range 5 {
		_, err := s.Append(ctx, window(i), Progress{})
		require.NoError(t, err)
	}
	// Seqs 1, 4 and 5 lose their records, their index entries stay.
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		for _, seq := range []uint64{1, 4, 5} {
			if err := tx.Bucket(bucketDiag).Delete(seqKey(seq)); err != nil {
				return err
			}
		}
		return nil
	}))
	seqs := func(p Page) (out []uint64) {
		for _, d := range p.Diagnoses {
			out = append(out, d.Seq)
		}
		return out
	}
	p, err := s.Query(ctx, Query{Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []uint64{2, 3}, seqs(p))
	assert.False(t, p.More, "only 4 and 5, without records, follow")

	p, err = s.Query(ctx, Query{Limit: 1, Desc: true})
	require.NoError(t, err)
	assert.Equal(t, []uint64{3}, seqs(p))
	assert.True(t, p.More, "2 follows")
	k := KeyOf(&p.Diagnoses[0])
	p, err = s.Query(ctx, Query{Limit: 1, Desc: true, After: &k})
	require.NoError(t, err)
	assert.Equal(t, []uint64{2}, seqs(p))
	assert.False(t, p.More, "only 1, without its record, follows")
}
