package publish_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/mqttbroker"
	"github.com/hydrognn/hydrognn/tools/internal/publish"
)

// ramp is a Source: one pressure reading per 10 ms of simulated time, ten
// per batch.
type ramp struct{ n int }

func (r ramp) Stream(ctx context.Context, start time.Time, emit func([]reading.Reading) error) error {
	batch := make([]reading.Reading, 0, 10)
	for i := range r.n {
		batch = append(batch, reading.Reading{Sensor: "PS1", Time: start.Add(time.Duration(i) * 10 * time.Millisecond), Value: 100 + float64(i)})
		if len(batch) == cap(batch) || i == r.n-1 {
			if err := emit(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

func Example() {
	// A broker to publish to (any MQTT 3.1.1 broker will do).
	broker, err := mqttbroker.Start(mqttbroker.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer broker.Close()

	cfg := &rig.Config{RigType: "demo", Sensors: []rig.Sensor{
		{ID: "PS1", MQTT: rig.MQTTBinding{Topic: "demo/pressure", Codec: "json-batch"}},
	}}
	p, err := publish.New(cfg, publish.Options{
		Broker: broker.URL(),
		Speed:  0, // as fast as the broker acknowledges; 1 is real time
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := p.Run(context.Background(), ramp{n: 95}, start)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d readings in %d messages, %d errors\n", st.Readings, st.Messages, st.Errors)
	// Output: 95 readings in 10 messages, 0 errors
}
