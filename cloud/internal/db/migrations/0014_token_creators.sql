-- API tokens record the token that made them (review r2 F1): an
-- organisation lists its tokens (GET /v1/orgs/{id}/tokens) with their
-- creator and last use, and may revoke a token together with every token
-- it made (DELETE /v1/tokens/{id}?cascade=true). Tokens made before this
-- migration, and those of rig-cloud token create, have none.
-- last_used_at (schema v1) is now written, at most once a minute per
-- token, when a lookup of the token authenticates a request.
ALTER TABLE api_tokens ADD COLUMN created_by bigint REFERENCES api_tokens (id) ON DELETE SET NULL;
CREATE INDEX api_tokens_created_by ON api_tokens (created_by) WHERE created_by IS NOT NULL;
