package forward

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rate cap holds in (virtual) time: by the arrival of each request,
// the bytes of all requests so far are at most one second's worth plus
// the rate times the time since the start.
func TestBandwidthCap(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	const rate = 4096
	f := newForwarder(t, c, "", func(o *Options) { o.BatchItems = 2; o.BytesPerSecond = rate })
	enqueue(t, f, seqRange(1, 200), nil)
	start := clock.Now()
	stop := run(t, f)
	eventually(t, "drained", func() bool { return f.Stats().Queued == 0 })
	stop()
	var total int64
	var last time.Time
	c.get(func(c *fakeCloud) {
		require.Greater(t, len(c.requests), 100)
		for i, r := range c.requests {
			total += r.wire + requestOverheadBytes
			allowed := rate + rate*r.at.Sub(start).Seconds()
			require.LessOrEqual(t, float64(total), allowed, "request %d at %s", i, r.at.Sub(start))
			last = r.at
		}
	})
	// It did have to wait: the traffic is many seconds' worth.
	assert.Greater(t, total, int64(10*rate))
	assert.GreaterOrEqual(t, last.Sub(start).Seconds(), float64(total-rate)/rate)
	assert.GreaterOrEqual(t, int64(f.Stats().BytesSent), total)
}

// The day cap holds per UTC day, keeps a reserve for alerts, survives a
// restart, and sending resumes the next day.
func TestDayCap(t *testing.T) {
	clock := newManualClock(time.Date(2025, 3, 1, 23, 0, 0, 0, time.UTC))
	c := newCloud(t, clock)
	const capBytes = 20000
	path := filepath.Join(t.TempDir(), "outbox.db")
	opts := func(o *Options) { o.BatchItems = 10; o.BytesPerDay = capBytes; o.BatchBytes = 8000 }
	f := newForwarder(t, c, path, opts)
	enqueue(t, f, seqRange(1, 150), nil)
	stop := run(t, f)
	eventually(t, "day cap", func() bool { return f.Stats().Link == LinkDayCap })
	stop()
	used := f.Stats().DayBytes
	assert.LessOrEqual(t, used, int64(capBytes))
	assert.Greater(t, used, int64(capBytes/2))
	queued := f.Stats().Queued
	assert.Greater(t, queued, 0)
	require.NoError(t, f.Close())

	// A restart on the same day does not reset the count.
	f = newForwarder(t, c, path, opts)
	assert.Equal(t, used, f.Stats().DayBytes)
	assert.Equal(t, queued, f.Stats().Queued)
	stop = run(t, f)
	eventually(t, "day cap", func() bool { return f.Stats().Link == LinkDayCap })
	assert.Equal(t, queued, f.Stats().Queued, "nothing more today")
	clock.Advance(time.Hour) // the next UTC day
	eventually(t, "drained", func() bool { return f.Stats().Queued == 0 })
	stop()
	perDay := map[int]int64{}
	c.get(func(c *fakeCloud) {
		for _, r := range c.requests {
			perDay[r.at.Day()] += r.wire + requestOverheadBytes
		}
		assert.Len(t, c.stored, 150)
	})
	assert.LessOrEqual(t, perDay[1], int64(capBytes*(1-DefaultAlertReserve)), "non-alerts leave the alert reserve")
	assert.Greater(t, perDay[2], int64(0), "the rest went the next day")
	assert.LessOrEqual(t, perDay[2], int64(capBytes))
}

// Bytes spent on failed requests are persisted as they are spent: a kill
// (no Close) during an outage does not reset the day's count.
func TestDayCapPersistsFailedRequests(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	c.set(func(c *fakeCloud) { c.mode = "503" })
	f := newForwarder(t, c, "", func(o *Options) { o.BytesPerDay = 1 << 20 })
	enqueue(t, f, seqRange(1, 5), nil)
	stop := run(t, f)
	eventually(t, "failed requests", func() bool { return f.Stats().Requests >= 3 })
	stop()
	used := f.Stats().DayBytes
	require.Positive(t, used)
	// What a restart after kill -9 would load: no Close, no remove.
	day, saved := f.ob.loadDay()
	assert.Equal(t, dayOf(clock.Now()), day)
	assert.Equal(t, used, saved, "the day's bytes survive a kill")
}

// At the day cap the agent keeps checking in at the check-in interval
// instead of sleeping until UTC midnight.
func TestDayCapKeepsCheckingIn(t *testing.T) {
	clock := newManualClock(time.Date(2025, 3, 1, 1, 0, 0, 0, time.UTC)) // 23 h to midnight
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) {
		o.BatchItems = 10
		o.BytesPerDay = 40000
		o.AlertReserve = 0.5 // check-ins use the reserve: room for several
		o.BatchBytes = 8000
		o.Checkin = 10 * time.Minute
	})
	enqueue(t, f, seqRange(1, 150), nil)
	stop := run(t, f)
	defer stop()
	eventually(t, "day cap", func() bool { return f.Stats().Link == LinkDayCap })
	var before int
	c.get(func(c *fakeCloud) { before = c.checkins })
	// An hour in one-minute steps, each once the forwarder waits for the
	// clock: about six check-ins, none without the fix.
	checkins := func() (n int) {
		c.get(func(c *fakeCloud) { n = c.checkins })
		return n
	}
	for range 60 {
		eventually(t, "the forwarder waits for the clock", clock.Asleep)
		clock.Advance(time.Minute)
	}
	eventually(t, "the forwarder waits for the clock", clock.Asleep)
	assert.GreaterOrEqual(t, checkins(), before+3, "checked in while capped")
	assert.Positive(t, f.Stats().Queued, "still capped: nothing more sent today")
}

func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	credPath := filepath.Join(dir, "cred")
	require.NoError(t, os.WriteFile(credPath, []byte("tok-123\n"), 0o600))
	cfg := config.Defaults()
	cfg.Agent.ID, cfg.Agent.DataDir = "rig-001", dir
	cfg.Cloud.URL, cfg.Cloud.CredentialFile = "https://cloud.example.com/", credPath
	cfg.Cloud.BandwidthBytesPerS, cfg.Cloud.BandwidthBytesPerDay = 2048, 10*config.MiB
	o, err := FromConfig(&cfg, nil, "1.2.3", nil)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "outbox.db"), o.Path)
	assert.Equal(t, 500, o.BatchItems)
	assert.Equal(t, int64(config.MiB), o.BatchBytes)
	assert.Equal(t, 100_000, o.MaxItems)
	assert.Equal(t, int64(256*config.MiB), o.MaxBytes)
	assert.Equal(t, int64(2048), o.BytesPerSecond)
	assert.Equal(t, int64(10*config.MiB), o.BytesPerDay)
	assert.Equal(t, time.Second, o.BackoffMin)
	assert.Equal(t, 5*time.Minute, o.BackoffMax)
	assert.Equal(t, config.ForwardCursor, o.Release)
	cred, err := o.Credential()
	require.NoError(t, err)
	assert.Equal(t, "tok-123", cred)
	require.NoError(t, os.WriteFile(credPath, []byte("a\nb\n"), 0o600))
	_, err = o.Credential()
	assert.ErrorContains(t, err, "want one line")
	f, err := New(o)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	cfg.Cloud.URL = ""
	_, err = FromConfig(&cfg, nil, "", nil)
	assert.ErrorContains(t, err, "no cloud link")
}

// The forwarder is the update's byte budget: bytes it is told of count
// against the day (outside the alert reserve), the count is persisted with
// its own, and a new day starts afresh. Describe adds the model and update
// state to the check-in, which CheckinSoon sends at once.
func TestSharedDayBudget(t *testing.T) {
	clock := newManualClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) {
		o.BytesPerDay = 100_000
		o.Describe = func(r *cloudapi.CheckinRequest) {
			r.Model = &diag.ModelRef{Version: "1.1.0", Precision: "int8"}
			r.Update = &cloudapi.UpdateStatus{State: "committed", Installed: "1.1.0", Changed: clock.Now()}
		}
	})
	assert.Equal(t, int64(90_000), f.Left(), "the alert reserve is kept")
	f.Spend(30_000)
	assert.Equal(t, int64(60_000), f.Left())
	assert.Equal(t, int64(30_000), f.Stats().DayBytes)
	stop := run(t, f)
	eventually(t, "a check-in", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = c.checkins })
		return n >= 1
	})
	f.CheckinSoon()
	eventually(t, "a second check-in", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = c.checkins })
		return n >= 2
	})
	stop()
	c.get(func(c *fakeCloud) {
		require.NotNil(t, c.lastIn.Update)
		assert.Equal(t, "committed", c.lastIn.Update.State)
		assert.Equal(t, "1.1.0", c.lastIn.Model.Version)
	})
	used := f.Stats().DayBytes
	assert.Greater(t, used, int64(30_000), "the check-ins count too")
	_, saved := f.ob.loadDay()
	assert.Equal(t, used, saved, "the spent bytes are persisted with the forwarder's")
	clock.Advance(24 * time.Hour)
	assert.Equal(t, int64(90_000), f.Left(), "a new day")
	f = newForwarder(t, c, "", func(o *Options) { o.BytesPerDay = 0 })
	assert.Equal(t, int64(math.MaxInt64), f.Left(), "no day cap")
}
