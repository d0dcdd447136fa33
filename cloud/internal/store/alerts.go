package store

import (
	"context"
	"errors"
	"fmt"
	"math"

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

const alertCols = `a.id, r.name, a.component, a.fault, a.severity, a.state, a.opened_at, a.last_seen_at, a.occurrences, a.acknowledged_at, a.resolved_at, a.suspected, a.suspected_faults`

// The alert list, all states (index alerts_org_id) or one (index
// alerts_org_state): two statements, so that each one's plan, generic
// plans of prepared statements included, uses its index.
const (
	alertsAll = `SELECT ` + alertCols + ` FROM alerts a JOIN rigs r ON r.id = a.rig_id
		WHERE a.org_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3`
	alertsOfState = `SELECT ` + alertCols + ` FROM alerts a JOIN rigs r ON r.id = a.rig_id
		WHERE a.org_id = $1 AND a.state = $4 AND a.id > $2 ORDER BY a.id LIMIT $3`
)

// The same newest first (the indexes read backwards).
const (
	alertsAllNewest = `SELECT ` + alertCols + ` FROM alerts a JOIN rigs r ON r.id = a.rig_id
		WHERE a.org_id = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3`
	alertsOfStateNewest = `SELECT ` + alertCols + ` FROM alerts a JOIN rigs r ON r.id = a.rig_id
		WHERE a.org_id = $1 AND a.state = $4 AND a.id < $2 ORDER BY a.id DESC LIMIT $3`
)

// Alerts lists org's alerts by id, of one state when state is set.
func (s *Store) Alerts(ctx context.Context, orgID int64, state string, after int64, limit int) ([]Alert, error) {
	return s.alerts(ctx, alertsAll, alertsOfState, orgID, state, after, limit)
}

// AlertsNewest lists org's alerts newest first (by id, descending) from
// before id before (0: from the newest), of one state when state is set.
func (s *Store) AlertsNewest(ctx context.Context, orgID int64, state string, before int64, limit int) ([]Alert, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	return s.alerts(ctx, alertsAllNewest, alertsOfStateNewest, orgID, state, before, limit)
}

func (s *Store) alerts(ctx context.Context, all, ofState string, orgID int64, state string, from int64, limit int) ([]Alert, error) {
	q, args := all, []any{orgID, from, limit}
	if state != "" {
		q, args = ofState, append(args, state)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Alert])
}

// ErrAlertState is returned when an alert cannot move to the asked state
// (acknowledging a resolved alert).
var ErrAlertState = errors.New("alert state does not allow this")

// SetAlertState acknowledges (to = AlertAcknowledged) or resolves (to =
// AlertResolved) org's alert id on behalf of token by, and returns the
// alert as that change left it (one UPDATE ... RETURNING: never a state
// a concurrent change made afterwards). Acknowledging an acknowledged
// alert or resolving a resolved one changes nothing; acknowledging a
// resolved one is ErrAlertState. A resolve takes the alert's ingest lock
// first (openAlerts): a batch counting on the alert finishes before it,
// and a later one's windows before the resolve do not open it again (a
// transaction: BEGIN, the lock, the UPDATE, COMMIT). An acknowledgement
// is the UPDATE alone.
func (s *Store) SetAlertState(ctx context.Context, orgID, id int64, to string, by int64) (*Alert, error) {
	var set, cond string
	switch to {
	case AlertAcknowledged:
		set = `state = 'acknowledged', acknowledged_at = coalesce(a.acknowledged_at, now()), acknowledged_by = coalesce(a.acknowledged_by, $3)`
		cond = ` AND a.state <> 'resolved'`
	case AlertResolved:
		set = `state = 'resolved', resolved_at = coalesce(a.resolved_at, now()), resolved_by = coalesce(a.resolved_by, $3)`
	default:
		return nil, fmt.Errorf("alert state %q: %w", to, ErrAlertState)
	}
	var byp *int64
	if by != 0 {
		byp = &by
	}
	update := `UPDATE alerts a SET ` + set + ` FROM rigs r
		WHERE r.id = a.rig_id AND a.id = $1 AND a.org_id = $2` + cond + ` RETURNING ` + alertCols
	var a *Alert
	var err error
	if to == AlertResolved {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// The alert's ingest lock (lockAlertKeysSQL): a batch that is
			// opening or counting this (rig, component, fault) finishes
			// first, and one that comes later sees the resolve.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($3, `+fmt.Sprintf(alertLockKey, "rig_id", "component", "fault")+`)
				FROM alerts WHERE id = $1 AND org_id = $2`, id, orgID, alertLockClass); err != nil {
				return fmt.Errorf("lock alert: %w", err)
			}
			a, err = collectAlert(tx.Query(ctx, update, id, orgID, byp))
			return err
		})
	} else {
		// An acknowledgement leaves the alert open (in the unique index of
		// open alerts), so a batch racing it counts on it either way: one
		// statement, no lock, no transaction.
		a, err = collectAlert(s.pool.Query(ctx, update, id, orgID, byp))
	}
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("set alert state: %w", err)
	}
	// Nothing updated: a missing alert (404) or one whose state does not
	// allow the change (409).
	var state string
	err = s.pool.QueryRow(ctx, `SELECT state FROM alerts WHERE id = $1 AND org_id = $2`, id, orgID).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("set alert state: %w", err)
	}
	return nil, fmt.Errorf("alert %d is %s: %w", id, state, ErrAlertState)
}

// collectAlert is the one alert rows (an UPDATE ... RETURNING) returns;
// pgx.ErrNoRows when it returns none.
func collectAlert(rows pgx.Rows, err error) (*Alert, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByPos[Alert])
}
