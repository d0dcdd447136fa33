-- Refused enrollments spend their token (review r2 F7): each enrollment
-- refused because the agent id is taken (enrolled for another rig, or
-- live on the token's rig) counts on the token, which is revoked at the
-- third (store.MaxEnrollRefusals), so that one token cannot probe the
-- organisation's agent ids without end.
ALTER TABLE enrollment_tokens ADD COLUMN refusals integer NOT NULL DEFAULT 0;
