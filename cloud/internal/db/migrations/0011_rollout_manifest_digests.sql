-- Bundle manifest digests in rollouts (docs/releases.md, "Staged
-- rollouts"). A rollout records the signed manifest_digest of its
-- release's bundle (and of the previous release's, which a rollback
-- offers), so that an agent counts as committed only when the model it
-- serves (its check-in's model.digest) is that bundle: another bundle at
-- the same version, or a build of the same version (1.1.0+retrain2), is
-- not the release.
--
-- Rollouts made before this migration have '' and are judged by the
-- version string as before.
ALTER TABLE rollouts
	ADD COLUMN manifest_digest text NOT NULL DEFAULT '',
	ADD COLUMN previous_manifest_digest text NOT NULL DEFAULT '';
