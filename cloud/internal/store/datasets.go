package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Data set sources.
const (
	// SourceImport is a folder imported with rigctl dataset import.
	SourceImport = "import"
	// SourceFleet is a data set assembled from agents' uploads (upload
	// requests announced at check-in, answered with POST
	// /v1/agent/uploads): POST /v1/datasets/from-uploads records it
	// building with its build job (CreateBuildingDataset); a worker cuts
	// the stored readings into windows (cloud/internal/fleetset), stores
	// the archive and marks it ready (FinishBuild) or failed; it trains
	// like an imported one.
	SourceFleet = "fleet"
)

// Data set states.
const (
	// DatasetPending: imported, waiting for its archive.
	DatasetPending = "pending"
	// DatasetBuilding: made from fleet uploads, its build job not done.
	DatasetBuilding = "building"
	// DatasetReady: the archive is stored; jobs may train on it.
	DatasetReady = "ready"
	// DatasetFailed: the build failed (Error says why); nothing stored.
	DatasetFailed = "failed"
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

const datasetCols = `id, name, kind, source, description, rig_type, config_digest, state, blob_key, bytes, digest, created_at, uploaded_at, rig_config,
	build, error`

func scanDataset(row pgx.Row) (*Dataset, error) {
	d := &Dataset{}
	err := row.Scan(&d.ID, &d.Name, &d.Kind, &d.Source, &d.Description, &d.RigType, &d.ConfigDigest, &d.State,
		&d.BlobKey, &d.Bytes, &d.Digest, &d.CreatedAt, &d.UploadedAt, &d.RigConfig, &d.Build, &d.Error)
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

// DeletePendingDataset deletes org's data set id while it is pending
// (registered, its archive not stored): its name is free again, and an
// archive upload still streaming into it is refused when it ends
// (SetDatasetArchive: ErrNotFound) and its blob deleted. ErrNotFound: no
// such data set in org; ErrState: it is not pending (a ready one stays,
// as jobs and models name it; a building one's build is cancelled with
// CancelBuild).
func (s *Store) DeletePendingDataset(ctx context.Context, orgID, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM datasets WHERE id = $1 AND org_id = $2 AND state = 'pending'`, id, orgID)
	if err != nil {
		return fmt.Errorf("delete data set %d: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	d, err := s.Dataset(ctx, orgID, id)
	if err != nil {
		return err
	}
	return fmt.Errorf("data set %d (%s) is %s, not pending: only a data set without its archive is deleted: %w", id, d.Name, d.State, ErrState)
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

// CreateBuildingDataset records d (as CreateDataset, source fleet) in org
// as building with build (its request; Phase queued) and queues its build
// job (a training_jobs row of kind fleet_dataset, with maxAttempts), in
// one transaction: a worker claims it (Claim) and ends it with
// FinishBuild or FailJob. A failed data set of the same name is replaced
// (its name is free again); ErrExists when the name is taken otherwise; a
// *QuotaError (ErrQuota) when org has Quotas.MaxQueuedJobs queued jobs
// already (the build job is one).
func (s *Store) CreateBuildingDataset(ctx context.Context, orgID int64, d Dataset, build fleetapi.DatasetBuild, maxAttempts int, createdBy int64) (*Dataset, error) {
	var by *int64
	if createdBy != 0 {
		by = &createdBy
	}
	var out *Dataset
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.checkQueuedJobs(ctx, tx, orgID); err != nil {
			return err
		}
		// A failed data set has nothing a job or model names (jobs train
		// on ready ones only): it and its build job go.
		if _, err := tx.Exec(ctx, `DELETE FROM training_jobs t USING datasets x WHERE t.dataset_id = x.id AND t.kind = '`+KindBuildDataset+`'
			AND x.org_id = $1 AND x.name = $2 AND x.state = 'failed'`, orgID, d.Name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM datasets WHERE org_id = $1 AND name = $2 AND state = 'failed'`, orgID, d.Name); err != nil {
			return err
		}
		var err error
		out, err = scanDataset(tx.QueryRow(ctx, `INSERT INTO datasets
			(org_id, name, kind, source, description, rig_type, config_digest, rig_config, created_by, state, build)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'building', $10) RETURNING `+datasetCols,
			orgID, d.Name, d.Kind, SourceFleet, d.Description, d.RigType, d.ConfigDigest, d.RigConfig, by, build))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO training_jobs (org_id, dataset_id, rig_type, config, max_attempts, created_by, kind)
			VALUES ($1, $2, $3, '{}', $4, $5, '`+KindBuildDataset+`')`, orgID, out.ID, d.RigType, maxAttempts, by)
		return err
	})
	if isUnique(err) {
		return nil, fmt.Errorf("data set %q: %w", d.Name, ErrExists)
	}
	if errors.Is(err, ErrQuota) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("record data set %q: %w", d.Name, err)
	}
	return out, nil
}

// HeartbeatBuild renews l (a build job's lease) for lease and stores b as
// its data set's build (progress). It returns whether a cancel was
// requested (CancelBuild): the worker stops and ends the job with FailJob.
// ErrLeaseLost when l is not current.
func (s *Store) HeartbeatBuild(ctx context.Context, l Lease, lease time.Duration, b *fleetapi.DatasetBuild) (cancel bool, err error) {
	err = s.pool.QueryRow(ctx, `WITH j AS (UPDATE training_jobs SET lease_expires_at = now() + $4::interval, heartbeat_at = now()
			WHERE `+fence+` AND kind = '`+KindBuildDataset+`' RETURNING dataset_id, cancel_requested)
		UPDATE datasets x SET build = $5 FROM j WHERE x.id = j.dataset_id AND x.state = 'building' RETURNING j.cancel_requested`,
		l.JobID, l.Worker, l.Attempt, lease, b).Scan(&cancel)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("build job %d attempt %d: %w", l.JobID, l.Attempt, ErrLeaseLost)
	}
	if err != nil {
		return false, fmt.Errorf("build job %d heartbeat: %w", l.JobID, err)
	}
	return cancel, nil
}

// CancelBuild cancels the build of org's data set id, asked by API token
// tokenID (0: none): a queued build, or a running one whose lease
// expired, at once (the data set fails with error "cancelled by token
// NAME (id N)"); a running one is marked
// cancel_requested, its worker sees it at its next heartbeat and ends it
// (FailJob), and the data set fails then with the same error (meanwhile
// it is building, error saying the cancel was asked). ErrNotFound when
// org has no such data set, ErrState when it is not building. final says
// whether the data set has failed already.
func (s *Store) CancelBuild(ctx context.Context, orgID, id, tokenID int64) (d *Dataset, final bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The job row first, then the data set: the workers' order.
		var state, msg string
		err := tx.QueryRow(ctx, `UPDATE training_jobs t SET
				state = CASE WHEN `+endsAtCancel+` THEN 'cancelled' ELSE t.state END,
				finished_at = CASE WHEN `+endsAtCancel+` THEN now() ELSE t.finished_at END,
				worker = CASE WHEN `+endsAtCancel+` THEN NULL ELSE t.worker END,
				lease_expires_at = CASE WHEN `+endsAtCancel+` THEN NULL ELSE t.lease_expires_at END,
				cancel_requested = true,
				error = coalesce((SELECT format('cancelled by token %s (id %s)', to_json(k.name)::text, k.id) FROM api_tokens k WHERE k.id = $3),
					'cancelled by request')
			FROM datasets x WHERE t.dataset_id = x.id AND x.id = $1 AND x.org_id = $2 AND x.state = 'building'
				AND t.kind = '`+KindBuildDataset+`' AND t.state IN ('queued', 'running')
			RETURNING t.state, t.error`, id, orgID, tokenID).Scan(&state, &msg)
		if errors.Is(err, pgx.ErrNoRows) {
			cur, err := scanDataset(tx.QueryRow(ctx, `SELECT `+datasetCols+` FROM datasets WHERE id = $1 AND org_id = $2`, id, orgID))
			if err != nil {
				return err
			}
			return fmt.Errorf("data set %d is %s: only a building data set can be cancelled: %w", id, cur.State, ErrState)
		}
		if err != nil {
			return err
		}
		final = state == JobCancelled
		if final {
			d, err = scanDataset(tx.QueryRow(ctx, `UPDATE datasets SET state = 'failed', error = $2,
					build = jsonb_set(build, '{phase}', to_jsonb('failed'::text))
				WHERE id = $1 RETURNING `+datasetCols, id, msg))
		} else {
			d, err = scanDataset(tx.QueryRow(ctx, `UPDATE datasets SET error = $2 WHERE id = $1 RETURNING `+datasetCols,
				id, msg+": the worker stops at its next heartbeat"))
		}
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("cancel the build of data set %d: %w", id, err)
	}
	return d, final, nil
}

// FinishBuild ends l's build job as succeeded and marks its data set ready
// with its archive in the blob store (key, bytes, digest) and its last
// build b, in one transaction. ErrLeaseLost when l is not current,
// ErrCancelRequested when a cancel was requested: nothing is written (the
// caller deletes the archive; after a cancel it ends the job with
// FailJob).
func (s *Store) FinishBuild(ctx context.Context, l Lease, key string, bytes int64, digest string, b fleetapi.DatasetBuild) (*Dataset, error) {
	var out *Dataset
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `UPDATE training_jobs SET state = 'succeeded', finished_at = now(), worker = NULL, lease_expires_at = NULL, error = NULL
			WHERE `+fence+` AND kind = '`+KindBuildDataset+`' AND NOT cancel_requested RETURNING dataset_id`, l.JobID, l.Worker, l.Attempt).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			var cancelled bool
			err := tx.QueryRow(ctx, `SELECT cancel_requested FROM training_jobs WHERE `+fence, l.JobID, l.Worker, l.Attempt).Scan(&cancelled)
			if err == nil && cancelled {
				return fmt.Errorf("build job %d: %w", l.JobID, ErrCancelRequested)
			}
			return fmt.Errorf("build job %d attempt %d: %w", l.JobID, l.Attempt, ErrLeaseLost)
		}
		if err != nil {
			return err
		}
		out, err = scanDataset(tx.QueryRow(ctx, `UPDATE datasets SET state = 'ready', blob_key = $2, bytes = $3, digest = $4, uploaded_at = now(),
				build = $5, error = NULL
			WHERE id = $1 AND state = 'building' RETURNING `+datasetCols, id, key, bytes, digest, b))
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("build job %d: data set %d is not building: %w", l.JobID, id, ErrLeaseLost)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("finish build job %d: %w", l.JobID, err)
	}
	return out, nil
}
