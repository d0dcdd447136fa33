package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// An anomaly alert opened under a suspected name by schema 17, still open
// at the upgrade to 18 (0018_alert_suspected.sql), gets suspected "" (empty) and
// suspected_faults {} and stays as it was; a named finding after the
// upgrade counts on the anomaly's alert, fault "", not on it.
func TestNamedAlertOpenBeforeSchema18Stays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.MigratedTo(t, 17)
	orgID, rigID := preUpgradeRig(ctx, t, pool)
	t1 := time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC)
	_, err := pool.Exec(ctx, `INSERT INTO alerts (org_id, rig_id, component, fault, severity, opened_at, last_seen_at, agent_id, seq)
		VALUES ($1, $2, 'pump', 'cavitation', 'high', $3, $3, 1, 1)`, orgID, rigID, t1)
	require.NoError(t, err)

	_, err = db.Migrate(ctx, pool, nil)
	require.NoError(t, err)
	st := store.New(pool)
	p := enrollAgent(t, st, orgID, "agent-1")
	ingestOK(t, st, p, anomalyItem(1, t1.Add(time.Minute), "cavitation"))

	as := allAlerts(t, st, orgID)
	require.Len(t, as, 2, "%+v", as)
	old, an := as[0], as[1]
	assert.Equal(t, "cavitation", old.Fault)
	assert.Equal(t, store.AlertOpen, old.State)
	assert.Equal(t, 1, old.Occurrences, "counts no new window")
	assert.Empty(t, old.Suspected)
	assert.Empty(t, old.SuspectedFaults)
	var raw string
	require.NoError(t, pool.QueryRow(ctx, `SELECT suspected || ' ' || suspected_faults::text FROM alerts WHERE id = $1`, old.ID).Scan(&raw))
	assert.Equal(t, " {}", raw, "the migration's defaults")
	assert.Equal(t, "", an.Fault)
	assert.Equal(t, 1, an.Occurrences)
	assert.Equal(t, "cavitation", an.Suspected)
	assert.Equal(t, map[string]int{"cavitation": 1}, an.SuspectedFaults)
}
