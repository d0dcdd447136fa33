package buffer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// A forwarder's loop: read what is new since its cursor, send it, move
// the cursor. Released readings go first when the buffer is full.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "buffer-example")
	defer os.RemoveAll(dir)

	b, err := buffer.Open(ctx, filepath.Join(dir, "buffer.db"), buffer.Options{
		Consumers: []string{"forward"},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err) // errors.Is(err, buffer.ErrCorrupt): refuse to start; the message says how to recover
		return
	}
	defer b.Close()

	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	msg := []reading.Reading{
		{Sensor: "PS1", Time: t0, Value: 151.2, Seq: 7},
		{Sensor: "TS1", Time: t0, Value: 45.9, Seq: 7},
	}
	// nil: durable (committed and fsynced): acknowledge the MQTT message now.
	if err := b.Append(ctx, msg); err != nil {
		fmt.Println("do not acknowledge:", err)
		return
	}

	var sent uint64
	_ = b.Scan(ctx, b.Cursor("forward"), func(r buffer.Record) error {
		fmt.Printf("seq %d: %s %v at %s\n", r.Seq, r.Reading.Sensor, r.Reading.Value, r.Reading.Time.Format(time.TimeOnly))
		sent = r.Seq
		return nil
	})
	_ = b.SetCursor(ctx, "forward", sent)
	st := b.Stats()
	fmt.Printf("stored %d, forwarded up to %d\n", st.Records, b.Cursor("forward"))
	// Output:
	// seq 1: PS1 151.2 at 12:00:00
	// seq 2: TS1 45.9 at 12:00:00
	// stored 2, forwarded up to 2
}
