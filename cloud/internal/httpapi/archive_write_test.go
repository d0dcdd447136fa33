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
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// The archive PUT records the stored archive on a fresh context, not on
// the upload's nearly spent one, and keeps the blob when that write
// fails without a definite refusal (the row may name it: blobgc's).
// Not parallel: it sets the write's timeout.
func TestDatasetArchiveWrite(t *testing.T) {
	blobs, err := blob.NewFS(t.TempDir(), 64<<20)
	require.NoError(t, err)
	e := newEnv(t, httpapi.Options{Blobs: blobs, UploadTimeout: time.Second})
	a := e.tenant("alpha")
	y, err := os.ReadFile(filepath.Join("..", "..", "..", "firmware-configs", "zema-testrig.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "profile.txt"), []byte("1 2 3\n"), 0o644))
	var archive bytes.Buffer
	require.NoError(t, tarball.Write(&archive, dir))
	ctx := context.Background()

	blobKeys := func() (keys []string) {
		require.NoError(t, blobs.Walk(ctx, "orgs/", func(i blob.Info) error {
			keys = append(keys, i.Key)
			return nil
		}))
		return keys
	}
	// put PUTs the archive of a new data set while its row is locked for
	// hold: the write waits that long.
	put := func(name string, hold time.Duration) (resp, store.Dataset) {
		var d store.Dataset
		r := e.do("POST", "/v1/datasets", a.operator, fleetapi.DatasetRequest{Name: name, Kind: "sim", RigConfig: string(y)})
		require.Equal(t, 201, r.code, "%s", r.body)
		r.decode(t, &d)
		tx, err := e.st.Pool().Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		_, err = tx.Exec(ctx, `SELECT 1 FROM datasets WHERE id = $1 FOR UPDATE`, d.ID)
		require.NoError(t, err)
		done := make(chan resp, 1)
		go func() {
			done <- e.raw("PUT", fmt.Sprintf("/v1/datasets/%d/archive", d.ID), a.operator, httpapi.MediaGzip, archive.Bytes())
		}()
		time.Sleep(hold)
		require.NoError(t, tx.Rollback(ctx))
		return <-done, d
	}

	// The write outlasts the upload's deadline (1s), within its own.
	r, d := put("slow-write", 1500*time.Millisecond)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &d)
	assert.Equal(t, store.DatasetReady, d.State)
	keys := blobKeys()
	require.Len(t, keys, 1)
	assert.True(t, strings.HasPrefix(keys[0], fmt.Sprintf("orgs/%d/datasets/%d/", a.orgID, d.ID)))

	// The write fails (its own deadline): the answer is an error, the blob
	// is kept, the data set still pending.
	httpapi.SetArchiveWriteTimeout(t, 200*time.Millisecond)
	r, d = put("failed-write", 600*time.Millisecond)
	require.GreaterOrEqual(t, r.code, 500, "%s", r.body)
	assert.Len(t, blobKeys(), 2, "the blob of an unknown outcome is kept")
	var state string
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT state FROM datasets WHERE id = $1`, d.ID).Scan(&state))
	assert.Equal(t, store.DatasetPending, state)
}
