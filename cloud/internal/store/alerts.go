package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Alert is an alert opened from diagnoses.
type Alert = fleetapi.Alert

// Alert states.
const (
	AlertOpen         = fleetapi.AlertOpen
	AlertAcknowledged = fleetapi.AlertAcknowledged
	AlertResolved     = fleetapi.AlertResolved
)

const alertCols = `a.id, r.name, a.component, a.fault, a.severity, a.state, a.opened_at, a.last_seen_at, a.occurrences, a.acknowledged_at, a.resolved_at`

// Alerts lists org's alerts by id, of one state when state is set.
func (s *Store) Alerts(ctx context.Context, orgID int64, state string, after int64, limit int) ([]Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertCols+` FROM alerts a JOIN rigs r ON r.id = a.rig_id
		WHERE a.org_id = $1 AND ($2 = '' OR a.state = $2) AND a.id > $3 ORDER BY a.id LIMIT $4`, orgID, state, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Alert])
}

// ErrAlertState is returned when an alert cannot move to the asked state
// (acknowledging a resolved alert).
var ErrAlertState = errors.New("alert state does not allow this")

// SetAlertState acknowledges (to = AlertAcknowledged) or resolves (to =
// AlertResolved) org's alert id on behalf of token by. Acknowledging an
// acknowledged alert or resolving a resolved one changes nothing.
func (s *Store) SetAlertState(ctx context.Context, orgID, id int64, to string, by int64) (*Alert, error) {
	var q string
	switch to {
	case AlertAcknowledged:
		q = `UPDATE alerts SET state = 'acknowledged', acknowledged_at = coalesce(acknowledged_at, now()), acknowledged_by = coalesce(acknowledged_by, $3)
			WHERE id = $1 AND org_id = $2 AND state <> 'resolved'`
	case AlertResolved:
		q = `UPDATE alerts SET state = 'resolved', resolved_at = coalesce(resolved_at, now()), resolved_by = coalesce(resolved_by, $3)
			WHERE id = $1 AND org_id = $2`
	default:
		return nil, fmt.Errorf("alert state %q: %w", to, ErrAlertState)
	}
	var byp *int64
	if by != 0 {
		byp = &by
	}
	tag, err := s.pool.Exec(ctx, q, id, orgID, byp)
	if err != nil {
		return nil, fmt.Errorf("set alert state: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+alertCols+` FROM alerts a JOIN rigs r ON r.id = a.rig_id WHERE a.id = $1 AND a.org_id = $2`, id, orgID)
	if err != nil {
		return nil, err
	}
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByPos[Alert])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return a, fmt.Errorf("alert %d is %s: %w", id, a.State, ErrAlertState)
	}
	return a, nil
}
