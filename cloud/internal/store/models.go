package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// ModelVersion is one trained bundle in the registry: the wire record
// and its archive's blob key.
type ModelVersion struct {
	fleetapi.ModelVersion
	ArtifactKey string `json:"-"`
}

const modelCols = `id, rig_type, version, bundle_name, bundle_version, job_id, dataset_id, dataset_digest, archive_digest,
	code_version, backend, config, metrics, manifest, artifact_key, artifact_bytes, artifact_digest, created_at`

func scanModel(row pgx.Row) (*ModelVersion, error) {
	m := &ModelVersion{}
	err := row.Scan(&m.ID, &m.RigType, &m.Version, &m.BundleName, &m.BundleVersion, &m.JobID, &m.DatasetID, &m.DatasetDigest,
		&m.ArchiveDigest, &m.CodeVersion, &m.Backend, &m.Config, &m.Metrics, &m.Manifest, &m.ArtifactKey, &m.Artifact.Bytes,
		&m.Artifact.Digest, &m.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return m, err
}

// FinishJob ends l's job as succeeded with its artifact and registers m
// (RigType, Version, JobID and DatasetID are taken from the job; the
// version is the next of the organisation's rig type), in one
// transaction. ErrLeaseLost when l is not current, ErrCancelRequested when
// a cancel was requested (CancelJob) before the worker saw it: nothing is
// written (the caller deletes the artifact; after a cancel it ends the
// job with FailJob, which cancels it).
func (s *Store) FinishJob(ctx context.Context, l Lease, art Artifact, m fleetapi.ModelVersion) (*ModelVersion, error) {
	var out *ModelVersion
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var orgID, datasetID int64
		var rigType string
		err := tx.QueryRow(ctx, `UPDATE training_jobs SET state = 'succeeded', finished_at = now(), worker = NULL, lease_expires_at = NULL,
			artifact_key = $4, artifact_bytes = $5, artifact_digest = $6, error = NULL
			WHERE `+fence+` AND NOT cancel_requested RETURNING org_id, dataset_id, rig_type`, l.JobID, l.Worker, l.Attempt, art.Key, art.Bytes, art.Digest).
			Scan(&orgID, &datasetID, &rigType)
		if errors.Is(err, pgx.ErrNoRows) {
			var cancelled bool
			if err := tx.QueryRow(ctx, `SELECT cancel_requested FROM training_jobs WHERE `+fence, l.JobID, l.Worker, l.Attempt).Scan(&cancelled); err == nil && cancelled {
				return fmt.Errorf("job %d: %w", l.JobID, ErrCancelRequested)
			}
			return fmt.Errorf("job %d attempt %d: %w", l.JobID, l.Attempt, ErrLeaseLost)
		}
		if err != nil {
			return err
		}
		// Versions are numbered per organisation and rig type: one
		// registration at a time for each.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(orgID), rigType); err != nil {
			return err
		}
		out, err = scanModel(tx.QueryRow(ctx, `INSERT INTO model_versions (org_id, rig_type, version, bundle_name, bundle_version, job_id,
				dataset_id, dataset_digest, archive_digest, code_version, backend, config, metrics, manifest, artifact_key, artifact_bytes, artifact_digest)
			SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
			FROM model_versions WHERE org_id = $1 AND rig_type = $2
			RETURNING `+modelCols, orgID, rigType, m.BundleName, m.BundleVersion, l.JobID, datasetID, m.DatasetDigest, m.ArchiveDigest,
			m.CodeVersion, m.Backend, m.Config, m.Metrics, m.Manifest, art.Key, art.Bytes, art.Digest))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("finish job %d: %w", l.JobID, err)
	}
	return out, nil
}

// Model returns org's version of rigType.
func (s *Store) Model(ctx context.Context, orgID int64, rigType string, version int) (*ModelVersion, error) {
	return scanModel(s.pool.QueryRow(ctx, `SELECT `+modelCols+` FROM model_versions WHERE org_id = $1 AND rig_type = $2 AND version = $3`,
		orgID, rigType, version))
}

// Models lists org's registry, newest first, without manifests: at most
// limit with id below before (0: from the newest), of rigType when it is
// not "".
func (s *Store) Models(ctx context.Context, orgID int64, rigType string, before int64, limit int) ([]ModelVersion, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.pool.Query(ctx, `SELECT `+modelCols+` FROM model_versions
		WHERE org_id = $1 AND ($2 = '' OR rig_type = $2) AND id < $3 ORDER BY id DESC LIMIT $4`, orgID, rigType, before, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ModelVersion, error) {
		m, err := scanModel(r)
		if err != nil {
			return ModelVersion{}, err
		}
		m.Manifest = nil
		return *m, nil
	})
}

// MetricDelta compares one metric of two versions.
type MetricDelta = fleetapi.MetricDelta

// ConfigChange is a training setting that differs between two versions.
type ConfigChange = fleetapi.ConfigChange

// Comparison is version B against version A of a rig type.
type Comparison = fleetapi.Comparison

// Compare returns the metric deltas (b - a, every metric of either, by
// name) and the config changes of org's versions a and b of rigType.
func (s *Store) Compare(ctx context.Context, orgID int64, rigType string, a, b int) (*Comparison, error) {
	ma, err := s.Model(ctx, orgID, rigType, a)
	if err != nil {
		return nil, fmt.Errorf("version %d: %w", a, err)
	}
	mb, err := s.Model(ctx, orgID, rigType, b)
	if err != nil {
		return nil, fmt.Errorf("version %d: %w", b, err)
	}
	ma.Manifest, mb.Manifest = nil, nil
	return CompareVersions(&ma.ModelVersion, &mb.ModelVersion), nil
}

// CompareVersions compares b against a.
func CompareVersions(a, b *fleetapi.ModelVersion) *Comparison {
	c := &Comparison{RigType: a.RigType, A: a, B: b, Metrics: []MetricDelta{}, Config: []ConfigChange{},
		SameDataset: a.DatasetDigest == b.DatasetDigest}
	keys := map[string]bool{}
	for k := range a.Metrics {
		keys[k] = true
	}
	for k := range b.Metrics {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		d := MetricDelta{Metric: k}
		if v, ok := a.Metrics[k]; ok {
			d.A = &v
		}
		if v, ok := b.Metrics[k]; ok {
			d.B = &v
		}
		if d.A != nil && d.B != nil {
			x := math.Round((*d.B-*d.A)*1e9) / 1e9
			d.Delta = &x
		}
		c.Metrics = append(c.Metrics, d)
	}
	ckeys := map[string]bool{}
	for k := range a.Config {
		ckeys[k] = true
	}
	for k := range b.Config {
		ckeys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(ckeys)) {
		ja, _ := json.Marshal(a.Config[k])
		jb, _ := json.Marshal(b.Config[k])
		if string(ja) != string(jb) {
			c.Config = append(c.Config, ConfigChange{Key: k, A: a.Config[k], B: b.Config[k]})
		}
	}
	return c
}
