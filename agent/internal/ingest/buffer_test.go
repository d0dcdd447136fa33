package ingest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// durable is the agent's bbolt buffer as the ingest's Store, with Latest
// (Resumer) read by a scan of the file: fine for a test, where the buffer
// is small.
type durable struct {
	*buffer.Buffer
}

func (d durable) Latest(ctx context.Context) ([]reading.Reading, error) {
	last := map[string]reading.Reading{}
	err := d.Scan(ctx, 0, func(r buffer.Record) error {
		if l, ok := last[r.Reading.Sensor]; !ok || r.Reading.Time.After(l.Time) {
			last[r.Reading.Sensor] = r.Reading
		}
		return nil
	})
	out := make([]reading.Reading, 0, len(last))
	for _, r := range last {
		out = append(out, r)
	}
	return out, err
}

func openBuffer(t *testing.T, path string) *buffer.Buffer {
	t.Helper()
	b, err := buffer.Open(context.Background(), path, buffer.Options{Logger: testLogger(t)})
	require.NoError(t, err)
	return b
}

func scanAll(t *testing.T, b *buffer.Buffer) []reading.Reading {
	t.Helper()
	var out []reading.Reading
	require.NoError(t, b.Scan(context.Background(), 0, func(r buffer.Record) error {
		out = append(out, r.Reading)
		return nil
	}))
	return out
}

// TestDurableBuffer: the stream through a real broker into the bbolt
// buffer, with the agent stopped and started again half-way (the buffer
// closed and reopened): the file holds every reading exactly once.
func TestDurableBuffer(t *testing.T) {
	for _, bc := range brokers {
		t.Run(bc.name, func(t *testing.T) {
			url := bc.url(t)
			name := uniqueName()
			cfg := testRig("hydrognn-test/"+name, name)
			opts := ingestOptions(t, url)
			path := filepath.Join(t.TempDir(), "buffer.db")
			st := makeStream(t, cfg, time.Now().Add(-time.Hour), 400, 10)
			pub := newPublisher(t, url)
			half := len(st.Msgs) / 2

			buf := openBuffer(t, path)
			r := startIngest(t, cfg, durable{buf}, opts)
			pub.publish(t, st.Msgs[:half], 32)
			waitUntil(t, 20*time.Second, "first half acknowledged", func() bool { return r.in.Stats().Acked == uint64(half) })
			r.stop(t)
			require.NoError(t, buf.Close())

			pub.publish(t, st.Msgs[half:], 32) // queued in the session meanwhile
			buf = openBuffer(t, path)
			t.Cleanup(func() { _ = buf.Close() })
			r = startIngest(t, cfg, durable{buf}, opts)
			waitUntil(t, 20*time.Second, "second half acknowledged", func() bool { return r.in.Stats().Acked >= uint64(len(st.Msgs)-half) })
			waitUntil(t, 20*time.Second, "every reading in the buffer", func() bool { return len(scanAll(t, buf)) >= len(st.Want) })
			checkExactlyOnce(t, st.Want, scanAll(t, buf))
		})
	}
}
