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

// An upload request stored with max_bytes 0 before the API gave every
// request a cap (0 read as no cap: only the readings cap bounded it, and
// check-in announced none) has the cap of a request that names none once
// the database is migrated: the listing, check-in and the part store all
// see 1 GiB. A request made with 0 through the store gets it too.
func TestUploadRequestWithoutCapGetsServerCap(t *testing.T) {
	t.Parallel()
	const wantCap = int64(1 << 30)
	ctx := context.Background()
	pool, _ := dbtest.MigratedTo(t, 12)

	// The rows as that schema had them (preUpgradeRig).
	orgID, rigID := preUpgradeRig(ctx, t, pool)
	now := time.Now().UTC()
	_, err := pool.Exec(ctx, `INSERT INTO upload_requests (org_id, rig_id, from_ts, to_ts, max_bytes, expires_at)
		VALUES ($1, $2, $3, $4, 0, $5)`, orgID, rigID, now.Add(-time.Hour), now, now.Add(time.Hour))
	require.NoError(t, err)

	_, err = db.Migrate(ctx, pool, nil)
	require.NoError(t, err)
	st := store.New(pool)

	us, err := st.UploadRequests(ctx, orgID, "", "", "", 10)
	require.NoError(t, err)
	require.Len(t, us, 1)
	assert.Equal(t, wantCap, us[0].MaxBytes, "listed max_bytes of a request stored with 0")
	open, err := st.OpenUploadRequests(ctx, rigID)
	require.NoError(t, err)
	require.Len(t, open, 1)
	assert.Equal(t, wantCap, open[0].MaxBytes, "max_bytes announced at check-in")

	u, err := st.CreateUploadRequest(ctx, orgID, "press-1", now.Add(-time.Hour), now, nil, 0, now.Add(time.Hour), 0)
	require.NoError(t, err)
	assert.Equal(t, wantCap, u.MaxBytes, "a request created with 0")
	_, err = pool.Exec(ctx, `INSERT INTO upload_requests (org_id, rig_id, from_ts, to_ts, max_bytes, expires_at)
		VALUES ($1, $2, $3, $4, 0, $5)`, orgID, rigID, now.Add(-time.Hour), now, now.Add(time.Hour))
	assert.Error(t, err, "a max_bytes of 0 is refused by the schema")
}
