package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// HighestSeq is the highest stored seq of one agent identity: another
// identity's keys, a re-enrolled generation's included, do not count.
func TestHighestSeq(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	ctx := context.Background()
	got, err := st.HighestSeq(ctx, p.Agent.ID)
	require.NoError(t, err)
	assert.Zero(t, got, "no diagnosis yet")

	_, err = st.IngestDiagnoses(ctx, p, items(5, 3))
	require.NoError(t, err)
	_, err = st.IngestDiagnoses(ctx, p, items(1, 2))
	require.NoError(t, err)
	got, err = st.HighestSeq(ctx, p.Agent.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(7), got, "the highest, not the last stored")

	// A new generation of the same agent id starts with none.
	p2 := enrollAgent(t, st, p.OrgID, "agent-1")
	require.NotEqual(t, p.Agent.ID, p2.Agent.ID)
	got, err = st.HighestSeq(ctx, p2.Agent.ID)
	require.NoError(t, err)
	assert.Zero(t, got, "generation 2 holds no seq")
	got, err = st.HighestSeq(ctx, p.Agent.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(7), got, "generation 1 keeps its own")
}

// HighestSeq reads one entry of the primary key, not the agent's keys
// one by one, with many agents' many keys stored.
func TestHighestSeqUsesTheIndex(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	ctx := context.Background()
	// 200k keys of this agent and 200k of a second one, enrolled for the
	// same rig, above and below it in the index.
	other := enrollAgent(t, st, p.OrgID, "agent-2")
	for _, id := range []int64{p.Agent.ID, other.Agent.ID} {
		_, err := pool.Exec(ctx, `INSERT INTO diagnosis_keys (agent_id, seq, fingerprint, rig_id, window_start)
			SELECT $1, g, sha256(g::text::bytea), $2, now() FROM generate_series(1, 200000) g`, id, p.Agent.RigID)
		require.NoError(t, err)
	}
	_, err := pool.Exec(ctx, `ANALYZE diagnosis_keys`)
	require.NoError(t, err)

	rows, err := pool.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) `+store.HighestSeqSQL, p.Agent.ID)
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Err())
	text := strings.Join(plan, "\n")
	t.Log(text)
	assert.NotContains(t, text, "Seq Scan", "no scan of the table")
	assert.NotContains(t, text, "Sort", "the index gives the order")
	assert.Regexp(t, `Index (Only )?Scan Backward using diagnosis_keys_pkey`, text)
	assert.Contains(t, text, "rows=1 loops=1", "one entry read")

	got, err := st.HighestSeq(ctx, p.Agent.ID)
	require.NoError(t, err)
	assert.Equal(t, uint64(200000), got)
}
