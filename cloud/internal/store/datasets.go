package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Data set sources.
const (
	// SourceImport is a folder imported with rigctl dataset import.
	SourceImport = "import"
	// SourceFleet is a data set assembled from agents' uploads (upload
	// requests announced at check-in, answered with POST
	// /v1/agent/uploads): POST /v1/datasets/from-uploads cuts the stored
	// readings into windows (cloud/internal/fleetset), stores the archive
	// and records the data set ready (CreateReadyDataset); it trains like
	// an imported one.
	SourceFleet = "fleet"
)

// Data set states.
const (
	DatasetPending = "pending"
	DatasetReady   = "ready"
)

// ErrState is returned when an object's state does not allow the change
// asked (a second archive for a data set, cancelling a finished job).
var ErrState = errors.New("state does not allow this")

// Dataset is a data set of an organisation: the wire record, its
// archive's blob key and its firmware config's YAML (RigConfig, read by
// the worker), which are never listed.
type Dataset struct {
	fleetapi.Dataset
	BlobKey   *string `json:"-"`
	RigConfig string  `json:"-"`
}

const datasetCols = `id, name, kind, source, description, rig_type, config_digest, state, blob_key, bytes, digest, created_at, uploaded_at, rig_config`

func scanDataset(row pgx.Row) (*Dataset, error) {
	d := &Dataset{}
	err := row.Scan(&d.ID, &d.Name, &d.Kind, &d.Source, &d.Description, &d.RigType, &d.ConfigDigest, &d.State,
		&d.BlobKey, &d.Bytes, &d.Digest, &d.CreatedAt, &d.UploadedAt, &d.RigConfig)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return d, err
}

// CreateDataset records d (Name, Kind, Source, Description, RigType,
// ConfigDigest, RigConfig) in org as pending; ErrExists when the name is
// taken there.
func (s *Store) CreateDataset(ctx context.Context, orgID int64, d Dataset, createdBy int64) (*Dataset, error) {
	var by *int64
	if createdBy != 0 {
		by = &createdBy
	}
	out, err := scanDataset(s.pool.QueryRow(ctx, `INSERT INTO datasets
		(org_id, name, kind, source, description, rig_type, config_digest, rig_config, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+datasetCols,
		orgID, d.Name, d.Kind, d.Source, d.Description, d.RigType, d.ConfigDigest, d.RigConfig, by))
	if isUnique(err) {
		return nil, fmt.Errorf("data set %q: %w", d.Name, ErrExists)
	}
	return out, err
}

// Dataset returns org's data set id.
func (s *Store) Dataset(ctx context.Context, orgID, id int64) (*Dataset, error) {
	return scanDataset(s.pool.QueryRow(ctx, `SELECT `+datasetCols+` FROM datasets WHERE id = $1 AND org_id = $2`, id, orgID))
}

// Datasets lists org's data sets by id.
func (s *Store) Datasets(ctx context.Context, orgID, after int64, limit int) ([]Dataset, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+datasetCols+` FROM datasets WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		orgID, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Dataset, error) {
		d, err := scanDataset(r)
		if err != nil {
			return Dataset{}, err
		}
		return *d, nil
	})
}

// SetDatasetArchive marks org's pending data set id ready with its
// archive in the blob store. ErrNotFound when there is no such data set,
// ErrState when it is ready already (a data set never changes once
// stored: jobs and models name it).
func (s *Store) SetDatasetArchive(ctx context.Context, orgID, id int64, key string, bytes int64, digest string) (*Dataset, error) {
	d, err := scanDataset(s.pool.QueryRow(ctx, `UPDATE datasets SET state = 'ready', blob_key = $3, bytes = $4, digest = $5, uploaded_at = now()
		WHERE id = $1 AND org_id = $2 AND state = 'pending' RETURNING `+datasetCols, id, orgID, key, bytes, digest))
	if errors.Is(err, ErrNotFound) {
		if _, err := s.Dataset(ctx, orgID, id); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("data set %d has its archive already: %w", id, ErrState)
	}
	return d, err
}

// CreateReadyDataset records d (as CreateDataset) in org with its archive
// already in the blob store (key, bytes, digest), in one statement: a data
// set assembled by the server is never pending. ErrExists when the name is
// taken.
func (s *Store) CreateReadyDataset(ctx context.Context, orgID int64, d Dataset, key string, bytes int64, digest string, createdBy int64) (*Dataset, error) {
	var by *int64
	if createdBy != 0 {
		by = &createdBy
	}
	out, err := scanDataset(s.pool.QueryRow(ctx, `INSERT INTO datasets
		(org_id, name, kind, source, description, rig_type, config_digest, rig_config, created_by, state, blob_key, bytes, digest, uploaded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'ready', $10, $11, $12, now()) RETURNING `+datasetCols,
		orgID, d.Name, d.Kind, d.Source, d.Description, d.RigType, d.ConfigDigest, d.RigConfig, by, key, bytes, digest))
	if isUnique(err) {
		return nil, fmt.Errorf("data set %q: %w", d.Name, ErrExists)
	}
	return out, err
}
