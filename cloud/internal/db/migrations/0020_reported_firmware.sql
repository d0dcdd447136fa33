-- Firmware-config digests agents report (docs/agent-cloud-api.md,
-- "Check-in"; docs/cloud.md, "Firmware digests"). An agent reports the
-- digest of the firmware config it loaded at every check-in
-- (last_checkin->'firmware_digest'); the cloud keeps it in a column of
-- its own with the time the agent first reported it, so that the rig's
-- status shows when the firmware changed and compares it with the rig's
-- registered firmware_digest. firmware_digest is '' and firmware_since
-- NULL until the agent first reports a digest (an agent older than the
-- field, or one that never checked in); a check-in without the field
-- (absent means unknown) keeps both, and only a different digest
-- restarts firmware_since (store.Checkin).
ALTER TABLE agents
	ADD COLUMN firmware_digest text NOT NULL DEFAULT '',
	ADD COLUMN firmware_since timestamptz;

-- A rollout records the firmware-config digest its release's bundle was
-- made for (the signed config_digest, and the previous release's, which
-- a rollback offers) and offers the release only to agents that report
-- that digest, or none. The others are 'incompatible'.
--
-- Rollouts made before this migration have '' and offer their release
-- whatever the agents report, as before.
ALTER TABLE rollouts
	ADD COLUMN config_digest text NOT NULL DEFAULT '',
	ADD COLUMN previous_config_digest text NOT NULL DEFAULT '';
