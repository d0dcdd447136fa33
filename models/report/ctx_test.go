package report_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/report"
	"github.com/hydrognn/hydrognn/models/train"
)

// endsAfter is a context whose Err is context.Canceled from its n+1th
// call on: a cancel that arrives at a known point of a report.
type endsAfter struct {
	context.Context
	n atomic.Int32
}

func (c *endsAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func validatedRun() *train.Result {
	res := &train.Result{TrainWindows: 40, ValWindows: 10, BestEpoch: 2}
	for e, acc := range []float64{0.5, 0.9, 0.8} {
		res.History = append(res.History, train.Epoch{Epoch: e + 1, TrainLoss: 2 - acc, LR: 1e-3, Val: metrics(acc)})
	}
	res.Val = res.History[1].Val
	return res
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// A cancel at any point of WriteContext (before it starts, between two
// files, before the files are put in place) stops it with ctx's error and
// leaves no file in the folder: neither a report file that would look
// complete nor a temporary one.
func TestWriteContextCancelledLeavesNothing(t *testing.T) {
	// Checks: at the start, before each of the 3 files, before renaming.
	for n := range 5 {
		dir := t.TempDir()
		ctx := &endsAfter{Context: context.Background()}
		ctx.n.Store(int32(n))
		paths, err := report.WriteContext(ctx, dir, report.Input{Rig: testRig(t), Result: validatedRun()})
		require.ErrorIs(t, err, context.Canceled, "cancel at check %d", n+1)
		assert.Nil(t, paths)
		assert.Empty(t, names(t, dir), "cancel at check %d", n+1)
	}
	// Uncancelled, the folder holds the report's files and nothing else.
	dir := t.TempDir()
	paths, err := report.WriteContext(context.Background(), dir, report.Input{Rig: testRig(t), Result: validatedRun()})
	require.NoError(t, err)
	assert.Len(t, paths, 3)
	assert.ElementsMatch(t, []string{report.FileLoss, report.FileAccuracy, report.FileMarkdown}, names(t, dir))
}
