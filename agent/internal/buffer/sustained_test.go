package buffer

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// TestSustainedLoad offers an open-loop load of BUFFER_SUSTAINED_RATE
// readings/s (default 100000) for BUFFER_SUSTAINED (a duration; unset: the
// test is skipped) through one appender that takes everything queued, as
// the MQTT ingest does, and reports the acknowledgement latency of each
// reading: from its arrival to the return of the Append that stored it.
//
//	BUFFER_SUSTAINED=60s go test -run TestSustainedLoad -v ./internal/buffer/
func TestSustainedLoad(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("BUFFER_SUSTAINED"))
	if err != nil {
		t.Skip("set BUFFER_SUSTAINED=60s to run")
	}
	rate := 100_000
	if s := os.Getenv("BUFFER_SUSTAINED_RATE"); s != "" {
		rate, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	ctx := context.Background()
	b, err := Open(ctx, filepath.Join(t.TempDir(), "buf.db"), Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer b.Close()

	type arrival struct {
		r  reading.Reading
		at time.Time
	}
	var (
		mu     sync.Mutex
		queue  []arrival
		wake   = make(chan struct{}, 1)
		done   = make(chan struct{})
		offers int
	)
	start := time.Now()
	go func() { // generator: exactly rate readings per second, in 1 ms steps
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var next uint64
		for now := range tick.C {
			el := now.Sub(start)
			due := int(el.Seconds() * float64(rate))
			if el >= dur {
				return
			}
			mu.Lock()
			for ; offers < due; offers++ {
				queue = append(queue, arrival{testReading(next), now})
				next++
			}
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	var lat []time.Duration
	var batch []reading.Reading
	var batchAt []time.Time
	stored, appends := 0, 0
	for {
		mu.Lock()
		n := min(len(queue), 8192)
		for _, a := range queue[:n] {
			batch = append(batch, a.r)
			batchAt = append(batchAt, a.at)
		}
		queue = queue[n:]
		mu.Unlock()
		if n == 0 {
			select {
			case <-done:
				mu.Lock()
				left := len(queue)
				mu.Unlock()
				if left == 0 {
					goto report
				}
			case <-wake:
			}
			continue
		}
		require.NoError(t, b.Append(ctx, batch))
		now := time.Now()
		for _, at := range batchAt {
			lat = append(lat, now.Sub(at))
		}
		stored += len(batch)
		appends++
		batch, batchAt = batch[:0], batchAt[:0]
	}
report:
	elapsed := time.Since(start)
	slices.Sort(lat)
	st := b.Stats()
	require.Equal(t, uint64(stored), st.Records)
	require.Equal(t, offers, stored, "everything offered was stored")
	t.Logf("offered %d readings/s for %s: stored %d (%.0f readings/s), %d appends, %d commits (%.0f readings/commit), "+
		"ack latency p50 %.2f ms, p99 %.2f ms, max %.2f ms, %.1f bytes/reading, file %d MiB",
		rate, dur, stored, float64(stored)/elapsed.Seconds(), appends, st.Commits, float64(stored)/float64(st.Commits),
		ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1]), float64(st.Bytes)/float64(st.Records), st.FileBytes>>20)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
