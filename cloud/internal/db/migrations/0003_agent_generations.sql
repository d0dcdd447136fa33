-- Re-enrollment makes a new agent identity. An agent id (agents.name) may
-- be enrolled again, e.g. after its rig computer was reinstalled: every
-- enrollment is a new row (a new generation of the name) bound to the
-- token's rig, and the name's previous row is replaced (its credential
-- revoked). Diagnoses and their idempotency keys belong to one row
-- (agents.id), so the new generation's sequence numbers, which restart at
-- 1, never collide with the stored ones of the earlier generations, and
-- the history stays on the rig.

ALTER TABLE agents ADD COLUMN generation integer NOT NULL DEFAULT 1 CHECK (generation >= 1);
ALTER TABLE agents ADD COLUMN replaced_at timestamptz;
ALTER TABLE agents DROP CONSTRAINT agents_org_id_name_key;
-- One current (not replaced) row per name, and each generation once.
CREATE UNIQUE INDEX agents_current_name ON agents (org_id, name) WHERE replaced_at IS NULL;
CREATE UNIQUE INDEX agents_name_generation ON agents (org_id, name, generation);
-- A replaced row is revoked.
ALTER TABLE agents ADD CONSTRAINT agents_replaced_revoked CHECK (replaced_at IS NULL OR revoked_at IS NOT NULL);
