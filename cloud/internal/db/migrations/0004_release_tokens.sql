-- Release tokens. A token with role release publishes signed model
-- releases to the TUF repository (POST /v1/releases) and may do nothing
-- else. Like a system token it belongs to no organisation: the repository
-- serves the whole deployment. Only `rig-cloud token create --release`
-- makes one (no API route does).
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
	CHECK (role IN ('viewer', 'operator', 'admin', 'system', 'release'));
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_org_check
	CHECK ((role IN ('system', 'release')) = (org_id IS NULL));
