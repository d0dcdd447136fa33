package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// The resolved-alert filter compares in the cloud's clock: a window end,
// stamped by the agent's clock, less the agent's recorded clock skew. An
// agent 30 minutes behind still opens an alert for anomalies after the
// resolve; one 30 minutes ahead does not open it again with its backlog
// from before the resolve.
func TestResolvedAlertFilterUsesClockSkew(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{-30 * time.Minute, 30 * time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			_, st, p := agentStore(t)
			ctx := context.Background()
			// agent is what the agent's clock reads at cloud time c.
			agent := func(c time.Time) time.Time { return c.Add(skew) }
			now := time.Now().UTC()
			_, err := st.Checkin(ctx, p.Agent.ID, map[string]any{"agent_id": p.Agent.Name}, agent(now))
			require.NoError(t, err)

			ingestOK(t, st, p, alertItem(1, agent(now.Add(-10*time.Minute)), diag.SeverityHigh))
			as := allAlerts(t, st, p.OrgID)
			require.Len(t, as, 1)
			resolved, err := st.SetAlertState(ctx, p.OrgID, as[0].ID, store.AlertResolved, 0)
			require.NoError(t, err)
			r := *resolved.ResolvedAt

			// The backlog: windows that ended before the resolve (cloud time).
			ingestOK(t, st, p, alertItem(2, agent(r.Add(-5*time.Minute)), diag.SeverityCritical),
				alertItem(3, agent(r.Add(-time.Minute)), diag.SeverityHigh))
			as = allAlerts(t, st, p.OrgID)
			require.Len(t, as, 1, "backlog from before the resolve opened the alert again: %+v", as)
			assert.Equal(t, store.AlertResolved, as[0].State)

			// Anomalies after the resolve (cloud time) open a new alert.
			for i := 1; i <= 3; i++ {
				ingestOK(t, st, p, alertItem(uint64(3+i), agent(r.Add(time.Duration(i)*time.Minute)), diag.SeverityCritical))
			}
			as = allAlerts(t, st, p.OrgID)
			require.Len(t, as, 2, "anomalies after the resolve were dropped: %+v", as)
			assert.Equal(t, store.AlertOpen, as[1].State)
			assert.Equal(t, "critical", as[1].Severity)
			assert.Equal(t, 3, as[1].Occurrences)
		})
	}
}
