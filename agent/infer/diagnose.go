package infer

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Diagnose turns the Result of one window w (as Run or RunInto made it)
// into a diagnosis for the Model's rig. elapsed is the window's share of
// the inference time (Output.Elapsed / len(Output.Results), or what
// RunInto returned). The diagnosis owns all its memory; AgentID and Seq
// are left for the caller (the agent numbers diagnoses).
//
// How it is built:
//   - Components, in the firmware config's order: health and status from
//     the class heads of the condition targets on the component
//     (componentHealth, diag.ClassHealth: the expected health Σ p·class
//     health, and the median status band of the probabilities; the
//     health head is never read, as it is trained only on components
//     with a condition target); status Unknown when no condition target
//     covers the component (Health is then 0 and meaningless: nothing
//     trained judges it; its anomaly score and findings still stand),
//     when every input sensor of the component was missing in w (for a
//     component without input sensors: every input sensor of the rig),
//     or when its condition target is not judged (below; Health keeps the
//     expected health; while a required input sensor is missing the
//     finding below also names "components' health" among what is not
//     judged when the bundle has a health head); anomaly score =
//     the highest score of its sensors; drivers = its sensors with the
//     highest anomaly scores (score > 0, not masked), at most MaxDrivers.
//     While a required input sensor is missing the anomaly scores are not
//     judged either (the anomaly head's reconstruction mixes every node
//     too, so the missing sensor inflates the others' errors): they keep
//     the head's values but make no finding and no detector status, and
//     the finding below names "anomaly scores" among what is not judged.
//   - Health and Status of the rig: the lowest health and the worst
//     status of the components with a known status; Unknown when none
//     has one.
//   - When no component's status is known (no condition target, e.g.
//     the SKAB bundle, or none judged), a result of a
//     Detector (r.Detector, past its calibration; not while a required
//     input sensor is missing) sets the statuses from
//     the scores instead: the rig's from the detector's score, each
//     component's from its anomaly score (see statusOfScore); Health
//     stays 0. While the detector calibrates they stay Unknown and
//     Calibrating is set (not an alert: see shared/cloudapi IsAlert).
//   - Targets in config order; Sensors as the anomaly head gives them.
//   - Anomalies, most severe first: a predicted condition class that
//     names a fault (severity from its class health, see CriticalHealth;
//     confidence its probability); a predicted flag class that names a
//     fault (info); neither for a target that is not judged: its class
//     is unknown, Targets keep the head's probabilities, and a
//     missing-sensor finding says "<target> not judged". A target is not
//     judged when a required input sensor is missing (see
//     requiredMissing: every target's head reads every input sensor's
//     window, and the model was trained to do without only the bundle's
//     Manifest.DropoutSensors), which makes every class target not
//     judged and the finding of that sensor's component say why; or
//     when it has no data in w (every input sensor of its component
//     missing; for a target on no component or on one without input
//     sensors, every input sensor of the rig); a
//     component whose anomaly score is at least 1 and that no class head
//     already blames, unless a required input sensor is missing (severity
//     from the score, confidence 1 - 1/score; the fault named by
//     diag.NameAnomaly's physics rules over the window means of the
//     component's sensors where exactly one rule matches, with the
//     confidence times diag.RuleConfidence and the evidence in the
//     reason and its other evidence sensors after the drivers in
//     Sensors, else left empty: an unexplained anomaly in
//     shared/cloudapi's terms, the anomaly head says that, not why; no
//     naming for a bundle without class heads or with the SKAB detector,
//     see namesAnomalies);
//     missing sensors (sensor_fault, one per component, naming the
//     sensors without data and the required ones missing in more than
//     MaxMissingFraction of the window; medium when the component has
//     no sensor left or one of them is a required sensor missing, else
//     low).
//   - Recommendations: one per anomaly from the table in recommend.go,
//     most urgent first, at most diag.MaxRecommendations; DaysToFailure
//     from the RUL head when it is for that component.
//   - Window: start, end (start + the spec's duration), steps, mean
//     coverage, and copies of w.Missing and w.Stale.
func (m *Model) Diagnose(r *Result, w *prep.Window, elapsed time.Duration) (*diag.Diagnosis, error) {
	if r == nil || w == nil {
		return nil, fmt.Errorf("infer: diagnose: nil result or window")
	}
	if err := m.checkWindow(w); err != nil {
		return nil, fmt.Errorf("infer: diagnose: %w: %w", ErrInput, err)
	}
	cfg, man := m.cfg, m.manifest
	d := &diag.Diagnosis{
		RigID:           cfg.Equipment.ID,
		RigType:         cfg.RigType,
		CreatedAt:       m.opts.Now(),
		Model:           diag.ModelRef{Version: man.Version, Digest: m.digest, Precision: string(m.file.Precision)},
		InferenceMicros: elapsed.Microseconds(),
		Window: diag.Window{
			Start: w.Start, Steps: w.Steps,
			Missing: slices.Clone(w.Missing), Stale: slices.Clone(w.Stale),
		},
	}
	if !w.Start.IsZero() {
		d.Window.End = w.Start.Add(man.Input.Duration())
	}
	if len(w.Coverage) > 0 {
		sum := 0.0
		for _, c := range w.Coverage {
			sum += c
		}
		d.Window.Coverage = sum / float64(len(w.Coverage))
	} else {
		present := 0
		for _, v := range w.Mask {
			if v != 0 {
				present++
			}
		}
		d.Window.Coverage = float64(present) / float64(len(w.Mask))
	}
	d.Sensors = slices.Clone(r.Sensors)
	score := make(map[string]diag.SensorScore, len(r.Sensors))
	for _, s := range r.Sensors {
		score[s.ID] = s
	}

	// Targets in config order.
	for _, t := range cfg.Targets {
		for _, tr := range r.Targets {
			if tr.Name == t.Name {
				tr.Classes = slices.Clone(tr.Classes)
				d.Targets = append(d.Targets, tr)
			}
		}
	}

	// Which class targets are judged: none while a required input
	// sensor is missing, else those with data.
	required := requiredMissing(man, w)
	judged := func(t *rig.Target) bool { return len(required) == 0 && !unjudged(cfg, man.Input, w, t) }
	// The health head reads the GNN's node states, which every input
	// sensor feeds (pooling and graph attention mix every node), so
	// while a required sensor is missing no component's health from it
	// is judged either.
	healthUnjudged := r.Health != nil && len(required) > 0
	// The anomaly head's reconstruction mixes every node as well: a
	// missing required sensor (zero-filled, masked) inflates the other
	// sensors' errors, so while one is missing the anomaly scores make
	// no finding and, through the detector, no status: they are not
	// judged (Sensors and the components' AnomalyScore and Drivers keep
	// the head's values).
	anomalyUnjudged := len(r.Sensors) > 0 && len(required) > 0
	// Components whose health is the expected health of a condition
	// target that is not judged.
	unjudgedHealth := map[string]bool{}
	for _, tr := range d.Targets {
		if t := cfg.Target(tr.Name); t.Kind == rig.TargetCondition && !judged(t) {
			unjudgedHealth[t.Component] = true
		}
	}

	// Components.
	blind := allMissing(cfg, man.Input, w, "") // no input sensor has data
	minHealth, worst, known := math.Inf(1), diag.Unknown, false
	blamed := map[string]bool{} // components a class head names a fault on
	for _, c := range cfg.Components {
		ch := diag.ComponentHealth{ID: c.ID, Status: diag.Unknown}
		h, st, ok := m.componentHealth(r, c.ID)
		var inputs, missing int
		for _, s := range cfg.Sensors {
			if s.Component != c.ID || man.Input.Index(s.ID) < 0 {
				continue
			}
			inputs++
			if slices.Contains(w.Missing, s.ID) {
				missing++
			}
			if sc, has := score[s.ID]; has && !sc.Masked && sc.Score > 0 {
				ch.Drivers = append(ch.Drivers, diag.Driver{Sensor: s.ID, Weight: sc.Score})
				ch.AnomalyScore = max(ch.AnomalyScore, sc.Score)
			}
		}
		slices.SortStableFunc(ch.Drivers, func(a, b diag.Driver) int { return cmp.Compare(b.Weight, a.Weight) })
		if len(ch.Drivers) > MaxDrivers {
			ch.Drivers = ch.Drivers[:MaxDrivers]
		}
		if ok {
			ch.Health = h
			if ((inputs == 0 && !blind) || missing < inputs) && !unjudgedHealth[c.ID] {
				ch.Status = st
				minHealth, known = min(minHealth, h), true
				worst = diag.Worse(worst, st)
			}
		}
		d.Components = append(d.Components, ch)
	}
	if known {
		d.Health, d.Status = minHealth, worst
	} else {
		d.Status = diag.Unknown
	}
	// While the detector calibrates, Unknown means "not judged yet": the
	// diagnosis says so and is no alert (cloudapi.IsAlert).
	d.Calibrating = r.Detector != nil && r.Detector.Calibrating && !known
	if det := r.Detector; det != nil && !known && !det.Calibrating && !anomalyUnjudged {
		// No health model: the SKAB detector's score sets the statuses
		// (Health stays 0, meaning none); a window whose every sensor is
		// missing scored none: unknown, not healthy.
		if det.Scored > 0 {
			d.Status = statusOfScore(det.Score)
		}
		for ci := range d.Components {
			if c := &d.Components[ci]; !blind && !allMissing(cfg, man.Input, w, c.ID) {
				c.Status = statusOfScore(c.AnomalyScore)
			}
		}
	}

	// Anomalies from the class heads. A target that is not judged (a
	// required sensor missing, or its data all missing: see
	// requiredMissing and unjudged) names no fault: its class is
	// unknown, and the missing sensors' findings below say why.
	var found []finding
	notJudged := map[string][]string{} // component ("": the rig) -> targets not judged
	var allNotJudged []string          // every target not judged, config order, then the health head's output
	for _, tr := range d.Targets {
		t := cfg.Target(tr.Name)
		if !judged(t) {
			notJudged[t.Component] = append(notJudged[t.Component], t.Name)
			allNotJudged = append(allNotJudged, t.Name)
			continue
		}
		cl := t.Classes[tr.Predicted]
		if cl.Fault == "" {
			continue
		}
		a := diag.Anomaly{Fault: cl.Fault, Severity: diag.SeverityInfo, Confidence: tr.Classes[tr.Predicted].P,
			Components: []string{}}
		if t.Kind == rig.TargetCondition && cl.Health != nil {
			a.Severity = severityOfHealth(*cl.Health)
		}
		if t.Component != "" {
			a.Components = []string{t.Component}
			blamed[t.Component] = true
			if ci := cfg.ComponentIndex(t.Component); ci >= 0 {
				for _, dr := range d.Components[ci].Drivers {
					a.Sensors = append(a.Sensors, dr.Sensor)
				}
			}
		}
		why := fmt.Sprintf("%s predicted %q (p=%.2f)", t.Name, cl.Label, a.Confidence)
		found = append(found, finding{a, withDrivers(why, a.Sensors)})
	}
	if healthUnjudged {
		allNotJudged = append(allNotJudged, healthNotJudged)
	}
	if anomalyUnjudged {
		allNotJudged = append(allNotJudged, anomalyNotJudged)
	}
	// Anomalies from the anomaly head, on components no class head
	// blames, while its scores are judged.
	for _, ch := range d.Components {
		if anomalyUnjudged || ch.AnomalyScore < 1 || blamed[ch.ID] {
			continue
		}
		a := diag.Anomaly{Severity: severityOfScore(ch.AnomalyScore), Confidence: diag.AnomalyConfidence(ch.AnomalyScore),
			Components: []string{ch.ID}}
		for _, dr := range ch.Drivers {
			if dr.Weight >= 1 {
				a.Sensors = append(a.Sensors, dr.Sensor)
			}
		}
		why := fmt.Sprintf("anomaly score %.1f times the calibrated threshold", ch.AnomalyScore)
		drivers := a.Sensors
		if m.namesAnomalies() && r.Detector == nil {
			if n, ok := diag.NameAnomaly(m.evidence(ch.ID, score, w)); ok {
				// Physics rules over the sensors' window means name the
				// fault, with less confidence than a class head; the
				// rule's other evidence joins the drivers in Sensors.
				// diag.SuspectedFault recognises the finding by it.
				a.Fault, a.Confidence = n.Fault, diag.NamedConfidence(ch.AnomalyScore)
				why = n.Reason + "; " + why
				a.Sensors = slices.Clone(drivers)
				for _, id := range n.Sensors {
					if !slices.Contains(a.Sensors, id) {
						a.Sensors = append(a.Sensors, id)
					}
				}
			}
		}
		found = append(found, finding{a, withDrivers(why, drivers)})
	}
	// Missing sensors, one finding per component: the sensors without
	// data, then the required ones missing in more than
	// MaxMissingFraction of the window (the model masks their gaps, but
	// they stop the class targets from being judged).
	for _, c := range cfg.Components {
		var ids, sparse, blocking []string
		inputs, none := 0, 0
		for _, s := range cfg.Sensors {
			if s.Component != c.ID || man.Input.Index(s.ID) < 0 {
				continue
			}
			inputs++
			isRequired := slices.Contains(required, s.ID)
			if slices.Contains(w.Missing, s.ID) {
				ids = append(ids, s.ID)
				none++
			} else if isRequired {
				sparse = append(sparse, s.ID)
			}
			if isRequired {
				blocking = append(blocking, s.ID)
			}
		}
		if len(ids)+len(sparse) == 0 {
			continue
		}
		sev := diag.SeverityLow
		var whys []string
		if len(ids) > 0 {
			whys = append(whys, fmt.Sprintf("no data from %s in the window", strings.Join(ids, ", ")))
		}
		if len(sparse) > 0 {
			whys = append(whys, fmt.Sprintf("%s missing in more than %.0f %% of the window",
				strings.Join(sparse, ", "), 100*MaxMissingFraction))
		}
		why := strings.Join(whys, "; ")
		switch {
		case len(blocking) > 0:
			sev = diag.SeverityMedium
			if len(allNotJudged) > 0 {
				why += fmt.Sprintf("; %s not judged: the model was not trained to judge without %s",
					strings.Join(allNotJudged, ", "), strings.Join(blocking, ", "))
			}
		case none == inputs:
			sev = diag.SeverityMedium
			if ts := notJudged[c.ID]; len(ts) > 0 {
				why += fmt.Sprintf("; %s not judged", strings.Join(ts, ", "))
			}
		}
		found = append(found, finding{diag.Anomaly{Fault: rig.FaultSensor, Severity: sev, Confidence: 1,
			Components: []string{c.ID}, Sensors: append(ids, sparse...)}, why})
	}
	slices.SortStableFunc(found, func(a, b finding) int {
		if c := cmp.Compare(severityRank(b.Severity), severityRank(a.Severity)); c != 0 {
			return c
		}
		return cmp.Compare(b.Confidence, a.Confidence)
	})
	for _, f := range found {
		d.Anomalies = append(d.Anomalies, f.Anomaly)
	}

	// Recommendations.
	type key struct {
		comp  string
		fault rig.Fault
	}
	seen := map[key]bool{}
	for _, f := range found {
		a := f.Anomaly
		comp := ""
		if len(a.Components) > 0 {
			comp = a.Components[0]
		}
		k := key{comp, a.Fault}
		if seen[k] {
			continue
		}
		seen[k] = true
		var ctype rig.ComponentType
		if ci := cfg.ComponentIndex(comp); ci >= 0 {
			ctype = cfg.Components[ci].Type
		}
		rec := diag.Recommendation{Component: comp, Fault: a.Fault, Priority: a.Severity,
			Action: actionFor(ctype, a.Fault, a.Severity), Reason: f.reason}
		if r.RUL != nil && r.RUL.Component != "" && r.RUL.Component == comp {
			days := max(0, r.RUL.P50Hours) / 24
			rec.DaysToFailure = &days
		}
		d.Recommendations = append(d.Recommendations, rec)
		if len(d.Recommendations) == diag.MaxRecommendations {
			break
		}
	}
	if r.RUL != nil {
		rul := *r.RUL
		// Remaining life is never negative (the cloud API refuses it),
		// whoever built r.
		rul.P10Hours, rul.P50Hours, rul.P90Hours = max(0, rul.P10Hours), max(0, rul.P50Hours), max(0, rul.P90Hours)
		d.RUL = &rul
	}
	return d, nil
}

// componentHealth returns component id's health and status from the
// signals trained to give them: the class heads of the condition targets
// on it whose classes carry a health (diag.ClassHealth: the expected
// health Σ p·class health, and the status band holding the most
// probability). With several such targets, the lowest health and the
// worst status. ok is false when no such target covers the component.
// The health head is not read: training fits it only on components with
// a condition target (models/train healthLabels), so on the others its
// output is untrained, and on the shipped ZeMA bundle it agreed with the
// labels' status less often than the class heads even where it is
// trained (docs/inference.md, "Health and status").
func (m *Model) componentHealth(r *Result, id string) (h float64, st diag.Status, ok bool) {
	for _, tr := range r.Targets {
		t := m.cfg.Target(tr.Name)
		if t == nil || t.Component != id || t.Kind != rig.TargetCondition || len(tr.Classes) != len(t.Classes) {
			continue
		}
		p, hs := make([]float64, len(tr.Classes)), make([]*float64, len(t.Classes))
		for k, cp := range tr.Classes {
			p[k], hs[k] = cp.P, t.Classes[k].Health
		}
		e, band, has := diag.ClassHealth(p, hs)
		if !has {
			continue
		}
		if !ok || e < h {
			h = e
		}
		st, ok = diag.Worse(st, band), true
	}
	return h, st, ok
}

// namesAnomalies reports whether Diagnose names anomaly-head findings
// with diag.NameAnomaly: only for a bundle trained on labelled operating
// data, one with a class head and without the SKAB detector. The rules
// read a window mean in sd of the manifest's statistics; a bundle with
// no class targets (skab-testbed) has statistics composed from one
// calibration file's operating point (docs/skab.md), tiny spreads and
// means a healthy rig sits many "sd" from (SKAB's Thermocouple: std
// 0.043 degC, healthy rows 2-4 degC warmer), so every finding would be
// named overheating.
func (m *Model) namesAnomalies() bool {
	if _, ok := m.manifest.Provenance.Config[SKABDetectorKey]; ok {
		return false
	}
	for _, h := range m.heads {
		if h.head.Kind == bundle.HeadClass {
			return true
		}
	}
	return false
}

// evidence returns the type of component id and, for NameAnomaly, each
// of its input sensors with data in w: kind, port, whether its anomaly
// score is at least 1, its window mean in the bundle's normalised
// units (w.Values over the cells whose Mask is 1), its normalisation std
// and its configured range's span.
func (m *Model) evidence(id string, score map[string]diag.SensorScore, w *prep.Window) (rig.ComponentType, []diag.Evidence) {
	var ct rig.ComponentType
	if ci := m.cfg.ComponentIndex(id); ci >= 0 {
		ct = m.cfg.Components[ci].Type
	}
	T := w.Steps
	var ev []diag.Evidence
	for _, s := range m.cfg.Sensors {
		if s.Component != id {
			continue
		}
		i := m.manifest.Input.Index(s.ID)
		if i < 0 || (i+1)*T > len(w.Values) || (i+1)*T > len(w.Mask) {
			continue
		}
		sum, n := 0.0, 0
		for t := i * T; t < (i+1)*T; t++ {
			if w.Mask[t] != 0 {
				sum += float64(w.Values[t])
				n++
			}
		}
		if n == 0 {
			continue
		}
		sc := score[s.ID]
		ev = append(ev, diag.Evidence{Sensor: s.ID, Kind: s.Kind, Port: s.Port,
			Driver: !sc.Masked && sc.Score >= 1, Z: sum / float64(n),
			Std: m.manifest.Input.Sensors[i].Std, Span: s.Range.Max - s.Range.Min})
	}
	return ct, ev
}

// healthNotJudged names the health head's output in a missing-sensor
// finding's "<targets> not judged" list.
const healthNotJudged = "components' health"

// anomalyNotJudged names the anomaly head's output in that list.
const anomalyNotJudged = "anomaly scores"

// finding is an anomaly with the reason its recommendation gives.
type finding struct {
	diag.Anomaly
	reason string
}

// withDrivers appends the driving sensors to a reason.
func withDrivers(why string, sensors []string) string {
	if len(sensors) == 0 {
		return why
	}
	return why + "; driven by " + strings.Join(sensors, ", ")
}

// statusOfScore maps a detector score (anomalous above 1) to a status:
// healthy up to 1, warning below 4 (the score at which severityOfScore
// turns high), critical from 4.
func statusOfScore(s float64) diag.Status {
	switch {
	case s <= 1:
		return diag.Healthy
	case s < 4:
		return diag.Warning
	}
	return diag.Critical
}

// allMissing reports whether every input sensor of component id (id "":
// of the rig) is missing in w (false for a component without input
// sensors).
func allMissing(cfg *rig.Config, spec prep.Spec, w *prep.Window, id string) bool {
	inputs, missing := 0, 0
	for _, s := range cfg.Sensors {
		if (id != "" && s.Component != id) || spec.Index(s.ID) < 0 {
			continue
		}
		inputs++
		if slices.Contains(w.Missing, s.ID) {
			missing++
		}
	}
	return inputs > 0 && missing == inputs
}

// MaxMissingFraction is the largest fraction of a window's cells a
// required input sensor may miss (mask 0) with the class targets still
// judged: the model masks such gaps, as it does in training, where held
// and missing cells occur. Beyond it the sensor counts as missing (see
// requiredMissing).
const MaxMissingFraction = 0.25

// RequiredMissing returns, in input order, the input sensors missing in w
// that the Model was not trained to judge without (see requiredMissing).
// While it is not empty, Diagnose judges no class target, no
// component's health from the health head and no anomaly score: a caller comparing diagnoses
// (the update canary) can tell such windows apart. w must suit the
// Model's spec (nil for a window checkWindow would refuse).
func (m *Model) RequiredMissing(w *prep.Window) []string {
	if w == nil {
		return nil
	}
	return requiredMissing(m.manifest, w)
}

// requiredMissing returns, in input order, the input sensors of man that
// its models were not trained to judge without (not in
// Manifest.DropoutSensors: for a bundle trained before the firmware
// config's may_drop_out existed, every input sensor) and that are missing
// in w: no cell with data, or more than MaxMissingFraction of the cells
// without. Every class target's head reads every input sensor's window
// (models/gnn: the pooled nodes, and a component target's own view of
// every sensor), so while one of them is missing no class target is
// judged.
func requiredMissing(man *bundle.Manifest, w *prep.Window) []string {
	T := w.Steps
	if T <= 0 || len(w.Mask) < len(man.Input.Sensors)*T {
		return nil // checkWindow refuses such a window
	}
	optional := man.DropoutSensors()
	var out []string
	for s, ss := range man.Input.Sensors {
		if slices.Contains(optional, ss.ID) {
			continue
		}
		gaps := 0
		for _, v := range w.Mask[s*T : (s+1)*T] {
			if v == 0 {
				gaps++
			}
		}
		if gaps == T || float64(gaps) > MaxMissingFraction*float64(T) {
			out = append(out, ss.ID)
		}
	}
	return out
}

// unjudged reports whether target t had no data to judge from in w:
// every input sensor of its component missing, or, for a target on no
// component or on a component without input sensors, every input sensor
// of the rig.
func unjudged(cfg *rig.Config, spec prep.Spec, w *prep.Window, t *rig.Target) bool {
	if t.Component != "" && allMissing(cfg, spec, w, t.Component) {
		return true
	}
	return allMissing(cfg, spec, w, "")
}
