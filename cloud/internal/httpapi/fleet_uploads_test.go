package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/fleetset"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// fleetRigYAML is a small firmware config of the tenants' rig type: two
// sensors (1 Hz, 2 Hz), a 4 s cycle.
const fleetRigYAML = `api_version: hydrognn/v1
rig_type: zema-testrig
topology_version: "1"
equipment: {id: press-alpha}
operation: {cycle_s: 4}
components:
  - {id: tank, type: reservoir}
  - {id: pump, type: pump, nominal: {displacement_cc: 10, speed_rpm: 1500}}
connections:
  - {from: tank, to: pump, line: suction}
  - {from: pump, to: tank, line: return}
sensors:
  - {id: PS1, kind: pressure, unit: bar, rate_hz: 1, range: {min: 0, max: 250}, component: pump, port: out, mqtt: {topic: rig/ps1, codec: json}}
  - {id: TS1, kind: temperature, unit: C, rate_hz: 2, range: {min: 0, max: 100}, component: tank, mqtt: {topic: rig/ts1, codec: json}}
targets:
  - name: pump
    component: pump
    kind: condition
    classes:
      - {value: 0, label: no leakage, health: 1}
      - {value: 1, label: weak leakage, health: 0.7, fault: leakage}
      - {value: 2, label: severe leakage, health: 0.3, fault: leakage}
`

// fleetReadings are PS1 (1 Hz) and TS1 (2 Hz) readings in [from, to).
func fleetReadings(from, to time.Time) []reading.Reading {
	var out []reading.Reading
	for ts := from; ts.Before(to); ts = ts.Add(500 * time.Millisecond) {
		if ts.Nanosecond() == 0 {
			out = append(out, reading.Reading{Sensor: "PS1", Time: ts, Value: 150 + float64(ts.Unix()%7)})
		}
		out = append(out, reading.Reading{Sensor: "TS1", Time: ts, Value: 40 + float64(ts.Unix()%3)})
	}
	return out
}

// Fleet uploads end to end: an operator requests a rig's readings, the
// agent learns it at check-in and uploads it in parts (idempotent), a
// data set is made from the uploads of the organisation's rigs over a
// time range, stored in the blob store in the UCI layout, and the trainer
// reads it; other organisations see none of it.
func TestFleetUploads(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	a, b := te.a, te.b
	ctx := context.Background()
	from := t0
	to := t0.Add(2 * time.Minute)

	// The request: operators only, the organisation's rigs only, checked.
	body := fleetapi.UploadRequestBody{RigID: a.rig, From: from, To: to}
	r := te.do("POST", "/v1/uploads", a.viewer, body)
	require.Equal(t, 403, r.code, "%s", r.body)
	r = te.do("POST", "/v1/uploads", b.operator, body)
	require.Equal(t, 404, r.code, "%s", r.body)
	r.problem(t)
	for _, bad := range []struct {
		body fleetapi.UploadRequestBody
		want string
	}{
		{fleetapi.UploadRequestBody{RigID: a.rig, From: to, To: from}, "is not after from"},
		{fleetapi.UploadRequestBody{RigID: a.rig, From: from, To: from.Add(40 * 24 * time.Hour)}, "longer than"},
		{fleetapi.UploadRequestBody{RigID: a.rig, From: from, To: to, ExpiresAt: time.Now().Add(-time.Hour)}, "not in the future"},
		{fleetapi.UploadRequestBody{RigID: "../x", From: from, To: to}, "not a rig id"},
	} {
		r = te.do("POST", "/v1/uploads", a.operator, bad.body)
		require.Equal(t, 400, r.code, "%s", r.body)
		p := r.problem(t)
		assert.Contains(t, p.Detail+fmt.Sprint(p.Errors), bad.want)
	}
	assert.Zero(t, te.count("SELECT count(*) FROM upload_requests"), "nothing stored by a refused request")
	var up store.FleetUpload
	r = te.do("POST", "/v1/uploads", a.operator, body)
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &up)
	assert.Equal(t, store.UploadOpen, up.State)
	assert.Equal(t, []string{}, up.Sensors)

	// Check-in announces it to the rig's agent, not to another rig's.
	checkin := func(tn *tenant) cloudapi.CheckinResponse {
		t.Helper()
		var cr cloudapi.CheckinResponse
		r := te.gz(cloudapi.PathCheckin, tn.cred, cloudapi.CheckinRequest{AgentID: tn.agent, RigID: tn.rig, RigType: tn.rigType, Time: time.Now()})
		require.Equal(t, 200, r.code, "%s", r.body)
		r.decode(t, &cr)
		return cr
	}
	cr := checkin(a)
	require.Len(t, cr.UploadRequests, 1)
	ur := cr.UploadRequests[0]
	require.NoError(t, cloudapi.ValidateUploadRequest(&ur))
	assert.Equal(t, cloudapi.UploadRequest{ID: up.ID, Kind: cloudapi.UploadReadings, From: from, To: to, MaxBytes: httpapi.MaxUploadBytes,
		ExpiresAt: up.ExpiresAt}, ur, "no max_bytes asked: the server's cap announced")
	assert.Empty(t, checkin(b).UploadRequests)

	// Parts: 118 s of readings in two parts (plus one before the range,
	// dropped); a replay is a duplicate; after the last part the request is
	// done, no longer announced, and a new part is 410. Another
	// organisation's agent gets 404.
	rs := fleetReadings(from, from.Add(118*time.Second))
	part := func(tn *tenant, n uint32, last bool, rs []reading.Reading) resp {
		return te.gz(cloudapi.PathUploads, tn.cred, cloudapi.Upload{AgentID: tn.agent, RequestID: up.ID, Part: n, Last: last, Readings: rs})
	}
	upResp := func(r resp) cloudapi.UploadResponse {
		t.Helper()
		require.Equal(t, 200, r.code, "%s", r.body)
		var u cloudapi.UploadResponse
		r.decode(t, &u)
		return u
	}
	early := reading.Reading{Sensor: "PS1", Time: from.Add(-time.Second), Value: 1}
	part0 := append([]reading.Reading{early}, rs[:200]...)
	assert.Equal(t, cloudapi.UploadResponse{RequestID: up.ID, Part: 0, Status: cloudapi.ItemAccepted},
		upResp(part(a, 0, false, part0)))
	assert.Equal(t, cloudapi.ItemDuplicate, upResp(part(a, 0, false, part0)).Status)
	assert.Equal(t, 404, part(b, 0, false, rs[:1]).code)
	assert.Equal(t, cloudapi.UploadResponse{RequestID: up.ID, Part: 1, Status: cloudapi.ItemAccepted, Done: true},
		upResp(part(a, 1, true, rs[200:])))
	assert.Equal(t, cloudapi.UploadResponse{RequestID: up.ID, Part: 1, Status: cloudapi.ItemDuplicate, Done: true},
		upResp(part(a, 1, true, rs[200:])))
	r = part(a, 2, true, nil)
	require.Equal(t, 410, r.code, "%s", r.body)
	assert.Equal(t, cloudapi.ProblemGone, r.problem(t).Type)
	assert.Empty(t, checkin(a).UploadRequests)
	assert.Equal(t, len(rs), te.count("SELECT count(*) FROM upload_readings"))

	var ups struct {
		Items []store.FleetUpload `json:"items"`
	}
	r = te.do("GET", "/v1/uploads?state=done&rig_id="+a.rig, a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &ups)
	require.Len(t, ups.Items, 1)
	assert.Equal(t, 2, ups.Items[0].Parts)
	assert.Equal(t, int64(len(rs)), ups.Items[0].Readings)
	r = te.do("GET", "/v1/uploads?cursor=x'", a.viewer, nil)
	require.Equal(t, 400, r.code, "%s", r.body)
	r.problem(t)
	r = te.do("GET", "/v1/uploads?state=maybe", a.viewer, nil)
	require.Equal(t, 400, r.code, "%s", r.body)
	r.problem(t)
	te.do("GET", "/v1/uploads", b.viewer, nil).decode(t, &ups)
	assert.Empty(t, ups.Items, "another organisation sees none")

	// Cancelling: a complete request is 409, another organisation's 404;
	// an open one leaves check-in and refuses parts (410), twice is fine.
	r = te.do("POST", "/v1/uploads/"+up.ID+"/cancel", a.operator, nil)
	require.Equal(t, 409, r.code, "%s", r.body)
	r = te.do("POST", "/v1/uploads", a.operator, fleetapi.UploadRequestBody{RigID: a.rig, From: to, To: to.Add(time.Hour), Sensors: []string{"PS1"}})
	require.Equal(t, 201, r.code, "%s", r.body)
	var up2 store.FleetUpload
	r.decode(t, &up2)
	require.Len(t, checkin(a).UploadRequests, 1)
	assert.Equal(t, 404, te.do("POST", "/v1/uploads/"+up2.ID+"/cancel", b.operator, nil).code)
	assert.Equal(t, 403, te.do("POST", "/v1/uploads/"+up2.ID+"/cancel", a.viewer, nil).code)
	assert.Equal(t, 404, te.do("POST", "/v1/uploads/nope/cancel", a.operator, nil).code)
	for range 2 {
		r = te.do("POST", "/v1/uploads/"+up2.ID+"/cancel", a.operator, nil)
		require.Equal(t, 200, r.code, "%s", r.body)
		r.decode(t, &up2)
		assert.Equal(t, store.UploadCancelled, up2.State)
	}
	assert.Empty(t, checkin(a).UploadRequests)
	r = te.gz(cloudapi.PathUploads, a.cred, cloudapi.Upload{AgentID: a.agent, RequestID: up2.ID, Part: 0, Readings: rs[:1]})
	require.Equal(t, 410, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "cancelled")

	// The data set: the request answers 202 with the data set building (a
	// worker assembles it); 29 whole 4 s cycles in the 118 s (the 30th is
	// cut short), labelled as asked; stored ready in the blob store.
	req := fleetapi.FleetDatasetRequest{Name: "fleet-1", RigConfig: fleetRigYAML, RigIDs: []string{a.rig}, From: from, To: to,
		Labels: map[string]float64{"pump": 1}}
	r = te.do("POST", "/v1/datasets/from-uploads", a.viewer, req)
	require.Equal(t, 403, r.code, "%s", r.body)
	fd := te.buildFleetDataset(a, req)
	assert.Equal(t, &fleetapi.DatasetBuild{RigIDs: []string{a.rig}, From: from, To: to, Labels: map[string]float64{"pump": 1},
		Phase: fleetapi.BuildDone, Attempt: 1, RigsDone: 1, Readings: int64(len(rs)), Windows: 29,
		Rigs: []fleetset.RigStats{{RigID: a.rig, Readings: int64(len(rs)), Windows: 29, Skipped: 1}}, UpdatedAt: fd.Build.UpdatedAt}, fd.Build)
	assert.Equal(t, store.DatasetReady, fd.State)
	assert.Nil(t, fd.Error)
	assert.Equal(t, store.SourceFleet, fd.Source)
	assert.Equal(t, "uci", fd.Kind)
	assert.Contains(t, fd.Description, "labels pump=1")

	stored, err := te.st.Dataset(ctx, a.orgID, fd.ID)
	require.NoError(t, err)
	require.NotNil(t, stored.BlobKey)
	assert.True(t, strings.HasPrefix(*stored.BlobKey, fmt.Sprintf("orgs/%d/datasets/fleet-", a.orgID)))
	rc, _, err := te.blobs.Get(ctx, *stored.BlobKey)
	require.NoError(t, err)
	archive, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, *fd.Digest, fmt.Sprintf("sha256:%x", sha256.Sum256(archive)))
	dir := t.TempDir()
	require.NoError(t, tarball.Extract(bytes.NewReader(archive), dir, tarball.Limits{}))
	cfg, err := rig.Parse("fleet", []byte(fleetRigYAML))
	require.NoError(t, err)
	ds, err := train.LoadUCI(dir, cfg, 1)
	require.NoError(t, err)
	require.Equal(t, 29, ds.Len())
	assert.Equal(t, []int{1}, ds.Labels[0], "weak leakage")
	assert.Equal(t, []float64{150 + float64(t0.Unix()%7), 150 + float64((t0.Unix()+1)%7), 150 + float64((t0.Unix()+2)%7), 150 + float64((t0.Unix()+3)%7)},
		ds.Grids[0][0])

	// A training job takes it like an imported data set, and a worker
	// trains a model on it. The build is no training job.
	j := te.job(fd.ID, te.tinyConfig)
	assert.Equal(t, fd.ID, j.DatasetID)
	var jl struct{ Items []store.Job }
	te.do("GET", "/v1/training/jobs", a.viewer, nil).decode(t, &jl)
	require.Len(t, jl.Items, 1, "only the training job is listed")
	ran, err := te.worker("w1").RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, ran)
	got := te.getJob(j.ID)
	require.Equal(t, store.JobSucceeded, got.State, "error: %v", deref(got.Error))
	require.NotNil(t, got.ModelVersion, "a model trained on fleet data is registered")

	// Refusals: nothing stored.
	before := te.count("SELECT count(*) FROM datasets")
	for _, bad := range []struct {
		tok  string
		req  fleetapi.FleetDatasetRequest
		code int
		want string
	}{
		{a.operator, req, 409, "fleet-1"},
		{b.operator, fleetapi.FleetDatasetRequest{Name: "x", RigConfig: fleetRigYAML, RigIDs: []string{a.rig}, From: from, To: to}, 404, a.rig},
		{a.operator, fleetapi.FleetDatasetRequest{Name: "x", RigConfig: fleetRigYAML, RigIDs: []string{a.rig}, From: to, To: from}, 400, "is not a time range"},
		{a.operator, fleetapi.FleetDatasetRequest{Name: "x", RigConfig: fleetRigYAML, RigIDs: []string{a.rig}, From: from, To: to,
			Labels: map[string]float64{"pump": 5}}, 400, "5 is not a class of target \"pump\""},
		{a.operator, fleetapi.FleetDatasetRequest{Name: "x", RigConfig: strings.Replace(fleetRigYAML, "rig_type: zema-testrig", "rig_type: other", 1),
			RigIDs: []string{a.rig}, From: from, To: to}, 400, "is of rig type \"zema-testrig\""},
		{a.operator, fleetapi.FleetDatasetRequest{Name: "x", RigConfig: strings.Replace(fleetRigYAML, "operation: {cycle_s: 4}\n", "", 1),
			RigIDs: []string{a.rig}, From: from, To: to}, 400, "cycle_s must be set"},
		{a.operator, fleetapi.FleetDatasetRequest{Name: "x", RigConfig: fleetRigYAML, From: from, To: to}, 400, "rig_ids has 0 rigs"},
		{a.operator, fleetapi.FleetDatasetRequest{Name: "x", RigConfig: fleetRigYAML, RigIDs: []string{a.rig, a.rig}, From: from, To: to}, 400, "named twice"},
		{a.operator, fleetapi.FleetDatasetRequest{Name: "x", RigConfig: "nope", RigIDs: []string{a.rig}, From: from, To: to}, 400, "rig_config"},
	} {
		r := te.do("POST", "/v1/datasets/from-uploads", bad.tok, bad.req)
		require.Equal(t, bad.code, r.code, "%s", r.body)
		assert.Contains(t, r.problem(t).Detail, bad.want)
	}
	assert.Equal(t, before, te.count("SELECT count(*) FROM datasets"))
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// postFleetDataset asks for a fleet data set: 202, building, Location;
// the build is queued and nothing is stored yet.
func (te *trainingEnv) postFleetDataset(tn *tenant, req fleetapi.FleetDatasetRequest) store.Dataset {
	t := te.t
	t.Helper()
	r := te.do("POST", "/v1/datasets/from-uploads", tn.operator, req)
	require.Equal(t, 202, r.code, "%s", r.body)
	var d store.Dataset
	r.decode(t, &d)
	assert.Equal(t, fmt.Sprintf("/v1/datasets/%d", d.ID), r.header.Get("Location"))
	assert.Equal(t, store.DatasetBuilding, d.State)
	require.NotNil(t, d.Build)
	assert.Equal(t, fleetapi.BuildQueued, d.Build.Phase)
	assert.Equal(t, req.RigIDs, d.Build.RigIDs)
	assert.Nil(t, d.Bytes)
	assert.Nil(t, d.Digest)
	assert.Equal(t, d, te.getDataset(tn, d.ID))
	return d
}

func (te *trainingEnv) getDataset(tn *tenant, id int64) store.Dataset {
	te.t.Helper()
	var d store.Dataset
	r := te.do("GET", fmt.Sprintf("/v1/datasets/%d", id), tn.viewer, nil)
	require.Equal(te.t, 200, r.code, "%s", r.body)
	r.decode(te.t, &d)
	return d
}

// buildFleetDataset asks for a fleet data set, checks that training on
// it is refused while it builds, and has a worker build it (RunOnce); it
// returns the data set as GET shows it then.
func (te *trainingEnv) buildFleetDataset(tn *tenant, req fleetapi.FleetDatasetRequest) store.Dataset {
	t := te.t
	t.Helper()
	d := te.postFleetDataset(tn, req)
	r := te.do("POST", "/v1/training/jobs", tn.operator, httpapi.JobRequest{DatasetID: d.ID})
	require.Equal(t, 409, r.code, "%s", r.body)
	p := r.problem(t)
	assert.Equal(t, httpapi.ProblemStateConflict, p.Type)
	assert.Contains(t, p.Detail, "is building")
	ran, err := te.worker("builder").RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ran)
	return te.getDataset(tn, d.ID)
}

// uploadAll has tn's agent upload rs for a new request over [from, to).
func (e *env) uploadAll(tn *tenant, from, to time.Time, rs []reading.Reading) {
	t := e.t
	t.Helper()
	var up store.FleetUpload
	r := e.do("POST", "/v1/uploads", tn.operator, fleetapi.UploadRequestBody{RigID: tn.rig, From: from, To: to})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &up)
	r = e.gz(cloudapi.PathUploads, tn.cred, cloudapi.Upload{AgentID: tn.agent, RequestID: up.ID, Part: 0, Last: true, Readings: rs})
	require.Equal(t, 200, r.code, "%s", r.body)
}

// A range with no complete window: the request is accepted (the server
// does not read the readings), the build fails with the reason, training
// on it is refused, and the name can be used again.
func TestFleetDatasetNoWindow(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	a := te.a
	te.uploadAll(a, t0, t0.Add(time.Minute), fleetReadings(t0, t0.Add(time.Minute)))
	req := fleetapi.FleetDatasetRequest{Name: "empty", RigConfig: fleetRigYAML, RigIDs: []string{a.rig}, From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)}
	d := te.buildFleetDataset(a, req)
	assert.Equal(t, store.DatasetFailed, d.State)
	require.NotNil(t, d.Error)
	assert.Contains(t, *d.Error, "no complete window of 4 s in 2025-03-01T13:00:00Z..2025-03-01T14:00:00Z: rig "+a.rig+": 0 readings")
	assert.Equal(t, fleetapi.BuildFailed, d.Build.Phase)
	assert.Equal(t, 1, d.Build.RigsDone)
	assert.Nil(t, d.Bytes)
	assert.Zero(t, te.count("SELECT count(*) FROM training_jobs WHERE state = 'queued'"), "a data problem is not retried")

	r := te.do("POST", "/v1/training/jobs", a.operator, httpapi.JobRequest{DatasetID: d.ID})
	require.Equal(t, 409, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "failed to build (no complete window")
	var list struct{ Items []store.Dataset }
	te.do("GET", "/v1/datasets", a.viewer, nil).decode(t, &list)
	require.Len(t, list.Items, 1)
	assert.Equal(t, d, list.Items[0], "the list shows the state and the error")

	// The failed data set's name is free: the new request replaces it.
	req.From, req.To = t0, t0.Add(time.Minute)
	d2 := te.buildFleetDataset(a, req)
	assert.Equal(t, store.DatasetReady, d2.State)
	assert.Equal(t, 15, d2.Build.Windows)
	te.do("GET", "/v1/datasets", a.viewer, nil).decode(t, &list)
	require.Len(t, list.Items, 1)
	assert.Equal(t, d2.ID, list.Items[0].ID)
	assert.Equal(t, 404, te.do("GET", fmt.Sprintf("/v1/datasets/%d", d.ID), a.viewer, nil).code)
}

// A build whose worker dies (its lease expires) is re-queued by the next
// claim and built by another worker; the data set says why the first
// attempt ended meanwhile, and the dead worker's late writes are refused.
func TestFleetDatasetLeaseExpiry(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	a := te.a
	ctx := context.Background()
	te.uploadAll(a, t0, t0.Add(time.Minute), fleetReadings(t0, t0.Add(time.Minute)))
	d := te.postFleetDataset(a, fleetapi.FleetDatasetRequest{Name: "f", RigConfig: fleetRigYAML, RigIDs: []string{a.rig}, From: t0, To: t0.Add(time.Minute)})

	// A worker claims the build and dies.
	c, err := te.st.Claim(ctx, "dead", "go", 50*time.Millisecond)
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, store.KindBuildDataset, c.Kind)
	assert.Equal(t, d.ID, c.Dataset.ID)
	time.Sleep(100 * time.Millisecond)
	n, err := te.st.ReapExpired(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	got := te.getDataset(a, d.ID)
	assert.Equal(t, store.DatasetBuilding, got.State)
	require.NotNil(t, got.Error)
	assert.Contains(t, *got.Error, "attempt 1: the lease of worker dead expired")
	assert.Equal(t, fleetapi.BuildQueued, got.Build.Phase)
	// Its late writes are refused.
	_, err = te.st.HeartbeatBuild(ctx, c.Lease, time.Minute, got.Build)
	require.ErrorIs(t, err, store.ErrLeaseLost)
	_, err = te.st.FinishBuild(ctx, c.Lease, "k", 1, "sha256:x", *got.Build)
	require.ErrorIs(t, err, store.ErrLeaseLost)

	// Another worker builds it: the second attempt.
	w2 := te.worker("w2")
	ran, err := w2.RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, ran)
	assert.Equal(t, map[string]float64{"fleet_dataset/succeeded": 1}, attemptCounts(t, w2))
	got = te.getDataset(a, d.ID)
	assert.Equal(t, store.DatasetReady, got.State, "error: %v", deref(got.Error))
	assert.Equal(t, 2, got.Build.Attempt)
	assert.Equal(t, 15, got.Build.Windows)
	assert.Nil(t, got.Error)
}

// A fleet data set whose archive is over the blob store's cap: the build
// fails with the reason, nothing is stored in the blob store.
func TestFleetDatasetTooLarge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blobs, err := blob.NewFS(dir, 512)
	require.NoError(t, err)
	e := newEnv(t, httpapi.Options{Blobs: blobs})
	a := e.tenant("alpha")
	e.uploadAll(a, t0, t0.Add(time.Hour), fleetReadings(t0, t0.Add(10*time.Minute)))
	te := &trainingEnv{env: e, blobs: blobs, a: a}
	d := te.buildFleetDataset(a, fleetapi.FleetDatasetRequest{Name: "big", RigConfig: fleetRigYAML,
		RigIDs: []string{a.rig}, From: t0, To: t0.Add(time.Hour)})
	assert.Equal(t, store.DatasetFailed, d.State)
	require.NotNil(t, d.Error)
	assert.Contains(t, *d.Error, "larger than blob.max_object_bytes")
	objects, err := filepath.Glob(filepath.Join(dir, "orgs", "*", "datasets", "*"))
	require.NoError(t, err)
	assert.Empty(t, objects)

	// The worker's window cap is a data problem too.
	d = te.postFleetDataset(a, fleetapi.FleetDatasetRequest{Name: "many", RigConfig: fleetRigYAML,
		RigIDs: []string{a.rig}, From: t0, To: t0.Add(time.Hour)})
	w := jobs.NewWorker(te.st, te.blobs, jobs.Options{Name: "capped", MaxWindows: 10, WorkDir: t.TempDir()})
	ran, err := w.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ran)
	d = te.getDataset(a, d.ID)
	assert.Equal(t, store.DatasetFailed, d.State)
	require.NotNil(t, d.Error)
	assert.Contains(t, *d.Error, "too many windows: more than 10 in the range")
	assert.Equal(t, map[string]float64{"fleet_dataset/failed": 1}, attemptCounts(t, w))
}

// attemptCounts returns w's rig_cloud_worker_attempts_total by
// "kind/result", the series at 0 left out.
func attemptCounts(t *testing.T, w *jobs.Worker) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(w))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "rig_cloud_worker_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if v := m.GetCounter().GetValue(); v > 0 {
				counts[l["kind"]+"/"+l["result"]] = v
			}
		}
	}
	return counts
}

// slowReadings is the store with a RigReadings that blocks until its
// context ends, so a build stays running until it is cancelled.
type slowReadings struct {
	*store.Store
	started chan struct{}
}

func (s slowReadings) RigReadings(ctx context.Context, orgID int64, rigName string, from, to time.Time, fn func(reading.Reading) error) error {
	close(s.started)
	<-ctx.Done()
	return fmt.Errorf("read rig %s: %w", rigName, ctx.Err())
}

// POST /v1/datasets/{id}/cancel: a queued build fails the data set at
// once; a running one stops at the worker's next heartbeat and the data
// set fails then, saying who cancelled; a data set not building is 409,
// another organisation's 404; viewers cannot.
func TestFleetDatasetCancel(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	a, b := te.a, te.b
	te.uploadAll(a, t0, t0.Add(time.Minute), fleetReadings(t0, t0.Add(time.Minute)))
	req := fleetapi.FleetDatasetRequest{Name: "queued", RigConfig: fleetRigYAML, RigIDs: []string{a.rig}, From: t0, To: t0.Add(time.Minute)}
	cancelPath := func(id int64) string { return fmt.Sprintf("/v1/datasets/%d/cancel", id) }
	byToken := `cancelled by token "operator" \(id \d+\)`

	q := te.postFleetDataset(a, req)
	assert.Equal(t, 403, te.do("POST", cancelPath(q.ID), a.viewer, nil).code)
	r := te.do("POST", cancelPath(q.ID), b.operator, nil)
	require.Equal(t, 404, r.code, "%s", r.body)
	r = te.do("POST", cancelPath(q.ID), a.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	var d store.Dataset
	r.decode(t, &d)
	assert.Equal(t, store.DatasetFailed, d.State)
	assert.Equal(t, fleetapi.BuildFailed, d.Build.Phase)
	require.NotNil(t, d.Error)
	assert.Regexp(t, "^"+byToken+"$", *d.Error)
	assert.Equal(t, d, te.getDataset(a, q.ID))
	ran, err := te.worker("idle").RunOnce(context.Background())
	require.NoError(t, err)
	assert.False(t, ran, "a cancelled build is not claimed")
	r = te.do("POST", cancelPath(q.ID), a.operator, nil)
	require.Equal(t, 409, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "is failed: only a building data set can be cancelled")

	// Running: the worker sees the request at its heartbeat.
	req.Name = "running"
	run := te.postFleetDataset(a, req)
	slow := slowReadings{Store: te.st, started: make(chan struct{})}
	w := jobs.NewWorker(slow, te.blobs, jobs.Options{Name: "slow", Lease: 10 * time.Second, Heartbeat: 100 * time.Millisecond,
		WorkDir: t.TempDir()})
	done := make(chan error, 1)
	go func() {
		_, err := w.RunOnce(context.Background())
		done <- err
	}()
	select {
	case <-slow.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the build did not start")
	}
	r = te.do("POST", cancelPath(run.ID), a.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &d)
	assert.Equal(t, store.DatasetBuilding, d.State, "until the worker's heartbeat")
	require.NotNil(t, d.Error)
	assert.Regexp(t, "^"+byToken+": the worker stops at its next heartbeat$", *d.Error)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop")
	}
	d = te.getDataset(a, run.ID)
	assert.Equal(t, store.DatasetFailed, d.State)
	assert.Equal(t, fleetapi.BuildFailed, d.Build.Phase)
	require.NotNil(t, d.Error)
	assert.Regexp(t, "^"+byToken+"$", *d.Error)
	assert.Nil(t, d.Bytes)
	assert.Equal(t, 1, te.count("SELECT count(*) FROM training_jobs WHERE kind = 'fleet_dataset' AND state = 'cancelled' AND dataset_id = $1", run.ID))

	// Ready: 409.
	req.Name = "ready"
	ready := te.buildFleetDataset(a, req)
	require.Equal(t, store.DatasetReady, ready.State)
	r = te.do("POST", cancelPath(ready.ID), a.operator, nil)
	require.Equal(t, 409, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "is ready: only a building data set can be cancelled")
	assert.Equal(t, 404, te.do("POST", cancelPath(999999), a.operator, nil).code)
}
