package forward

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func storedCount(c *fakeCloud) (n int) {
	c.get(func(c *fakeCloud) { n = len(c.stored) })
	return n
}

func TestBatchingAndIdempotency(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) { o.BatchItems = 10 })
	enqueue(t, f, seqRange(1, 25), nil)
	// Enqueueing a queued seq again changes nothing.
	enqueue(t, f, []uint64{3}, nil)
	assert.Equal(t, 25, f.Stats().Queued)

	// The first batch is stored, but its answer is lost, twice (net/http
	// retries a request with an Idempotency-Key once on a broken
	// connection, then the forwarder retries): the retries get duplicates,
	// and nothing is stored twice.
	c.set(func(c *fakeCloud) { c.storeAbort = 2 })
	stop := run(t, f)
	eventually(t, "25 stored", func() bool { return f.Stats().Queued == 0 })
	stop()
	c.get(func(c *fakeCloud) {
		assert.Len(t, c.stored, 25)
		assert.Equal(t, seqRange(1, 25), c.order)
		assert.Equal(t, 20, c.dupes, "the first batch, replayed twice")
		assert.True(t, c.keysOK, "Idempotency-Key is BatchKey of the body")
		for _, b := range c.batches {
			assert.LessOrEqual(t, len(b), 10)
		}
		assert.Len(t, c.batches, 5, "3 batches of 10, 10, 5 plus two replays")
	})
	s := f.Stats()
	assert.Equal(t, uint64(15), s.Accepted, "the first 10 were stored by a request whose answer was lost")
	assert.Equal(t, uint64(10), s.Duplicates, "the forwarder saw one replay's answer")
	assert.Equal(t, uint64(25), s.Enqueued)
	assert.Equal(t, LinkUp, s.Link)
	assert.NotZero(t, s.BytesSent)
	assert.NotZero(t, s.BytesReceived)
	assert.Equal(t, uint64(1), s.Failures)
}

func TestAlertsFirst(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) { o.BatchItems = 4 })
	isAlert := func(s uint64) bool { return s%7 == 0 }
	enqueue(t, f, seqRange(1, 30), isAlert)
	assert.Equal(t, 4, f.Stats().QueuedAlerts)
	stop := run(t, f)
	eventually(t, "all stored", func() bool { return f.Stats().Queued == 0 })
	stop()
	want := []uint64{7, 14, 21, 28}
	for _, s := range seqRange(1, 30) {
		if !isAlert(s) {
			want = append(want, s)
		}
	}
	c.get(func(c *fakeCloud) { assert.Equal(t, want, c.order) })
}

// TestCalibratingIsNotAlert: a SKAB rig's first diagnoses (status
// unknown while the detector calibrates) are queued and sent as the
// non-alerts they are, after a real alert queued later; a plain unknown
// (too little data) stays an alert.
func TestCalibratingIsNotAlert(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) { o.BatchItems = 2 })
	unknown := func(seq uint64, calibrating bool) diag.Diagnosis {
		d := diagnosis(seq, false)
		d.Status, d.Health, d.Calibrating = diag.Unknown, 0, calibrating
		for i := range d.Components {
			d.Components[i].Status, d.Components[i].Health = diag.Unknown, 0
		}
		return d
	}
	for s := uint64(1); s <= 3; s++ {
		require.NoError(t, f.Enqueue(context.Background(), unknown(s, true)))
	}
	require.NoError(t, f.Enqueue(context.Background(), diagnosis(4, true)))
	require.NoError(t, f.Enqueue(context.Background(), unknown(5, false)))
	assert.Equal(t, 2, f.Stats().QueuedAlerts, "the critical one and the plain unknown")
	stop := run(t, f)
	eventually(t, "all stored", func() bool { return f.Stats().Queued == 0 })
	stop()
	c.get(func(c *fakeCloud) { assert.Equal(t, []uint64{4, 5, 1, 2, 3}, c.order) })
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	c.set(func(c *fakeCloud) { c.failNext, c.failStatus, c.retryAfter = 2, 503, "30" })
	f := newForwarder(t, c, "", nil)
	enqueue(t, f, seqRange(1, 5), nil)
	stop := run(t, f)
	eventually(t, "stored", func() bool { return f.Stats().Queued == 0 })
	// Now 429 with a longer Retry-After, then fine.
	c.set(func(c *fakeCloud) { c.failNext, c.failStatus, c.retryAfter = 1, 429, "90" })
	enqueue(t, f, seqRange(6, 8), nil)
	eventually(t, "stored", func() bool { return f.Stats().Queued == 0 && storedCount(c) == 8 })
	stop()
	var long []time.Duration
	for _, d := range clock.Sleeps() {
		if d >= 30*time.Second {
			long = append(long, d)
		}
	}
	require.Len(t, long, 3, "three waits honouring Retry-After: %v", clock.Sleeps())
	assert.GreaterOrEqual(t, long[2], 90*time.Second)
	for _, d := range long {
		assert.LessOrEqual(t, d, 99*time.Second, "Retry-After plus at most 10 %% jitter")
	}
	assert.Equal(t, uint64(3), f.Stats().Failures)
	assert.Equal(t, LinkUp, f.Stats().Link)
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	f := &Forwarder{opts: Options{BackoffMin: time.Second, BackoffMax: time.Minute, Rand: func() float64 { return 0.999999 }}}
	var got []time.Duration
	for f.fails = 1; f.fails <= 9; f.fails++ {
		got = append(got, f.backoff().Round(time.Second))
	}
	assert.Equal(t, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 60 * time.Second, 60 * time.Second, 60 * time.Second}, got)
	f.opts.Rand = func() float64 { return 0 }
	f.fails = 3
	assert.Equal(t, 2*time.Second, f.backoff(), "jitter: at least half")
}

// A diagnosis the cloud rejects never holds up the others: per item (200
// with a rejected result) or as a whole batch (400: the batch is split
// until the item is alone, then it is rejected).
func TestBadItemDoesNotWedgeTheQueue(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	c.set(func(c *fakeCloud) { c.rejectSeq[5] = true; c.refuseSeq[13] = true })
	f := newForwarder(t, c, "", func(o *Options) { o.BatchItems = 8 })
	enqueue(t, f, seqRange(1, 20), nil)
	stop := run(t, f)
	eventually(t, "drained", func() bool { return f.Stats().Queued == 0 })
	stop()
	want := slices.DeleteFunc(seqRange(1, 20), func(s uint64) bool { return s == 5 || s == 13 })
	c.get(func(c *fakeCloud) { assert.Equal(t, want, c.order) })
	s := f.Stats()
	assert.Equal(t, uint64(2), s.Rejected)
	assert.Equal(t, uint64(18), s.Accepted)
	assert.Equal(t, LinkUp, s.Link)
}

// A server that refuses everything with 400 is at fault, not the data:
// after RejectsInARow single rejections the forwarder keeps the rest.
func TestIncompatibleServerKeepsData(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	c.set(func(c *fakeCloud) { c.refuseAll = true })
	f := newForwarder(t, c, "", func(o *Options) { o.BatchItems = 4; o.RejectsInARow = 2 })
	enqueue(t, f, seqRange(1, 10), nil)
	stop := run(t, f)
	eventually(t, "incompatible", func() bool { return f.Stats().Link == LinkIncompatible })
	time.Sleep(50 * time.Millisecond)
	s := f.Stats()
	assert.Equal(t, uint64(2), s.Rejected)
	assert.Equal(t, 8, s.Queued)
	assert.Contains(t, s.LastError, "assuming the server is at fault")
	// Fixed server: the rest goes through.
	c.set(func(c *fakeCloud) { c.refuseAll = false })
	eventually(t, "drained", func() bool { return f.Stats().Queued == 0 })
	stop()
	assert.Equal(t, 8, storedCount(c))
}

func TestUnauthorizedKeepsDataAndRereadsCredential(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	c.set(func(c *fakeCloud) { c.cred = "secret-2" })
	cred := make(chan string, 1)
	cred <- "secret-1"
	current := "secret-1"
	f := newForwarder(t, c, "", func(o *Options) {
		o.Credential = func() (string, error) {
			select {
			case current = <-cred:
			default:
			}
			return current, nil
		}
	})
	enqueue(t, f, seqRange(1, 3), nil)
	stop := run(t, f)
	eventually(t, "unauthorized", func() bool { return f.Stats().Link == LinkUnauthorized })
	assert.Equal(t, 3, f.Stats().Queued)
	cred <- "secret-2" // the credential file was rotated
	eventually(t, "drained", func() bool { return f.Stats().Queued == 0 })
	stop()
	assert.Equal(t, 3, storedCount(c))
	for _, d := range clock.Sleeps() {
		assert.GreaterOrEqual(t, d, 30*time.Second, "401 waits at backoff_max (jittered)")
	}
}

func TestMissingCredentialIsUnauthorized(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) {
		o.Credential = config.Cloud{CredentialFile: filepath.Join(t.TempDir(), "missing")}.Credential
	})
	enqueue(t, f, seqRange(1, 2), nil)
	stop := run(t, f)
	eventually(t, "unauthorized", func() bool { return f.Stats().Link == LinkUnauthorized })
	stop()
	assert.Contains(t, f.Stats().LastError, "cloud.credential_file")
	assert.Equal(t, 2, f.Stats().Queued)
	assert.Zero(t, f.Stats().Requests, "nothing sent without a credential")
}

// A credential that cannot be read makes no request: it counts as a
// credential error, not as a failed request (Failures never exceeds
// Requests), and the link is unauthorized until the credential is back.
func TestUnreadableCredentialIsNoRequestFailure(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	var mu sync.Mutex
	bad := 3 // unreadable for the first 3 reads
	f := newForwarder(t, c, "", func(o *Options) {
		o.Credential = func() (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if bad > 0 {
				bad--
				return "", os.ErrPermission
			}
			return "secret-1", nil
		}
	})
	enqueue(t, f, seqRange(1, 2), nil)
	stop := run(t, f)
	var down Stats
	eventually(t, "unauthorized", func() bool { down = f.Stats(); return down.Link == LinkUnauthorized })
	assert.Contains(t, down.LastError, "permission denied")
	eventually(t, "2 stored", func() bool { return f.Stats().Queued == 0 })
	stop()
	s := f.Stats()
	assert.Equal(t, LinkUp, s.Link)
	assert.Equal(t, uint64(3), s.CredentialErrors)
	assert.Zero(t, s.Failures, "no request failed: the unreadable credential made none")
	assert.LessOrEqual(t, s.Failures, s.Requests)
	assert.Positive(t, s.Requests)
}

// Items are removed only after a 2xx; a restart resumes from the file.
func TestRestartResumes(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	c.set(func(c *fakeCloud) { c.mode = "down" })
	path := t.TempDir() + "/outbox.db"
	f := newForwarder(t, c, path, func(o *Options) { o.BatchItems = 5 })
	enqueue(t, f, seqRange(1, 12), func(s uint64) bool { return s == 12 })
	stop := run(t, f)
	eventually(t, "a failure", func() bool { return f.Stats().Failures > 0 })
	stop()
	require.NoError(t, f.Close())
	require.NoError(t, f.Close(), "idempotent")
	assert.ErrorIs(t, f.Enqueue(context.Background(), diagnosis(99, false)), ErrClosed)

	// Up again, but every answer is lost: stored, never removed.
	c.set(func(c *fakeCloud) { c.mode = ""; c.storeAbort = 1 << 30 })
	f2 := newForwarder(t, c, path, func(o *Options) { o.BatchItems = 5 })
	assert.Equal(t, 12, f2.Stats().Queued)
	assert.Equal(t, 1, f2.Stats().QueuedAlerts)
	stop = run(t, f2)
	eventually(t, "a batch stored", func() bool { return storedCount(c) > 0 && f2.Stats().Failures > 0 })
	stop()
	require.NoError(t, f2.Close())
	c.set(func(c *fakeCloud) { c.storeAbort, c.dupes = 0, 0 })

	f3 := newForwarder(t, c, path, func(o *Options) { o.BatchItems = 5 })
	assert.Equal(t, 12, f3.Stats().Queued, "the lost answer left the batch queued")
	stop = run(t, f3)
	eventually(t, "drained", func() bool { return f3.Stats().Queued == 0 })
	stop()
	c.get(func(c *fakeCloud) {
		assert.Len(t, c.stored, 12)
		assert.Equal(t, append([]uint64{12}, seqRange(1, 11)...), c.order)
		assert.Equal(t, 5, c.dupes)
	})
}

func TestOutboxFullPolicy(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	var drops []uint64
	f := newForwarder(t, c, "", func(o *Options) {
		o.MaxItems = 6
		o.OnDrop = func(seq uint64, alert bool) { drops = append(drops, seq) }
	})
	enqueue(t, f, seqRange(1, 4), nil)                                // 4 others
	enqueue(t, f, seqRange(5, 7), func(uint64) bool { return true })  // 3 alerts: drops 1
	enqueue(t, f, seqRange(8, 10), func(uint64) bool { return true }) // 3 alerts: drops 2, 3, 4
	enqueue(t, f, []uint64{11}, nil)                                  // all alerts: 11 itself dropped
	enqueue(t, f, []uint64{12}, func(uint64) bool { return true })    // alert: drops alert 5
	assert.Equal(t, []uint64{1, 2, 3, 4, 11, 5}, drops)
	s := f.Stats()
	assert.Equal(t, uint64(6), s.Dropped)
	assert.Equal(t, uint64(1), s.DroppedAlerts)
	assert.Equal(t, 6, s.Queued)
	assert.Equal(t, 6, s.QueuedAlerts)

	// Bytes cap: room for about three.
	f2 := newForwarder(t, c, "", func(o *Options) { o.MaxBytes = 3*int64(len(mustJSON(t, diagnosis(1, false)))) + 200 })
	enqueue(t, f2, seqRange(1, 5), nil)
	assert.Equal(t, uint64(2), f2.Stats().Dropped)
	assert.Equal(t, 3, f2.Stats().Queued)
}

// When removing every removable item would not make room for the new one,
// the new one is dropped and nothing is removed; one larger than MaxBytes
// is refused.
func TestOutboxFullDropsOnlyTheNewItem(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	one := itemSize(len(mustJSON(t, diagnosis(1, true))))
	var drops []uint64
	f := newForwarder(t, c, "", func(o *Options) {
		o.MaxBytes = 3*one + 100
		o.OnDrop = func(seq uint64, alert bool) { drops = append(drops, seq) }
	})
	enqueue(t, f, []uint64{1}, nil)                                  // one non-alert
	enqueue(t, f, seqRange(2, 3), func(uint64) bool { return true }) // two alerts
	big := diagnosis(4, false)
	for len(mustJSON(t, big)) < int(2*one) {
		big.Components = append(big.Components, big.Components[1])
	}
	require.NoError(t, f.Enqueue(context.Background(), big))
	assert.Equal(t, []uint64{4}, drops, "non-alert 1 is kept: removing it would not make room")
	s := f.Stats()
	assert.Equal(t, 3, s.Queued)
	assert.Equal(t, uint64(1), s.Dropped)

	for len(mustJSON(t, big)) < int(4*one) {
		big.Components = append(big.Components, big.Components[1])
	}
	big.Seq = 5
	assert.ErrorIs(t, f.Enqueue(context.Background(), big), ErrTooLarge)
	assert.Equal(t, []uint64{4}, drops)
	assert.Equal(t, 3, f.Stats().Queued)
}

func TestEnqueueRefusesInvalid(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) { o.BatchBytes = 2048 })
	d := diagnosis(1, false)
	d.Health = 2
	err := f.Enqueue(context.Background(), d)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "/health: 2 is not in [0, 1]")
	d = diagnosis(2, false)
	d.AgentID = "rig-002"
	assert.ErrorIs(t, f.Enqueue(context.Background(), d), ErrInvalid)
	d = diagnosis(3, false)
	for range 40 {
		d.Components = append(d.Components, d.Components[0])
	}
	assert.ErrorIs(t, f.Enqueue(context.Background(), d), ErrTooLarge)
	assert.Equal(t, uint64(3), f.Stats().Invalid)
	assert.Equal(t, 0, f.Stats().Queued)
}

func TestNewRefusesBadOptions(t *testing.T) {
	_, err := New(Options{})
	assert.ErrorContains(t, err, "forward: Path is empty; URL is empty; Credential is nil")
	_, err = New(Options{Path: t.TempDir() + "/o.db", URL: "https://x", Credential: func() (string, error) { return "", nil }, AgentID: "bad id"})
	assert.ErrorContains(t, err, `agent id "bad id"`)
}

func TestIsAlertUsesStatusAndSeverity(t *testing.T) {
	d := diagnosis(1, false)
	assert.False(t, cloudapi.IsAlert(&d))
	d.Anomalies = []diag.Anomaly{{Fault: "leakage", Severity: diag.SeverityHigh, Confidence: 0.9, Components: []string{"pump"}}}
	assert.True(t, cloudapi.IsAlert(&d))
}

// TestStatsSnapshotIsConsistent: every Stats snapshot accounts for each
// enqueued diagnosis exactly once, queued or counted by its answer, also
// while batches are being removed (a snapshot taken between the removal
// and the counting showed Queued 0 with Accepted short, which made
// service.TestCloudForwarding flaky).
func TestStatsSnapshotIsConsistent(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	c.set(func(c *fakeCloud) { c.rejectSeq[7] = true; c.refuseSeq[30] = true })
	f := newForwarder(t, c, "", func(o *Options) { o.BatchItems = 2 })
	const n = 120
	enqueue(t, f, seqRange(1, n), nil)
	stop := run(t, f)
	for {
		s := f.Stats()
		accounted := uint64(s.Queued) + s.Accepted + s.Duplicates + s.Rejected + s.Conflicts
		require.Equal(t, s.Enqueued, accounted, "snapshot %+v", s)
		if s.Queued == 0 {
			break
		}
	}
	stop()
	s := f.Stats()
	assert.Equal(t, uint64(n-2), s.Accepted)
	assert.Equal(t, uint64(2), s.Rejected)
}

// TestCorruptOutboxIsRefused: a damaged outbox file stops New with
// ErrCorrupt and the recovery command, and is left as it was.
func TestCorruptOutboxIsRefused(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	good := filepath.Join(t.TempDir(), "outbox.db")
	f := newForwarder(t, c, good, nil)
	enqueue(t, f, seqRange(1, 5), nil)
	require.NoError(t, f.Close())
	data, err := os.ReadFile(good)
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"not a bbolt file", func([]byte) []byte { return bytes.Repeat([]byte("garbage "), 4096) }},
		{"meta pages zeroed", func(b []byte) []byte { clear(b[:2*4096]); return b }},
		{"item header damaged", func(b []byte) []byte {
			i := bytes.Index(b, []byte(`{"rig_id"`))
			require.Positive(t, i, "an item's JSON in the file")
			b[i] = 'X'
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			bad := tc.damage(slices.Clone(data))
			require.NoError(t, os.WriteFile(path, bad, 0o600))
			o := Options{Path: path, URL: c.srv.URL, AgentID: testAgent, RigID: "zema-1", RigType: "zema-testrig",
				Credential: func() (string, error) { return "x", nil }, Clock: c.clock}
			_, err := New(o)
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), "mv "+path+" "+path+".corrupt-")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, bad, after, "the damaged file is never overwritten")
		})
	}
}

// TestCheckinOffer: Options.Offer receives each check-in answer's offer:
// a valid one as sent, an invalid one (an unknown field: it grants an
// installation, so it is decoded strictly) as none, none as nil.
func TestCheckinOffer(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	var mu sync.Mutex
	var got []*cloudapi.Offer
	f := newForwarder(t, c, "", func(o *Options) {
		o.Offer = func(of *cloudapi.Offer) {
			mu.Lock()
			got = append(got, of)
			mu.Unlock()
		}
	})
	offers := func() []*cloudapi.Offer {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	want := &cloudapi.Offer{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0", Rollout: 7}
	c.set(func(c *fakeCloud) { c.offer = want })
	stop := run(t, f)
	defer stop()
	eventually(t, "the offer", func() bool { return len(offers()) >= 1 })
	assert.Equal(t, want, offers()[0])

	for i, o := range []any{
		map[string]any{"target": want.Target, "version": "1.1.0", "grant": "everything"},
		nil,
	} {
		c.set(func(c *fakeCloud) { c.offer = o })
		n := len(offers())
		f.CheckinSoon()
		eventually(t, "the next check-in", func() bool { return len(offers()) > n })
		assert.Nil(t, offers()[len(offers())-1], "answer %d", i)
	}
}
