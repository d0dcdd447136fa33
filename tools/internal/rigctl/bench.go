package rigctl

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/models/report"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func init() {
	register("bench", "benchmarks (bench uci|infer ...; see rigctl bench -h)", runBench)
	benchCommands["uci"] = benchCommand{"train on one UCI-layout folder, evaluate on another through the edge path", runBenchUCI}
	benchCommands["infer"] = benchCommand{"latency of a bundle's fp32 and int8 models through agent/infer (B = 1)", runBenchInfer}
	benchCommands["split"] = benchCommand{"split a UCI-layout folder into train/ and test/ by contiguous runs (for bench uci)", runBenchSplit}
}

// benchCommand is one `rigctl bench` subcommand. Other files add theirs
// to benchCommands in their init.
type benchCommand struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) int
}

var benchCommands = map[string]benchCommand{}

func runBench(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.Stderr, "Usage: rigctl bench SUBCOMMAND [flags]\n\nSubcommands:")
		names := make([]string, 0, len(benchCommands))
		for n := range benchCommands {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(env.Stderr, "  %-8s %s\n", n, benchCommands[n].summary)
		}
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	c, ok := benchCommands[args[0]]
	if !ok {
		errorf(env, "bench: unknown subcommand %q (rigctl bench -h lists them)", args[0])
		return ExitUsage
	}
	return c.run(ctx, env, args[1:])
}

const benchUCIUsage = `bench uci --train DIR --test DIR [--json] [--rig FILE] [--out BUNDLE_DIR] [training flags]

Trains on the UCI-layout folder --train (as rigctl train), writes the
bundle (to --out, or a temporary folder), and evaluates it on --test
through ONNX Runtime (as rigctl model eval). JSON: {"n", "precision",
"targets": {...}, "train_seconds" (the trainer's wall time),
"total_seconds" (loading, training, export and evaluation)}.`

func runBenchUCI(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "bench uci", benchUCIUsage)
	trainDir := fs.String("train", "", "training folder, UCI layout (required)")
	testDir := fs.String("test", "", "test folder, UCI layout (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	rigPath := fs.String("rig", "", "firmware config `FILE` (default: firmware-configs/zema-testrig.yaml)")
	out := fs.String("out", "", "keep the bundle in this `DIR` (default: a temporary folder, removed)")
	precision := fs.String("precision", "", "model file evaluated: fp32 or int8 (default: int8, as the agent)")
	var tf trainFlags
	tf.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *trainDir == "" || *testDir == "" || fs.NArg() > 0 {
		errorf(env, "bench uci: --train DIR and --test DIR are required (no other arguments)")
		return ExitUsage
	}
	prec, err := parsePrecision(*precision)
	if err != nil {
		errorf(env, "bench uci: %v", err)
		return ExitUsage
	}
	opts, err := tf.options()
	if err != nil {
		errorf(env, "bench uci: %v", err)
		return ExitUsage
	}
	bopts, err := tf.bundleOptions()
	if err != nil {
		errorf(env, "bench uci: %v", err)
		return ExitUsage
	}
	start := time.Now()
	cfg, _, err := findRig(*rigPath, "zema-testrig")
	if err != nil {
		errorf(env, "bench uci: %v", err)
		return ExitFailure
	}
	dir := *out
	if dir == "" {
		tmp, err := os.MkdirTemp("", "rigctl-bench-uci-")
		if err != nil {
			errorf(env, "bench uci: %v", err)
			return ExitFailure
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	tr, err := trainBundle(ctx, env, cfg, dataRef{Kind: "uci", Dir: *trainDir}, tf.gridHz, 0, opts, bopts, dir, "")
	if err != nil {
		errorf(env, "bench uci: %v", err)
		return ExitFailure
	}
	ds, err := loadLabelled(dataRef{Kind: "uci", Dir: *testDir}, cfg, tr.written.Manifest.Input)
	if err != nil {
		errorf(env, "bench uci: %v", err)
		return ExitFailure
	}
	m, err := openModel(dir, cfg, prec, 1)
	if err != nil {
		errorf(env, "bench uci: %v", err)
		return ExitFailure
	}
	defer m.Close()
	res, err := evaluate(ctx, m, cfg, ds)
	if err != nil {
		errorf(env, "bench uci: %v", err)
		return ExitFailure
	}
	if tf.report != "" && tf.report != "none" {
		test := &train.Metrics{N: res.N, Targets: res.Targets}
		files, err := report.WriteContext(ctx, tf.report, report.Input{
			Title: "bench uci: " + tr.written.Manifest.Name + " " + tr.written.Manifest.Version, Rig: cfg, Result: tr.res,
			Test: test, TestLabel: fmt.Sprintf("Test folder %s (%s model through ONNX Runtime)", *testDir, res.Precision),
			Notes: []string{"training data: uci:" + *trainDir},
		})
		if err != nil {
			errorf(env, "bench uci: %v", err)
			return ExitFailure
		}
		fmt.Fprintf(env.Stderr, "bench uci: training report: %s\n", strings.Join(files, ", "))
	}
	total := roundTo(time.Since(start).Seconds(), 0.1)
	trainS := roundTo(tr.seconds, 0.1)
	if *asJSON {
		j := res.json()
		j.TrainSeconds, j.TotalSeconds = &trainS, &total
		return writeJSONOut(env, j)
	}
	printTrained(env.Stdout, dir, tr)
	printEval(env.Stdout, res, ds.Source)
	fmt.Fprintf(env.Stdout, "training %.1f s, end to end %.1f s\n", trainS, total)
	return ExitOK
}

const benchInferUsage = `bench infer --bundle DIR [--json] [--n N] [--cold] [--dataset uci:DIR|sim:DIR] [--rig FILE] [--threads N]

Times agent/infer's Model.RunInto (one window, the agent's path: window
checks, copy in, ONNX Runtime, decoding the heads) for the bundle's fp32
and int8 models, N calls each after a warm-up, cycling over real windows
(the data set's cycles, or windows drawn around the input spec's
normalisation statistics when no --dataset is given). JSON:
{"fp32": {"batch": 1, "threads": 1, "p50_us": x, "p99_us": x, ...}, "int8": {...}}.

With --cold each call is preceded (untimed) by 15 ms of writes over a
32 MiB buffer that evict the caches, as the agent's windows find them
after ingest work between windows; N defaults to 150 then, and the JSON
adds "cold": true and "evict_ms".`

// latencyJSON is one model file's result of `bench infer --json`.
type latencyJSON struct {
	Batch   int     `json:"batch"`
	Threads int     `json:"threads"`
	P50us   float64 `json:"p50_us"`
	P99us   float64 `json:"p99_us"`
	MeanUs  float64 `json:"mean_us"`
	N       int     `json:"n"`
	Bytes   int64   `json:"bytes"`
	Quant   string  `json:"quantization"`
	// Cold and EvictMs: --cold, each call after EvictMs ms of
	// cache-evicting work (absent without --cold).
	Cold    bool    `json:"cold,omitempty"`
	EvictMs float64 `json:"evict_ms,omitempty"`
}

// coldEvict is the untimed cache-evicting work before each call of
// `bench infer --cold`: writes over a buffer beyond the last-level cache.
const (
	coldEvictTime  = 15 * time.Millisecond
	coldEvictBytes = 32 << 20
	coldDefaultN   = 150
)

func runBenchInfer(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "bench infer", benchInferUsage)
	dir := fs.String("bundle", "", "bundle `DIR` (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	n := fs.Int("n", 2000, "timed calls per model")
	data := fs.String("dataset", "", "take windows from this data set (uci:DIR or sim:DIR; default: synthetic windows)")
	rigPath := fs.String("rig", "", "firmware config `FILE` (default: firmware-configs/<rig type>.yaml)")
	threads := fs.Int("threads", 1, "ONNX Runtime intra-op threads")
	cold := fs.Bool("cold", false, "evict the caches before each timed call (default --n 150)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	nSet := false
	fs.Visit(func(f *flag.Flag) { nSet = nSet || f.Name == "n" })
	if *cold && !nSet {
		*n = coldDefaultN
	}
	if *dir == "" || fs.NArg() > 0 || *n < 1 {
		errorf(env, "bench infer: --bundle DIR is required and --n must be >= 1 (no other arguments)")
		return ExitUsage
	}
	man, err := bundle.Load(*dir)
	if err != nil {
		errorf(env, "bench infer: %v", err)
		return ExitFailure
	}
	cfg, _, err := findRig(*rigPath, man.RigType)
	if err != nil {
		errorf(env, "bench infer: %v", err)
		return ExitFailure
	}
	windows, err := benchWindows(*data, cfg, man.Input)
	if err != nil {
		errorf(env, "bench infer: %v", err)
		return ExitFailure
	}
	out := map[string]latencyJSON{}
	for _, f := range man.Models {
		if err := ctx.Err(); err != nil {
			errorf(env, "bench infer: %v", err)
			return ExitFailure
		}
		lat, err := timeRunInto(*dir, cfg, f, windows, *n, *threads, *cold)
		if err != nil {
			errorf(env, "bench infer: %s: %v", f.File, err)
			return ExitFailure
		}
		out[string(f.Precision)] = lat
	}
	if *asJSON {
		return writeJSONOut(env, out)
	}
	mode := ""
	if *cold {
		mode = fmt.Sprintf(", each after %v of cache-evicting work", coldEvictTime)
	}
	fmt.Fprintf(env.Stdout, "%s %s, %d windows, %d calls each%s, RunInto wall time:\n", man.Name, man.Version, len(windows), *n, mode)
	for _, f := range man.Models {
		l := out[string(f.Precision)]
		fmt.Fprintf(env.Stdout, "  %-5s %-10s %6.1f KB  B=%d threads=%d  p50 %7.1f µs  p99 %7.1f µs  mean %7.1f µs\n",
			f.Precision, l.Quant, float64(l.Bytes)/1024, l.Batch, l.Threads, l.P50us, l.P99us, l.MeanUs)
	}
	return ExitOK
}

// benchWindows returns up to 64 prepared windows: the data set's first
// cycles, or deterministic synthetic ones (each sensor's normalised value
// a smooth random curve, so the model sees values of the usual scale).
func benchWindows(data string, cfg *rig.Config, spec prep.Spec) ([]*prep.Window, error) {
	const maxWindows = 64
	var out []*prep.Window
	if data != "" {
		ref, err := parseDataRef(data)
		if err != nil {
			return nil, err
		}
		ds, err := loadLabelled(ref, cfg, spec)
		if err != nil {
			return nil, err
		}
		for i := 0; i < ds.Len() && len(out) < maxWindows; i++ {
			w, err := prep.FromGrid(spec, ds.Grids[i])
			if err != nil {
				return nil, fmt.Errorf("%s cycle %d: %w", ds.Source, i+1, err)
			}
			out = append(out, w)
		}
		return out, nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 16 {
		grid := make([][]float64, len(spec.Sensors))
		for s, ss := range spec.Sensors {
			grid[s] = make([]float64, spec.Steps)
			a, ph := rng.NormFloat64(), rng.Float64()*2*math.Pi
			for t := range grid[s] {
				z := a*math.Sin(ph+float64(t)/5) + 0.3*rng.NormFloat64()
				grid[s][t] = ss.Mean + z*math.Max(ss.Std, ss.StdFloor())
			}
		}
		w, err := prep.FromGrid(spec, grid)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// timeRunInto opens model file f of the bundle and times n RunInto calls
// (after max(50, n/10) warm-up calls); with cold, each call after
// coldEvictTime of untimed cache-evicting work.
func timeRunInto(dir string, cfg *rig.Config, f bundle.Model, windows []*prep.Window, n, threads int, cold bool) (latencyJSON, error) {
	m, err := openModel(dir, cfg, f.Precision, threads)
	if err != nil {
		return latencyJSON{}, err
	}
	defer m.Close()
	var res infer.Result
	for i := range max(50, n/10) {
		if _, err := m.RunInto(&res, windows[i%len(windows)]); err != nil {
			return latencyJSON{}, err
		}
	}
	var evict []byte
	if cold {
		evict = make([]byte, coldEvictBytes)
	}
	d := make([]float64, n)
	for i := range n {
		if cold {
			for t := time.Now(); time.Since(t) < coldEvictTime; {
				for j := 0; j < len(evict); j += 64 {
					evict[j]++
				}
			}
		}
		t0 := time.Now()
		_, err := m.RunInto(&res, windows[i%len(windows)])
		d[i] = float64(time.Since(t0).Nanoseconds()) / 1e3
		if err != nil {
			return latencyJSON{}, err
		}
	}
	mean := 0.0
	for _, v := range d {
		mean += v
	}
	slices.Sort(d)
	info := m.Info()
	lat := latencyJSON{Batch: 1, Threads: info.IntraOpThreads, P50us: round1(percentile(d, 0.5)), P99us: round1(percentile(d, 0.99)),
		MeanUs: round1(mean / float64(n)), N: n, Bytes: f.Bytes, Quant: strings.TrimSpace(string(f.Quantization))}
	if cold {
		lat.Cold, lat.EvictMs = true, float64(coldEvictTime.Milliseconds())
	}
	return lat, nil
}

// percentile of sorted values (nearest rank).
func percentile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

const benchSplitUsage = `bench split --data DIR --out DIR [--every K] [--rig FILE]

Copies the UCI-layout folder --data into OUT/train and OUT/test, keeping
each contiguous run of identical condition labels (the rig's targets of
kind condition) whole: every K-th run (the K-th, 2K-th, ...) goes to test.
The grouped hold-out that bench uci then scores is the honest protocol
(neighbouring cycles of one run are near-duplicates).`

func runBenchSplit(_ context.Context, env Env, args []string) int {
	fs := newFlags(env, "bench split", benchSplitUsage)
	data := fs.String("data", "", "UCI-layout `DIR` to split (required)")
	out := fs.String("out", "", "output `DIR` for train/ and test/ (required)")
	every := fs.Int("every", 5, "every K-th run goes to test")
	rigPath := fs.String("rig", "", "firmware config `FILE` (default: firmware-configs/zema-testrig.yaml)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *data == "" || *out == "" || *every < 2 || fs.NArg() > 0 {
		errorf(env, "bench split: --data DIR and --out DIR are required and --every must be >= 2 (no other arguments)")
		return ExitUsage
	}
	cfg, _, err := findRig(*rigPath, "zema-testrig")
	if err != nil {
		errorf(env, "bench split: %v", err)
		return ExitFailure
	}
	n, err := splitRuns(*data, *out, cfg, *every)
	if err != nil {
		errorf(env, "bench split: %v", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "%d runs: %d cycles in %s, %d in %s\n", n[0], n[1], filepath.Join(*out, "train"), n[2], filepath.Join(*out, "test"))
	return ExitOK
}

// splitRuns writes dir's cycles into out/train and out/test by runs; it
// returns the number of runs and of train and test cycles.
func splitRuns(dir, out string, cfg *rig.Config, every int) ([3]int, error) {
	var cols []string
	for _, s := range cfg.ActiveSensors() {
		cols = append(cols, s.UCIName())
	}
	set, err := uci.Read(dir, cols, len(cfg.Targets))
	if err != nil {
		return [3]int{}, err
	}
	if len(set.Profile) != set.Cycles || set.Cycles == 0 {
		return [3]int{}, fmt.Errorf("%s: %d cycles with %d profile lines: want labelled cycles", dir, set.Cycles, len(set.Profile))
	}
	var cond []int
	for j, t := range cfg.Targets {
		if t.Kind == rig.TargetCondition {
			cond = append(cond, j)
		}
	}
	if len(cond) == 0 {
		return [3]int{}, fmt.Errorf("rig %q has no condition target to define runs by", cfg.RigType)
	}
	run := 0
	var idx [2][]int // train, test
	for c := range set.Cycles {
		if c > 0 {
			for _, j := range cond {
				if set.Profile[c][j] != set.Profile[c-1][j] {
					run++
					break
				}
			}
		}
		k := 0
		if run%every == every-1 {
			k = 1
		}
		idx[k] = append(idx[k], c)
	}
	for k, name := range []string{"train", "test"} {
		s := &uci.Set{Sensors: set.Sensors, Cycles: len(idx[k]), Data: make([][][]float64, len(set.Sensors))}
		for i := range set.Sensors {
			for _, c := range idx[k] {
				s.Data[i] = append(s.Data[i], set.Data[i][c])
			}
		}
		for _, c := range idx[k] {
			s.Profile = append(s.Profile, set.Profile[c])
			if set.CycleIDs != nil {
				s.CycleIDs = append(s.CycleIDs, set.CycleIDs[c])
			}
		}
		if s.Cycles == 0 {
			return [3]int{}, fmt.Errorf("%s: %d runs leave no cycle for %s with --every %d", dir, run+1, name, every)
		}
		if err := uci.Write(filepath.Join(out, name), s); err != nil {
			return [3]int{}, err
		}
	}
	return [3]int{run + 1, len(idx[0]), len(idx[1])}, nil
}
