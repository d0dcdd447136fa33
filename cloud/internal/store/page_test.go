package store_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// AppendJSON writes what json.Marshal makes of a page, byte for byte
// (documents as the ingest stored them: compact, no HTML characters),
// and valid JSON with the same meaning for any valid document.
func TestDiagnosisPageJSON(t *testing.T) {
	doc := json.RawMessage(`{"rig_id":"zema-1","seq":3,"health":0.62,"components":[{"id":"pump","drivers":[]}]}`)
	for _, p := range []store.DiagnosisPage{
		{Diagnoses: []json.RawMessage{}},
		{Diagnoses: []json.RawMessage{doc}},
		{Diagnoses: []json.RawMessage{doc, doc, doc}, NextCursor: store.Cursor{AgentID: 7, Seq: 9}.String()},
	} {
		want, err := json.Marshal(&p)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(p.AppendJSON(nil)))
	}
	odd := store.DiagnosisPage{Diagnoses: []json.RawMessage{json.RawMessage(`{ "reason": "p < 5 & q > 2" }`)}, NextCursor: `a"b`}
	got := odd.AppendJSON([]byte("prefix:"))
	require.Equal(t, "prefix:", string(got[:7]))
	require.True(t, json.Valid(got[7:]), "%s", got)
	var a, b any
	want, err := json.Marshal(&odd)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(want, &a))
	require.NoError(t, json.Unmarshal(got[7:], &b))
	assert.Equal(t, a, b)
}
