package publish

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkPublish measures end-to-end publish throughput to an embedded
// mochi-mqtt broker on loopback: the test rig's nine sensors on five
// topics (every codec), QoS 1, window DefaultMaxInFlight, Speed 0. One
// benchmark op is one reading; readings/s and messages/s are reported.
// FlushInterval sets how many readings share a message (0: one message per
// topic and 10 ms source batch, about 2 readings per message on the
// fast topic).
//
//	go test -run '^$' -bench Publish -benchtime 50000x ./internal/publish/
func BenchmarkPublish(b *testing.B) {
	for _, flush := range []time.Duration{0, 100 * time.Millisecond, time.Second} {
		b.Run(fmt.Sprintf("flush=%s", flush), func(b *testing.B) {
			url, _ := startBroker(b, brokerOpts{})
			cfg := testRig("bench", "g")
			p, err := New(cfg, Options{Broker: url, FlushInterval: flush, Logger: testLogger(b)})
			require.NoError(b, err)
			defer p.Close()
			require.NoError(b, p.Connect(context.Background()))
			src := &genSource{Cfg: cfg, Total: b.N, Ticks: 1, NoRecord: true}
			b.ReportAllocs()
			b.ResetTimer()
			st, err := p.Run(context.Background(), src, t0)
			b.StopTimer()
			require.NoError(b, err)
			require.EqualValues(b, b.N, st.Readings)
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(st.Readings)/sec, "readings/s")
			b.ReportMetric(float64(st.Messages)/sec, "msgs/s")
			b.ReportMetric(float64(st.Readings)/float64(max(st.Messages, 1)), "readings/msg")
		})
	}
}
