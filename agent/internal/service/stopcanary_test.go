package service

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// blockingCanary is an update.Canary whose Check blocks until release is
// closed: a canary opening a model (a TensorRT engine build) or running
// it. With honourCtx it also returns when its ctx is done, as
// update.ModelCanary does; without, it is a step that ignores the stop.
type blockingCanary struct {
	entered   chan struct{}
	release   chan struct{}
	honourCtx bool
}

func (c *blockingCanary) Check(ctx context.Context, _, _ string) error {
	close(c.entered)
	done := ctx.Done()
	if !c.honourCtx {
		done = nil
	}
	select {
	case <-c.release:
	case <-done:
		return ctx.Err()
	}
	return update.ErrNoWindows
}

// TestStopDuringCanary: a stop while the canary of a model update runs
// (review r3 finding 2). Stop cancelled the updater, then waited for it
// with the whole stop's time: a canary that did not return left the
// embedded broker's drain no time, and the ingest and the windowing none
// either (blamed as "did not stop in time", the buffer closed under a
// running ingest). Now the updater gets at most a fifth of the time (at
// most 5 s), and a canary that honours ctx (update.ModelCanary, whose
// model opens are abandonable) returns at once. Either way the broker is
// drained: every reading the broker acknowledged to a gateway publishing
// through the stop is stored by the ingest; only the updater may be
// blamed, and the clean-stop marker is left (the stop is not the
// release's fault).
func TestStopDuringCanary(t *testing.T) {
	for name, honour := range map[string]bool{"canary ignores ctx": false, "canary honours ctx": true} {
		t.Run(name, func(t *testing.T) {
			c := &blockingCanary{entered: make(chan struct{}), release: make(chan struct{}), honourCtx: honour}
			defer close(c.release)
			u := newUpdateRig(t, func(o *update.Options) { o.Canary = c })
			release(t, u.repo, u.bundleDir, filepath.Join(u.dir, "rel-1.1.0"), "1.1.0", nil)
			u.a.Update().Kick()
			select {
			case <-c.entered:
			case <-time.After(30 * time.Second):
				t.Fatal("the canary did not start")
			}

			// A gateway publishes through the stop, each reading on its
			// own; the broker refuses (does not acknowledge) what comes
			// once it drains.
			base := u.a.in.Stats().Acked
			var acked atomic.Uint64
			stopPub := make(chan struct{})
			pubDone := make(chan struct{})
			go func() {
				defer close(pubDone)
				u.gw.publishEach(stopPub, time.Now().Add(-time.Minute), &acked)
			}()
			waitFor(t, 10*time.Second, "the gateway publishing", func() bool { return acked.Load() > 20 })

			const budget = 3 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			began := time.Now()
			err := u.a.Stop(ctx)
			took := time.Since(began)
			close(stopPub)
			<-pubDone
			u.a.stopErr = nil // the rig's cleanup stops the agent again and wants no error
			assert.Less(t, took, budget+time.Second)
			if honour {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, "update did not stop in time")
				for _, part := range []string{"ingest", "windowing", "drain", "publisher"} {
					assert.NotContains(t, err.Error(), part, "the stop had time for the %s", part)
				}
			}
			st := u.a.in.Stats()
			assert.GreaterOrEqual(t, st.Acked-base, acked.Load(),
				"every reading the broker acknowledged to the gateway was stored (%d stored, %d acknowledged)", st.Acked-base, acked.Load())
			_, serr := os.Stat(filepath.Join(u.a.cfg.Update.Dir, "stopped"))
			assert.NoError(t, serr, "clean-stop marker: the stop is not counted against the release")
		})
	}
}

// publishEach publishes one reading of the first active sensor at a time,
// 10 ms apart from start on, each waiting up to 200 ms for the broker's
// acknowledgement (counted in acked), until stop is closed.
func (g *gateway) publishEach(stop <-chan struct{}, start time.Time, acked *atomic.Uint64) {
	for _, s := range g.fw.Sensors {
		if s.Inactive {
			continue
		}
		c, err := codec.Lookup(s.MQTT.Codec)
		if err != nil {
			panic(err)
		}
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			g.seq[s.ID]++
			payload, err := c.Encode(nil, []reading.Reading{{Sensor: s.ID, Time: start.Add(time.Duration(k) * 10 * time.Millisecond),
				Value: g.means[s.ID], Seq: g.seq[s.ID]}})
			if err != nil {
				panic(err)
			}
			tok := g.c.Publish(s.MQTT.Topic, 1, false, payload)
			if tok.WaitTimeout(200*time.Millisecond) && tok.Error() == nil {
				acked.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}
