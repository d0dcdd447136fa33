package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Organisations take turns at the queue: one that queued many jobs first
// does not hold back another's job queued after them, with several
// workers (fewest running first) or one (least recently served first).
func TestClaimFairAcrossOrgs(t *testing.T) {
	t.Parallel()
	_, st := newStore(t)
	ctx := context.Background()
	orgA, dA := readyDataset(t, st, "noisy")
	orgB, dB := readyDataset(t, st, "quiet")
	var a []int64
	for range 5 {
		j, err := st.CreateJob(ctx, orgA, dA.ID, json.RawMessage(`{}`), 1, 0)
		require.NoError(t, err)
		a = append(a, j.ID)
	}
	b, err := st.CreateJob(ctx, orgB, dB.ID, json.RawMessage(`{}`), 1, 0)
	require.NoError(t, err)
	b2, err := st.CreateJob(ctx, orgB, dB.ID, json.RawMessage(`{}`), 1, 0)
	require.NoError(t, err)

	claim := func() *store.Claim {
		t.Helper()
		c, err := st.Claim(ctx, "w", "go", time.Minute)
		require.NoError(t, err)
		require.NotNil(t, c)
		return c
	}
	finish := func(c *store.Claim) {
		t.Helper()
		_, err := st.FinishJob(ctx, c.Lease, store.Artifact{Key: "k", Bytes: 1, Digest: "sha256:x"},
			fleetapi.ModelVersion{BundleName: "b", BundleVersion: "1.0.0", Config: map[string]any{}, Metrics: map[string]float64{},
				Manifest: json.RawMessage(`{}`)})
		require.NoError(t, err)
	}
	// Two workers: the oldest job first (neither organisation served),
	// then the organisation running none.
	c1 := claim()
	assert.Equal(t, a[0], c1.Job.ID)
	c2 := claim()
	assert.Equal(t, b.ID, c2.Job.ID, "org B runs none: its job before A's second")
	// One worker from here: both run one; A was served longest ago.
	finish(c1)
	finish(c2)
	time.Sleep(10 * time.Millisecond)
	c3 := claim()
	assert.Equal(t, a[1], c3.Job.ID)
	finish(c3)
	c4 := claim()
	assert.Equal(t, b2.ID, c4.Job.ID, "B's turn")
	finish(c4)
	for _, id := range a[2:] {
		c := claim()
		assert.Equal(t, id, c.Job.ID)
		finish(c)
	}
}
