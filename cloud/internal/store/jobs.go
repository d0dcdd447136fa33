package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Training job states.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// Job kinds: what a training_jobs row asks a worker to do. Only KindTrain
// jobs are the API's training jobs (Job, Jobs, CancelJob, JobLogs); a
// KindBuildDataset job builds its data set from fleet uploads
// (CreateBuildingDataset), claimed, leased and retried like the others.
const (
	KindTrain        = "train"
	KindBuildDataset = "fleet_dataset"
)

// JobStates lists the states in their order.
var JobStates = []string{JobQueued, JobRunning, JobSucceeded, JobFailed, JobCancelled}

// ErrLeaseLost is returned to a worker whose job is no longer its own:
// its lease expired and the job was re-queued (or failed, or cancelled).
// The worker must stop and write nothing more for the job.
var ErrLeaseLost = errors.New("the job's lease is not held by this worker any more")

// ErrCancelRequested is returned by FinishBuild and FinishJob when the job
// was cancelled (CancelBuild, CancelJob) before the worker saw it at a
// heartbeat: the worker ends the job with FailJob, which cancels it.
var ErrCancelRequested = errors.New("the job's cancel was requested")

// Progress is a running job's last reported state.
type Progress = fleetapi.Progress

// Artifact is a trained bundle stored in the blob store under Key.
type Artifact struct {
	Key    string
	Bytes  int64
	Digest string
}

// Job is a training job.
type Job = fleetapi.Job

const jobCols = `j.id, j.dataset_id, j.rig_type, j.config, j.state, j.attempts, j.max_attempts, j.cancel_requested, j.worker, j.backend,
	j.lease_expires_at, j.heartbeat_at, j.progress, j.error, j.artifact_key, j.artifact_bytes, j.artifact_digest,
	(SELECT m.version FROM model_versions m WHERE m.job_id = j.id), j.created_at, j.started_at, j.finished_at`

// scanJob scans jobCols, then extra.
func scanJob(row pgx.Row, extra ...any) (*Job, error) {
	j := &Job{}
	var key, digest *string
	var bytes *int64
	err := row.Scan(append([]any{&j.ID, &j.DatasetID, &j.RigType, &j.Config, &j.State, &j.Attempts, &j.MaxAttempts, &j.CancelRequested,
		&j.Worker, &j.Backend, &j.LeaseExpiresAt, &j.HeartbeatAt, &j.Progress, &j.Error, &key, &bytes, &digest,
		&j.ModelVersion, &j.CreatedAt, &j.StartedAt, &j.FinishedAt}, extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if key != nil && bytes != nil && digest != nil {
		j.Artifact = &fleetapi.Artifact{Bytes: *bytes, Digest: *digest}
	}
	return j, err
}

func collectJobs(rows pgx.Rows, err error) ([]Job, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) {
		j, err := scanJob(r)
		if err != nil {
			return Job{}, err
		}
		return *j, nil
	})
}

// CreateJob queues a training job in org on its ready data set
// datasetID with config (a JSON object, checked by the caller).
// ErrNotFound when the data set is not org's, ErrState when it has no
// archive yet, a *QuotaError (ErrQuota) when org has Quotas.MaxQueuedJobs
// queued jobs already.
func (s *Store) CreateJob(ctx context.Context, orgID, datasetID int64, config json.RawMessage, maxAttempts int, createdBy int64) (*Job, error) {
	d, err := s.Dataset(ctx, orgID, datasetID)
	if err != nil {
		return nil, fmt.Errorf("data set %d: %w", datasetID, err)
	}
	switch d.State {
	case DatasetReady:
	case DatasetBuilding:
		return nil, fmt.Errorf("data set %d is building (a worker assembles it from fleet uploads): train once it is ready (GET /v1/datasets/%d): %w",
			datasetID, datasetID, ErrState)
	case DatasetFailed:
		msg := ""
		if d.Error != nil {
			msg = *d.Error
		}
		return nil, fmt.Errorf("data set %d failed to build (%s): make it again: %w", datasetID, msg, ErrState)
	default:
		return nil, fmt.Errorf("data set %d is %s: upload its archive first: %w", datasetID, d.State, ErrState)
	}
	var by *int64
	if createdBy != 0 {
		by = &createdBy
	}
	var j *Job
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.checkQueuedJobs(ctx, tx, orgID); err != nil {
			return err
		}
		var err error
		j, err = scanJob(tx.QueryRow(ctx, `WITH j AS (INSERT INTO training_jobs (org_id, dataset_id, rig_type, config, max_attempts, created_by)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING *) SELECT `+jobCols+` FROM j`,
			orgID, datasetID, d.RigType, config, maxAttempts, by))
		return err
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// Job returns org's job id.
func (s *Store) Job(ctx context.Context, orgID, id int64) (*Job, error) {
	return scanJob(s.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM training_jobs j WHERE j.id = $1 AND j.org_id = $2 AND j.kind = 'train'`, id, orgID))
}

// Jobs lists org's jobs by id, newest first: at most limit with id below
// before (0: from the newest), in state when state is not "".
func (s *Store) Jobs(ctx context.Context, orgID, before int64, state string, limit int) ([]Job, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return collectJobs(s.pool.Query(ctx, `SELECT `+jobCols+` FROM training_jobs j
		WHERE j.org_id = $1 AND j.kind = 'train' AND j.id < $2 AND ($3 = '' OR j.state = $3) ORDER BY j.id DESC LIMIT $4`, orgID, before, state, limit))
}

// endsAtCancel is true for a job that a cancel request ends at once: a
// queued one, or a running one whose lease expired (its worker died or
// gave up: none is there to see the request at a heartbeat, and with no
// worker left to claim it, the reaping of Claim never comes). t is the
// training_jobs row.
const endsAtCancel = `(t.state = 'queued' OR (t.state = 'running' AND t.lease_expires_at < now()))`

// CancelJob cancels org's job id: a queued job, or a running one whose
// lease expired, at once; a running one is marked cancel_requested and its
// worker stops it at its next heartbeat. ErrState when the job has
// finished.
func (s *Store) CancelJob(ctx context.Context, orgID, id int64) (*Job, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE training_jobs t SET
		state = CASE WHEN `+endsAtCancel+` THEN 'cancelled' ELSE t.state END,
		finished_at = CASE WHEN `+endsAtCancel+` THEN now() ELSE t.finished_at END,
		worker = CASE WHEN `+endsAtCancel+` THEN NULL ELSE t.worker END,
		lease_expires_at = CASE WHEN `+endsAtCancel+` THEN NULL ELSE t.lease_expires_at END,
		cancel_requested = true
		WHERE t.id = $1 AND t.org_id = $2 AND t.kind = 'train' AND t.state IN ('queued', 'running')`, id, orgID)
	if err != nil {
		return nil, err
	}
	j, err := s.Job(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return j, fmt.Errorf("job %d is %s: %w", id, j.State, ErrState)
	}
	return j, nil
}

// LogLine is one line of a job's log.
type LogLine = fleetapi.LogLine

// JobLogs returns org's job id's log lines after seq after, at most
// limit, in seq order (the order they were stored in; each attempt's in
// the order of their numbers). A line without a number (stored by a
// worker of the release before numbers) has Number 0.
func (s *Store) JobLogs(ctx context.Context, orgID, id, after int64, limit int) ([]LogLine, error) {
	if _, err := s.Job(ctx, orgID, id); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, attempt, COALESCE(n, 0), at, line FROM training_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("job %d logs: %w", id, err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[LogLine])
}

// --- the worker's side: not scoped by organisation (workers are trusted
// processes of the deployment), fenced by the lease. ---

// Lease identifies a worker's hold on a job: its id, the worker and the
// attempt. Every write of the worker names it; a write whose lease is not
// current fails with ErrLeaseLost and changes nothing.
type Lease struct {
	JobID   int64
	Worker  string
	Attempt int
}

// Claim is a job a worker holds, with its data set: the one to train on
// (Kind KindTrain) or to build (KindBuildDataset; Dataset.Build is what to
// build).
type Claim struct {
	Lease   Lease
	OrgID   int64
	Kind    string
	Job     Job
	Dataset Dataset
}

// syncBuilds follows a statement's CTE j (the training_jobs rows it ended
// or re-queued: RETURNING dataset_id, kind, state, error): the data sets
// of build jobs among them fail with the job's error when the job ended,
// or stay building with it (and phase queued) when it was re-queued.
const syncBuilds = `, b AS (UPDATE datasets x SET
		state = CASE WHEN j.state = 'queued' THEN 'building' ELSE 'failed' END,
		error = coalesce(j.error, 'cancelled'),
		build = jsonb_set(x.build, '{phase}', to_jsonb(CASE WHEN j.state = 'queued' THEN 'queued' ELSE 'failed' END))
	FROM j WHERE x.id = j.dataset_id AND j.kind = '` + KindBuildDataset + `' AND x.state = 'building')`

// ReapExpired ends the running jobs whose lease expired at the
// database's clock: a cancelled one is cancelled, one with attempts left
// is queued again, the others fail. It returns how many it changed. Claim
// calls it; a separate caller is not needed.
func (s *Store) ReapExpired(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `WITH x AS (
			SELECT id FROM training_jobs WHERE state = 'running' AND lease_expires_at < now()
			ORDER BY id FOR UPDATE SKIP LOCKED),
		j AS (UPDATE training_jobs t SET
			state = CASE WHEN t.cancel_requested THEN 'cancelled'
				WHEN t.attempts < t.max_attempts THEN 'queued' ELSE 'failed' END,
			error = CASE WHEN t.cancel_requested THEN t.error
				ELSE format('attempt %s: the lease of worker %s expired (the worker stopped or lost the database)', t.attempts, t.worker) END,
			finished_at = CASE WHEN t.cancel_requested OR t.attempts >= t.max_attempts THEN now() END,
			worker = NULL, lease_expires_at = NULL
		FROM x WHERE t.id = x.id RETURNING t.dataset_id, t.kind, t.state, t.error)`+syncBuilds+`
		SELECT count(*) FROM j`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("reap expired jobs: %w", err)
	}
	return n, nil
}

// Claim re-queues expired jobs, then takes a queued job for worker with a
// lease of lease (SELECT ... FOR UPDATE SKIP LOCKED: any number of
// workers claim concurrently, each job goes to one). It returns nil, nil
// when no job is queued.
//
// Organisations share the workers fairly: the job is the oldest queued
// one of the organisation with the fewest running jobs, and among those
// the one whose last job started longest ago (never first), so that one
// organisation queuing hundreds of jobs (or fleet builds) does not hold
// back another's: the organisations with queued jobs take turns.
func (s *Store) Claim(ctx context.Context, worker, backend string, lease time.Duration) (*Claim, error) {
	if _, err := s.ReapExpired(ctx); err != nil {
		return nil, err
	}
	var orgID int64
	var kind string
	j, err := scanJob(s.pool.QueryRow(ctx, `WITH o AS (
			SELECT q.org_id,
				(SELECT count(*) FROM training_jobs r WHERE r.org_id = q.org_id AND r.state = 'running') AS running,
				(SELECT max(r.started_at) FROM training_jobs r WHERE r.org_id = q.org_id) AS served
			FROM (SELECT DISTINCT org_id FROM training_jobs WHERE state = 'queued') q),
		c AS (
			SELECT t.id FROM training_jobs t JOIN o ON o.org_id = t.org_id WHERE t.state = 'queued'
			ORDER BY o.running, o.served NULLS FIRST, t.id FOR UPDATE OF t SKIP LOCKED LIMIT 1),
		j AS (UPDATE training_jobs t SET state = 'running', attempts = t.attempts + 1, worker = $1, backend = $2,
				lease_expires_at = now() + $3::interval, heartbeat_at = now(), started_at = coalesce(t.started_at, now()),
				progress = NULL, error = NULL
			FROM c WHERE t.id = c.id RETURNING t.*)
		SELECT `+jobCols+`, j.org_id, j.kind FROM j`, worker, backend, lease), &orgID, &kind)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim a job: %w", err)
	}
	l := Lease{JobID: j.ID, Worker: worker, Attempt: j.Attempts}
	d, err := s.Dataset(ctx, orgID, j.DatasetID)
	if err != nil {
		err = fmt.Errorf("claim job %d: data set %d: %w", j.ID, j.DatasetID, err)
		// The job is running already: end the attempt now (queued again
		// while attempts are left) rather than leave it to its lease.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, ferr := s.FailJob(fctx, l, err.Error(), true); ferr != nil {
			return nil, errors.Join(err, ferr)
		}
		return nil, err
	}
	return &Claim{Lease: l, OrgID: orgID, Kind: kind, Job: *j, Dataset: *d}, nil
}

// fence is the WHERE clause of a worker's writes ($1 job, $2 worker, $3 attempt).
const fence = `id = $1 AND worker = $2 AND attempts = $3 AND state = 'running'`

// Heartbeat renews l for lease and stores p (nil: keeps the last). It
// returns whether a cancel was requested; ErrLeaseLost when l is not
// current.
func (s *Store) Heartbeat(ctx context.Context, l Lease, lease time.Duration, p *Progress) (cancel bool, err error) {
	err = s.pool.QueryRow(ctx, `UPDATE training_jobs SET lease_expires_at = now() + $4::interval, heartbeat_at = now(),
		progress = coalesce($5, progress) WHERE `+fence+` RETURNING cancel_requested`,
		l.JobID, l.Worker, l.Attempt, lease, p).Scan(&cancel)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("job %d attempt %d: %w", l.JobID, l.Attempt, ErrLeaseLost)
	}
	return cancel, err
}

// NumberedLine is a log line with its number in its attempt, given by
// the worker (1, 2, ... per attempt).
type NumberedLine struct {
	N    int
	Line string
}

// AppendLogs stores lines for l's job; ErrLeaseLost when l is not
// current. A line is stored once per (job, attempt, number): a line sent
// again (an append whose answer was lost after the database took it) is
// skipped, so a worker may send a batch again until it gets an answer.
func (s *Store) AppendLogs(ctx context.Context, l Lease, lines []NumberedLine) error {
	if len(lines) == 0 {
		return nil
	}
	ns, texts := make([]int, len(lines)), make([]string, len(lines))
	for i, ln := range lines {
		if ln.N < 1 {
			return fmt.Errorf("job %d attempt %d logs: line number %d is not 1 or more", l.JobID, l.Attempt, ln.N)
		}
		ns[i], texts[i] = ln.N, ln.Line
	}
	// The fence is read apart from the insert: a batch that was all
	// stored before inserts no row and still answers for a current lease.
	var held int
	err := s.pool.QueryRow(ctx, `WITH j AS (SELECT id FROM training_jobs WHERE `+fence+`),
		ins AS (INSERT INTO training_logs (job_id, attempt, n, line)
			SELECT j.id, $3, u.n, u.line FROM j, unnest($4::int[], $5::text[]) AS u(n, line) ORDER BY u.n
			ON CONFLICT (job_id, attempt, n) WHERE n IS NOT NULL DO NOTHING)
		SELECT count(*) FROM j`,
		l.JobID, l.Worker, l.Attempt, ns, texts).Scan(&held)
	if err != nil {
		return fmt.Errorf("job %d logs: %w", l.JobID, err)
	}
	if held == 0 {
		return fmt.Errorf("job %d attempt %d: %w", l.JobID, l.Attempt, ErrLeaseLost)
	}
	return nil
}

// FailJob ends l's attempt with msg: queued again when retry is set and
// attempts are left, failed otherwise; cancelled when a cancel was
// requested (the job's error is then the cancel's, msg is dropped: a
// training job's is none, a build's says who), even one requested after
// the worker's last heartbeat. It returns the job's state so ended
// (JobQueued, JobFailed or JobCancelled). The data set of a build job
// fails with the job's error when the job ends, and stays building when
// it is queued again. ErrLeaseLost when l is not current.
func (s *Store) FailJob(ctx context.Context, l Lease, msg string, retry bool) (state string, err error) {
	err = s.pool.QueryRow(ctx, `WITH j AS (UPDATE training_jobs SET
			state = CASE WHEN cancel_requested THEN 'cancelled'
				WHEN $5 AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
			error = CASE WHEN cancel_requested THEN error ELSE $4 END,
			finished_at = CASE WHEN cancel_requested OR NOT $5 OR attempts >= max_attempts THEN now() END,
			worker = NULL, lease_expires_at = NULL
		WHERE `+fence+` RETURNING dataset_id, kind, state, error)`+syncBuilds+`
		SELECT state FROM j`, l.JobID, l.Worker, l.Attempt, msg, retry).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("job %d attempt %d: %w", l.JobID, l.Attempt, ErrLeaseLost)
	}
	if err != nil {
		return "", fmt.Errorf("fail job %d: %w", l.JobID, err)
	}
	return state, nil
}
