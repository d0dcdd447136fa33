package report

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/durable"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// File names written by Write.
const (
	FileMarkdown = "report.md"
	FileLoss     = "loss.png"
	FileAccuracy = "accuracy.png"
)

// Input is what a report describes.
type Input struct {
	// Title heads the report (e.g. the bundle name and version).
	Title string
	// Rig names the targets' classes; required.
	Rig *rig.Config
	// Result is the training run; required, with at least one epoch.
	Result *train.Result
	// Test, when set, is an evaluation on data the run did not train on
	// (e.g. rigctl bench uci's test folder), named by TestLabel.
	Test      *train.Metrics
	TestLabel string
	// Notes are extra lines for the run summary (data set, command, ...).
	Notes []string
}

// Write writes the report into dir (created if missing): report.md with
// the run summary, a metrics table per evaluated set and a confusion
// matrix per target, loss.png (training loss and validation loss per
// epoch, the chosen epoch marked) and, when the run had a validation set,
// accuracy.png (validation accuracy per target per epoch). It returns
// the paths written.
func Write(dir string, in Input) ([]string, error) {
	return WriteContext(context.Background(), dir, in)
}

// WriteContext is Write stopped by ctx: it checks ctx before each file is
// rendered and before the files are put in place, and returns ctx's error
// wrapped once ctx ends. Each file is written to a temporary file in dir
// and renamed to its name only once every file is rendered (report.md
// last), so that a stopped or failed report leaves no partial file under
// a report's name: the temporary files are removed.
func WriteContext(ctx context.Context, dir string, in Input) ([]string, error) {
	if in.Rig == nil || in.Result == nil {
		return nil, errors.New("report: Input.Rig and Input.Result are required")
	}
	if len(in.Result.History) == 0 {
		return nil, errors.New("report: the training run has no epochs")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	type file struct {
		name   string
		render func(io.Writer) error
	}
	files := []file{{FileLoss, plotPNG(lossPlot, in.Result)}}
	if hasVal(in.Result) {
		files = append(files, file{FileAccuracy, plotPNG(accuracyPlot, in.Result)})
	}
	files = append(files, file{FileMarkdown, func(w io.Writer) error {
		_, err := io.WriteString(w, Markdown(in))
		return err
	}})
	var temps []string
	defer func() {
		for _, t := range temps {
			_ = os.Remove(t) // a temporary file not renamed
		}
	}()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("report: %s: %w", f.name, err)
		}
		tmp, err := writeTemp(dir, f.name, f.render)
		if tmp != "" {
			temps = append(temps, tmp)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var written []string
	for i, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.Rename(temps[i], path); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		temps[i] = ""
		written = append(written, path)
	}
	return written, nil
}

// writeTemp writes render's output to a new temporary file in dir named
// after name, synced and closed, and returns its path ("" when none was
// created).
func writeTemp(dir, name string, render func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	err = render(f)
	err = durable.SyncClose(f, err)
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err != nil {
		return f.Name(), fmt.Errorf("report: %s: %w", filepath.Join(dir, name), err)
	}
	return f.Name(), nil
}

func hasVal(r *train.Result) bool {
	for _, e := range r.History {
		if e.Val != nil {
			return true
		}
	}
	return false
}

// Markdown renders the report's text: summary, metrics tables and
// confusion matrices (rows: true class, columns: predicted class).
func Markdown(in Input) string {
	var b strings.Builder
	r := in.Result
	title := in.Title
	if title == "" {
		title = "Training report"
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "- rig type: %s\n", in.Rig.RigType)
	if r.Model != nil {
		fmt.Fprintf(&b, "- model: %d weights, %d sensors x %d steps, %d nodes\n",
			r.Model.NumParams(), r.Model.Sensors, r.Model.Steps, r.Model.Nodes)
	}
	fmt.Fprintf(&b, "- windows: %d training, %d validation\n", r.TrainWindows, r.ValWindows)
	fmt.Fprintf(&b, "- epochs run: %d; chosen epoch: %d\n", len(r.History), r.BestEpoch)
	fmt.Fprintf(&b, "- training time: %.1f s (%.3f s per step)\n", r.Seconds, r.StepSeconds)
	for _, n := range in.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\nCurves: [loss](" + FileLoss + ")")
	if hasVal(r) {
		b.WriteString(", [validation accuracy](" + FileAccuracy + ")")
	}
	b.WriteString(".\n")

	sets := []struct {
		name string
		m    *train.Metrics
	}{{"Validation (chosen epoch)", r.Val}}
	if in.Test != nil {
		label := in.TestLabel
		if label == "" {
			label = "Test"
		}
		sets = append(sets, struct {
			name string
			m    *train.Metrics
		}{label, in.Test})
	}
	for _, s := range sets {
		if s.m == nil {
			continue
		}
		fmt.Fprintf(&b, "\n## %s: %d windows\n\n", s.name, s.m.N)
		b.WriteString("| target | windows | accuracy % | macro F1 |\n|---|---|---|---|\n")
		for _, t := range s.m.Targets {
			fmt.Fprintf(&b, "| %s | %d | %.2f | %.3f |\n", t.Name, t.N, 100*t.Accuracy, t.MacroF1)
		}
		for _, t := range s.m.Targets {
			writeConfusion(&b, in.Rig, t)
		}
	}
	b.WriteString("\n## Epochs\n\n| epoch | train loss | val loss | val mean F1 | lr | seconds |\n|---|---|---|---|---|---|\n")
	for _, e := range r.History {
		vl, vf := "-", "-"
		if e.Val != nil {
			vl, vf = fmt.Sprintf("%.4f", e.Val.Loss), fmt.Sprintf("%.3f", e.Val.MeanF1())
		}
		mark := ""
		if e.Epoch == r.BestEpoch {
			mark = " (chosen)"
		}
		fmt.Fprintf(&b, "| %d%s | %.4f | %s | %s | %.2g | %.1f |\n", e.Epoch, mark, e.TrainLoss, vl, vf, e.LR, e.Seconds)
	}
	return b.String()
}

// writeConfusion writes one target's confusion matrix with its class
// labels from the rig config (class indices when the config lacks it).
func writeConfusion(b *strings.Builder, cfg *rig.Config, t train.TargetMetrics) {
	labels := make([]string, len(t.Confusion))
	for i := range labels {
		labels[i] = fmt.Sprint(i)
	}
	for _, tg := range cfg.Targets {
		if tg.Name == t.Name && len(tg.Classes) == len(labels) {
			for i, c := range tg.Classes {
				labels[i] = c.Label
			}
		}
	}
	fmt.Fprintf(b, "\n%s (rows: true, columns: predicted)\n\n| |", t.Name)
	for _, l := range labels {
		fmt.Fprintf(b, " %s |", l)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(labels)) + "\n")
	for i, row := range t.Confusion {
		fmt.Fprintf(b, "| **%s** |", labels[i])
		for _, v := range row {
			fmt.Fprintf(b, " %d |", v)
		}
		b.WriteString("\n")
	}
}

func lossPlot(r *train.Result) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Loss per epoch"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "loss (summed cross-entropy + health + recon)"
	var tr, va plotter.XYs
	for _, e := range r.History {
		tr = append(tr, plotter.XY{X: float64(e.Epoch), Y: e.TrainLoss})
		if e.Val != nil {
			va = append(va, plotter.XY{X: float64(e.Epoch), Y: e.Val.Loss})
		}
	}
	addLine(p, "training", tr, 0)
	if len(va) > 0 {
		addLine(p, "validation (cross-entropy)", va, 1)
	}
	if r.BestEpoch > 0 {
		markEpoch(p, r.BestEpoch)
	}
	p.Legend.Top = true
	return p
}

func accuracyPlot(r *train.Result) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Validation accuracy per target"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "accuracy"
	p.Y.Min, p.Y.Max = 0, 1
	var names []string
	series := map[string]plotter.XYs{}
	for _, e := range r.History {
		if e.Val == nil {
			continue
		}
		for _, t := range e.Val.Targets {
			if _, ok := series[t.Name]; !ok {
				names = append(names, t.Name)
			}
			series[t.Name] = append(series[t.Name], plotter.XY{X: float64(e.Epoch), Y: t.Accuracy})
		}
	}
	for i, n := range names {
		addLine(p, n, series[n], i)
	}
	if r.BestEpoch > 0 {
		markEpoch(p, r.BestEpoch)
	}
	return p // legend bottom right, below the curves that rise to 1
}

var palette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 214, G: 39, B: 40, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255},
	color.RGBA{R: 140, G: 86, B: 75, A: 255},
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, i int) {
	l, err := plotter.NewLine(xys)
	if err != nil { // only for NaN/Inf points, which a finished run has none of
		return
	}
	l.Color = palette[i%len(palette)]
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
}

// markEpoch draws a dashed vertical line at the chosen epoch.
func markEpoch(p *plot.Plot, epoch int) {
	x := float64(epoch)
	ymin, ymax := p.Y.Min, p.Y.Max
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: ymin}, {X: x, Y: ymax}})
	if err != nil {
		return
	}
	l.Color = color.Gray{Y: 120}
	l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(l)
	p.Legend.Add(fmt.Sprintf("chosen epoch %d", epoch), l)
}

// plotPNG renders the plot made by mk for r as a 7 x 4 inch PNG.
func plotPNG(mk func(*train.Result) *plot.Plot, r *train.Result) func(io.Writer) error {
	return func(w io.Writer) error {
		wt, err := mk(r).WriterTo(7*vg.Inch, 4*vg.Inch, "png")
		if err != nil {
			return err
		}
		_, err = wt.WriteTo(w)
		return err
	}
}
