package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/models/train/traintest"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// trainingEnv is an API with a blob store, a tenant pair, and a
// synthetic UCI-layout data set of the ZeMA rig on disk.
type trainingEnv struct {
	*env
	blobs      *blob.FS
	a, b       *tenant
	rigYAML    string
	data       string
	archive    []byte
	tinyConfig jobs.Config
}

func newTrainingEnv(t *testing.T) *trainingEnv {
	t.Helper()
	blobs, err := blob.NewFS(t.TempDir(), 64<<20)
	require.NoError(t, err)
	e := newEnv(t, httpapi.Options{Blobs: blobs, MaxAttempts: 2})
	y, err := os.ReadFile(filepath.Join("..", "..", "..", "firmware-configs", "zema-testrig.yaml"))
	require.NoError(t, err)
	cfg, err := rig.Parse("zema", y)
	require.NoError(t, err)
	data := t.TempDir()
	require.NoError(t, traintest.WriteUCI(data, cfg, 8, 4, 1))
	var buf bytes.Buffer
	require.NoError(t, tarball.Write(&buf, data))
	return &trainingEnv{env: e, blobs: blobs, a: e.tenant("alpha"), b: e.tenant("beta"), rigYAML: string(y), data: data,
		archive: buf.Bytes(), tinyConfig: jobs.Config{Epochs: 2, Patience: -1, BatchSize: 8, Seed: 1, Int8: "none",
			Sizes: gnn.Sizes{Hidden: 8, Heads: 2, Layers: 1, HeadHidden: 8}}}
}

// dataset registers and uploads a data set of a; it returns its id.
func (te *trainingEnv) dataset(name string) int64 {
	t := te.t
	var d store.Dataset
	r := te.do("POST", "/v1/datasets", te.a.operator, fleetapi.DatasetRequest{Name: name, Kind: "sim", RigConfig: te.rigYAML})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &d)
	assert.Equal(t, store.DatasetPending, d.State)
	assert.Equal(t, "zema-testrig", d.RigType)
	r = te.raw("PUT", fmt.Sprintf("/v1/datasets/%d/archive", d.ID), te.a.operator, httpapi.MediaGzip, te.archive)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &d)
	assert.Equal(t, store.DatasetReady, d.State)
	require.NotNil(t, d.Bytes)
	assert.Equal(t, int64(len(te.archive)), *d.Bytes)
	return d.ID
}

func (te *trainingEnv) job(datasetID int64, cfg jobs.Config) store.Job {
	var j store.Job
	r := te.do("POST", "/v1/training/jobs", te.a.operator, httpapi.JobRequest{DatasetID: datasetID, Config: &cfg})
	require.Equal(te.t, 201, r.code, "%s", r.body)
	r.decode(te.t, &j)
	assert.Equal(te.t, store.JobQueued, j.State)
	assert.Equal(te.t, 2, j.MaxAttempts, "the server's default attempts")
	return j
}

func (te *trainingEnv) worker(name string) *jobs.Worker {
	return jobs.NewWorker(te.st, te.blobs, jobs.Options{Name: name, Lease: 10 * time.Second, Heartbeat: 100 * time.Millisecond,
		CodeVersion: "test-1", WorkDir: te.t.TempDir()})
}

func (te *trainingEnv) getJob(id int64) store.Job {
	var j store.Job
	r := te.do("GET", fmt.Sprintf("/v1/training/jobs/%d", id), te.a.viewer, nil)
	require.Equal(te.t, 200, r.code, "%s", r.body)
	r.decode(te.t, &j)
	return j
}

// A tiny job end to end: data set import, queue, worker, progress and
// logs, registry with lineage, bundle download, a second version and the
// comparison.
func TestTrainingEndToEnd(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	ctx := context.Background()
	ds := te.dataset("zema-sim")

	j := te.job(ds, te.tinyConfig)
	w := te.worker("w1")
	ran, err := w.RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, ran)
	got := te.getJob(j.ID)
	require.Equal(t, store.JobSucceeded, got.State, "error: %v", got.Error)
	require.NotNil(t, got.ModelVersion)
	assert.Equal(t, 1, *got.ModelVersion)
	require.NotNil(t, got.Progress)
	assert.Equal(t, 2, got.Progress.Epoch)
	assert.Equal(t, 2, got.Progress.Epochs)
	assert.NotZero(t, got.Progress.TrainLoss)
	assert.Contains(t, got.Progress.Metrics, "cooler.accuracy")
	require.NotNil(t, got.Artifact)
	assert.Equal(t, "go", *got.Backend)
	var logs struct{ Items []store.LogLine }
	r := te.do("GET", fmt.Sprintf("/v1/training/jobs/%d/logs?limit=1000", j.ID), te.a.viewer, nil)
	require.Equal(t, 200, r.code)
	r.decode(t, &logs)
	var all strings.Builder
	for i, l := range logs.Items {
		all.WriteString(l.Line + "\n")
		assert.Equal(t, i+1, l.Number, "the worker's numbers, in order: %q", l.Line)
	}
	assert.Contains(t, all.String(), "epoch 2/2")
	assert.Contains(t, all.String(), "phase: uploading")

	// The registry: version 1 with lineage.
	var m store.ModelVersion
	r = te.do("GET", "/v1/models/zema-testrig/versions/1", te.a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &m)
	digest, err := pipeline.DirDigest(te.data)
	require.NoError(t, err)
	assert.Equal(t, digest, m.DatasetDigest, "the digest of the files the trainer read")
	assert.Equal(t, ds, m.DatasetID)
	assert.Equal(t, j.ID, m.JobID)
	assert.Equal(t, "test-1", m.CodeVersion)
	assert.Equal(t, "go", m.Backend)
	assert.EqualValues(t, 2, m.Config["epochs"])
	assert.Contains(t, m.Metrics, "cooler.macro_f1")
	assert.NotEmpty(t, m.Manifest)

	// The bundle downloads and loads.
	r = te.raw("GET", "/v1/models/zema-testrig/versions/1/bundle", te.a.viewer, "", nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	assert.Equal(t, m.Artifact.Digest, r.header.Get("X-Content-SHA256"))
	dir := filepath.Join(t.TempDir(), "bundle")
	require.NoError(t, tarball.Extract(bytes.NewReader(r.body), dir, tarball.Limits{}))
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, "zema-testrig", man.RigType)
	assert.Equal(t, digest, man.Provenance.DatasetDigest)
	assert.Equal(t, fmt.Sprintf("1.0.%d", j.ID), man.Version)

	// A second version with other settings, and the comparison.
	cfg2 := te.tinyConfig
	cfg2.Epochs = 3
	j2 := te.job(ds, cfg2)
	ran, err = w.RunOnce(ctx)
	require.NoError(t, err)
	require.True(t, ran)
	require.Equal(t, store.JobSucceeded, te.getJob(j2.ID).State)
	var cmp store.Comparison
	r = te.do("GET", "/v1/models/zema-testrig/compare?a=1&b=2", te.a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &cmp)
	assert.True(t, cmp.SameDataset)
	assert.Equal(t, 2, cmp.B.Version)
	var keys []string
	for _, c := range cmp.Config {
		keys = append(keys, c.Key)
	}
	assert.Contains(t, keys, "epochs")
	require.NotEmpty(t, cmp.Metrics)
	for _, d := range cmp.Metrics {
		if d.A != nil && d.B != nil {
			require.NotNil(t, d.Delta)
			assert.InDelta(t, *d.B-*d.A, *d.Delta, 1e-8, d.Metric)
		}
	}
	var list struct{ Items []store.ModelVersion }
	r = te.do("GET", "/v1/models?rig_type=zema-testrig", te.a.viewer, nil)
	require.Equal(t, 200, r.code)
	r.decode(t, &list)
	require.Len(t, list.Items, 2)
	assert.Equal(t, 2, list.Items[0].Version, "newest first")

	// Finished jobs cannot be cancelled.
	r = te.do("POST", fmt.Sprintf("/v1/training/jobs/%d/cancel", j.ID), te.a.operator, nil)
	assert.Equal(t, 409, r.code)
	r.problem(t)

	// Nothing of a is visible to b.
	for _, p := range []string{fmt.Sprintf("/v1/datasets/%d", ds), fmt.Sprintf("/v1/training/jobs/%d", j.ID),
		fmt.Sprintf("/v1/training/jobs/%d/logs", j.ID), "/v1/models/zema-testrig/versions/1",
		"/v1/models/zema-testrig/versions/1/bundle", "/v1/models/zema-testrig/compare?a=1&b=2"} {
		r = te.do("GET", p, te.b.admin, nil)
		assert.Equal(t, 404, r.code, p)
		r.problem(t)
	}
	for _, s := range []string{"/v1/models", "/v1/datasets", "/v1/training/jobs"} {
		r = te.do("GET", s, te.b.viewer, nil)
		require.Equal(t, 200, r.code)
		assert.Contains(t, string(r.body), `"items":[]`, s)
	}
}

// Roles, scoping and bad input of the training routes.
func TestTrainingAuthAndInput(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	ds := te.dataset("set-1")
	a, b := te.a, te.b
	req := httpapi.JobRequest{DatasetID: ds, Config: &te.tinyConfig}

	// A viewer can read, not create or cancel.
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/datasets", fleetapi.DatasetRequest{Name: "x", Kind: "sim", RigConfig: te.rigYAML}},
		{"POST", "/v1/training/jobs", req},
		{"POST", "/v1/training/jobs/1/cancel", nil},
	} {
		r := te.do(c.method, c.path, a.viewer, c.body)
		assert.Equal(t, 403, r.code, "%s %s", c.method, c.path)
		r.problem(t)
	}
	r := te.raw("PUT", fmt.Sprintf("/v1/datasets/%d/archive", ds), a.viewer, httpapi.MediaGzip, te.archive)
	assert.Equal(t, 403, r.code)
	// An agent credential is refused.
	r = te.do("GET", "/v1/training/jobs", a.cred, nil)
	assert.Equal(t, 403, r.code)

	// Another organisation's operator: 404 on a's objects.
	r = te.do("POST", "/v1/training/jobs", b.operator, req)
	assert.Equal(t, 404, r.code, "%s", r.body)
	r.problem(t)
	r = te.raw("PUT", fmt.Sprintf("/v1/datasets/%d/archive", ds), b.operator, httpapi.MediaGzip, te.archive)
	assert.Equal(t, 404, r.code)

	// Bad input: nothing stored.
	for name, body := range map[string]string{
		"unknown field":   `{"dataset_id":1,"config":{"epoch":3}}`,
		"negative epochs": `{"dataset_id":1,"config":{"epochs":-1}}`,
		"bad int8":        `{"dataset_id":1,"config":{"int8":"fp16"}}`,
		"bad size":        `{"dataset_id":1,"config":{"sizes":{"hidden":99999}}}`,
		"bad version":     `{"dataset_id":1,"config":{"bundle_version":"v1"}}`,
		"seed past int64": `{"dataset_id":1,"config":{"seed":9223372036854775808}}`,
		"attempts":        `{"dataset_id":1,"max_attempts":11}`,
		"no data set":     `{}`,
	} {
		r = te.raw("POST", "/v1/training/jobs", a.operator, "application/json", []byte(body))
		assert.Equal(t, 400, r.code, "%s: %s", name, r.body)
		r.problem(t)
	}
	r = te.raw("POST", "/v1/training/jobs", a.operator, "application/json", []byte(`{"dataset_id":1,"config":{"seed":9223372036854775808}}`))
	assert.Contains(t, string(r.body), "config.seed", "the 400 names the field")
	assert.Zero(t, te.count("SELECT count(*) FROM training_jobs"))
	for name, body := range map[string]fleetapi.DatasetRequest{
		"bad rig config": {Name: "y", Kind: "sim", RigConfig: "rig_type: [\n"},
		"bad kind":       {Name: "y", Kind: "skab", RigConfig: te.rigYAML},
		"bad name":       {Name: "../y", Kind: "sim", RigConfig: te.rigYAML},
	} {
		r = te.do("POST", "/v1/datasets", a.operator, body)
		assert.Equal(t, 400, r.code, "%s: %s", name, r.body)
	}
	r = te.do("POST", "/v1/datasets", a.operator, fleetapi.DatasetRequest{Name: "set-1", Kind: "sim", RigConfig: te.rigYAML})
	assert.Equal(t, 409, r.code, "name taken")

	// Archives: a second upload, a wrong type, garbage, a path escaping
	// the folder, too large: refused and nothing kept.
	r = te.raw("PUT", fmt.Sprintf("/v1/datasets/%d/archive", ds), a.operator, httpapi.MediaGzip, te.archive)
	assert.Equal(t, 409, r.code)
	var d store.Dataset
	r = te.do("POST", "/v1/datasets", a.operator, fleetapi.DatasetRequest{Name: "set-2", Kind: "uci", RigConfig: te.rigYAML})
	require.Equal(t, 201, r.code)
	r.decode(t, &d)
	path := fmt.Sprintf("/v1/datasets/%d/archive", d.ID)
	r = te.raw("PUT", path, a.operator, "application/json", te.archive)
	assert.Equal(t, 415, r.code)
	r = te.raw("PUT", path, a.operator, httpapi.MediaGzip, []byte("not an archive"))
	assert.Equal(t, 400, r.code, "%s", r.body)
	r = te.raw("PUT", path, a.operator, httpapi.MediaGzip, bytes.Repeat([]byte{0x1f}, 65<<20))
	assert.Equal(t, 413, r.code, "%s", r.body)
	r = te.do("POST", "/v1/training/jobs", a.operator, httpapi.JobRequest{DatasetID: d.ID})
	assert.Equal(t, 409, r.code, "a pending data set: %s", r.body)
	objects := 0
	require.NoError(t, filepath.WalkDir(te.blobs.Dir(), func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			objects++
		}
		return err
	}))
	assert.Equal(t, 1, objects, "only set-1's archive is stored")
}

// A running job cancelled through the API stops at the worker's next
// heartbeat and ends cancelled.
func TestCancelRunningJob(t *testing.T) {
	t.Parallel()
	te := newTrainingEnv(t)
	ds := te.dataset("set-1")
	cfg := te.tinyConfig
	cfg.Epochs = 2000
	j := te.job(ds, cfg)
	w := te.worker("w1")
	done := make(chan error, 1)
	go func() {
		_, err := w.RunOnce(context.Background())
		done <- err
	}()
	require.Eventually(t, func() bool {
		g := te.getJob(j.ID)
		return g.State == store.JobRunning && g.Progress != nil && g.Progress.Epoch >= 1
	}, 60*time.Second, 50*time.Millisecond, "the job runs and reports progress")
	r := te.do("POST", fmt.Sprintf("/v1/training/jobs/%d/cancel", j.ID), te.a.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop")
	}
	g := te.getJob(j.ID)
	assert.Equal(t, store.JobCancelled, g.State)
	assert.Less(t, g.Progress.Epoch, 2000)
	assert.Equal(t, 0, te.count("SELECT count(*) FROM model_versions"))
}
