package forward

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

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
	mu         sync.Mutex
	keys       map[string][]string // path -> keys
}

func (g *generationCloud) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	g.keys[r.URL.Path] = append(g.keys[r.URL.Path], r.Header.Get(cloudapi.HeaderIdempotencyKey))
	g.mu.Unlock()
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
