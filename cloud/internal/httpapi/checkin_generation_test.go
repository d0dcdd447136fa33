package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// The check-in answer names the credential's enrollment generation, which
// the agent puts in its Idempotency-Keys: a re-enrolled agent's keys
// (its sequence restarted) never repeat the earlier identity's.
func TestCheckinNamesTheGeneration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	checkin := func() cloudapi.CheckinResponse {
		t.Helper()
		cin := cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}
		r := e.do("POST", cloudapi.PathCheckin, a.cred, cin)
		require.Equal(t, 200, r.code, "%s", r.body)
		var resp cloudapi.CheckinResponse
		r.decode(t, &resp)
		return resp
	}
	assert.Equal(t, 1, checkin().Generation)
	a.cred = e.enroll(a, a.agent)
	assert.Equal(t, 2, checkin().Generation)
}
