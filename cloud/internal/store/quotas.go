package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Quotas cap what one organisation may have waiting at once (0: no cap).
// They are checked under a lock of the organisation's row, so concurrent
// requests of one organisation never pass a cap together.
type Quotas struct {
	// MaxOpenUploads caps its open, unexpired upload requests
	// (config quotas.max_open_uploads).
	MaxOpenUploads int
	// MaxQueuedJobs caps its queued jobs, training jobs and data set
	// builds together: both wait for the same workers (config
	// quotas.max_queued_jobs). A running job no longer counts.
	MaxQueuedJobs int
	// MaxLiveTokens caps its API tokens neither revoked nor expired
	// (config quotas.max_live_tokens; CreateTokenBy).
	MaxLiveTokens int
	// MaxRigTypeVersions caps its stored rig-type versions, all names
	// together (config quotas.max_rig_type_versions; PutRigType).
	MaxRigTypeVersions int
}

// Quota names: a QuotaError's Quota, the config key that sets it.
const (
	QuotaOpenUploads = "quotas.max_open_uploads"
	QuotaQueuedJobs  = "quotas.max_queued_jobs"
	QuotaLiveTokens  = "quotas.max_live_tokens"
	// QuotaRigTypeVersions: stored rig-type versions.
	QuotaRigTypeVersions = "quotas.max_rig_type_versions"
)

// ErrQuota is wrapped by a QuotaError.
var ErrQuota = errors.New("organisation quota reached")

// QuotaError is returned when a request would pass one of the
// organisation's quotas; nothing was stored.
type QuotaError struct {
	Quota string // QuotaOpenUploads or QuotaQueuedJobs
	Limit int
	Count int    // what the organisation holds now
	What  string // what is counted, plural ("open upload requests")
	Hint  string // how to make room
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("the organisation has %d %s, the most %s allows is %d: %s", e.Count, e.What, e.Quota, e.Limit, e.Hint)
}

// Unwrap makes errors.Is(err, ErrQuota) hold.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// SetQuotas sets the per-organisation caps (the zero value: none).
func (s *Store) SetQuotas(q Quotas) { s.quotas = q }

// Quotas is what SetQuotas set.
func (s *Store) Quotas() Quotas { return s.quotas }

// checkQuota locks org's row until tx ends (FOR NO KEY UPDATE: rows
// naming the organisation are still inserted meanwhile, only other quota
// checks of org wait) and returns a *QuotaError when org holds limit or
// more of what count counts; limit 0 checks nothing.
func checkQuota(ctx context.Context, tx pgx.Tx, orgID int64, quota string, limit int, what, hint, count string) error {
	if limit <= 0 {
		return nil
	}
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM organisations WHERE id = $1 FOR NO KEY UPDATE`, orgID).Scan(&one); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("organisation %d: %w", orgID, ErrNotFound)
		}
		return fmt.Errorf("lock organisation %d for %s: %w", orgID, quota, err)
	}
	var n int
	if err := tx.QueryRow(ctx, count, orgID).Scan(&n); err != nil {
		return fmt.Errorf("count %s of organisation %d: %w", what, orgID, err)
	}
	if n >= limit {
		return &QuotaError{Quota: quota, Limit: limit, Count: n, What: what, Hint: hint}
	}
	return nil
}

func (s *Store) checkOpenUploads(ctx context.Context, tx pgx.Tx, orgID int64) error {
	return checkQuota(ctx, tx, orgID, QuotaOpenUploads, s.quotas.MaxOpenUploads, "open upload requests",
		"cancel one (POST /v1/uploads/{id}/cancel, rigctl uploads cancel ID) or wait until one is done or expires",
		`SELECT count(*) FROM upload_requests WHERE org_id = $1 AND state = 'open' AND expires_at > now()`)
}

func (s *Store) checkQueuedJobs(ctx context.Context, tx pgx.Tx, orgID int64) error {
	return checkQuota(ctx, tx, orgID, QuotaQueuedJobs, s.quotas.MaxQueuedJobs, "queued jobs (training jobs and data set builds)",
		"wait until workers claim some, or cancel one (POST /v1/training/jobs/{id}/cancel, POST /v1/datasets/{id}/cancel)",
		`SELECT count(*) FROM training_jobs WHERE org_id = $1 AND state = 'queued'`)
}
