// Command skabexp studies the SKAB detector: it trains (or loads) the
// model, then evaluates a grid of detector settings under the leaderboard
// protocol, per folder (valve1/, other/, ...) and over all files, so that a
// setting chosen on one folder can be checked on the others.
//
//	go run ./models/skab/cmd/skabexp -data ../shared/data/skab -out /tmp/skabm
//	go run ./models/skab/cmd/skabexp -data ../shared/data/skab -load /tmp/skabm -grid
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/models/skab"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "skabexp:", err)
		os.Exit(1)
	}
}

func run() error {
	rigPath := flag.String("rig", "firmware-configs/skab-testbed.yaml", "firmware config")
	data := flag.String("data", "../shared/data/skab", "SKAB folder")
	out := flag.String("out", "", "save the model here")
	load := flag.String("load", "", "load the model from this folder instead of training")
	grid := flag.Bool("grid", false, "sweep a grid of detector settings")
	perFile := flag.Bool("files", false, "print per-file counts of the default detector")
	var o skab.Options
	flag.IntVar(&o.Steps, "steps", 0, "window T (0: default)")
	flag.IntVar(&o.Epochs, "epochs", 0, "epochs (0: default)")
	flag.IntVar(&o.TrainStride, "stride", 0, "training window stride (0: default)")
	flag.IntVar(&o.Sizes.Hidden, "hidden", 0, "D")
	flag.IntVar(&o.Sizes.Layers, "layers", 0, "GAT layers")
	flag.IntVar(&o.Sizes.Window, "window", 0, "window view width")
	flag.IntVar(&o.Sizes.Readout, "readout", 0, "readout width")
	flag.Float64Var(&o.LR, "lr", 0, "lr")
	flag.BoolVar(&o.NoFree, "nofree", false, "train without the anomaly-free run")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed")
	var do skab.DetectorOptions
	flag.IntVar(&do.Smooth, "smooth", 0, "error smoothing rows")
	flag.Float64Var(&do.Quantile, "q", 0, "scale quantile")
	flag.Float64Var(&do.LevelK, "kl", 0, "level threshold (<0: off)")
	flag.Float64Var(&do.ErrorK, "ke", 0, "error threshold (<0: off)")
	flag.BoolVar(&do.PooledOnly, "pooled", false, "pooled scales only (no per-file widening)")
	flag.IntVar(&do.ShortSteps, "short", 0, "window of the short level term in rows (0: none)")
	flag.Float64Var(&do.ShortK, "ks", 0, "threshold of the short level term (0: 1.5)")
	flag.Parse()
	cfg, err := rig.Load(*rigPath)
	if err != nil {
		return err
	}
	set, err := skab.LoadDir(*data, cfg)
	if err != nil {
		return err
	}
	t0 := time.Now()
	var m *skab.Model
	if *load != "" {
		m, err = skab.LoadModel(*load, cfg)
	} else {
		m, err = skab.Train(context.Background(), cfg, set, o, os.Stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "model ready in %v\n", time.Since(t0).Round(time.Second))
	opts := []skab.DetectorOptions{do}
	if *grid {
		opts = nil
		for _, sm := range []int{10, 30} {
			for _, q := range []float64{0.95, 0.99} {
				for _, kl := range []float64{1, 1.25, 1.5, 2, 2.5, -1} {
					for _, ke := range []float64{1, 1.5, 2, 3, 5, -1} {
						if kl < 0 && ke < 0 {
							continue
						}
						opts = append(opts, skab.DetectorOptions{Smooth: sm, Quantile: q, LevelK: kl, ErrorK: ke, PooledOnly: do.PooledOnly,
							ShortSteps: do.ShortSteps, ShortK: do.ShortK})
					}
				}
			}
		}
	}
	reps, dets, err := m.Sweep(set, opts)
	if err != nil {
		return err
	}
	folder := func(name string) string {
		rel, _ := filepath.Rel(*data, name)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) >= 2 {
			return parts[len(parts)-2]
		}
		return "."
	}
	type row struct {
		o      skab.DetectorOptions
		all    skab.Confusion
		folder map[string]skab.Confusion
	}
	var rows []row
	folders := map[string]bool{}
	for i, rep := range reps {
		d := dets[i]
		r := row{o: skab.DetectorOptions{Smooth: d.Smooth, Quantile: d.Quantile, LevelK: d.LevelK, ErrorK: d.ErrorK,
			ShortSteps: d.ShortSteps, ShortK: d.ShortK},
			all: rep.Total, folder: map[string]skab.Confusion{}}
		for _, f := range rep.PerFile {
			c := r.folder[folder(f.Name)]
			c.Merge(f.Confusion)
			r.folder[folder(f.Name)] = c
			folders[folder(f.Name)] = true
		}
		rows = append(rows, r)
	}
	var fnames []string
	for f := range folders {
		fnames = append(fnames, f)
	}
	sort.Strings(fnames)
	line := func(r row) string {
		s := fmt.Sprintf("smooth %2d q %.2f kL %5.2f kE %5.2f", r.o.Smooth, r.o.Quantile, r.o.LevelK, r.o.ErrorK)
		if r.o.ShortSteps > 0 {
			s += fmt.Sprintf(" short %d kS %.2f", r.o.ShortSteps, r.o.ShortK)
		}
		s += fmt.Sprintf(" | all F1 %.3f FAR %.3f MAR %.3f", r.all.F1(), r.all.FAR(), r.all.MAR())
		for _, f := range fnames {
			c := r.folder[f]
			s += fmt.Sprintf(" | %s %.3f/%.3f/%.3f", f, c.F1(), c.FAR(), c.MAR())
		}
		return s
	}
	if *grid {
		best := func(title string, key func(row) float64) {
			sorted := append([]row(nil), rows...)
			sort.SliceStable(sorted, func(i, j int) bool { return key(sorted[i]) > key(sorted[j]) })
			fmt.Println(title)
			for _, r := range sorted[:min(5, len(sorted))] {
				fmt.Println("  " + line(r))
			}
		}
		best("best over all files:", func(r row) float64 { return r.all.F1() })
		for _, f := range fnames {
			best("best on "+f+" (check the other folders):", func(r row) float64 { return r.folder[f].F1() })
		}
	} else {
		fmt.Println(line(rows[0]))
		fmt.Printf("level scale %.3g\nerror scale %.3g\n", dets[0].LevelScale, dets[0].ErrorScale)
		if *perFile {
			for _, f := range reps[0].PerFile {
				fmt.Printf("  %-50s FP %4d/%4d FN %4d/%4d\n", f.Name, f.FP, f.FP+f.TN, f.FN, f.FN+f.TP)
			}
		}
	}
	if *out != "" {
		m.Detector = *dets[0]
		return m.Save(*out)
	}
	return nil
}
