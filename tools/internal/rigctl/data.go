package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/hydrognn/hydrognn/shared/dataset/skab"
	"github.com/hydrognn/hydrognn/shared/dataset/uci"
)

func init() {
	register("data", "describe a data set (data stats [--json] uci:DIR|skab:DIR)", runData)
}

// dataRef is a data-set reference as written on command lines:
// "uci:DIR", "skab:DIR" or "sim:DIR" (simulator output in the UCI layout).
type dataRef struct {
	Kind string
	Dir  string
}

func parseDataRef(s string) (dataRef, error) {
	kind, dir, ok := strings.Cut(s, ":")
	if !ok || dir == "" {
		return dataRef{}, fmt.Errorf("data set %q: want KIND:DIR with KIND uci, skab or sim", s)
	}
	switch kind {
	case "uci", "skab", "sim":
		return dataRef{Kind: kind, Dir: dir}, nil
	}
	return dataRef{}, fmt.Errorf("data set %q: unknown kind %q (want uci, skab or sim)", s, kind)
}

// sensorStats summarises one sensor over a data set.
type sensorStats struct {
	Sensor string  `json:"sensor"`
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Mean   float64 `json:"mean"`
	Max    float64 `json:"max"`
	// Separation is, per target, the spread of the per-class means of
	// per-cycle sensor means divided by the std of per-cycle means: how
	// strongly the sensor's level tells the target's classes apart.
	Separation map[string]float64 `json:"separation,omitempty"`
}

func runData(_ context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] != "stats" {
		errorf(env, "usage: rigctl data stats [--json] uci:DIR|sim:DIR|skab:DIR")
		return ExitUsage
	}
	fs := newFlags(env, "data stats", "data stats [--json] uci:DIR|sim:DIR|skab:DIR\n\nPrints per-sensor minimum, mean and maximum, and for labelled UCI-layout data how\nstrongly each sensor's cycle mean separates each target's classes.")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return ExitUsage
	}
	ref, err := parseDataRef(fs.Arg(0))
	if err != nil {
		errorf(env, "%v", err)
		return ExitUsage
	}
	var stats []sensorStats
	switch ref.Kind {
	case "uci", "sim":
		set, err := uci.Read(ref.Dir, nil, uci.Targets)
		if err != nil {
			errorf(env, "%v", err)
			return ExitFailure
		}
		stats = uciStats(set)
	case "skab":
		stats, err = skabStats(ref.Dir)
		if err != nil {
			errorf(env, "%v", err)
			return ExitFailure
		}
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(stats)
		return ExitOK
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "sensor\tn\tmin\tmean\tmax\t"
	for _, t := range uci.TargetNames[:min(len(uci.TargetNames), 4)] {
		if len(stats) > 0 && stats[0].Separation != nil {
			header += "sep:" + t + "\t"
		}
	}
	fmt.Fprintln(tw, header)
	for _, s := range stats {
		line := fmt.Sprintf("%s\t%d\t%.4g\t%.4g\t%.4g\t", s.Sensor, s.N, s.Min, s.Mean, s.Max)
		if s.Separation != nil {
			for _, t := range uci.TargetNames[:4] {
				line += fmt.Sprintf("%.2f\t", s.Separation[t])
			}
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
	return ExitOK
}

func uciStats(set *uci.Set) []sensorStats {
	out := make([]sensorStats, 0, len(set.Sensors))
	for i, id := range set.Sensors {
		st := sensorStats{Sensor: id, Min: math.Inf(1), Max: math.Inf(-1)}
		var sum float64
		cycleMeans := make([]float64, set.Cycles)
		for c, row := range set.Data[i] {
			var cs float64
			for _, x := range row {
				st.Min, st.Max = math.Min(st.Min, x), math.Max(st.Max, x)
				cs += x
			}
			sum += cs
			st.N += len(row)
			if len(row) > 0 {
				cycleMeans[c] = cs / float64(len(row))
			}
		}
		if st.N > 0 {
			st.Mean = sum / float64(st.N)
		}
		if len(set.Profile) == set.Cycles && set.Cycles > 1 {
			st.Separation = map[string]float64{}
			sd := stddev(cycleMeans)
			for t := 0; t < len(uci.TargetNames) && t < len(set.Profile[0]); t++ {
				byClass := map[float64][]float64{}
				for c := range cycleMeans {
					v := set.Profile[c][t]
					byClass[v] = append(byClass[v], cycleMeans[c])
				}
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, xs := range byClass {
					m := mean(xs)
					lo, hi = math.Min(lo, m), math.Max(hi, m)
				}
				if sd > 0 {
					st.Separation[uci.TargetNames[t]] = (hi - lo) / sd
				}
			}
		}
		out = append(out, st)
	}
	return out
}

func skabStats(dir string) ([]sensorStats, error) {
	files, err := skab.Files(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no SKAB CSV files under %s", dir)
	}
	acc := map[string]*sensorStats{}
	sums := map[string]float64{}
	for _, f := range files {
		file, err := skab.Read(f)
		if err != nil {
			return nil, err
		}
		for j, col := range file.Columns {
			st := acc[col]
			if st == nil {
				st = &sensorStats{Sensor: col, Min: math.Inf(1), Max: math.Inf(-1)}
				acc[col] = st
			}
			for _, row := range file.Values {
				x := row[j]
				st.Min, st.Max = math.Min(st.Min, x), math.Max(st.Max, x)
				sums[col] += x
				st.N++
			}
		}
	}
	out := make([]sensorStats, 0, len(acc))
	for _, col := range skab.Columns {
		if st := acc[col]; st != nil {
			st.Mean = sums[col] / float64(st.N)
			out = append(out, *st)
		}
	}
	return out, nil
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func stddev(xs []float64) float64 {
	m := mean(xs)
	var s float64
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)))
}
