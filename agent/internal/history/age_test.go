package history

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
)

// The age cap holds while no diagnosis is made: a rig stopped for months
// (no readings, no windows, no Append) under an agent that keeps running.
// Diagnoses older than MaxAge were removed only by the next Append or
// Open, so the history kept, and the API served, diagnoses past
// diagnoses.max_age for as long as the rig stood still.
func TestAgeCapWithoutAppend(t *testing.T) {
	old := ageCheckEvery
	ageCheckEvery = 10 * time.Millisecond
	t.Cleanup(func() { ageCheckEvery = old })
	ctx := context.Background()
	clock := agenttest.NewClock(t0.Add(time.Hour))
	s := open(t, filepath.Join(t.TempDir(), "diagnoses.db"), Options{MaxAge: 24 * time.Hour, Now: clock.Now})
	for i := range 3 {
		_, err := s.Append(ctx, window(i), Progress{})
		require.NoError(t, err)
	}
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, uint64(3), s.Stats().Count, "nothing is old yet")

	// The rig stops: the diagnoses of minutes 0 and 1 pass the age, then
	// all of them.
	clock.Add(23*time.Hour + 150*time.Second) // now t0+24h02m30s: minutes 0 and 1 (made at t0+1m02s, t0+2m02s) are old
	require.Eventually(t, func() bool { return s.Stats().Count == 1 }, 5*time.Second, 5*time.Millisecond,
		"the two diagnoses past max_age removed without an Append (count %d)", s.Stats().Count)
	st := s.Stats()
	assert.Equal(t, uint64(3), st.FirstSeq)
	assert.Equal(t, uint64(2), st.Dropped[ReasonMaxAge])
	clock.Add(time.Hour)
	require.Eventually(t, func() bool { return s.Stats().Count == 0 }, 5*time.Second, 5*time.Millisecond)
	p, err := s.Query(ctx, Query{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, p.Diagnoses, "no diagnosis past max_age is served")

	// Close stops the checks (and is still idempotent).
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
}
