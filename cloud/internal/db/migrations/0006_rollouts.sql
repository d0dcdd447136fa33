-- Rollouts of model releases (docs/releases.md, "Rollouts"). A rollout
-- offers one release of the deployment's TUF repository (its target path)
-- to the agents of one organisation that its selection picked when it was
-- created, cohort by cohort. Agents learn their offer at check-in and
-- report their update state there, which moves their rollout_agents row.
-- The engine (cloud/internal/rollout) steps running rollouts with
-- SELECT ... FOR UPDATE SKIP LOCKED on their row.

-- Labels of a rig (key -> value), for rollout selections.
ALTER TABLE rigs ADD COLUMN labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object');

CREATE TABLE rollouts (
	id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id            bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	target            text NOT NULL CHECK (length(target) BETWEEN 1 AND 4096),
	version           text NOT NULL CHECK (length(version) BETWEEN 1 AND 255),
	rig_type          text NOT NULL CHECK (length(rig_type) BETWEEN 1 AND 255),
	-- What a rollback offers ('' when there is no previous release).
	previous_target   text NOT NULL DEFAULT '',
	previous_version  text NOT NULL DEFAULT '',
	-- rolloutapi.Selection as given.
	selection         jsonb NOT NULL,
	success_threshold double precision NOT NULL CHECK (success_threshold > 0 AND success_threshold <= 1),
	failure_threshold double precision NOT NULL CHECK (failure_threshold > 0 AND failure_threshold <= 1),
	state             text NOT NULL CHECK (state IN ('running', 'paused', 'halted', 'completed', 'aborted', 'rolled_back')),
	reason            text NOT NULL DEFAULT '',
	-- Index of the current (last started) cohort.
	cohort            integer NOT NULL DEFAULT 0 CHECK (cohort >= 0),
	created_by        bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
	created_at        timestamptz NOT NULL DEFAULT now(),
	updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rollouts_org ON rollouts (org_id, id);
CREATE INDEX rollouts_running ON rollouts (id) WHERE state = 'running';

CREATE TABLE rollout_cohorts (
	rollout_id bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	idx        integer NOT NULL CHECK (idx >= 0),
	size       integer NOT NULL CHECK (size >= 1),
	soak_ms    bigint NOT NULL CHECK (soak_ms >= 0),
	state      text NOT NULL CHECK (state IN ('pending', 'soaking', 'succeeded', 'failed')),
	started_at timestamptz,
	done_at    timestamptz,
	PRIMARY KEY (rollout_id, idx)
);

-- One row per selected agent, by its agent id (agents.name): a
-- re-enrolled agent keeps its place.
CREATE TABLE rollout_agents (
	rollout_id   bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	agent_name   text NOT NULL,
	rig_id       bigint NOT NULL REFERENCES rigs (id) ON DELETE CASCADE,
	cohort       integer NOT NULL CHECK (cohort >= 0),
	state        text NOT NULL CHECK (state IN ('pending', 'offered', 'downloading', 'canary', 'committed', 'failed', 'rolled_back')),
	detail       text NOT NULL DEFAULT '',
	committed_at timestamptz,
	updated_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (rollout_id, agent_name)
);
CREATE INDEX rollout_agents_name ON rollout_agents (agent_name, rollout_id);
CREATE INDEX rollout_agents_cohort ON rollout_agents (rollout_id, cohort, state);
