package rigctl

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/models/skab"
)

func init() {
	benchCommands["skab"] = benchCommand{"SKAB leaderboard protocol (outlier detection) over a SKAB folder", runBenchSKAB}
}

const benchSKABUsage = `bench skab --data DIR [--json] [--rig FILE] [--save DIR] [flags]

Runs the SKAB leaderboard protocol (docs/skab.md) over every experiment CSV
under DIR: trains the GNN's reconstruction head on the anomaly-free run and
the first 400 rows of every experiment file (labels are not read), fits the
detector's per-sensor scales on those rows, scores every row and computes
F1, FAR = FP/(FP+TN) and MAR = FN/(FN+TP) over rows 401.. of all files
together. The anomaly-free file is never scored. Progress goes to stderr.
JSON: {"files": n, "f1": x, "far": x, "mar": x} (FAR and MAR as fractions).`

// benchSKABJSON is the output of `bench skab --json`.
type benchSKABJSON struct {
	Files int     `json:"files"`
	F1    float64 `json:"f1"`
	FAR   float64 `json:"far"`
	MAR   float64 `json:"mar"`
}

func runBenchSKAB(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "bench skab", benchSKABUsage)
	data := fs.String("data", "", "SKAB `DIR` (the folder holding anomaly-free/, valve1/, ...; required)")
	asJSON := fs.Bool("json", false, "print JSON")
	rigPath := fs.String("rig", "", "firmware config `FILE` (default: firmware-configs/skab-testbed.yaml)")
	save := fs.String("save", "", "keep the trained model and detector in this `DIR`")
	var o skab.Options
	var do skab.DetectorOptions
	fs.IntVar(&o.Steps, "steps", 0, "window length T in rows (0: 30)")
	fs.IntVar(&o.Epochs, "epochs", 0, "training epochs (0: 20)")
	seedVar(fs, &o.Seed, 1, "random seed (0.."+strconv.FormatUint(pipeline.MaxSeed, 10)+")")
	fs.StringVar(&o.Backend, "backend", "", `GoMLX backend ("" or "go": pure Go; "xla:cpu", "xla:cuda" in cgo builds)`)
	fs.Float64Var(&do.LevelK, "level-k", 0, "threshold of the level term (0: 1.5; <0: off)")
	fs.Float64Var(&do.ErrorK, "error-k", 0, "threshold of the reconstruction-error term (0: 3; <0: off)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *data == "" || fs.NArg() > 0 {
		errorf(env, "bench skab: --data DIR is required (no other arguments)")
		return ExitUsage
	}
	cfg, _, err := findRig(*rigPath, "skab-testbed")
	if err != nil {
		errorf(env, "bench skab: %v", err)
		return ExitFailure
	}
	start := time.Now()
	rep, m, err := skab.Bench(ctx, cfg, *data, o, do, env.Stderr)
	if err != nil {
		errorf(env, "bench skab: %v", err)
		return ExitFailure
	}
	if *save != "" {
		if err := m.Save(*save); err != nil {
			errorf(env, "bench skab: %v", err)
			return ExitFailure
		}
	}
	fmt.Fprintf(env.Stderr, "skab: %d files, %d scored rows: F1 %.3f FAR %.1f %% MAR %.1f %% (training %.0f s, scoring %.0f s, total %.0f s)\n",
		rep.Files, rep.Total.Rows(), rep.F1, 100*rep.FAR, 100*rep.MAR, rep.TrainSeconds, rep.ScoreSeconds, time.Since(start).Seconds())
	if *asJSON {
		return writeJSONOut(env, benchSKABJSON{Files: rep.Files, F1: rep.F1, FAR: rep.FAR, MAR: rep.MAR})
	}
	for _, f := range rep.PerFile {
		name := f.Name
		if rel, err := filepath.Rel(*data, f.Name); err == nil {
			name = rel
		}
		fmt.Fprintf(env.Stdout, "  %-24s FP %4d of %4d normal rows, FN %4d of %4d anomalous rows\n", name, f.FP, f.FP+f.TN, f.FN, f.FN+f.TP)
	}
	fmt.Fprintf(env.Stdout, "files %d, rows %d: F1 %.3f, FAR %.1f %%, MAR %.1f %%\n", rep.Files, rep.Total.Rows(), rep.F1, 100*rep.FAR, 100*rep.MAR)
	return ExitOK
}
