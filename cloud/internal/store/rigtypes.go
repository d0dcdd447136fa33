package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// MaxRigTypeVersions caps the rig-type versions (all names together) an
// organisation may store: an upload past it is ErrState (409). Versions
// are immutable and never deleted by the API, so the cap bounds the
// table.
const MaxRigTypeVersions = 1000

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
// name's next version. ErrState when org holds MaxRigTypeVersions.
// Uploads of one organisation are serialized (a transaction-level
// advisory lock), so versions are numbered without gaps or retries and
// the cap is exact.
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
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM rig_types WHERE org_id = $1`, org).Scan(&n); err != nil {
			return fmt.Errorf("count rig types of org %d: %w", org, err)
		}
		if n >= MaxRigTypeVersions {
			return fmt.Errorf("organisation %d holds %d rig-type versions, the most it may: %w", org, n, ErrState)
		}
		t, err = scanRigType(tx.QueryRow(ctx, `INSERT INTO rig_types
			(org_id, name, version, digest, topology_version, components, edges, sensors, targets, config, created_by)
			SELECT $1, $2, COALESCE(max(version), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10 FROM rig_types WHERE org_id = $1 AND name = $2
			RETURNING `+rigTypeCols, org, sum.Name, sum.Digest, sum.TopologyVersion, sum.Components, sum.Edges, sum.Sensors, sum.Targets, config, by), false)
		created = err == nil
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("store rig type %s: %w", sum.Name, err)
	}
	return t, created, nil
}

// RigType returns org's rig type name at version (0: the latest), its
// config included; ErrNotFound when org has no such version.
func (s *Store) RigType(ctx context.Context, org int64, name string, version int) (*fleetapi.RigType, error) {
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

// RigTypeKnown reports whether org may create a rig of rig type name:
// true when org has registered name or has registered no rig type at all
// (the registry is then not in use). When false, names lists the first
// MaxRigTypeNamesShown registered names, in order.
func (s *Store) RigTypeKnown(ctx context.Context, org int64, name string) (ok bool, names []string, err error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT name FROM rig_types WHERE org_id = $1 ORDER BY name LIMIT $2`, org, MaxRigTypeNamesShown)
	if err != nil {
		return false, nil, fmt.Errorf("rig types of org %d: %w", org, err)
	}
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, nil, fmt.Errorf("rig types of org %d: %w", org, err)
	}
	if len(names) == 0 {
		return true, nil, nil
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM rig_types WHERE org_id = $1 AND name = $2 LIMIT 1`, org, name).Scan(&one)
	switch {
	case err == nil:
		return true, nil, nil
	case errors.Is(err, pgx.ErrNoRows):
		return false, names, nil
	default:
		return false, nil, fmt.Errorf("rig type %s of org %d: %w", name, org, err)
	}
}
