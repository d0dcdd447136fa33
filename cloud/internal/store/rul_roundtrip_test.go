package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// TestRULSurvivesIngest: a diagnosis' remaining useful life and its
// recommendations' days to failure (the agent's health trend, see
// shared/diag EstimateRUL) are stored with the document and served back
// as they came.
func TestRULSurvivesIngest(t *testing.T) {
	_, st, p := agentStore(t)
	ctx := context.Background()
	its := items(1, 1)
	d := &its[0].Diagnosis
	d.RUL = &diag.RUL{Component: "pump", P10Hours: 81.25, P50Hours: 120.5, P90Hours: 240}
	days := 120.5 / 24
	d.Recommendations = []diag.Recommendation{{Component: "pump", Fault: "leakage", Action: "inspect the pump",
		Priority: diag.SeverityMedium, DaysToFailure: &days}}
	require.Empty(t, cloudapi.ValidateDiagnosis("", d))
	res, err := st.IngestDiagnoses(ctx, p, its)
	require.NoError(t, err)
	require.Len(t, res, 1)

	page, err := st.Diagnoses(ctx, p.OrgID, "press-1", time.Time{}, time.Now().Add(time.Hour), nil, 10)
	require.NoError(t, err)
	require.Len(t, page.Diagnoses, 1)
	var got diag.Diagnosis
	require.NoError(t, json.Unmarshal(page.Diagnoses[0], &got))
	require.NotNil(t, got.RUL)
	assert.Equal(t, *d.RUL, *got.RUL)
	require.Len(t, got.Recommendations, 1)
	require.NotNil(t, got.Recommendations[0].DaysToFailure)
	assert.Equal(t, days, *got.Recommendations[0].DaysToFailure)
}
