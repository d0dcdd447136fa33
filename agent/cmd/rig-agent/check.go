package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/service"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// checkBundle runs, for `rig-agent --check`, the checks of the agent's
// start that need only the config and the installed bundle's files, not
// ONNX Runtime, with the errors service.Start gives: the bundle serves
// this rig (infer.CheckBundle: manifest and model file digests, rig
// type, config digest, sensors, heads) and the windowing accepts its
// input spec with windowing.* (windowing.Check: a cycle-aligned bundle
// needs windowing.cycle_anchor). The installed bundle is the one the
// update's current pointer (<update.dir>/current) names when updates are
// on and it exists, else model.bundle_dir, as at start (the updater's
// recovery may still switch back to the previous bundle then). It
// returns the manifest and the bundle's folder.
func checkBundle(cfg *config.Config) (*bundle.Manifest, string, error) {
	dir, what := cfg.Model.BundleDir, "model.bundle_dir"
	if cfg.Update.Enabled() {
		cur := filepath.Join(cfg.Update.Dir, "current")
		if _, err := os.Stat(cur); err == nil {
			dir, what = cur, "the update's current bundle, "+cur
		}
	}
	quiet := slog.New(slog.DiscardHandler)
	man, err := infer.CheckBundle(dir, cfg.Firmware, service.ModelOptions(cfg, quiet))
	if err != nil {
		return nil, dir, fmt.Errorf("open model bundle (%s): %w", what, err)
	}
	wo := windowing.Options{
		Alignment: prep.Alignment(cfg.Windowing.Alignment), StrideSteps: cfg.Windowing.StrideSteps,
		CycleS: cfg.Firmware.Operation.CycleS, Anchor: cfg.Windowing.CycleAnchorTime(),
	}
	if err := windowing.Check(man.Input, wo); err != nil {
		return nil, dir, fmt.Errorf("windowing (windowing.* and the bundle's input spec): %w", err)
	}
	return man, dir, nil
}
