package jobs

import (
	"context"
	"time"

	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// SetTrainer replaces w's trainer (pipeline.Train), for tests of a
// trainer that ignores its context.
func (w *Worker) SetTrainer(f func(ctx context.Context, cfg *rig.Config, data pipeline.Data, o pipeline.Options, dir string) (*pipeline.Trained, error)) {
	w.train = f
}

// SetMaxJobDurationTrigger makes Options.MaxJobDuration pass for w's next
// attempts when pass is closed, not when the limit's time is up: a test
// lets the limit pass at the moment it checks (a trainer started, a
// bundle being stored) instead of sleeping past a limit long enough for a
// loaded machine. The limit is cancelled as before once the attempt ends
// (then closing pass does nothing); MaxJobDuration must be set (not 0).
func (w *Worker) SetMaxJobDurationTrigger(pass <-chan struct{}) {
	w.limitAfter = func(_ time.Duration, f func()) *time.Timer {
		t := time.AfterFunc(time.Hour, f)
		go func() {
			<-pass
			if t.Stop() { // still armed: the attempt has not ended
				f()
			}
		}()
		return t
	}
}
