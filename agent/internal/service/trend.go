package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/trendhist"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/agent/trend"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TrendFile is the file in agent.data_dir that keeps the health trend
// (trendFile: trend.State, JSON, at most 256 points per component, a few
// KB each, and the rig it is of) across restarts, so that the remaining
// useful life goes on from the last 24 h at once instead of waiting for
// new windows.
// It is config.TrendFile, which the config checks configured paths
// against.
const TrendFile = config.TrendFile

// trendFile is what TrendFile holds: the trend and the rig it was
// recorded on (rigOf). A file of another rig id or rig type (an
// agent.data_dir reused for another rig) is not used; one of the same rig
// with another component set (the firmware config or bundle changed) is,
// for the components the rig still has; one that names no rig (written by
// an agent before it recorded one) is used when the diagnosis history
// says it is this rig's (openTrend).
type trendFile struct {
	trend.State
	RigID   string `json:"rig_id"`
	RigType string `json:"rig_type"`
	// ComponentSet is the firmware config's component ids, in its order
	// (the bundle's are the same: bundle.Manifest.CheckRig).
	ComponentSet []string `json:"component_set"`
}

// unlabelled reports whether f names no rig: an agent before the file
// recorded one wrote it (an agent without a firmware config writes an
// empty, non-nil component set).
func (f *trendFile) unlabelled() bool {
	return f.RigID == "" && f.RigType == "" && f.ComponentSet == nil
}

// trendRig is the rig a trend file belongs to.
type trendRig struct {
	id, rigType string
	components  []string
	// opts are the tracker's options for the rig (trend.OptionsFor).
	opts trend.Options
}

// rigOf is the rig of cfg's firmware config, as trend.OptionsFor names it
// (no firmware config: no id or type, and an empty, non-nil component
// set, so that its file does not read as naming no rig).
func rigOf(cfg *config.Config) trendRig {
	var fw *rig.Config
	if cfg != nil {
		fw = cfg.Firmware
	}
	o := trend.OptionsFor(fw)
	r := trendRig{id: o.RigID, rigType: o.RigType, components: o.Components, opts: o}
	if r.components == nil {
		r.components = []string{} // written [] (null: names no rig)
	}
	return r
}

// Why a trend file is not used (openTrend), each logged with its reason.
var (
	// errOtherRig: the file is of another rig id or rig type
	// (reason=other_rig).
	errOtherRig = errors.New("the trend file is of another rig")
	// errUnlabelled: the file names no rig and the diagnosis history
	// does not say it is this rig's (reason=unlabelled).
	errUnlabelled = errors.New("the trend file names no rig")
)

// checkRig returns why labelled file f is not of rig r (wrapping
// errOtherRig), or nil. A file of another component set is r's.
func checkRig(f *trendFile, r trendRig) error {
	switch {
	case f.RigID != r.id:
		return fmt.Errorf("%w: it is of rig %q, this agent's is %q", errOtherRig, f.RigID, r.id)
	case f.RigType != r.rigType:
		return fmt.Errorf("%w: it is of rig type %q, this rig's is %q", errOtherRig, f.RigType, r.rigType)
	}
	return nil
}

// attribute returns nil when the newest diagnosis q stores is of rig r,
// so that an unlabelled trend file (written by the same agent before it
// recorded its rig) is r's too; else why not (wrapping errUnlabelled).
func attribute(ctx context.Context, q trendhist.Querier, r trendRig) error {
	p, err := q.Query(ctx, history.Query{Limit: 1, Desc: true})
	switch {
	case err != nil:
		return fmt.Errorf("%w, and the diagnosis history could not say whose it is: %w", errUnlabelled, err)
	case len(p.Diagnoses) == 0:
		return fmt.Errorf("%w, and the diagnosis history holds none to say whose it is", errUnlabelled)
	case p.Diagnoses[0].RigID != r.id || p.Diagnoses[0].RigType != r.rigType:
		d := &p.Diagnoses[0]
		return fmt.Errorf("%w, and the newest stored diagnosis is of rig %q (type %q), this agent's is %q (type %q)",
			errUnlabelled, d.RigID, d.RigType, r.id, r.rigType)
	}
	return nil
}

// dropped returns the component ids of st that are not in keep.
func dropped(st trend.State, keep []string) []string {
	var out []string
	for _, c := range st.Components {
		if !slices.Contains(keep, c.ID) {
			out = append(out, c.ID)
		}
	}
	return out
}

const (
	// seedTimeout bounds the read of the stored diagnoses that rebuild
	// or complete the health history at start.
	seedTimeout = 5 * time.Second
	// trendSaveEvery is how often the windowing saves the health trend
	// (and Stop once more): a crash loses at most this much of it, which
	// the start reads back from the diagnosis history (CatchUp).
	trendSaveEvery = 5 * time.Minute
	// maxTrendFileBytes caps the file read at start: 256 components of
	// 256 points, written indented, stay under it.
	maxTrendFileBytes = 16 << 20
)

// healthTrend is the agent's health trend: one tracker for the agent's
// life, across model updates (the history it rebuilds from holds every
// model's diagnoses alike), saved to its file every trendSaveEvery and at
// Stop.
type healthTrend struct {
	tr   *trend.Tracker
	path string
	rig  trendRig
	log  *slog.Logger
	now  func() time.Time

	mu    sync.Mutex // serializes saves; guards saved
	saved time.Time
}

// openTrend returns rig's health trend restored from path and completed
// from the diagnoses q stored since it was saved; without the file (the
// first start, or an agent before it), rebuilt from this rig's diagnoses
// among the newest trendhist.DefaultSeedLimit stored. A file of the same rig
// with another component set is restored for the components the rig
// still has (the others dropped, logged at Info), as the rebuild would
// give them back; one that names no rig is restored when the newest
// stored diagnosis is this rig's (attribute). A file that cannot be used
// (unreadable, damaged, out of bounds, of another rig id or type:
// checkRig, or unlabelled and not attributed) is logged with why and
// replaced at the next save (it is derived data), never failing the
// start; a history that cannot be read leaves what the file had, or an
// empty trend.
func openTrend(path string, rig trendRig, q trendhist.Querier, log *slog.Logger) *healthTrend {
	h := &healthTrend{tr: trend.New(rig.opts),
		path: path, rig: rig, log: log, now: time.Now}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), seedTimeout)
	defer cancel()
	f, err := readTrendFile(path)
	switch {
	case err != nil:
	case f.unlabelled():
		if err = attribute(ctx, q, rig); err == nil {
			log.Info("health trend file names no rig (written by an earlier agent): restoring it, as the newest stored diagnosis is this rig's",
				"file", path, "rig", rig.id, "rig_type", rig.rigType)
		}
	default:
		err = checkRig(&f, rig)
	}
	if err == nil {
		err = h.tr.Restore(f.State)
	}
	restored, st := err == nil, f.State
	switch {
	case restored:
		if gone := dropped(st, rig.components); len(gone) > 0 && len(rig.components) > 0 {
			log.Info("health trend file has components the rig no longer has: their trend is dropped, the others' restored",
				"file", path, "dropped", gone, "components", rig.components)
		}
	case errors.Is(err, os.ErrNotExist):
		log.Info("no health trend file: rebuilding the trend from this rig's diagnoses among the newest stored", "file", path, "diagnoses", trendhist.DefaultSeedLimit)
	default:
		reason := "unusable"
		switch {
		case errors.Is(err, errOtherRig):
			reason = "other_rig"
		case errors.Is(err, errUnlabelled):
			reason = "unlabelled"
		}
		log.Warn("health trend file not used: rebuilding the trend from this rig's diagnoses among the newest stored; the file is replaced at the next save",
			"file", path, "reason", reason, "diagnoses", trendhist.DefaultSeedLimit, "err", err)
	}
	var n int
	if restored {
		n, err = trendhist.CatchUp(ctx, h.tr, q, trendhist.DefaultSeedLimit)
	} else {
		err = trendhist.Seed(ctx, h.tr, q, trendhist.DefaultSeedLimit)
	}
	if err != nil {
		log.Warn("health trend not completed from the diagnosis history: remaining useful life waits for new windows", "err", err)
	}
	if restored {
		log.Info("health trend restored", "file", path, "components", len(h.tr.State().Components), "newest", h.tr.Newest(),
			"diagnoses_added", n, "took", time.Since(began).Round(time.Millisecond))
	}
	h.saved = h.now()
	return h
}

// readTrendFile reads and decodes the trend file, at most
// maxTrendFileBytes.
func readTrendFile(path string) (trendFile, error) {
	var st trendFile
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTrendFileBytes+1))
	if err != nil {
		return st, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxTrendFileBytes {
		return st, fmt.Errorf("%s is larger than %d bytes", path, maxTrendFileBytes)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode %s: %w", path, err)
	}
	return st, nil
}

// maybeSave saves the trend when trendSaveEvery has passed since the last
// save (the windowing calls it after each diagnosis).
func (h *healthTrend) maybeSave() {
	h.mu.Lock()
	due := h.now().Sub(h.saved) >= trendSaveEvery
	h.mu.Unlock()
	if due {
		h.save()
	}
}

// save writes the trend to its file (atomically, 0600); a failure is
// logged: a restart then rebuilds the trend from what the file had and
// the history.
func (h *healthTrend) save() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.saved = h.now()
	f := trendFile{State: h.tr.State(), RigID: h.rig.id, RigType: h.rig.rigType, ComponentSet: h.rig.components}
	if err := writeFileAtomic(h.path, f); err != nil {
		h.log.Warn("health trend not saved: a restart rebuilds it from the older file and the diagnosis history", "file", h.path,
			"err", err, "retry_in", trendSaveEvery)
	}
}

// trended is a windowing.Model whose diagnoses carry the health trend's
// remaining useful life (package trend) where the model gives none.
type trended struct {
	windowing.Model
	h *healthTrend
}

// Diagnose is the model's, annotated with the trend.
func (t trended) Diagnose(r *infer.Result, w *prep.Window, elapsed time.Duration) (*diag.Diagnosis, error) {
	d, err := t.Model.Diagnose(r, w, elapsed)
	if err == nil {
		t.h.tr.Annotate(d)
		t.h.maybeSave()
	}
	return d, err
}

// trended wraps m with the agent's health trend, opened with the first
// model (openTrend) and kept across model updates.
func (a *Agent) trended(m windowing.Model) windowing.Model {
	if a.trend == nil {
		a.trend = openTrend(filepath.Join(a.cfg.Agent.DataDir, TrendFile), rigOf(a.cfg), a.hist, a.log.With("part", "trend"))
	}
	return trended{Model: m, h: a.trend}
}
