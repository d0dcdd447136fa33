package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// slowReader hands out its data in small pieces, pausing before each.
type slowReader struct {
	data  []byte
	piece int
	pause time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	n := copy(p[:min(len(p), r.piece)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// An archive upload that lasts longer than the server's read and write
// timeouts (server.read_timeout, write_timeout) gets its answer: both
// deadlines move to blob.upload_timeout. Only the read deadline did: the
// archive was stored but the connection closed without a response.
func TestArchiveUploadOutlastsWriteTimeout(t *testing.T) {
	te := newTrainingEnv(t)
	const timeout = 200 * time.Millisecond
	srv := httptest.NewUnstartedServer(te.srv.Config.Handler)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = timeout, timeout
	srv.Start()
	t.Cleanup(srv.Close)

	var d store.Dataset
	r := te.do("POST", "/v1/datasets", te.a.operator, fleetapi.DatasetRequest{Name: "slow", Kind: "sim", RigConfig: te.rigYAML})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &d)

	// At least 2.5 timeouts of sending, however fast the machine.
	const pieces = 10
	body := &slowReader{data: bytes.Clone(te.archive), piece: (len(te.archive) + pieces - 1) / pieces, pause: timeout / 4}
	req, err := http.NewRequest("PUT", srv.URL+fmt.Sprintf("/v1/datasets/%d/archive", d.ID), body)
	require.NoError(t, err)
	req.ContentLength = int64(len(te.archive))
	req.Header.Set("Authorization", "Bearer "+te.a.operator)
	req.Header.Set("Content-Type", httpapi.MediaGzip)
	res, err := srv.Client().Do(req)
	require.NoError(t, err, "the upload got no response")
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode, "%s", b)
	assert.Contains(t, string(b), `"ready"`)
}
