package service

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
)

// The model section's TensorRT keys reach agent/infer as the provider
// options ONNX Runtime gets (infer.Options.ProviderSettings is what
// createSession passes to UpdateTensorRTProviderOptions).
func TestModelOptionsTensorRT(t *testing.T) {
	dataDir := t.TempDir()
	parse := func(t *testing.T, model string, env ...string) *config.Config {
		t.Helper()
		yaml := "agent:\n  data_dir: " + dataDir + "\nrig:\n  firmware_config: /r.yaml\nmodel:\n  bundle_dir: /b\n  device_id: 1\n" + model
		cfg, err := config.Parse(filepath.Join(dataDir, "agent.yaml"), []byte(yaml), env)
		require.NoError(t, err)
		return cfg
	}
	cacheDir := filepath.Join(dataDir, "tensorrt")
	for _, tc := range []struct {
		name  string
		model string
		env   []string
		want  map[string]string // ProviderSettings(TensorRT); nil: no options
	}{
		{"default: cpu only", "", nil, nil},
		{"cuda only", "  providers: [cuda, cpu]\n", nil, nil},
		{"tensorrt: engine cache on by default", "  providers: [tensorrt, cuda, cpu]\n", nil, map[string]string{
			"device_id": "1", "trt_engine_cache_enable": "1", "trt_engine_cache_path": cacheDir,
			"trt_timing_cache_enable": "1", "trt_timing_cache_path": cacheDir,
		}},
		{"tensorrt: cache off, fp16", "  providers: [tensorrt]\n  tensorrt_engine_cache: false\n  tensorrt_fp16: true\n", nil,
			map[string]string{"device_id": "1", "trt_fp16_enable": "1"}},
		{"tensorrt: cache dir from the environment", "  providers: [tensorrt]\n", []string{"RIG_AGENT_MODEL_TENSORRT_CACHE_DIR=/opt/trt"},
			map[string]string{"device_id": "1", "trt_engine_cache_enable": "1", "trt_engine_cache_path": "/opt/trt",
				"trt_timing_cache_enable": "1", "trt_timing_cache_path": "/opt/trt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parse(t, tc.model, tc.env...)
			o := ModelOptions(cfg, nil)
			if tc.want == nil {
				assert.Nil(t, o.ProviderOptions)
				return
			}
			assert.Equal(t, tc.want, o.ProviderSettings(infer.TensorRT))
			assert.Equal(t, map[string]string{"device_id": "1"}, o.ProviderSettings(infer.CUDA), "the CUDA provider gets no TensorRT keys")
		})
	}

	t.Run("PrepareModel creates the cache directory", func(t *testing.T) {
		cfg := parse(t, "  providers: [tensorrt, cpu]\n")
		require.NoError(t, PrepareModel(cfg))
		fi, err := os.Stat(cacheDir)
		require.NoError(t, err)
		assert.True(t, fi.IsDir())

		blocker := filepath.Join(dataDir, "file")
		require.NoError(t, os.WriteFile(blocker, nil, 0o600))
		cfg.Model.TensorRTCacheDir = filepath.Join(blocker, "trt")
		err = PrepareModel(cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "model.tensorrt_cache_dir "+cfg.Model.TensorRTCacheDir)

		cfg = parse(t, "  providers: [cpu]\n  tensorrt_cache_dir: "+filepath.Join(blocker, "x")+"\n")
		assert.NoError(t, PrepareModel(cfg), "nothing to create without the tensorrt provider")
	})
}
