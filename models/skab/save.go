package skab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Files written by Save.
const (
	ModelFile   = "skab-model.json"
	WeightsFile = "skab-model.weights"
)

// saved is the JSON part of a saved Model.
type saved struct {
	RigType          string    `json:"rig_type"`
	RigDigest        string    `json:"rig_digest"`
	Options          Options   `json:"options"`
	Sizes            gnn.Sizes `json:"sizes"`
	Base             prep.Spec `json:"base_spec"`
	ModelSpec        prep.Spec `json:"model_spec"`
	FreeCalib        prep.Spec `json:"free_calibration"`
	AnomalyThreshold []float64 `json:"anomaly_threshold"`
	Detector         Detector  `json:"detector"`
}

// Save writes m to dir (ModelFile and WeightsFile), creating dir.
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("skab: save: %w", err)
	}
	s := saved{RigType: m.Rig.RigType, RigDigest: m.Rig.Digest(), Options: m.Options, Sizes: m.Result.Model.Sizes,
		Base: m.Base, ModelSpec: m.Result.Spec, FreeCalib: m.FreeCalib,
		AnomalyThreshold: m.Result.AnomalyThreshold, Detector: m.Detector}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("skab: save: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ModelFile), b, 0o644); err != nil {
		return fmt.Errorf("skab: save: %w", err)
	}
	return gnn.SaveWeights(filepath.Join(dir, WeightsFile), m.Result.Weights)
}

// LoadModel reads a Model saved by Save for cfg; a model saved for
// another rig config is refused.
func LoadModel(dir string, cfg *rig.Config) (*Model, error) {
	b, err := os.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		return nil, fmt.Errorf("skab: load: %w", err)
	}
	var s saved
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("skab: load %s: %w", filepath.Join(dir, ModelFile), err)
	}
	if s.RigDigest != cfg.Digest() {
		return nil, fmt.Errorf("%w: model in %s is for rig %q (digest %s), not %q (digest %s)",
			ErrData, dir, s.RigType, s.RigDigest, cfg.RigType, cfg.Digest())
	}
	gm, err := gnn.New(cfg, s.Options.Steps, s.Sizes)
	if errors.Is(err, gnn.ErrConfig) {
		// Models saved before gnn.MinSteps and gnn.MinPatches (with
		// --steps 10 the old default patch, 10, left one patch) are
		// refused: they must be retrained.
		return nil, fmt.Errorf("skab: load %s: %w (a model saved before the rule of at least %d steps and %d patches: retrain it)",
			dir, err, gnn.MinSteps, gnn.MinPatches)
	}
	if err != nil {
		return nil, fmt.Errorf("skab: load %s: %w", dir, err)
	}
	w, err := gnn.LoadWeights(filepath.Join(dir, WeightsFile))
	if err != nil {
		return nil, err
	}
	if err := w.Check(gm); err != nil {
		return nil, err
	}
	return &Model{Rig: cfg, Options: s.Options, Base: s.Base, FreeCalib: s.FreeCalib, Detector: s.Detector,
		Result: &train.Result{Model: gm, Weights: w, Spec: s.ModelSpec, AnomalyThreshold: s.AnomalyThreshold}}, nil
}
