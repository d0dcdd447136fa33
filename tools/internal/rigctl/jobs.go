package rigctl

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// Training commands: rig-cloud's training jobs and model registry
// (docs/cloud.md, Training and Model registry), with the login context
// of the fleet commands.

func init() {
	register("jobs", "training jobs (jobs list | get ID | logs ID | create --dataset ID | cancel ID)", runJobs)
	register("models", "model registry (models list | get V | compare A B, --rig-type T)", runModels)
}

const jobsUsage = `jobs list [--state S] [--limit N] | jobs get ID | jobs logs ID [--attempt N] [--limit N]
     | jobs create --dataset ID [--config FILE|JSON] [--epochs N] [--patience N] [--batch-size N] [--lr X]
                   [--seed N] [--sensor-dropout P] [--bundle-version V] [--max-attempts N]
     | jobs cancel ID
  every form takes --json (the server's JSON) and --context CTX`

// pickSubcommand reads args[0], the subcommand of a command whose
// subcommands take subs[name] positional arguments (for subcommand; -1:
// the command counts them itself). A missing or unknown one prints the
// command's usage on env.Stderr: ok is false and the command exits
// ExitUsage.
func pickSubcommand(env Env, args []string, usage string, subs map[string]int) (sub string, npos int, ok bool) {
	if len(args) > 0 {
		if n, known := subs[args[0]]; known {
			return args[0], n, true
		}
	}
	fmt.Fprintln(env.Stderr, "Usage: rigctl "+usage)
	return "", 0, false
}

// subcommand parses "[POSITIONAL|FLAG]...": positional arguments and
// flags may be mixed (splitArgs); exactly npos positional arguments are
// expected. ok is false when the caller should return code.
func subcommand(fs *flag.FlagSet, args []string, npos int) (pos []string, code int, ok bool) {
	pos, code, ok = splitArgs(fs, args)
	if !ok {
		return nil, code, false
	}
	if len(pos) != npos {
		fs.Usage()
		return nil, ExitUsage, false
	}
	return pos, 0, true
}

// splitArgs parses fs's flags mixed with positional arguments in args
// (Go's flag package stops at the first positional one) and returns the
// positional ones in order. "-" is a positional argument, as is every
// argument after a "--" that stands where a flag could; a flag's value
// is never taken for either ("--state -" gives --state the value "-").
// ok is false when the caller should return code.
func splitArgs(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	var flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // fs.Parse reports it
		}
		if b, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if code, ok := parseFlags(fs, flags); !ok {
		return nil, code, false
	}
	if fs.NArg() > 0 {
		// Only flags and their values were given: nothing may be left.
		fs.Usage()
		return nil, ExitUsage, false
	}
	return pos, 0, true
}

// positiveID checks a numeric id argument.
func positiveID(env Env, what, s string) bool {
	if n, err := strconv.ParseInt(s, 10, 64); err != nil || n < 1 {
		errorf(env, "%s: %q is not an id (a positive integer)", what, s)
		return false
	}
	return true
}

func runJobs(ctx context.Context, env Env, args []string) int {
	sub, npos, ok := pickSubcommand(env, args, jobsUsage, map[string]int{"list": 0, "get": 1, "logs": 1, "create": 0, "cancel": 1})
	if !ok {
		return ExitUsage
	}
	fs := newFlags(env, "jobs "+sub, jobsUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	limit := new(int) // list and logs only: the other forms refuse --limit
	var (
		state                                      *string
		attempt                                    *int
		dataset, epochs, patience, batch, attempts *int
		seed                                       *uint64
		lr, dropout                                *float64
		configArg, bundleVersion                   *string
	)
	switch sub {
	case "list":
		state = fs.String("state", "", "only jobs in this state: queued, running, succeeded, failed or cancelled")
		fs.IntVar(limit, "limit", 0, "most jobs to list (0: all)")
	case "logs":
		attempt = fs.Int("attempt", 0, "only this attempt's lines (0: every attempt)")
		fs.IntVar(limit, "limit", 0, "most log lines to fetch, before --attempt picks (0: all)")
	case "create":
		dataset = fs.Int("dataset", 0, "the data set's `ID` (required; rigctl dataset import prints it)")
		configArg = fs.String("config", "", "training settings: a JSON `FILE` or inline JSON object (jobs.Config, docs/cloud.md); the flags below override its fields")
		epochs = fs.Int("epochs", 0, "most epochs (0: the config's or the trainer's default)")
		patience = fs.Int("patience", 0, "stop after this many epochs without improvement (0: default; -1: never)")
		batch = fs.Int("batch-size", 0, "batch size (0: default)")
		lr = fs.Float64("lr", 0, "peak learning rate (0: default)")
		seed = new(uint64)
		seedVar(fs, seed, 0, "random seed (0: the config's; at most "+strconv.FormatUint(pipeline.MaxSeed, 10)+")")
		dropout = fs.Float64("sensor-dropout", 0, "probability `P` in [0, 1) of masking a may_drop_out sensor's whole window in a training window (default: the config's, else 0.2; 0 or negative: off)")
		bundleVersion = fs.String("bundle-version", "", "the bundle's semantic version (default 1.0.<job id>)")
		attempts = fs.Int("max-attempts", 0, "attempts (1..10; 0: the server's worker.max_attempts)")
	}
	pos, code, ok := subcommand(fs, args[1:], npos)
	if !ok {
		return code
	}
	if npos == 1 && !positiveID(env, "jobs "+sub, pos[0]) {
		return ExitUsage
	}
	var body map[string]any
	if sub == "create" {
		if *dataset < 1 {
			errorf(env, "jobs create: --dataset ID is required")
			return ExitUsage
		}
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if p := *dropout; math.IsNaN(p) || p >= 1 {
			errorf(env, "jobs create: --sensor-dropout %v: want a probability in [0, 1) (0 or negative: off)", p)
			return ExitUsage
		}
		cfg := map[string]any{}
		if *configArg != "" {
			b := []byte(*configArg)
			if !strings.HasPrefix(strings.TrimSpace(*configArg), "{") {
				var err error
				if b, err = os.ReadFile(*configArg); err != nil {
					errorf(env, "jobs create: --config: %v", err)
					return ExitFailure
				}
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				errorf(env, "jobs create: --config %s is not a JSON object: %v", *configArg, err)
				return ExitUsage
			}
		}
		set := func(k string, v any, given bool) {
			if given {
				cfg[k] = v
			}
		}
		set("epochs", *epochs, *epochs != 0)
		set("patience", *patience, *patience != 0)
		set("batch_size", *batch, *batch != 0)
		set("lr", *lr, *lr != 0)
		set("seed", *seed, *seed != 0)
		set("sensor_dropout", *dropout, given["sensor-dropout"])
		set("bundle_version", *bundleVersion, *bundleVersion != "")
		body = map[string]any{"dataset_id": *dataset, "config": cfg}
		if *attempts != 0 {
			body["max_attempts"] = *attempts
		}
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "jobs: %v", err)
		return ExitFailure
	}
	switch sub {
	case "list":
		q := url.Values{}
		if *state != "" {
			q.Set("state", *state)
		}
		jobs, code, done := listRows[fleetapi.Job](ctx, env, c, "jobs list", "/v1/training/jobs", q, *limit, *asJSON)
		if done {
			return code
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tDATASET\tRIG TYPE\tSTATE\tATTEMPTS\tPROGRESS\tMODEL\tCREATED")
		for _, j := range jobs {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", j.ID, j.DatasetID, j.RigType, jobState(&j), j.Attempts, j.MaxAttempts,
				progressText(j.Progress), modelText(&j), fmtTime(&j.CreatedAt))
		}
		_ = tw.Flush()
		return ExitOK
	case "logs":
		path := "/v1/training/jobs/" + pos[0] + "/logs"
		raws, err := cloudclient.ListRaw(ctx, c, path, nil, *limit)
		if err != nil {
			return failed(env, "jobs logs "+pos[0], err)
		}
		logs, err := cloudclient.DecodeRows[fleetapi.LogLine](path, raws)
		if err != nil {
			return failed(env, "jobs logs "+pos[0], err)
		}
		var lines []json.RawMessage
		for i, l := range logs {
			raw := raws[i]
			if *attempt == 0 || l.Attempt == *attempt {
				lines = append(lines, raw)
				if !*asJSON {
					fmt.Fprintf(env.Stdout, "%s [%d] %s\n", l.At.UTC().Format("2006-01-02T15:04:05.000Z"), l.Attempt, l.Line)
				}
			}
		}
		if *asJSON {
			if lines == nil {
				lines = []json.RawMessage{}
			}
			return printJSON(env, lines)
		}
		return ExitOK
	}
	// get, create, cancel: one job.
	var raw json.RawMessage
	switch sub {
	case "get":
		err = c.Do(ctx, "GET", "/v1/training/jobs/"+pos[0], nil, nil, &raw)
	case "cancel":
		err = c.Do(ctx, "POST", "/v1/training/jobs/"+pos[0]+"/cancel", nil, nil, &raw)
	case "create":
		err = c.Do(ctx, "POST", "/v1/training/jobs", nil, body, &raw)
	}
	if err != nil {
		what := "jobs " + sub
		if len(pos) > 0 {
			what += " " + pos[0]
		}
		return failed(env, what, err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	var j fleetapi.Job
	if err := json.Unmarshal(raw, &j); err != nil {
		errorf(env, "jobs %s: %v", sub, err)
		return ExitFailure
	}
	switch sub {
	case "create":
		fmt.Fprintf(env.Stdout, "job %d %s: data set %d, rig type %s, config %s\n", j.ID, j.State, j.DatasetID, j.RigType, compactJSON(j.Config))
	case "cancel":
		fmt.Fprintf(env.Stdout, "job %d: %s\n", j.ID, jobState(&j))
	default:
		printJob(env.Stdout, &j)
	}
	return ExitOK
}

// jobState is the state, with a pending cancel.
func jobState(j *fleetapi.Job) string {
	if j.CancelRequested && !j.Finished() {
		return j.State + " (cancel requested)"
	}
	return j.State
}

func modelText(j *fleetapi.Job) string {
	if j.ModelVersion == nil {
		return "-"
	}
	return fmt.Sprintf("%s v%d", j.RigType, *j.ModelVersion)
}

// progressText is "phase epoch e/E" with the ETA while training.
func progressText(p *fleetapi.Progress) string {
	if p == nil {
		return "-"
	}
	s := p.Phase
	if p.Epochs > 0 {
		s += fmt.Sprintf(" %d/%d", p.Epoch, p.Epochs)
	}
	if p.Phase == "training" && p.ETASeconds > 0 {
		s += " eta " + (time.Duration(p.ETASeconds) * time.Second).String()
	}
	return s
}

func compactJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func printJob(w io.Writer, j *fleetapi.Job) {
	str := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	fmt.Fprintf(w, "job %d: %s\n", j.ID, jobState(j))
	fmt.Fprintf(w, "data set     %d (rig type %s)\n", j.DatasetID, j.RigType)
	fmt.Fprintf(w, "config       %s\n", compactJSON(j.Config))
	fmt.Fprintf(w, "attempts     %d of %d\n", j.Attempts, j.MaxAttempts)
	fmt.Fprintf(w, "worker       %s (backend %s)\n", str(j.Worker), str(j.Backend))
	fmt.Fprintf(w, "created      %s\n", fmtTime(&j.CreatedAt))
	fmt.Fprintf(w, "started      %s\n", fmtTime(j.StartedAt))
	fmt.Fprintf(w, "finished     %s\n", fmtTime(j.FinishedAt))
	if p := j.Progress; p != nil {
		fmt.Fprintf(w, "progress     %s, elapsed %s (at %s)\n", progressText(p),
			(time.Duration(p.ElapsedSeconds*1000) * time.Millisecond).String(), fmtTime(&p.UpdatedAt))
		if p.Epoch > 0 {
			fmt.Fprintf(w, "losses       train %.4f, validation %.4f, best epoch %d\n", p.TrainLoss, p.ValLoss, p.BestEpoch)
		}
		if len(p.Metrics) > 0 {
			fmt.Fprintf(w, "validation   %s\n", metricsText(p.Metrics))
		}
	}
	if j.Error != nil {
		fmt.Fprintf(w, "error        %s\n", *j.Error)
	}
	fmt.Fprintf(w, "model        %s\n", modelText(j))
	if a := j.Artifact; a != nil {
		fmt.Fprintf(w, "bundle       %.1f KB %s\n", float64(a.Bytes)/1024, a.Digest)
	}
}

// metricsText is "k=v k=v" in key order.
func metricsText(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%.4g", k, m[k])
	}
	return strings.Join(parts, " ")
}

const modelsUsage = `models list [--rig-type T] [--limit N] | models get [--rig-type T] VERSION
     | models compare [--rig-type T] A B
  --rig-type may be left out when the registry holds one rig type; every form takes --json and --context CTX`

func runModels(ctx context.Context, env Env, args []string) int {
	sub, npos, ok := pickSubcommand(env, args, modelsUsage, map[string]int{"list": 0, "get": 1, "compare": 2})
	if !ok {
		return ExitUsage
	}
	fs := newFlags(env, "models "+sub, modelsUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	rigType := fs.String("rig-type", "", "the rig type (default: the registry's only one)")
	limit := new(int) // list only: get and compare refuse --limit
	if sub == "list" {
		fs.IntVar(limit, "limit", 0, "most versions to list (0: all)")
	}
	pos, code, ok := subcommand(fs, args[1:], npos)
	if !ok {
		return code
	}
	for _, p := range pos {
		if n, err := strconv.Atoi(p); err != nil || n < 1 {
			errorf(env, "models %s: version %q is not a positive integer", sub, p)
			return ExitUsage
		}
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "models: %v", err)
		return ExitFailure
	}
	if sub == "list" {
		q := url.Values{}
		if *rigType != "" {
			q.Set("rig_type", *rigType)
		}
		models, code, done := listRows[fleetapi.ModelVersion](ctx, env, c, "models list", "/v1/models", q, *limit, *asJSON)
		if done {
			return code
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RIG TYPE\tVERSION\tBUNDLE\tJOB\tDATASET\tBACKEND\tMEAN F1\tCREATED")
		for _, m := range models {
			fmt.Fprintf(tw, "%s\t%d\t%s %s\t%d\t%d\t%s\t%s\t%s\n", m.RigType, m.Version, m.BundleName, m.BundleVersion, m.JobID,
				m.DatasetID, m.Backend, meanF1(m.Metrics), fmtTime(&m.CreatedAt))
		}
		_ = tw.Flush()
		return ExitOK
	}
	if *rigType == "" {
		// The registry's only rig type (newest versions first; one
		// page is enough to see whether there are several).
		ms, err := cloudclient.List[fleetapi.ModelVersion](ctx, c, "/v1/models", nil, 0)
		if err != nil {
			return failed(env, "models "+sub, err)
		}
		types := map[string]bool{}
		for _, m := range ms {
			types[m.RigType] = true
		}
		if len(types) != 1 {
			errorf(env, "models %s: the registry holds %d rig types: name one with --rig-type (rigctl models list)", sub, len(types))
			return ExitUsage
		}
		*rigType = ms[0].RigType
	}
	base := "/v1/models/" + url.PathEscape(*rigType)
	var raw json.RawMessage
	if sub == "get" {
		err = c.Do(ctx, "GET", base+"/versions/"+pos[0], nil, nil, &raw)
	} else {
		err = c.Do(ctx, "GET", base+"/compare", url.Values{"a": {pos[0]}, "b": {pos[1]}}, nil, &raw)
	}
	if err != nil {
		return failed(env, "models "+sub+" "+strings.Join(pos, " "), err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	w := env.Stdout
	if sub == "get" {
		var m fleetapi.ModelVersion
		if err := json.Unmarshal(raw, &m); err != nil {
			errorf(env, "models get: %v", err)
			return ExitFailure
		}
		fmt.Fprintf(w, "model %s version %d: bundle %s %s\n", m.RigType, m.Version, m.BundleName, m.BundleVersion)
		fmt.Fprintf(w, "job          %d\n", m.JobID)
		fmt.Fprintf(w, "data set     %d (files %s, archive %s)\n", m.DatasetID, m.DatasetDigest, m.ArchiveDigest)
		fmt.Fprintf(w, "code         %s (backend %s)\n", m.CodeVersion, m.Backend)
		cfg, _ := json.Marshal(m.Config)
		fmt.Fprintf(w, "config       %s\n", cfg)
		fmt.Fprintf(w, "bundle       %.1f KB %s\n", float64(m.Artifact.Bytes)/1024, m.Artifact.Digest)
		fmt.Fprintf(w, "created      %s\n\n", fmtTime(&m.CreatedAt))
		keys := make([]string, 0, len(m.Metrics))
		for k := range m.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "METRIC\tVALUE")
		for _, k := range keys {
			v := m.Metrics[k]
			if v == float64(int64(v)) {
				fmt.Fprintf(tw, "%s\t%.0f\n", k, v)
			} else {
				fmt.Fprintf(tw, "%s\t%.4f\n", k, v)
			}
		}
		_ = tw.Flush()
		return ExitOK
	}
	var cmp fleetapi.Comparison
	if err := json.Unmarshal(raw, &cmp); err != nil || cmp.A == nil || cmp.B == nil {
		errorf(env, "models compare: unexpected answer %s", raw)
		return ExitFailure
	}
	same := "different data sets"
	if cmp.SameDataset {
		same = "same data set"
	}
	fmt.Fprintf(w, "model %s: version %d (A, job %d, data set %d) against version %d (B, job %d, data set %d): %s\n\n", cmp.RigType,
		cmp.A.Version, cmp.A.JobID, cmp.A.DatasetID, cmp.B.Version, cmp.B.JobID, cmp.B.DatasetID, same)
	num := func(p *float64, sign bool) string {
		if p == nil {
			return "-"
		}
		f := "%.4f"
		if *p == float64(int64(*p)) {
			f = "%.0f" // counts and epochs
		}
		if sign {
			f = "%+" + f[1:]
		}
		return fmt.Sprintf(f, *p)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tA\tB\tDELTA")
	for _, d := range cmp.Metrics {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Metric, num(d.A, false), num(d.B, false), num(d.Delta, true))
	}
	_ = tw.Flush()
	if len(cmp.Config) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SETTING\tA\tB")
		for _, ch := range cmp.Config {
			a, _ := json.Marshal(ch.A)
			b, _ := json.Marshal(ch.B)
			fmt.Fprintf(tw, "%s\t%s\t%s\n", ch.Key, a, b)
		}
		_ = tw.Flush()
	} else {
		fmt.Fprintln(w, "\nsame training settings")
	}
	return ExitOK
}

// meanF1 is the mean of the *.macro_f1 metrics ("-" when none).
func meanF1(m map[string]float64) string {
	sum, n := 0.0, 0
	for k, v := range m {
		if strings.HasSuffix(k, ".macro_f1") {
			sum += v
			n++
		}
	}
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.4f", sum/float64(n))
}
