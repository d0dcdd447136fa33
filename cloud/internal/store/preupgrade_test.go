package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// preUpgradeRig writes an organisation 'old' and its rig press-1 (of
// type zema-testrig) into a database an older schema made
// (dbtest.MigratedTo), in SQL: the store's code is the newest schema's.
// It returns their ids.
func preUpgradeRig(ctx context.Context, t *testing.T, pool *pgxpool.Pool) (orgID, rigID int64) {
	t.Helper()
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO organisations (slug, name) VALUES ('old', 'Old') RETURNING id`).Scan(&orgID))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO rigs (org_id, name, rig_type) VALUES ($1, 'press-1', 'zema-testrig') RETURNING id`,
		orgID).Scan(&rigID))
	return orgID, rigID
}
