package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// Concurrent uploads of new content never pass quotas.max_rig_type_versions
// together: the refused ones are *QuotaError naming the key; content
// already stored still answers; a deleted version makes room.
func TestRigTypeVersionsQuotaConcurrent(t *testing.T) {
	t.Parallel()
	_, st := newStore(t)
	st.SetQuotas(store.Quotas{MaxRigTypeVersions: 3})
	ctx := context.Background()
	org := newOrg(t, st, "acme", "Acme")
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, _, errs[i] = st.PutRigType(ctx, org.ID, rigTypeSum(i), "config", 0) })
	}
	wg.Wait()
	refused := 0
	for _, err := range errs {
		var qe *store.QuotaError
		if errors.As(err, &qe) {
			refused++
			assert.Equal(t, store.QuotaRigTypeVersions, qe.Quota)
			assert.Equal(t, 3, qe.Count)
			assert.ErrorIs(t, err, store.ErrQuota)
			continue
		}
		assert.NoError(t, err)
	}
	assert.Equal(t, n-3, refused)
	latest, err := st.RigType(ctx, org.ID, "mini-rig", 0)
	require.NoError(t, err)
	assert.Equal(t, 3, latest.Version)

	// The latest may not go while older ones remain; an older one may.
	require.ErrorIs(t, st.DeleteRigType(ctx, org.ID, "mini-rig", 3), store.ErrState)
	require.ErrorIs(t, st.DeleteRigType(ctx, org.ID, "mini-rig", 4), store.ErrNotFound)
	require.NoError(t, st.DeleteRigType(ctx, org.ID, "mini-rig", 1))
	rt, created, err := st.PutRigType(ctx, org.ID, rigTypeSum(99), "config", 0)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, 4, rt.Version, "numbers are not reused")
}
