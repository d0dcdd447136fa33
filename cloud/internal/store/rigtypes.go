package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// MaxRigTypeNamesShown caps the registered names RigTypeKnown returns.
const MaxRigTypeNamesShown = 20

const rigTypeCols = `name, version, digest, topology_version, components, edges, sensors, targets, created_by, created_at`

func scanRigType(row pgx.Row, withConfig bool) (*fleetapi.RigType, error) {
	var t fleetapi.RigType
	dst := []any{&t.Name, &t.Version, &t.Digest, &t.TopologyVersion, &t.Components, &t.Edges, &t.Sensors, &t.Targets, &t.CreatedBy, &t.CreatedAt}
	if withConfig {
		dst = append(dst, &t.Config)
	}
	if err := row.Scan(dst...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return &t, nil
}

// PutRigType stores sum's firmware config (config, its text) as org's
// rig type sum.Name, uploaded by token createdBy (0: none). Content
// already stored under that name (the same digest) is not stored again:
// that version is returned with created false. Other content is the
// name's next version. A *QuotaError when org holds
// Quotas.MaxRigTypeVersions versions (all names together). Uploads of one
// organisation are serialized (a transaction-level advisory lock, taken
// before checkQuota's lock of the organisation's row), so versions are
// numbered without retries and the quota is exact.
func (s *Store) PutRigType(ctx context.Context, org int64, sum fleetapi.RigTypeSummary, config string, createdBy int64) (t *fleetapi.RigType, created bool, err error) {
	var by *int64
	if createdBy != 0 {
		by = &createdBy
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('rig_types:' || $1::bigint, 0))`, org); err != nil {
			return fmt.Errorf("lock rig types of org %d: %w", org, err)
		}
		t, err = scanRigType(tx.QueryRow(ctx, `SELECT `+rigTypeCols+` FROM rig_types
			WHERE org_id = $1 AND name = $2 AND digest = $3`, org, sum.Name, sum.Digest), false)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := s.checkRigTypeVersions(ctx, tx, org); err != nil {
			return err
		}
		t, err = scanRigType(tx.QueryRow(ctx, `INSERT INTO rig_types
			(org_id, name, version, digest, topology_version, components, edges, sensors, targets, config, created_by)
			SELECT $1, $2, COALESCE(max(version), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10 FROM rig_types WHERE org_id = $1 AND name = $2
			RETURNING `+rigTypeCols, org, sum.Name, sum.Digest, sum.TopologyVersion, sum.Components, sum.Edges, sum.Sensors, sum.Targets, config, by), false)
		created = err == nil
		return err
	})
	if qe := (*QuotaError)(nil); errors.As(err, &qe) {
		return nil, false, qe
	}
	if err != nil {
		return nil, false, fmt.Errorf("store rig type %s: %w", sum.Name, err)
	}
	return t, created, nil
}

func (s *Store) checkRigTypeVersions(ctx context.Context, tx pgx.Tx, org int64) error {
	return checkQuota(ctx, tx, org, QuotaRigTypeVersions, s.quotas.MaxRigTypeVersions, "rig-type versions",
		"delete versions no longer needed (DELETE /v1/rig-types/{name}?version=N, rigctl rig-types delete NAME --version N, an admin's token)",
		`SELECT count(*) FROM rig_types WHERE org_id = $1`)
}

// DeleteRigType deletes version of org's rig type name. So that a
// version number is never reused for other content and no rig loses its
// registered type, it refuses (ErrState) the latest version while older
// ones remain (the next upload would be numbered as it was: delete the
// older ones first), and the only version of a name a rig of org uses
// (the registry would no longer know that rig's type). ErrNotFound when
// org has no such version. Serialized with PutRigType (its advisory
// lock).
func (s *Store) DeleteRigType(ctx context.Context, org int64, name string, version int32) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('rig_types:' || $1::bigint, 0))`, org); err != nil {
			return fmt.Errorf("lock rig types of org %d: %w", org, err)
		}
		var latest, n int32
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0), count(*), bool_or(version = $3) IS TRUE
			FROM rig_types WHERE org_id = $1 AND name = $2`, org, name, version).Scan(&latest, &n, &exists); err != nil {
			return fmt.Errorf("versions of rig type %s of org %d: %w", name, org, err)
		}
		if !exists {
			return ErrNotFound
		}
		if version == latest && n > 1 {
			return fmt.Errorf("it is the latest version and %d older ones remain: a new upload would be numbered %d again; "+
				"delete the older ones first: %w", n-1, version, ErrState)
		}
		if n == 1 {
			var rigs int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM rigs WHERE org_id = $1 AND rig_type = $2`, org, name).Scan(&rigs); err != nil {
				return fmt.Errorf("rigs of rig type %s of org %d: %w", name, org, err)
			}
			if rigs > 0 {
				return fmt.Errorf("it is the rig type's only version and %d rigs use the rig type: %w", rigs, ErrState)
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM rig_types WHERE org_id = $1 AND name = $2 AND version = $3`, org, name, version)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete rig type %s version %d: %w", name, version, err)
	}
	return nil
}

// RigType returns org's rig type name at version (0: the latest), its
// config included; ErrNotFound when org has no such version.
func (s *Store) RigType(ctx context.Context, org int64, name string, version int32) (*fleetapi.RigType, error) {
	return scanRigType(s.pool.QueryRow(ctx, `SELECT `+rigTypeCols+`, config FROM rig_types
		WHERE org_id = $1 AND name = $2 AND ($3 = 0 OR version = $3) ORDER BY version DESC LIMIT 1`, org, name, version), true)
}

// RigTypes lists org's rig types by name, each at its latest version (no
// config): at most limit after name after.
func (s *Store) RigTypes(ctx context.Context, org int64, after string, limit int) ([]fleetapi.RigType, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (name) `+rigTypeCols+` FROM rig_types
		WHERE org_id = $1 AND name > $2 ORDER BY name, version DESC LIMIT $3`, org, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list rig types of org %d: %w", org, err)
	}
	defer rows.Close()
	out := []fleetapi.RigType{}
	for rows.Next() {
		t, err := scanRigType(rows, false)
		if err != nil {
			return nil, fmt.Errorf("list rig types of org %d: %w", org, err)
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// RigTypeVersions lists the versions of org's rig type name, oldest
// first (no config): at most limit after version after (0: from the
// first). ErrNotFound when org has no version of name.
func (s *Store) RigTypeVersions(ctx context.Context, org int64, name string, after int64, limit int) ([]fleetapi.RigType, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rigTypeCols+` FROM rig_types
		WHERE org_id = $1 AND name = $2 AND version > $3 ORDER BY version LIMIT $4`, org, name, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list versions of rig type %s: %w", name, err)
	}
	defer rows.Close()
	out := []fleetapi.RigType{}
	for rows.Next() {
		t, err := scanRigType(rows, false)
		if err != nil {
			return nil, fmt.Errorf("list versions of rig type %s: %w", name, err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list versions of rig type %s: %w", name, err)
	}
	if len(out) == 0 {
		// An empty page past the last version, or no such rig type.
		var known bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rig_types WHERE org_id = $1 AND name = $2)`, org, name).Scan(&known); err != nil {
			return nil, fmt.Errorf("list versions of rig type %s: %w", name, err)
		}
		if !known {
			return nil, ErrNotFound
		}
	}
	return out, nil
}

// RigTypeKnown reports whether org may create a rig of rig type name:
// true when org has registered name or has registered no rig type at all
// (the registry is then not in use). When false, names lists the first
// MaxRigTypeNamesShown registered names, in order, and more reports
// whether there are others.
func (s *Store) RigTypeKnown(ctx context.Context, org int64, name string) (ok bool, names []string, more bool, err error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT name FROM rig_types WHERE org_id = $1 ORDER BY name LIMIT $2`, org, MaxRigTypeNamesShown+1)
	if err != nil {
		return false, nil, false, fmt.Errorf("rig types of org %d: %w", org, err)
	}
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, nil, false, fmt.Errorf("rig types of org %d: %w", org, err)
	}
	if len(names) == 0 {
		return true, nil, false, nil
	}
	if len(names) > MaxRigTypeNamesShown {
		names, more = names[:MaxRigTypeNamesShown], true
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM rig_types WHERE org_id = $1 AND name = $2 LIMIT 1`, org, name).Scan(&one)
	switch {
	case err == nil:
		return true, nil, false, nil
	case errors.Is(err, pgx.ErrNoRows):
		return false, names, more, nil
	default:
		return false, nil, false, fmt.Errorf("rig type %s of org %d: %w", name, org, err)
	}
}
