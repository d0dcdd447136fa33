package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// The live-token quota caps tokens made by a token (the API), not the
// deployment's own `rig-cloud token create --org` (createdBy 0), the way
// back in for an organisation at its cap (review r5 finding 4).
func TestLiveTokenQuotaSparesDeploymentCLI(t *testing.T) {
	pool, _ := dbtest.Migrated(t)
	st := store.New(pool)
	st.SetQuotas(store.Quotas{MaxLiveTokens: 1})
	ctx := context.Background()
	org, err := st.CreateOrg(ctx, "acme", "Acme")
	require.NoError(t, err)
	admin, _, err := st.CreateToken(ctx, org.ID, "first admin", store.RoleAdmin, time.Time{})
	require.NoError(t, err)
	_, _, err = st.CreateTokenBy(ctx, org.ID, "by the admin", store.RoleViewer, time.Time{}, admin.ID)
	var qe *store.QuotaError
	require.ErrorAs(t, err, &qe, "a token made by a token is capped")
	_, _, err = st.CreateToken(ctx, org.ID, "break-glass admin", store.RoleAdmin, time.Time{})
	assert.NoError(t, err, "rig-cloud token create --org is not capped")
}
