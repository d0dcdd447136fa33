-- Fleet data sets assembled in the background (docs/cloud.md, "Fleet
-- uploads"). POST /v1/datasets/from-uploads records the data set as
-- building, with its build (what was asked, then the worker's progress),
-- and queues a training_jobs row of kind 'fleet_dataset' for it: the
-- workers claim, lease, re-queue and bound the attempts of builds as they
-- do for training jobs. A build ends the data set ready (archive stored)
-- or failed (error says why); while a build is re-queued after a
-- transient error, error holds that attempt's reason.
--
-- state: pending -> ready (imported archive); building -> ready | failed
-- (fleet). ready still holds exactly when the archive is stored.

ALTER TABLE datasets DROP CONSTRAINT datasets_state_check;
ALTER TABLE datasets ADD CONSTRAINT datasets_state_check CHECK (state IN ('pending', 'building', 'ready', 'failed'));
ALTER TABLE datasets ADD COLUMN build jsonb CHECK (build IS NULL OR jsonb_typeof(build) = 'object');
ALTER TABLE datasets ADD COLUMN error text;
ALTER TABLE datasets ADD CONSTRAINT datasets_building_check CHECK (state NOT IN ('building', 'failed') OR (source = 'fleet' AND build IS NOT NULL));
ALTER TABLE datasets ADD CONSTRAINT datasets_failed_check CHECK (state <> 'failed' OR error IS NOT NULL);

-- A job's kind: train (a training job, the API's /v1/training/jobs) or
-- fleet_dataset (the build of its data set; not listed as a training job).
ALTER TABLE training_jobs ADD COLUMN kind text NOT NULL DEFAULT 'train' CHECK (kind IN ('train', 'fleet_dataset'));
-- One build per data set.
CREATE UNIQUE INDEX training_jobs_build ON training_jobs (dataset_id) WHERE kind = 'fleet_dataset';
