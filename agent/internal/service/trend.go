package service

import (
	"context"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/trend"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// seedTimeout bounds the read of the newest diagnoses that rebuilds the
// health history when a model starts serving.
const seedTimeout = 5 * time.Second

// trended is a windowing.Model whose diagnoses carry the health trend's
// remaining useful life (package trend) where the model gives none.
type trended struct {
	windowing.Model
	tr *trend.Tracker
}

// Diagnose is the model's, annotated with the trend.
func (t trended) Diagnose(r *infer.Result, w *prep.Window, elapsed time.Duration) (*diag.Diagnosis, error) {
	d, err := t.Model.Diagnose(r, w, elapsed)
	if err == nil {
		t.tr.Annotate(d)
	}
	return d, err
}

// trended wraps m with a health trend rebuilt from the newest stored
// diagnoses (trend.DefaultSeedLimit of them); a history that cannot be
// read leaves the trend to start empty, with a warning.
func (a *Agent) trended(m windowing.Model) windowing.Model {
	tr := trend.New(trend.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), seedTimeout)
	defer cancel()
	if err := tr.Seed(ctx, a.hist, trend.DefaultSeedLimit); err != nil {
		a.log.Warn("health trend not rebuilt from the diagnosis history: remaining useful life waits for new windows", "err", err)
	}
	return trended{Model: m, tr: tr}
}
