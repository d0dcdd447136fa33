package forward

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// generationCloud is a transport in front of the fake cloud that adds
// generation to every check-in answer (as rig-cloud names the
// credential's identity) and records the Idempotency-Keys sent.
type generationCloud struct {
	next       http.RoundTripper
	generation int
	// refuseCheckins answers check-ins 400 (nothing names the generation)
	refuseCheckins bool
	mu             sync.Mutex
	keys           map[string][]string // path -> keys
}

func (g *generationCloud) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	g.keys[r.URL.Path] = append(g.keys[r.URL.Path], r.Header.Get(cloudapi.HeaderIdempotencyKey))
	refuse := g.refuseCheckins && r.URL.Path == cloudapi.PathCheckin
	g.mu.Unlock()
	if refuse {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		body, _ := json.Marshal(cloudapi.NewProblem(cloudapi.ProblemInvalidBody, 400, "refused by the test"))
		return &http.Response{StatusCode: 400, Header: http.Header{"Content-Type": {cloudapi.MediaProblem}},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	}
	resp, err := g.next.RoundTrip(r)
	if err != nil || r.URL.Path != cloudapi.PathCheckin || resp.StatusCode != 200 {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	m["generation"] = g.generation
	body, _ = json.Marshal(m)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// The Idempotency-Keys of batches and upload parts carry the enrollment
// generation the check-in answer names: a re-enrolled agent, whose
// sequence restarts at 1, never repeats its earlier identity's keys.
func TestIdempotencyKeysCarryTheGeneration(t *testing.T) {
	clock := newClock(t0, 1000)
	c, rd := uploadCloud(t, clock)
	g := &generationCloud{next: c.srv.Client().Transport, generation: 2, keys: map[string][]string{}}
	f := newForwarder(t, c, "", func(o *Options) {
		o.Readings = rd
		o.HTTPClient = &http.Client{Transport: g}
	})
	enqueue(t, f, seqRange(1, 3), nil)
	stop := run(t, f)
	eventually(t, "diagnoses and upload done", func() bool {
		s := f.Stats()
		return s.Accepted == 3 && c.uploadDone() && s.UploadsOpen == 0
	})
	stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	require.Len(t, g.keys[cloudapi.PathDiagnoses], 1)
	assert.Equal(t, cloudapi.BatchKey(testAgent, 2, []uint64{1, 2, 3}), g.keys[cloudapi.PathDiagnoses][0])
	assert.NotEqual(t, cloudapi.BatchKey(testAgent, 1, []uint64{1, 2, 3}), g.keys[cloudapi.PathDiagnoses][0])
	require.NotEmpty(t, g.keys[cloudapi.PathUploads])
	assert.Equal(t, cloudapi.UploadKey(testAgent, 2, "req-1", 0), g.keys[cloudapi.PathUploads][0])
}

// A restarted forwarder's keys carry the generation saved at enrollment
// (beside the credential file) from its first batch, before any check-in
// names it: here every check-in after the restart is refused.
func TestRestartedForwarderKeysCarryTheEnrolledGeneration(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	dir := t.TempDir()
	cfg := &config.Config{Agent: config.Agent{ID: testAgent, DataDir: dir},
		Cloud: config.Cloud{URL: c.srv.URL, CredentialFile: filepath.Join(dir, "credential")}}
	require.NoError(t, os.WriteFile(cfg.Cloud.CredentialFile, []byte("secret-1\n"), 0o600))
	require.NoError(t, cfg.Cloud.SaveEnrollment(config.Enrollment{AgentID: testAgent, Generation: 3,
		CredentialSHA256: config.CredentialDigest("secret-1")}, nil))
	path := filepath.Join(dir, "outbox.db")
	fromConfig := func() Options {
		t.Helper()
		o, err := FromConfig(cfg, nil, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err)
		return o
	}

	// First run: the check-in names generation 3.
	g := &generationCloud{next: c.srv.Client().Transport, generation: 3, keys: map[string][]string{}}
	f := newForwarder(t, c, path, func(o *Options) {
		o.Generation = fromConfig().Generation
		o.HTTPClient = &http.Client{Transport: g}
	})
	enqueue(t, f, seqRange(1, 3), nil)
	stop := run(t, f)
	eventually(t, "first batch accepted", func() bool { return f.Stats().Accepted == 3 })
	stop()
	require.NoError(t, f.Close())

	// Restart: every check-in is refused; the first batch's key is the
	// enrolled generation's all the same.
	g = &generationCloud{next: c.srv.Client().Transport, refuseCheckins: true, keys: map[string][]string{}}
	f = newForwarder(t, c, path, func(o *Options) {
		o.Generation = fromConfig().Generation
		o.HTTPClient = &http.Client{Transport: g}
	})
	enqueue(t, f, seqRange(4, 6), nil)
	stop = run(t, f)
	eventually(t, "batch after the restart accepted", func() bool { return f.Stats().Accepted == 3 })
	stop()
	assert.NotZero(t, f.Stats().CheckinsRefused)
	g.mu.Lock()
	defer g.mu.Unlock()
	require.NotEmpty(t, g.keys[cloudapi.PathDiagnoses])
	assert.Equal(t, cloudapi.BatchKey(testAgent, 3, []uint64{4, 5, 6}), g.keys[cloudapi.PathDiagnoses][0])
}
