package skab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/hydrognn/hydrognn/shared/dataset/skab"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// ErrData is returned (wrapped) when SKAB data cannot be used: a missing
// sensor column, a file too short for the protocol, no files.
var ErrData = errors.New("skab: bad data")

// AnomalyFreeName is the base name of SKAB's anomaly-free run. It is used
// for training only and never scored.
const AnomalyFreeName = "anomaly-free.csv"

// AnomalyFreePrefix starts the name of every file, and is the name of
// every folder, that LoadDir takes as anomaly-free (normal) data: SKAB
// keeps its run in anomaly-free/anomaly-free.csv.
const AnomalyFreePrefix = "anomaly-free"

// IsAnomalyFree reports whether the file at path (under dir) holds
// anomaly-free data by its name: its base name starts with
// AnomalyFreePrefix (anomaly-free.csv, anomaly-free-2.csv) or a folder
// between dir and the file is named AnomalyFreePrefix.
func IsAnomalyFree(dir, path string) bool {
	if strings.HasPrefix(filepath.Base(path), AnomalyFreePrefix) {
		return true
	}
	rel, err := filepath.Rel(dir, filepath.Dir(path))
	if err != nil {
		return false
	}
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if part == AnomalyFreePrefix {
			return true
		}
	}
	return false
}

// Series is one SKAB file mapped onto a rig config's active sensors.
type Series struct {
	// Name is the file's path.
	Name string
	// Sensors are the config's active sensor ids (the model's order).
	Sensors []string
	// Values[s][r] is sensor s in row r, in the sensor's unit. Every value
	// is finite (the reader refuses NaN and infinities).
	Values [][]float64
	// Anomaly[r] is row r's label; nil for a file without labels (the
	// anomaly-free run).
	Anomaly []bool
}

// Rows returns the number of rows.
func (s *Series) Rows() int {
	if len(s.Values) == 0 {
		return 0
	}
	return len(s.Values[0])
}

// Labelled reports whether the series carries anomaly labels.
func (s *Series) Labelled() bool { return s.Anomaly != nil }

// FromFile maps a parsed SKAB file onto cfg's active sensors: each sensor
// reads the column named by rig.Sensor.ColumnName. A sensor without its
// column is an error naming the file, the sensor and the columns present;
// a value outside the sensor's range widened by rig.DefaultRangeTolerance
// (the agent's ingest drops such readings) is an error naming the file,
// line and column.
func FromFile(f *skab.File, cfg *rig.Config) (*Series, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil rig config", ErrData)
	}
	sensors := cfg.ActiveSensors()
	if len(sensors) == 0 {
		return nil, fmt.Errorf("%w: rig %q has no active sensors", ErrData, cfg.RigType)
	}
	s := &Series{Name: f.Name, Anomaly: f.Anomaly, Values: make([][]float64, len(sensors))}
	var missing []string
	for i, sn := range sensors {
		s.Sensors = append(s.Sensors, sn.ID)
		c := f.Column(sn.ColumnName())
		if c < 0 {
			missing = append(missing, fmt.Sprintf("%s (column %q)", sn.ID, sn.ColumnName()))
			continue
		}
		col := make([]float64, len(f.Values))
		for r, row := range f.Values {
			v := row[c]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: %s line %d: %s is %v", ErrData, f.Name, r+2, sn.ColumnName(), v)
			}
			if !sn.Range.Accepts(v, rig.DefaultRangeTolerance) {
				lo, hi := sn.Range.Tolerated(rig.DefaultRangeTolerance)
				return nil, fmt.Errorf("%w: %s line %d column %q: value %g is outside sensor %s's range [%g, %g] and the %g %% tolerance [%g, %g] (the agent drops such readings)",
					ErrData, f.Name, r+2, sn.ColumnName(), v, sn.ID, sn.Range.Min, sn.Range.Max, 100*rig.DefaultRangeTolerance, lo, hi)
			}
			col[r] = v
		}
		s.Values[i] = col
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s lacks the columns of rig %q's sensors %s (it has %q)",
			ErrData, f.Name, cfg.RigType, strings.Join(missing, ", "), f.Columns)
	}
	if s.Anomaly != nil && len(s.Anomaly) != len(f.Values) {
		return nil, fmt.Errorf("%w: %s has %d anomaly labels for %d rows", ErrData, f.Name, len(s.Anomaly), len(f.Values))
	}
	return s, nil
}

// Load reads the SKAB file at path for cfg (see FromFile).
func Load(path string, cfg *rig.Config) (*Series, error) {
	return LoadContext(context.Background(), path, cfg)
}

// LoadContext is Load stopped by ctx: the file is read by
// skab.ReadContext, which checks ctx every skab.CtxRows lines.
func LoadContext(ctx context.Context, path string, cfg *rig.Config) (*Series, error) {
	f, err := skab.ReadContext(ctx, path)
	if err != nil {
		return nil, err
	}
	return FromFile(f, cfg)
}

// Set is a SKAB folder: the anomaly-free run(s) and the labelled
// experiment files.
type Set struct {
	// Dir is the folder read.
	Dir string
	// Free are the unlabelled files (SKAB's anomaly-free run): training
	// data, never scored.
	Free []*Series
	// Experiments are the labelled files, sorted by path: the first
	// CalibRows rows of each may be used for fitting, the rest is scored.
	Experiments []*Series
}

// LoadDir reads every *.csv under dir (recursively) for cfg. An
// anomaly-free file by its name (IsAnomalyFree: anomaly-free*.csv, or
// under an anomaly-free folder) goes to Free, its labels if any dropped;
// every other file must have an anomaly column (lowercase "anomaly") and
// goes to Experiments. Another file without one is an error naming it:
// taking it as normal data would train on its anomalies and leave it out
// of the benchmark silently. An empty folder is an error.
func LoadDir(dir string, cfg *rig.Config) (*Set, error) {
	return LoadDirContext(context.Background(), dir, cfg)
}

// LoadDirContext is LoadDir stopped by ctx: it checks ctx before each
// file and every skab.CtxRows lines of it, and returns ctx's error
// wrapped (naming the file, and the line within it) once ctx ends.
func LoadDirContext(ctx context.Context, dir string, cfg *rig.Config) (*Set, error) {
	paths, err := skab.Files(dir)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no *.csv file under %s", ErrData, dir)
	}
	set := &Set{Dir: dir}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load %s: %w", p, err)
		}
		s, err := LoadContext(ctx, p, cfg)
		if err != nil {
			return nil, err
		}
		switch {
		case IsAnomalyFree(dir, p):
			s.Anomaly = nil
			set.Free = append(set.Free, s)
		case s.Labelled():
			set.Experiments = append(set.Experiments, s)
		default:
			return nil, fmt.Errorf("%w: %s has no %q column (label columns are lowercase); only files named %s*.csv or under an %s folder may come without labels",
				ErrData, p, skab.AnomalyColumn, AnomalyFreePrefix, AnomalyFreePrefix)
		}
	}
	return set, nil
}

// Calibrate returns base (a spec for the series' sensors) with each
// sensor's normalisation Mean and Std fitted by prep.StatsAccumulator on
// rows [from, to) of s: the protocol's calibration rows. Std is floored by
// prep's rule (0.1 % of the sensor's range).
func Calibrate(base prep.Spec, s *Series, from, to int) (prep.Spec, error) {
	if from < 0 || to > s.Rows() || to-from < 2 {
		return prep.Spec{}, fmt.Errorf("%w: %s has %d rows; calibration needs rows %d..%d", ErrData, s.Name, s.Rows(), from, to-1)
	}
	if len(base.Sensors) != len(s.Sensors) {
		return prep.Spec{}, fmt.Errorf("%w: spec has %d sensors, %s %d", ErrData, len(base.Sensors), s.Name, len(s.Sensors))
	}
	acc, err := prep.NewStatsAccumulator(base)
	if err != nil {
		return prep.Spec{}, err
	}
	for i := range s.Sensors {
		for _, v := range s.Values[i][from:to] {
			acc.AddValue(i, v)
		}
	}
	return acc.Apply(base)
}

// Normalize prepares the rows [from, to) of s with spec through
// prep.FromGrid (one window spanning the rows, so every rule of prep
// applies) and returns the normalised values [sensor][row] as float64.
// spec's Steps is ignored.
func Normalize(spec prep.Spec, s *Series, from, to int) ([][]float64, error) {
	n := to - from
	if from < 0 || to > s.Rows() || n < 1 {
		return nil, fmt.Errorf("%w: %s has %d rows; asked for rows %d..%d", ErrData, s.Name, s.Rows(), from, to-1)
	}
	spec.Steps = n
	spec.StrideSteps = n
	spec.Alignment = prep.AlignSliding
	grid := make([][]float64, len(s.Values))
	for i := range grid {
		grid[i] = s.Values[i][from:to]
	}
	w, err := prep.FromGrid(spec, grid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	out := make([][]float64, len(grid))
	for i := range out {
		row := make([]float64, n)
		for t := range n {
			if w.Mask[i*n+t] == 0 {
				return nil, fmt.Errorf("%w: %s row %d: %s is missing", ErrData, s.Name, from+t+1, s.Sensors[i])
			}
			row[t] = float64(w.Values[i*n+t])
		}
		out[i] = row
	}
	return out, nil
}
