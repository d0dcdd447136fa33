package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// A part is identified by agent id (its name), request and part number
// (docs/agent-cloud-api.md): a re-enrolled agent sending part 0 again is
// answered duplicate (conflict with other content), not stored twice.
func TestUploadPartAfterReenrollment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	up := e.createUpload(a, fleetapi.UploadRequestBody{RigID: a.rig, From: t0, To: t0.Add(time.Hour)})
	rs := fleetReadings(t0, t0.Add(10*time.Second))
	answer := func(r resp) cloudapi.UploadResponse {
		t.Helper()
		require.Equal(t, 200, r.code, "%s", r.body)
		var res cloudapi.UploadResponse
		r.decode(t, &res)
		return res
	}
	assert.Equal(t, cloudapi.ItemAccepted, answer(e.uploadPart(a, up.ID, 0, false, rs)).Status)

	a.cred = e.enroll(a, a.agent)
	assert.Equal(t, cloudapi.ItemDuplicate, answer(e.uploadPart(a, up.ID, 0, false, rs)).Status)
	assert.Equal(t, cloudapi.ItemConflict, answer(e.uploadPart(a, up.ID, 0, false, rs[:3])).Status)
	got := e.listUploads(a, "")
	require.Len(t, got, 1)
	assert.Equal(t, 1, got[0].Parts)
	assert.EqualValues(t, len(rs), got[0].Readings)
	assert.Equal(t, len(rs), e.count("SELECT count(*) FROM upload_readings"))
	res := answer(e.uploadPart(a, up.ID, 1, true, rs[:0]))
	assert.Equal(t, cloudapi.ItemAccepted, res.Status)
	assert.True(t, res.Done)
}
