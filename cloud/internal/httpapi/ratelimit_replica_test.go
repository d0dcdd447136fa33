package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// The request-rate buckets are each replica's, in its memory: two
// replicas on one database each admit a credential's whole burst, so N
// replicas admit up to N times the configured rate (docs/cloud.md,
// auth.rate_limit).
func TestRateLimitPerReplica(t *testing.T) {
	t.Parallel()
	pool, u := dbtest.Migrated(t)
	o := httpapi.Options{RateLimit: 0.001, RateBurst: 3}
	replicas := []*env{newEnvOn(t, pool, u, o), newEnvOn(t, pool, u, o)}
	ctx := context.Background()
	org, err := replicas[0].st.CreateOrg(ctx, "alpha", "Alpha")
	require.NoError(t, err)
	_, sec, err := replicas[0].st.CreateToken(ctx, org.ID, "viewer", store.RoleViewer, time.Time{})
	require.NoError(t, err)
	for i, e := range replicas {
		for j := range 3 {
			r := e.do("GET", "/v1/rigs", sec, nil)
			require.Equal(t, 200, r.code, "replica %d, request %d: %s", i, j, r.body)
		}
		r := e.do("GET", "/v1/rigs", sec, nil)
		require.Equal(t, 429, r.code, "replica %d: its burst of 3 is spent", i)
		require.Equal(t, cloudapi.ProblemRateLimited, r.problem(t).Type)
	}
}
