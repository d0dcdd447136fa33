-- Fleet upload requests count the bytes stored for them: upload_requests.bytes
-- is the sum of the stored readings' JSON encodings plus one per reading
-- (cloudapi.ReadingsBytes, as the agent counts them against max_bytes).
-- The server enforces max_bytes with it: a part's readings past the cap
-- are not stored, and the request is done. Requests made before this
-- migration start at 0.
ALTER TABLE upload_requests ADD COLUMN bytes bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0);
