package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// DELETE /v1/datasets/{id} deletes a pending data set (an import given up
// before its archive was stored) for an operator of its organisation: its
// name is free again and a late archive upload into it is refused. A
// viewer is 403, another organisation 404, a ready data set 409.
func TestDeletePendingDataset(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	a, b := te.a, te.b
	ready := te.dataset("ready-1")
	pending := func(name string) int64 {
		var d store.Dataset
		r := te.do("POST", "/v1/datasets", a.operator, fleetapi.DatasetRequest{Name: name, Kind: "sim", RigConfig: te.rigYAML})
		require.Equal(t, 201, r.code, "%s", r.body)
		r.decode(t, &d)
		require.Equal(t, store.DatasetPending, d.State)
		return d.ID
	}
	id := pending("given-up")
	path := fmt.Sprintf("/v1/datasets/%d", id)

	r := te.do("DELETE", path, a.viewer, nil)
	assert.Equal(t, 403, r.code, "viewer: %s", r.body)
	r = te.do("DELETE", path, b.operator, nil)
	assert.Equal(t, 404, r.code, "other organisation: %s", r.body)
	r.problem(t)
	r = te.do("DELETE", fmt.Sprintf("/v1/datasets/%d", ready), a.operator, nil)
	assert.Equal(t, 409, r.code, "ready data set: %s", r.body)
	assert.Contains(t, r.problem(t).Detail, "ready, not pending")
	r = te.do("GET", fmt.Sprintf("/v1/datasets/%d", ready), a.viewer, nil)
	assert.Equal(t, 200, r.code, "the ready data set stays")

	r = te.do("DELETE", path, a.operator, nil)
	require.Equal(t, 204, r.code, "%s", r.body)
	assert.Empty(t, r.body)
	r = te.do("GET", path, a.viewer, nil)
	assert.Equal(t, 404, r.code, "deleted data set still there: %s", r.body)
	r = te.do("DELETE", path, a.operator, nil)
	assert.Equal(t, 404, r.code, "deleted twice: %s", r.body)
	r = te.raw("PUT", path+"/archive", a.operator, httpapi.MediaGzip, te.archive)
	assert.Equal(t, 404, r.code, "archive of a deleted data set: %s", r.body)
	assert.Zero(t, te.count(`SELECT count(*) FROM datasets WHERE id = $1`, id))

	// The name is free again.
	pending("given-up")
}
