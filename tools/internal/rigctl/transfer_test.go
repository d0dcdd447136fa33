package rigctl

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// datasetServer answers POST /v1/datasets with data set 7; its archive
// upload is read whole and then answered, or, with stall, never
// answered (until the client goes away or the test ends).
func datasetServer(t *testing.T, stall bool) string {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		d := fleetapi.Dataset{ID: 7, Name: "d", Kind: "sim", RigType: "zema-testrig", State: "ready"}
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/datasets":
			d.State = "empty"
		case r.Method == "PUT" && r.URL.Path == "/v1/datasets/7/archive":
			_, _ = io.Copy(io.Discard, r.Body)
			if stall {
				select {
				case <-r.Context().Done():
				case <-done:
				}
				return
			}
		default:
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(d)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	rigctlEnv(t, srv.URL, "tok")
	return srv.URL
}

func importArgs(t *testing.T, extra ...string) []string {
	dir := filepath.Join(t.TempDir(), "set")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "profile.txt"), []byte("3 100 0 130 1\n"), 0o644))
	cfg, err := rig.Load(zemaRigFile)
	require.NoError(t, err)
	for _, s := range cfg.ActiveSensors() { // the files rigctl checks for
		require.NoError(t, os.WriteFile(filepath.Join(dir, s.UCIName()+".txt"), nil, 0o644))
	}
	return append([]string{"dataset", "import", "--dir", dir, "--rig", zemaRigFile}, extra...)
}

// An upload that gets no answer is given up after --idle-timeout
// (there is no client timeout on uploads): it hung forever.
func TestDatasetImportIdleTimeout(t *testing.T) {
	datasetServer(t, true)
	code, _, stderr := run(t, importArgs(t, "--idle-timeout", "200ms")...)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "data set 7 (d) is registered but its archive was not stored")
	assert.Contains(t, stderr, "data set 7 archive: nothing moved for 200ms after")
	assert.Contains(t, stderr, "(--idle-timeout): upload stalled")

	code, _, stderr = run(t, importArgs(t, "--idle-timeout", "-1s")...)
	assert.Equal(t, ExitUsage, code, stderr)
}

// The upload reports what it sent on stderr, except with --json.
func TestDatasetImportProgress(t *testing.T) {
	datasetServer(t, false)
	code, stdout, stderr := run(t, importArgs(t)...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "data set 7 d: sim, rig type zema-testrig, ready")
	assert.Regexp(t, `(?m)^data set 7 archive: \d+ B sent in [0-9.]+m?s \(.*/s\)$`, stderr)

	code, stdout, stderr = run(t, importArgs(t, "--json")...)
	require.Equal(t, ExitOK, code, stderr)
	assert.Empty(t, stderr)
	assert.True(t, json.Valid([]byte(stdout)))
}

func TestProgressLine(t *testing.T) {
	assert.Equal(t, "x: 512 B, 51 B/s", progressLine("x", 512, 0, 10*time.Second))
	assert.Equal(t, "x: 1.0 MiB of 4.0 MiB (25%), 512.0 KiB/s, about 6s left", progressLine("x", 1<<20, 4<<20, 2*time.Second))
	assert.Equal(t, "x: 5.0 KiB of 4.0 KiB (100%), 5.0 KiB/s", progressLine("x", 5<<10, 4<<10, time.Second))
	assert.True(t, strings.HasSuffix(byteSize(3<<30), "GiB"))
}
