package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// A system token lists the deployment's tokens (system, release) and
// revokes any token: another system token, a release token, itself, an
// organisation's; an organisation's admin revokes none of the
// deployment's (review r2 F2: system tokens could only be revoked in SQL).
func TestSystemTokenRevocable(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	ctx := context.Background()
	leaked, leakedSec, err := e.st.CreateToken(ctx, 0, "leaked", store.RoleSystem, time.Time{})
	require.NoError(t, err)
	rel, relSec, err := e.st.CreateToken(ctx, 0, "ci releases", store.RoleRelease, time.Time{})
	require.NoError(t, err)

	r := e.do("GET", "/v1/tokens", e.system, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	var pg fleetapi.Page[fleetapi.Token]
	r.decode(t, &pg)
	roles := map[int64]string{}
	for _, tk := range pg.Items {
		roles[tk.ID] = tk.Role
		assert.Nil(t, tk.OrgID)
	}
	assert.Equal(t, "system", roles[leaked.ID])
	assert.Equal(t, "release", roles[rel.ID])
	assert.Len(t, roles, 3, "the deployment's tokens only: %s", r.body)

	// An organisation's admin can neither see nor revoke them.
	r = e.do("GET", "/v1/tokens", a.admin, nil)
	require.Equal(t, 200, r.code)
	assert.NotContains(t, string(r.body), "leaked")
	assert.Equal(t, 404, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", leaked.ID), a.admin, nil).code)
	assert.Equal(t, 403, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", leaked.ID), a.operator, nil).code)
	assert.Equal(t, 403, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", leaked.ID), relSec, nil).code)
	assert.Equal(t, 403, e.do("GET", "/v1/tokens", relSec, nil).code)

	// The leaked system token made an admin of alpha; revoked with
	// cascade, both stop at once.
	var minted fleetapi.TokenResponse
	r = e.do("POST", fmt.Sprintf("/v1/orgs/%d/tokens", a.orgID), leakedSec, fleetapi.TokenRequest{Name: "x", Role: "admin"})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &minted)
	require.Equal(t, 204, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d?cascade=true", leaked.ID), e.system, nil).code)
	assert.Equal(t, 401, e.do("GET", "/v1/orgs", leakedSec, nil).code)
	assert.Equal(t, 401, e.do("GET", "/v1/rigs", minted.Secret, nil).code)
	// A release token, and an organisation's token.
	require.Equal(t, 204, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", rel.ID), e.system, nil).code)
	assert.Equal(t, 401, e.do("GET", "/tuf/timestamp.json", relSec, nil).code)
	op, opSec, err := e.st.CreateToken(ctx, a.orgID, "op", store.RoleOperator, time.Time{})
	require.NoError(t, err)
	require.Equal(t, 204, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", op.ID), e.system, nil).code)
	assert.Equal(t, 401, e.do("GET", "/v1/rigs", opSec, nil).code)
	// A system token revokes itself.
	var sysID int64
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT min(id) FROM api_tokens WHERE role = 'system'`).Scan(&sysID))
	require.Equal(t, 204, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", sysID), e.system, nil).code)
	assert.Equal(t, 401, e.do("GET", "/v1/orgs", e.system, nil).code)
	assert.Equal(t, 200, e.do("GET", "/v1/rigs", a.admin, nil).code, "what it made without cascade stays")
}
