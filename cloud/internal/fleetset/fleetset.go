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

// DefaultMaxWindows caps a Builder's windows when Options.MaxWindows is 0.
// Windows go to disk as they are cut, so the cap bounds the files, not
// memory: a million one-minute windows of the 17-sensor test rig at 1 Hz
// are about 15 GB of text (Options.MaxBytes caps that too).
const DefaultMaxWindows = 1_000_000

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
	// ErrTooLarge: the files would pass MaxBytes.
	ErrTooLarge = errors.New("fleetset: data set too large")
)

// Options configure a Builder; zero fields take the defaults noted.
type Options struct {
	// Labels gives the class value of targets (by name) for every window;
	// a target not named takes its normal class (package doc).
	Labels map[string]float64
	// Dir is the folder the windows are written into as they are cut
	// (created at the first window; the files are in place once Finish
	// returns). "": the Builder only checks the config and labels (New),
	// and AddRig fails.
	Dir string
	// MaxWindows caps the windows kept (0: DefaultMaxWindows).
	MaxWindows int
	// MaxBytes caps the files' total size in bytes (0: no cap); a window
	// that would pass it fails AddRig with ErrTooLarge.
	MaxBytes int64
}

// RigStats says what one rig's readings gave (the fleet API's
// fleetapi.RigStats).
type RigStats = fleetapi.RigStats

// Builder cuts windows from rigs' readings and writes each to its files
// in Options.Dir at once: its memory is one window's readings and the
// files' buffers, whatever the number of windows. Make it with New; end
// it with Finish, and Close (deferred) on every path.
type Builder struct {
	cfg      *rig.Config
	sched    prep.Schedule
	rs       *prep.Resampler
	steps    int
	cols     []string
	profile  []float64
	labels   map[string]float64
	max      int
	maxBytes int64
	dir      string
	out      *uci.Writer // nil before the first window
	index    *os.File    // WindowsFile's temporary file
	iw       *bufio.Writer
	ibytes   int64
	n        int
	rows     [][]float64
	rigs     []RigStats
	done     bool
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
	b := &Builder{cfg: cfg, sched: sched, rs: rs, steps: steps, max: o.MaxWindows, maxBytes: o.MaxBytes, dir: o.Dir,
		labels: map[string]float64{}}
	if b.max <= 0 {
		b.max = DefaultMaxWindows
	}
	for _, s := range spec.Sensors {
		for _, cs := range cfg.Sensors {
			if cs.ID == s.ID {
				b.cols = append(b.cols, cs.UCIName())
			}
		}
	}
	b.rows = make([][]float64, len(b.cols))
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

// Windows returns the number of windows written so far.
func (b *Builder) Windows() int { return b.n }

// Bytes returns the size of the files written so far.
func (b *Builder) Bytes() int64 {
	if b.out == nil {
		return 0
	}
	return b.out.Bytes() + b.ibytes
}

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
		if b.n >= b.max {
			return fmt.Errorf("%w: more than %d in the range; ask for a shorter one", ErrTooMany, b.max)
		}
		if err := b.write(rigID, cur, w.Raw); err != nil {
			return err
		}
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

// open creates the folder and the output files at the first window.
func (b *Builder) open() error {
	if b.done {
		return errors.New("fleetset: the builder is finished")
	}
	if b.dir == "" {
		return errors.New("fleetset: no folder to write windows to (Options.Dir)")
	}
	out, err := uci.NewWriter(b.dir, b.cols, true, false)
	if err != nil {
		return fmt.Errorf("fleetset: %w", err)
	}
	f, err := os.CreateTemp(b.dir, "."+WindowsFile+".tmp*")
	if err != nil {
		out.Abort()
		return fmt.Errorf("fleetset: %w", err)
	}
	b.out, b.index, b.iw = out, f, bufio.NewWriterSize(f, 1<<16)
	return nil
}

// write appends one window (raw: the resampler's cells, sensor by
// sensor) to the files.
func (b *Builder) write(rigID string, start time.Time, raw []float64) error {
	if b.out == nil {
		if err := b.open(); err != nil {
			return err
		}
	}
	for s := range b.cols {
		b.rows[s] = raw[s*b.steps : (s+1)*b.steps]
	}
	if err := b.out.Append(b.rows, b.profile, 0); err != nil {
		return fmt.Errorf("fleetset: window %d: %w", b.n+1, err)
	}
	line := rigID + "\t" + start.UTC().Format(time.RFC3339Nano) + "\n"
	if _, err := b.iw.WriteString(line); err != nil {
		return fmt.Errorf("fleetset: write %s: %w", WindowsFile, err)
	}
	b.ibytes += int64(len(line))
	b.n++
	// Checked after the window: its size is known once written, and the
	// build fails whole anyway.
	if b.maxBytes > 0 && b.Bytes() > b.maxBytes {
		return fmt.Errorf("%w: more than %d bytes after %d windows; ask for a shorter range or fewer rigs", ErrTooLarge, b.maxBytes, b.n)
	}
	return nil
}

// Finish puts the files in place in Options.Dir: the UCI layout (a
// "<SENSOR>.txt" per sensor, profile.txt) and WindowsFile. It refuses a
// data set of no window. Close still releases the files on an error.
func (b *Builder) Finish() error {
	if b.n == 0 {
		return errors.New("fleetset: no complete window to write")
	}
	if b.done {
		return errors.New("fleetset: the builder is finished")
	}
	b.done = true
	err := b.iw.Flush()
	if err == nil {
		err = b.index.Chmod(0o644)
	}
	if cerr := b.index.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(b.index.Name(), filepath.Join(b.dir, WindowsFile))
	}
	if err != nil {
		return fmt.Errorf("fleetset: write %s: %w", WindowsFile, err)
	}
	b.index = nil
	if err := b.out.Close(); err != nil {
		return fmt.Errorf("fleetset: %w", err)
	}
	return nil
}

// Close removes the files of a Builder not finished (a failed build); it
// is a no-op after Finish succeeded, so defer it.
func (b *Builder) Close() {
	b.done = true
	if b.out != nil {
		b.out.Abort()
	}
	if b.index != nil {
		b.index.Close()
		os.Remove(b.index.Name())
		b.index = nil
	}
}
