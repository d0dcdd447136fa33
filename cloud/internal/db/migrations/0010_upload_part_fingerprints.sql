-- Fleet upload parts remember their content: upload_parts.fingerprint is
-- cloudapi.UploadFingerprint of the part as received (SHA-256 of its
-- canonical JSON encoding, times in UTC). A part sent again with the same
-- fingerprint is a replay (answered "duplicate"); with another, a
-- conflict (answered "conflict", the stored part kept). Parts stored
-- before this migration have none (NULL: unknown) and a part sent again
-- under their number is answered "duplicate", as before.
ALTER TABLE upload_parts ADD COLUMN fingerprint bytea CHECK (octet_length(fingerprint) = 32);
