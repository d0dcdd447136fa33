package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
)

// GET /bundle shows the warm-up run's time of the model served
// (infer.Info.WarmupMS; review r1 finding 13).
func TestBundleWarmup(t *testing.T) {
	srv := accessServer(t, nil, func(o *Options) { o.Model = infer.Info{File: "model.int8.onnx", WarmupMS: 1.25} })
	rec := do(srv, "GET", "127.0.0.1:8080", "127.0.0.1:5000", "/bundle", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var b BundleBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b))
	assert.Equal(t, 1.25, b.WarmupMS)
	assert.Contains(t, rec.Body.String(), `"warmup_ms": 1.25`)
}
