package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/testenv"
)

// countStore is a fast Store without fsync: it counts and drops.
type countStore struct {
	n    atomic.Int64
	done chan struct{}
	want int64
	once sync.Once
}

func (s *countStore) Append(_ context.Context, rs []reading.Reading) error {
	if s.n.Add(int64(len(rs))) >= s.want {
		s.once.Do(func() { close(s.done) })
	}
	return nil
}

// benchPublishers is the number of publishing connections (gateways), each
// on its own topic with benchSensors sensors.
const (
	benchPublishers = 4
	benchSensors    = 10
)

// BenchmarkIngest measures end-to-end ingest: benchPublishers separate
// MQTT connections publish QoS 1 messages of perMsg readings (window 256
// each) to the broker, the ingest decodes, validates and appends to a
// store that only counts (store=count) or to the bbolt buffer
// (store=bbolt, fsync on every group commit), as fast as they can
// (rate=max) or at a steady total rate (rate=100000 readings/s, the
// issue's target). One op is one reading; readings/s, msgs/s and the
// ingest's p50/p99 acknowledgement latency are reported. Mosquitto runs
// are skipped without $MQTT_URL.
//
//	go test -run '^$' -bench Ingest -benchtime 1000000x ./internal/ingest/
func BenchmarkIngest(b *testing.B) {
	for _, brk := range []string{"embedded", "mosquitto"} {
		for _, c := range []struct {
			codec  string
			perMsg int
			store  string
			rate   int
		}{
			{"binary", 100, "count", 0},
			{"json-batch", 100, "count", 0},
			{"binary", 10, "count", 0},
			{"binary", 100, "bbolt", 0},
			{"binary", 100, "bbolt", 100_000},
			{"json-batch", 100, "bbolt", 100_000},
		} {
			rate := "max"
			if c.rate > 0 {
				rate = fmt.Sprint(c.rate)
			}
			b.Run(fmt.Sprintf("broker=%s/codec=%s/per_msg=%d/store=%s/rate=%s", brk, c.codec, c.perMsg, c.store, rate), func(b *testing.B) {
				benchIngest(b, brk, c.codec, c.perMsg, c.store, c.rate)
			})
		}
	}
}

func benchIngest(b *testing.B, brk, codecName string, perMsg int, storeKind string, rate int) {
	var url string
	if brk == "embedded" {
		url = startBroker(b, broker.Options{}).URL()
	} else {
		url = testenv.Env(b, "MQTT_URL", testenv.Mosquitto)
	}
	name := uniqueName()
	cfg := &rig.Config{RigType: "bench"}
	for p := range benchPublishers {
		for s := range benchSensors {
			cfg.Sensors = append(cfg.Sensors, rig.Sensor{ID: fmt.Sprintf("S%d_%d", p, s), Range: rig.Range{Min: 0, Max: 1000},
				MQTT: rig.MQTTBinding{Topic: fmt.Sprintf("bench/%s/gw%d", name, p), Codec: codecName}})
		}
	}
	msgs := benchMessages(b, cfg, b.N, perMsg)

	var store Store
	cs := &countStore{done: make(chan struct{}), want: int64(b.N)}
	store = cs
	if storeKind == "bbolt" {
		buf, err := buffer.Open(context.Background(), filepath.Join(b.TempDir(), "buffer.db"), buffer.Options{Logger: testLogger(b)})
		require.NoError(b, err)
		b.Cleanup(func() { _ = buf.Close() })
		store = &teeStore{buf: buf, count: cs}
	}
	id := "bench-ingest-" + randomHex(4)
	b.Cleanup(func() { cleanSession(b, url, id) })
	r := startIngest(b, cfg, store, Options{Broker: url, ClientID: id})
	pubs := make([]mqtt.Client, benchPublishers)
	for p := range pubs {
		pubs[p] = newPublisher(b, url).c
	}

	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for p, pub := range pubs {
		var every time.Duration
		if rate > 0 {
			every = time.Duration(float64(time.Second) * float64(perMsg*benchPublishers) / float64(rate))
		}
		wg.Go(func() { publishWindow(pub, fmt.Sprintf("bench/%s/gw%d", name, p), msgs[p], 256, every) })
	}
	wg.Wait()
	select {
	case <-cs.done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("stored %d of %d readings", cs.n.Load(), b.N)
	}
	b.StopTimer()
	st := r.in.Stats()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "readings/s")
	b.ReportMetric(float64(st.Acked)/sec, "msgs/s")
	b.ReportMetric(float64(st.AckLatency.P50.Microseconds())/1000, "p50_ack_ms")
	b.ReportMetric(float64(st.AckLatency.P99.Microseconds())/1000, "p99_ack_ms")
	if st.RejectedTotal() > 0 || st.Gaps > 0 || st.StoreErrors > 0 {
		b.Fatalf("rejected %v, gaps %d, store errors %d", st.Rejected, st.Gaps, st.StoreErrors)
	}
}

// teeStore appends to the buffer, then counts.
type teeStore struct {
	buf   *buffer.Buffer
	count *countStore
}

func (t *teeStore) Append(ctx context.Context, rs []reading.Reading) error {
	if err := t.buf.Append(ctx, rs); err != nil {
		return err
	}
	return t.count.Append(ctx, rs)
}

// benchMessages encodes n readings of cfg's sensors into messages of
// perMsg readings, one list per publisher (topic).
func benchMessages(b *testing.B, cfg *rig.Config, n, perMsg int) [][][]byte {
	c, err := codec.Lookup(cfg.Sensors[0].MQTT.Codec)
	require.NoError(b, err)
	out := make([][][]byte, benchPublishers)
	t0 := time.Now().Add(-time.Hour)
	perPub := (n + benchPublishers - 1) / benchPublishers
	rs := make([]reading.Reading, 0, perMsg)
	for p := range benchPublishers {
		count := min(perPub, n-p*perPub)
		for i := 0; i < count; i += perMsg {
			rs = rs[:0]
			for j := i; j < min(i+perMsg, count); j++ {
				s := j % benchSensors
				k := j / benchSensors
				rs = append(rs, reading.Reading{Sensor: fmt.Sprintf("S%d_%d", p, s),
					Time: t0.Add(time.Duration(k) * time.Millisecond), Value: float64(k % 1000), Seq: uint64(k + 1)})
			}
			payload, err := c.Encode(nil, rs)
			require.NoError(b, err)
			out[p] = append(out[p], payload)
		}
	}
	return out
}

// publishWindow publishes payloads on topic at QoS 1 with at most window
// unacknowledged; with every > 0, message i no earlier than i*every after
// the start (a steady rate, as gateways publish).
func publishWindow(c mqtt.Client, topic string, payloads [][]byte, window int, every time.Duration) {
	sem := make(chan mqtt.Token, window)
	start := time.Now()
	for i, p := range payloads {
		if every > 0 {
			if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
				time.Sleep(d)
			}
		}
		if len(sem) == cap(sem) {
			(<-sem).Wait()
		}
		sem <- c.Publish(topic, 1, false, p)
	}
	for len(sem) > 0 {
		(<-sem).Wait()
	}
}
