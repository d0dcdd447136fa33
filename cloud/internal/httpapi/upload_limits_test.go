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
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// createUpload posts body as tn's operator and returns the request (201).
func (e *env) createUpload(tn *tenant, body fleetapi.UploadRequestBody) store.FleetUpload {
	e.t.Helper()
	var up store.FleetUpload
	r := e.do("POST", "/v1/uploads", tn.operator, body)
	require.Equal(e.t, 201, r.code, "%s", r.body)
	r.decode(e.t, &up)
	return up
}

func (e *env) uploadPart(tn *tenant, id string, part uint32, last bool, rs []reading.Reading) resp {
	return e.gz(cloudapi.PathUploads, tn.cred, cloudapi.Upload{AgentID: tn.agent, RequestID: id, Part: part, Last: last, Readings: rs})
}

func (e *env) listUploads(tn *tenant, query string) []store.FleetUpload {
	e.t.Helper()
	var page struct {
		Items []store.FleetUpload `json:"items"`
	}
	r := e.do("GET", "/v1/uploads"+query, tn.viewer, nil)
	require.Equal(e.t, 200, r.code, "%s", r.body)
	r.decode(e.t, &page)
	return page.Items
}

// The server bounds an upload request: max_bytes is enforced on the
// parts (the readings past it are not stored and the request is done),
// a request naming none gets the server's cap, and the cap, expires_at
// and to are bounded at creation (400 naming the field).
func TestUploadRequestLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	from, to := t0, t0.Add(time.Hour)
	rs := fleetReadings(from, from.Add(100*time.Second)) // 300 readings, ~60 bytes each

	up := e.createUpload(a, fleetapi.UploadRequestBody{RigID: a.rig, From: from, To: to, MaxBytes: 2000})
	assert.EqualValues(t, 2000, up.MaxBytes)
	var res cloudapi.UploadResponse
	r := e.uploadPart(a, up.ID, 0, false, rs)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &res)
	assert.Equal(t, cloudapi.ItemAccepted, res.Status)
	assert.True(t, res.Done, "the part reached max_bytes: the request is complete")
	var want int64
	n := 0
	for i := range rs {
		b := cloudapi.ReadingBytes(&rs[i])
		if want+b > 2000 {
			break
		}
		want += b
		n++
	}
	require.Greater(t, n, 0)
	got := e.listUploads(a, "")
	require.Len(t, got, 1)
	assert.Equal(t, store.UploadDone, got[0].State)
	assert.EqualValues(t, n, got[0].Readings)
	assert.Equal(t, want, got[0].Bytes)
	assert.Equal(t, n, e.count("SELECT count(*) FROM upload_readings"))
	r = e.uploadPart(a, up.ID, 1, false, rs[:1])
	require.Equal(t, 410, r.code, "%s", r.body)
	// A replay of the part is still a duplicate.
	r = e.uploadPart(a, up.ID, 0, false, rs)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &res)
	assert.Equal(t, cloudapi.ItemDuplicate, res.Status)

	// No max_bytes: the server's cap, announced to the agent.
	up = e.createUpload(a, fleetapi.UploadRequestBody{RigID: a.rig, From: from, To: to})
	assert.EqualValues(t, httpapi.MaxUploadBytes, up.MaxBytes)

	// The readings cap holds whatever max_bytes says.
	_, err := e.st.Pool().Exec(context.Background(), `UPDATE upload_requests SET readings = $1 WHERE id = $2`,
		store.MaxUploadRequestReadings-5, up.ID[len("up-"):])
	require.NoError(t, err)
	r = e.uploadPart(a, up.ID, 0, false, rs[:10])
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &res)
	assert.True(t, res.Done, "the part reached the readings cap")
	assert.Equal(t, 5, e.count("SELECT count(*) FROM upload_readings WHERE request_id = $1", up.ID[len("up-"):]))

	now := time.Now()
	for _, bad := range []struct {
		body    fleetapi.UploadRequestBody
		pointer string
	}{
		{fleetapi.UploadRequestBody{RigID: a.rig, From: from, To: to, ExpiresAt: now.Add(31 * 24 * time.Hour)}, "/expires_at"},
		{fleetapi.UploadRequestBody{RigID: a.rig, From: from, To: to, ExpiresAt: time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC)}, "/expires_at"},
		{fleetapi.UploadRequestBody{RigID: a.rig, From: from, To: to, MaxBytes: httpapi.MaxUploadBytes + 1}, "/max_bytes"},
	} {
		r := e.do("POST", "/v1/uploads", a.operator, bad.body)
		require.Equal(t, 400, r.code, "%s", r.body)
		p := r.problem(t)
		require.Len(t, p.Errors, 1, "%s", r.body)
		assert.Equal(t, bad.pointer, p.Errors[0].Pointer)
	}
	e.createUpload(a, fleetapi.UploadRequestBody{RigID: a.rig, From: from, To: to, ExpiresAt: now.Add(httpapi.MaxUploadTTL - time.Minute)})
}

// A range reaching into the future is refused (400 naming /to): the
// agent would answer with what it holds and mark that part last, leaving
// the request done without the readings still to come. A to within the
// clock skew allowance is taken.
func TestUploadRequestFutureTo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	now := time.Now()
	for _, body := range []fleetapi.UploadRequestBody{
		{RigID: a.rig, From: now.Add(-time.Minute), To: now.Add(time.Hour)},
		{RigID: a.rig, From: now.Add(time.Hour), To: now.Add(25 * time.Hour)},
	} {
		r := e.do("POST", "/v1/uploads", a.operator, body)
		require.Equal(t, 400, r.code, "%s", r.body)
		p := r.problem(t)
		require.Len(t, p.Errors, 1, "%s", r.body)
		assert.Equal(t, "/to", p.Errors[0].Pointer)
		assert.Contains(t, p.Detail, "in the future")
	}
	assert.Zero(t, e.count("SELECT count(*) FROM upload_requests"))
	e.createUpload(a, fleetapi.UploadRequestBody{RigID: a.rig, From: now.Add(-time.Hour), To: now.Add(time.Minute)})
}

// An open request past its expires_at is listed as expired, not open.
func TestUploadRequestExpiredListed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	old := e.createUpload(a, fleetapi.UploadRequestBody{RigID: a.rig, From: t0, To: t0.Add(time.Hour)})
	live := e.createUpload(a, fleetapi.UploadRequestBody{RigID: a.rig, From: t0, To: t0.Add(time.Hour)})
	_, err := e.st.Pool().Exec(context.Background(), `UPDATE upload_requests SET expires_at = now() - interval '1 day' WHERE id = $1`,
		old.ID[len("up-"):])
	require.NoError(t, err)

	ids := func(us []store.FleetUpload) (out []string) {
		for _, u := range us {
			out = append(out, u.ID+"="+u.State)
		}
		return out
	}
	assert.Equal(t, []string{old.ID + "=expired", live.ID + "=open"}, ids(e.listUploads(a, "")))
	assert.Equal(t, []string{live.ID + "=open"}, ids(e.listUploads(a, "?state=open")))
	assert.Equal(t, []string{old.ID + "=expired"}, ids(e.listUploads(a, "?state=expired")))
	r := e.uploadPart(a, old.ID, 0, true, nil)
	require.Equal(t, 410, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "expired", fmt.Sprint(old.ID))
}
