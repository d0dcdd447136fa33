package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/service"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// modelCheck is what `rig-agent --check-model` prints: where the model
// ran and its outputs for one window.
type modelCheck struct {
	Arch       string              `json:"arch"` // GOOS/GOARCH of the binary
	ORTVersion string              `json:"onnxruntime"`
	Bundle     string              `json:"bundle"` // name and version
	File       string              `json:"file"`
	Precision  string              `json:"precision"`
	Providers  []infer.Provider    `json:"providers"` // in use, ending with cpu
	Window     string              `json:"window"`    // "probe" or the --window file
	OpenMS     float64             `json:"open_ms"`
	RunUS      float64             `json:"run_us"` // the ONNX Runtime call
	Health     []componentHealth   `json:"health"`
	Targets    []diag.TargetResult `json:"targets"`
	Sensors    []diag.SensorScore  `json:"sensors"`
	RUL        *diag.RUL           `json:"rul,omitempty"`
	Missing    []string            `json:"missing,omitempty"`
	Stale      []string            `json:"stale,omitempty"`
}

type componentHealth struct {
	Component string  `json:"component"`
	Health    float64 `json:"health"`
}

// checkModel opens the model as the agent would (providers, fallback and
// all), runs it once on a window and prints the outputs as JSON on stdout.
// The window is read from windowFile (a JSON object: sensor id -> one value
// per grid step, null for a missing cell) or, when it is "", is the probe
// window: every sensor around its training mean (see probeGrid). Exit
// code 0, 1 when the model cannot be opened or run, exitUsage (64) for a
// bad window file.
func checkModel(cfg *config.Config, windowFile string, log *slog.Logger, stdout, stderr io.Writer) int {
	if err := service.PrepareModel(cfg); err != nil {
		fmt.Fprintf(stderr, "rig-agent: %v\n", err)
		return 1
	}
	start := time.Now()
	m, err := infer.Open(cfg.Model.BundleDir, cfg.Firmware, checkModelOptions(cfg, log))
	if err != nil {
		fmt.Fprintf(stderr, "rig-agent: open model bundle (model.bundle_dir): %v\n", err)
		return 1
	}
	defer m.Close()
	openMS := float64(time.Since(start).Microseconds()) / 1000
	spec := m.Spec()
	grid, name := probeGrid(spec), "probe"
	if windowFile != "" {
		if grid, err = readGrid(windowFile, spec); err != nil {
			fmt.Fprintf(stderr, "rig-agent: --window: %v\n", err)
			return exitUsage
		}
		name = windowFile
	}
	w, err := prep.FromGrid(spec, grid)
	if err != nil {
		fmt.Fprintf(stderr, "rig-agent: --window %s: %v\n", name, err)
		return exitUsage
	}
	var r infer.Result
	elapsed, err := m.RunInto(&r, w)
	if err != nil {
		fmt.Fprintf(stderr, "rig-agent: run the model: %v\n", err)
		return 1
	}
	info := m.Info()
	out := modelCheck{
		Arch: runtime.GOOS + "/" + runtime.GOARCH, ORTVersion: info.ORTVersion,
		Bundle: info.Name + " " + info.Version, File: info.File, Precision: string(info.Precision),
		Providers: info.Providers, Window: name, OpenMS: openMS,
		RunUS:   float64(elapsed.Nanoseconds()) / 1000,
		Targets: r.Targets, Sensors: r.Sensors, RUL: r.RUL, Missing: w.Missing, Stale: w.Stale,
	}
	for i, h := range r.Health {
		out.Health = append(out.Health, componentHealth{Component: cfg.Firmware.Components[i].ID, Health: h})
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "rig-agent: %v\n", err)
		return 1
	}
	return 0
}

// probeGrid is a window that needs no sensor data: sensor s at step t is
// mean + std/2 * sin(2πt/T + s), in the sensor's unit (kept inside its
// range). It is the same on every machine to within float rounding, so
// two builds' outputs can be compared.
func probeGrid(spec prep.Spec) [][]float64 {
	grid := make([][]float64, len(spec.Sensors))
	for s, ss := range spec.Sensors {
		row := make([]float64, spec.Steps)
		for t := range row {
			v := ss.Mean + ss.Std/2*math.Sin(2*math.Pi*float64(t)/float64(spec.Steps)+float64(s))
			if ss.Range.Max > ss.Range.Min {
				v = min(max(v, ss.Range.Min), ss.Range.Max)
			}
			row[t] = v
		}
		grid[s] = row
	}
	return grid
}

// readGrid reads a window file: {"PS1": [v0, v1, ...], ...} with one value
// (or null: missing) per grid step for every sensor of spec. A sensor
// missing from the file is missing in every cell.
func readGrid(path string, spec prep.Spec) ([][]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows map[string][]*float64
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object of sensor id to %d values (null: missing): %w", path, spec.Steps, err)
	}
	grid := make([][]float64, len(spec.Sensors))
	for s, ss := range spec.Sensors {
		row := make([]float64, spec.Steps)
		vals, ok := rows[ss.ID]
		if ok && len(vals) != spec.Steps {
			return nil, fmt.Errorf("%s: sensor %s has %d values, the bundle's window has %d steps", path, ss.ID, len(vals), spec.Steps)
		}
		for t := range row {
			row[t] = math.NaN()
			if ok && vals[t] != nil {
				row[t] = *vals[t]
			}
		}
		grid[s] = row
		delete(rows, ss.ID)
	}
	for id := range rows {
		return nil, fmt.Errorf("%s: sensor %q is not an input of the bundle", path, id)
	}
	return grid, nil
}

// checkModelOptions are the agent's model options (service.ModelOptions),
// except that the TensorRT engine cache is not pruned: a running agent
// shares the folder, and which models it has open or opened last only it
// knows (pruning by this process's opens removed its serving model's
// engines).
func checkModelOptions(cfg *config.Config, log *slog.Logger) infer.Options {
	o := service.ModelOptions(cfg, log.With("part", "model"))
	o.KeepEngineCache = true
	return o
}
