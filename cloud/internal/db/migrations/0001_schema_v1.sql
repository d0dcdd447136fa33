-- Schema v1 of rig-cloud: tenants, credentials, fleet, diagnoses, alerts.
-- Every fleet table carries org_id: queries are scoped by it.

CREATE TABLE organisations (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
	name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
	created_at timestamptz NOT NULL DEFAULT now()
);

-- API tokens of people and scripts. role 'system' (org_id NULL) may only
-- manage organisations and their first tokens. Only the SHA-256 of the
-- token is stored; the token is shown once, when created.
CREATE TABLE api_tokens (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id       bigint REFERENCES organisations (id) ON DELETE CASCADE,
	name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
	role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'system')),
	token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	created_at   timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz,
	revoked_at   timestamptz,
	last_used_at timestamptz,
	CHECK ((role = 'system') = (org_id IS NULL))
);
CREATE INDEX api_tokens_org ON api_tokens (org_id);

CREATE TABLE sites (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id     bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
	location   text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name)
);

-- A rig is named by its firmware config's equipment id (name), unique in
-- its organisation, and bound to a rig type and, optionally, the digest
-- of the firmware config it runs.
CREATE TABLE rigs (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id          bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	site_id         bigint REFERENCES sites (id) ON DELETE SET NULL,
	name            text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
	rig_type        text NOT NULL CHECK (length(rig_type) BETWEEN 1 AND 255),
	firmware_digest text NOT NULL DEFAULT '',
	created_at      timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name)
);
CREATE INDEX rigs_site ON rigs (site_id);

-- An agent (one rig computer) with its per-device credential (hashed).
-- name is the agent's own id (cloudapi agent_id), unique per organisation.
CREATE TABLE agents (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id          bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	rig_id          bigint NOT NULL REFERENCES rigs (id) ON DELETE CASCADE,
	name            text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
	credential_hash bytea NOT NULL UNIQUE CHECK (length(credential_hash) = 32),
	enrolled_at     timestamptz NOT NULL DEFAULT now(),
	revoked_at      timestamptz,
	-- The last check-in: when (cloud clock), the agent's clock skew, and the body.
	last_checkin_at timestamptz,
	clock_skew_ms   bigint,
	last_checkin    jsonb,
	UNIQUE (org_id, name)
);
CREATE INDEX agents_rig ON agents (rig_id);

-- One-time enrollment tokens: an operator creates one for a rig; the agent
-- exchanges it once for its credential.
CREATE TABLE enrollment_tokens (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id     bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	rig_id     bigint NOT NULL REFERENCES rigs (id) ON DELETE CASCADE,
	token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	created_by bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	used_at    timestamptz,
	agent_id   bigint REFERENCES agents (id) ON DELETE SET NULL
);

-- The idempotency keys of diagnoses (cloudapi.Key: agent + seq) with their
-- fingerprints: at most one diagnosis per key, across partitions.
CREATE TABLE diagnosis_keys (
	agent_id     bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	seq          bigint NOT NULL CHECK (seq >= 1),
	fingerprint  bytea NOT NULL CHECK (length(fingerprint) = 32),
	rig_id       bigint NOT NULL,
	window_start timestamptz NOT NULL,
	received_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (agent_id, seq)
);

-- Diagnoses, partitioned by month of window_start (partitions made on
-- demand by ensure_diagnosis_partition). The primary key's order serves
-- per-rig time-range queries: (rig_id, window_start). doc is json, not
-- jsonb: stored and returned verbatim, and about a third cheaper to ingest.
CREATE TABLE diagnoses (
	org_id        bigint NOT NULL,
	rig_id        bigint NOT NULL,
	agent_id      bigint NOT NULL,
	seq           bigint NOT NULL,
	window_start  timestamptz NOT NULL,
	window_end    timestamptz NOT NULL,
	created_at    timestamptz NOT NULL,
	received_at   timestamptz NOT NULL DEFAULT now(),
	health        double precision NOT NULL,
	status        text NOT NULL,
	model_version text NOT NULL,
	doc           json NOT NULL,
	PRIMARY KEY (rig_id, window_start, agent_id, seq)
) PARTITION BY RANGE (window_start);

-- ensure_diagnosis_partition creates the month partition holding ts when
-- it is missing; replicas racing for it are serialised by an advisory
-- transaction lock.
CREATE FUNCTION ensure_diagnosis_partition(ts timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	lo   timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
	part text := 'diagnoses_' || to_char(lo, 'YYYY_MM');
BEGIN
	IF to_regclass(part) IS NOT NULL THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(7120431955813392211);
	IF to_regclass(part) IS NOT NULL THEN
		RETURN;
	END IF;
	-- The lock orders creators; the catalog this function sees may still
	-- predate the winner's commit, so its "already exists" is success.
	BEGIN
		EXECUTE format('CREATE TABLE %I PARTITION OF diagnoses FOR VALUES FROM (%L) TO (%L)',
			part, lo AT TIME ZONE 'UTC', (lo + interval '1 month') AT TIME ZONE 'UTC');
	EXCEPTION WHEN duplicate_table OR unique_violation THEN
		NULL;
	END;
END
$$;

-- Alerts, opened from diagnoses: one open (or acknowledged) alert per rig,
-- component and fault; later findings raise its count and last_seen_at.
CREATE TABLE alerts (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id           bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	rig_id           bigint NOT NULL REFERENCES rigs (id) ON DELETE CASCADE,
	component        text NOT NULL,
	fault            text NOT NULL,
	severity         text NOT NULL,
	state            text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
	opened_at        timestamptz NOT NULL,
	last_seen_at     timestamptz NOT NULL,
	occurrences      integer NOT NULL DEFAULT 1,
	agent_id         bigint NOT NULL,
	seq              bigint NOT NULL,
	acknowledged_at  timestamptz,
	acknowledged_by  bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
	resolved_at      timestamptz,
	resolved_by      bigint REFERENCES api_tokens (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX alerts_one_active ON alerts (rig_id, component, fault) WHERE state <> 'resolved';
CREATE INDEX alerts_org_state ON alerts (org_id, state, id);
