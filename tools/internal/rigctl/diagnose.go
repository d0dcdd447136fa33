package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/trend"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func init() {
	register("diagnose", "diagnose each cycle of a data set with a bundle, as the agent does (diagnose --bundle DIR --dataset uci:DIR|sim:DIR)", runDiagnose)
}

// diagnoseEpoch is the default --start of `rigctl diagnose`: a fixed
// time, so that the output is the same from run to run, and the earliest
// the cloud accepts (cloudapi.MinTime).
var diagnoseEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const diagnoseUsage = `diagnose --bundle DIR --dataset uci:DIR|sim:DIR [--json] [--summary] [--precision fp32|int8] [--rig FILE] [--start TIME] [--cycle DURATION]

Runs every cycle of the data set through the bundle on ONNX Runtime
(agent/infer: Run, then Diagnose, the edge agent's path) and prints each
cycle's diagnosis, then a histogram of the statuses: the rig's and each
component's, and the findings per fault (unexplained: anomaly-head
findings no class head or naming rule explains). With labels (the UCI layout's profile.txt, also rigsim's), the
histogram also counts the rig status the labels imply (the worst status of
the condition targets' class healths) against the diagnosed one, and
per condition target the component's health MAE and status agreement
with the label's class health (and the bundle's raw health head's, which
diagnoses do not read).

The data set has no clock: cycle i (from 0) is given the window that
starts at --start + k x --cycle, k being the cycle's original number
minus the first cycle's when the data set has cycles.txt (the shipped
UCI copy starts at cycle 212 and skips cycles; rigsim numbers its
cycles 1, 2, ...), else i. --start: RFC 3339, default
2000-01-01T00:00:00Z; --cycle: a Go duration such as 60s, the time per
cycle number, default the firmware config's operation.cycle_s (60 s for
zema-testrig, 20 s for the excavator). Every window must lie within
2000-2199, the times the cloud accepts: a clock outside, or one that
overflows, is a usage error before any cycle runs. Each diagnosis is
annotated with the health trend of the cycles up to and including it as
the edge agent annotates its windows (agent/trend, with the agent's
options: a degradation rate, the slope of the line fitted through a
component's judged health, once it has 6 trend points, 5.6-minute
buckets averaged into one, spanning an hour within the last 24 h, and a
remaining useful life when that line also declines significantly; so
never with --cycle above 4.8 h). A remaining useful life from the
model's head wins, as on the agent.

Without --json: one line per cycle, then the summary: the histogram,
then each component's health trend after the last cycle (trend points
and span, rate per hour and per day, remaining useful life P50 and
P10-P90; "-" with too little history, and for the remaining useful life
also without a significant decline). On a cycle's line a component with
a fit gets "trend RATE/h" after its health (health per hour, negative:
declining), one with a remaining useful life "rul P50h", and the line
ends with the diagnosis's (the component that reaches the critical band
first: P50, and P10-P90). With --json: one diag.Diagnosis per line (JSON
lines; created_at is the time of the run, window the cycle's times, rul
and recommendations' days_to_failure the trend's; no rate). --summary
prints the summary only (with --json as one JSON object, the trend as
"trend": per component points, span_hours, rate_per_hour, rate_per_day
and rul, null for "-"). Progress goes to stderr.

The firmware config is --rig, or firmware-configs/<rig type>.yaml found
from the working directory upwards. ONNX Runtime is loaded from
$ONNXRUNTIME_LIB (deploy/dev/onnxruntime.sh prints a path).`

// diagnoseSummaryJSON is the output of `diagnose --summary --json`.
type diagnoseSummaryJSON struct {
	N         int    `json:"n"`
	Bundle    string `json:"bundle"`
	Precision string `json:"precision"`
	Dataset   string `json:"dataset"`
	// Status counts the cycles per rig status.
	Status map[diag.Status]int `json:"status"`
	// Components counts, per component, the cycles per status.
	Components map[string]map[diag.Status]int `json:"components"`
	// LabelStatus counts, per rig status the labels imply, the cycles
	// per diagnosed rig status (labelled data only).
	LabelStatus map[diag.Status]map[diag.Status]int `json:"label_status,omitempty"`
	// Findings counts the anomalies per fault, all cycles together;
	// "unexplained" counts those without one (anomaly-head findings that
	// neither a class head nor diag.NameAnomaly's rules explain).
	Findings map[string]int `json:"findings"`
	// Health is, per condition target, how the diagnosis's component
	// health matches the label's class health (labelled data only).
	Health map[string]healthJSON `json:"health,omitempty"`
	// Trend is, per component, its health trend after the last cycle:
	// the agent's fit and remaining useful life (agent/trend).
	Trend map[string]trendJSON `json:"trend"`
	// order is the components' config order, for the table.
	order []string
}

// trendJSON is a component's health trend after the last cycle: the
// line the agent fits through its judged health (Tracker.Trend) and the
// time until that line reaches the critical band (Tracker.Estimate).
// With too little history (fewer than 6 trend points, or under an hour
// of them) Points is 0 and the rest null; RUL is null also when the
// health does not decline significantly.
type trendJSON struct {
	// Points and SpanHours are the trend points fitted and the hours
	// from the first to the last.
	Points    int      `json:"points"`
	SpanHours *float64 `json:"span_hours"`
	// RatePerHour is the degradation rate, the fit's slope in health per
	// hour (negative: declining); RatePerDay is 24 times it.
	RatePerHour *float64 `json:"rate_per_hour"`
	RatePerDay  *float64 `json:"rate_per_day"`
	// RUL is the remaining useful life, counted from the end of the
	// newest window that judged the component (the last cycle's, when
	// it did).
	RUL *diag.RUL `json:"rul"`
}

// healthJSON compares a condition target's component health with the
// health of its labelled class.
type healthJSON struct {
	Component string `json:"component"`
	N         int    `json:"n"`
	// HealthMAE and StatusAgreement are the diagnosis's: the mean
	// absolute error of the component's health, and the share of cycles
	// whose component status is diag.StatusOf(the label's class health).
	HealthMAE       float64 `json:"health_mae"`
	StatusAgreement float64 `json:"status_agreement"`
	// HeadHealthMAE and HeadStatusAgreement are the same for the
	// bundle's health head output (nil without one), which diagnoses do
	// not read.
	HeadHealthMAE       *float64 `json:"head_health_mae,omitempty"`
	HeadStatusAgreement *float64 `json:"head_status_agreement,omitempty"`
}

func runDiagnose(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "diagnose", diagnoseUsage)
	dir := fs.String("bundle", "", "bundle `DIR` (required)")
	data := fs.String("dataset", "", "data set, uci:DIR or sim:DIR (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	summary := fs.Bool("summary", false, "print the status histogram only")
	precision := fs.String("precision", "", "model file: fp32 or int8 (default: int8 when the bundle has it, as the agent)")
	rigPath := fs.String("rig", "", "firmware config `FILE` (default: firmware-configs/<rig type>.yaml)")
	startAt := fs.String("start", "", "RFC 3339 `TIME` the first cycle starts at, 2000-2199 (default 2000-01-01T00:00:00Z)")
	cycleLen := fs.String("cycle", "", "`DURATION` per cycle number, from one cycle's start to the next (default: the rig's operation.cycle_s)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *dir == "" || *data == "" || fs.NArg() > 0 {
		errorf(env, "diagnose: --bundle DIR and --dataset uci:DIR|sim:DIR are required (no other arguments)")
		return ExitUsage
	}
	clock, err := parseCycleClock(*startAt, *cycleLen)
	if err != nil {
		errorf(env, "diagnose: %v", err)
		return ExitUsage
	}
	m, cfg, ds, code := openEval(env, "diagnose", *dir, *data, *precision, *rigPath)
	if m == nil {
		return code
	}
	defer m.Close()
	if clock.cycle == 0 {
		clock.cycle = defaultCycle(cfg)
	}
	if err := clock.useIDs(ds.Len(), ds.CycleIDs, ds.Source); err != nil {
		errorf(env, "diagnose: %v", err)
		return ExitFailure
	}
	if err := clock.check(ds.Len(), m.Spec().Duration()); err != nil {
		errorf(env, "diagnose: %v", err)
		return ExitUsage
	}
	tr := trend.New(trend.OptionsFor(cfg))
	info := m.Info()
	sum := newDiagnoseSummary(cfg, ds)
	sum.out.Bundle, sum.out.Precision, sum.out.Dataset = info.Name+" "+info.Version, string(info.Precision), ds.Source
	enc := json.NewEncoder(env.Stdout) // one diagnosis per line
	start, printed := time.Now(), time.Now()
	err = diagnoseEach(ctx, m, ds, &clock, func(done, total int) {
		if now := time.Now(); now.Sub(printed) >= progressEvery && done < total {
			printed = now
			fmt.Fprintf(env.Stderr, "diagnose: %d/%d cycles (%d%%)\n", done, total, done*100/max(total, 1))
		}
	}, func(i int, r *infer.Result, d *diag.Diagnosis) error {
		lt := annotateTrend(tr, d)
		sum.add(i, r, d)
		switch {
		case *summary:
		case *asJSON:
			return enc.Encode(d)
		default:
			printDiagnosisLine(env.Stdout, i, d, lt)
		}
		return nil
	})
	if err != nil {
		errorf(env, "diagnose: %v", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stderr, "diagnose: %d/%d cycles in %s\n", ds.Len(), ds.Len(), time.Since(start).Round(10*time.Millisecond))
	switch {
	case *asJSON && *summary:
		return writeJSONOut(env, sum.json(tr))
	case *asJSON:
		return ExitOK
	}
	printDiagnoseSummary(env.Stdout, sum.json(tr))
	return ExitOK
}

// cycleClock gives a data set's cycles times: cycle i's window starts
// at start + k(i)·cycle, k(i) = ids[i] - ids[0] with the data set's
// original cycle numbers (the UCI layout's cycles.txt: the shipped UCI
// copy skips cycles), else i.
type cycleClock struct {
	start time.Time
	cycle time.Duration
	ids   []int
}

// step is k(i), the cycles from the first to cycle i.
func (c *cycleClock) step(i int) int {
	if c.ids != nil {
		return c.ids[i] - c.ids[0]
	}
	return i
}

func (c *cycleClock) at(i int) time.Time { return c.start.Add(time.Duration(c.step(i)) * c.cycle) }

// useIDs gives the clock the data set's original cycle numbers ids
// (nil: none, cycle i is i cycles after the first) for its n cycles;
// source names the data set. Numbers that do not increase are an error:
// the times would run backwards, and the trend drop every later cycle.
func (c *cycleClock) useIDs(n int, ids []int, source string) error {
	if ids != nil && len(ids) != n {
		return fmt.Errorf("%s: %d cycle numbers (cycles.txt) for %d cycles", source, len(ids), n)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return fmt.Errorf("%s: cycles.txt line %d: cycle %d is not after line %d's %d; the cycles' clock (--start + (cycle - %d) x --cycle) needs increasing cycle numbers",
				source, i+1, ids[i], i, ids[i-1], ids[0])
		}
	}
	c.ids = ids
	return nil
}

// check checks, before anything runs, the clock of n cycles with windows
// window long: a last cycle's start that overflows a time.Duration, or a
// last window that ends outside the times the cloud accepts
// (cloudapi.InTimeRange: 2000-2199), is an error naming --cycle (and
// --start). parseCycleClock checked the first cycle's start.
func (c *cycleClock) check(n int, window time.Duration) error {
	if n == 0 {
		return nil
	}
	last := c.step(n - 1)
	if last > 0 && c.cycle > time.Duration(math.MaxInt64)/time.Duration(last) {
		return fmt.Errorf("--cycle %s: the last cycle would start %d cycles after the first, longer than a time.Duration holds (at most %s a cycle)",
			c.cycle, last, time.Duration(math.MaxInt64)/time.Duration(last))
	}
	if end := c.at(n - 1).Add(window); !cloudapi.InTimeRange(end) || end.Before(c.start) {
		return fmt.Errorf("--start %s --cycle %s: the last cycle's window (%d cycles after the first) ends at %s, outside the times the cloud accepts (%d-%d)",
			c.start.Format(time.RFC3339Nano), c.cycle, last, end.UTC().Format(time.RFC3339Nano), cloudapi.MinTime.Year(), cloudapi.MaxTime.Year()-1)
	}
	return nil
}

// parseCycleClock parses diagnose's --start (empty: diagnoseEpoch; a
// time the cloud accepts, cloudapi.InTimeRange) and --cycle (empty: 0,
// for the caller to set from the rig: defaultCycle).
func parseCycleClock(start, cycle string) (cycleClock, error) {
	c := cycleClock{start: diagnoseEpoch}
	if start != "" {
		t, err := time.Parse(time.RFC3339Nano, start)
		if err != nil {
			return c, fmt.Errorf("--start %q: not an RFC 3339 time such as 2026-03-01T00:00:00Z", start)
		}
		if !cloudapi.InTimeRange(t) {
			return c, fmt.Errorf("--start %s: outside the times the cloud accepts (%d-%d)",
				start, cloudapi.MinTime.Year(), cloudapi.MaxTime.Year()-1)
		}
		c.start = t
	}
	if cycle != "" {
		d, err := time.ParseDuration(cycle)
		if err != nil {
			return c, fmt.Errorf("--cycle %q: not a duration such as 60s or 13m", cycle)
		}
		if d <= 0 {
			return c, fmt.Errorf("--cycle %s: want a positive duration", cycle)
		}
		c.cycle = d
	}
	return c, nil
}

// defaultCycle is diagnose's --cycle by default: the rig's load cycle,
// operation.cycle_s (60 s for the UCI data set's rig, 20 s for the
// excavator). Every data set diagnose reads has one: train.LoadUCI, the
// loader of uci: and sim:, refuses a rig without.
func defaultCycle(cfg *rig.Config) time.Duration {
	return time.Duration(cfg.Operation.CycleS * float64(time.Second))
}

// annotateTrend annotates d with tr as the agent's trended model does
// after Diagnose (Tracker.Annotate: d's health recorded, then its RUL and
// days to failure set unless the model's head gave a RUL or d is
// calibrating), and returns what the text prints after each component's
// health (lineTrend): the tracker's fit and estimate, the estimate left
// out when Annotate gives d none of the trend's (the model's head gave a
// RUL), both left out for a calibrating d.
func annotateTrend(tr *trend.Tracker, d *diag.Diagnosis) lineTrend {
	lt := lineTrend{tr: tr, rul: d.RUL == nil}
	if d.Calibrating {
		lt = lineTrend{}
	}
	tr.Annotate(d)
	return lt
}

// lineTrend is the health trend a cycle's line shows after each
// component's health; the zero lineTrend shows none.
type lineTrend struct {
	tr  *trend.Tracker
	rul bool // the tracker's estimates are shown, not only its rates
}

// rate returns component id's degradation rate in health per hour (the
// slope of Tracker.Trend); ok is false with too little history.
func (l lineTrend) rate(id string) (rate float64, ok bool) {
	if l.tr == nil {
		return 0, false
	}
	fit, ok := l.tr.Trend(id)
	return fit.Rate, ok
}

// estimate returns component id's remaining useful life
// (Tracker.Estimate), or nil.
func (l lineTrend) estimate(id string) *diag.RUL {
	if l.tr == nil || !l.rul {
		return nil
	}
	return l.tr.Estimate(id)
}

// diagnoseEach runs every window of ds through m in batches of up to
// infer.DefaultMaxBatch, diagnoses each (Model.Diagnose, with its share
// of the batch's inference time) and calls fn with the cycle's index,
// result and diagnosis, in data set order; progress (nil: none) is called
// after each batch with the cycles done and their total. With a clock
// (nil: none, window times zero), cycle i's window starts at clock.at(i).
func diagnoseEach(ctx context.Context, m *infer.Model, ds *train.Dataset, clock *cycleClock, progress func(done, total int),
	fn func(i int, r *infer.Result, d *diag.Diagnosis) error) error {
	rs, err := prep.NewResampler(m.Spec())
	if err != nil {
		return err
	}
	batch := make([]*prep.Window, 0, infer.DefaultMaxBatch)
	done := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := m.Run(batch)
		if err != nil {
			return err
		}
		each := out.Elapsed / time.Duration(len(batch))
		for k := range out.Results {
			d, err := m.Diagnose(&out.Results[k], batch[k], each)
			if err != nil {
				return fmt.Errorf("%s cycle %d: %w", ds.Source, done+k+1, err)
			}
			if err := fn(done+k, &out.Results[k], d); err != nil {
				return err
			}
		}
		done += len(batch)
		if progress != nil {
			progress(done, ds.Len())
		}
		batch = batch[:0]
		return nil
	}
	for i, grid := range ds.Grids {
		if err := ctx.Err(); err != nil {
			return err
		}
		w, err := rs.FromGrid(grid)
		if err != nil {
			return fmt.Errorf("%s cycle %d: %w", ds.Source, i+1, err)
		}
		// The window belongs to the resampler until its next call: copy.
		w = w.Clone()
		if clock != nil {
			w.Start = clock.at(i)
		}
		batch = append(batch, w)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// diagnoseSummary counts a data set's diagnoses.
type diagnoseSummary struct {
	cfg    *rig.Config
	ds     *train.Dataset
	out    diagnoseSummaryJSON
	health *healthTally
}

func newDiagnoseSummary(cfg *rig.Config, ds *train.Dataset) *diagnoseSummary {
	s := &diagnoseSummary{cfg: cfg, ds: ds, health: newHealthTally(cfg),
		out: diagnoseSummaryJSON{Status: map[diag.Status]int{}, Components: map[string]map[diag.Status]int{},
			Findings: map[string]int{}}}
	for _, c := range cfg.Components {
		s.out.Components[c.ID] = map[diag.Status]int{}
		s.out.order = append(s.out.order, c.ID)
	}
	return s
}

func (s *diagnoseSummary) add(i int, r *infer.Result, d *diag.Diagnosis) {
	s.out.N++
	s.out.Status[d.Status]++
	for _, c := range d.Components {
		s.out.Components[c.ID][c.Status]++
	}
	for _, a := range d.Anomalies {
		s.out.Findings[findingName(a.Fault)]++
	}
	if i >= len(s.ds.Labels) {
		return
	}
	if ls, ok := labelStatus(s.cfg, s.ds.Labels[i]); ok {
		if s.out.LabelStatus == nil {
			s.out.LabelStatus = map[diag.Status]map[diag.Status]int{}
		}
		if s.out.LabelStatus[ls] == nil {
			s.out.LabelStatus[ls] = map[diag.Status]int{}
		}
		s.out.LabelStatus[ls][d.Status]++
	}
	s.health.add(s.ds.Labels[i], r, d)
}

// json returns the counts, and per component the health trend tr holds
// after the last cycle.
func (s *diagnoseSummary) json(tr *trend.Tracker) diagnoseSummaryJSON {
	out := s.out
	out.Health = s.health.json()
	out.Trend = make(map[string]trendJSON, len(out.order))
	for _, id := range out.order {
		out.Trend[id] = trendOf(tr, id)
	}
	return out
}

// trendOf is component id's health trend in tr: the fit (Tracker.Trend)
// and the estimate (Tracker.Estimate), the same the agent computes.
func trendOf(tr *trend.Tracker, id string) trendJSON {
	fit, ok := tr.Trend(id)
	if !ok {
		return trendJSON{}
	}
	span, day := fit.Span.Hours(), fit.Rate*24
	return trendJSON{Points: fit.N, SpanHours: &span, RatePerHour: &fit.Rate, RatePerDay: &day, RUL: tr.Estimate(id)}
}

// labelStatus is the rig status a cycle's labels imply: the worst
// diag.StatusOf of the class health of its labelled condition targets
// (ok false when none is labelled).
func labelStatus(cfg *rig.Config, labels []int) (st diag.Status, ok bool) {
	for j, t := range cfg.Targets {
		if t.Kind != rig.TargetCondition || j >= len(labels) || labels[j] < 0 || t.Classes[labels[j]].Health == nil {
			continue
		}
		st, ok = diag.Worse(st, diag.StatusOf(*t.Classes[labels[j]].Health)), true
	}
	return st, ok
}

// healthTally accumulates, per condition target whose classes carry a
// health, the diagnosis's component health and the health head's output
// against the labelled class's health.
type healthTally struct {
	cfg  *rig.Config
	rows []healthRow
}

type healthRow struct {
	target string
	j, ci  int // target index, component index
	n      int
	absErr float64
	agree  int
	headN  int
	headAE float64
	headOK int
}

func newHealthTally(cfg *rig.Config) *healthTally {
	h := &healthTally{cfg: cfg}
	for j, t := range cfg.Targets {
		ci := cfg.ComponentIndex(t.Component)
		if t.Kind != rig.TargetCondition || ci < 0 || !slices.ContainsFunc(t.Classes, func(c rig.Class) bool { return c.Health != nil }) {
			continue
		}
		h.rows = append(h.rows, healthRow{target: t.Name, j: j, ci: ci})
	}
	return h
}

func (h *healthTally) add(labels []int, r *infer.Result, d *diag.Diagnosis) {
	for k := range h.rows {
		row := &h.rows[k]
		if row.j >= len(labels) || labels[row.j] < 0 || row.ci >= len(d.Components) {
			continue
		}
		ch := h.cfg.Targets[row.j].Classes[labels[row.j]].Health
		if ch == nil {
			continue
		}
		want := diag.StatusOf(*ch)
		c := d.Components[row.ci]
		row.n++
		row.absErr += math.Abs(c.Health - *ch)
		if c.Status == want {
			row.agree++
		}
		if r != nil && row.ci < len(r.Health) {
			row.headN++
			row.headAE += math.Abs(r.Health[row.ci] - *ch)
			if diag.StatusOf(r.Health[row.ci]) == want {
				row.headOK++
			}
		}
	}
}

// json returns the tally per target (nil when nothing was labelled).
func (h *healthTally) json() map[string]healthJSON {
	var out map[string]healthJSON
	for _, row := range h.rows {
		if row.n == 0 {
			continue
		}
		if out == nil {
			out = map[string]healthJSON{}
		}
		hj := healthJSON{Component: h.cfg.Components[row.ci].ID, N: row.n,
			HealthMAE: round6(row.absErr / float64(row.n)), StatusAgreement: round6(float64(row.agree) / float64(row.n))}
		if row.headN > 0 {
			mae, agree := round6(row.headAE/float64(row.headN)), round6(float64(row.headOK)/float64(row.headN))
			hj.HeadHealthMAE, hj.HeadStatusAgreement = &mae, &agree
		}
		out[row.target] = hj
	}
	return out
}

// printDiagnosisLine prints one cycle's diagnosis on one line: the rig's
// status and health, then each component's status (health when judged;
// then "trend RATE/h", its degradation rate, when lt has a fit for it, and
// "rul P50h" when lt has an estimate), then the anomalies' faults, then
// the diagnosis's remaining useful life.
func printDiagnosisLine(w io.Writer, i int, d *diag.Diagnosis, lt lineTrend) {
	var b strings.Builder
	fmt.Fprintf(&b, "cycle %d: %s", i+1, d.Status)
	if d.Status != diag.Unknown {
		fmt.Fprintf(&b, " %.3f", d.Health)
	}
	b.WriteString(" |")
	for _, c := range d.Components {
		if c.Status == diag.Unknown {
			fmt.Fprintf(&b, " %s=unknown", c.ID)
			continue
		}
		fmt.Fprintf(&b, " %s=%s %.3f", c.ID, c.Status, c.Health)
		if rate, ok := lt.rate(c.ID); ok {
			fmt.Fprintf(&b, " trend %s/h", formatRate(rate, 4))
		}
		if r := lt.estimate(c.ID); r != nil {
			fmt.Fprintf(&b, " rul %.1fh", r.P50Hours)
		}
	}
	var faults []string
	for _, a := range d.Anomalies {
		f := string(a.Fault)
		if f == "" {
			f = "anomaly"
		}
		faults = append(faults, fmt.Sprintf("%s(%s %s)", f, strings.Join(a.Components, ","), a.Severity))
	}
	if len(faults) > 0 {
		fmt.Fprintf(&b, " | %s", strings.Join(faults, " "))
	}
	if r := d.RUL; r != nil {
		fmt.Fprintf(&b, " | rul %s %.1fh (%.1f-%.1fh)", r.Component, r.P50Hours, r.P10Hours, r.P90Hours)
	}
	fmt.Fprintln(w, b.String())
}

// statuses is the order the histogram prints statuses in.
var statuses = []diag.Status{diag.Healthy, diag.Warning, diag.Critical, diag.Unknown}

func printDiagnoseSummary(w io.Writer, s diagnoseSummaryJSON) {
	fmt.Fprintf(w, "%d cycles of %s, %s %s model through ONNX Runtime\n", s.N, s.Dataset, s.Bundle, s.Precision)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "status of\thealthy\twarning\tcritical\tunknown")
	row := func(name string, m map[diag.Status]int) {
		fmt.Fprintf(tw, "%s", name)
		for _, st := range statuses {
			fmt.Fprintf(tw, "\t%d", m[st])
		}
		fmt.Fprintln(tw)
	}
	row("rig", s.Status)
	for _, id := range s.order {
		row(id, s.Components[id])
	}
	for _, ls := range statuses {
		if m, ok := s.LabelStatus[ls]; ok {
			row("rig, labels "+string(ls), m)
		}
	}
	_ = tw.Flush()
	if len(s.Findings) > 0 {
		names := make([]string, 0, len(s.Findings))
		for f := range s.Findings {
			names = append(names, f)
		}
		slices.Sort(names)
		parts := make([]string, len(names))
		for i, f := range names {
			parts[i] = fmt.Sprintf("%s %d", f, s.Findings[f])
		}
		fmt.Fprintf(w, "findings: %s\n", strings.Join(parts, ", "))
	}
	printHealth(w, s.Health)
	printTrend(w, s.order, s.Trend)
}

// printTrend prints each component's health trend after the last cycle,
// in config order: trend points and span, degradation rate per hour and
// per day, remaining useful life (P50, P10-P90); "-" with too little
// history, and for the RUL also without a significant decline.
func printTrend(w io.Writer, order []string, trends map[string]trendJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "trend of\tpoints\tspan\thealth/h\thealth/day\trul P50 (P10-P90)")
	for _, id := range order {
		t := trends[id]
		points, span, perHour, perDay, rul := "-", "-", "-", "-", "-"
		if t.RatePerHour != nil {
			points, span = fmt.Sprint(t.Points), fmt.Sprintf("%.1fh", *t.SpanHours)
			perHour, perDay = formatRate(*t.RatePerHour, 4), formatRate(*t.RatePerDay, 3)
		}
		if r := t.RUL; r != nil {
			rul = fmt.Sprintf("%.1fh (%.1f-%.1fh)", r.P50Hours, r.P10Hours, r.P90Hours)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", id, points, span, perHour, perDay, rul)
	}
	_ = tw.Flush()
}

// formatRate formats a degradation rate with prec decimals, a rate that
// rounds to zero as 0 of either sign (a flat health's slope is a
// rounding error away from 0, and its sign means nothing).
func formatRate(rate float64, prec int) string {
	s := strconv.FormatFloat(rate, 'f', prec, 64)
	if strings.Trim(s, "-0.") == "" {
		return strings.TrimPrefix(s, "-")
	}
	return s
}

// findingName is the key of an anomaly's fault in the summary's
// findings: the fault, or "unexplained" for none.
func findingName(f rig.Fault) string {
	if f == "" {
		return "unexplained"
	}
	return string(f)
}

// printHealth prints the per-target health comparison (nothing without
// labels).
func printHealth(w io.Writer, h map[string]healthJSON) {
	if len(h) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tcomponent\tlabelled\thealth MAE\tstatus agreement\thealth head MAE\thealth head agreement")
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		r := h[name]
		head, headAgree := "-", "-"
		if r.HeadHealthMAE != nil {
			head, headAgree = fmt.Sprintf("%.4f", *r.HeadHealthMAE), fmt.Sprintf("%.2f %%", 100**r.HeadStatusAgreement)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.4f\t%.2f %%\t%s\t%s\n", name, r.Component, r.N, r.HealthMAE, 100*r.StatusAgreement, head, headAgree)
	}
	_ = tw.Flush()
}
