package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

func rigTypeSum(i int) fleetapi.RigTypeSummary {
	return fleetapi.RigTypeSummary{Name: "mini-rig", Digest: fmt.Sprintf("sha256:%064x", i), TopologyVersion: "1",
		Components: 2, Edges: 2, Sensors: 1, Targets: 1}
}

// Concurrent uploads of different content for one name each get a version
// of their own, numbered 1..n; the same content uploaded concurrently is
// stored once.
func TestPutRigTypeConcurrent(t *testing.T) {
	t.Parallel()
	_, st := newStore(t)
	ctx := context.Background()
	org := newOrg(t, st, "acme", "Acme")
	const n = 8
	versions := make([]int, 2*n)
	created := make([]bool, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Go(func() {
			// i and i+n upload the same content.
			rt, c, err := st.PutRigType(ctx, org.ID, rigTypeSum(i%n), "config", 0)
			if !assert.NoError(t, err) {
				return
			}
			versions[i], created[i] = rt.Version, c
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	stored := 0
	for i := range n {
		assert.Equal(t, versions[i], versions[i+n], "the same content is one version")
		assert.NotEqual(t, created[i], created[i+n], "one of the two stored it")
		seen[versions[i]] = true
	}
	for _, c := range created {
		if c {
			stored++
		}
	}
	assert.Equal(t, n, stored)
	assert.Len(t, seen, n)
	for v := 1; v <= n; v++ {
		assert.True(t, seen[v], "version %d", v)
	}
	latest, err := st.RigType(ctx, org.ID, "mini-rig", 0)
	require.NoError(t, err)
	assert.Equal(t, n, latest.Version)
	assert.Equal(t, "config", latest.Config)

	// Another organisation sees none of it.
	other := newOrg(t, st, "other", "Other")
	_, err = st.RigType(ctx, other.ID, "mini-rig", 0)
	assert.ErrorIs(t, err, store.ErrNotFound)
	ok, names, _, err := st.RigTypeKnown(ctx, other.ID, "anything")
	require.NoError(t, err)
	assert.True(t, ok, "no registry: any rig type")
	assert.Empty(t, names)
	ok, names, _, err = st.RigTypeKnown(ctx, org.ID, "anything")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, []string{"mini-rig"}, names)
}
