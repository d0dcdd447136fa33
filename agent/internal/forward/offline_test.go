package forward

import (
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The offline test: the cloud is unreachable for a long simulated
// period (more than a day) while the agent goes on diagnosing; when the
// link returns the backlog drains completely, alerts first, each class in
// sequence order, with no duplicates.
func TestOfflineBacklogDrains(t *testing.T) {
	clock := newClock(t0, 100_000) // 1 ms real is 100 s simulated
	c := newCloud(t, clock)
	c.set(func(c *fakeCloud) { c.mode = "down" })
	f := newForwarder(t, c, "", func(o *Options) { o.BackoffMax = 5 * time.Minute })
	stop := run(t, f)
	start := clock.Now()
	const n = 3000
	isAlert := func(s uint64) bool { return s%10 == 0 }
	for s := uint64(1); s <= n; s++ {
		enqueue(t, f, []uint64{s}, isAlert)
	}
	eventually(t, "a day offline", func() bool { return clock.Now().Sub(start) > 26*time.Hour })
	s := f.Stats()
	require.Equal(t, n, s.Queued, "nothing lost or sent while offline")
	assert.Equal(t, n/10, s.QueuedAlerts)
	assert.Equal(t, LinkDown, s.Link)
	assert.Greater(t, s.Failures, uint64(10), "it kept trying")
	assert.Zero(t, storedCount(c))
	for _, d := range clock.Sleeps() {
		assert.LessOrEqual(t, d, 5*time.Minute, "backoff is capped")
	}

	c.set(func(c *fakeCloud) { c.mode = "" })
	eventually(t, "backlog drained", func() bool { return f.Stats().Queued == 0 })
	stop()
	var want []uint64
	for s := uint64(1); s <= n; s++ {
		if isAlert(s) {
			want = append(want, s)
		}
	}
	for s := uint64(1); s <= n; s++ {
		if !isAlert(s) {
			want = append(want, s)
		}
	}
	c.get(func(c *fakeCloud) {
		assert.Equal(t, want, c.order, "alerts first, then the rest, each in sequence order")
		assert.Len(t, c.stored, n)
		assert.Zero(t, c.dupes)
		assert.True(t, c.keysOK)
	})
	s = f.Stats()
	assert.Equal(t, uint64(n), s.Accepted)
	assert.Equal(t, LinkUp, s.Link)
	assert.Empty(t, s.LastError)
}

// Upload requests are served from the reading buffer in parts, resumed,
// and readings are released once the cloud asks for nothing more.
func TestUploads(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	rd := &memReadings{}
	for i := range 500 {
		at := t0.Add(time.Duration(i) * time.Second)
		rd.add("PS1", at, float64(i))
		rd.add("TS1", at, 40+float64(i)/100)
		rd.add("FS1", at, 8)
	}
	req := cloudapi.UploadRequest{ID: "req-1", Kind: cloudapi.UploadReadings, From: t0.Add(100 * time.Second), To: t0.Add(400 * time.Second),
		Sensors: []string{"PS1", "TS1"}}
	c.set(func(c *fakeCloud) {
		c.uploadReqs = []cloudapi.UploadRequest{req}
		c.limits = cloudapi.Limits{MaxUploadReadings: 100}
		c.next = 1
	})
	var early atomic.Bool
	rd.onSet = func() {
		c.get(func(c *fakeCloud) {
			if len(c.parts) == 0 || !c.parts[len(c.parts)-1].Last {
				early.Store(true)
			}
		})
	}
	f := newForwarder(t, c, "", func(o *Options) { o.Readings = rd })
	stop := run(t, f)
	eventually(t, "upload done", c.uploadDone)
	c.set(func(c *fakeCloud) { c.uploadReqs = nil })
	eventually(t, "released", func() bool { return rd.Cursor("forward") == 1500 })
	stop()
	assert.False(t, early.Load(), "no release while an upload is open")
	c.get(func(c *fakeCloud) {
		require.Len(t, c.parts, 6)
		var got []float64
		for i, p := range c.parts {
			assert.Equal(t, uint32(i), p.Part)
			assert.Equal(t, i == 5, p.Last)
			for _, r := range p.Readings {
				if r.Sensor == "PS1" {
					got = append(got, r.Value)
				}
				assert.NotEqual(t, "FS1", r.Sensor)
			}
		}
		want := []float64{}
		for i := 100; i < 400; i++ {
			want = append(want, float64(i))
		}
		assert.Equal(t, want, got)
		assert.False(t, slices.ContainsFunc(c.requests, func(s seen) bool { return s.path == "/nope" }))
	})
	s := f.Stats()
	assert.Equal(t, uint64(6), s.UploadParts)
	assert.Equal(t, uint64(600), s.UploadReadings)
	assert.Zero(t, s.UploadsOpen)
}

// An upload whose byte cap leaves less than one reading after a part
// ends with that part (it sent empty parts without end before).
func TestUploadByteCap(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	rd := &memReadings{}
	for i := range 100 {
		rd.add("PS1", t0.Add(time.Duration(i)*time.Second), 1)
	}
	b, err := json.Marshal(reading.Reading{Sensor: "PS1", Time: t0.Add(10 * time.Second), Value: 1})
	require.NoError(t, err)
	one := int64(len(b)) + 1
	req := cloudapi.UploadRequest{ID: "req-cap", Kind: cloudapi.UploadReadings, From: t0, To: t0.Add(100 * time.Second),
		MaxBytes: 25*one + one/2}
	c.set(func(c *fakeCloud) {
		c.uploadReqs = []cloudapi.UploadRequest{req}
		c.limits = cloudapi.Limits{MaxUploadReadings: 10}
		c.next = 1
	})
	f := newForwarder(t, c, "", func(o *Options) { o.Readings = rd })
	stop := run(t, f)
	eventually(t, "upload done", c.uploadDone)
	stop()
	c.get(func(c *fakeCloud) {
		var sizes []int
		for _, p := range c.parts {
			sizes = append(sizes, len(p.Readings))
		}
		assert.Equal(t, []int{10, 10, 5}, sizes, "parts up to the 25 readings the cap holds, the last one marked")
	})
}

// uploadDone reports whether the cloud has received an upload's last part.
func (c *fakeCloud) uploadDone() bool {
	done := false
	c.get(func(c *fakeCloud) { done = len(c.parts) > 0 && c.parts[len(c.parts)-1].Last })
	return done
}
