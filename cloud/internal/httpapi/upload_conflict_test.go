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

// An upload part sent again is told apart by its content: the same
// readings (the same instants written with another offset included) are a
// duplicate; other readings or another Last flag are a conflict, answered
// with a problem of type conflict, and the stored part is kept unchanged.
// A part stored without a fingerprint (before migration 0010) is taken for
// a replay, as before.
func TestUploadPartConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("acme")
	var up store.FleetUpload
	r := e.do("POST", "/v1/uploads", a.operator, fleetapi.UploadRequestBody{RigID: a.rig, From: t0, To: t0.Add(time.Minute)})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &up)
	send := func(part uint32, last bool, rs []reading.Reading) cloudapi.UploadResponse {
		t.Helper()
		r := e.gz(cloudapi.PathUploads, a.cred, cloudapi.Upload{AgentID: a.agent, RequestID: up.ID, Part: part, Last: last, Readings: rs})
		require.Equal(t, 200, r.code, "%s", r.body)
		var u cloudapi.UploadResponse
		r.decode(t, &u)
		return u
	}
	rs := []reading.Reading{{Sensor: "PS1", Time: t0, Value: 150, Seq: 1}, {Sensor: "PS1", Time: t0.Add(time.Second), Value: 151, Seq: 2}}
	stored := func() (n int, sum int) {
		t.Helper()
		return e.count(`SELECT count(*) FROM upload_readings`), e.count(`SELECT coalesce(sum(value), 0)::int FROM upload_readings`)
	}

	assert.Equal(t, cloudapi.ItemAccepted, send(0, false, rs).Status)
	n, sum := stored()
	require.Equal(t, 2, n)
	require.Equal(t, 301, sum)

	// Identical content: duplicate, also with the times in another zone.
	assert.Equal(t, cloudapi.UploadResponse{RequestID: up.ID, Part: 0, Status: cloudapi.ItemDuplicate}, send(0, false, rs))
	cest := time.FixedZone("CEST", 2*3600)
	zoned := []reading.Reading{rs[0], rs[1]}
	zoned[0].Time, zoned[1].Time = rs[0].Time.In(cest), rs[1].Time.In(cest)
	assert.Equal(t, cloudapi.ItemDuplicate, send(0, false, zoned).Status)

	// Different content: conflict, nothing stored.
	changed := []reading.Reading{rs[0], rs[1], {Sensor: "PS1", Time: t0.Add(2 * time.Second), Value: 152, Seq: 3}}
	changed[1].Value = 999
	for name, c := range map[string]struct {
		last bool
		rs   []reading.Reading
	}{"other readings": {false, changed}, "fewer readings": {false, rs[:1]}, "last flag": {true, rs}} {
		u := send(0, c.last, c.rs)
		assert.Equal(t, cloudapi.ItemConflict, u.Status, name)
		assert.False(t, u.Done, name)
		if assert.NotNil(t, u.Problem, name) {
			assert.Equal(t, cloudapi.ProblemConflict, u.Problem.Type, name)
			assert.Equal(t, cloudapi.ProblemTitle(cloudapi.ProblemConflict), u.Problem.Title, name)
			assert.Contains(t, u.Problem.Detail, "stored part is kept", name)
		}
	}
	n, sum = stored()
	assert.Equal(t, 2, n, "the stored part is unchanged")
	assert.Equal(t, 301, sum, "the stored part is unchanged")
	assert.Equal(t, 1, e.count(`SELECT parts FROM upload_requests`))
	assert.Equal(t, 2, e.count(`SELECT readings FROM upload_requests`))
	assert.Equal(t, 1, e.count(`SELECT count(*) FROM upload_parts`))

	// The last part completes the request; a conflicting copy of it says
	// so too (the agent ends the request).
	assert.Equal(t, cloudapi.UploadResponse{RequestID: up.ID, Part: 1, Status: cloudapi.ItemAccepted, Done: true},
		send(1, true, changed[2:]))
	u := send(1, true, changed[1:])
	assert.Equal(t, cloudapi.ItemConflict, u.Status)
	assert.True(t, u.Done)

	// A part stored before migration 0010 has no fingerprint: unknown, a
	// replay whatever it holds.
	_, err := e.st.Pool().Exec(t.Context(), `UPDATE upload_parts SET fingerprint = NULL WHERE part = 0`)
	require.NoError(t, err)
	assert.Equal(t, cloudapi.UploadResponse{RequestID: up.ID, Part: 0, Status: cloudapi.ItemDuplicate, Done: true}, send(0, false, changed))
	n, sum = stored()
	assert.Equal(t, 3, n)
	assert.Equal(t, 301+152, sum)
}
