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
-- least once as before. Readers show such a line without a number.
--
-- Lines stored before keep n NULL: the migration writes no row. The
-- column (no default) and the constraint (NOT VALID: every row's n is
-- NULL, nothing to check) change only the catalog. The index is partial
-- (a NULL n never conflicts, NULLs being distinct), so it holds no old
-- line: its build reads the table once, under the lock the ALTER TABLE
-- took, and writes next to nothing.
ALTER TABLE training_logs ADD COLUMN n integer;

ALTER TABLE training_logs
	ADD CONSTRAINT training_logs_n_positive CHECK (n >= 1) NOT VALID;

CREATE UNIQUE INDEX training_logs_attempt_n ON training_logs (job_id, attempt, n) WHERE n IS NOT NULL;
