-- The registry of rig types (httpapi rigtypes.go): each organisation's
-- firmware configs, by rig type (name) and version. A version is
-- immutable: uploading the content of a stored version again (the same
-- digest, rig.Config.Digest, the firmware-config digest model bundles
-- are bound to) answers that version; other content for a stored name is
-- the next version. The counts are the config's summary, kept so that
-- lists need not parse the configs.
CREATE TABLE rig_types (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id           bigint NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
	name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
	version          integer NOT NULL CHECK (version >= 1),
	digest           text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
	topology_version text NOT NULL,
	components       integer NOT NULL,
	edges            integer NOT NULL,
	sensors          integer NOT NULL,
	targets          integer NOT NULL,
	config           text NOT NULL CHECK (length(config) <= 1048576),
	created_by       bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
	created_at       timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name, version),
	UNIQUE (org_id, name, digest)
);
