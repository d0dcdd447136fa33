package train

import (
	"math"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

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
	// Health compares, per condition target whose classes carry a
	// health (rig-config order), its component's health with the
	// labelled class's health (nil when nothing is labelled).
	Health []HealthMetrics `json:"health,omitempty"`
}

// HealthMetrics are one condition target's component health results.
type HealthMetrics struct {
	Target    string `json:"target"`
	Component string `json:"component"`
	// N is the number of labelled windows.
	N int `json:"n"`
	// HealthMAE and StatusAgreement are those of the health a diagnosis
	// reports (diag.ClassHealth of the target's class head, as
	// agent/infer derives it): the mean absolute error against the
	// labelled class's health, and the share of windows whose status is
	// diag.StatusOf of it.
	HealthMAE       float64 `json:"health_mae"`
	StatusAgreement float64 `json:"status_agreement"`
	// HeadHealthMAE and HeadStatusAgreement are the same for the health
	// head's output on the component (which diagnoses do not read; 0
	// without health predictions).
	HeadHealthMAE       float64 `json:"head_health_mae"`
	HeadStatusAgreement float64 `json:"head_status_agreement"`
}

// scoreHealth computes the HealthMetrics of cfg's condition targets from
// the class probabilities probs (per target [n, C]) and the health head's
// output health ([n, N], nodes in component order; nil: none).
func scoreHealth(cfg *rig.Config, labels [][]int, probs [][]float32, health []float32) []HealthMetrics {
	var out []HealthMetrics
	N := len(cfg.Components)
	for j, t := range cfg.Targets {
		ci := cfg.ComponentIndex(t.Component)
		C := len(t.Classes)
		if t.Kind != rig.TargetCondition || ci < 0 || j >= len(probs) || len(probs[j]) < len(labels)*C {
			continue
		}
		hs := make([]*float64, C)
		for k, c := range t.Classes {
			hs[k] = c.Health
		}
		hm := HealthMetrics{Target: t.Name, Component: t.Component}
		p := make([]float64, C)
		var absErr, headErr float64
		agree, headAgree := 0, 0
		for i, l := range labels {
			if j >= len(l) || l[j] < 0 || hs[l[j]] == nil {
				continue
			}
			want := *hs[l[j]]
			for k := range p {
				p[k] = float64(probs[j][i*C+k])
			}
			h, st, ok := diag.ClassHealth(p, hs)
			if !ok {
				continue
			}
			hm.N++
			absErr += math.Abs(h - want)
			if st == diag.StatusOf(want) {
				agree++
			}
			if len(health) >= (i+1)*N {
				v := float64(health[i*N+ci])
				headErr += math.Abs(v - want)
				if diag.StatusOf(v) == diag.StatusOf(want) {
					headAgree++
				}
			}
		}
		if hm.N == 0 {
			continue
		}
		n := float64(hm.N)
		hm.HealthMAE, hm.StatusAgreement = absErr/n, float64(agree)/n
		if len(health) >= len(labels)*N {
			hm.HeadHealthMAE, hm.HeadStatusAgreement = headErr/n, float64(headAgree)/n
		}
		out = append(out, hm)
	}
	return out
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
