package fleetset

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// DefaultMaxWindows caps a Builder's windows when Options.MaxWindows is 0
// (100,000 one-minute windows of the 17-sensor test rig at 1 Hz are about
// 0.8 GB in memory).
const DefaultMaxWindows = 100_000

// WindowsFile lists each window's rig and start, one line per window.
const WindowsFile = "fleet-windows.tsv"

// Errors; each is returned wrapped with the details.
var (
	// ErrConfig: the firmware config cannot make windows (no cycle_s).
	ErrConfig = errors.New("fleetset: unusable firmware config")
	// ErrLabel: a label names no target, or a value that is not one of
	// its target's classes.
	ErrLabel = errors.New("fleetset: bad label")
	// ErrTooMany: more than MaxWindows windows.
	ErrTooMany = errors.New("fleetset: too many windows")
)

// Options configure a Builder; zero fields take the defaults noted.
type Options struct {
	// Labels gives the class value of targets (by name) for every window;
	// a target not named takes its normal class (package doc).
	Labels map[string]float64
	// MaxWindows caps the windows kept (0: DefaultMaxWindows).
	MaxWindows int
}

// RigStats says what one rig's readings gave (the fleet API's
// fleetapi.RigStats).
type RigStats = fleetapi.RigStats

// Builder collects windows from rigs' readings. Make it with New.
type Builder struct {
	cfg     *rig.Config
	sched   prep.Schedule
	rs      *prep.Resampler
	steps   int
	cols    []string
	profile []float64
	labels  map[string]float64
	max     int
	data    [][][]float64 // [sensor][window][cell]
	index   []string      // "rig\tstart" per window
	rigs    []RigStats
}

// New makes a Builder for windows of cfg with o's labels.
func New(cfg *rig.Config, o Options) (*Builder, error) {
	if cfg == nil || !(cfg.Operation.CycleS >= 1) || cfg.Operation.CycleS > 86400 {
		return nil, fmt.Errorf("%w: operation.cycle_s must be set (1..86400 s): fleet windows are the rig's cycles", ErrConfig)
	}
	steps := int(math.Round(cfg.Operation.CycleS))
	spec, err := prep.SpecFromConfig(cfg, 1, steps)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	sched, err := prep.Windows(spec, cfg.Operation.CycleS)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	rs, err := prep.NewResampler(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	b := &Builder{cfg: cfg, sched: sched, rs: rs, steps: steps, max: o.MaxWindows, labels: map[string]float64{}}
	if b.max <= 0 {
		b.max = DefaultMaxWindows
	}
	for _, s := range spec.Sensors {
		for _, cs := range cfg.Sensors {
			if cs.ID == s.ID {
				b.cols = append(b.cols, cs.ColumnName())
			}
		}
	}
	b.data = make([][][]float64, len(b.cols))
	for name := range o.Labels {
		if !slices.ContainsFunc(cfg.Targets, func(t rig.Target) bool { return t.Name == name }) {
			return nil, fmt.Errorf("%w: %q is not a target of rig type %q", ErrLabel, name, cfg.RigType)
		}
	}
	for _, t := range cfg.Targets {
		v, ok := o.Labels[t.Name]
		if !ok {
			v = normalClass(&t)
		} else if t.ClassIndex(v) < 0 {
			vals := make([]float64, len(t.Classes))
			for i, c := range t.Classes {
				vals[i] = c.Value
			}
			return nil, fmt.Errorf("%w: %v is not a class of target %q (classes %v)", ErrLabel, v, t.Name, vals)
		}
		b.profile = append(b.profile, v)
		b.labels[t.Name] = v
	}
	return b, nil
}

// normalClass is a target's normal class: of a condition target the class
// without a fault with the highest health, of a flag its first class.
func normalClass(t *rig.Target) float64 {
	best, bestH := t.Classes[0].Value, math.Inf(-1)
	if t.Kind != rig.TargetCondition {
		return best
	}
	for _, c := range t.Classes {
		h := 0.0
		if c.Health != nil {
			h = *c.Health
		}
		if c.Fault == "" && h > bestH {
			best, bestH = c.Value, h
		}
	}
	return best
}

// Labels returns the class value every window gets, by target name.
func (b *Builder) Labels() map[string]float64 { return b.labels }

// Windows returns the number of windows kept so far.
func (b *Builder) Windows() int { return len(b.index) }

// Rigs returns what each AddRig gave, in call order.
func (b *Builder) Rigs() []RigStats { return b.rigs }

// floor returns the start of the schedule's window period holding t.
func (b *Builder) floor(t time.Time) time.Time {
	s := b.sched.Next(t)
	if s.After(t) {
		s = s.Add(-b.sched.Period)
	}
	return s
}

// AddRig cuts the windows lying entirely in [from, to) from a rig's
// readings: scan must call its function with the readings in time order
// (store.RigReadings does) and return its error.
func (b *Builder) AddRig(rigID string, from, to time.Time, scan func(fn func(reading.Reading) error) error) error {
	st := RigStats{RigID: rigID}
	var cur time.Time
	var have bool
	var buf []reading.Reading
	finish := func() error {
		defer func() { buf = buf[:0] }()
		if cur.Before(from) || cur.Add(b.sched.Length).After(to) {
			return nil
		}
		b.rs.Reset(cur)
		b.rs.Add(buf)
		w := b.rs.Finish()
		if w.Counts.Used == 0 {
			return nil
		}
		for _, c := range w.Coverage {
			if c < 1 {
				st.Skipped++
				return nil
			}
		}
		if len(b.index) >= b.max {
			return fmt.Errorf("%w: more than %d in the range; ask for a shorter one", ErrTooMany, b.max)
		}
		for s := range b.cols {
			b.data[s] = append(b.data[s], slices.Clone(w.Raw[s*b.steps:(s+1)*b.steps]))
		}
		b.index = append(b.index, rigID+"\t"+cur.UTC().Format(time.RFC3339Nano))
		st.Windows++
		return nil
	}
	err := scan(func(r reading.Reading) error {
		st.Readings++
		ws := b.floor(r.Time)
		if !have || !ws.Equal(cur) {
			if have {
				if err := finish(); err != nil {
					return err
				}
			}
			cur, have = ws, true
		}
		buf = append(buf, r)
		return nil
	})
	if err == nil && have {
		err = finish()
	}
	b.rigs = append(b.rigs, st)
	return err
}

// Write writes the windows kept into dir (created) in the UCI layout,
// with WindowsFile. It refuses to write no window.
func (b *Builder) Write(dir string) error {
	n := len(b.index)
	if n == 0 {
		return errors.New("fleetset: no complete window to write")
	}
	set := &uci.Set{Sensors: b.cols, Cycles: n, Data: b.data}
	for range n {
		set.Profile = append(set.Profile, b.profile)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := uci.Write(dir, set); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, WindowsFile))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, line := range b.index {
		_, _ = w.WriteString(line + "\n")
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
