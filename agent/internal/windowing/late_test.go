package windowing

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// With sliding windows a reading falls in several windows (10 here: 10 s
// windows every second). A reading that arrives after all of them were
// diagnosed is one late reading (Stats.LateReadings, documented as
// readings, exported as rig_agent_window_late_readings_total); it was
// counted once per closed window it fell in, ten times here (up to the
// window length in steps, 60 for a stride-1 bundle), so the counter said
// ten readings were lost where one was.
func TestLateReadingCountedOnce(t *testing.T) {
	ctx := context.Background()
	rg := newRig(t)
	m := &fakeModel{spec: testSpec()}
	run := start(t, rg, m, Options{Alignment: prep.AlignSliding, StrideSteps: 1})
	require.Equal(t, time.Second, run.r.Schedule().Period)
	require.NoError(t, rg.buf.Append(ctx, cycle(t0, 0, 40, "A", "B", "C")))
	// Windows holding data start at t0-9s, ..., t0+39s: 49.
	waitFor(t, "49 windows", func() bool { return run.r.Stats().Diagnosed == 49 })

	// One reading at t0+15.5 s: in the windows starting t0+6s .. t0+15s,
	// all closed. And one at t0+38.5 s, in windows already closed too.
	require.NoError(t, rg.buf.Append(ctx, []reading.Reading{
		{Sensor: "A", Time: t0.Add(15500 * time.Millisecond), Value: 1},
		{Sensor: "B", Time: t0.Add(38500 * time.Millisecond), Value: 1},
	}))
	waitFor(t, "the late readings scanned", func() bool { return run.r.Stats().Cursor == rg.buf.LastSeq() })
	assert.Equal(t, uint64(2), run.r.Stats().LateReadings, "two readings came late")
	assert.Equal(t, uint64(49), run.r.Stats().Diagnosed, "no window diagnosed again")
}
