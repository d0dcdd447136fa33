// Package rigsim is the command line of the rigsim binary: flags, loading
// of the firmware config, scenario and calibration, and the run of each
// subcommand (dataset, publish, sensors, compare). The physics lives in
// package sim; cmd/rigsim/main.go only wires signals and exit codes.
package rigsim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/publish"
	"github.com/hydrognn/hydrognn/tools/internal/scenario"
	"github.com/hydrognn/hydrognn/tools/internal/sim"
)

// A Sim is what the publisher streams from.
var _ publish.Source = (*sim.Sim)(nil)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Env is what Main needs from the process.
type Env struct {
	Stdout, Stderr io.Writer
	Version        string
	// Getenv reads the environment (nil: os.Getenv).
	Getenv func(string) string
	// Now is the clock for the default stream start (nil: time.Now).
	Now func() time.Time
}

const usage = `rigsim simulates a hydraulic rig from its firmware config.

Usage:
  rigsim dataset --rig FILE --out DIR [--cycles N] [--seed S] [--scenario FILE | --random] [--grid-hz HZ]
  rigsim publish --rig FILE --broker URL [--speed X] [--duration D] [--seed S] [--scenario FILE | --random --cycles N]
  rigsim sensors --rig FILE     print what each sensor measures in the simulation
  rigsim sensors --rules        print every sensor mapping the simulator knows (markdown)
  rigsim compare --rig FILE --real DIR --sim DIR [--where target=value,...]   compare per-step means of two UCI-layout folders
  rigsim version

Run "rigsim COMMAND -h" for a command's flags. See docs/simulator.md.
`

// Main runs rigsim with args (without the program name) and returns the
// exit code.
func Main(ctx context.Context, env Env, args []string) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ExitUsage
	}
	cmds := map[string]func(context.Context, Env, []string) int{
		"dataset": runDataset,
		"publish": runPublish,
		"sensors": runSensors,
		"compare": runCompare,
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	case "version", "--version":
		fmt.Fprintln(env.Stdout, "rigsim", env.Version)
		return ExitOK
	}
	run, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "rigsim: unknown command %q\n\n%s", args[0], usage)
		return ExitUsage
	}
	return run(ctx, env, args[1:])
}

func errorf(env Env, cmd, format string, args ...any) {
	fmt.Fprintf(env.Stderr, "rigsim %s: %s\n", cmd, fmt.Sprintf(format, args...))
}

func newFlags(env Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("rigsim "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: rigsim %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; ok is false when the command must stop with code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %q\n", fs.Args())
		return ExitUsage, false
	}
	return 0, true
}

// common holds the flags shared by dataset and publish.
type common struct {
	rig, scenario, calibration, writeScenario string
	random                                    bool
	seed                                      uint64
	cycles                                    int
	windowS                                   float64
	verbose                                   bool
	// publishing makes build refuse (errUsage) a --random schedule
	// shorter than the run: its --cycles N cycles must cover --duration.
	publishing bool
}

// errUsage marks a build error that is a usage error (exit 2).
var errUsage = errors.New("usage")

func (c *common) register(fs *flag.FlagSet, cyclesHelp string) {
	fs.StringVar(&c.rig, "rig", "", "firmware config `FILE` (required)")
	fs.StringVar(&c.scenario, "scenario", "", "fault schedule `FILE` (YAML, see docs/simulator.md); default: healthy")
	fs.BoolVar(&c.random, "random", false, "draw a UCI-like random schedule of the config's target classes")
	fs.StringVar(&c.writeScenario, "write-scenario", "", "also write the schedule used (e.g. the random one) to `FILE`")
	fs.StringVar(&c.calibration, "calibration", "", "calibration `FILE` replacing the built-in one for the rig type")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed: the same seed gives the same output")
	fs.IntVar(&c.cycles, "cycles", 0, cyclesHelp)
	fs.Float64Var(&c.windowS, "window-s", 0, "window length in seconds that stands for a cycle on rigs without a load cycle (default 60)")
	fs.BoolVar(&c.verbose, "v", false, "log debug details")
}

// build loads everything and returns the simulator.
func (c *common) build(env Env, cmd string, duration time.Duration) (*rig.Config, *sim.Sim, error) {
	if c.rig == "" {
		return nil, nil, errors.New("--rig FILE is required")
	}
	if c.scenario != "" && c.random {
		return nil, nil, errors.New("give --scenario or --random, not both")
	}
	cfg, err := rig.Load(c.rig)
	if err != nil {
		return nil, nil, err
	}
	level := slog.LevelInfo
	if c.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	opts := sim.Options{Seed: c.seed, WindowS: c.windowS, Duration: duration, Logger: log}
	if c.calibration != "" {
		cal, err := sim.LoadCalibration(c.calibration)
		if err != nil {
			return nil, nil, err
		}
		opts.Calibration = cal
	}
	switch {
	case c.scenario != "":
		sc, err := scenario.Load(c.scenario)
		if err != nil {
			return nil, nil, err
		}
		opts.Scenario = sc
	case c.random:
		n := c.cycles
		if n <= 0 {
			return nil, nil, errors.New("--random needs --cycles N (the span to draw conditions for)")
		}
		sc, err := scenario.Random(cfg, scenario.RandomOptions{Cycles: n, Seed: c.seed})
		if err != nil {
			return nil, nil, err
		}
		opts.Scenario = sc
	}
	s, err := sim.New(cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	if c.random && c.publishing {
		// The drawn schedule ends after its last cycle; the rig would then
		// publish healthy conditions without saying so.
		span := time.Duration(float64(c.cycles) * s.WindowS() * float64(time.Second))
		if duration <= 0 || duration > span {
			return nil, nil, fmt.Errorf("%w: --random --cycles %d draws conditions for %d cycles of %g s (%s): give --duration D of at most that, or more --cycles",
				errUsage, c.cycles, c.cycles, s.WindowS(), span)
		}
	}
	if c.writeScenario != "" {
		sc := opts.Scenario
		if sc == nil {
			sc = &scenario.Scenario{Faults: []scenario.Fault{}}
		}
		data, err := sc.Marshal()
		if err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(c.writeScenario, data, 0o644); err != nil {
			return nil, nil, fmt.Errorf("write scenario: %w", err)
		}
	}
	return cfg, s, nil
}

func runDataset(ctx context.Context, env Env, args []string) int {
	const cmd = "dataset"
	fs := newFlags(env, cmd, "dataset --rig FILE --out DIR [--cycles N] [--seed S] [--scenario FILE | --random] [--grid-hz HZ]")
	var c common
	c.register(fs, "number of cycles (or windows) to simulate (default 100)")
	out := fs.String("out", "", "output `DIR` for the UCI-layout files (required)")
	grid := fs.Float64("grid-hz", 0, "write every sensor on a grid of this rate by block means (1: like the UCI 1 Hz copy); 0: native rates")
	quiet := fs.Bool("q", false, "no progress line")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *out == "" {
		errorf(env, cmd, "--out DIR is required")
		return ExitUsage
	}
	if c.cycles == 0 {
		c.cycles = 100
	}
	if c.cycles < 0 {
		errorf(env, cmd, "--cycles must be > 0, got %d", c.cycles)
		return ExitUsage
	}
	_, s, err := c.build(env, cmd, 0)
	if err != nil {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	start := time.Now()
	last := time.Time{}
	progress := func(done, total int) {
		if *quiet {
			return
		}
		now := time.Now()
		if done < total && now.Sub(last) < 200*time.Millisecond {
			return
		}
		last = now
		el := now.Sub(start).Seconds()
		rate := float64(done) * s.WindowS() / math.Max(el, 1e-9)
		fmt.Fprintf(env.Stderr, "\rrigsim: cycle %d/%d (%3.0f%%), %.0fx real time", done, total, 100*float64(done)/float64(total), rate)
		if done == total {
			fmt.Fprintln(env.Stderr)
		}
	}
	set, err := s.Dataset(ctx, sim.DatasetOptions{Cycles: c.cycles, GridHz: *grid, Progress: progress})
	if err != nil {
		if !*quiet {
			fmt.Fprintln(env.Stderr)
		}
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	if err := uci.Write(*out, set); err != nil {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "wrote %d cycles of %d sensors to %s (%.1f s)\n", set.Cycles, len(set.Sensors), *out, time.Since(start).Seconds())
	return ExitOK
}

func runPublish(ctx context.Context, env Env, args []string) int {
	const cmd = "publish"
	fs := newFlags(env, cmd, "publish --rig FILE --broker URL [--speed X] [--duration D] [--seed S] [--scenario FILE | --random --cycles N]")
	var c common
	c.register(fs, "with --random: the number of cycles to draw conditions for; they must cover --duration")
	broker := fs.String("broker", "", "MQTT broker `URL`, e.g. tcp://127.0.0.1:1883 (required)")
	speed := fs.Float64("speed", 1, "pacing: 1 real time, N N-fold faster, 0 as fast as the broker acknowledges")
	duration := fs.Duration("duration", 0, "simulated time to publish (0: until interrupted)")
	user := fs.String("username", "", "MQTT user name (the password is read from $MQTT_PASSWORD)")
	clientID := fs.String("client-id", "", "MQTT client id (default: rigsim- and random digits)")
	startFlag := fs.String("start", "", "timestamp of the first reading, RFC 3339 (default: now)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *broker == "" {
		errorf(env, cmd, "--broker URL is required")
		return ExitUsage
	}
	if !c.random && isSet(fs, "cycles") {
		errorf(env, cmd, "--cycles N only sets the span --random draws conditions for; give --random too, or bound the run with --duration D")
		return ExitUsage
	}
	if *speed < 0 || *duration < 0 {
		errorf(env, cmd, "--speed and --duration must not be negative")
		return ExitUsage
	}
	start := env.Now().UTC().Truncate(time.Millisecond)
	if *startFlag != "" {
		t, err := time.Parse(time.RFC3339Nano, *startFlag)
		if err != nil {
			errorf(env, cmd, "--start %q: want RFC 3339, e.g. 2026-01-02T15:04:05Z", *startFlag)
			return ExitUsage
		}
		start = t
	}
	c.publishing = true
	cfg, s, err := c.build(env, cmd, *duration)
	if errors.Is(err, errUsage) {
		errorf(env, cmd, "%s", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return ExitUsage
	}
	if err != nil {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	p, err := publish.New(cfg, publish.Options{Broker: *broker, ClientID: *clientID, Username: *user,
		Password: env.Getenv("MQTT_PASSWORD"), Speed: *speed, Logger: log})
	if err != nil {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	defer p.Close()
	st, err := p.Run(ctx, s, start)
	fmt.Fprintf(env.Stdout, "published %d readings in %d messages (%d bytes) over %s; %d messages failed, %d unconfirmed, %d readings not delivered; connection lost %d times\n",
		st.Readings, st.Messages, st.Bytes, st.Elapsed.Round(time.Millisecond), st.Errors, st.Unconfirmed, st.FailedReadings, st.ConnectionLost)
	if err != nil && !errors.Is(err, context.Canceled) {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	// Run returns nil when publishes failed or stayed unacknowledged: it
	// counts them in st. Readings were lost, so the run failed.
	if st.Errors > 0 || st.Unconfirmed > 0 || st.FailedReadings > 0 {
		errorf(env, cmd, "%d messages failed and %d stayed unconfirmed by the broker: %d readings not delivered", st.Errors, st.Unconfirmed, st.FailedReadings)
		return ExitFailure
	}
	return ExitOK
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func runSensors(ctx context.Context, env Env, args []string) int {
	const cmd = "sensors"
	fs := newFlags(env, cmd, "sensors --rig FILE | --rules")
	rigFile := fs.String("rig", "", "firmware config `FILE`")
	rules := fs.Bool("rules", false, "print every mapping the simulator knows, as a markdown table")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *rules {
		fmt.Fprintln(env.Stdout, "| component type | sensor kind | ports | quantity | simulator unit |")
		fmt.Fprintln(env.Stdout, "|---|---|---|---|---|")
		for _, r := range sim.Rules {
			types := make([]string, len(r.Types))
			for i, t := range r.Types {
				types[i] = string(t)
			}
			fmt.Fprintf(env.Stdout, "| %s | %s | %s | %s | %s |\n", strings.Join(types, ", "), r.Kind, r.PortList(), r.Quantity, r.Unit)
		}
		return ExitOK
	}
	if *rigFile == "" {
		errorf(env, cmd, "give --rig FILE or --rules")
		return ExitUsage
	}
	cfg, err := rig.Load(*rigFile)
	if err != nil {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	s, err := sim.New(cfg, sim.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SENSOR\tCOMPONENT\tTYPE\tKIND\tPORT\tRATE\tNOISE SD\tQUANTITY")
	for _, m := range s.Mapping() {
		port := string(m.Port)
		if port == "" {
			port = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%g Hz\t%.3g %s\t%s\n", m.Sensor, m.Component, m.Type, m.Kind, port, m.RateHz, m.NoiseStd, m.Unit, m.Quantity)
	}
	tw.Flush()
	return ExitOK
}

func runCompare(ctx context.Context, env Env, args []string) int {
	const cmd = "compare"
	fs := newFlags(env, cmd, "compare --rig FILE --real DIR --sim DIR [--sensors A,B,...]")
	rigFile := fs.String("rig", "", "firmware config `FILE` (its load steps split the cycle)")
	realDir := fs.String("real", "", "UCI-layout `DIR` of real data")
	simDir := fs.String("sim", "", "UCI-layout `DIR` of simulated data")
	sensors := fs.String("sensors", "", "comma-separated sensor ids (default: the config's active sensors)")
	where := fs.String("where", "", "compare only cycles whose labels match, e.g. cooler=100,valve=100 (target names of the config)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *rigFile == "" || *realDir == "" || *simDir == "" {
		errorf(env, cmd, "--rig, --real and --sim are required")
		return ExitUsage
	}
	cfg, err := rig.Load(*rigFile)
	if err != nil {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	// Both folders are in the UCI layout, so their files are named by
	// rig.Sensor.UCIName (the sensor id, whatever column: says), the rule
	// rigsim dataset writes and the trainer reads by.
	var ids []string
	if *sensors != "" {
		ids = strings.Split(*sensors, ",")
	} else {
		for _, sn := range cfg.ActiveSensors() {
			ids = append(ids, sn.UCIName())
		}
	}
	secs := int(math.Round(cfg.Operation.CycleS))
	if secs <= 0 {
		errorf(env, cmd, "rig %s has no load cycle to compare over", cfg.RigType)
		return ExitFailure
	}
	filter, err := parseWhere(cfg, *where)
	if err != nil {
		errorf(env, cmd, "--where: %v", err)
		return ExitUsage
	}
	targets := 0
	if len(filter) > 0 {
		targets = len(cfg.Targets)
	}
	realSet, err := uci.Read(*realDir, ids, targets)
	if err != nil {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	simSet, err := uci.Read(*simDir, ids, targets)
	if err != nil {
		errorf(env, cmd, "%v", err)
		return ExitFailure
	}
	realSet, simSet = selectCycles(realSet, filter), selectCycles(simSet, filter)
	if realSet.Cycles == 0 || simSet.Cycles == 0 {
		errorf(env, cmd, "no cycles match --where %s (real %d, sim %d)", *where, realSet.Cycles, simSet.Cycles)
		return ExitFailure
	}
	rp, err := sim.MeanProfile(realSet, secs)
	if err != nil {
		errorf(env, cmd, "real: %v", err)
		return ExitFailure
	}
	sp, err := sim.MeanProfile(simSet, secs)
	if err != nil {
		errorf(env, cmd, "sim: %v", err)
		return ExitFailure
	}
	// Segments: the load steps, each without its first second (the
	// switching transient).
	steps := slices.Clone(cfg.Operation.LoadSteps)
	type seg struct {
		name     string
		from, to int
	}
	var segs []seg
	for i, st := range steps {
		end := float64(secs)
		if i+1 < len(steps) {
			end = steps[i+1].AtS
		}
		name := fmt.Sprintf("%g-%gs", st.AtS, end)
		if st.Idle {
			name += " idle"
		} else {
			name += fmt.Sprintf(" %g bar", st.LoadBar)
		}
		segs = append(segs, seg{name, int(st.AtS) + 1, int(end)})
	}
	if len(segs) == 0 {
		segs = []seg{{"cycle", 0, secs}}
	}
	fmt.Fprintf(env.Stdout, "Per-second cycle means averaged over each load step (its first second left out), real (%d cycles) / simulated (%d cycles); range: min-max of the 1 Hz cycle-mean profile.\n\n",
		realSet.Cycles, simSet.Cycles)
	fmt.Fprint(env.Stdout, "| sensor |")
	for _, g := range segs {
		fmt.Fprintf(env.Stdout, " %s |", g.name)
	}
	fmt.Fprintln(env.Stdout, " range real | range sim |")
	fmt.Fprint(env.Stdout, "|---|")
	for range segs {
		fmt.Fprint(env.Stdout, "---|")
	}
	fmt.Fprintln(env.Stdout, "---|---|")
	mean := func(v []float64, a, b int) float64 {
		s := 0.0
		for _, x := range v[a:b] {
			s += x
		}
		return s / float64(b-a)
	}
	span := func(v []float64) string {
		return num(slices.Min(v)) + "-" + num(slices.Max(v))
	}
	for _, id := range ids {
		r, s := rp[id], sp[id]
		fmt.Fprintf(env.Stdout, "| %s |", id)
		for _, g := range segs {
			fmt.Fprintf(env.Stdout, " %s / %s |", num(mean(r, g.from, g.to)), num(mean(s, g.from, g.to)))
		}
		fmt.Fprintf(env.Stdout, " %s | %s |\n", span(r), span(s))
	}
	return ExitOK
}

// parseWhere parses "name=value,..." into profile column -> value.
func parseWhere(cfg *rig.Config, s string) (map[int]float64, error) {
	out := map[int]float64{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want name=value", kv)
		}
		col := -1
		for i, t := range cfg.Targets {
			if t.Name == name {
				col = i
			}
		}
		if col < 0 {
			return nil, fmt.Errorf("%q is not a target of rig %s", name, cfg.RigType)
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %q is not a number", name, v)
		}
		out[col] = x
	}
	return out, nil
}

// selectCycles keeps the cycles whose profile matches filter.
func selectCycles(set *uci.Set, filter map[int]float64) *uci.Set {
	if len(filter) == 0 {
		return set
	}
	out := &uci.Set{Sensors: set.Sensors, Data: make([][][]float64, len(set.Sensors))}
	for c := range set.Cycles {
		ok := true
		for col, v := range filter {
			if set.Profile[c][col] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		out.Cycles++
		for i := range set.Sensors {
			out.Data[i] = append(out.Data[i], set.Data[i][c])
		}
	}
	return out
}

// num formats a mean with three significant digits (at least one decimal
// below 100).
func num(x float64) string {
	switch a := math.Abs(x); {
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}
