package trendhist

import (
	"context"
	"fmt"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/trend"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// DefaultSeedLimit is how many of the newest stored diagnoses Seed and
// CatchUp read by default: the agent seeds with them only when it has no
// saved State (17 h of 60 s windows, but 17 minutes of 1 s ones), and
// caps with it the diagnoses read after a State. The whole diagnoses are
// decoded: 0.30-0.45 s for 1,024 of 3.7 KB on the 2-core development
// machine (BenchmarkStart).
const DefaultSeedLimit = 1024

// Querier reads stored diagnoses; *history.Store is one.
type Querier interface {
	Query(ctx context.Context, q history.Query) (history.Page, error)
}

var _ Querier = (*history.Store)(nil)

// Seed records in t the newest limit diagnoses of q (0:
// DefaultSeedLimit), oldest first, so that a restarted agent has its
// health history back. The limit counts the diagnoses of every rig in q:
// those of another rig (trend.Options.RigID and RigType) among them are
// read and skipped.
func Seed(ctx context.Context, t *trend.Tracker, q Querier, limit int) error {
	if limit <= 0 {
		limit = DefaultSeedLimit
	}
	p, err := q.Query(ctx, history.Query{Limit: limit, Desc: true})
	if err != nil {
		return fmt.Errorf("trend: read the newest %d diagnoses: %w", limit, err)
	}
	for i := len(p.Diagnoses) - 1; i >= 0; i-- {
		t.Observe(&p.Diagnoses[i])
	}
	return nil
}

// catchUpPage is how many diagnoses CatchUp reads per query.
const catchUpPage = 256

// CatchUp records in t the stored diagnoses newer than t's newest window
// (Tracker.Newest), at most limit of them (0: DefaultSeedLimit), the
// newest ones, oldest first: after Restore from a State saved a few
// minutes before a crash, it adds what the history stored since. It reads
// the history newest first and stops at the first diagnosis whose window
// ended at or before Newest (a rig's windows come in order). The limit
// counts the diagnoses of every rig: those of another rig
// (trend.Options.RigID and RigType) are read and skipped. It returns how
// many diagnoses of this rig it recorded.
func CatchUp(ctx context.Context, t *trend.Tracker, q Querier, limit int) (int, error) {
	if limit <= 0 {
		limit = DefaultSeedLimit
	}
	newest := t.Newest()
	var got []diag.Diagnosis
	var after *history.Key
	for len(got) < limit {
		p, err := q.Query(ctx, history.Query{Limit: min(catchUpPage, limit-len(got)), Desc: true, After: after})
		if err != nil {
			return 0, fmt.Errorf("trend: read the diagnoses after %s: %w", newest.Format(time.RFC3339), err)
		}
		done := !p.More
		for i := range p.Diagnoses {
			if !trend.PointTime(&p.Diagnoses[i]).After(newest) {
				done = true
				break
			}
			got = append(got, p.Diagnoses[i])
		}
		if done || len(p.Diagnoses) == 0 {
			break
		}
		k := history.KeyOf(&p.Diagnoses[len(p.Diagnoses)-1])
		after = &k
	}
	n := 0
	for i := len(got) - 1; i >= 0; i-- {
		if t.Observe(&got[i]) {
			n++
		}
	}
	return n, nil
}
