-- Training: data sets, the job queue, job logs and the model registry.

-- A data set of an organisation: a UCI-layout folder stored as a tar.gz in
-- the blob store (blob_key), for one rig type (the firmware config it was
-- recorded with is kept in full: the worker trains against it). source is
-- how it came: imported with rigctl, or assembled from fleet uploads.
-- state: pending (created, no archive yet) -> ready (archive stored).
CREATE TABLE datasets (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id          bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	name            text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'),
	kind            text NOT NULL CHECK (kind IN ('uci', 'sim')),
	source          text NOT NULL CHECK (source IN ('import', 'fleet')),
	description     text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
	rig_type        text NOT NULL CHECK (length(rig_type) BETWEEN 1 AND 255),
	rig_config      text NOT NULL,
	config_digest   text NOT NULL,
	state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ready')),
	blob_key        text,
	bytes           bigint,
	digest          text,
	created_by      bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
	created_at      timestamptz NOT NULL DEFAULT now(),
	uploaded_at     timestamptz,
	UNIQUE (org_id, name),
	CHECK ((state = 'ready') = (blob_key IS NOT NULL AND digest IS NOT NULL))
);

-- Training jobs: the queue. Workers claim the oldest queued job with
-- SELECT ... FOR UPDATE SKIP LOCKED, hold it by a lease they renew
-- (heartbeat), and write their result fenced by (worker, attempts). A job
-- whose lease expired is re-queued (or failed after max_attempts) by the
-- next claim.
CREATE TABLE training_jobs (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id           bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	dataset_id       bigint NOT NULL REFERENCES datasets (id) ON DELETE RESTRICT,
	rig_type         text NOT NULL,
	config           jsonb NOT NULL,
	state            text NOT NULL DEFAULT 'queued'
		CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	attempts         int NOT NULL DEFAULT 0,
	max_attempts     int NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
	cancel_requested boolean NOT NULL DEFAULT false,
	worker           text,
	backend          text,
	lease_expires_at timestamptz,
	heartbeat_at     timestamptz,
	progress         jsonb,
	error            text,
	artifact_key     text,
	artifact_bytes   bigint,
	artifact_digest  text,
	created_by       bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
	created_at       timestamptz NOT NULL DEFAULT now(),
	started_at       timestamptz,
	finished_at      timestamptz
);
CREATE INDEX training_jobs_org ON training_jobs (org_id, id);
CREATE INDEX training_jobs_queued ON training_jobs (id) WHERE state = 'queued';
CREATE INDEX training_jobs_running ON training_jobs (lease_expires_at) WHERE state = 'running';

-- A job's log lines, in order, per attempt (capped by the worker).
CREATE TABLE training_logs (
	job_id  bigint NOT NULL REFERENCES training_jobs (id) ON DELETE CASCADE,
	seq     bigint GENERATED ALWAYS AS IDENTITY,
	attempt int NOT NULL,
	at      timestamptz NOT NULL DEFAULT now(),
	line    text NOT NULL,
	PRIMARY KEY (job_id, seq)
);

-- The model registry: one row per trained bundle, numbered per
-- organisation and rig type (version 1, 2, ...), with its metrics and
-- lineage: the data set (id and content digest), the code version, the
-- training config and the job that made it.
CREATE TABLE model_versions (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id          bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	rig_type        text NOT NULL,
	version         int NOT NULL CHECK (version >= 1),
	bundle_name     text NOT NULL,
	bundle_version  text NOT NULL,
	job_id          bigint NOT NULL UNIQUE REFERENCES training_jobs (id) ON DELETE RESTRICT,
	dataset_id      bigint NOT NULL REFERENCES datasets (id) ON DELETE RESTRICT,
	dataset_digest  text NOT NULL,
	archive_digest  text NOT NULL,
	code_version    text NOT NULL,
	backend         text NOT NULL,
	config          jsonb NOT NULL,
	metrics         jsonb NOT NULL,
	manifest        jsonb NOT NULL,
	artifact_key    text NOT NULL,
	artifact_bytes  bigint NOT NULL,
	artifact_digest text NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, rig_type, version)
);
