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

// durable is the agent's bbolt buffer as the ingest's Store and Resumer
// (its own Latest), as the agent wires it.
type durable struct {
	*buffer.Buffer
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
	forEachBroker(t, func(t *testing.T, url string) {
		cfg := uniqueRig()
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

// A message whose readings were stored but whose acknowledgement was
// lost with the process is delivered again after a restart: the
// duplicate check, seeded from the buffer's marks, refuses it even when
// the publisher's clock had stepped back (seq 11 older than seq 10: the
// mark then was seq 10's, and seq 11 passed as new).
func TestRedeliveryAfterClockStepBack(t *testing.T) {
	ctx := context.Background()
	buf := openBuffer(t, filepath.Join(t.TempDir(), "buffer.db"))
	t.Cleanup(func() { _ = buf.Close() })
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, buf.Append(ctx, []reading.Reading{{Sensor: "PS1", Time: t0.Add(100 * time.Second), Value: 1, Seq: 10}}))
	require.NoError(t, buf.Append(ctx, []reading.Reading{{Sensor: "PS1", Time: t0.Add(95 * time.Second), Value: 2, Seq: 11}}))

	cfg := testRig("hydrognn-test/"+uniqueName(), "g")
	in, err := New(cfg, durable{buf}, Options{Broker: "tcp://127.0.0.1:1", ClientID: "never-connects", Logger: testLogger(t)}) // resume and dedup only
	require.NoError(t, err)
	require.NoError(t, in.resume(ctx))
	copy(in.pending, in.committed) // as a session starts
	idx := in.byID["PS1"]
	again := reading.Reading{Sensor: "PS1", Time: t0.Add(95 * time.Second), Value: 2, Seq: 11}
	require.False(t, in.dedup(idx, &again, false, false, &item{}), "the redelivered seq 11 is a duplicate")
	next := reading.Reading{Sensor: "PS1", Time: t0.Add(96 * time.Second), Value: 3, Seq: 12}
	it := &item{}
	require.True(t, in.dedup(idx, &next, false, false, it), "seq 12 is new")
	require.Zero(t, it.gaps, "no gap after seq 11")
}
