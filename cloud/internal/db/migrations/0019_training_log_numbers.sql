-- Job log lines exactly once (store AppendLogs): the worker numbers each
-- attempt's lines 1, 2, ... (n), and an append sent again after its
-- answer was lost (the database took it) inserts nothing: ON CONFLICT DO
-- NOTHING on the unique (job_id, attempt, n). A new attempt (the job
-- re-leased to another worker) numbers from 1 under its own attempt, so
-- its lines never collide with an earlier attempt's. seq stays the
-- order and the API's cursor.
--
-- n may be NULL: a worker of the release before this one (its insert
-- names no n) still stores its lines while a rolling upgrade runs, at
-- least once as before (NULLs are distinct: the unique index never
-- refuses them). Readers show such a line without a number.
--
-- Lines stored before are numbered per job and attempt in seq order (a
-- line an old worker stored twice stays twice, under two numbers). The
-- table is locked while it is rewritten: a worker's append or a reader
-- of job logs waits for the migration.
ALTER TABLE training_logs ADD COLUMN n integer;

UPDATE training_logs t SET n = r.n
FROM (SELECT job_id, seq, row_number() OVER (PARTITION BY job_id, attempt ORDER BY seq) AS n FROM training_logs) r
WHERE t.job_id = r.job_id AND t.seq = r.seq;

ALTER TABLE training_logs
	ADD CONSTRAINT training_logs_n_positive CHECK (n IS NULL OR n >= 1);

CREATE UNIQUE INDEX training_logs_attempt_n ON training_logs (job_id, attempt, n);
