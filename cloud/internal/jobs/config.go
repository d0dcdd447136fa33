package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/models/train"
)

// Config is a training job's settings: the body's "config" object. Every
// zero field is the trainer's default (models/train.Options), as with
// `rigctl train`'s flags of the same names.
type Config struct {
	// Epochs is the most epochs (0: 60); Patience stops after this many
	// without a better validation score (0: 20; -1: never).
	Epochs   int `json:"epochs,omitempty"`
	Patience int `json:"patience,omitempty"`
	// BatchSize (0: 32), LR the peak learning rate (0: 3e-3), EMA the
	// weights' moving-average decay (0: 0.99; -1: off).
	BatchSize int     `json:"batch_size,omitempty"`
	LR        float64 `json:"lr,omitempty"`
	EMA       float64 `json:"ema,omitempty"`
	// Seed makes the run deterministic on the go backend (at most
	// pipeline.MaxSeed, 2^63-1: the manifest records it as an int64).
	Seed uint64 `json:"seed,omitempty"`
	// SensorDropout is the probability, in [0, 1), with which a sensor the
	// rig marks may_drop_out has its whole window masked in a training
	// window (train.Options.SensorDropout; rigctl train --sensor-dropout):
	// omitted (nil) 0.2, 0 or negative off. The bundle records it as
	// provenance.config.sensor_dropout with dropout_sensors, none when off.
	SensorDropout *float64 `json:"sensor_dropout,omitempty"`
	// ValFraction is the share of runs held out for validation (0: 0.15).
	ValFraction float64 `json:"val_fraction,omitempty"`
	// Sizes are the model's sizes (gnn.Sizes; zero fields: defaults).
	Sizes gnn.Sizes `json:"sizes"`
	// GridHz is the model grid (0: 1 Hz).
	GridHz float64 `json:"grid_hz,omitempty"`
	// Int8 is weight-only (""), dynamic or none.
	Int8 string `json:"int8,omitempty"`
	// BundleName ("": the rig type) and BundleVersion ("": 1.0.<job id>)
	// name the bundle.
	BundleName    string `json:"bundle_name,omitempty"`
	BundleVersion string `json:"bundle_version,omitempty"`
}

var (
	semver   = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)
	nameExpr = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// ParseConfig decodes raw strictly (unknown fields fail) and validates it.
// An empty raw is the zero Config.
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if len(bytes.TrimSpace(raw)) == 0 {
		return c, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, fmt.Errorf("config: data after the JSON object")
	}
	return c, c.Validate()
}

// Validate checks every field and says which one is wrong, with its value.
func (c Config) Validate() error {
	switch {
	case c.Epochs < 0 || c.Epochs > 10_000:
		return fmt.Errorf("config.epochs %d: want 0..10000 (0: 60)", c.Epochs)
	case c.Patience < -1 || c.Patience > 10_000:
		return fmt.Errorf("config.patience %d: want -1..10000 (0: 20, -1: never stop early)", c.Patience)
	case c.BatchSize < 0 || c.BatchSize > 4096:
		return fmt.Errorf("config.batch_size %d: want 0..4096 (0: 32)", c.BatchSize)
	case c.LR < 0 || c.LR > 1:
		return fmt.Errorf("config.lr %v: want 0..1 (0: 3e-3)", c.LR)
	case c.EMA >= 1 || c.EMA < -1:
		return fmt.Errorf("config.ema %v: want a decay below 1 (0: 0.99, -1: off)", c.EMA)
	case c.Seed > pipeline.MaxSeed:
		return fmt.Errorf("config.seed %d: want 0..%d (a bundle manifest records the seed as a signed 64-bit integer)", c.Seed, uint64(pipeline.MaxSeed))
	case c.SensorDropout != nil && (math.IsNaN(*c.SensorDropout) || *c.SensorDropout >= 1):
		return fmt.Errorf("config.sensor_dropout %v: want a probability in [0, 1) (omitted: 0.2; 0 or negative: off)", *c.SensorDropout)
	case c.ValFraction < 0 || c.ValFraction >= 1:
		return fmt.Errorf("config.val_fraction %v: want 0 <= f < 1 (0: 0.15)", c.ValFraction)
	case c.GridHz < 0 || c.GridHz > 1000:
		return fmt.Errorf("config.grid_hz %v: want 0..1000 (0: 1 Hz)", c.GridHz)
	case c.Int8 != "" && c.Int8 != "weight-only" && c.Int8 != "dynamic" && c.Int8 != "none":
		return fmt.Errorf("config.int8 %q: want weight-only, dynamic or none", c.Int8)
	case c.BundleName != "" && !nameExpr.MatchString(c.BundleName):
		return fmt.Errorf("config.bundle_name %q: want 1-64 of [A-Za-z0-9_.-]", c.BundleName)
	case c.BundleVersion != "" && !semver.MatchString(c.BundleVersion):
		return fmt.Errorf("config.bundle_version %q: want a semantic version such as 1.2.0", c.BundleVersion)
	}
	// Every size is an int of gnn.Sizes: checked by its JSON name.
	b, _ := json.Marshal(c.Sizes)
	var sizes map[string]float64
	_ = json.Unmarshal(b, &sizes)
	for _, name := range slices.Sorted(maps.Keys(sizes)) {
		if v := sizes[name]; v < -1 || v > 4096 {
			return fmt.Errorf("config.sizes.%s %v: want -1..4096 (0: the default; -1 where gnn.Sizes allows none)", name, v)
		}
	}
	return nil
}

// Options turns c into the pipeline's options for a job on backend (the
// worker's: "go" or "xla:...").
func (c Config) Options(jobID int64, backend string) pipeline.Options {
	if backend == "go" {
		backend = ""
	}
	bo := export.BundleOptions{Name: c.BundleName, Version: c.BundleVersion}
	if bo.Version == "" {
		bo.Version = fmt.Sprintf("1.0.%d", jobID)
	}
	switch c.Int8 {
	case "dynamic":
		bo.Scheme = onnx.Dynamic
	case "none":
		bo.NoInt8 = true
	default:
		bo.Scheme = onnx.WeightOnly
	}
	// train.Options' 0 is its default (0.2); off is negative there.
	var dropout float64
	if p := c.SensorDropout; p != nil {
		dropout = *p
		if dropout <= 0 {
			dropout = -1
		}
	}
	return pipeline.Options{
		Train: train.Options{Epochs: c.Epochs, Patience: c.Patience, BatchSize: c.BatchSize, LR: c.LR, EMA: c.EMA,
			Seed: c.Seed, SensorDropout: dropout, ValFraction: c.ValFraction, Sizes: c.Sizes, Backend: backend},
		Bundle: bo,
		GridHz: c.GridHz,
	}
}
