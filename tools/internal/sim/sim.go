package sim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/scenario"
)

// Defaults of Options fields whose zero value means "default".
const (
	DefaultStepHz       = 1000
	DefaultWindowS      = 60
	DefaultWarmupCycles = 4
	DefaultStableCycles = 3
	DefaultStableDriftK = 0.25
	// MaxStepHz bounds the internal rate (and so the fastest sensor).
	MaxStepHz = 100_000
)

// ErrConfig is matched by errors.Is on every error New returns because the
// config, calibration or scenario cannot be simulated.
var ErrConfig = errors.New("cannot simulate this rig")

// Options configure a Sim. Zero values take the defaults given.
type Options struct {
	// Seed drives every random draw (sensor noise, vibration, spikes):
	// the same config, options and seed give identical output.
	Seed uint64
	// Scenario is the fault schedule (nil: healthy throughout). It must
	// be valid for the config (scenario.Validate).
	Scenario *scenario.Scenario
	// Calibration adjusts physical parameters (nil: the built-in one for
	// the rig type, if any; see Builtin).
	Calibration *Calibration
	// StepHz is the rate of the internal time step (0: 1000). It must be
	// at least the fastest sensor's rate.
	StepHz float64
	// WindowS is the length of a "cycle" for rigs without a load cycle
	// (Operation.CycleS 0; 0: 60 s). For rigs with a cycle it must be 0 or
	// equal to the cycle.
	WindowS float64
	// WarmupCycles is the number of cycles run before recording starts,
	// with the first cycle's conditions (0: 4; negative: none). From three
	// cycles on, the first two or three find the thermal equilibrium (see
	// warmup) and the rig starts warm; with fewer it starts cold, at the
	// ambient temperature.
	WarmupCycles int
	// StableCycles: the stable flag is 1 for this many cycles from a
	// change of conditions (0: 3).
	StableCycles int
	// StableDriftK: the stable flag is also 1 while the tank temperature
	// drifts by more than this over a cycle (0: 0.25 K).
	StableDriftK float64
	// Duration bounds Stream in simulated time (0: until ctx is done).
	Duration time.Duration
	// Logger receives progress and warnings (nil: slog.Default()).
	Logger *slog.Logger
}

// Sim simulates one rig. It is single-use and not safe for concurrent use:
// call either Cycles or Stream, once or several times in a row (the
// simulation continues where the last call stopped).
type Sim struct {
	cfg     *rig.Config
	opts    Options
	log     *slog.Logger
	cal     *Calibration // the calibration in use (built-in or given)
	pl      *plant
	sol     *solver
	prog    *program
	sensors []*channel
	targets []targetLabel
	pumpRng []*rand.Rand
	faults  []scenario.Fault
	binds   []faultBind

	stepHz      float64
	windowS     float64
	stepsPerWin int64
	thermalN    int64 // steps per thermal tick
	k           int64 // steps since the start of recording
	stepIdx     int   // current load step

	// per-cycle bookkeeping
	lastChange int         // cycle of the last change of conditions
	changed    bool        // conditions changed in the current cycle
	acc        *labelTally // the current cycle's labels (Cycles only)
	condPrev   []float64
	condNow    []float64
	started    bool
	// warmErr is the error that stopped the warm-up (nil: none, or not
	// run yet): a Sim whose warm-up did not finish stays unusable, and
	// every later Cycles and Stream call returns it.
	warmErr error
	// cutErr is set when a Cycles call stopped inside a cycle: later
	// Cycles calls would start mid-window, so they return it.
	cutErr error
}

// channel is one simulated sensor.
type channel struct {
	s            rig.Sensor
	rule         *Rule
	q            func() float64
	scale, off   float64
	sigma        float64
	rate         float64
	m            int64 // samples taken since the start of recording
	next         int64 // step of the next sample
	noise, spike *rand.Rand
	lagged       bool // temperature sensors follow with a lag
	lag          float64
	lagInit      bool
	// faults active now
	drift, offset   float64
	driftFrom       float64 // s
	hasDrift        bool
	stuck           bool
	stuckVal        float64
	stuckSet        bool
	dropout         bool
	spikeAmp, spkHz float64
}

// faultBind applies one scenario fault.
type faultBind struct {
	f   *scenario.Fault
	set func(v float64)
}

// targetLabel computes one label.
type targetLabel struct {
	t    *rig.Target
	kind string // "condition", "stable", "anomaly", "changepoint"
	get  func() float64
}

// New builds the simulation of cfg. It fails, wrapping ErrConfig, when a
// component, connection, sensor, target or scenario entry cannot be
// simulated, naming it and saying why.
func New(cfg *rig.Config, opts Options) (*Sim, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil config", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s := &Sim{cfg: cfg, opts: opts, log: opts.Logger, stepIdx: -2}
	if s.log == nil {
		s.log = slog.Default()
	}
	cal := opts.Calibration
	if cal == nil {
		if b, ok := Builtin(cfg.RigType); ok {
			cal = b
		} else {
			cal = &Calibration{RigType: cfg.RigType}
		}
	}
	if err := cal.check(cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s.cal = cal
	s.stepHz = opts.StepHz
	if s.stepHz == 0 {
		s.stepHz = DefaultStepHz
	}
	if !(s.stepHz >= 10 && s.stepHz <= MaxStepHz) {
		return nil, fmt.Errorf("%w: step rate %v Hz; want 10 to %d", ErrConfig, s.stepHz, MaxStepHz)
	}
	s.windowS = cfg.Operation.CycleS
	switch {
	case s.windowS > 0 && opts.WindowS != 0 && opts.WindowS != s.windowS:
		return nil, fmt.Errorf("%w: window %v s given, but the rig's load cycle is %v s", ErrConfig, opts.WindowS, s.windowS)
	case s.windowS == 0:
		s.windowS = opts.WindowS
		if s.windowS == 0 {
			s.windowS = DefaultWindowS
		}
	}
	if !(s.windowS >= 0.1 && s.windowS <= 86400) {
		return nil, fmt.Errorf("%w: window of %v s; want 0.1 to 86400", ErrConfig, s.windowS)
	}
	s.stepsPerWin = int64(math.Round(s.windowS * s.stepHz))
	s.thermalN = max(1, int64(math.Round(s.stepHz/100)))

	pl, err := build(cfg, cal)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := pl.checkProgram(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s.pl = pl
	s.sol = newSolver(len(pl.nodes))
	s.prog = newProgram(cfg.Operation, or(cal.Plant.ProgramDelayS, 0))
	for i := range pl.pumps {
		s.pumpRng = append(s.pumpRng, rand.New(rand.NewPCG(opts.Seed, hashID("pump/"+pl.pumps[i].id))))
	}
	if err := s.bindSensors(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if opts.Scenario != nil {
		if err := opts.Scenario.Validate(cfg); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		s.faults = opts.Scenario.Faults
	}
	if err := s.bindFaults(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := s.bindTargets(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

func hashID(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Sensors returns the simulated sensors (the config's active sensors, in
// config order): the order of Cycle.Samples.
func (s *Sim) Sensors() []rig.Sensor {
	out := make([]rig.Sensor, len(s.sensors))
	for i, c := range s.sensors {
		out[i] = c.s
	}
	return out
}

// Targets returns the config's targets: the order of Cycle.Labels.
func (s *Sim) Targets() []rig.Target { return s.cfg.Targets }

// WindowS is the length of one cycle (or window) in seconds.
func (s *Sim) WindowS() float64 { return s.windowS }

// Mapping describes what one sensor measures in the simulation.
type Mapping struct {
	Sensor    string
	Component string
	Type      rig.ComponentType
	Kind      rig.SensorKind
	Port      rig.Port
	Quantity  string
	Unit      string  // the sensor's unit
	RateHz    float64 // the sensor's rate
	NoiseStd  float64 // white noise standard deviation, sensor unit
}

// Mapping returns the sensor mapping, in Sensors order.
func (s *Sim) Mapping() []Mapping {
	out := make([]Mapping, len(s.sensors))
	for i, c := range s.sensors {
		comp := s.pl.comps[c.s.Component]
		out[i] = Mapping{Sensor: c.s.ID, Component: c.s.Component, Type: comp.Type, Kind: c.s.Kind,
			Port: c.s.Port, Quantity: c.rule.Quantity, Unit: c.s.Unit, RateHz: c.rate, NoiseStd: c.sigma}
	}
	return out
}

func (s *Sim) bindSensors() error {
	var errs []error
	for _, sn := range s.cfg.Sensors {
		if sn.Inactive {
			continue
		}
		if p, ok := s.cal.Sensors[sn.ID]; ok {
			sn.Component, sn.Port = p.Component, p.Port
		}
		comp := s.pl.comps[sn.Component]
		if comp == nil {
			errs = append(errs, fmt.Errorf("sensor %s: unknown component %q", sn.ID, sn.Component))
			continue
		}
		if _, ok := s.pl.byID[sn.Component]; !ok && comp.Type != rig.Reservoir {
			errs = append(errs, fmt.Errorf("sensor %s: component %s (%s) takes no part in the simulated circuit", sn.ID, comp.ID, comp.Type))
			continue
		}
		rule, err := findRule(comp.Type, sn.Kind, sn.Port)
		if err != nil {
			errs = append(errs, fmt.Errorf("sensor %s (%s at %s %s): %w", sn.ID, sn.Kind, comp.Type, comp.ID, err))
			continue
		}
		q, err := rule.make(s.pl, sn.Component, sn.Port)
		if err != nil {
			errs = append(errs, fmt.Errorf("sensor %s: %w", sn.ID, err))
			continue
		}
		from := rule.Unit
		switch {
		case sn.Kind == rig.KindPosition && sn.Unit == "%" && from == "mm":
			c := s.pl.byID[sn.Component].(*cylinder)
			q, from = func() float64 { return 100 * c.x / c.stroke }, "%"
		case sn.Kind == rig.KindLevel && sn.Unit == "l" && comp.Type == rig.Accumulator:
			a := s.pl.byID[sn.Component].(*accumulator)
			q, from = func() float64 { return a.oil * 1000 }, "l"
		case sn.Kind == rig.KindLevel && sn.Unit == "l" && comp.Type == rig.Reservoir:
			q, from = func() float64 { return s.pl.tankFluid() * 1000 }, "l"
		}
		scale, off, err := conversion(sn.Kind, from, sn.Unit)
		if err != nil {
			errs = append(errs, fmt.Errorf("sensor %s: %w", sn.ID, err))
			continue
		}
		if !(sn.RateHz > 0) || sn.RateHz > s.stepHz {
			errs = append(errs, fmt.Errorf("sensor %s: rate %v Hz; the simulator steps at %v Hz (raise the step rate)", sn.ID, sn.RateHz, s.stepHz))
			continue
		}
		c := &channel{s: sn, rule: rule, q: q, scale: scale, off: off, rate: sn.RateHz,
			noise:  rand.New(rand.NewPCG(s.opts.Seed, hashID("noise/"+sn.ID))),
			spike:  rand.New(rand.NewPCG(s.opts.Seed, hashID("spike/"+sn.ID))),
			lagged: sn.Kind == rig.KindTemperature && !sn.Virtual}
		// Accuracy (% of full scale) bounds the total error, calibration
		// included; the sample-to-sample noise is taken as a tenth of it.
		// A physical sensor without a stated accuracy is taken as 1 %.
		acc := sn.AccuracyPct
		if acc == 0 && !sn.Virtual {
			acc = 1
		}
		c.sigma = acc / 100 * (sn.Range.Max - sn.Range.Min) / 10
		s.sensors = append(s.sensors, c)
	}
	return errors.Join(errs...)
}

func (s *Sim) bindFaults() error {
	pl := s.pl
	for i := range s.faults {
		f := &s.faults[i]
		var set func(v float64)
		switch f.Kind {
		case scenario.CoolerEfficiency:
			ps := pl.byID[f.Component].(*passive)
			set = func(v float64) { ps.eff = v / 100 }
		case scenario.ValveCondition:
			v, ok := pl.byID[f.Component].(*valve)
			if !ok {
				return fmt.Errorf("scenario faults[%d]: valve %s is not modelled", i, f.Component)
			}
			set = func(x float64) { v.cond = x / 100 }
		case scenario.Leakage:
			switch m := pl.byID[f.Component].(type) {
			case *pump:
				set = func(v float64) { m.leak = v }
			case *cylinder:
				set = func(v float64) { m.leak = v }
			case *hmotor:
				set = func(v float64) { m.leak = v }
			default:
				return fmt.Errorf("scenario faults[%d]: %s is not modelled", i, f.Component)
			}
		case scenario.AccumulatorPrecharge:
			a := pl.byID[f.Component].(*accumulator)
			if scenario.PrechargeUnit(s.cfg, f.Component) == scenario.UnitBar && f.Unit != scenario.UnitPercent || f.Unit == scenario.UnitBar {
				set = func(v float64) { a.p0 = v * barPa }
			} else {
				set = func(v float64) { a.p0 = v / 100 * a.p0Nom }
			}
		case scenario.FilterClogging:
			ps, ok := pl.byID[f.Component].(*passive)
			if !ok {
				return fmt.Errorf("scenario faults[%d]: filter %s is not in the simulated circuit", i, f.Component)
			}
			set = func(v float64) { ps.clog = v / 100 }
		case scenario.Cavitation:
			pm := pl.byID[f.Component].(*pump)
			set = func(v float64) { pm.cav = v / 100 }
		default:
			set = nil // sensor faults are applied per channel
		}
		s.binds = append(s.binds, faultBind{f: f, set: set})
	}
	return nil
}

// condition returns the current value of a component condition as a label
// (in the target's unit).
func (s *Sim) condition(kind scenario.Kind, id string, unit string) float64 {
	switch m := s.pl.byID[id].(type) {
	case *passive:
		if kind == scenario.CoolerEfficiency {
			return round6(m.eff * 100)
		}
		return round6(m.clog * 100)
	case *valve:
		return round6(m.cond * 100)
	case *pump:
		if kind == scenario.Cavitation {
			return round6(m.cav * 100)
		}
		return round6(m.leak)
	case *cylinder:
		return round6(m.leak)
	case *hmotor:
		return round6(m.leak)
	case *accumulator:
		if unit == scenario.UnitBar {
			return round6(m.p0 / barPa)
		}
		return round6(100 * m.p0 / m.p0Nom)
	}
	return math.NaN()
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func (s *Sim) bindTargets() error {
	var errs []error
	for i := range s.cfg.Targets {
		t := &s.cfg.Targets[i]
		switch t.Kind {
		case rig.TargetCondition:
			k, err := scenario.TargetKind(s.cfg, t)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if _, ok := s.pl.byID[t.Component]; !ok {
				errs = append(errs, fmt.Errorf("target %s: component %s is not in the simulated circuit", t.Name, t.Component))
				continue
			}
			unit := scenario.PrechargeUnit(s.cfg, t.Component)
			id := t.Component
			get := func() float64 { return s.condition(k, id, unit) }
			if healthy := get(); t.ClassIndex(healthy) < 0 {
				errs = append(errs, fmt.Errorf("target %s: the healthy %s of %s is %v, not one of its classes", t.Name, k, id, healthy))
				continue
			}
			s.targets = append(s.targets, targetLabel{t: t, kind: "condition", get: get})
		case rig.TargetFlag:
			switch t.Name {
			case "stable", "anomaly", "changepoint":
				s.targets = append(s.targets, targetLabel{t: t, kind: t.Name})
			default:
				errs = append(errs, fmt.Errorf("target %s: flag targets the simulator labels are stable, anomaly and changepoint", t.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// applyFaults sets the conditions and sensor faults active at the current
// step. It reports whether a component condition changed.
func (s *Sim) applyFaults(cycle int, t float64) (changed bool) {
	pl := s.pl
	s.condPrev = s.conditions(s.condPrev[:0])
	// Healthy first, then every active entry in order.
	for _, pm := range pl.pumps {
		pm.leak, pm.cav = 0, 0
	}
	for _, v := range pl.valves {
		v.cond = 1
	}
	for _, a := range pl.accs {
		a.p0 = a.p0Nom
	}
	for _, ps := range pl.passives {
		ps.eff, ps.clog = 1, 0
	}
	for _, c := range pl.cyls {
		c.leak = 0
	}
	for _, m := range pl.mots {
		m.leak = 0
	}
	for _, c := range s.sensors {
		c.offset, c.dropout, c.spikeAmp, c.spkHz = 0, false, 0, 0
		c.hasDrift, c.stuck = false, false
		c.drift = 0
	}
	td := time.Duration(t * float64(time.Second))
	for _, b := range s.binds {
		f := b.f
		if !f.Active(cycle, td) {
			continue
		}
		if b.set != nil {
			b.set(*f.Value)
			continue
		}
		for _, c := range s.sensors {
			if c.s.ID != f.Sensor {
				continue
			}
			switch f.Kind {
			case scenario.SensorDrift:
				if !c.hasDrift {
					c.driftFrom = s.faultStart(f, t)
				}
				c.hasDrift, c.drift = true, *f.Value
			case scenario.SensorOffset:
				c.offset += *f.Value
			case scenario.SensorStuck:
				c.stuck = true
				if f.Value != nil {
					c.stuckVal, c.stuckSet = *f.Value, true
				}
			case scenario.SensorDropout:
				c.dropout = true
			case scenario.SensorSpikes:
				c.spikeAmp, c.spkHz = *f.Value, f.RateHz
			}
		}
	}
	for _, c := range s.sensors {
		if !c.stuck {
			c.stuckSet = false
		}
	}
	s.condNow = s.conditions(s.condNow[:0])
	return !slices.Equal(s.condNow, s.condPrev)
}

// faultStart returns when (s since the start of recording) a fault's range
// began.
func (s *Sim) faultStart(f *scenario.Fault, now float64) float64 {
	if len(f.Cycles) > 0 {
		return float64(f.Cycles[0]-1) * s.windowS
	}
	if f.From > 0 {
		return f.From.Seconds()
	}
	return math.Min(now, 0)
}

// conditions appends the component conditions to dst (for change
// detection).
func (s *Sim) conditions(dst []float64) []float64 {
	pl := s.pl
	for _, pm := range pl.pumps {
		dst = append(dst, pm.leak, pm.cav)
	}
	for _, v := range pl.valves {
		dst = append(dst, v.cond)
	}
	for _, a := range pl.accs {
		dst = append(dst, a.p0)
	}
	for _, ps := range pl.passives {
		dst = append(dst, ps.eff, ps.clog)
	}
	for _, c := range pl.cyls {
		dst = append(dst, c.leak)
	}
	for _, m := range pl.mots {
		dst = append(dst, m.leak)
	}
	return dst
}

// anyFault reports whether any condition is off healthy or any sensor
// fault is active.
func (s *Sim) anyFault() bool {
	pl := s.pl
	for _, pm := range pl.pumps {
		if pm.leak != 0 || pm.cav != 0 {
			return true
		}
	}
	for _, v := range pl.valves {
		if v.cond != 1 {
			return true
		}
	}
	for _, a := range pl.accs {
		if a.p0 != a.p0Nom {
			return true
		}
	}
	for _, ps := range pl.passives {
		if ps.eff != 1 || ps.clog != 0 {
			return true
		}
	}
	for _, c := range pl.cyls {
		if c.leak != 0 {
			return true
		}
	}
	for _, m := range pl.mots {
		if m.leak != 0 {
			return true
		}
	}
	for _, c := range s.sensors {
		if c.hasDrift || c.offset != 0 || c.stuck || c.dropout || c.spkHz > 0 {
			return true
		}
	}
	return false
}

// step advances the plant by one time step.
func (s *Sim) step() {
	pl := s.pl
	dt := 1 / s.stepHz
	t := float64(s.k) / s.stepHz
	if i := s.prog.at(t); i != s.stepIdx {
		s.stepIdx = i
		pl.applyStep(s.prog, i)
	}
	pl.moveSpools(dt)
	pl.preparePumps(dt)
	s.sol.solve(pl, dt)
	pl.afterStep(dt)
	if s.k%s.thermalN == 0 {
		dtT := float64(s.thermalN) * dt
		pl.thermal(dtT)
		pl.vibration(dtT, s.pumpRng)
		pl.updateViscous()
		for _, c := range s.sensors {
			if c.lagged {
				v := c.q()
				if !c.lagInit {
					c.lag, c.lagInit = v, true
				} else {
					c.lag += (v - c.lag) * math.Min(1, dtT/tempSensorTauS)
				}
			}
		}
	}
}

// warmup runs the warm-up cycles with the first cycle's conditions, then
// rewinds the clock to the start of recording. With three or more cycles the
// first two find the thermal equilibrium: the tank is held at two
// temperatures, the cycle's mean net heat flow into it is measured at each,
// and the tank starts the remaining cycles at the temperature where that
// flow is zero (a secant step; heat flows are nearly linear in temperature).
// Fewer cycles start cold, at the ambient temperature.
//
// A warm-up stopped by ctx leaves the plant mid-cycle and the clock not
// rewound; the error is kept and returned by every later call, so such a
// Sim must be discarded (New makes a fresh one).
func (s *Sim) warmup(ctx context.Context) error {
	if s.started {
		return s.warmErr
	}
	s.started = true
	if err := s.runWarmup(ctx); err != nil {
		s.warmErr = fmt.Errorf("sim: warm-up stopped before it finished, discard this simulator: %w", err)
		return err
	}
	return nil
}

func (s *Sim) runWarmup(ctx context.Context) error {
	s.applyFaults(1, 0)
	n := s.opts.WarmupCycles
	if n == 0 {
		n = DefaultWarmupCycles
	}
	pl := s.pl
	cycle := func() error {
		for i := int64(0); i < s.stepsPerWin; i++ {
			s.step()
			s.k++
		}
		return ctx.Err()
	}
	if n >= 3 {
		// Net heat flow at a held tank temperature, mean over one cycle.
		// Node temperatures move with the tank, keeping their offsets.
		flowAt := func(t float64) (float64, error) {
			pl.freeze = true
			for i := range pl.nodes {
				pl.nodes[i].temp += t - pl.tankT
			}
			pl.tankT = t
			pl.netHeat = 0
			err := cycle()
			return pl.netHeat / s.windowS, err
		}
		// The zero of the line through two points; the heat flow falls
		// with temperature, so a rising slope means noise: keep the
		// second point.
		secant := func(t0, f0, t1, f1 float64) float64 {
			if slope := (f1 - f0) / (t1 - t0); slope < 0 {
				return t0 - f0/slope
			}
			return t1
		}
		clamp := func(t float64) float64 { return math.Max(pl.ambient-20, math.Min(pl.ambient+150, t)) }
		t0, t1 := pl.ambient+10, pl.ambient+40
		f0, err := flowAt(t0)
		if err != nil {
			return err
		}
		f1, err := flowAt(t1)
		if err != nil {
			return err
		}
		t := clamp(secant(t0, f0, t1, f1))
		n -= 2
		if n >= 2 {
			// One more secant step from the estimate and the nearer point.
			f, err := flowAt(t)
			if err != nil {
				return err
			}
			if math.Abs(t-t0) > math.Abs(t-t1) {
				t0, f0 = t1, f1
			}
			t = clamp(secant(t0, f0, t, f))
			n--
		}
		pl.freeze = false
		for i := range pl.nodes {
			pl.nodes[i].temp += t - pl.tankT
		}
		pl.tankT = t
		for _, d := range pl.drivers {
			if rated := d.pRated * (1/d.eta - 1); !d.engine && rated > 0 {
				d.body = pl.ambient + d.tRise*(d.input-d.shaft)/rated
			} else if d.engine {
				d.body = pl.ambient + d.tRise*d.shaft/d.pRated
			}
		}
	}
	for range max(n, 0) {
		if err := cycle(); err != nil {
			return err
		}
	}
	s.k = 0
	s.stepIdx = -2
	for _, c := range s.sensors {
		c.m, c.next, c.lagInit = 0, 0, false
	}
	if s.sol.fails > 0 {
		s.log.Debug("newton did not converge on some steps", "steps", s.sol.fails)
	}
	s.lastChange = -1 << 30
	return nil
}

// sample produces a channel's next sample at time t (s): the measured
// quantity in the sensor's unit with faults, noise, quantisation and range
// clipping applied. ok is false for a dropout.
func (s *Sim) sample(c *channel, t float64) (v float64, ok bool) {
	x := c.q()
	if c.lagged && c.lagInit {
		x = c.lag
	}
	v = x*c.scale + c.off
	n := c.noise.NormFloat64() // drawn always, so faults never shift the noise
	if c.sigma > 0 {
		v += c.sigma * n
	}
	if c.hasDrift {
		v += c.drift * (t - c.driftFrom) / 3600
	}
	v += c.offset
	if c.spkHz > 0 {
		if c.spike.Float64() < c.spkHz/c.rate {
			if c.spike.IntN(2) == 0 {
				v += c.spikeAmp
			} else {
				v -= c.spikeAmp
			}
		}
	}
	if r := c.s.Resolution; r > 0 {
		v = math.Round(v/r) * r
	}
	v = math.Max(c.s.Range.Min, math.Min(c.s.Range.Max, v))
	if c.stuck {
		if !c.stuckSet {
			c.stuckVal, c.stuckSet = v, true
		}
		v = c.stuckVal
	}
	if c.dropout {
		return math.NaN(), false
	}
	return v, true
}

// advance runs the simulation up to step end (exclusive), calling on for
// every sample. cycle tracking (faults, labels) happens at window starts
// and every 10 ms.
func (s *Sim) advance(ctx context.Context, end int64, on func(ci int, m int64, t float64, v float64, ok bool)) error {
	tick := max(1, int64(math.Round(s.stepHz/100)))
	for s.k < end {
		if s.k%tick == 0 || s.k%s.stepsPerWin == 0 {
			cycle := int(s.k/s.stepsPerWin) + 1
			if s.applyFaults(cycle, float64(s.k)/s.stepHz) {
				s.changed = true
				s.lastChange = cycle
			}
			if s.acc != nil {
				s.acc.observe(s)
			}
		}
		if s.acc != nil {
			s.acc.count()
		}
		s.step()
		for ci, c := range s.sensors {
			if c.next != s.k {
				continue
			}
			t := float64(c.m) / c.rate
			v, ok := s.sample(c, t)
			on(ci, c.m, t, v, ok)
			c.m++
			c.next = int64(math.Round(float64(c.m) / c.rate * s.stepHz))
		}
		s.k++
		if s.k%(s.stepsPerWin/4+1) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Cycle is one simulated cycle (or window) of data.
type Cycle struct {
	// Index is the cycle number, from 1.
	Index int
	// Start is the cycle's start in simulated time since recording began.
	Start time.Duration
	// Samples holds each sensor's samples at its own rate (Sensors order);
	// NaN marks a dropout. A sensor's row has RateHz*WindowS values.
	Samples [][]float64
	// Labels holds one value per target (Targets order), for the whole
	// cycle: a condition is the one held for most of the cycle, anomaly
	// is 1 when any fault was active at any step of it (docs/simulator.md).
	Labels []float64
}

// Cycles simulates n cycles and calls fn with each. fn owns the Cycle it is
// given. It stops early with ctx's error or fn's. Stopped by ctx during the
// warm-up or inside a cycle, the Sim is left unusable: later Cycles calls
// return an error saying so (fn's error, between cycles, does not).
func (s *Sim) Cycles(ctx context.Context, n int, fn func(*Cycle) error) error {
	for _, c := range s.sensors {
		if x := c.rate * s.windowS; math.Abs(x-math.Round(x)) > 1e-9 {
			return fmt.Errorf("sensor %s: %v Hz over a %v s cycle is not a whole number of samples", c.s.ID, c.rate, s.windowS)
		}
	}
	if err := s.warmup(ctx); err != nil {
		return err
	}
	if s.cutErr != nil {
		return s.cutErr
	}
	for range n {
		idx := int(s.k/s.stepsPerWin) + 1
		start := s.k
		cy := &Cycle{Index: idx, Start: time.Duration(float64(start) / s.stepHz * float64(time.Second)),
			Samples: make([][]float64, len(s.sensors))}
		first := make([]int64, len(s.sensors))
		for i, c := range s.sensors {
			cy.Samples[i] = make([]float64, int(math.Round(c.rate*s.windowS)))
			first[i] = c.m
		}
		s.changed = false
		t0 := s.pl.tankT
		on := func(ci int, m int64, _ float64, v float64, _ bool) {
			if j := m - first[ci]; j >= 0 && j < int64(len(cy.Samples[ci])) {
				cy.Samples[ci][j] = v
			}
		}
		s.acc = newLabelTally(len(s.targets))
		err := s.advance(ctx, start+s.stepsPerWin, on)
		acc := s.acc
		s.acc = nil
		if err != nil {
			s.cutErr = fmt.Errorf("sim: cycle %d was cut short, a later Cycles call would start mid-cycle; discard this simulator: %w", idx, err)
			return err
		}
		labels := acc.labels(s.targets)
		drift := math.Abs(s.pl.tankT - t0)
		for i, tl := range s.targets {
			switch tl.kind {
			case "stable":
				st := idx-s.lastChange < s.stableCycles() || drift > s.stableDrift()
				labels[i] = b2f(st)
			case "changepoint":
				labels[i] = b2f(s.changed)
			}
		}
		cy.Labels = labels
		if err := fn(cy); err != nil {
			return err
		}
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (s *Sim) stableCycles() int {
	if s.opts.StableCycles > 0 {
		return s.opts.StableCycles
	}
	return DefaultStableCycles
}

func (s *Sim) stableDrift() float64 {
	if s.opts.StableDriftK > 0 {
		return s.opts.StableDriftK
	}
	return DefaultStableDriftK
}

// labelTally accumulates, over the steps of one cycle, what its condition
// and anomaly labels are drawn from: how many steps each condition target
// held each value, and whether any fault was active at any step. The
// fault state changes only where advance applies faults (window starts and
// every 10 ms), so observe runs there and count at every step.
type labelTally struct {
	anomalous bool
	vals      [][]float64 // per target: the values it held, in order of first appearance
	steps     [][]int64   // per target: the steps it held each of vals
	cur       []int       // per target: the index of the current value (-1: none)
}

func newLabelTally(n int) *labelTally {
	t := &labelTally{vals: make([][]float64, n), steps: make([][]int64, n), cur: make([]int, n)}
	for i := range t.cur {
		t.cur[i] = -1
	}
	return t
}

// observe records the conditions and faults in force from now on.
func (t *labelTally) observe(s *Sim) {
	t.anomalous = t.anomalous || s.anyFault()
	for i, tl := range s.targets {
		if tl.kind != "condition" {
			continue
		}
		v := tl.get()
		j := slices.Index(t.vals[i], v)
		if j < 0 {
			j = len(t.vals[i])
			t.vals[i] = append(t.vals[i], v)
			t.steps[i] = append(t.steps[i], 0)
		}
		t.cur[i] = j
	}
}

// count adds one step at the current values.
func (t *labelTally) count() {
	for i, j := range t.cur {
		if j >= 0 {
			t.steps[i][j]++
		}
	}
}

// labels returns the condition and anomaly labels of the cycle: a
// condition target gets the value its component held for the most steps
// (on a tie, the one it held first); anomaly is 1 when any fault was
// active at any step. The stable and changepoint flags are left 0 for
// Cycles to set. bindTargets accepts every target or fails, so targets
// follows the config's order.
func (t *labelTally) labels(targets []targetLabel) []float64 {
	out := make([]float64, len(targets))
	for i, tl := range targets {
		switch tl.kind {
		case "condition":
			best := int64(-1)
			for j, n := range t.steps[i] {
				if n > best {
					out[i], best = t.vals[i][j], n
				}
			}
		case "anomaly":
			out[i] = b2f(t.anomalous)
		}
	}
	return out
}

// Stream simulates from the start of recording (or where the last call
// stopped) and calls emit with time-ordered batches of readings: one batch
// per 10 ms of simulated time, or per period of the fastest sensor when that
// is longer. Readings carry per-sensor sequence numbers from 1 and
// timestamps start + simulated time. A dropout produces no reading. It runs
// for Options.Duration (0: until ctx is done) and returns nil at the end,
// ctx's error, or emit's. The batch is reused after emit returns. Stopped by
// ctx during the warm-up, the Sim is left unusable: later calls return an
// error saying so.
func (s *Sim) Stream(ctx context.Context, start time.Time, emit func([]reading.Reading) error) error {
	if err := s.warmup(ctx); err != nil {
		return err
	}
	maxRate := 0.0
	for _, c := range s.sensors {
		maxRate = math.Max(maxRate, c.rate)
	}
	batchS := math.Max(0.01, 1/maxRate)
	batchSteps := max(1, int64(math.Round(batchS*s.stepHz)))
	end := int64(math.MaxInt64)
	if s.opts.Duration > 0 {
		end = s.k + int64(math.Round(s.opts.Duration.Seconds()*s.stepHz))
	}
	batch := make([]reading.Reading, 0, 256)
	seqs := make([]uint64, len(s.sensors))
	on := func(ci int, m int64, t float64, v float64, ok bool) {
		if !ok {
			return
		}
		seqs[ci]++
		batch = append(batch, reading.Reading{Sensor: s.sensors[ci].s.ID,
			Time: start.Add(time.Duration(math.Round(t * 1e9))), Value: v, Seq: seqs[ci]})
	}
	for s.k < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		stop := min(end, (s.k/batchSteps+1)*batchSteps)
		batch = batch[:0]
		if err := s.advance(ctx, stop, on); err != nil {
			return err
		}
		sortReadings(batch)
		if len(batch) > 0 {
			if err := emit(batch); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortReadings orders a batch by time, keeping sensor order within a
// timestamp (insertion sort: batches are nearly sorted).
func sortReadings(rs []reading.Reading) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Time.Before(rs[j-1].Time); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}
