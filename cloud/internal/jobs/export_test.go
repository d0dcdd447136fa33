package jobs

import (
	"context"

	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// SetTrainer replaces w's trainer (pipeline.Train), for tests of a
// trainer that ignores its context.
func (w *Worker) SetTrainer(f func(ctx context.Context, cfg *rig.Config, data pipeline.Data, o pipeline.Options, dir string) (*pipeline.Trained, error)) {
	w.train = f
}
