package rigctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func init() {
	register("model", "evaluate or describe a model bundle (model eval|inspect --bundle DIR ...)", runModel)
}

const modelUsage = `model eval --bundle DIR --dataset uci:DIR|sim:DIR [--json] [--precision fp32|int8] [--rig FILE]
       rigctl model inspect --bundle DIR [--json]

eval runs every cycle of the data set through the bundle on ONNX Runtime
(agent/infer, the edge path) and scores each class head against the
data's labels: {"n": cycles, "precision": p, "targets": {"<target>":
{"accuracy": x, "macro_f1": x}, ...}, "health": {"<condition target>":
{"component": id, "n": cycles, "health_mae": x, "status_agreement": x,
"head_health_mae": x, "head_status_agreement": x}, ...}}: health is the
component's health and status in the diagnoses (from the class head)
against the labelled class's health and its status; head_ the same for
the raw health head, which diagnoses do not read. The data's sensors are matched
to the bundle's inputs by id, as the agent matches readings; a data set
without a sensor the bundle needs is refused, naming it. Its progress goes
to stderr (a line every few seconds, and one when done), also with --json.
inspect prints the manifest: rig, input, heads, model files, metrics and
provenance.

The firmware config is --rig, or firmware-configs/<rig type>.yaml found
from the working directory upwards. ONNX Runtime is loaded from
$ONNXRUNTIME_LIB (deploy/dev/onnxruntime.sh prints a path).`

func runModel(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 {
		errorf(env, "usage: rigctl %s", modelUsage)
		return ExitUsage
	}
	switch args[0] {
	case "eval":
		return runModelEval(ctx, env, args[1:])
	case "inspect":
		return runModelInspect(env, args[1:])
	}
	errorf(env, "model: unknown subcommand %q (want eval or inspect)", args[0])
	return ExitUsage
}

// evalJSON is the output of `model eval --json` (and, with TrainSeconds,
// of `bench uci --json`).
type evalJSON struct {
	N         int                   `json:"n"`
	Precision string                `json:"precision"`
	Targets   map[string]targetJSON `json:"targets"`
	// Health is, per condition target, the diagnoses' component health
	// against the labelled class's health (see rigctl diagnose).
	Health       map[string]healthJSON `json:"health,omitempty"`
	TrainSeconds *float64              `json:"train_seconds,omitempty"`
	TotalSeconds *float64              `json:"total_seconds,omitempty"`
}

type targetJSON struct {
	Accuracy float64 `json:"accuracy"`
	MacroF1  float64 `json:"macro_f1"`
}

// evalResult is a bundle's score on a data set.
type evalResult struct {
	N         int
	Precision bundle.Precision
	// Targets are in the rig config's order (only targets with a class
	// head in the bundle).
	Targets []train.TargetMetrics
	// Health is, per labelled condition target, its component's health
	// in the diagnoses (and the health head's) against the label's.
	Health map[string]healthJSON
}

func (r *evalResult) json() evalJSON {
	out := evalJSON{N: r.N, Precision: string(r.Precision), Targets: map[string]targetJSON{}, Health: r.Health}
	for _, t := range r.Targets {
		out.Targets[t.Name] = targetJSON{Accuracy: round6(t.Accuracy), MacroF1: round6(t.MacroF1)}
	}
	return out
}

func round6(v float64) float64 {
	return float64(int64(v*1e6+0.5)) / 1e6
}

func runModelEval(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "model eval", modelUsage)
	dir := fs.String("bundle", "", "bundle `DIR` (required)")
	data := fs.String("dataset", "", "labelled data set, uci:DIR or sim:DIR (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	precision := fs.String("precision", "", "model file: fp32 or int8 (default: int8 when the bundle has it, as the agent)")
	rigPath := fs.String("rig", "", "firmware config `FILE` (default: firmware-configs/<rig type>.yaml)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *dir == "" || *data == "" || fs.NArg() > 0 {
		errorf(env, "model eval: --bundle DIR and --dataset uci:DIR are required (no other arguments)")
		return ExitUsage
	}
	m, cfg, ds, code := openEval(env, "model eval", *dir, *data, *precision, *rigPath)
	if m == nil {
		return code
	}
	defer m.Close()
	// Progress on stderr (also with --json: stdout holds only the JSON).
	start := time.Now()
	printed := start
	res, err := evaluateProgress(ctx, m, cfg, ds, func(done, total int) {
		if now := time.Now(); now.Sub(printed) >= progressEvery && done < total {
			printed = now
			fmt.Fprintf(env.Stderr, "model eval: %d/%d cycles (%d%%)\n", done, total, done*100/max(total, 1))
		}
	})
	if err != nil {
		errorf(env, "model eval: %v", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stderr, "model eval: %d/%d cycles in %s\n", ds.Len(), ds.Len(), time.Since(start).Round(10*time.Millisecond))
	if *asJSON {
		return writeJSONOut(env, res.json())
	}
	printEval(env.Stdout, res, ds.Source)
	return ExitOK
}

// openEval opens a bundle's model for its rig (the firmware config at
// rigPath, or the rig type's shipped one) and reads the data set data
// for the model's input spec, as model eval and diagnose do. The model
// is opened first, so a bundle for another rig is refused before any
// data is read. On failure it prints the error prefixed with cmd and
// returns the exit code (m is nil).
func openEval(env Env, cmd, dir, data, precision, rigPath string) (m *infer.Model, cfg *rig.Config, ds *train.Dataset, code int) {
	ref, err := parseDataRef(data)
	if err != nil {
		errorf(env, "%s: %v", cmd, err)
		return nil, nil, nil, ExitUsage
	}
	prec, err := parsePrecision(precision)
	if err != nil {
		errorf(env, "%s: %v", cmd, err)
		return nil, nil, nil, ExitUsage
	}
	man, err := bundle.Load(dir)
	if err == nil {
		cfg, _, err = findRig(rigPath, man.RigType)
	}
	if err == nil {
		m, err = openModel(dir, cfg, prec, 1)
	}
	if err == nil {
		if ds, err = loadLabelled(ref, cfg, m.Spec()); err != nil {
			m.Close()
		}
	}
	if err != nil {
		errorf(env, "%s: %v", cmd, err)
		return nil, nil, nil, ExitFailure
	}
	return m, cfg, ds, 0
}

func parsePrecision(s string) (bundle.Precision, error) {
	switch p := bundle.Precision(s); p {
	case "", bundle.FP32, bundle.INT8:
		return p, nil
	}
	return "", fmt.Errorf("--precision %q: want fp32 or int8", s)
}

// findRig loads the firmware config at path, or, when path is empty,
// firmware-configs/<rigType>.yaml in the working directory or the nearest
// parent that has one.
func findRig(path, rigType string) (*rig.Config, string, error) {
	if path == "" {
		if rigType == "" {
			return nil, "", errors.New("no --rig given and no rig type to look for")
		}
		wd, err := os.Getwd()
		if err != nil {
			return nil, "", err
		}
		name := filepath.Join("firmware-configs", rigType+".yaml")
		for d := wd; ; d = filepath.Dir(d) {
			p := filepath.Join(d, name)
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
			if filepath.Dir(d) == d {
				return nil, "", fmt.Errorf("no %s in %s or its parents: give the rig's firmware config with --rig FILE", name, wd)
			}
		}
	}
	cfg, err := rig.Load(path)
	if err != nil {
		return nil, "", err
	}
	return cfg, path, nil
}

// loadLabelled reads a labelled data set (uci: or sim:, the UCI layout)
// for cfg on spec's grid, checks that its windows fit spec and returns
// its grids' rows in spec's sensor order, matched by sensor id as the
// agent matches readings: the data set's rows are in cfg's order, which
// need not be the bundle's (a bundle rebound to a config revision that
// reorders or adds sensors). A data set without a sensor of spec is
// refused, naming it; the data's sensors spec does not read are left out.
func loadLabelled(ref dataRef, cfg *rig.Config, spec prep.Spec) (*train.Dataset, error) {
	if ref.Kind == "skab" {
		return nil, fmt.Errorf("data set skab:%s: SKAB files are scored by `rigctl bench skab`, not by class heads; give uci:DIR or sim:DIR", ref.Dir)
	}
	ds, err := train.LoadUCI(ref.Dir, cfg, spec.GridHz)
	if err != nil {
		return nil, err
	}
	if ds.Spec.Steps != spec.Steps {
		return nil, fmt.Errorf("%s: cycles of %d steps at %g Hz, the bundle's input has %d", ref.Dir, ds.Spec.Steps, spec.GridHz, spec.Steps)
	}
	rows := make([]int, len(spec.Sensors))
	var missing []string
	for s, ss := range spec.Sensors {
		if rows[s] = ds.Spec.Index(ss.ID); rows[s] < 0 {
			missing = append(missing, ss.ID)
		}
	}
	if len(missing) > 0 {
		have := make([]string, len(ds.Spec.Sensors))
		for s, ss := range ds.Spec.Sensors {
			have[s] = ss.ID
		}
		return nil, fmt.Errorf("%s:%s has no data of sensor(s) %s, which the bundle's input needs (the data set has %s for rig %s's active sensors)",
			ref.Kind, ref.Dir, strings.Join(missing, ", "), strings.Join(have, ", "), cfg.RigType)
	}
	if !slices.Equal(rows, identity(len(ds.Spec.Sensors))) {
		sensors := make([]prep.SensorSpec, len(rows))
		for s, r := range rows {
			sensors[s] = ds.Spec.Sensors[r]
		}
		ds.Spec.Sensors = sensors
		for i, g := range ds.Grids {
			ordered := make([][]float64, len(rows))
			for s, r := range rows {
				ordered[s] = g[r]
			}
			ds.Grids[i] = ordered
		}
	}
	ds.Source = ref.Kind + ":" + ref.Dir
	return ds, nil
}

// identity returns 0, 1, …, n-1.
func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// quietLogger drops agent/infer's open/fallback lines (the commands
// report what they need themselves).
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openModel opens a bundle's model file on ONNX Runtime through
// agent/infer, as the agent does (prec "": int8 when the bundle has it),
// with threads intra-op threads. infer.Open refuses a bundle made for
// another rig than cfg.
func openModel(dir string, cfg *rig.Config, prec bundle.Precision, threads int) (*infer.Model, error) {
	return infer.Open(dir, cfg, infer.Options{Precision: prec, IntraOpThreads: threads, Logger: quietLogger()})
}

// evaluate runs every window of ds through m (in batches of up to
// infer.DefaultMaxBatch) and scores its class heads against ds's labels.
func evaluate(ctx context.Context, m *infer.Model, cfg *rig.Config, ds *train.Dataset) (*evalResult, error) {
	return evaluateProgress(ctx, m, cfg, ds, nil)
}

// evaluateProgress is evaluate calling progress (nil: none) with the
// cycles run so far and their total after each batch. Each cycle is
// diagnosed as the agent does (diagnoseEach), so the health results are
// those of the diagnoses.
func evaluateProgress(ctx context.Context, m *infer.Model, cfg *rig.Config, ds *train.Dataset, progress func(done, total int)) (*evalResult, error) {
	res := &evalResult{N: ds.Len(), Precision: m.Info().Precision}
	// Class heads of the bundle, mapped to the rig's targets.
	targetIdx := map[string]int{}
	for j, t := range cfg.Targets {
		targetIdx[t.Name] = j
	}
	pred := map[string][]int{}
	health := newHealthTally(cfg)
	err := diagnoseEach(ctx, m, ds, nil, progress, func(i int, r *infer.Result, d *diag.Diagnosis) error {
		for _, t := range r.Targets {
			pred[t.Name] = append(pred[t.Name], t.Predicted)
		}
		if i < len(ds.Labels) {
			health.add(ds.Labels[i], r, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, t := range cfg.Targets {
		p, ok := pred[t.Name]
		if !ok {
			continue
		}
		j := targetIdx[t.Name]
		truth := make([]int, ds.Len())
		for i := range truth {
			truth[i] = ds.Labels[i][j]
		}
		res.Targets = append(res.Targets, train.Score(t.Name, len(t.Classes), truth, p))
	}
	res.Health = health.json()
	return res, nil
}

func printEval(w io.Writer, r *evalResult, source string) {
	fmt.Fprintf(w, "%d cycles of %s, %s model through ONNX Runtime\n", r.N, source, r.Precision)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tlabelled\taccuracy\tmacro-F1\tconfusion (rows: true class)")
	for _, t := range r.Targets {
		var rows []string
		for _, row := range t.Confusion {
			rows = append(rows, strings.Trim(fmt.Sprint(row), "[]"))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f %%\t%.4f\t%s\n", t.Name, t.N, 100*t.Accuracy, t.MacroF1, strings.Join(rows, " | "))
	}
	_ = tw.Flush()
	printHealth(w, r.Health)
}

func writeJSONOut(env Env, v any) int {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		errorf(env, "write output: %v", err)
		return ExitFailure
	}
	return ExitOK
}

func runModelInspect(env Env, args []string) int {
	fs := newFlags(env, "model inspect", modelUsage)
	dir := fs.String("bundle", "", "bundle `DIR` (required)")
	asJSON := fs.Bool("json", false, "print the manifest as JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *dir == "" || fs.NArg() > 0 {
		errorf(env, "model inspect: --bundle DIR is required (no other arguments)")
		return ExitUsage
	}
	man, err := bundle.Load(*dir)
	if err != nil {
		errorf(env, "model inspect: %v", err)
		return ExitFailure
	}
	if *asJSON {
		return writeJSONOut(env, man)
	}
	printManifest(env.Stdout, man)
	return ExitOK
}

func printManifest(w io.Writer, m *bundle.Manifest) {
	fmt.Fprintf(w, "bundle     %s %s (digest %s)\n", m.Name, m.Version, m.Digest())
	fmt.Fprintf(w, "rig        %s, topology %s, config %s\n", m.RigType, m.TopologyVersion, m.ConfigDigest)
	fmt.Fprintf(w, "created    %s\n", m.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	in := m.Input
	ids := make([]string, len(in.Sensors))
	for i, s := range in.Sensors {
		ids[i] = s.ID
	}
	fmt.Fprintf(w, "input      %d sensors x %d steps at %g Hz (%s): %s\n", len(in.Sensors), in.Steps, in.GridHz, in.Alignment, strings.Join(ids, " "))
	fmt.Fprintf(w, "components %s\n", strings.Join(m.Components, " "))
	for _, f := range m.Models {
		fmt.Fprintf(w, "model      %s: %s (%s), %.1f KB, opset %d, sha256 %s\n", f.File, f.Precision, f.Quantization,
			float64(f.Bytes)/1024, f.Opset, f.SHA256[:16])
	}
	for _, h := range m.Heads {
		switch h.Kind {
		case bundle.HeadClass:
			fmt.Fprintf(w, "head       %-8s %s -> %s: %s\n", h.Kind, h.Output, h.Target, strings.Join(h.Labels, ", "))
		case bundle.HeadAnomaly:
			fmt.Fprintf(w, "head       %-8s %s: %d sensors, thresholds %.3g..%.3g\n", h.Kind, h.Output, len(h.Labels),
				slices.Min(h.Thresholds), slices.Max(h.Thresholds))
		default:
			fmt.Fprintf(w, "head       %-8s %s: %d outputs\n", h.Kind, h.Output, len(h.Labels))
		}
	}
	if len(m.Metrics) > 0 {
		keys := make([]string, 0, len(m.Metrics))
		for k := range m.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%.4g", k, m.Metrics[k]))
		}
		fmt.Fprintf(w, "metrics    %s\n", strings.Join(parts, " "))
	}
	p := m.Provenance
	fmt.Fprintf(w, "trained    on %s, code %s, backend %s, seed %d, %s for %.0f s\n", p.Dataset, p.CodeVersion, p.Backend,
		p.Seed, p.StartedAt.Format("2006-01-02 15:04"), p.DurationS)
	if len(p.Config) > 0 {
		keys := make([]string, 0, len(p.Config))
		for k := range p.Config {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%v", k, p.Config[k]))
		}
		fmt.Fprintf(w, "config     %s\n", strings.Join(parts, " "))
	}
}
