package train

import "github.com/hydrognn/hydrognn/shared/rig"

// Metrics are evaluation results on a set of windows.
type Metrics struct {
	// N is the number of windows.
	N int `json:"n"`
	// Loss is the mean cross-entropy summed over targets (unweighted).
	Loss float64 `json:"loss"`
	// Targets are per target, in rig-config order.
	Targets []TargetMetrics `json:"targets"`
	// Recon is the mean squared reconstruction error per present cell.
	Recon float64 `json:"recon"`
}

// TargetMetrics are one target's classification results.
type TargetMetrics struct {
	Name string `json:"name"`
	// N is the number of labelled windows.
	N        int     `json:"n"`
	Accuracy float64 `json:"accuracy"`
	// MacroF1 is the mean F1 over the classes present in the labels or
	// the predictions.
	MacroF1 float64 `json:"macro_f1"`
	// Confusion[true][predicted] counts windows.
	Confusion [][]int `json:"confusion"`
}

// Target returns the metrics of the named target, or nil.
func (m *Metrics) Target(name string) *TargetMetrics {
	for i := range m.Targets {
		if m.Targets[i].Name == name {
			return &m.Targets[i]
		}
	}
	return nil
}

// MeanF1 returns the mean macro-F1 over targets with labels (0 if none).
func (m *Metrics) MeanF1() float64 {
	s, n := 0.0, 0
	for _, t := range m.Targets {
		if t.N > 0 {
			s += t.MacroF1
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

// SelectionScore is the validation score training maximises: the mean
// macro-F1 over cfg's condition targets, or over all targets when it has
// none (flags such as "stable" describe the data, not a component).
func (m *Metrics) SelectionScore(cfg *rig.Config) float64 {
	s, n := 0.0, 0
	for j, t := range m.Targets {
		if t.N > 0 && j < len(cfg.Targets) && cfg.Targets[j].Kind == rig.TargetCondition {
			s += t.MacroF1
			n++
		}
	}
	if n == 0 {
		return m.MeanF1()
	}
	return s / float64(n)
}

// Score computes accuracy, macro-F1 and the confusion matrix of pred
// against truth (both class indices; truth < 0 is unlabelled and skipped).
func Score(name string, classes int, truth, pred []int) TargetMetrics {
	tm := TargetMetrics{Name: name, Confusion: make([][]int, classes)}
	for c := range tm.Confusion {
		tm.Confusion[c] = make([]int, classes)
	}
	correct := 0
	for i, t := range truth {
		if t < 0 {
			continue
		}
		tm.N++
		tm.Confusion[t][pred[i]]++
		if pred[i] == t {
			correct++
		}
	}
	if tm.N == 0 {
		return tm
	}
	tm.Accuracy = float64(correct) / float64(tm.N)
	f1s, n := 0.0, 0
	for c := range classes {
		tp, fp, fn := tm.Confusion[c][c], 0, 0
		for o := range classes {
			if o != c {
				fp += tm.Confusion[o][c]
				fn += tm.Confusion[c][o]
			}
		}
		if tp+fp+fn == 0 {
			continue // class absent from labels and predictions
		}
		f1s += 2 * float64(tp) / float64(2*tp+fp+fn)
		n++
	}
	if n > 0 {
		tm.MacroF1 = f1s / float64(n)
	}
	return tm
}
