-- Enrollment tokens can be revoked and may be made to replace a live
-- agent (review r2 F3). revoked_at ends a token before its expiry:
-- DELETE /v1/rigs/{rig}/enrollments[/{id}], and the revocation of the API
-- token that made it (its unused ones go with it). replace_agent, set by
-- the operator who makes the token, lets it take over that agent id's
-- current identity on the rig even while that identity checks in; without
-- it, enrolling over an identity that checked in recently is refused
-- (409) instead of silently revoking its credential.
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at timestamptz;
ALTER TABLE enrollment_tokens ADD COLUMN replace_agent text CHECK (length(replace_agent) BETWEEN 1 AND 255);
CREATE INDEX enrollment_tokens_created_by ON enrollment_tokens (created_by) WHERE used_at IS NULL AND revoked_at IS NULL;
CREATE INDEX enrollment_tokens_rig ON enrollment_tokens (rig_id, id);
