package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// On a rig with several agents, every one is told the request: one
// agent's last part does not end it for another that started answering
// it, whose parts are still taken until its own last part.
func TestUploadSeveralAgents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	two := e.enroll(a, "agent-two")
	three := e.enroll(a, "agent-three")
	up := e.createUpload(a, fleetapi.UploadRequestBody{RigID: a.rig, From: t0, To: t0.Add(time.Hour)})
	rs := fleetReadings(t0, t0.Add(20*time.Second))
	part := func(agent, cred string, n uint32, last bool, rs []reading.Reading) cloudapi.UploadResponse {
		t.Helper()
		r := e.gz(cloudapi.PathUploads, cred, cloudapi.Upload{AgentID: agent, RequestID: up.ID, Part: n, Last: last, Readings: rs})
		require.Equal(t, 200, r.code, "%s", r.body)
		var res cloudapi.UploadResponse
		r.decode(t, &res)
		assert.Equal(t, cloudapi.ItemAccepted, res.Status)
		return res
	}
	state := func() string {
		us := e.listUploads(a, "")
		require.Len(t, us, 1)
		return us[0].State
	}
	assert.False(t, part("agent-two", two, 0, false, rs[10:20]).Done)
	assert.False(t, part(a.agent, a.cred, 0, true, rs[:10]).Done, "agent-two started and has not sent its last part")
	assert.Equal(t, store.UploadOpen, state())
	assert.True(t, part("agent-two", two, 1, true, rs[20:]).Done)
	assert.Equal(t, store.UploadDone, state())
	// An agent that never started is not waited for: the request is done.
	r := e.gz(cloudapi.PathUploads, three, cloudapi.Upload{AgentID: "agent-three", RequestID: up.ID, Part: 0, Last: true})
	require.Equal(t, 410, r.code, "%s", r.body)
}
