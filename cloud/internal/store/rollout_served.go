package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// ServedModel is a model that agents serve by their last check-in: its
// version (update.installed, else model.version) and manifest digest
// (model.digest; "" when not reported), and how many agents.
type ServedModel struct {
	Version, Digest string
	Agents          int
}

// ServedModels groups the current agents of org that selection sel picks
// among rigs of rigType (as CreateRollout selects them) by the model
// their last check-in says they serve, most agents first. Agents that
// never checked in, or said they serve nothing, are left out.
func (s *Store) ServedModels(ctx context.Context, orgID int64, rigType string, sel rolloutapi.Selection) ([]ServedModel, error) {
	labels := sel.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	labelDoc, err := json.Marshal(labels)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT v, d, count(*) FROM (
			SELECT coalesce(nullif(a.last_checkin->'update'->>'installed', ''), a.last_checkin->'model'->>'version', '') AS v,
				coalesce(a.last_checkin->'model'->>'digest', '') AS d
			FROM agents a
			JOIN rigs r ON r.id = a.rig_id
			LEFT JOIN sites st ON st.id = r.site_id
			WHERE a.org_id = $1 AND a.replaced_at IS NULL AND a.revoked_at IS NULL AND r.rig_type = $2
			  AND a.last_checkin IS NOT NULL
			  AND (cardinality($3::text[]) = 0 OR st.name = ANY($3))
			  AND (cardinality($4::text[]) = 0 OR r.name = ANY($4))
			  AND r.labels @> $5::jsonb) m
		WHERE v <> ''
		GROUP BY v, d ORDER BY count(*) DESC, v, d`,
		orgID, rigType, nonNil(sel.Sites), nonNil(sel.Rigs), labelDoc)
	if err != nil {
		return nil, fmt.Errorf("models served by the selected agents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ServedModel, error) {
		var m ServedModel
		return m, row.Scan(&m.Version, &m.Digest, &m.Agents)
	})
	if err != nil {
		return nil, fmt.Errorf("models served by the selected agents: %w", err)
	}
	return out, nil
}

// HaltedReleases returns the release target paths of org's rollouts
// that were judged bad: halted (still, or then aborted: a cohort stays
// failed) or rolled back. A halted rollout resumed and completed is not
// (its cohorts were judged again).
func (s *Store) HaltedReleases(ctx context.Context, orgID int64) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ro.target FROM rollouts ro
		WHERE ro.org_id = $1 AND (ro.state IN ('halted', 'rolled_back')
			OR EXISTS (SELECT 1 FROM rollout_cohorts c WHERE c.rollout_id = ro.id AND c.state = 'failed'))`, orgID)
	if err != nil {
		return nil, fmt.Errorf("halted releases: %w", err)
	}
	targets, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("halted releases: %w", err)
	}
	out := make(map[string]bool, len(targets))
	for _, t := range targets {
		out[t] = true
	}
	return out, nil
}
