package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// metric returns the text of the API's /metrics.
func (e *env) metrics() string {
	e.t.Helper()
	res, err := e.srv.Client().Get(e.srv.URL + "/metrics")
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, res.StatusCode)
	return string(b)
}

// An organisation holds at most quotas.max_open_uploads open upload
// requests: past it POST /v1/uploads is 409 quota-exceeded naming the
// key, the limit and how to make room, counted on /metrics; another
// organisation is not held back; a cancelled or expired request makes
// room. Concurrent requests never pass the cap together.
func TestOpenUploadsQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.st.SetQuotas(store.Quotas{MaxOpenUploads: 3})
	a, b := e.tenant("alpha"), e.tenant("beta")
	to := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	body := func(tn *tenant) fleetapi.UploadRequestBody {
		return fleetapi.UploadRequestBody{RigID: tn.rig, From: to.Add(-time.Hour), To: to}
	}

	codes := make(chan int, 10)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { codes <- e.do("POST", "/v1/uploads", a.operator, body(a)).code })
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	assert.Equal(t, map[int]int{201: 3, 409: 7}, got, "10 concurrent requests under a cap of 3")
	assert.Equal(t, 3, e.count(`SELECT count(*) FROM upload_requests WHERE org_id = $1`, a.orgID))

	r := e.do("POST", "/v1/uploads", a.operator, body(a))
	require.Equal(t, 409, r.code, "%s", r.body)
	p := r.problem(t)
	assert.Equal(t, httpapi.ProblemQuotaExceeded, p.Type)
	assert.Equal(t, "the organisation has 3 open upload requests, the most quotas.max_open_uploads allows is 3: "+
		"cancel one (POST /v1/uploads/{id}/cancel, rigctl uploads cancel ID) or wait until one is done or expires", p.Detail)
	assert.Contains(t, e.metrics(), `rig_cloud_quota_refusals_total{quota="quotas.max_open_uploads"} 8`)

	r = e.do("POST", "/v1/uploads", b.operator, body(b))
	assert.Equal(t, 201, r.code, "another organisation: %s", r.body)

	r = e.do("POST", "/v1/uploads/up-1/cancel", a.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r = e.do("POST", "/v1/uploads", a.operator, body(a))
	assert.Equal(t, 201, r.code, "after a cancel: %s", r.body)
	_, err := e.st.Pool().Exec(t.Context(), `UPDATE upload_requests SET expires_at = now() - interval '1 second'
		WHERE org_id = $1 AND id = (SELECT min(id) FROM upload_requests WHERE org_id = $1 AND state = 'open')`, a.orgID)
	require.NoError(t, err)
	r = e.do("POST", "/v1/uploads", a.operator, body(a))
	assert.Equal(t, 201, r.code, "after an expiry: %s", r.body)
}

// An organisation holds at most quotas.max_queued_jobs queued jobs,
// training jobs and data set builds together: past it a training job and
// a build from fleet uploads are 409 quota-exceeded and nothing is
// stored; a cancelled job makes room.
func TestQueuedJobsQuota(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	te.st.SetQuotas(store.Quotas{MaxQueuedJobs: 1})
	a := te.a
	ds := te.dataset("quota-1")
	j := te.job(ds, te.tinyConfig)

	r := te.do("POST", "/v1/training/jobs", a.operator, httpapi.JobRequest{DatasetID: ds, Config: &te.tinyConfig})
	require.Equal(t, 409, r.code, "%s", r.body)
	p := r.problem(t)
	assert.Equal(t, httpapi.ProblemQuotaExceeded, p.Type)
	assert.Contains(t, p.Detail, "the organisation has 1 queued jobs (training jobs and data set builds), the most quotas.max_queued_jobs allows is 1")
	to := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	r = te.do("POST", "/v1/datasets/from-uploads", a.operator, fleetapi.FleetDatasetRequest{Name: "fleet-q", RigConfig: fleetRigYAML,
		RigIDs: []string{a.rig}, From: to.Add(-time.Hour), To: to})
	require.Equal(t, 409, r.code, "%s", r.body)
	assert.Equal(t, httpapi.ProblemQuotaExceeded, r.problem(t).Type)
	assert.Zero(t, te.count(`SELECT count(*) FROM datasets WHERE name = 'fleet-q'`), "a refused build stores no data set")
	assert.Equal(t, 1, te.count(`SELECT count(*) FROM training_jobs`))
	assert.Contains(t, te.metrics(), `rig_cloud_quota_refusals_total{quota="quotas.max_queued_jobs"} 2`)

	r = te.do("POST", fmt.Sprintf("/v1/training/jobs/%d/cancel", j.ID), a.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	te.job(ds, te.tinyConfig)
}
