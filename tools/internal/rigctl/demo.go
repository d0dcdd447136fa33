package rigctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/mqttbroker"
	"github.com/hydrognn/hydrognn/tools/internal/publish"
	"github.com/hydrognn/hydrognn/tools/internal/scenario"
	"github.com/hydrognn/hydrognn/tools/internal/sim"
)

func init() {
	register("demo", "run what works so far end to end and say what it shows", runDemo)
}

// demoOptions are the demo's flags.
type demoOptions struct {
	configs string
	rig     string
	out     string
	broker  string
	cycles  int
	live    int
	seed    uint64
}

func runDemo(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "demo", "demo [flags]\n\nSimulates the ZeMA test rig with faults, writes a UCI-layout data set, streams it live over\nMQTT through each sensor's topic and codec, and prepares model windows from what arrives.")
	var o demoOptions
	fs.StringVar(&o.configs, "configs", "firmware-configs", "folder of firmware configs to validate")
	fs.StringVar(&o.rig, "rig", "firmware-configs/zema-testrig.yaml", "firmware config of the simulated rig")
	fs.StringVar(&o.out, "out", "", "folder for the simulated data set (default: a temporary folder, removed at the end)")
	fs.StringVar(&o.broker, "broker", "", "MQTT broker tcp://host:port (default: an embedded broker on a free port)")
	fs.IntVar(&o.cycles, "cycles", 9, "cycles to simulate into the data set (a multiple of 3: healthy, leaking pump, failing valve)")
	fs.IntVar(&o.live, "live-cycles", 2, "cycles to stream over MQTT")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if o.cycles < 3 || o.cycles%3 != 0 || o.live < 1 {
		errorf(env, "demo: --cycles must be a positive multiple of 3 and --live-cycles at least 1")
		return ExitUsage
	}
	if err := demo(ctx, env, o); err != nil {
		errorf(env, "demo: %v", err)
		return ExitFailure
	}
	return ExitOK
}

func demo(ctx context.Context, env Env, o demoOptions) error {
	w := env.Stdout
	start := time.Now()
	fmt.Fprintln(w, "hydrognn demo: what works today, end to end")
	fmt.Fprintln(w)

	// 1. Rig descriptions.
	fmt.Fprintf(w, "1. Rig descriptions (%s/): strict validation, one digest each\n", o.configs)
	files, err := filepath.Glob(filepath.Join(o.configs, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no firmware configs in %s (run from the repository root, or set --configs)", o.configs)
	}
	for _, f := range files {
		cfg, err := rig.Load(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   %-34s %-14s %2d components, %2d connections, %2d sensors, %d targets\n",
			filepath.Base(f), cfg.RigType, len(cfg.Components), len(cfg.Connections), len(cfg.Sensors), len(cfg.Targets))
	}
	cfg, err := rig.Load(o.rig)
	if err != nil {
		return err
	}

	// 2. Simulated data set with faults.
	third := o.cycles / 3
	scen, err := demoScenario(cfg, third)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n2. Simulating %s for %d cycles: healthy (1-%d), severe internal pump leakage (%d-%d), valve close to failure (%d-%d)\n",
		cfg.RigType, o.cycles, third, third+1, 2*third, 2*third+1, o.cycles)
	s, err := sim.New(cfg, sim.Options{Seed: o.seed, Scenario: scen, Logger: discardLogger()})
	if err != nil {
		return err
	}
	t0 := time.Now()
	set, err := s.Dataset(ctx, sim.DatasetOptions{Cycles: o.cycles, GridHz: 1})
	if err != nil {
		return err
	}
	simTime := time.Since(t0)
	dir := o.out
	if dir == "" {
		dir, err = os.MkdirTemp("", "hydrognn-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	if err := uci.Write(dir, set); err != nil {
		return err
	}
	fmt.Fprintf(w, "   %d cycles x %d sensors simulated in %s (%.0fx real time); written in the UCI layout to %s\n",
		o.cycles, len(set.Sensors), simTime.Round(time.Millisecond),
		float64(o.cycles)*cfg.Operation.CycleS/simTime.Seconds(), dir)
	if err := demoTable(w, cfg, set, third); err != nil {
		return err
	}
	fmt.Fprintln(w, "   Leakage lowers the delivered flow FS1 and the efficiency factor SE at the same load; the failing")
	fmt.Fprintln(w, "   valve switches late, which shows in the working pressure PS2 around each switching.")

	// Normalisation statistics from the simulated set, computed by the
	// shared preprocessing (as training does).
	spec, err := demoSpec(cfg, set)
	if err != nil {
		return err
	}

	// 3. Live over MQTT.
	broker, stop, err := demoBroker(o.broker)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(w, "\n3. Streaming %d cycles live over MQTT (%s) through each sensor's topic and codec\n", o.live, broker)
	got, stats, err := demoStream(ctx, cfg, broker, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   published %d readings in %d messages (%.0f readings/s); received and decoded %d readings on %d topics\n",
		stats.Readings, stats.Messages, stats.ReadingsPerSecond(), got.total(), len(got.topics))
	fmt.Fprintf(w, "   sequence gaps: %d (every reading arrived; codecs: %s)\n", got.gaps(), strings.Join(got.codecNames(cfg), ", "))

	// 4. Model windows from the live readings.
	fmt.Fprintf(w, "\n4. Preparing model windows from the received readings (shared/prep, the same code training uses)\n")
	if err := demoWindows(w, spec, got, cfg); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nDone in %s. Next: rig-agent diagnosing such readings with the shipped zema-testrig bundle\n", time.Since(start).Round(time.Second/10))
	fmt.Fprintln(w, "(docs/agent.md), training a bundle with rigctl train (docs/model.md), a fleet in rig-cloud (docs/cloud.md).")
	return nil
}

// demoScenario: healthy, then pump leakage 2, then valve 73 %, in thirds.
func demoScenario(cfg *rig.Config, third int) (*scenario.Scenario, error) {
	yaml := fmt.Sprintf(`faults:
  - {kind: leakage, component: pump_mp1, value: 2, cycles: [%d, %d]}
  - {kind: valve_condition, component: valve_v10, value: 73, cycles: [%d]}
`, third+1, 2*third, 2*third+1)
	sc, err := scenario.Parse("demo scenario", []byte(yaml))
	if err != nil {
		return nil, err
	}
	if err := sc.Validate(cfg); err != nil {
		return nil, fmt.Errorf("the demo needs the ZeMA test rig's components (--rig): %w", err)
	}
	return sc, nil
}

func demoTable(w io.Writer, cfg *rig.Config, set *uci.Set, third int) error {
	cols := []string{"FS1", "SE", "PS2", "TS1"}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "   cycles\t"
	for _, t := range cfg.Targets {
		header += t.Name + "\t"
	}
	for _, c := range cols {
		header += c + " (" + cfg.Sensor(c).Unit + ")\t"
	}
	fmt.Fprintln(tw, header)
	for g := range 3 {
		line := fmt.Sprintf("   %d-%d\t", g*third+1, (g+1)*third)
		for ti := range cfg.Targets {
			line += fmt.Sprintf("%g\t", set.Profile[(g+1)*third-1][ti])
		}
		for _, c := range cols {
			rows := set.Sensor(c)
			if rows == nil {
				return fmt.Errorf("simulated set lacks sensor %s", c)
			}
			var sum float64
			var n int
			for cy := g * third; cy < (g+1)*third; cy++ {
				for _, x := range rows[cy][10:] { // after the 9 s idle phase
					sum += x
					n++
				}
			}
			line += fmt.Sprintf("%.2f\t", sum/float64(n))
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func demoSpec(cfg *rig.Config, set *uci.Set) (prep.Spec, error) {
	spec, err := prep.SpecFromConfig(cfg, 1, int(cfg.Operation.CycleS))
	if err != nil {
		return prep.Spec{}, err
	}
	acc, err := prep.NewStatsAccumulator(spec)
	if err != nil {
		return prep.Spec{}, err
	}
	for cy := 0; cy < set.Cycles; cy++ {
		grid := make([][]float64, len(spec.Sensors))
		for i, s := range spec.Sensors {
			grid[i] = set.Sensor(s.ID)[cy]
		}
		win, err := prep.FromGrid(spec, grid)
		if err != nil {
			return prep.Spec{}, err
		}
		if err := acc.Add(win); err != nil {
			return prep.Spec{}, err
		}
	}
	return acc.Apply(spec)
}

// demoBroker returns the broker URL to use and a function that stops the
// embedded broker, if one was started.
func demoBroker(url string) (string, func(), error) {
	if url != "" {
		return url, func() {}, nil
	}
	b, err := mqttbroker.Start(mqttbroker.Options{Logger: discardLogger()})
	if err != nil {
		return "", nil, fmt.Errorf("embedded broker: %w", err)
	}
	return b.URL() + " (embedded mochi-mqtt)", func() { _ = b.Close() }, nil
}

// received collects decoded readings per sensor.
type received struct {
	mu       sync.Mutex
	topics   map[string]int
	bySensor map[string][]reading.Reading
	errs     []error
	start    time.Time
}

func (r *received) total() int {
	n := 0
	for _, rs := range r.bySensor {
		n += len(rs)
	}
	return n
}

// gaps counts readings missing by sequence number.
func (r *received) gaps() int {
	n := 0
	for _, rs := range r.bySensor {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Seq < rs[j].Seq })
		for i := 1; i < len(rs); i++ {
			if d := rs[i].Seq - rs[i-1].Seq; d > 1 {
				n += int(d - 1)
			}
		}
	}
	return n
}

func (r *received) codecNames(cfg *rig.Config) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range cfg.Sensors {
		if !seen[s.MQTT.Codec] {
			seen[s.MQTT.Codec] = true
			out = append(out, s.MQTT.Codec)
		}
	}
	return out
}

func demoStream(ctx context.Context, cfg *rig.Config, broker string, o demoOptions) (*received, publish.Stats, error) {
	url, _, _ := strings.Cut(broker, " ")
	got := &received{topics: map[string]int{}, bySensor: map[string][]reading.Reading{}}
	names := make([]string, len(cfg.Sensors))
	for i, s := range cfg.Sensors {
		names[i] = s.ID
	}
	nm := codec.NewNames(names...)
	codecs := map[string]codec.Codec{}
	filters := map[string]byte{}
	for _, s := range cfg.Sensors {
		c, err := codec.Lookup(s.MQTT.Codec)
		if err != nil {
			return nil, publish.Stats{}, err
		}
		codecs[s.MQTT.Topic] = c
		filters[s.MQTT.Topic] = 1
	}
	// Subscribe first, with a persistent session, so nothing published is
	// missed.
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("hydrognn-demo-sub-%d", os.Getpid())).
		SetCleanSession(true).SetOrderMatters(false))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, publish.Stats{}, fmt.Errorf("connect to %s: %v", url, tok.Error())
	}
	defer sub.Disconnect(250)
	tok := sub.SubscribeMultiple(filters, func(_ mqtt.Client, m mqtt.Message) {
		c := codecs[m.Topic()]
		rs, err := c.Decode(codec.Binding{Topic: m.Topic(), Names: nm, Now: time.Now()}, m.Payload(), nil)
		got.mu.Lock()
		defer got.mu.Unlock()
		if err != nil {
			got.errs = append(got.errs, err)
			return
		}
		got.topics[m.Topic()]++
		for _, r := range rs {
			got.bySensor[r.Sensor] = append(got.bySensor[r.Sensor], r)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, publish.Stats{}, fmt.Errorf("subscribe: %v", tok.Error())
	}

	s, err := sim.New(cfg, sim.Options{Seed: o.seed + 1, Logger: discardLogger(),
		Duration: time.Duration(float64(o.live) * cfg.Operation.CycleS * float64(time.Second)),
		Scenario: mustScenario(cfg)})
	if err != nil {
		return nil, publish.Stats{}, err
	}
	pub, err := publish.New(cfg, publish.Options{Broker: url, ClientID: fmt.Sprintf("hydrognn-demo-pub-%d", os.Getpid()),
		Speed: 0, FlushInterval: 100 * time.Millisecond, Logger: discardLogger()})
	if err != nil {
		return nil, publish.Stats{}, err
	}
	defer pub.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stats, err := pub.Run(ctx, s, start)
	if err != nil {
		return nil, stats, err
	}
	if stats.Errors > 0 {
		return nil, stats, fmt.Errorf("%d publish errors", stats.Errors)
	}
	// Wait for the subscriber to drain.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got.mu.Lock()
		n := got.total()
		errs := errors.Join(got.errs...)
		got.mu.Unlock()
		if errs != nil {
			return nil, stats, fmt.Errorf("decode: %w", errs)
		}
		if uint64(n) >= stats.Readings || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	got.start = start
	return got, stats, nil
}

// mustScenario: a dropout of the cooler-outlet sensor TS4 in the second
// live cycle, to show masking.
func mustScenario(cfg *rig.Config) *scenario.Scenario {
	sc, err := scenario.Parse("demo live scenario", []byte("faults:\n  - {kind: sensor_dropout, sensor: TS4, cycles: [2]}\n"))
	if err != nil || sc.Validate(cfg) != nil {
		return nil
	}
	return sc
}

func demoWindows(w io.Writer, spec prep.Spec, got *received, cfg *rig.Config) error {
	rsp, err := prep.NewResampler(spec)
	if err != nil {
		return err
	}
	var all []reading.Reading
	for _, rs := range got.bySensor {
		all = append(all, rs...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	cycle := time.Duration(cfg.Operation.CycleS * float64(time.Second))
	for k := 0; ; k++ {
		ws := got.start.Add(time.Duration(k) * cycle)
		if len(all) == 0 || !ws.Before(all[len(all)-1].Time) {
			break
		}
		win := rsp.Resample(ws, all)
		var present, cells float64
		for _, m := range win.Mask {
			present += float64(m)
			cells++
		}
		fmt.Fprintf(w, "   window %d (%s, %d steps x %d sensors): coverage %.1f%%, %d readings used",
			k+1, ws.Format("15:04:05"), win.Steps, len(spec.Sensors), 100*present/cells, win.Counts.Used)
		if len(win.Missing) > 0 {
			fmt.Fprintf(w, ", missing %v", win.Missing)
		}
		if len(win.Stale) > 0 {
			fmt.Fprintf(w, ", stale %v", win.Stale)
		}
		fmt.Fprintln(w)
		if len(win.Missing) > 0 || len(win.Stale) > 0 {
			fmt.Fprintln(w, "     (masked for the model and named in the diagnosis, never zero-filled silently)")
		}
		if k > 1000 {
			return errors.New("too many windows")
		}
	}
	return nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
