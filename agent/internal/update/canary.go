package update

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Windows supplies the canary's recent windows.
type Windows interface {
	// Recent returns up to n of the most recent windows prepared with
	// spec (the staged and the running model may have different input
	// specs), oldest first; two calls with different specs return windows
	// over the same spans, so the i-th windows pair up. The canary only
	// reads them.
	Recent(ctx context.Context, spec prep.Spec, n int) ([]*prep.Window, error)
}

// ModelCanary is the Canary the agent uses: it opens the staged bundle
// with agent/infer (the whole check: file digests, rig, graph against the
// manifest) and runs it, one window at a time, on recent windows next to
// the running bundle, each model on the windows prepared with its own
// input spec (shared only when the two specs are equal in every field:
// a retrained bundle's normalisation stats differ). The staged model
// passes when every output is finite
// (infer refuses non-finite outputs), the 95th percentile of its
// per-window inference time is within MaxLatency, and, on the windows the
// running model calls healthy, it calls at least MinAgreement of them
// healthy too (not judged when the running model calls none healthy).
// "Healthy" is the diagnosis status healthy or, for a model without health
// heads (status unknown), no component's anomaly score at or above 1.
// Only judgeable windows count: a window in which either model misses a
// required input sensor (infer.Model.RequiredMissing: one its bundle was
// not trained to do without) is skipped, not run, since that model judges
// no class target, no component's health and no anomaly score there; with fewer than
// MinWindows judgeable windows Check returns ErrNoWindows (the update
// waits, staged, as for too few windows).
// A zero field takes the default it names. It opens its own sessions and
// closes them before returning; the serving model is not touched. Check
// returns soon after ctx is done, from an open in progress too (a
// TensorRT engine build is left to finish on its own, its model then
// closed: infer.OpenContext).
type ModelCanary struct {
	// Rig is the rig's firmware config (required).
	Rig *rig.Config
	// Options open both models (providers, threads; Logger).
	Options infer.Options
	// Windows supplies the windows (required).
	Windows Windows
	// Count is how many recent windows to run (0: 32).
	Count int
	// MinWindows is the fewest judgeable windows to judge by; with
	// fewer, Check returns ErrNoWindows (0: 8).
	MinWindows int
	// MaxLatency bounds the 95th percentile of one window's inference
	// time (0: 500ms).
	MaxLatency time.Duration
	// MinAgreement is the least share of the running model's healthy
	// windows the staged model must call healthy too (0: 0.9).
	MinAgreement float64
}

// Check implements Canary.
func (c *ModelCanary) Check(ctx context.Context, staged, current string) error {
	count, minW, maxLat, minAgree := c.Count, c.MinWindows, c.MaxLatency, c.MinAgreement
	if count <= 0 {
		count = 32
	}
	if minW <= 0 {
		minW = min(8, count)
	}
	if maxLat <= 0 {
		maxLat = 500 * time.Millisecond
	}
	if minAgree <= 0 {
		minAgree = 0.9
	}
	// Opening a model can take minutes (TensorRT builds its engine):
	// given up when ctx is done (the agent stopping), not waited for.
	sm, err := infer.OpenContext(ctx, staged, c.Rig, c.Options)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("canary: open staged bundle: %w", err)
	}
	if err != nil {
		return fmt.Errorf("%w: open staged bundle: %w", ErrCanary, err)
	}
	defer sm.Close()
	cm, err := infer.OpenContext(ctx, current, c.Rig, c.Options)
	if err != nil {
		return fmt.Errorf("open running bundle %s for the canary: %w", current, err)
	}
	defer cm.Close()
	sw, err := c.Windows.Recent(ctx, sm.Spec(), count)
	if err != nil {
		return fmt.Errorf("canary windows: %w", err)
	}
	// Each model runs on windows prepared with its own input spec: a
	// retrained bundle has the running one's sensors, steps and grid but
	// other normalisation stats (and possibly hold rules), and the running
	// model judged on windows normalised with the staged stats would be
	// judged on input it never saw. The windows are shared only when the
	// specs are the same in every field.
	sd, err := sm.Spec().Digest()
	if err != nil {
		return fmt.Errorf("%w: staged input spec: %w", ErrCanary, err)
	}
	cd, err := cm.Spec().Digest()
	if err != nil {
		return fmt.Errorf("running bundle %s input spec: %w", current, err)
	}
	cw := sw
	if sd != cd {
		if cw, err = c.Windows.Recent(ctx, cm.Spec(), count); err != nil {
			return fmt.Errorf("canary windows: %w", err)
		}
	}
	// A window in which either model is missing a required input sensor
	// (one it was not trained to judge without) is no observation: that
	// model judges no class target, no component's health from its
	// health head (status unknown) and no anomaly score there: its
	// "healthy" would come from input it never saw.
	var judgeable []int
	var skipped []string
	for i := range min(len(sw), len(cw)) {
		ms, mc := sm.RequiredMissing(sw[i]), cm.RequiredMissing(cw[i])
		if len(ms) > 0 || len(mc) > 0 {
			for _, id := range slices.Concat(ms, mc) {
				if !slices.Contains(skipped, id) {
					skipped = append(skipped, id)
				}
			}
			continue
		}
		judgeable = append(judgeable, i)
	}
	n := len(judgeable)
	if n < minW {
		if len(skipped) > 0 {
			return fmt.Errorf("%w: %d recent windows, %d without a required sensor (%s) not judged, the canary needs %d",
				ErrNoWindows, min(len(sw), len(cw)), min(len(sw), len(cw))-n, strings.Join(skipped, ", "), minW)
		}
		return fmt.Errorf("%w: %d recent windows, the canary needs %d", ErrNoWindows, n, minW)
	}
	lat := make([]time.Duration, 0, n)
	healthy, agree := 0, 0
	for k, i := range judgeable {
		if err := ctx.Err(); err != nil {
			return err
		}
		ds, d, err := diagnose(sm, sw[i])
		if err != nil {
			return fmt.Errorf("%w: staged model on window %d of %d: %w", ErrCanary, k+1, n, err)
		}
		lat = append(lat, d)
		dc, _, err := diagnose(cm, cw[i])
		if err != nil {
			continue // the running model's own trouble: not the staged model's
		}
		if calm(dc) {
			healthy++
			if calm(ds) {
				agree++
			}
		}
	}
	slices.Sort(lat)
	if p95 := lat[(len(lat)*95+99)/100-1]; p95 > maxLat {
		return fmt.Errorf("%w: 95th percentile inference time %s over %d windows is above %s", ErrCanary, p95, n, maxLat)
	}
	if healthy > 0 {
		if share := float64(agree) / float64(healthy); share < minAgree {
			return fmt.Errorf("%w: of the %d windows the running model calls healthy, the staged model calls %d healthy (%.0f%%, at least %.0f%% needed)",
				ErrCanary, healthy, agree, 100*share, 100*minAgree)
		}
	}
	return nil
}

// calm reports whether a diagnosis calls the rig healthy: status healthy,
// or, for a model without health heads (status unknown), no component
// anomaly score at or above 1 (the threshold).
func calm(d *diag.Diagnosis) bool {
	switch d.Status {
	case diag.Healthy:
		return true
	case diag.Unknown:
		for _, c := range d.Components {
			if c.AnomalyScore >= 1 {
				return false
			}
		}
		return len(d.Components) > 0
	}
	return false
}

// diagnose runs one window and diagnoses it.
func diagnose(m *infer.Model, w *prep.Window) (*diag.Diagnosis, time.Duration, error) {
	out, err := m.Run([]*prep.Window{w})
	if err != nil {
		return nil, 0, err
	}
	d, err := m.Diagnose(&out.Results[0], w, out.Elapsed)
	if err != nil {
		return nil, 0, err
	}
	return d, out.Elapsed, nil
}
