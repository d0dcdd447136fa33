package skab

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// FileResult is one experiment file's protocol counts.
type FileResult struct {
	Name      string `json:"name"`
	Confusion `json:"confusion"`
}

// Report is the result of the leaderboard protocol over a folder.
type Report struct {
	// Files is the number of experiment files scored.
	Files int `json:"files"`
	// F1, FAR and MAR over every scored row of every file together (FAR
	// and MAR as fractions).
	F1  float64 `json:"f1"`
	FAR float64 `json:"far"`
	MAR float64 `json:"mar"`
	// Total are the summed counts; PerFile the counts of each file.
	Total   Confusion    `json:"-"`
	PerFile []FileResult `json:"-"`
	// TrainSeconds and ScoreSeconds are the wall times of training
	// (model and detector) and of scoring.
	TrainSeconds, ScoreSeconds float64 `json:"-"`
}

// Protocol applies the leaderboard protocol to row decisions: for each
// file, rows [calib, n) are scored (the first calib rows are for fitting
// and calibration only); labels[k][r] is the truth and pred[k][r] the
// decision of file k's row r. It returns the total and per-file counts;
// a file with no row after calib, or with labels and decisions of
// different lengths, is an error.
func Protocol(labels, pred [][]bool, calib int) (Confusion, []Confusion, error) {
	if len(labels) != len(pred) {
		return Confusion{}, nil, fmt.Errorf("%w: %d label files, %d prediction files", ErrData, len(labels), len(pred))
	}
	var total Confusion
	per := make([]Confusion, len(labels))
	for k := range labels {
		if len(labels[k]) != len(pred[k]) {
			return Confusion{}, nil, fmt.Errorf("%w: file %d has %d labels and %d decisions", ErrData, k+1, len(labels[k]), len(pred[k]))
		}
		if len(labels[k]) <= calib {
			return Confusion{}, nil, fmt.Errorf("%w: file %d has %d rows, none after the %d calibration rows", ErrData, k+1, len(labels[k]), calib)
		}
		for r := calib; r < len(labels[k]); r++ {
			per[k].Add(labels[k][r], pred[k][r])
		}
		total.Merge(per[k])
	}
	return total, per, nil
}

// Evaluate scores set's experiment files with m (its detector fitted)
// under the protocol.
func (m *Model) Evaluate(set *Set) (*Report, error) {
	if len(set.Experiments) == 0 {
		return nil, fmt.Errorf("%w: no labelled experiment file under %s", ErrData, set.Dir)
	}
	t0 := time.Now()
	scores, err := m.Score(set.Experiments)
	if err != nil {
		return nil, err
	}
	rep, err := report(set, scores, m.Options.CalibRows)
	if err != nil {
		return nil, err
	}
	rep.ScoreSeconds = time.Since(t0).Seconds()
	return rep, nil
}

// report evaluates scores of set's experiments under the protocol.
func report(set *Set, scores []*Score, calib int) (*Report, error) {
	labels := make([][]bool, len(scores))
	pred := make([][]bool, len(scores))
	for k, sc := range scores {
		labels[k] = set.Experiments[k].Anomaly
		pred[k] = make([]bool, len(sc.Value))
		for r := range sc.Value {
			pred[k][r] = sc.Anomalous(r)
		}
	}
	total, per, err := Protocol(labels, pred, calib)
	if err != nil {
		return nil, err
	}
	rep := &Report{Files: len(scores), F1: total.F1(), FAR: total.FAR(), MAR: total.MAR(), Total: total}
	for k, c := range per {
		rep.PerFile = append(rep.PerFile, FileResult{Name: set.Experiments[k].Name, Confusion: c})
	}
	return rep, nil
}

// Bench runs the leaderboard protocol over the SKAB folder dir: it
// trains the model on the anomaly-free runs and the first CalibRows rows
// of every experiment file (Train), fits the detector on the same normal
// data (FitDetector), scores every experiment file and evaluates rows
// CalibRows.. of each (Evaluate). Labels are read only by Evaluate.
func Bench(ctx context.Context, cfg *rig.Config, dir string, o Options, do DetectorOptions, progress io.Writer) (*Report, *Model, error) {
	if progress == nil {
		progress = io.Discard
	}
	set, err := LoadDir(dir, cfg)
	if err != nil {
		return nil, nil, err
	}
	if len(set.Experiments) == 0 {
		return nil, nil, fmt.Errorf("%w: no labelled experiment file under %s", ErrData, dir)
	}
	fmt.Fprintf(progress, "skab: %d anomaly-free and %d experiment files under %s\n", len(set.Free), len(set.Experiments), dir)
	t0 := time.Now()
	m, err := Train(ctx, cfg, set, o, progress)
	if err != nil {
		return nil, nil, err
	}
	if err := m.FitDetectorContext(ctx, set, do); err != nil {
		return nil, nil, err
	}
	train := time.Since(t0).Seconds()
	rep, err := m.Evaluate(set)
	if err != nil {
		return nil, nil, err
	}
	rep.TrainSeconds = train
	return rep, m, nil
}

// Sweep fits a detector with each of opts on set's calibration blocks and
// evaluates it on set's experiments, computing the model's features once:
// for studying the detector's settings (and their robustness across
// folders, via Report.PerFile) without retraining.
func (m *Model) Sweep(set *Set, opts []DetectorOptions) ([]*Report, []*Detector, error) {
	fs, err := m.splitHalf(context.Background(), m.calibBlocks(set))
	if err != nil {
		return nil, nil, err
	}
	sc, err := m.prepareScoring(set.Experiments, false)
	if err != nil {
		return nil, nil, err
	}
	var reps []*Report
	var dets []*Detector
	for _, o := range opts {
		d, err := m.fitDetector(fs, o)
		if err != nil {
			return nil, nil, err
		}
		scores, err := m.scoreAll(sc, d, o)
		if err != nil {
			return nil, nil, err
		}
		rep, err := report(set, scores, m.Options.CalibRows)
		if err != nil {
			return nil, nil, err
		}
		reps = append(reps, rep)
		dets = append(dets, d)
	}
	return reps, dets, nil
}
