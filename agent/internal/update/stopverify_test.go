package update

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// countdownCtx is a context whose Err becomes context.Canceled at its
// n-th call: a stop arriving at any point of a step that checks its ctx.
type countdownCtx struct {
	context.Context
	left atomic.Int64
}

func (c *countdownCtx) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestVerifyAndStageGivesUpOnStop: a stop (ctx done) at any point of the
// verification (hashing, extraction, each file's space check and sync)
// ends verifyAndStage at once with ctx's error, which is not a failed
// verification (no attempt counted), and leaves no staging folder behind
// (review r3 finding 2: these steps ignored ctx, and a 2 GiB bundle used
// up the agent's stop time).
func TestVerifyAndStageGivesUpOnStop(t *testing.T) {
	f := newFixture(t, "1.0.0")
	rel, tf, err := f.repo.AddBundle(testBundle(t, "1.1.0", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := f.open(nil)
	tgt := f.downloaded(a, rel, tf)
	bundles := filepath.Join(a.opts.Dir, "bundles")
	for n := int64(0); ; n++ {
		ctx := &countdownCtx{Context: context.Background()}
		ctx.left.Store(n)
		staged, err := a.verifyAndStage(ctx, tgt, tf)
		if err == nil {
			if n < 3 {
				t.Fatalf("staged after %d ctx checks: the steps do not check their ctx", n)
			}
			t.Logf("staged after %d ctx checks", n)
			if _, err := os.Stat(staged); err != nil {
				t.Fatal(err)
			}
			return
		}
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrVerify) || errors.Is(err, ErrMismatch) {
			t.Fatalf("stop after %d ctx checks: %v, want context.Canceled and no verification failure", n, err)
		}
		ents, _ := os.ReadDir(bundles)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".staging-") {
				t.Fatalf("stop after %d ctx checks left %s behind", n, e.Name())
			}
		}
		if n > 10000 {
			t.Fatal("never staged")
		}
	}
}
