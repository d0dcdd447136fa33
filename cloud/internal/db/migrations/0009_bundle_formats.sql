-- Model-bundle manifest formats in rollouts (docs/releases.md, "Bundle
-- formats and incompatible agents"). Agents report the formats they read
-- at check-in (agents.last_checkin->'bundle_formats'; absent: format 1
-- only); a rollout records the manifest format of its release's bundle
-- (and of the previous release's, which a rollback offers) and offers
-- them only to agents that read it. The others are 'incompatible': no
-- offer, no failure, not counted in the thresholds.
--
-- Rollouts made before this migration are taken for format 1, as the
-- cloud did before: re-create one of a format-2 release to have it
-- judged.
ALTER TABLE rollouts
	ADD COLUMN bundle_format integer NOT NULL DEFAULT 1 CHECK (bundle_format >= 1),
	ADD COLUMN previous_bundle_format integer NOT NULL DEFAULT 1 CHECK (previous_bundle_format >= 1);

ALTER TABLE rollout_agents DROP CONSTRAINT rollout_agents_state_check;
ALTER TABLE rollout_agents ADD CONSTRAINT rollout_agents_state_check
	CHECK (state IN ('pending', 'offered', 'downloading', 'canary', 'committed', 'failed', 'rolled_back', 'incompatible'));
