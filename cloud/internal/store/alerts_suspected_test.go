package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// anomalyItem is items' diagnosis seq with its window ending at end, the
// pump's anomaly score at 3 and the anomaly head's high finding on it,
// named fault by the agent's rules (diag.NameAnomaly: confidence
// RuleConfidence times 1 - 1/score) or, for fault "", unnamed.
func anomalyItem(seq uint64, end time.Time, fault rig.Fault) cloudapi.DecodedItem {
	const score = 3.0
	it := items(seq, 1)[0]
	d := &it.Diagnosis
	d.Window.Start, d.Window.End = end.Add(-time.Minute), end
	d.CreatedAt = end.Add(time.Second)
	d.Components[0].AnomalyScore = score
	conf := 1 - 1/score
	if fault != "" {
		conf *= diag.RuleConfidence
	}
	d.Anomalies = []diag.Anomaly{{Fault: fault, Severity: diag.SeverityHigh, Confidence: conf, Components: []string{"pump"}}}
	return it
}

// A persistent anomaly whose suspected name flickers from window to window
// (cavitation, vibration, unnamed, ...) is one alert, fault "" (the
// anomaly), not one per name: suspected is the name of the latest window
// by window end (a backlog's older window does not change it) and
// suspected_faults counts the windows per name. A class head's faults keep
// an alert each.
func TestFlickeringAnomalyNameIsOneAlert(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	t1 := time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t1.Add(time.Duration(i) * time.Minute) }

	suspected := func() string {
		t.Helper()
		as := allAlerts(t, st, p.OrgID)
		require.Len(t, as, 1, "%+v", as)
		return as[0].Suspected
	}
	// Within a batch the latest window names it, not the first or the
	// last in the batch.
	ingestOK(t, st, p, anomalyItem(1, at(1), "cavitation"), anomalyItem(2, at(2), "vibration"))
	assert.Equal(t, "vibration", suspected(), "the batch's latest window, at(2)")
	ingestOK(t, st, p, anomalyItem(3, at(3), ""), anomalyItem(4, at(4), "cavitation"))
	assert.Equal(t, "cavitation", suspected(), "the batch's latest window, at(4), not the unnamed at(3)")
	ingestOK(t, st, p, anomalyItem(5, at(5), "vibration"))
	// A backlog window from before: counted, the latest name kept.
	ingestOK(t, st, p, anomalyItem(6, at(0), "pressure_drop"))
	// Class-head faults on the pump (a class probability, not a rule's
	// confidence): an alert per fault, as before.
	lk, ov := alertItem(7, at(6), diag.SeverityHigh), alertItem(8, at(7), diag.SeverityHigh)
	ov.Diagnosis.Anomalies[0].Fault = "overheating"
	ingestOK(t, st, p, lk, ov)

	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 3, "%+v", as)
	an := as[0]
	assert.Equal(t, "pump", an.Component)
	assert.Equal(t, "", an.Fault)
	assert.Equal(t, store.AlertOpen, an.State)
	assert.Equal(t, 6, an.Occurrences)
	assert.True(t, at(1).Equal(an.OpenedAt), "%s", an.OpenedAt)
	assert.True(t, at(5).Equal(an.LastSeenAt), "%s", an.LastSeenAt)
	assert.Equal(t, "vibration", an.Suspected)
	assert.Equal(t, map[string]int{"cavitation": 2, "vibration": 2, "pressure_drop": 1}, an.SuspectedFaults)
	assert.Equal(t, "leakage", as[1].Fault)
	assert.Equal(t, "overheating", as[2].Fault)
	for _, a := range as[1:] {
		assert.Empty(t, a.Suspected)
		assert.Empty(t, a.SuspectedFaults)
	}

	// The latest window unnamed: suspected clears, the counts stay.
	ingestOK(t, st, p, anomalyItem(9, at(8), ""))
	as = allAlerts(t, st, p.OrgID)
	require.Len(t, as, 3, "%+v", as)
	assert.Equal(t, 7, as[0].Occurrences)
	assert.Empty(t, as[0].Suspected)
	assert.Equal(t, map[string]int{"cavitation": 2, "vibration": 2, "pressure_drop": 1}, as[0].SuspectedFaults)
}

// A named anomaly alert resolved before schema v18 (keyed by its name)
// resolves the windows of that name that end before its resolve: a
// backlog of them arriving after the upgrade, now keyed fault "", does
// not open an anomaly alert for what the operator resolved. Windows of
// another name, unnamed ones and later ones still count.
func TestResolvedNamedAlertResolvesItsBacklog(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	ctx := context.Background()
	t1 := time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t1.Add(time.Duration(i) * time.Minute) }
	r, err := st.Rig(ctx, p.OrgID, "press-1")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO alerts (org_id, rig_id, component, fault, severity, state, opened_at, last_seen_at,
		agent_id, seq, resolved_at) VALUES ($1, $2, 'pump', 'cavitation', 'high', 'resolved', $3, $3, 1, 1, $4)`,
		p.OrgID, r.ID, at(0), at(5))
	require.NoError(t, err)

	ingestOK(t, st, p, anomalyItem(1, at(1), "cavitation"), anomalyItem(2, at(2), "cavitation"))
	as, err := st.Alerts(ctx, p.OrgID, store.AlertOpen, 0, 100)
	require.NoError(t, err)
	assert.Empty(t, as, "windows of the resolved name before its resolve")

	ingestOK(t, st, p, anomalyItem(3, at(3), "vibration"), anomalyItem(4, at(4), ""), anomalyItem(5, at(6), "cavitation"))
	as, err = st.Alerts(ctx, p.OrgID, store.AlertOpen, 0, 100)
	require.NoError(t, err)
	require.Len(t, as, 1, "%+v", as)
	assert.Equal(t, "", as[0].Fault)
	assert.Equal(t, 3, as[0].Occurrences)
	assert.Equal(t, "cavitation", as[0].Suspected)
	assert.Equal(t, map[string]int{"vibration": 1, "cavitation": 1}, as[0].SuspectedFaults)
}
