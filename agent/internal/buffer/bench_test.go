package buffer

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend measures durable throughput: appenders goroutines each
// call Append with batches of batch readings (one MQTT message's worth)
// as fast as acknowledgements come back; every acknowledgement follows a
// group commit with fsync. One op is one Append call. Reported: readings
// stored per second, and the p50/p99 acknowledgement latency of an Append.
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 5s ./internal/buffer/
func BenchmarkAppend(b *testing.B) {
	// The MQTT ingest calls Append from one goroutine with everything
	// queued meanwhile (batches grow with the load): the appenders=1 rows.
	for _, tc := range []struct{ appenders, batch int }{
		{1, 50}, {1, 500}, {1, 2000}, {16, 50}, {64, 50},
	} {
		for _, delay := range []time.Duration{0, 2 * time.Millisecond} {
			name := fmt.Sprintf("appenders=%d/batch=%d/delay=%s", tc.appenders, tc.batch, delay)
			b.Run(name, func(b *testing.B) {
				benchAppend(b, tc.appenders, tc.batch, Options{GroupDelay: delay})
			})
		}
	}
}

func benchAppend(b *testing.B, appenders, batch int, o Options) {
	ctx := context.Background()
	o.Logger = slog.New(slog.DiscardHandler)
	o.CompactFreeRatio = -1
	var commits atomic.Int64
	var commitTimes []time.Duration // written by the writer goroutine only
	o.OnCommit = func(ci CommitInfo) {
		commits.Add(1)
		commitTimes = append(commitTimes, ci.Duration)
	}
	buf, err := Open(ctx, filepath.Join(b.TempDir(), "buf.db"), o)
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	var next atomic.Int64
	lat := make([][]time.Duration, appenders)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range appenders {
		wg.Go(func() {
			rs := testReadings(uint64(w)*1e9, batch)
			for next.Add(1) <= int64(b.N) {
				t := time.Now()
				if err := buf.Append(ctx, rs); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all)*batch)/elapsed.Seconds(), "readings/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ack-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ack-ms")
		b.ReportMetric(float64(len(all)*batch)/float64(max(commits.Load(), 1)), "readings/commit")
	}
	if err := buf.Close(); err != nil {
		b.Fatal(err)
	}
	slices.Sort(commitTimes)
	if len(commitTimes) > 0 {
		b.ReportMetric(float64(commitTimes[len(commitTimes)*99/100].Microseconds())/1000, "p99-commit-ms")
		b.ReportMetric(float64(commitTimes[len(commitTimes)-1].Microseconds())/1000, "max-commit-ms")
	}
	st := buf.Stats()
	if st.Records != uint64(len(all)*batch) {
		b.Fatalf("stored %d readings, acknowledged %d", st.Records, len(all)*batch)
	}
	b.ReportMetric(float64(st.Bytes)/float64(max(st.Records, 1)), "bytes/reading")
}
