package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/train/traintest"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// queueEnv is a migrated database with an organisation and a ready data
// set of the ZeMA rig (a tiny synthetic UCI folder) in a blob store on
// disk: what a worker needs to train.
type queueEnv struct {
	t       *testing.T
	st      *store.Store
	blobs   *blob.FS
	orgID   int64
	dataset int64
}

// tinyConfig trains in well under a second: one epoch (most of a tiny
// job's time under -race is its training; no test needs a second).
var tinyConfig = jobs.Config{Epochs: 1, Patience: -1, BatchSize: 8, Seed: 1, Int8: "none",
	Sizes: gnn.Sizes{Hidden: 8, Heads: 2, Layers: 1, HeadHidden: 8}}

func newQueueEnv(t *testing.T) *queueEnv {
	t.Helper()
	ctx := context.Background()
	pool, _ := dbtest.Migrated(t)
	st := store.New(pool)
	blobs, err := blob.NewFS(t.TempDir(), 64<<20)
	require.NoError(t, err)
	y, err := os.ReadFile(filepath.Join("..", "..", "..", "firmware-configs", "zema-testrig.yaml"))
	require.NoError(t, err)
	cfg, err := rig.Parse("zema", y)
	require.NoError(t, err)
	data := t.TempDir()
	require.NoError(t, traintest.WriteUCI(data, cfg, 8, 4, 1))
	var buf bytes.Buffer
	require.NoError(t, tarball.Write(&buf, data))

	o, err := st.CreateOrg(ctx, "alpha", "Alpha")
	require.NoError(t, err)
	d, err := st.CreateDataset(ctx, o.ID, store.Dataset{Dataset: fleetapi.Dataset{Name: "set-1", Kind: "sim", Source: store.SourceImport,
		RigType: cfg.RigType, ConfigDigest: "sha256:c"}, RigConfig: string(y)}, 0)
	require.NoError(t, err)
	key := fmt.Sprintf("orgs/%d/datasets/%d/a.tar.gz", o.ID, d.ID)
	info, err := blobs.Put(ctx, key, &buf)
	require.NoError(t, err)
	_, err = st.SetDatasetArchive(ctx, o.ID, d.ID, key, info.Size, info.SHA256)
	require.NoError(t, err)
	return &queueEnv{t: t, st: st, blobs: blobs, orgID: o.ID, dataset: d.ID}
}

// job queues a training job with cfg and maxAttempts.
func (e *queueEnv) job(cfg jobs.Config, maxAttempts int) int64 {
	e.t.Helper()
	raw, err := json.Marshal(cfg)
	require.NoError(e.t, err)
	j, err := e.st.CreateJob(context.Background(), e.orgID, e.dataset, raw, maxAttempts, 0)
	require.NoError(e.t, err)
	return j.ID
}

// get returns the job id.
func (e *queueEnv) get(id int64) *store.Job {
	e.t.Helper()
	j, err := e.st.Job(context.Background(), e.orgID, id)
	require.NoError(e.t, err)
	return j
}

// options are a worker's options for a test: lease lease, heartbeat a
// tenth of it.
func (e *queueEnv) options(name string, lease time.Duration) jobs.Options {
	return jobs.Options{Name: name, Lease: lease, Heartbeat: lease / 10, CodeVersion: "test-1", WorkDir: e.t.TempDir(),
		PollInterval: 50 * time.Millisecond}
}
