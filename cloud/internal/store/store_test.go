package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

func TestCursorRoundTrip(t *testing.T) {
	c := store.Cursor{WindowStart: time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC), AgentID: 7, Seq: 1 << 40}
	got, err := store.ParseCursor(c.String())
	require.NoError(t, err)
	assert.Equal(t, c, got)
	for _, bad := range []string{"", "!!", "YQ", "MS4yLngK"} {
		_, err := store.ParseCursor(bad)
		assert.ErrorIs(t, err, store.ErrBadCursor, bad)
	}
}

func TestSecrets(t *testing.T) {
	s, h := store.NewSecret(store.PrefixToken)
	assert.True(t, store.WellFormed(s, store.PrefixToken))
	assert.False(t, store.WellFormed(s, store.PrefixAgent))
	assert.Equal(t, h, store.Hash(s))
	s2, _ := store.NewSecret(store.PrefixToken)
	assert.NotEqual(t, s, s2)
}

// newStore is a store on a new migrated test database, and its pool for
// what the store does not offer.
func newStore(tb testing.TB) (*pgxpool.Pool, *store.Store) {
	tb.Helper()
	pool, _ := dbtest.Migrated(tb)
	return pool, store.New(pool)
}

// agentStore is newStore with an organisation, a rig and an enrolled
// agent in it (agentFixture).
func agentStore(tb testing.TB) (*pgxpool.Pool, *store.Store, *store.Principal) {
	tb.Helper()
	pool, st := newStore(tb)
	return pool, st, agentFixture(tb, st)
}

// newOrg makes an organisation.
func newOrg(tb testing.TB, st *store.Store, slug, name string) *store.Org {
	tb.Helper()
	o, err := st.CreateOrg(context.Background(), slug, name)
	require.NoError(tb, err)
	return o
}

// agentFixture makes an organisation, a rig and an enrolled agent.
func agentFixture(tb testing.TB, st *store.Store) *store.Principal {
	tb.Helper()
	ctx := context.Background()
	o, err := st.CreateOrg(ctx, "bench", "Bench")
	require.NoError(tb, err)
	_, err = st.CreateRig(ctx, o.ID, fleetapi.Rig{RigID: "press-1", RigType: "zema-testrig"})
	require.NoError(tb, err)
	return enrollAgent(tb, st, o.ID, "agent-1")
}

// enrollAgent enrolls agent id for the rig press-1 of organisation org
// (a new generation if id is enrolled already) and returns its principal.
func enrollAgent(tb testing.TB, st *store.Store, org int64, id string) *store.Principal {
	tb.Helper()
	ctx := context.Background()
	en, err := st.CreateEnrollment(ctx, org, "press-1", 0, time.Hour)
	require.NoError(tb, err)
	out, err := st.Enroll(ctx, en.Token, id, "press-1")
	require.NoError(tb, err)
	p, err := st.AgentPrincipal(ctx, out.Credential)
	require.NoError(tb, err)
	return p
}

func items(first uint64, n int) []cloudapi.DecodedItem {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]cloudapi.DecodedItem, n)
	for i := range out {
		seq := first + uint64(i)
		start := t0.Add(time.Duration(seq) * time.Minute)
		out[i] = cloudapi.DecodedItem{Seq: seq, Diagnosis: diag.Diagnosis{
			RigID: "press-1", RigType: "zema-testrig", AgentID: "agent-1", Seq: seq, CreatedAt: start.Add(61 * time.Second),
			Window: diag.Window{Start: start, End: start.Add(time.Minute), Steps: 60, Coverage: 1},
			Model:  diag.ModelRef{Version: "zema-2025.03", Precision: "int8"}, InferenceMicros: 70, Health: 0.91, Status: diag.Healthy,
			Components: []diag.ComponentHealth{
				{ID: "pump", Health: 0.9, Status: diag.Healthy, AnomalyScore: 0.4, Drivers: []diag.Driver{{Sensor: "PS1", Weight: 0.6}}},
				{ID: "cooler", Health: 0.95, Status: diag.Healthy, AnomalyScore: 0.2},
				{ID: "valve", Health: 0.97, Status: diag.Healthy, AnomalyScore: 0.1},
				{ID: "accumulator", Health: 0.92, Status: diag.Healthy, AnomalyScore: 0.3},
			},
		}}
	}
	return out
}

// BenchmarkIngest stores batches of 1000 diagnoses (four components each,
// about 700 bytes of JSON) through IngestDiagnoses on one connection at a
// time, and reports rows/s:
//
//	eval "$(make -s env)"; go test -run '^$' -bench Ingest -benchtime 50x ./cloud/internal/store/
func BenchmarkIngest(b *testing.B) {
	_, st, p := agentStore(b)
	ctx := context.Background()
	const batch = 1000
	b.ReportAllocs()
	start := time.Now()
	seq := uint64(1)
	for b.Loop() {
		res, err := st.IngestDiagnoses(ctx, p, items(seq, batch))
		if err != nil {
			b.Fatal(err)
		}
		if res[0].Status != cloudapi.ItemAccepted {
			b.Fatalf("item 0: %s", res[0].Status)
		}
		seq += batch
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "rows/s")
}

// The same through several connections at once, as replicas and agents
// ingest: 4 writers.
func BenchmarkIngestParallel(b *testing.B) {
	_, st, p := agentStore(b)
	ctx := context.Background()
	const batch = 1000
	start := time.Now()
	var next uint64
	var mu = make(chan struct{}, 1)
	b.SetParallelism(2) // 2 x GOMAXPROCS writers
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu <- struct{}{}
			seq := next*batch + 1
			next++
			<-mu
			if _, err := st.IngestDiagnoses(ctx, p, items(seq, batch)); err != nil {
				panic(fmt.Sprint(err))
			}
		}
	})
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "rows/s")
}
