package report_test

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/report"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func testRig(t *testing.T) *rig.Config {
	t.Helper()
	cfg, err := rig.Load(filepath.Join("..", "..", "firmware-configs", "zema-testrig.yaml"))
	require.NoError(t, err)
	return cfg
}

func metrics(acc float64) *train.Metrics {
	return &train.Metrics{N: 10, Loss: 1 - acc, Targets: []train.TargetMetrics{
		{Name: "cooler", N: 10, Accuracy: acc, MacroF1: acc, Confusion: [][]int{{3, 0, 0}, {1, 2, 0}, {0, 0, 4}}},
		{Name: "stable", N: 10, Accuracy: 0.5, MacroF1: 0.4, Confusion: [][]int{{5, 0}, {5, 0}}},
	}}
}

func TestWrite(t *testing.T) {
	res := &train.Result{TrainWindows: 40, ValWindows: 10, BestEpoch: 2, Seconds: 3.5, StepSeconds: 0.01}
	for e, acc := range []float64{0.5, 0.9, 0.8} {
		res.History = append(res.History, train.Epoch{Epoch: e + 1, TrainLoss: 2 - acc, LR: 1e-3, Val: metrics(acc)})
	}
	res.Val = res.History[1].Val
	dir := t.TempDir()
	paths, err := report.Write(dir, report.Input{Title: "zema-testrig 1.0.0", Rig: testRig(t), Result: res,
		Test: metrics(0.7), TestLabel: "Test folder", Notes: []string{"data: uci:/x"}})
	require.NoError(t, err)
	require.Len(t, paths, 3)
	for _, name := range []string{report.FileLoss, report.FileAccuracy} {
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err, name)
		assert.Greater(t, img.Bounds().Dx(), 300, name)
	}
	md, err := os.ReadFile(filepath.Join(dir, report.FileMarkdown))
	require.NoError(t, err)
	s := string(md)
	assert.Contains(t, s, "# zema-testrig 1.0.0")
	assert.Contains(t, s, "| cooler | 10 | 90.00 | 0.900 |", "validation row of the chosen epoch")
	assert.Contains(t, s, "## Test folder: 10 windows")
	assert.Contains(t, s, "| cooler | 10 | 70.00 | 0.700 |", "test row")
	// The confusion matrix is labelled with the config's class labels.
	cooler := testRig(t).Targets[0]
	require.Equal(t, "cooler", cooler.Name)
	assert.Contains(t, s, "| **"+cooler.Classes[1].Label+"** | 1 | 2 | 0 |")
	assert.Contains(t, s, "| 2 (chosen) |")
	assert.Contains(t, s, "- data: uci:/x")
	assert.Equal(t, 2, strings.Count(s, "cooler (rows: true, columns: predicted)"))
}

func TestWriteWithoutValidation(t *testing.T) {
	res := &train.Result{TrainWindows: 40, BestEpoch: 1, History: []train.Epoch{{Epoch: 1, TrainLoss: 1}}}
	paths, err := report.Write(t.TempDir(), report.Input{Rig: testRig(t), Result: res})
	require.NoError(t, err)
	assert.Len(t, paths, 2, "no accuracy curve without validation")
}

func TestWriteErrors(t *testing.T) {
	_, err := report.Write(t.TempDir(), report.Input{Rig: testRig(t)})
	assert.ErrorContains(t, err, "required")
	_, err = report.Write(t.TempDir(), report.Input{Rig: testRig(t), Result: &train.Result{}})
	assert.ErrorContains(t, err, "no epochs")
}
