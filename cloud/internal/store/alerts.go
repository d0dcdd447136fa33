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

// AlertFilter narrows an alert list; a zero field does not filter.
type AlertFilter struct {
	// State is one of the alert states.
	State string
	// Rig is a rig's name (its rig id in the API): an organisation's
	// rig of no such name lists nothing.
	Rig string
	// Severity is a diagnosis severity (info, low, medium, high,
	// critical).
	Severity string
}

// The alert list's statement, from fixed fragments: the filters in use
// decide the text, so each combination is its own prepared statement
// whose plan, generic plans included, fits it: by org alone the index
// alerts_org_id, with a state alerts_org_state, with a rig alerts_rig_id
// (migration 0021); a severity is a filter on whichever of them. The
// cursor is a position in the id order, not bound to the filters: used
// with other filters it lists their alerts past that position.
func alertsQuery(f AlertFilter, newest bool) string {
	q := `SELECT ` + alertCols + ` FROM alerts a JOIN rigs r ON r.id = a.rig_id WHERE a.org_id = $1`
	n := 3
	if f.State != "" {
		n++
		q += fmt.Sprintf(` AND a.state = $%d`, n)
	}
	if f.Rig != "" {
		n++
		q += fmt.Sprintf(` AND a.rig_id = (SELECT id FROM rigs WHERE org_id = $1 AND name = $%d)`, n)
	}
	if f.Severity != "" {
		n++
		q += fmt.Sprintf(` AND a.severity = $%d`, n)
	}
	if newest {
		return q + ` AND a.id < $2 ORDER BY a.id DESC LIMIT $3`
	}
	return q + ` AND a.id > $2 ORDER BY a.id LIMIT $3`
}

// Alerts lists org's alerts by id, of one state when state is set.
func (s *Store) Alerts(ctx context.Context, orgID int64, state string, after int64, limit int) ([]Alert, error) {
	return s.FilteredAlerts(ctx, orgID, AlertFilter{State: state}, false, after, limit)
}

// AlertsNewest lists org's alerts newest first (by id, descending) from
// before id before (0: from the newest), of one state when state is set.
func (s *Store) AlertsNewest(ctx context.Context, orgID int64, state string, before int64, limit int) ([]Alert, error) {
	return s.FilteredAlerts(ctx, orgID, AlertFilter{State: state}, true, before, limit)
}

// FilteredAlerts lists org's alerts that f lets through, at most limit:
// by id after id from, or, newest, by id descending before id from (0:
// from the newest).
func (s *Store) FilteredAlerts(ctx context.Context, orgID int64, f AlertFilter, newest bool, from int64, limit int) ([]Alert, error) {
	if newest && from <= 0 {
		from = math.MaxInt64
	}
	q := alertsQuery(f, newest)
	args := []any{orgID, from, limit}
	for _, v := range []string{f.State, f.Rig, f.Severity} {
		if v != "" {
			args = append(args, v)
		}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
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
