package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

func statuses(br cloudapi.BatchResponse) []cloudapi.ItemStatus {
	out := make([]cloudapi.ItemStatus, len(br.Results))
	for i, r := range br.Results {
		out[i] = r.Status
	}
	return out
}

// Idempotent on agent id + seq: a replayed batch changes nothing, an
// overlapping one stores only the new items, a reused key with other
// content is a conflict (the stored one kept), out of order is fine.
func TestIngestIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	send := func(b cloudapi.DiagnosisBatch) cloudapi.BatchResponse {
		t.Helper()
		r := e.gz(cloudapi.PathDiagnoses, a.cred, b)
		require.Equal(t, 200, r.code, "%s", r.body)
		var br cloudapi.BatchResponse
		r.decode(t, &br)
		seqs := make([]uint64, len(b.Diagnoses))
		for i, d := range b.Diagnoses {
			seqs[i] = d.Seq
		}
		require.NoError(t, cloudapi.CheckBatchResponse(seqs, &br))
		return br
	}
	// Alerts first, out of order, as the agent sends them.
	first := a.batch(a.diagnosis(3, 2, 0.3), a.diagnosis(1, 0, 0.9), a.diagnosis(2, 1, 0.95))
	br := send(first)
	assert.Equal(t, []cloudapi.ItemStatus{"accepted", "accepted", "accepted"}, statuses(br))
	assert.Equal(t, 3, br.Accepted)
	snapshot := func() string {
		var s string
		require.NoError(t, e.st.Pool().QueryRow(context.Background(),
			`SELECT (SELECT string_agg(seq::text || ':' || md5(doc::text) || ':' || received_at::text, ',' ORDER BY seq) FROM diagnoses)
				|| '|' || (SELECT string_agg(id::text || ':' || occurrences::text || ':' || last_seen_at::text, ',') FROM alerts)`).Scan(&s))
		return s
	}
	before := snapshot()

	// Replayed: all duplicates, nothing changed (not even alert counts).
	br = send(first)
	assert.Equal(t, []cloudapi.ItemStatus{"duplicate", "duplicate", "duplicate"}, statuses(br))
	assert.Equal(t, before, snapshot())

	// Overlapping, with a conflict and a rejected item.
	other := a.diagnosis(2, 1, 0.5) // seq 2 again, other content
	bad := a.diagnosis(6, 5, 0.9)
	bad.Health = 1.5
	br = send(a.batch(a.diagnosis(4, 3, 0.9), a.diagnosis(1, 0, 0.9), other, bad, a.diagnosis(5, 4, 0.2)))
	assert.Equal(t, []cloudapi.ItemStatus{"accepted", "duplicate", "conflict", "rejected", "accepted"}, statuses(br))
	assert.Equal(t, cloudapi.ProblemConflict, br.Results[2].Problem.Type)
	assert.Equal(t, cloudapi.ProblemInvalidItem, br.Results[3].Problem.Type)
	assert.Equal(t, "/diagnoses/3/health", br.Results[3].Problem.Errors[0].Pointer)
	assert.Equal(t, 5, e.count("SELECT count(*) FROM diagnoses"))
	assert.Equal(t, 5, e.count("SELECT count(*) FROM diagnosis_keys"))
	// The stored seq 2 is the first one.
	var h float64
	require.NoError(t, e.st.Pool().QueryRow(context.Background(), "SELECT health FROM diagnoses WHERE seq = 2").Scan(&h))
	assert.Equal(t, 0.95, h)

	// The stored document is the diagnosis, and its fingerprint the contract's.
	var doc []byte
	var fp []byte
	require.NoError(t, e.st.Pool().QueryRow(context.Background(),
		"SELECT d.doc, k.fingerprint FROM diagnoses d JOIN diagnosis_keys k USING (agent_id, seq) WHERE d.seq = 3").Scan(&doc, &fp))
	var got diag.Diagnosis
	require.NoError(t, json.Unmarshal(doc, &got))
	want := a.diagnosis(3, 2, 0.3)
	assert.Equal(t, want.Anomalies, got.Anomalies)
	assert.True(t, want.Window.Start.Equal(got.Window.Start))
	wfp, err := cloudapi.Fingerprint(&want)
	require.NoError(t, err)
	assert.Equal(t, wfp, hexs(fp))

	// One open alert (pump leakage) counted twice (seq 3 and seq 5).
	assert.Equal(t, 1, e.count("SELECT count(*) FROM alerts"))
	assert.Equal(t, 2, e.count("SELECT occurrences FROM alerts"))
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// Concurrent copies of one batch: each key stored once; every item is
// accepted in exactly one of the answers.
func TestIngestConcurrentReplays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	var ds []diag.Diagnosis
	for i := range 50 {
		ds = append(ds, a.diagnosis(uint64(i+1), i, 0.3+float64(i%7)/10))
	}
	const n = 6
	out := make(chan cloudapi.BatchResponse, n)
	for range n {
		go func() {
			r := e.do("POST", cloudapi.PathDiagnoses, a.cred, a.batch(ds...))
			var br cloudapi.BatchResponse
			if r.code == 200 {
				_ = json.Unmarshal(r.body, &br)
			} else {
				t.Errorf("%d %s", r.code, r.body)
			}
			out <- br
		}()
	}
	accepted, dups := 0, 0
	for range n {
		br := <-out
		accepted += br.Accepted
		dups += br.Duplicates
	}
	assert.Equal(t, 50, accepted)
	assert.Equal(t, 50*(n-1), dups)
	assert.Equal(t, 50, e.count("SELECT count(*) FROM diagnoses"))
}
