package store_test

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// IngestDiagnoses hashes the JSON it stores (one encoding per item)
// instead of calling cloudapi.Fingerprint, which the agent's side uses:
// the two must agree on every diagnosis, or a replay would be a conflict.
// Property: random diagnoses (time zones other than UTC, nanoseconds,
// HTML and non-ASCII text, anomalies, drivers, extreme floats) store the
// fingerprint cloudapi.Fingerprint gives.
func TestIngestFingerprintIsCloudapiFingerprint(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	texts := []string{"pump", "<b>&amp;</b>", "Öl-Kühler ✓", "a\"b\\c", "\u2028", strings.Repeat("x", 300), ""}
	text := func() string { return texts[rng.IntN(len(texts))] }
	zones := []*time.Location{time.UTC, time.FixedZone("", 2*3600), time.FixedZone("", -(5*3600 + 30*60))}
	floats := []float64{0, 1, 0.1, 1e-300, 123456.789, 0.30000000000000004}
	batch := items(1, 200)
	for i := range batch {
		d := &batch[i].Diagnosis
		z := zones[rng.IntN(len(zones))]
		d.Window.Start = d.Window.Start.Add(time.Duration(rng.IntN(1000)) * time.Nanosecond).In(z)
		d.Window.End = d.Window.Start.Add(time.Minute).In(zones[rng.IntN(len(zones))])
		d.CreatedAt = d.Window.End.Add(time.Second)
		d.Health = floats[rng.IntN(len(floats))]
		d.Model.Version = text()
		d.Components[0].Health = floats[rng.IntN(len(floats))]
		if rng.IntN(2) == 0 {
			d.Anomalies = []diag.Anomaly{{Fault: rig.Fault(text()), Severity: diag.SeverityHigh, Confidence: rng.Float64(),
				Components: []string{text()}, Sensors: []string{text()}}}
		}
	}
	res, err := st.IngestDiagnoses(ctx, p, batch)
	require.NoError(t, err)
	stored := map[int64]string{}
	rows, err := pool.Query(ctx, `SELECT seq, fingerprint FROM diagnosis_keys WHERE agent_id = $1`, p.Agent.ID)
	require.NoError(t, err)
	for rows.Next() {
		var seq int64
		var fp []byte
		require.NoError(t, rows.Scan(&seq, &fp))
		stored[seq] = hex.EncodeToString(fp)
	}
	require.NoError(t, rows.Err())
	n := 0
	for i, r := range res {
		if r.Status != cloudapi.ItemAccepted {
			continue
		}
		want, err := cloudapi.Fingerprint(&batch[i].Diagnosis)
		require.NoError(t, err)
		require.Equal(t, want, stored[int64(batch[i].Seq)], "seq %d", batch[i].Seq)
		n++
	}
	require.Greater(t, n, 150, "most items are accepted")
}
