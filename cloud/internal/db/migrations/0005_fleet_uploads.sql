-- Fleet uploads for training: an operator asks a rig for the readings of a
-- time range (upload_requests); its agent learns the request at check-in
-- and answers with parts (upload_parts, idempotent on request, agent and
-- part), whose readings are kept per rig and time (upload_readings). A
-- data set is then assembled from the readings of selected rigs over a
-- time range (POST /v1/datasets/from-uploads) into the blob store.

CREATE TABLE upload_requests (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id      bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	rig_id      bigint NOT NULL REFERENCES rigs (id) ON DELETE CASCADE,
	from_ts     timestamptz NOT NULL,
	to_ts       timestamptz NOT NULL CHECK (to_ts > from_ts),
	sensors     text[] NOT NULL DEFAULT '{}',
	max_bytes   bigint NOT NULL DEFAULT 0 CHECK (max_bytes >= 0),
	expires_at  timestamptz NOT NULL,
	state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'cancelled')),
	parts       integer NOT NULL DEFAULT 0,
	readings    bigint NOT NULL DEFAULT 0,
	created_by  bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	done_at     timestamptz
);
CREATE INDEX upload_requests_open ON upload_requests (rig_id) WHERE state = 'open';
CREATE INDEX upload_requests_org ON upload_requests (org_id, id);

CREATE TABLE upload_parts (
	request_id  bigint NOT NULL REFERENCES upload_requests (id) ON DELETE CASCADE,
	agent_id    bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	part        integer NOT NULL CHECK (part >= 0),
	last        boolean NOT NULL,
	readings    integer NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (request_id, agent_id, part)
);

-- The uploaded readings (those inside their request's range and sensors).
-- quality is reading.Quality (0 good, 1 uncertain, 2 bad).
CREATE TABLE upload_readings (
	rig_id     bigint NOT NULL REFERENCES rigs (id) ON DELETE CASCADE,
	request_id bigint NOT NULL REFERENCES upload_requests (id) ON DELETE CASCADE,
	ts         timestamptz NOT NULL,
	sensor     text NOT NULL,
	value      double precision NOT NULL,
	quality    smallint NOT NULL
);
CREATE INDEX upload_readings_rig_ts ON upload_readings (rig_id, ts);
