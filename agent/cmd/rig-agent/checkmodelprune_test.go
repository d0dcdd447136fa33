package main

import (
	"log/slog"
	"testing"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/service"
)

// TestCheckModelKeepsEngineCache: --check-model opens the model as the
// agent does, except that it never prunes the TensorRT engine cache
// (which models the running agent has open only the agent knows).
func TestCheckModelKeepsEngineCache(t *testing.T) {
	cfg := &config.Config{}
	cfg.Model.Providers = []string{"tensorrt", "cpu"}
	cfg.Model.TensorRTEngineCache, cfg.Model.TensorRTCacheDir = true, t.TempDir()
	if !checkModelOptions(cfg, slog.Default()).KeepEngineCache {
		t.Error("--check-model's options prune the engine cache")
	}
	if service.ModelOptions(cfg, slog.Default()).KeepEngineCache {
		t.Error("the serving agent's options do not prune the engine cache")
	}
}
